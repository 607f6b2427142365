// libFuzzer target for the receiving sinks (receiver.h): data and parity
// pages into a file, the true file's and junk (wrong lengths and indices,
// other objects, random bytes, repeats, any order), the way a datagram that
// passed the tag check reaches them. Whatever arrives: no crash and no
// sanitizer report; the missing count agrees with the bitmap's runs; a sink
// with every page is complete once its read-back is done; the SHA-256 a
// complete sink reports is that of the file as written; and when only the
// true file's pages and parity arrived, a complete sink holds exactly it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../fec.h"
#include "../receiver.h"

using namespace mrsync;

namespace {

struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t u8() { if (!n) return 0; n--; return *p++; }
  uint16_t u16() { return uint16_t(u8() << 8 | u8()); }
};

std::string fileHash(int fd, uint64_t size) {
  std::vector<uint8_t> b(size);
  if (size && pread(fd, b.data(), size, 0) != ssize_t(size)) abort();
  Sha256 md;
  md.update(b.data(), b.size());
  return md.final();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const Paging pg{uint32_t(16 + in.u8() % 113)};  // pages of 16..128 bytes: blocks of 128 stay small
  const uint64_t fileSize = 1 + in.u16() % (pg.pageSize * 300);  // up to three blocks
  const uint32_t pages = uint32_t(pg.pageCount(fileSize));
  const uint32_t blocks = (pages + fec::kBlock - 1) / fec::kBlock;
  // the true file: bytes from a seed, with runs of zero pages (never written: the sink reads as zeros)
  std::vector<uint8_t> truth(fileSize);
  uint32_t seed = in.u16() * 2654435761u + 1;
  const uint8_t zeros = in.u8();
  for (uint64_t i = 0; i < fileSize; i++) {
    seed = seed * 1103515245u + 12345u;
    truth[i] = ((i / pg.pageSize) % 8 == zeros % 8) ? 0 : uint8_t(seed >> 16);
  }
  int fd = memfd_create("sink", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, off_t(fileSize)) != 0) abort();
  Stats stats;
  Receiver r(pg, stats);
  const uint32_t obj = 5;
  if (r.openSink(obj, fd, fileSize) != 0) abort();

  bool junk = false, complete = false, failed = false;
  std::string digest;
  std::vector<Event> evs;
  std::vector<std::vector<uint8_t>> held;  // payloads stay valid until flush(), as the loop's pool does
  auto take = [&]() {
    for (const Event& e : evs) {
      if (e.object != obj) abort();
      if (e.kind == EventKind::SinkComplete) {
        if (complete) abort();  // once
        complete = true;
        digest = e.payload;
      } else if (e.kind == EventKind::SinkError) {
        failed = true;
      }
    }
    evs.clear();
  };
  auto block = [&](uint32_t b, std::vector<uint8_t>* buf) {  // a block of the true file, zero-padded pages
    const uint32_t kb = pg.blockPages(fileSize, b);
    buf->assign(size_t(kb) * pg.pageSize, 0);
    for (uint32_t i = 0; i < kb; i++) {
      const uint32_t page = b * fec::kBlock + i;
      memcpy(buf->data() + size_t(i) * pg.pageSize, truth.data() + uint64_t(page) * pg.pageSize, pg.payloadLen(fileSize, page));
    }
    return kb;
  };
  while (in.n) {
    const uint8_t op = in.u8();
    Header h;
    h.object = obj;
    std::vector<uint8_t> payload;
    switch (op % 10) {
      case 0: case 1: case 2: case 3: {  // a true data page (or one past the end)
        h.type = kTypeData;
        h.index = in.u16() % (pages + 2);
        const uint32_t len = h.index < pages ? pg.payloadLen(fileSize, h.index) : pg.pageSize;
        if (h.index < pages) payload.assign(truth.begin() + uint64_t(h.index) * pg.pageSize, truth.begin() + uint64_t(h.index) * pg.pageSize + len);
        else payload.assign(len, 1);
        break;
      }
      case 4: case 5: {  // a true parity page of a block (or of none)
        h.type = kTypeParity;
        const uint32_t b = in.u8() % (blocks + 1), j = in.u8() % (fec::kMaxParity + 1);
        h.index = b << 8 | (j & 0xff);
        std::vector<uint8_t> blk;
        const uint32_t kb = b < blocks ? block(b, &blk) : 0;
        const uint32_t plen = b < blocks ? pg.parityLen(fileSize, b) : pg.pageSize;
        payload.assign(plen, 0);
        if (kb && j < fec::kMaxParity) {
          std::vector<const uint8_t*> ptrs(kb);
          for (uint32_t i = 0; i < kb; i++) ptrs[i] = blk.data() + size_t(i) * pg.pageSize;
          fec::encode(ptrs.data(), kb, j, payload.data(), plen);
        }
        break;
      }
      case 6: case 7: {  // junk: any type, index and length, bytes from the input
        h.type = (op & 0x10) ? kTypeParity : kTypeData;
        h.index = (op & 0x20) ? uint32_t(in.u16()) << 8 | in.u8() : in.u16() % (pages + 1);
        const uint32_t len = (op & 0x40) ? in.u16() % (pg.pageSize * 2 + 1)
            : h.type == kTypeData ? pg.payloadLen(fileSize, h.index) : pg.parityLen(fileSize, h.index >> 8);
        for (uint32_t i = 0; i < len; i++) payload.push_back(in.u8());
        if (op & 0x80) h.object = obj + 1;  // another object: no sink
        junk = true;
        break;
      }
      case 8:
        r.flush(&evs);
        held.clear();
        take();
        continue;
      default:
        r.catchUp(size_t(in.u8()) * 64, &evs);
        take();
        continue;
    }
    h.length = uint16_t(payload.size());
    held.push_back(std::move(payload));
    r.page(h, held.back().data(), &evs);
    take();
    if (held.size() > 200) { r.flush(&evs); held.clear(); take(); }
  }
  r.flush(&evs);
  held.clear();
  take();
  for (int i = 0; i < 1000 && r.catchingUp(); i++) { r.catchUp(1 << 20, &evs); take(); }
  std::vector<std::pair<uint32_t, uint32_t>> runs;
  const int64_t missing = r.sinkMissing(obj, 1u << 20, &runs);
  uint64_t inRuns = 0;
  for (auto& [s, n] : runs) inRuns += n;
  if (missing < 0 || uint64_t(missing) != inRuns) abort();
  if (!failed && missing == 0 && !complete) abort();  // every page there, and no hash
  if (complete && digest != fileHash(fd, fileSize)) abort();
  if (complete && !junk) {
    std::vector<uint8_t> b(fileSize);
    if (pread(fd, b.data(), fileSize, 0) != ssize_t(fileSize) || b != truth) abort();
  }
  r.closeSink(obj);
  close(fd);
  return 0;
}
