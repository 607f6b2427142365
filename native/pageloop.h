// PageLoop: the paged UDP socket loop on its own thread.
//
// One UDP socket (socket.cc: the group joined on catchers; the multicast
// interface, TTL and loopback set on the master), a wake-up eventfd, and a
// poll loop that: sends queued control messages at once; sends the pages of
// queued jobs from their files, paced by a token bucket (sender.h);
// receives datagrams in batches (recvmmsg), drops those that fail the tag
// check, and gives data and parity pages to the receiving sinks (receiver.h)
// and everything else to the owner as batched events. Plain C++: the N-API
// wrap lives in addon.cc. What the loop holds inside is its own (Impl).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "events.h"

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
  long rejoinMs = 0;     // join: leave and join the group again this often, so that switches that snoop
                         // IGMP/MLD hear a report where no querier asks for one (0 = never)
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

struct ParityRun { uint32_t block, first, count; };  // parity pages first..first+count-1 of a block

class PageLoop {
 public:
  // notify is called on the loop thread whenever events were queued. Throws LoopError.
  PageLoop(const LoopOptions& opts, std::function<void()> notify);
  ~PageLoop();
  PageLoop(const PageLoop&) = delete;
  PageLoop& operator=(const PageLoop&) = delete;

  void start();
  void stop();  // wakes and joins; idempotent

  // Pages of [start, start+len) runs of an object read from fd, then the
  // parity pages of the parity runs (the fd stays owned by the caller until
  // JobSent/JobError). urgent: ahead of the jobs already queued. hash: a
  // part of the object's first pass, pages in order from 0: their SHA-256
  // is taken as they are read, and the JobSent of the job that reaches the
  // last page carries it (payload, 32 bytes) - the content the targets got.
  // wakeNow false: queued only; the owner calls wake() once for a batch of sends
  // mem: the pages are there (size bytes), not in fd; the owner keeps them until JobSent/JobError
  void sendPages(uint32_t job, uint32_t object, int fd, uint64_t size,
                 std::vector<std::pair<uint32_t, uint32_t>> runs, std::vector<ParityRun> parity = {},
                 bool urgent = false, bool hash = false, bool wakeNow = true, const uint8_t* mem = nullptr);
  // toMaster: unicast to the master (LoopOptions.master); else multicast.
  // stamp: monoNs() goes into payload bytes 0..7 as it is sent
  void sendControl(uint8_t type, uint32_t object, uint32_t index, std::string payload, bool toMaster,
                   bool stamp = false, bool wakeNow = true);
  void wake();  // the loop thread looks at its queues (one eventfd write until it has)
  // A receiving sink (receiver.h): 0 or an errno.
  int openSink(uint32_t object, int fd, uint64_t size);
  int64_t closeSink(uint32_t object);
  int64_t sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs);
  void setRate(uint64_t bps);
  // the kernel's arrival stamp on every datagram (SO_TIMESTAMPNS, on from the
  // start): a catcher turns it off once the probe train is timed
  void stampArrivals(bool on);
  bool hasMaster() const;
  int localPort() const;  // the UDP port the socket is bound to
  // multicast loopback on the socket's sends, for a catcher on this host (a
  // master whose target list names its own host); false if the kernel refused
  bool setLoopback(bool on);

  std::vector<Event> takeEvents();
  const Stats& stats() const;
  uint64_t pageCount(uint64_t size) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrsync
