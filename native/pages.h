// How an object is cut into pages and parity blocks (fec.h): shared by the
// sender (pageloop.cc) and the receiving sinks (receiver.cc).
#pragma once
#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fec.h"

namespace mrsync {

// Pages per object at most: parity pages name their block in 24 bits of 128
// pages (fec.h), data pages their page in 32 bits.
constexpr uint64_t kMaxPages = uint64_t(1) << 31;

// want bytes of fd from off on into dst, in one pread: 0, an errno, or ENODATA if the file ends first
inline int preadWhole(int fd, uint8_t* dst, uint64_t want, uint64_t off) {
  ssize_t got = pread(fd, dst, want, off_t(off));
  if (got < 0) return errno;
  return uint64_t(got) == want ? 0 : ENODATA;
}

struct Paging {
  uint32_t pageSize;

  uint64_t pageCount(uint64_t size) const { return (size + pageSize - 1) / pageSize; }

  uint32_t payloadLen(uint64_t size, uint32_t page) const {
    uint64_t off = uint64_t(page) * pageSize;
    if (off >= size) return 0;
    return uint32_t(std::min<uint64_t>(pageSize, size - off));
  }

  uint32_t blockPages(uint64_t size, uint32_t block) const {
    uint64_t pages = pageCount(size);
    uint64_t first = uint64_t(block) * fec::kBlock;
    return first >= pages ? 0 : uint32_t(std::min<uint64_t>(fec::kBlock, pages - first));
  }

  // the longest page of the block: its first
  uint32_t parityLen(uint64_t size, uint32_t block) const { return payloadLen(size, block * fec::kBlock); }

  // The kb data pages of a block, each zero-padded to a whole page (what
  // parity is computed over), read by read(dst, want, off) (0 or an errno):
  // 0, an errno, or ENODATA if the object is shorter.
  template <class Read>
  int readBlock(uint64_t size, uint32_t block, uint32_t kb, std::vector<uint8_t>* buf, Read read) const {
    const uint64_t off = uint64_t(block) * fec::kBlock * pageSize;
    const uint64_t want = std::min<uint64_t>(uint64_t(kb) * pageSize, size - off);
    buf->assign(size_t(kb) * pageSize, 0);
    return read(buf->data(), want, off);
  }

  // The same, of fd.
  int readBlock(int fd, uint64_t size, uint32_t block, uint32_t kb, std::vector<uint8_t>* buf) const {
    return readBlock(size, block, kb, buf, [fd](uint8_t* dst, uint64_t want, uint64_t off) { return preadWhole(fd, dst, want, off); });
  }
};

}  // namespace mrsync
