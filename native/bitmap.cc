#include "bitmap.h"

namespace mrsync {

uint32_t Bitmap::count() const {
  uint64_t n = 0;
  for (uint64_t w : words_) n += __builtin_popcountll(w);
  return uint32_t(n);
}

std::vector<std::pair<uint32_t, uint32_t>> Bitmap::clearRuns(size_t maxRuns) const {
  std::vector<std::pair<uint32_t, uint32_t>> runs;
  uint32_t i = 0;
  while (i < bits_ && runs.size() < maxRuns) {
    // skip whole words that are full
    if ((i & 63) == 0 && words_[i >> 6] == ~uint64_t(0)) { i += 64; continue; }
    if (test(i)) { ++i; continue; }
    uint32_t start = i;
    while (i < bits_ && !test(i)) {
      if ((i & 63) == 0 && words_[i >> 6] == 0 && i + 64 <= bits_) { i += 64; continue; }
      ++i;
    }
    runs.emplace_back(start, i - start);
  }
  return runs;
}

}  // namespace mrsync
