// PageLoop: the paged UDP socket loop on its own thread.
//
// One UDP socket (multicast group joined on catchers; multicast interface,
// TTL and loopback set on the master), a wake-up eventfd, and a poll loop
// that: sends queued control messages at once; sends the pages of queued
// jobs straight from their file descriptors, paced by a token bucket;
// receives datagrams in batches (recvmmsg), drops those that fail the
// tag check, writes data pages in place (pwrite) into open sinks
// while keeping each sink's page bitmap, rebuilds lost pages from parity
// pages (fec.h) when a block has enough of them, and hands everything else
// to the owner as batched events. Plain C++: the N-API wrap lives in addon.cc.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <stdexcept>

#include "events.h"
#include "pages.h"
#include "receiver.h"
#include "wire.h"

namespace mrsync {

struct LoopOptions {
  int family = 4;             // 4 or 6
  std::string group;          // multicast group address
  int port = 8888;            // group port (destination of multicast)
  int bindPort = 0;           // local port to bind (catcher: port; master: port-1)
  std::string ifname;         // "" = let the routing table choose
  int ttl = 1;
  bool loopback = false;
  bool join = false;          // join the group (catchers)
  std::string key;            // session key
  uint16_t sender = 0;        // our sender id
  uint32_t pageSize = 1436;
  uint64_t rateBps = 100000000;  // bits per second on the wire
  uint32_t wireOverhead = 42;    // bytes counted per datagram beyond the UDP payload
  int rcvbuf = 8 << 20;
  int sndbuf = 4 << 20;
  bool encrypt = false;  // AES-256-GCM payloads (wire.h, Aead) instead of HMAC tags
  uint8_t echoType = 0;  // answer datagrams of this type at once, natively (rtt catchers)
  long napUs = 0;        // receive-only nap (see run()); 0 = never nap
  long napMaxUs = 0;     // longer naps, up to this, when datagrams arrive slowly (0 = napUs always)
  // catchers: where feedback goes (the master's address and port, from the
  // session header); never learned from datagrams, which anyone can replay
  // from another address. "" = no feedback (rtt catchers answer natively)
  std::string master;
  int masterPort = 0;
  bool gso = true;       // send page batches with UDP GSO (UDP_SEGMENT) where the kernel takes it
  bool boost = false;    // sender: raise the loop thread's priority (nice -10) where allowed
};

// CLOCK_MONOTONIC in nanoseconds: the clock of send stamps and receive times.
uint64_t monoNs();

// The source address this host's datagrams to group:port take (through
// ifname if given, else as routed): what the targets see the master send
// from, and where they send feedback. A connected UDP socket's local
// address; nothing is sent. Throws LoopError.
std::string multicastSource(int family, const std::string& group, int port, const std::string& ifname);



class LoopError : public std::runtime_error {
 public:
  LoopError(const std::string& code, const std::string& syscall, int err, const std::string& msg)
      : std::runtime_error(msg), code(code), syscall(syscall), err(err) {}
  std::string code, syscall;
  int err;
};

class PageLoop {
 public:
  // notify is called on the loop thread whenever events were queued.
  PageLoop(const LoopOptions& opts, std::function<void()> notify);
  ~PageLoop();

  void start();
  void stop();  // wakes and joins; idempotent

  struct ParityRun { uint32_t block, first, count; };  // parity pages first..first+count-1 of a block
  // Pages of [start, start+len) runs of an object read from fd, then the
  // parity pages of the parity runs (the fd stays owned by the caller until
  // JobSent/JobError). urgent: ahead of the jobs already queued. hash: a
  // part of the object's first pass, pages in order from 0: their SHA-256
  // is taken as they are read, and the JobSent of the job that reaches the
  // last page carries it (payload, 32 bytes) - the content the targets got.
  void sendPages(uint32_t job, uint32_t object, int fd, uint64_t size,
                 std::vector<std::pair<uint32_t, uint32_t>> runs, std::vector<ParityRun> parity = {},
                 bool urgent = false, bool hash = false, bool wakeNow = true);
  // toMaster: unicast to the master (LoopOptions.master); else multicast.
  // wakeNow false: queued only; the owner calls wake() once for a batch of sends
  void sendControl(uint8_t type, uint32_t object, uint32_t index, std::string payload, bool toMaster,
                   bool stamp = false, bool wakeNow = true);
  void wake();  // the loop thread looks at its queues (one eventfd write until it has)
  // fd must be a fresh file already truncated to size (reads as zeros).
  // Its SinkComplete event carries the SHA-256 of the file (payload): pages
  // are hashed as they arrive in order, those that came ahead of a gap are
  // read back from the file once the gap is filled.
  // Returns 0, or the errno of duplicating fd.
  int openSink(uint32_t object, int fd, uint64_t size);
  // Returns pages still missing; forgets the sink (the fd stays the caller's).
  int64_t closeSink(uint32_t object);
  // Missing-page runs of a sink and its missing count; count -1 if no sink.
  int64_t sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs);
  void setRate(uint64_t bps);
  bool hasMaster() const { return hasMaster_.load(); }
  int localPort() const;  // the UDP port the socket is bound to

  std::vector<Event> takeEvents();
  const Stats& stats() const { return stats_; }
  uint32_t pageSize() const { return opts_.pageSize; }
  uint64_t pageCount(uint64_t size) const { return paging_.pageCount(size); }

 private:
  struct Job {
    uint32_t id, object;
    int fd;
    uint64_t size;
    std::vector<std::pair<uint32_t, uint32_t>> runs;
    std::vector<ParityRun> parity;
    size_t run = 0;
    uint32_t done = 0;  // pages of the current run already sent
    size_t par = 0;
    uint32_t parDone = 0;  // parity pages of the current parity run already sent
    bool urgent = false;
    bool hash = false;
  };
  struct SendHash {  // a first pass being hashed (loop thread only)
    Sha256 md;
    uint32_t next = 0;  // pages hashed
  };
  struct Ctl {
    uint8_t type;
    uint32_t object, index;
    std::string payload;
    bool toMaster;
    bool stamp;  // write monoNs() into payload bytes 0..7 at the moment of sending
  };

  void run();
  // seal and send one control datagram (false: EAGAIN, try later)
  bool sendCtl(const Ctl& c);
  void setupSocket();
  void drainCommands();
  // one sendmmsg of n pages (type, index, payload length) laid out back to
  // back in buf; returns how many went; numbers them (seq) and pays tokens
  int sendPagesBatch(uint32_t object, uint8_t type, const uint32_t* index, const uint32_t* len, uint8_t* buf,
                     uint32_t n, double* tokens, bool* wantOut);
  int sendRunChunk(Job& j, uint32_t room, double* tokens, bool* wantOut);     // 0 or an errno
  int sendParityChunk(Job& j, uint32_t room, double* tokens, bool* wantOut);  // 0 or an errno
  int receive();  // returns the size of the last recvmmsg batch
  void feedHash(const Job& j, uint32_t first, uint32_t n, const uint8_t* buf, const uint32_t* lens);
  void push(std::vector<Event>&& evs);
  long napTime();  // microseconds of the next receive nap (0: none)

  LoopOptions opts_;
  Paging paging_;
  std::function<void()> notify_;
  int sock_ = -1, wakefd_ = -1;
  std::atomic<bool> woken_{false};  // wakefd_ written and not yet read
  sockaddr_storage groupAddr_{};
  socklen_t groupLen_ = 0;
  sockaddr_storage masterAddr_{};
  socklen_t masterLen_ = 0;
  std::atomic<bool> hasMaster_{false};
  bool masterScope_ = false;  // IPv6 link-local master: its scope (our interface) is taken from its first datagram
  std::unique_ptr<Auth> auth_;
  std::unique_ptr<Aead> aead_;  // --encrypt
  uint64_t ctr_ = 0;            // AES-GCM nonce counter, loop thread only
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  std::mutex cmdMu_;  // guards ctlQueue_, jobQueue_, rate
  std::deque<Ctl> ctlQueue_;
  std::deque<Job> jobQueue_;
  std::atomic<uint64_t> rateBps_;

  bool gso_ = true;         // loop thread: UDP GSO still in use
  uint16_t dataSeq_ = 0;   // sender: running count of data datagrams (header seq)
  bool seqSeen_ = false;    // receiver: the last seq seen, for dataExpected
  uint16_t lastSeq_ = 0;
  uint64_t rxTotal_ = 0;    // receiver: datagrams read, and their recent rate (napTime)
  uint64_t rateN0_ = 0;
  double rateT0_ = 0, rxPps_ = 0;
  std::unordered_map<uint32_t, std::unique_ptr<SendHash>> sendHash_;  // loop thread

  std::vector<uint8_t> blockBuf_;  // loop thread: data pages of the block parity is made from
  int64_t blockJob_ = -1;  // job id the cached block belongs to
  uint32_t blockNo_ = 0;

  std::mutex evMu_;
  std::vector<Event> events_;

  Stats stats_;
  Receiver recv_{paging_, stats_};  // the sinks (catchers)
};

}  // namespace mrsync
