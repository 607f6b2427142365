// Packet layout shared by every mrsync/rtt datagram. Network byte order.
//
//  0  u8  version (3) << 5 | type (see PacketType; types are 1..31)
//  1  u32 object id       manifest entry (0 = the manifest itself)
//  5  u32 index           page number, or round/sequence for commands
//  9  u16 data and parity pages (only the master sends them; sender 0):
//         seq, the master's running count of them (mod 2^16), for loss;
//         every other type: sender, 0 = master, k+1 = target k
// 11  ... payload ...     (its length is the datagram's, less the 23 bytes of header and tag)
// end 12-byte tag: HMAC-SHA256(session key, header || payload), truncated to 96 bits
//
// The tag covers the header so a page cannot be moved to another object or
// index without the key, nor to another session: each session has its own
// random key, so another session's datagrams (same group and port) fail the
// tag. 96 bits, as IPsec's and SSH's truncated HMACs (SRTP's default is 80):
// a forger without the key is right once in 2^96 tries, each a datagram on
// the wire; the key lives for one session.
// Every byte here is a byte less of the file per 1500-byte frame: version 1
// carried a length (the datagram's own) and a 16-byte tag, 36 bytes in all;
// version 2 a byte of its own for the version, a 32-bit session id (a
// cheap test for another session's datagrams, which the tag makes anyway)
// and both a sender and a seq on every datagram, 30 bytes; version 3 has
// neither the byte nor the id, and one u16 that is the seq of a page and
// the sender of anything else: 23 bytes, a 1449-byte page per 1500-byte
// frame, 1449/1514 = 0.9571 of the wire as a shaper counts it (0.9524).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace mrsync {

constexpr uint8_t kVersion = 3;
constexpr size_t kHeaderLen = 11;
constexpr size_t kTagLen = 12;
constexpr size_t kOverhead = kHeaderLen + kTagLen;
constexpr size_t kMaxDatagram = 65507;
constexpr uint8_t kTypeData = 1;    // a page of an object: index = page number
constexpr uint8_t kTypeParity = 5;  // a parity page (fec.h): index = block << 8 | parity number
// the two types the native loop consumes itself; numbered (seq) by the master
inline bool isPageType(uint8_t t) { return t == kTypeData || t == kTypeParity; }

struct Header {
  uint8_t version = kVersion;
  uint8_t type = 0;
  uint16_t sender = 0;   // not on the wire for pages: always 0, the master
  uint32_t object = 0;
  uint32_t index = 0;
  uint16_t length = 0;  // the payload's: not on the wire, decodeHeader sets it from the datagram size
  uint16_t seq = 0;     // pages only; 0 for every other type
};

inline void put16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
inline void put32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24; p[1] = (v >> 16) & 0xff; p[2] = (v >> 8) & 0xff; p[3] = v & 0xff;
}
inline uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

inline void encodeHeader(const Header& h, uint8_t* out) {
  out[0] = uint8_t(h.version << 5 | (h.type & 31));
  put32(out + 1, h.object);
  put32(out + 5, h.index);
  put16(out + 9, isPageType(h.type & 31) ? h.seq : h.sender);
}

// The sender of an encoded header: the master (0) for pages, else the u16 at 9.
inline uint16_t senderOf(const uint8_t* p) { return isPageType(p[0] & 31) ? 0 : get16(p + 9); }

// Structural checks only (no tag): returns false for anything truncated,
// oversized or of another version.
inline bool decodeHeader(const uint8_t* p, size_t n, Header* h) {
  if (n < kOverhead || n > kMaxDatagram) return false;
  h->version = p[0] >> 5;
  h->type = p[0] & 31;
  h->object = get32(p + 1);
  h->index = get32(p + 5);
  h->seq = isPageType(h->type) ? get16(p + 9) : 0;
  h->sender = senderOf(p);
  h->length = uint16_t(n - kOverhead);
  return h->version == kVersion;
}

// SHA-256 of a stream (a file's content as its pages go out or come in).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const uint8_t* p, size_t n);
  std::string final();  // the digest; the object is spent

 private:
  void* ctx_;
};

// HMAC-SHA256 with a pre-keyed context; one per thread.
class Auth {
 public:
  explicit Auth(const std::string& key);
  ~Auth();
  Auth(const Auth&) = delete;
  Auth& operator=(const Auth&) = delete;
  // tag over up to three pieces (header, payload, nothing)
  void tag(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, uint8_t out[kTagLen]);
  bool verify(const uint8_t* pkt, size_t n);  // n includes the tag

 private:
  void* ctx_;
};

// --encrypt: AES-256-GCM instead of the HMAC tag. The payload on the wire is
// an 8-byte per-sender counter followed by the ciphertext, and the 12-byte
// tag slot holds the GCM tag (96 bits, the shortest NIST SP 800-38D
// recommends) over header || counter || ciphertext. The nonce
// is sender (2) || counter (8) || 0 (2): unique per key, because each process
// has its own sender id and counts up, whatever it re-sends.
constexpr size_t kCtrLen = 8;

class Aead {
 public:
  explicit Aead(const std::string& sessionKey);  // derives its own key from the session key
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  // hdr: the encoded header (length = kCtrLen + n); writes ctr and tag, encrypts data in place.
  void seal(const uint8_t* hdr, uint64_t counter, uint8_t ctr[kCtrLen], uint8_t* data, size_t n, uint8_t tag[kTagLen]);
  // pkt: header | ctr | ciphertext | tag (n bytes in all); decrypts in place, false if forged.
  bool open(uint8_t* pkt, size_t n);

 private:
  void* enc_;
  void* dec_;
  uint8_t key_[32];
};

}  // namespace mrsync
