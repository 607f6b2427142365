// libFuzzer target for the packet codec (wire.h): any datagram is either
// refused or decodes to a header whose length matches; no datagram without
// the key passes verify; a sealed packet verifies, and any one-byte change
// to it does not.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../wire.h"

using namespace mrsync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Auth auth(std::string(32, '\x5a'));
  Header h;
  if (decodeHeader(data, size, &h)) {
    if (size_t(h.length) + kOverhead != size) abort();
    // random bytes must not carry a valid tag (2^-96)
    if (auth.verify(data, size)) abort();
  }
  // seal the input as a payload, check verify and single-byte forgeries
  if (size >= 13) {
    Header s;
    s.type = data[0] & 31;  // 5 bits on the wire
    // the u16 at 9 is a page's seq (its sender is the master, 0) or another type's sender
    if (isPageType(s.type)) s.seq = uint16_t(data[1] << 8 | data[2]);
    else s.sender = uint16_t(data[1] << 8 | data[2]);
    s.object = get32(data + 3);
    s.index = get32(data + 7) ^ data[11];
    const uint8_t* payload = data + 12;
    size_t plen = std::min<size_t>(size - 12, kMaxDatagram - kOverhead);
    s.length = uint16_t(plen);
    std::vector<uint8_t> pkt(kHeaderLen + plen + kTagLen);
    encodeHeader(s, pkt.data());
    memcpy(pkt.data() + kHeaderLen, payload, plen);
    auth.tag(pkt.data(), kHeaderLen, payload, plen, pkt.data() + kHeaderLen + plen);
    Header back;
    if (!decodeHeader(pkt.data(), pkt.size(), &back) || !auth.verify(pkt.data(), pkt.size())) abort();
    if (back.type != s.type || back.sender != s.sender || back.seq != s.seq || back.object != s.object ||
        back.index != s.index || back.length != s.length)
      abort();
    size_t at = (size_t(data[11]) * 131 + plen) % pkt.size();
    pkt[at] ^= uint8_t(1 + data[0] % 255);
    if (decodeHeader(pkt.data(), pkt.size(), &back) && auth.verify(pkt.data(), pkt.size())) abort();
  }
  return 0;
}
