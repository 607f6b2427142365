#include "wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace mrsync {

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

}  // namespace mrsync
