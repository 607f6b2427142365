#include "wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <stdexcept>

namespace mrsync {

// The plain SHA-256 context (no EVP provider dispatch per page): one per file.
Sha256::Sha256() : ctx_(new SHA256_CTX) { SHA256_Init(static_cast<SHA256_CTX*>(ctx_)); }

Sha256::~Sha256() { delete static_cast<SHA256_CTX*>(ctx_); }

void Sha256::update(const uint8_t* p, size_t n) {
  if (n) SHA256_Update(static_cast<SHA256_CTX*>(ctx_), p, n);
}

std::string Sha256::final() {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, static_cast<SHA256_CTX*>(ctx_));
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

// HMAC-SHA256 (RFC 2104) on the plain SHA-256 context, keyed once: the
// inner and outer states after the padded key are kept, and a tag is a copy
// of each, the data, and two finals. OpenSSL 3's HMAC_CTX / EVP path does the
// same compressions but fetches, copies and cleans EVP contexts around them
// for every datagram: 4-5% of the whole machine in a 50-target push
// (perf: HMAC_Final, EVP_MD_CTX_copy_ex, HMAC_Init_ex, evp_md_ctx_clear_digest).
// The tag is checked against Node's crypto.createHmac in the codec tests.
struct HmacKeyed {
  SHA256_CTX inner, outer;
};

Auth::Auth(const std::string& key) {
  uint8_t k[SHA256_CBLOCK] = {0};
  if (key.size() > sizeof k) SHA256(reinterpret_cast<const uint8_t*>(key.data()), key.size(), k);
  else memcpy(k, key.data(), key.size());
  uint8_t ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];
  for (size_t i = 0; i < sizeof k; i++) { ipad[i] = k[i] ^ 0x36; opad[i] = k[i] ^ 0x5c; }
  auto* h = new HmacKeyed;
  SHA256_Init(&h->inner);
  SHA256_Update(&h->inner, ipad, sizeof ipad);
  SHA256_Init(&h->outer);
  SHA256_Update(&h->outer, opad, sizeof opad);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
  ctx_ = h;
}

Auth::~Auth() {
  OPENSSL_cleanse(ctx_, sizeof(HmacKeyed));
  delete static_cast<HmacKeyed*>(ctx_);
}

void Auth::tag(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, uint8_t out[kTagLen]) {
  const HmacKeyed* h = static_cast<const HmacKeyed*>(ctx_);
  uint8_t md[SHA256_DIGEST_LENGTH];
  SHA256_CTX c = h->inner;
  SHA256_Update(&c, a, na);
  if (nb) SHA256_Update(&c, b, nb);
  SHA256_Final(md, &c);
  c = h->outer;
  SHA256_Update(&c, md, sizeof md);
  SHA256_Final(md, &c);
  memcpy(out, md, kTagLen);
}

bool Auth::verify(const uint8_t* pkt, size_t n) {
  if (n < kOverhead) return false;
  uint8_t t[kTagLen];
  tag(pkt, n - kTagLen, nullptr, 0, t);
  return CRYPTO_memcmp(t, pkt + n - kTagLen, kTagLen) == 0;
}

Aead::Aead(const std::string& sessionKey) {
  // a key of its own, so the HMAC key and the AES key are never the same bytes
  static const char label[] = "mrsync aes-256-gcm";
  unsigned int len = 0;
  HMAC(EVP_sha256(), sessionKey.data(), int(sessionKey.size()), reinterpret_cast<const unsigned char*>(label),
       sizeof label - 1, key_, &len);
  enc_ = EVP_CIPHER_CTX_new();
  dec_ = EVP_CIPHER_CTX_new();
  if (!enc_ || !dec_ ||
      !EVP_EncryptInit_ex(static_cast<EVP_CIPHER_CTX*>(enc_), EVP_aes_256_gcm(), nullptr, key_, nullptr) ||
      !EVP_DecryptInit_ex(static_cast<EVP_CIPHER_CTX*>(dec_), EVP_aes_256_gcm(), nullptr, key_, nullptr))
    throw std::runtime_error("AES-GCM init failed");
}

Aead::~Aead() {
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(enc_));
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(dec_));
  OPENSSL_cleanse(key_, sizeof key_);
}

static void nonceOf(const uint8_t* hdr, const uint8_t* ctr, uint8_t nonce[12]) {
  put16(nonce, senderOf(hdr));
  memcpy(nonce + 2, ctr, kCtrLen);
  nonce[10] = nonce[11] = 0;
}

void Aead::seal(const uint8_t* hdr, uint64_t counter, uint8_t ctr[kCtrLen], uint8_t* data, size_t n,
                uint8_t tag[kTagLen]) {
  for (int i = 0; i < 8; i++) ctr[i] = uint8_t(counter >> (56 - 8 * i));
  uint8_t nonce[12];
  nonceOf(hdr, ctr, nonce);
  EVP_CIPHER_CTX* c = static_cast<EVP_CIPHER_CTX*>(enc_);
  int len = 0;
  EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce);
  EVP_EncryptUpdate(c, nullptr, &len, hdr, int(kHeaderLen));
  EVP_EncryptUpdate(c, nullptr, &len, ctr, int(kCtrLen));
  if (n) EVP_EncryptUpdate(c, data, &len, data, int(n));
  EVP_EncryptFinal_ex(c, data + n, &len);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, int(kTagLen), tag);
}

bool Aead::open(uint8_t* pkt, size_t n) {
  if (n < kOverhead + kCtrLen) return false;
  const uint8_t* ctr = pkt + kHeaderLen;
  uint8_t* data = pkt + kHeaderLen + kCtrLen;
  size_t dn = n - kOverhead - kCtrLen;
  uint8_t nonce[12];
  nonceOf(pkt, ctr, nonce);
  EVP_CIPHER_CTX* c = static_cast<EVP_CIPHER_CTX*>(dec_);
  int len = 0;
  uint8_t tag[kTagLen];
  memcpy(tag, pkt + n - kTagLen, kTagLen);
  EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce);
  EVP_DecryptUpdate(c, nullptr, &len, pkt, int(kHeaderLen));
  EVP_DecryptUpdate(c, nullptr, &len, ctr, int(kCtrLen));
  if (dn) EVP_DecryptUpdate(c, data, &len, data, int(dn));
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, int(kTagLen), tag);
  return EVP_DecryptFinal_ex(c, data + dn, &len) == 1;
}

}  // namespace mrsync
