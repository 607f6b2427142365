#include "receiver.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fec.h"

namespace mrsync {

namespace {

// Sinks are fresh files truncated to size, so they read as zeros already:
// an all-zero page needs no write, and a sparse source stays sparse.
bool isZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = 0;
    memcpy(&v, p + i, std::min<size_t>(8, n - i));
    if (v) return false;
  }
  return true;
}

}  // namespace

int Receiver::openSink(uint32_t object, int fd, uint64_t size) {
  // A sink is a fresh file, given its size here (ftruncate, which refuses
  // anything but a regular file open for writing: EINVAL or EBADF): zero
  // pages are never written, and a block is read back whole to decode
  // parity, lost tail pages included; a shorter file would read short there.
  if (paging_.pageCount(size) > kMaxPages) return EFBIG;
  if (ftruncate(fd, off_t(size)) != 0) return errno;
  uint32_t pages = uint32_t(paging_.pageCount(size));
  std::shared_ptr<Sink> s(new Sink{fd, {}, size, pages, Bitmap(pages), pages});
  std::lock_guard<std::mutex> g(sinkMu_);
  sinks_[object] = std::move(s);
  return 0;
}

void Receiver::page(const Header& h, const uint8_t* payload, std::vector<Event>* out) {
  if (h.type == kTypeData) handleData(h, payload, out);
  else if (h.type == kTypeParity) handleParity(h, payload, out);
}

std::shared_ptr<Receiver::Sink> Receiver::findSink(uint32_t object) {
  std::lock_guard<std::mutex> g(sinkMu_);
  auto it = sinks_.find(object);
  return it == sinks_.end() ? nullptr : it->second;
}

int64_t Receiver::closeSink(uint32_t object) {
  std::shared_ptr<Sink> s;
  {
    std::lock_guard<std::mutex> g(sinkMu_);
    auto it = sinks_.find(object);
    if (it == sinks_.end()) return -1;
    s = std::move(it->second);
    sinks_.erase(it);
  }
  {
    std::lock_guard<std::mutex> io(s->io);  // waits out a read or write on it in the loop thread
    s->fd = -1;
  }
  std::lock_guard<std::mutex> g(s->mu);
  return s->missing;
}

int64_t Receiver::sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs) {
  std::shared_ptr<Sink> s = findSink(object);
  if (!s) return -1;
  std::lock_guard<std::mutex> g(s->mu);
  if (runs && s->missing) *runs = s->have.clearRuns(maxRuns);
  return s->missing;
}

// Consecutive pages of one sink are gathered and written with one pwritev
// (flushWrites); the bitmap is only updated for pages that reached the file.
void Receiver::handleData(const Header& h, const uint8_t* payload, std::vector<Event>* out) {
  stats_.dataRecv++;
  std::shared_ptr<Sink> sp = findSink(h.object);
  if (!sp) { stats_.dataStray++; return; }
  Sink& s = *sp;
  if (h.index >= s.pages || h.length != paging_.payloadLen(s.size, h.index)) { stats_.badFormat++; return; }
  if (s.failed || s.have.test(h.index)) { stats_.dataDup++; return; }
  // A page already queued in this batch (duplicate datagram) is a dup too.
  if (pend_.sink == sp && h.index >= pend_.first && h.index < pend_.first + pend_.count) { stats_.dataDup++; return; }
  if (isZero(payload, h.length)) {  // the sink reads as zeros already: no write
    markReceived(h.object, s, h.index, payload, out);
    return;
  }
  if (pend_.sink != sp || h.index != pend_.first + pend_.count || pend_.count == kMaxIov) flush(out);
  if (pend_.count == 0) {
    pend_.sink = sp;
    pend_.object = h.object;
    pend_.first = h.index;
  }
  pend_.iov[pend_.count++] = {const_cast<uint8_t*>(payload), h.length};
}

// A parity page of a block that still lacks pages
// is kept; once the block has as many parity pages as missing ones, the
// missing pages are computed from the parity and the pages already in the
// file, written, and marked received like any other.
void Receiver::handleParity(const Header& h, const uint8_t* payload, std::vector<Event>* out) {
  stats_.dataRecv++;
  stats_.parityRecv++;
  std::shared_ptr<Sink> sp = findSink(h.object);
  if (!sp) { stats_.dataStray++; return; }
  Sink& s = *sp;
  const uint32_t block = h.index >> 8, par = h.index & 0xff;
  const uint32_t kb = paging_.blockPages(s.size, block);
  if (kb == 0 || par >= fec::kMaxParity || h.length != paging_.parityLen(s.size, block)) { stats_.badFormat++; return; }
  if (s.failed) { stats_.dataDup++; return; }
  if (pend_.count) flush(out);  // the block as the file has it
  if (s.failed) return;
  const uint32_t first = block * fec::kBlock;
  std::vector<uint32_t> missing;
  for (uint32_t i = 0; i < kb; i++)
    if (!s.have.test(first + i)) missing.push_back(i);
  auto& kept = s.parity[block];
  bool dup = missing.empty();
  for (auto& k : kept) dup = dup || k.first == par;
  if (dup) {
    stats_.dataDup++;
    if (missing.empty()) s.parity.erase(block);
    return;
  }
  kept.emplace_back(par, std::vector<uint8_t>(payload, payload + h.length));
  if (kept.size() < missing.size()) return;

  const size_t P = paging_.pageSize, plen = h.length;
  std::lock_guard<std::mutex> io(s.io);
  if (s.fd < 0) return;  // closed meanwhile
  std::vector<uint8_t> blk;
  if (int err = paging_.readBlock(s.fd, s.size, block, kb, &blk)) {
    sinkFailed(h.object, s, err == ENODATA ? EIO : err, out);  // short: our own file lost pages
    return;
  }
  uint8_t* data[fec::kBlock];
  for (uint32_t i = 0; i < kb; i++) data[i] = blk.data() + size_t(i) * P;
  std::vector<std::pair<uint32_t, const uint8_t*>> use;
  for (size_t r = 0; r < missing.size(); r++) use.emplace_back(kept[r].first, kept[r].second.data());
  if (!fec::recover(data, kb, missing, use, plen)) { stats_.badFormat++; s.parity.erase(block); return; }
  for (uint32_t i : missing) {
    uint32_t page = first + i, len = paging_.payloadLen(s.size, page);
    if (!isZero(data[i], len)) {
      ssize_t w = pwrite(s.fd, data[i], len, off_t(uint64_t(page) * P));
      if (w != ssize_t(len)) {
        sinkFailed(h.object, s, w < 0 ? errno : ENOSPC, out);
        return;
      }
    }
    stats_.fecRecovered++;
    markReceived(h.object, s, page, data[i], out);
  }
  s.parity.erase(block);
}

void Receiver::sinkFailed(uint32_t object, Sink& s, int err, std::vector<Event>* out) {
  s.failed = true;
  s.parity.clear();
  Event e{EventKind::SinkError};
  e.object = object;
  e.err = err;
  out->push_back(std::move(e));
}

// The file's SHA-256 follows the pages in order: the next page is hashed
// from the datagram; pages that came ahead of a gap are read back from the
// file (catchUp) once the gap is filled. The sink is complete when the last
// page is hashed: its event carries the digest.
void Receiver::markReceived(uint32_t object, Sink& s, uint32_t index, const uint8_t* data, std::vector<Event>* out) {
  {
    std::lock_guard<std::mutex> g(s.mu);
    if (!s.have.set(index)) return;
    s.missing--;
  }
  stats_.dataNew++;
  if (data && index == s.hashed) {
    s.md.update(data, paging_.payloadLen(s.size, index));
    if (++s.hashed == s.pages) sinkComplete(object, s, out);
  }
  if (s.hashed < s.pages && s.have.test(s.hashed) && !s.catchingUp) {
    s.catchingUp = true;
    catchUp_.push_back(object);
  }
}

void Receiver::sinkComplete(uint32_t object, Sink& s, std::vector<Event>* out) {
  Event e{EventKind::SinkComplete};
  e.object = object;
  e.payload = s.md.final();
  out->push_back(std::move(e));
}

// Read back and hash up to budget bytes of the
// pages waiting in the files of the sinks on catchUp_ (the loop comes back
// for the rest after a look at the socket).
void Receiver::catchUp(size_t budget, std::vector<Event>* out) {
  const size_t P = paging_.pageSize;
  const uint32_t maxRun = uint32_t(std::max<size_t>(1, (256 << 10) / P));
  static thread_local std::vector<uint8_t> buf;
  buf.resize(size_t(maxRun) * P);
  std::vector<uint32_t> keep;
  for (uint32_t object : catchUp_) {
    std::shared_ptr<Sink> sp = findSink(object);
    if (!sp) continue;  // closed
    Sink& s = *sp;
    while (!s.failed && budget > 0 && s.hashed < s.pages && s.have.test(s.hashed)) {
      uint32_t n = 1;
      while (n < maxRun && s.hashed + n < s.pages && s.have.test(s.hashed + n)) n++;
      const uint64_t off = uint64_t(s.hashed) * P;
      const size_t want = size_t(std::min<uint64_t>(uint64_t(n) * P, s.size - off));
      ssize_t got;
      {
        std::lock_guard<std::mutex> io(s.io);
        if (s.fd < 0) break;  // closed meanwhile
        got = pread(s.fd, buf.data(), want, off_t(off));
      }
      if (got != ssize_t(want)) {
        sinkFailed(object, s, got < 0 ? errno : EIO, out);
        break;
      }
      s.md.update(buf.data(), want);
      s.hashed += n;
      budget -= std::min(budget, want);
      if (s.hashed == s.pages) sinkComplete(object, s, out);
    }
    if (!s.failed && s.hashed < s.pages && s.have.test(s.hashed)) keep.push_back(object);
    else s.catchingUp = false;
  }
  catchUp_.swap(keep);
}

void Receiver::flush(std::vector<Event>* out) {
  if (pend_.count == 0) return;
  Sink& s = *pend_.sink;
  size_t want = 0;
  for (uint32_t i = 0; i < pend_.count; i++) want += pend_.iov[i].iov_len;
  ssize_t w;
  {
    std::lock_guard<std::mutex> io(s.io);
    w = s.fd < 0 ? -2 : pwritev(s.fd, pend_.iov, int(pend_.count), off_t(uint64_t(pend_.first) * paging_.pageSize));
  }
  if (w == -2) {
    // closed meanwhile: nothing to write, nothing to tell
  } else if (w != ssize_t(want)) {
    sinkFailed(pend_.object, s, w < 0 ? errno : ENOSPC, out);
  } else {
    for (uint32_t i = 0; i < pend_.count; i++)
      markReceived(pend_.object, s, pend_.first + i, static_cast<const uint8_t*>(pend_.iov[i].iov_base), out);
  }
  pend_.count = 0;
  pend_.sink.reset();
}


}  // namespace mrsync
