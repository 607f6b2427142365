#include "pageloop.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fec.h"

namespace mrsync {

namespace {

constexpr int kBatch = 32;       // datagrams per sendmmsg / recvmmsg
constexpr int kRecvRounds = 16;  // recvmmsg calls per wake before looking at sends again
// At most this many datagrams per send call (one GSO send or one sendmmsg);
// more credit goes out as more calls, back to back. Each call's datagrams
// reach the kernel's per-CPU input backlog together (on the simulated LAN,
// once per target sharing the machine) and it is drained when the call
// returns: with 32 per call, 50 targets (1,600 at once) overflowed its 1,000
// and 0.5-5% of the pages had to be re-sent (bench/RESULTS.md, session 7).
constexpr uint32_t kSendBurst = 16;
static_assert(kSendBurst <= uint32_t(kBatch), "a send call's datagrams fit the batch arrays");

}  // namespace

namespace {

}  // namespace

uint64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

namespace {

double nowSec() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void fail(const char* code, const char* syscall, const std::string& what) {
  int e = errno;
  throw LoopError(code, syscall, e, what + ": " + strerror(e));
}

void setInt(int fd, int level, int opt, int v, const char* name, bool required) {
  if (setsockopt(fd, level, opt, &v, sizeof v) != 0 && required) fail("ESOCKOPT", "setsockopt", name);
}

void setBuf(int fd, int forceOpt, int opt, int size) {
  // SO_*BUFFORCE passes rmem_max/wmem_max when we are root; fall back quietly.
  if (setsockopt(fd, SOL_SOCKET, forceOpt, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
}

}  // namespace

PageLoop::PageLoop(const LoopOptions& opts, std::function<void()> notify)
    : opts_(opts), paging_{opts.pageSize}, notify_(std::move(notify)), rateBps_(opts.rateBps), gso_(opts.gso) {
  auth_.reset(new Auth(opts_.key));
  if (opts_.encrypt) aead_.reset(new Aead(opts_.key));
  setupSocket();
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    close(sock_);
    fail("EWAKE", "eventfd", "cannot create wake-up fd");
  }
}

PageLoop::~PageLoop() {
  stop();
  if (sock_ >= 0) close(sock_);
  if (wakefd_ >= 0) close(wakefd_);
}

void PageLoop::setupSocket() {
  const bool v6 = opts_.family == 6;
  sock_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock_ < 0) fail("ESOCKET", "socket", "cannot create UDP socket");
  try {
    unsigned ifindex = 0;
    if (!opts_.ifname.empty()) {
      ifindex = if_nametoindex(opts_.ifname.c_str());
      if (!ifindex) fail("EIFACE", "if_nametoindex", "no such interface '" + opts_.ifname + "'");
    }
    setInt(sock_, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", true);
    setBuf(sock_, SO_RCVBUFFORCE, SO_RCVBUF, opts_.rcvbuf);
    setBuf(sock_, SO_SNDBUFFORCE, SO_SNDBUF, opts_.sndbuf);
    if (v6) {
      setInt(sock_, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", false);
      sockaddr_in6 b{};
      b.sin6_family = AF_INET6;
      b.sin6_port = htons(uint16_t(opts_.bindPort));
      b.sin6_addr = in6addr_any;
      if (bind(sock_, reinterpret_cast<sockaddr*>(&b), sizeof b) != 0)
        fail("EBIND", "bind", "cannot bind UDP port " + std::to_string(opts_.bindPort));
      sockaddr_in6 g{};
      g.sin6_family = AF_INET6;
      g.sin6_port = htons(uint16_t(opts_.port));
      g.sin6_scope_id = ifindex;
      if (inet_pton(AF_INET6, opts_.group.c_str(), &g.sin6_addr) != 1) {
        errno = EINVAL;
        fail("EGROUP", "inet_pton", "bad IPv6 group '" + opts_.group + "'");
      }
      memcpy(&groupAddr_, &g, sizeof g);
      groupLen_ = sizeof g;
      if (opts_.join) {
        ipv6_mreq m{};
        m.ipv6mr_multiaddr = g.sin6_addr;
        m.ipv6mr_interface = ifindex;
        if (setsockopt(sock_, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m) != 0)
          fail("EJOIN", "setsockopt", "cannot join group " + opts_.group);
#ifdef IPV6_MULTICAST_ALL
        setInt(sock_, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL", false);
#endif
      }
      if (!opts_.master.empty()) {
        sockaddr_in6 m6{};
        m6.sin6_family = AF_INET6;
        m6.sin6_port = htons(uint16_t(opts_.masterPort));
        if (inet_pton(AF_INET6, opts_.master.c_str(), &m6.sin6_addr) != 1) {
          errno = EINVAL;
          fail("EMASTER", "inet_pton", "bad master address '" + opts_.master + "'");
        }
        memcpy(&masterAddr_, &m6, sizeof m6);
        masterLen_ = sizeof m6;
        masterScope_ = IN6_IS_ADDR_LINKLOCAL(&m6.sin6_addr);
        hasMaster_.store(true);
      }
      if (ifindex) setInt(sock_, IPPROTO_IPV6, IPV6_MULTICAST_IF, int(ifindex), "IPV6_MULTICAST_IF", true);
      setInt(sock_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, opts_.ttl, "IPV6_MULTICAST_HOPS", true);
      setInt(sock_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, opts_.loopback ? 1 : 0, "IPV6_MULTICAST_LOOP", true);
    } else {
      sockaddr_in b{};
      b.sin_family = AF_INET;
      b.sin_port = htons(uint16_t(opts_.bindPort));
      b.sin_addr.s_addr = htonl(INADDR_ANY);
      if (bind(sock_, reinterpret_cast<sockaddr*>(&b), sizeof b) != 0)
        fail("EBIND", "bind", "cannot bind UDP port " + std::to_string(opts_.bindPort));
      sockaddr_in g{};
      g.sin_family = AF_INET;
      g.sin_port = htons(uint16_t(opts_.port));
      if (inet_pton(AF_INET, opts_.group.c_str(), &g.sin_addr) != 1) {
        errno = EINVAL;
        fail("EGROUP", "inet_pton", "bad IPv4 group '" + opts_.group + "'");
      }
      memcpy(&groupAddr_, &g, sizeof g);
      groupLen_ = sizeof g;
      if (!opts_.master.empty()) {
        sockaddr_in m4{};
        m4.sin_family = AF_INET;
        m4.sin_port = htons(uint16_t(opts_.masterPort));
        if (inet_pton(AF_INET, opts_.master.c_str(), &m4.sin_addr) != 1) {
          errno = EINVAL;
          fail("EMASTER", "inet_pton", "bad master address '" + opts_.master + "'");
        }
        memcpy(&masterAddr_, &m4, sizeof m4);
        masterLen_ = sizeof m4;
        hasMaster_.store(true);
      }
      ip_mreqn m{};
      m.imr_multiaddr = g.sin_addr;
      m.imr_address.s_addr = htonl(INADDR_ANY);
      m.imr_ifindex = int(ifindex);
      if (opts_.join) {
        if (setsockopt(sock_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0)
          fail("EJOIN", "setsockopt", "cannot join group " + opts_.group);
        // only this group's traffic, not every group joined on the host
        setInt(sock_, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL", false);
      }
      if (ifindex && setsockopt(sock_, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0)
        fail("ESOCKOPT", "setsockopt", "IP_MULTICAST_IF");
      setInt(sock_, IPPROTO_IP, IP_MULTICAST_TTL, opts_.ttl, "IP_MULTICAST_TTL", true);
      setInt(sock_, IPPROTO_IP, IP_MULTICAST_LOOP, opts_.loopback ? 1 : 0, "IP_MULTICAST_LOOP", true);
    }
  } catch (...) {
    close(sock_);
    sock_ = -1;
    throw;
  }
}

int PageLoop::localPort() const {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  if (getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &n) != 0) return -1;
  return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                 : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

std::string multicastSource(int family, const std::string& group, int port, const std::string& ifname) {
  const bool v6 = family == 6;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("ESOCKET", "socket", "cannot create UDP socket");
  unsigned ifindex = ifname.empty() ? 0 : if_nametoindex(ifname.c_str());
  char text[INET6_ADDRSTRLEN] = "";
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  int rc;
  if (v6) {
    if (ifindex) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
    sockaddr_in6 g{};
    g.sin6_family = AF_INET6;
    g.sin6_port = htons(uint16_t(port));
    g.sin6_scope_id = ifindex;
    rc = inet_pton(AF_INET6, group.c_str(), &g.sin6_addr) == 1 ? connect(fd, reinterpret_cast<sockaddr*>(&g), sizeof g) : -1;
  } else {
    if (ifindex) {
      ip_mreqn m{};
      m.imr_ifindex = int(ifindex);
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    }
    sockaddr_in g{};
    g.sin_family = AF_INET;
    g.sin_port = htons(uint16_t(port));
    rc = inet_pton(AF_INET, group.c_str(), &g.sin_addr) == 1 ? connect(fd, reinterpret_cast<sockaddr*>(&g), sizeof g) : -1;
  }
  if (rc == 0) rc = getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  if (rc == 0) {
    const void* addr = v6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&a)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&a)->sin_addr);
    inet_ntop(v6 ? AF_INET6 : AF_INET, addr, text, sizeof text);
  }
  int err = errno;
  close(fd);
  errno = err;
  if (rc != 0) fail("EROUTE", "connect", "no route to multicast group " + group);
  return text;
}

void PageLoop::start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void PageLoop::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  wake();
  if (thread_.joinable()) thread_.join();
}

void PageLoop::wake() {
  if (woken_.exchange(true)) return;  // the loop has not read the last one yet: it will see the queues
  uint64_t one = 1;
  ssize_t r = write(wakefd_, &one, sizeof one);
  (void)r;
}

void PageLoop::sendPages(uint32_t job, uint32_t object, int fd, uint64_t size,
                         std::vector<std::pair<uint32_t, uint32_t>> runs, std::vector<ParityRun> parity, bool urgent,
                         bool hash, bool wakeNow) {
  {
    std::lock_guard<std::mutex> g(cmdMu_);
    Job j{job, object, fd, size, std::move(runs)};
    j.parity = std::move(parity);
    j.urgent = urgent;
    j.hash = hash;
    jobQueue_.push_back(std::move(j));
  }
  if (wakeNow) wake();
}

void PageLoop::sendControl(uint8_t type, uint32_t object, uint32_t index, std::string payload, bool toMaster,
                           bool stamp, bool wakeNow) {
  if (stamp && payload.size() < 8) payload.resize(8);
  {
    std::lock_guard<std::mutex> g(cmdMu_);
    ctlQueue_.push_back(Ctl{type, object, index, std::move(payload), toMaster, stamp});
  }
  if (wakeNow) wake();
}

bool PageLoop::sendCtl(const Ctl& c) {
  uint8_t hdr[kHeaderLen];
  Header h;
  h.type = c.type;
  h.sender = opts_.sender;
  h.object = c.object;
  h.index = c.index;
  encodeHeader(h, hdr);
  std::string pkt(reinterpret_cast<char*>(hdr), kHeaderLen);
  if (aead_) pkt.append(kCtrLen, '\0');
  const size_t at = pkt.size();
  pkt += c.payload;
  pkt.append(kTagLen, '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(&pkt[0]);
  if (c.stamp) {
    uint64_t t = monoNs();
    for (int b = 0; b < 8; b++) p[at + b] = uint8_t((t >> (56 - 8 * b)) & 0xff);
  }
  // sealed in the packet's own bytes: a packet turned back (EAGAIN) is sealed
  // afresh from the plaintext when it is sent again
  if (aead_) aead_->seal(hdr, ctr_++, p + kHeaderLen, p + at, c.payload.size(), p + at + c.payload.size());
  else auth_->tag(p, at + c.payload.size(), nullptr, 0, p + at + c.payload.size());
  const sockaddr* to = reinterpret_cast<const sockaddr*>(&groupAddr_);
  socklen_t tolen = groupLen_;
  if (c.toMaster) {
    if (!hasMaster_.load() || masterScope_) { stats_.sendErrors++; return true; }
    to = reinterpret_cast<const sockaddr*>(&masterAddr_);
    tolen = masterLen_;
  }
  ssize_t r = sendto(sock_, pkt.data(), pkt.size(), MSG_DONTWAIT, to, tolen);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (r < 0) stats_.sendErrors++;
  else { stats_.pktsSent++; stats_.ctlSent++; stats_.bytesSent += pkt.size(); }
  return true;
}

void PageLoop::setRate(uint64_t bps) {
  rateBps_.store(bps);
  wake();
}


int PageLoop::openSink(uint32_t object, int fd, uint64_t size) { return recv_.openSink(object, fd, size); }
int64_t PageLoop::closeSink(uint32_t object) { return recv_.closeSink(object); }
int64_t PageLoop::sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs) {
  return recv_.sinkMissing(object, maxRuns, runs);
}

std::vector<Event> PageLoop::takeEvents() {
  std::lock_guard<std::mutex> g(evMu_);
  std::vector<Event> out;
  out.swap(events_);
  return out;
}

void PageLoop::push(std::vector<Event>&& evs) {
  if (evs.empty()) return;
  {
    std::lock_guard<std::mutex> g(evMu_);
    if (events_.empty()) events_.swap(evs);
    else for (auto& e : evs) events_.push_back(std::move(e));
  }
  evs.clear();
  notify_();
}

void PageLoop::run() {
  // The sender's pacing is the link's clock: a late wake-up is lost line time
  // (beyond the bucket's few ms of credit). Where allowed (root), this thread
  // runs SCHED_FIFO at the lowest real-time priority: it sleeps between
  // bursts of a few datagrams, and a busy machine (the targets of the
  // benchmark share its two cores) no longer makes it late (the kernel keeps
  // 5% of every second for others whatever it does). Failing that it
  // asks for a better share (nice -10); refused without privilege, and then
  // it runs at the normal share.
  if (opts_.sender == 0 && opts_.boost) {
    sched_param sp{};
    sp.sched_priority = 1;
    // (not on one CPU: at line rate this thread may be busy most of the time)
    if (std::thread::hardware_concurrency() < 2 || pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) {
      int r = setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), -10);
      (void)r;
    }
  }
  std::deque<Job> active;
  std::deque<Ctl> ctls;
  double tokens = 0, last = nowSec();
  bool wantOut = false;
  while (!stopping_.load()) {
    {
      std::lock_guard<std::mutex> g(cmdMu_);
      while (!jobQueue_.empty()) {
        // an urgent job (a repair while a big file's first pass goes on) goes
        // ahead of the rest; the job it interrupts resumes where it was
        if (jobQueue_.front().urgent) active.push_front(std::move(jobQueue_.front()));
        else active.push_back(std::move(jobQueue_.front()));
        jobQueue_.pop_front();
      }
      while (!ctlQueue_.empty()) { ctls.push_back(std::move(ctlQueue_.front())); ctlQueue_.pop_front(); }
    }
    std::vector<Event> evs;
    // Control messages go first and are not paced: they are few and small,
    // and a delayed EOF or ack costs a round trip for the whole group. They
    // are sent here, not on the JavaScript thread that queues them: queued
    // in one turn, they go out together and arrive together (sent one by
    // one as they were made, at 50 targets, every datagram woke its
    // receiver alone, and a 2,000-file push took twice as long).
    while (!ctls.empty()) {
      if (!sendCtl(ctls.front())) { wantOut = true; break; }
      ctls.pop_front();
    }

    const double rate = double(rateBps_.load()) / 8.0;  // bytes per second
    const double pktWire = double(opts_.pageSize + kOverhead + opts_.wireOverhead);
    // a late wake-up (a busy machine) keeps up to 4 ms of credit, or 32
    // datagrams on a slow link (19 ms at 20 Mbit/s), not more: bursts stay
    // short. At 16 datagrams, 50 targets on 2 cores lost 1.7 s of line time
    // in 70 s to wake-ups later than the credit (bench/RESULTS.md).
    const double cap = std::max(rate * 0.004, pktWire * 32);
    double now = nowSec();
    const double credit = tokens + (now - last) * rate;
    if (credit > cap && opts_.sender == 0 && rate > 0) {
      // line time gone unused: with pages to send, this thread woke too late
      // (a busy CPU) or the socket was full; with none, nothing was queued
      uint64_t lost = uint64_t((credit - cap) / rate * 1e9);
      if (active.empty()) stats_.idleNs += lost;
      else stats_.lateNs += lost;
    }
    tokens = std::min(cap, credit);
    last = now;

    if (!active.empty() && !wantOut && tokens >= pktWire) {
      Job& j = active.front();
      uint32_t room = std::min<uint32_t>(kSendBurst, uint32_t(tokens / pktWire));
      int err = 0;
      if (j.run < j.runs.size()) err = sendRunChunk(j, room, &tokens, &wantOut);
      else if (j.par < j.parity.size()) err = sendParityChunk(j, room, &tokens, &wantOut);
      if (err || (j.run >= j.runs.size() && j.par >= j.parity.size())) {
        Event e{err ? EventKind::JobError : EventKind::JobSent};
        e.index = j.id;
        e.object = j.object;
        e.err = err;
        if (j.hash) {
          // the first pass's hash, if this job ended it (all pages hashed in order)
          const uint64_t pages = pageCount(j.size);
          auto it = sendHash_.find(j.object);
          const bool last = pages == 0 || (!j.runs.empty() && uint64_t(j.runs.back().first) + j.runs.back().second == pages);
          if (!err && pages == 0) e.payload = Sha256().final();
          else if (!err && last && it != sendHash_.end() && it->second->next == pages) e.payload = it->second->md.final();
          if (it != sendHash_.end() && (err || last)) sendHash_.erase(it);
        }
        evs.push_back(std::move(e));
        if (blockJob_ == int64_t(j.id)) blockJob_ = -1;
        active.pop_front();
      }
    }
    if (recv_.catchingUp()) recv_.catchUp(Receiver::kCatchUpBytes, &evs);
    push(std::move(evs));

    // How long may we sleep? Until the bucket holds what the link carries in
    // about two milliseconds (4 to 16 datagrams): one wake-up and one send
    // per batch rather than per datagram, bursts of a few ms at most.
    timespec ts{0, 0};
    timespec* tsp = nullptr;
    if (!active.empty() && !wantOut) {
      const double want = pktWire * std::min(16.0, std::max(4.0, std::floor(rate * 0.002 / pktWire)));
      double need = tokens >= want ? 0 : (want - tokens) / rate;
      ts.tv_sec = time_t(need);
      ts.tv_nsec = long((need - double(ts.tv_sec)) * 1e9);
      tsp = &ts;
    }
    if (recv_.catchingUp()) {  // hashes to finish: look at the socket and come back
      ts = {0, 0};
      tsp = &ts;
    }
    pollfd fds[2] = {{sock_, short(POLLIN | (wantOut ? POLLOUT : 0)), 0}, {wakefd_, POLLIN, 0}};
    int pr = ppoll(fds, 2, tsp, nullptr);
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      ssize_t r = read(wakefd_, &v, sizeof v);
      (void)r;
      woken_.store(false);  // before the queues are looked at (top of the loop)
    }
    if (fds[0].revents & POLLOUT) wantOut = false;
    if (fds[0].revents & POLLIN) {
      int n = receive();
      // A receiver woken per datagram spends its time waking. When we only
      // receive and drained the queue, nap so the kernel batches the next
      // datagrams for one recvmmsg and one pwritev (at most napUs of delay);
      // a control message to send (the owner's wake-up) ends the nap at once.
      if (opts_.napUs > 0 && n > 0 && n < kBatch && active.empty() && ctls.empty() && !recv_.catchingUp()) {
        if (long us = napTime(); us > 0) {
          timespec nap{0, us * 1000};
          pollfd wf{wakefd_, POLLIN, 0};
          ppoll(&wf, 1, &nap, nullptr);
        }
      }
    }
  }
}

// The receive nap: napUs, or longer when datagrams come slowly (a slow link):
// as long as about kNapBatch of them take to arrive, up to napMaxUs, so a
// slow stream costs a wake-up per batch too and not one per few datagrams.
// Outgoing control messages end a nap at once; incoming ones wait for it, so
// below kNapMinPps (a handshake, a trickle: a wake-up each costs little) there
// is no nap: the EOF after a small file's pages is read as it comes, not up
// to napMaxUs later (each such wait was a file's, or a one-file push's, delay).
long PageLoop::napTime() {
  constexpr double kNapBatch = 24, kNapMinPps = 1000;
  if (opts_.napMaxUs <= opts_.napUs) return opts_.napUs;
  const double now = nowSec();
  if (now - rateT0_ >= 0.1) {
    const double pps = double(rxTotal_ - rateN0_) / (now - rateT0_);
    rxPps_ = rateT0_ == 0 ? pps : 0.7 * rxPps_ + 0.3 * pps;
    rateT0_ = now;
    rateN0_ = rxTotal_;
  }
  if (rxPps_ < kNapMinPps) return 0;
  return std::clamp(long(kNapBatch / rxPps_ * 1e6), opts_.napUs, opts_.napMaxUs);
}

int PageLoop::sendPagesBatch(uint32_t object, uint8_t type, const uint32_t* index, const uint32_t* len, uint8_t* buf,
                             uint32_t n, double* tokens, bool* wantOut) {
  uint8_t hdrs[kBatch][kHeaderLen], tags[kBatch][kTagLen], ctrs[kBatch][kCtrLen];
  iovec iov[kBatch][4];
  mmsghdr msgs[kBatch];
  memset(msgs, 0, sizeof msgs);
  size_t pos = 0;
  for (uint32_t i = 0; i < n; i++) {
    Header h;
    h.type = type;
    h.sender = opts_.sender;
    h.object = object;
    h.index = index[i];
    h.seq = uint16_t(dataSeq_ + i);
    encodeHeader(h, hdrs[i]);
    int k = 0;
    iov[i][k++] = {hdrs[i], kHeaderLen};
    if (aead_) {
      // in place: a page not sent this time is read (and sealed) again
      aead_->seal(hdrs[i], ctr_++, ctrs[i], buf + pos, len[i], tags[i]);
      iov[i][k++] = {ctrs[i], kCtrLen};
    } else {
      auth_->tag(hdrs[i], kHeaderLen, buf + pos, len[i], tags[i]);
    }
    iov[i][k++] = {buf + pos, len[i]};
    iov[i][k++] = {tags[i], kTagLen};
    msgs[i].msg_hdr.msg_iov = iov[i];
    msgs[i].msg_hdr.msg_iovlen = size_t(k);
    msgs[i].msg_hdr.msg_name = &groupAddr_;
    msgs[i].msg_hdr.msg_namelen = groupLen_;
    pos += len[i];
  }
  int sent = -2;
  if (gso_ && n > 1) {
    // UDP GSO: the n datagrams back to back in one sendmsg, cut by the kernel
    // (or the NIC) every seg bytes; one pass through the stack, the bridge
    // and the qdiscs for the whole batch. All but the last must be seg long.
    const size_t seg = kHeaderLen + (aead_ ? kCtrLen : 0) + len[0] + kTagLen;
    bool same = len[n - 1] <= len[0];
    for (uint32_t i = 1; i + 1 < n && same; i++) same = len[i] == len[0];
    if (same) {
      iovec flat[kBatch * 4];
      size_t k = 0;
      for (uint32_t i = 0; i < n; i++)
        for (size_t c = 0; c < msgs[i].msg_hdr.msg_iovlen; c++) flat[k++] = iov[i][c];
      alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(uint16_t))] = {};
      msghdr mh{};
      mh.msg_name = &groupAddr_;
      mh.msg_namelen = groupLen_;
      mh.msg_iov = flat;
      mh.msg_iovlen = k;
      mh.msg_control = ctl;
      mh.msg_controllen = sizeof ctl;
      cmsghdr* cm = CMSG_FIRSTHDR(&mh);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gs = uint16_t(seg);
      memcpy(CMSG_DATA(cm), &gs, sizeof gs);
      ssize_t r = sendmsg(sock_, &mh, MSG_DONTWAIT);
      if (r >= 0) {
        sent = int(n);
        for (uint32_t i = 0; i < n; i++) msgs[i].msg_len = unsigned(seg - len[0] + len[i]);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        sent = -1;
        errno = EAGAIN;
      } else {
        gso_ = false;  // not here (old kernel, device): datagram by datagram from now on
      }
    }
  }
  if (sent == -2) sent = sendmmsg(sock_, msgs, n, MSG_DONTWAIT);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) *wantOut = true;
    else stats_.sendErrors++;
    sent = 0;
  }
  for (int i = 0; i < sent; i++) {
    *tokens -= double(msgs[i].msg_len + opts_.wireOverhead);
    stats_.bytesSent += msgs[i].msg_len;
  }
  // only what went is numbered: an unsent tail is numbered again next time,
  // so the targets do not count it as lost
  dataSeq_ = uint16_t(dataSeq_ + sent);
  stats_.pktsSent += sent;
  stats_.dataSent += sent;
  if (type == kTypeParity) stats_.paritySent += sent;
  if (uint32_t(sent) < n) *wantOut = true;
  return sent;
}

int PageLoop::sendRunChunk(Job& j, uint32_t room, double* tokens, bool* wantOut) {
  auto [start, len] = j.runs[j.run];
  uint32_t n = std::min<uint32_t>(room, len - j.done);
  uint32_t first = start + j.done;
  uint32_t idx[kBatch], lens[kBatch];
  uint64_t want = 0;
  for (uint32_t i = 0; i < n; i++) {
    idx[i] = first + i;
    lens[i] = paging_.payloadLen(j.size, first + i);
    want += lens[i];
  }
  static thread_local std::vector<uint8_t> buf;
  buf.resize(size_t(kBatch) * opts_.pageSize);
  ssize_t got = want ? pread(j.fd, buf.data(), want, off_t(uint64_t(first) * opts_.pageSize)) : 0;
  if (got < 0) return errno;
  if (uint64_t(got) != want) return ENODATA;  // the file shrank under us
  if (j.hash) feedHash(j, first, n, buf.data(), lens);
  j.done += sendPagesBatch(j.object, kTypeData, idx, lens, buf.data(), n, tokens, wantOut);
  if (j.done >= len) { j.run++; j.done = 0; }
  return 0;
}

// A first pass's pages as read, before they are sent (sealing encrypts them in
// place); a page read again after a partial send is not hashed twice.
void PageLoop::feedHash(const Job& j, uint32_t first, uint32_t n, const uint8_t* buf, const uint32_t* lens) {
  auto& hs = sendHash_[j.object];
  if (!hs || first == 0) hs.reset(new SendHash);  // a new first pass (or nothing of this one went yet)
  size_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (first + i == hs->next) {
      hs->md.update(buf + off, lens[i]);
      hs->next++;
    }
    off += lens[i];
  }
}

int PageLoop::sendParityChunk(Job& j, uint32_t room, double* tokens, bool* wantOut) {
  const ParityRun& pr = j.parity[j.par];
  const uint32_t kb = paging_.blockPages(j.size, pr.block);
  if (kb == 0 || pr.block >= fec::kMaxBlocks || uint64_t(pr.first) + pr.count > fec::kMaxParity) return EINVAL;
  const size_t P = opts_.pageSize;
  if (blockJob_ != int64_t(j.id) || blockNo_ != pr.block) {
    if (int err = paging_.readBlock(j.fd, j.size, pr.block, kb, &blockBuf_)) return err;
    blockJob_ = j.id;
    blockNo_ = pr.block;
  }
  const uint8_t* data[fec::kBlock];
  for (uint32_t i = 0; i < kb; i++) data[i] = blockBuf_.data() + size_t(i) * P;
  const uint32_t plen = paging_.parityLen(j.size, pr.block);
  uint32_t n = std::min<uint32_t>(room, pr.count - j.parDone);
  static thread_local std::vector<uint8_t> buf;
  buf.resize(size_t(kBatch) * P);
  uint32_t idx[kBatch], lens[kBatch];
  for (uint32_t i = 0; i < n; i++) {
    uint32_t par = pr.first + j.parDone + i;
    fec::encode(data, kb, par, buf.data() + size_t(i) * plen, plen);
    idx[i] = pr.block << 8 | par;
    lens[i] = plen;
  }
  j.parDone += sendPagesBatch(j.object, kTypeParity, idx, lens, buf.data(), n, tokens, wantOut);
  if (j.parDone >= pr.count) { j.par++; j.parDone = 0; }
  return 0;
}

int PageLoop::receive() {
  int last = 0;
  const size_t bufSize = std::max<size_t>(opts_.pageSize + kOverhead + kCtrLen, 2048) + 1;
  static thread_local std::vector<uint8_t> pool;
  pool.resize(bufSize * kBatch);
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  sockaddr_storage from[kBatch];
  std::vector<Event> evs;
  for (int round = 0; round < kRecvRounds; round++) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < kBatch; i++) {
      iov[i] = {pool.data() + i * bufSize, bufSize};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(sock_, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    rxTotal_ += uint64_t(n);
    stats_.recvBatches++;
    const double rxNs = double(monoNs());
    // first the checks (the tag is the costly one), then the pages
    Header hs[kBatch];
    bool ok[kBatch];
    for (int i = 0; i < n; i++) {
      ok[i] = false;
      stats_.pktsRecv++;
      uint8_t* p = pool.data() + i * bufSize;
      size_t len = msgs[i].msg_len;
      Header& h = hs[i];
      if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || !decodeHeader(p, len, &h)) { stats_.badFormat++; continue; }
      // a cheap check before the tag: our own echo (another session's
      // datagrams fail the tag: its key is not ours)
      if (h.sender == opts_.sender) { stats_.ownEcho++; continue; }
      if (aead_) {
        if (h.length < kCtrLen || !aead_->open(p, len)) { stats_.badAuth++; continue; }
        h.length = uint16_t(h.length - kCtrLen);  // from here on: the plaintext
      } else if (!auth_->verify(p, len)) {
        stats_.badAuth++;
        continue;
      }
      ok[i] = true;
    }
    for (int i = 0; i < n; i++) {
      if (!ok[i]) continue;
      const Header& h = hs[i];
      const uint8_t* payload = pool.data() + i * bufSize + kHeaderLen + (aead_ ? kCtrLen : 0);
      if (masterScope_ && h.sender == 0 && from[i].ss_family == AF_INET6) {
        // a link-local master address names no interface: ours is the one its datagrams arrive on
        auto* f6 = reinterpret_cast<sockaddr_in6*>(&from[i]);
        auto* m6 = reinterpret_cast<sockaddr_in6*>(&masterAddr_);
        if (memcmp(&f6->sin6_addr, &m6->sin6_addr, sizeof m6->sin6_addr) == 0) {
          m6->sin6_scope_id = f6->sin6_scope_id;
          masterScope_ = false;
        }
      }
      if (isPageType(h.type)) {
        // the master numbers its data datagrams: how many should have come (loss = 1 - recv/expected)
        if (!seqSeen_) { seqSeen_ = true; lastSeq_ = h.seq; stats_.dataExpected++; }
        else {
          uint16_t d = uint16_t(h.seq - lastSeq_);
          if (d != 0 && d < 32768) { stats_.dataExpected += d; lastSeq_ = h.seq; }
        }
        recv_.page(h, payload, &evs);
        continue;
      }
      stats_.ctlRecv++;
      if (opts_.echoType && h.type == opts_.echoType && !aead_) {
        // rtt: answer here, not through JS, so the round trip measures the
        // network and the kernel, not two event loops. The reply carries the
        // probe's send stamp back.
        uint8_t rep[kHeaderLen + 8 + kTagLen];
        Header r;
        r.type = uint8_t(opts_.echoType + 1);
        r.sender = opts_.sender;
        r.object = h.object;
        r.index = h.index;
        r.length = uint16_t(std::min<size_t>(8, h.length));
        encodeHeader(r, rep);
        memcpy(rep + kHeaderLen, payload, r.length);
        auth_->tag(rep, kHeaderLen + r.length, nullptr, 0, rep + kHeaderLen + r.length);
        if (sendto(sock_, rep, kHeaderLen + r.length + kTagLen, MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&from[i]), msgs[i].msg_hdr.msg_namelen) > 0) {
          stats_.pktsSent++;
          stats_.ctlSent++;
        } else {
          stats_.sendErrors++;
        }
      }
      Event e{EventKind::Control};
      e.rxNs = rxNs;
      e.type = h.type;
      e.sender = h.sender;
      e.object = h.object;
      e.index = h.index;
      e.payload.assign(reinterpret_cast<const char*>(payload), h.length);
      evs.push_back(std::move(e));
    }
    recv_.flush(&evs);  // the pool is reused by the next recvmmsg
    last = n;
    if (n < kBatch) break;
  }
  push(std::move(evs));
  return last;
}

}  // namespace mrsync
