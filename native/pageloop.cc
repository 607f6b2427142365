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
    : opts_(opts), notify_(std::move(notify)), rateBps_(opts.rateBps), gso_(opts.gso) {
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
    if (!hasMaster_.load()) { stats_.sendErrors++; return true; }
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

uint32_t PageLoop::payloadLen(uint64_t size, uint32_t page) const {
  uint64_t off = uint64_t(page) * opts_.pageSize;
  if (off >= size) return 0;
  return uint32_t(std::min<uint64_t>(opts_.pageSize, size - off));
}

uint32_t PageLoop::blockPages(uint64_t size, uint32_t block) const {
  uint64_t pages = pageCount(size);
  uint64_t first = uint64_t(block) * fec::kBlock;
  return first >= pages ? 0 : uint32_t(std::min<uint64_t>(fec::kBlock, pages - first));
}

uint32_t PageLoop::parityLen(uint64_t size, uint32_t block) const {
  return payloadLen(size, block * fec::kBlock);  // the block's first page is its longest
}

PageLoop::Sink::~Sink() {
  if (fd >= 0) close(fd);
}

int PageLoop::openSink(uint32_t object, int fd, uint64_t size) {
  // A sink is a file already of its size (ftruncate): zero pages are never
  // written, and a block is read back whole to decode parity, lost tail
  // pages included; a shorter file would read short there.
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode) || uint64_t(st.st_size) != size) return EINVAL;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return errno;
  uint32_t pages = uint32_t(pageCount(size));
  std::shared_ptr<Sink> s(new Sink{own, size, pages, Bitmap(pages), pages});
  std::lock_guard<std::mutex> g(sinkMu_);
  sinks_[object] = std::move(s);
  return 0;
}

std::shared_ptr<PageLoop::Sink> PageLoop::findSink(uint32_t object) {
  std::lock_guard<std::mutex> g(sinkMu_);
  auto it = sinks_.find(object);
  return it == sinks_.end() ? nullptr : it->second;
}

int64_t PageLoop::closeSink(uint32_t object) {
  std::shared_ptr<Sink> s;
  {
    std::lock_guard<std::mutex> g(sinkMu_);
    auto it = sinks_.find(object);
    if (it == sinks_.end()) return -1;
    s = std::move(it->second);
    sinks_.erase(it);
  }
  std::lock_guard<std::mutex> g(s->mu);
  return s->missing;
}

int64_t PageLoop::sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs) {
  std::shared_ptr<Sink> s = findSink(object);
  if (!s) return -1;
  std::lock_guard<std::mutex> g(s->mu);
  if (runs && s->missing) *runs = s->have.clearRuns(maxRuns);
  return s->missing;
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
    if (!catchUp_.empty()) catchUp(kCatchUpBytes, &evs);
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
    if (!catchUp_.empty()) {  // hashes to finish: look at the socket and come back
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
      if (opts_.napUs > 0 && n > 0 && n < kBatch && active.empty() && ctls.empty() && catchUp_.empty()) {
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

// The kb data pages of a block of fd, each zero-padded to a whole page (what
// parity is computed over): 0, an errno, or ENODATA if the file is shorter.
int PageLoop::readBlock(int fd, uint64_t size, uint32_t block, uint32_t kb, std::vector<uint8_t>* buf) const {
  const size_t P = opts_.pageSize;
  const uint64_t off = uint64_t(block) * fec::kBlock * P;
  const uint64_t want = std::min<uint64_t>(uint64_t(kb) * P, size - off);
  buf->assign(size_t(kb) * P, 0);
  ssize_t got = pread(fd, buf->data(), want, off_t(off));
  if (got < 0) return errno;
  return uint64_t(got) == want ? 0 : ENODATA;
}

int PageLoop::sendRunChunk(Job& j, uint32_t room, double* tokens, bool* wantOut) {
  auto [start, len] = j.runs[j.run];
  uint32_t n = std::min<uint32_t>(room, len - j.done);
  uint32_t first = start + j.done;
  uint32_t idx[kBatch], lens[kBatch];
  uint64_t want = 0;
  for (uint32_t i = 0; i < n; i++) {
    idx[i] = first + i;
    lens[i] = payloadLen(j.size, first + i);
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
  const uint32_t kb = blockPages(j.size, pr.block);
  if (kb == 0 || pr.block >= fec::kMaxBlocks || uint64_t(pr.first) + pr.count > fec::kMaxParity) return EINVAL;
  const size_t P = opts_.pageSize;
  if (blockJob_ != int64_t(j.id) || blockNo_ != pr.block) {
    if (int err = readBlock(j.fd, j.size, pr.block, kb, &blockBuf_)) return err;
    blockJob_ = j.id;
    blockNo_ = pr.block;
  }
  const uint8_t* data[fec::kBlock];
  for (uint32_t i = 0; i < kb; i++) data[i] = blockBuf_.data() + size_t(i) * P;
  const uint32_t plen = parityLen(j.size, pr.block);
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
      if (h.sender == 0 && !hasMaster_.load()) {
        memcpy(&masterAddr_, &from[i], msgs[i].msg_hdr.msg_namelen);
        masterLen_ = msgs[i].msg_hdr.msg_namelen;
        hasMaster_.store(true);
      }
      if (isPageType(h.type)) {
        // the master numbers its data datagrams: how many should have come (loss = 1 - recv/expected)
        if (!seqSeen_) { seqSeen_ = true; lastSeq_ = h.seq; stats_.dataExpected++; }
        else {
          uint16_t d = uint16_t(h.seq - lastSeq_);
          if (d != 0 && d < 32768) { stats_.dataExpected += d; lastSeq_ = h.seq; }
        }
        if (h.type == kTypeData) handleData(h, payload, &evs);
        else handleParity(h, payload, &evs);
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
    flushWrites(&evs);  // the pool is reused by the next recvmmsg
    last = n;
    if (n < kBatch) break;
  }
  push(std::move(evs));
  return last;
}

// Consecutive pages of one sink are gathered and written with one pwritev
// (flushWrites); the bitmap is only updated for pages that reached the file.
void PageLoop::handleData(const Header& h, const uint8_t* payload, std::vector<Event>* out) {
  stats_.dataRecv++;
  std::shared_ptr<Sink> sp = findSink(h.object);
  if (!sp) { stats_.dataStray++; return; }
  Sink& s = *sp;
  if (h.index >= s.pages || h.length != payloadLen(s.size, h.index)) { stats_.badFormat++; return; }
  if (s.failed || s.have.test(h.index)) { stats_.dataDup++; return; }
  // A page already queued in this batch (duplicate datagram) is a dup too.
  if (pend_.sink == sp && h.index >= pend_.first && h.index < pend_.first + pend_.count) { stats_.dataDup++; return; }
  if (isZero(payload, h.length)) {  // the sink reads as zeros already: no write
    markReceived(h.object, s, h.index, payload, out);
    return;
  }
  if (pend_.sink != sp || h.index != pend_.first + pend_.count || pend_.count == kMaxIov) flushWrites(out);
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
void PageLoop::handleParity(const Header& h, const uint8_t* payload, std::vector<Event>* out) {
  stats_.dataRecv++;
  stats_.parityRecv++;
  std::shared_ptr<Sink> sp = findSink(h.object);
  if (!sp) { stats_.dataStray++; return; }
  Sink& s = *sp;
  const uint32_t block = h.index >> 8, par = h.index & 0xff;
  const uint32_t kb = blockPages(s.size, block);
  if (kb == 0 || par >= fec::kMaxParity || h.length != parityLen(s.size, block)) { stats_.badFormat++; return; }
  if (s.failed) { stats_.dataDup++; return; }
  if (pend_.count) flushWrites(out);  // the block as the file has it
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

  const size_t P = opts_.pageSize, plen = h.length;
  std::vector<uint8_t> blk;
  if (int err = readBlock(s.fd, s.size, block, kb, &blk)) {
    sinkFailed(h.object, s, err == ENODATA ? EIO : err, out);  // short: our own file lost pages
    return;
  }
  uint8_t* data[fec::kBlock];
  for (uint32_t i = 0; i < kb; i++) data[i] = blk.data() + size_t(i) * P;
  std::vector<std::pair<uint32_t, const uint8_t*>> use;
  for (size_t r = 0; r < missing.size(); r++) use.emplace_back(kept[r].first, kept[r].second.data());
  if (!fec::recover(data, kb, missing, use, plen)) { stats_.badFormat++; s.parity.erase(block); return; }
  for (uint32_t i : missing) {
    uint32_t page = first + i, len = payloadLen(s.size, page);
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

void PageLoop::sinkFailed(uint32_t object, Sink& s, int err, std::vector<Event>* out) {
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
void PageLoop::markReceived(uint32_t object, Sink& s, uint32_t index, const uint8_t* data, std::vector<Event>* out) {
  {
    std::lock_guard<std::mutex> g(s.mu);
    if (!s.have.set(index)) return;
    s.missing--;
  }
  stats_.dataNew++;
  if (data && index == s.hashed) {
    s.md.update(data, payloadLen(s.size, index));
    if (++s.hashed == s.pages) sinkComplete(object, s, out);
  }
  if (s.hashed < s.pages && s.have.test(s.hashed) && !s.catchingUp) {
    s.catchingUp = true;
    catchUp_.push_back(object);
  }
}

void PageLoop::sinkComplete(uint32_t object, Sink& s, std::vector<Event>* out) {
  Event e{EventKind::SinkComplete};
  e.object = object;
  e.payload = s.md.final();
  out->push_back(std::move(e));
}

// Read back and hash up to budget bytes of the
// pages waiting in the files of the sinks on catchUp_ (the loop comes back
// for the rest after a look at the socket).
void PageLoop::catchUp(size_t budget, std::vector<Event>* out) {
  const size_t P = opts_.pageSize;
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
      ssize_t got = pread(s.fd, buf.data(), want, off_t(off));
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

void PageLoop::flushWrites(std::vector<Event>* out) {
  if (pend_.count == 0) return;
  Sink& s = *pend_.sink;
  size_t want = 0;
  for (uint32_t i = 0; i < pend_.count; i++) want += pend_.iov[i].iov_len;
  ssize_t w = pwritev(s.fd, pend_.iov, int(pend_.count), off_t(uint64_t(pend_.first) * opts_.pageSize));
  if (w != ssize_t(want)) {
    sinkFailed(pend_.object, s, w < 0 ? errno : ENOSPC, out);
  } else {
    for (uint32_t i = 0; i < pend_.count; i++)
      markReceived(pend_.object, s, pend_.first + i, static_cast<const uint8_t*>(pend_.iov[i].iov_base), out);
  }
  pend_.count = 0;
  pend_.sink.reset();
}

}  // namespace mrsync
