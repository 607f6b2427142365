// Cost of one datagram's tag (native/wire.h Auth: HMAC-SHA256 over an 11-byte
// header and a 1449-byte page), against the system's OpenSSL 3:
//   g++ -O2 -std=c++17 -Wno-deprecated-declarations -Inative bench/tagbench.cc native/wire.cc -lcrypto -o /tmp/tagbench && /tmp/tagbench
// For another version of wire.cc (e.g. before a change):
//   git show REV:native/wire.cc > /tmp/wire.cc && g++ ... bench/tagbench.cc /tmp/wire.cc ...
#include <chrono>
#include <cstdio>
#include <vector>

#include "wire.h"

using namespace mrsync;

int main() {
  Auth auth(std::string(32, 'k'));
  std::vector<uint8_t> pkt(kHeaderLen + 1449, 7);
  uint8_t tag[kTagLen];
  const int n = 400000;
  double best = 1e9;
  for (int round = 0; round < 5; round++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; i++) {
      pkt[5] = uint8_t(i);
      auth.tag(pkt.data(), kHeaderLen, pkt.data() + kHeaderLen, pkt.size() - kHeaderLen, tag);
    }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("%.0f ns per tag of %zu bytes (%.2f GB/s), best of 5 x %d\n", best / n * 1e9, pkt.size(),
              double(pkt.size()) * n / best / 1e9, n);
}
