// The sending side of the loop: the pages of queued jobs, read from their
// files, sealed (HMAC tag, or AES-GCM with --encrypt), numbered (seq, for the
// targets' loss count) and handed to the kernel a burst at a time (UDP GSO
// where it is taken, sendmmsg otherwise), within the credit the loop's token
// bucket gives; parity pages computed from a block of the file (fec.h). A
// job that is a part of a file's first pass hashes its pages as they are
// read: the job that reaches the last page carries the file's SHA-256.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "events.h"
#include "pageloop.h"
#include "pages.h"
#include "wire.h"

namespace mrsync {

constexpr int kBatch = 32;  // datagrams per sendmmsg / recvmmsg

struct Job {
  uint32_t id, object;
  int fd;                        // the pages' file, or -1: they are in mem
  uint64_t size;
  const uint8_t* mem = nullptr;  // the pages in memory (a pack of small files), held by the owner until the job's event
  std::vector<std::pair<uint32_t, uint32_t>> runs;  // (first page, count)
  std::vector<ParityRun> parity;
  size_t run = 0;
  uint32_t done = 0;     // pages of the current run already sent
  size_t par = 0;
  uint32_t parDone = 0;  // parity pages of the current parity run already sent
  bool urgent = false;   // ahead of the jobs queued (a repair during a big file's first pass)
  bool hash = false;     // a part of the object's first pass
};

class PageSender {
 public:
  // ctr: the AES-GCM nonce counter the loop's control messages share (loop thread only)
  PageSender(int sock, const sockaddr_storage& group, socklen_t groupLen, Paging paging, uint32_t wireOverhead, bool gso,
             Auth& auth, Aead* aead, uint64_t* ctr, Stats& stats)
      : sock_(sock), group_(group), groupLen_(groupLen), paging_(paging), wireOverhead_(wireOverhead), gso_(gso),
        auth_(&auth), aead_(aead), ctr_(ctr), stats_(stats) {}

  void add(Job&& j);  // an urgent job goes first; the one it interrupts resumes where it was
  bool idle() const { return active_.empty(); }
  // Up to room datagrams of the first job, paid from tokens (bytes of line
  // time); wantOut: the socket is full, wait for POLLOUT. A job that ends
  // (sent, or failed: errno) gives its event to out.
  void step(uint32_t room, double* tokens, bool* wantOut, std::vector<Event>* out);

 private:
  struct SendHash {  // a first pass being hashed
    Sha256 md;
    uint32_t next = 0;  // pages hashed
  };
  // one send of n pages (type, index, payload length) laid out back to back
  // in buf; returns how many went; numbers them (seq) and pays tokens
  int sendPagesBatch(uint32_t object, uint8_t type, const uint32_t* index, const uint32_t* len, uint8_t* buf,
                     uint32_t n, double* tokens, bool* wantOut);
  int sendRunChunk(Job& j, uint32_t room, double* tokens, bool* wantOut);     // 0 or an errno
  int sendParityChunk(Job& j, uint32_t room, double* tokens, bool* wantOut);  // 0 or an errno
  void feedHash(const Job& j, uint32_t first, uint32_t n, const uint8_t* buf, const uint32_t* lens);
  // want bytes of the job's object from off on into dst (its file, or its memory); 0 or an errno
  // (ENODATA: the file ends first)
  int readAt(const Job& j, uint8_t* dst, uint64_t want, uint64_t off) const;

  const int sock_;
  const sockaddr_storage group_;
  const socklen_t groupLen_;
  const Paging paging_;
  const uint32_t wireOverhead_;
  bool gso_;            // UDP GSO still in use
  Auth* auth_;
  Aead* aead_;          // --encrypt, else null
  uint64_t* ctr_;
  Stats& stats_;
  std::deque<Job> active_;
  uint16_t dataSeq_ = 0;  // running count of data datagrams (header seq)
  std::unordered_map<uint32_t, std::unique_ptr<SendHash>> sendHash_;
  std::vector<uint8_t> blockBuf_;  // data pages of the block parity is made from
  int64_t blockJob_ = -1;          // job id the cached block belongs to
  uint32_t blockNo_ = 0;
};

}  // namespace mrsync
