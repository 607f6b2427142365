// libFuzzer target for the erasure code (fec.h): the input chooses the block
// size, page length, page bytes, which pages are lost and which parity pages
// arrive; recover() must give back exactly the lost pages, and must refuse
// (not crash on) bad arguments: out-of-range or repeated indices.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../fec.h"

using namespace mrsync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t kb = 1 + data[0] % fec::kBlock;
  const size_t len = 1 + data[1] % 200;  // short and odd lengths reach every SIMD tail
  const uint8_t lossBits = data[2], parSeed = data[3];
  data += 4;
  size -= 4;
  std::vector<std::vector<uint8_t>> pages(kb, std::vector<uint8_t>(len, 0));
  for (uint32_t i = 0; i < kb; i++)
    for (size_t b = 0; b < len && size; b++) pages[i][b] = data[(i * len + b) % size];
  std::vector<uint32_t> missing;
  for (uint32_t i = 0; i < kb; i++)
    if ((lossBits >> (i % 8)) & 1 && (i / 8) % 2 == (lossBits & 1)) missing.push_back(i);
  std::vector<const uint8_t*> in(kb);
  for (uint32_t i = 0; i < kb; i++) in[i] = pages[i].data();
  // as many distinct parity indices as lost pages
  std::vector<uint32_t> js;
  for (size_t r = 0; r < missing.size(); r++) {
    uint32_t j = (parSeed + r * 11) % fec::kMaxParity;
    for (uint32_t k : js) if (k == j) j = (j + 1) % fec::kMaxParity;
    js.push_back(j);
  }
  std::vector<std::vector<uint8_t>> par(missing.size(), std::vector<uint8_t>(len));
  std::vector<std::pair<uint32_t, const uint8_t*>> use;
  for (size_t r = 0; r < missing.size(); r++) {
    fec::encode(in.data(), kb, js[r], par[r].data(), len);
    use.emplace_back(js[r], par[r].data());
  }
  std::vector<std::vector<uint8_t>> held = pages;
  for (uint32_t m : missing) memset(held[m].data(), 0xee, len);
  std::vector<uint8_t*> out(kb);
  for (uint32_t i = 0; i < kb; i++) out[i] = held[i].data();
  bool distinct = true;
  for (size_t a = 0; a < js.size(); a++)
    for (size_t b = a + 1; b < js.size(); b++) distinct = distinct && js[a] != js[b];
  bool ok = fec::recover(out.data(), kb, missing, use, len);
  if (distinct && !ok) abort();
  if (ok)
    for (uint32_t i = 0; i < kb; i++)
      if (held[i] != pages[i]) abort();
  // bad arguments are refused
  if (!missing.empty()) {
    std::vector<uint32_t> bad = missing;
    bad.push_back(kb);  // out of range, and one more than the parity
    if (fec::recover(out.data(), kb, bad, use, len)) abort();
    std::vector<std::pair<uint32_t, const uint8_t*>> badj = use;
    badj[0].first = fec::kMaxParity;
    if (fec::recover(out.data(), kb, missing, badj, len)) abort();
  }
  return 0;
}
