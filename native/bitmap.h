// Page bitmap: which pages of an object have been received (or are wanted).
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mrsync {

class Bitmap {
 public:
  explicit Bitmap(uint32_t bits = 0) : bits_(bits), words_((uint64_t(bits) + 63) / 64, 0) {}
  uint32_t size() const { return bits_; }
  bool test(uint32_t i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  // returns true if the bit was newly set
  bool set(uint32_t i) {
    uint64_t m = uint64_t(1) << (i & 63);
    if (words_[i >> 6] & m) return false;
    words_[i >> 6] |= m;
    return true;
  }
  uint32_t count() const;
  // Runs of clear bits as (start, length) pairs, at most maxRuns of them.
  std::vector<std::pair<uint32_t, uint32_t>> clearRuns(size_t maxRuns) const;

 private:
  uint32_t bits_;
  std::vector<uint64_t> words_;
};

}  // namespace mrsync
