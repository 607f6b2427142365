// libFuzzer target for the page bitmap: set bits from the input, then the
// clear runs must be sorted, disjoint, inside the bitmap, cover exactly the
// clear bits, and respect the run cap.
#include <cstdint>
#include <cstdlib>

#include "../bitmap.h"

using namespace mrsync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint32_t bits = (uint32_t(data[0]) << 8 | data[1]) % 5000;
  size_t cap = 1 + data[2] % 64;
  Bitmap bm(bits);
  uint32_t set = 0;
  for (size_t i = 3; i + 1 < size && bits; i += 2) {
    uint32_t at = (uint32_t(data[i]) << 8 | data[i + 1]) % bits;
    if (bm.set(at)) set++;
    if (bm.set(at)) abort();  // second set of the same bit reports nothing new
  }
  if (bm.count() != set) abort();
  auto all = bm.clearRuns(SIZE_MAX);
  uint64_t clear = 0;
  uint64_t prevEnd = 0;
  for (auto& r : all) {
    if (r.second == 0 || r.first < prevEnd || uint64_t(r.first) + r.second > bits) abort();
    if (r.first > 0 && r.first == prevEnd && prevEnd != 0) abort();  // adjacent runs must have been merged
    for (uint32_t i = r.first; i < r.first + r.second; i++) if (bm.test(i)) abort();
    if (r.first > 0 && !bm.test(r.first - 1)) abort();
    clear += r.second;
    prevEnd = uint64_t(r.first) + r.second;
  }
  if (clear + set != bits) abort();
  auto capped = bm.clearRuns(cap);
  if (capped.size() > cap || capped.size() != std::min(cap, all.size())) abort();
  for (size_t i = 0; i < capped.size(); i++) if (capped[i] != all[i]) abort();
  return 0;
}
