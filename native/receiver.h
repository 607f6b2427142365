// The receiving sinks: files being received, page by page, on a catcher.
// Data pages are written in place (runs of consecutive pages with one
// pwritev) while each sink keeps its page bitmap; parity pages (fec.h) are
// kept until a block has as many as it lacks, then its lost pages are rebuilt;
// the file's SHA-256 follows the pages in order, reading back from the file
// pages that came ahead of a gap once it is filled. Pages reach it after the
// loop checked their tag; everything else about them (object, index, length)
// is checked here. Plain C++, no sockets: the loop (pageloop.h) feeds it, and
// so does a fuzzer (fuzz/fuzz_sink.cc).
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bitmap.h"
#include "events.h"
#include "pages.h"
#include "wire.h"

namespace mrsync {

class Receiver {
 public:
  Receiver(Paging paging, Stats& stats) : paging_(paging), stats_(stats) {}

  // fd must be a fresh file (it reads as zeros); the sink gives it its size.
  // The sink borrows fd: the caller closes it, and only after closeSink.
  // Its SinkComplete event carries the SHA-256 of the file (payload).
  // Returns 0, or an errno: EFBIG (more than kMaxPages pages), or that of
  // ftruncate (EINVAL: not a regular file).
  int openSink(uint32_t object, int fd, uint64_t size);
  // Returns pages still missing (-1: no such sink); forgets the sink. Once
  // it returns, the loop thread does no more I/O on the sink's fd.
  int64_t closeSink(uint32_t object);
  // Missing-page runs of a sink and its missing count; count -1 if no sink.
  int64_t sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs);

  // An authenticated data or parity page. Its payload must stay valid until flush().
  void page(const Header& h, const uint8_t* payload, std::vector<Event>* out);
  // Write the pages gathered so far (before their buffers are reused).
  void flush(std::vector<Event>* out);
  // Read back and hash up to budget bytes of pages that came ahead of a gap.
  void catchUp(size_t budget, std::vector<Event>* out);
  bool catchingUp() const { return !catchUp_.empty(); }
  static constexpr size_t kCatchUpBytes = 1 << 20;  // read back per loop turn

 private:
  // A file being received. Its fd is the owner's, borrowed: the loop thread
  // (which may still hold the sink for the datagrams at hand when closeSink
  // drops it from the map) reads and writes it only under io, and not once
  // closeSink has set it to -1, so the owner may close it (and the number be
  // reused) as soon as closeSink returns. The loop thread alone writes a
  // sink's state; mu guards the bitmap and count it shares with sinkMissing
  // and closeSink.
  struct Sink {
    int fd;
    std::mutex io;
    uint64_t size;
    uint32_t pages;
    Bitmap have;
    uint32_t missing;
    std::mutex mu;
    bool failed = false;
    Sha256 md;            // of pages [0, hashed)
    uint32_t hashed = 0;
    bool catchingUp = false;  // on catchUp_: pages from hashed on are in the file
    // parity pages received for blocks not yet whole: block -> (j, bytes)
    std::unordered_map<uint32_t, std::vector<std::pair<uint32_t, std::vector<uint8_t>>>> parity;
  };
  static constexpr uint32_t kMaxIov = 64;
  struct PendingWrite {  // consecutive pages of one sink awaiting one pwritev
    std::shared_ptr<Sink> sink;
    uint32_t object = 0, first = 0, count = 0;
    iovec iov[kMaxIov];
  };

  void handleData(const Header& h, const uint8_t* payload, std::vector<Event>* out);
  void handleParity(const Header& h, const uint8_t* payload, std::vector<Event>* out);
  // data: the page's bytes if at hand (hashed now if next in order), else null
  void markReceived(uint32_t object, Sink& s, uint32_t index, const uint8_t* data, std::vector<Event>* out);
  void sinkComplete(uint32_t object, Sink& s, std::vector<Event>* out);
  void sinkFailed(uint32_t object, Sink& s, int err, std::vector<Event>* out);
  std::shared_ptr<Sink> findSink(uint32_t object);

  const Paging paging_;
  Stats& stats_;
  std::mutex sinkMu_;  // guards the map (held for a lookup, never for I/O)
  std::unordered_map<uint32_t, std::shared_ptr<Sink>> sinks_;
  std::vector<uint32_t> catchUp_;  // sinks whose hash waits on pages to read back (loop thread)
  PendingWrite pend_;              // loop thread only
};

}  // namespace mrsync
