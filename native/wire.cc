#include "wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace mrsync {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || !EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr)) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
    throw std::runtime_error("SHA-256 init failed");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::update(const uint8_t* p, size_t n) {
  if (n) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), p, n);
}

std::string Sha256::final() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

// HMAC_CTX is deprecated in OpenSSL 3 but it is the cheapest pre-keyed
// HMAC there: HMAC_Init_ex(ctx, NULL, ...) re-uses the key schedule, so each
// packet costs two SHA-256 compressions plus the data.
Auth::Auth(const std::string& key) {
  HMAC_CTX* c = HMAC_CTX_new();
  if (!c || !HMAC_Init_ex(c, key.data(), int(key.size()), EVP_sha256(), nullptr)) {
    if (c) HMAC_CTX_free(c);
    throw std::runtime_error("HMAC init failed");
  }
  ctx_ = c;
}

Auth::~Auth() { HMAC_CTX_free(static_cast<HMAC_CTX*>(ctx_)); }

void Auth::tag(const uint8_t* a, size_t na, const uint8_t* b, size_t nb, uint8_t out[kTagLen]) {
  HMAC_CTX* c = static_cast<HMAC_CTX*>(ctx_);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  HMAC_Init_ex(c, nullptr, 0, nullptr, nullptr);
  HMAC_Update(c, a, na);
  if (nb) HMAC_Update(c, b, nb);
  HMAC_Final(c, md, &mdlen);
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
  nonce[0] = hdr[2];  // sender
  nonce[1] = hdr[3];
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
