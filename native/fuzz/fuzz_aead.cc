// libFuzzer target for --encrypt's AEAD (wire.h Aead): any datagram opened
// in place is refused unless it was sealed under the key (random bytes carry
// a valid GCM tag once in 2^96); a datagram sealed from the input opens back
// to the same plaintext, and any one-byte change to it (header, counter,
// ciphertext or tag) is refused.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../wire.h"

using namespace mrsync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Aead aead(std::string(32, '\x5a'));
  // the input as a datagram: opened in place, never accepted
  if (size <= kMaxDatagram) {
    std::vector<uint8_t> pkt(data, data + size);
    Header h;
    if (decodeHeader(pkt.data(), pkt.size(), &h) && aead.open(pkt.data(), pkt.size())) abort();
  }
  // the input as a control message's plaintext: sealed, then opened back, then forged
  if (size < 13) return 0;
  Header s;
  s.type = 2 + data[0] % 20;  // a command (pages are sealed the same way, with sender 0)
  s.sender = uint16_t(data[1] << 8 | data[2]);
  s.object = get32(data + 3);
  s.index = get32(data + 7);
  const size_t plen = std::min<size_t>(size - 12, kMaxDatagram - kOverhead - kCtrLen);
  std::vector<uint8_t> pkt(kHeaderLen + kCtrLen + plen + kTagLen);
  s.length = uint16_t(kCtrLen + plen);
  encodeHeader(s, pkt.data());
  memcpy(pkt.data() + kHeaderLen + kCtrLen, data + 12, plen);
  const uint64_t counter = uint64_t(data[11]) << 40 | size;
  aead.seal(pkt.data(), counter, pkt.data() + kHeaderLen, pkt.data() + kHeaderLen + kCtrLen, plen,
            pkt.data() + kHeaderLen + kCtrLen + plen);
  if (plen >= 16 && memcmp(pkt.data() + kHeaderLen + kCtrLen, data + 12, 16) == 0) abort();  // not encrypted
  std::vector<uint8_t> forged(pkt);
  if (!aead.open(pkt.data(), pkt.size())) abort();
  if (memcmp(pkt.data() + kHeaderLen + kCtrLen, data + 12, plen) != 0) abort();
  const size_t at = (size_t(data[11]) * 131 + plen) % forged.size();
  forged[at] ^= uint8_t(1 + data[0] % 255);
  if (aead.open(forged.data(), forged.size())) abort();
  return 0;
}
