#include "fec.h"

#include <atomic>
#include <cstring>
#include <string>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MRSYNC_X86 1
#endif

namespace mrsync {
namespace fec {

namespace {

struct Tables {
  uint8_t exp[512];
  uint8_t log[256];
  uint8_t inv[256];
  uint8_t mul[256][256];
  Tables() {
    // GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), generator 2
    unsigned x = 1;
    for (int i = 0; i < 255; i++) {
      exp[i] = uint8_t(x);
      log[x] = uint8_t(i);
      x <<= 1;
      if (x & 0x100) x ^= 0x11d;
    }
    for (int i = 255; i < 512; i++) exp[i] = exp[i - 255];
    log[0] = 0;
    inv[0] = 0;
    for (int a = 1; a < 256; a++) inv[a] = exp[255 - log[a]];
    for (int a = 0; a < 256; a++)
      for (int b = 0; b < 256; b++) mul[a][b] = (a && b) ? exp[log[a] + log[b]] : 0;
  }
};

const Tables& T() {
  static const Tables t;
  return t;
}

void mulAddScalar(uint8_t* dst, const uint8_t* src, const uint8_t* row, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] ^= row[src[i]];
}

#ifdef MRSYNC_X86
// Split-nibble products: c*x = c*(x & 15) ^ c*(x >> 4 << 4), 16-entry tables
// looked up with pshufb, 32 bytes per step.
__attribute__((target("avx2"))) void mulAddAvx2(uint8_t* dst, const uint8_t* src, const uint8_t* row, size_t n) {
  alignas(16) uint8_t lo[16], hi[16];
  for (int k = 0; k < 16; k++) { lo[k] = row[k]; hi[k] = row[k << 4]; }
  const __m256i tlo = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(lo)));
  const __m256i thi = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(hi)));
  const __m256i mask = _mm256_set1_epi8(0x0f);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i p = _mm256_xor_si256(_mm256_shuffle_epi8(tlo, _mm256_and_si256(x, mask)),
                                 _mm256_shuffle_epi8(thi, _mm256_and_si256(_mm256_srli_epi64(x, 4), mask)));
    __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(d, p));
  }
  mulAddScalar(dst + i, src + i, row, n - i);
}

__attribute__((target("ssse3"))) void mulAddSsse3(uint8_t* dst, const uint8_t* src, const uint8_t* row, size_t n) {
  alignas(16) uint8_t lo[16], hi[16];
  for (int k = 0; k < 16; k++) { lo[k] = row[k]; hi[k] = row[k << 4]; }
  const __m128i tlo = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
  const __m128i thi = _mm_load_si128(reinterpret_cast<const __m128i*>(hi));
  const __m128i mask = _mm_set1_epi8(0x0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m128i p = _mm_xor_si128(_mm_shuffle_epi8(tlo, _mm_and_si128(x, mask)),
                              _mm_shuffle_epi8(thi, _mm_and_si128(_mm_srli_epi64(x, 4), mask)));
    __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(d, p));
  }
  mulAddScalar(dst + i, src + i, row, n - i);
}

#endif

using MulAddFn = void (*)(uint8_t*, const uint8_t*, const uint8_t*, size_t);

// The kernels this CPU can run, best first: AVX2, SSSE3, then scalar.
struct Kernel { const char* name; MulAddFn fn; };
std::vector<Kernel> usable() {
  std::vector<Kernel> k;
#ifdef MRSYNC_X86
  if (__builtin_cpu_supports("avx2")) k.push_back({"avx2", mulAddAvx2});
  if (__builtin_cpu_supports("ssse3")) k.push_back({"ssse3", mulAddSsse3});
#endif
  k.push_back({"scalar", mulAddScalar});
  return k;
}

std::atomic<MulAddFn>& current() {
  static std::atomic<MulAddFn> fn{usable().front().fn};
  return fn;
}

}  // namespace

uint8_t mul(uint8_t a, uint8_t b) { return T().mul[a][b]; }

uint8_t coef(uint32_t j, uint32_t i) { return T().inv[uint8_t((kBlock + j) ^ i)]; }

void mulAdd(uint8_t* dst, const uint8_t* src, uint8_t c, size_t n) {
  if (c == 0) return;
  current().load(std::memory_order_relaxed)(dst, src, T().mul[c], n);
}

std::vector<std::string> kernels() {
  std::vector<std::string> out;
  for (const Kernel& k : usable()) out.push_back(k.name);
  return out;
}

bool useKernel(const std::string& name) {
  for (const Kernel& k : usable()) {
    if (name != k.name) continue;
    current().store(k.fn);
    return true;
  }
  return false;
}

void encode(const uint8_t* const* data, uint32_t kb, uint32_t j, uint8_t* out, size_t len) {
  memset(out, 0, len);
  for (uint32_t i = 0; i < kb; i++) mulAdd(out, data[i], coef(j, i), len);
}

bool recover(uint8_t* const* data, uint32_t kb, const std::vector<uint32_t>& missing,
             const std::vector<std::pair<uint32_t, const uint8_t*>>& parity, size_t len) {
  const size_t e = missing.size();
  if (e == 0) return true;
  if (parity.size() != e || kb > kBlock || e > kb) return false;
  std::vector<bool> gone(kb, false);
  for (uint32_t m : missing) {
    if (m >= kb || gone[m]) return false;
    gone[m] = true;
  }
  for (auto& p : parity)
    if (p.first >= kMaxParity) return false;
  // s_r = parity_r - sum over present i of coef(j_r, i) * data_i
  std::vector<uint8_t> s(e * len);
  for (size_t r = 0; r < e; r++) {
    uint8_t* sr = s.data() + r * len;
    memcpy(sr, parity[r].second, len);
    for (uint32_t i = 0; i < kb; i++)
      if (!gone[i]) mulAdd(sr, data[i], coef(parity[r].first, i), len);
  }
  // A[r][c] = coef(j_r, missing_c); invert by Gauss-Jordan on [A | I]
  const Tables& t = T();
  std::vector<uint8_t> a(e * 2 * e, 0);
  auto at = [&](size_t r, size_t c) -> uint8_t& { return a[r * 2 * e + c]; };
  for (size_t r = 0; r < e; r++) {
    for (size_t c = 0; c < e; c++) at(r, c) = coef(parity[r].first, missing[c]);
    at(r, e + r) = 1;
  }
  for (size_t c = 0; c < e; c++) {
    size_t p = c;
    while (p < e && at(p, c) == 0) p++;
    if (p == e) return false;  // two parity pages with the same j
    if (p != c)
      for (size_t k = 0; k < 2 * e; k++) std::swap(at(p, k), at(c, k));
    const uint8_t* scale = t.mul[t.inv[at(c, c)]];
    for (size_t k = 0; k < 2 * e; k++) at(c, k) = scale[at(c, k)];
    for (size_t r = 0; r < e; r++) {
      if (r == c || at(r, c) == 0) continue;
      const uint8_t* f = t.mul[at(r, c)];
      for (size_t k = 0; k < 2 * e; k++) at(r, k) ^= f[at(c, k)];
    }
  }
  // data_missing_c = sum_r inv[c][r] * s_r
  for (size_t c = 0; c < e; c++) {
    uint8_t* d = data[missing[c]];
    memset(d, 0, len);
    for (size_t r = 0; r < e; r++) mulAdd(d, s.data() + r * len, at(c, e + r), len);
  }
  return true;
}

}  // namespace fec
}  // namespace mrsync
