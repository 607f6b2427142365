#include "pageloop.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "pages.h"
#include "receiver.h"
#include "sender.h"
#include "socket.h"
#include "wire.h"

namespace mrsync {

namespace {

constexpr int kRecvRounds = 16;  // recvmmsg calls per wake before looking at sends again
// At most this many datagrams per send call (one GSO send or one sendmmsg);
// more credit goes out as more calls, back to back. Each call's datagrams
// reach the kernel's per-CPU input backlog together (on the simulated LAN,
// once per target sharing the machine) and it is drained when the call
// returns: with 32 per call, 50 targets (1,600 at once) overflowed its 1,000
// and 0.5-5% of the pages had to be re-sent (measured with commit 59c2feb).
constexpr uint32_t kSendBurst = 16;
static_assert(kSendBurst <= uint32_t(kBatch), "a send call's datagrams fit the batch arrays");

double nowSec() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

}  // namespace

uint64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct PageLoop::Impl {
  struct Ctl {
    uint8_t type;
    uint32_t object, index;
    std::string payload;
    bool toMaster;
    bool stamp;  // write monoNs() into payload bytes 0..7 at the moment of sending
  };

  Impl(const LoopOptions& opts, std::function<void()> notify)
      : opts_(opts), paging_{opts.pageSize}, notify_(std::move(notify)), rateBps_(opts.rateBps),
        auth_(new Auth(opts.key)), aead_(opts.encrypt ? new Aead(opts.key) : nullptr), sock(openSocket(opts)),
        recv_(paging_, stats_) {
    wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd_ < 0) {
      int e = errno;
      close(sock.fd);
      throw LoopError("EWAKE", "eventfd", e, std::string("cannot create wake-up fd: ") + strerror(e));
    }
    sender_.reset(new PageSender(sock.fd, sock.group, sock.groupLen, paging_, opts.wireOverhead, opts.gso, *auth_, aead_.get(), &ctr_, stats_));
  }

  ~Impl() {
    stop();
    if (sock.fd >= 0) close(sock.fd);
    if (wakefd_ >= 0) close(wakefd_);
  }

  void start() {
    if (started_) return;
    started_ = true;
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    if (!started_ || stopping_.exchange(true)) return;
    wake();
    if (thread_.joinable()) thread_.join();
  }

  void run();
  bool sendCtl(const Ctl& c);  // seal and send one control datagram (false: EAGAIN, try later)
  int receive();               // returns the size of the last recvmmsg batch
  void push(std::vector<Event>&& evs);
  long napTime();              // microseconds of the next receive nap (0: none)
  void wake();
  std::vector<Event> takeEvents();

  const LoopOptions opts_;
  const Paging paging_;
  std::function<void()> notify_;
  std::atomic<uint64_t> rateBps_;
  std::unique_ptr<Auth> auth_;
  std::unique_ptr<Aead> aead_;  // --encrypt
  UdpSocket sock;
  int wakefd_ = -1;
  std::atomic<bool> woken_{false};  // wakefd_ written and not yet read
  uint64_t ctr_ = 0;                // AES-GCM nonce counter (pages and controls), loop thread only
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  std::mutex cmdMu_;  // guards ctlQueue_, jobQueue_
  std::deque<Ctl> ctlQueue_;
  std::deque<Job> jobQueue_;
  std::unique_ptr<PageSender> sender_;  // loop thread

  bool seqSeen_ = false;    // receiver: the last seq seen, for dataExpected
  uint16_t lastSeq_ = 0;
  uint64_t rxTotal_ = 0;    // receiver: datagrams read, and their recent rate (napTime)
  uint64_t rateN0_ = 0;
  double rateT0_ = 0, rxPps_ = 0;

  std::mutex evMu_;
  std::vector<Event> events_;

  Stats stats_;
  Receiver recv_;  // the sinks (catchers)
};

PageLoop::PageLoop(const LoopOptions& opts, std::function<void()> notify) : impl_(new Impl(opts, std::move(notify))) {}
PageLoop::~PageLoop() = default;
void PageLoop::start() { impl_->start(); }
void PageLoop::stop() { impl_->stop(); }
void PageLoop::wake() { impl_->wake(); }
std::vector<Event> PageLoop::takeEvents() { return impl_->takeEvents(); }
const Stats& PageLoop::stats() const { return impl_->stats_; }
uint64_t PageLoop::pageCount(uint64_t size) const { return impl_->paging_.pageCount(size); }
bool PageLoop::hasMaster() const { return impl_->sock.hasMaster; }
int PageLoop::openSink(uint32_t object, int fd, uint64_t size) { return impl_->recv_.openSink(object, fd, size); }
int64_t PageLoop::closeSink(uint32_t object) { return impl_->recv_.closeSink(object); }
int64_t PageLoop::sinkMissing(uint32_t object, size_t maxRuns, std::vector<std::pair<uint32_t, uint32_t>>* runs) {
  return impl_->recv_.sinkMissing(object, maxRuns, runs);
}

void PageLoop::setRate(uint64_t bps) {
  impl_->rateBps_.store(bps);
  impl_->wake();
}

void PageLoop::stampArrivals(bool on) {
  int v = on ? 1 : 0;
  setsockopt(impl_->sock.fd, SOL_SOCKET, SO_TIMESTAMPNS, &v, sizeof v);
}

bool PageLoop::setLoopback(bool on) {
  int v = on ? 1 : 0;
  return impl_->sock.group.ss_family == AF_INET6
             ? setsockopt(impl_->sock.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &v, sizeof v) == 0
             : setsockopt(impl_->sock.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &v, sizeof v) == 0;
}

int PageLoop::localPort() const {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  if (getsockname(impl_->sock.fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) return -1;
  return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                 : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

void PageLoop::sendPages(uint32_t job, uint32_t object, int fd, uint64_t size, std::vector<std::pair<uint32_t, uint32_t>> runs,
                         std::vector<ParityRun> parity, bool urgent, bool hash, bool wakeNow, const uint8_t* mem) {
  {
    std::lock_guard<std::mutex> g(impl_->cmdMu_);
    Job j{job, object, fd, size, mem, std::move(runs)};
    j.parity = std::move(parity);
    j.urgent = urgent;
    j.hash = hash;
    impl_->jobQueue_.push_back(std::move(j));
  }
  if (wakeNow) impl_->wake();
}

void PageLoop::sendControl(uint8_t type, uint32_t object, uint32_t index, std::string payload, bool toMaster,
                           bool stamp, bool wakeNow) {
  if (stamp && payload.size() < 8) payload.resize(8);
  {
    std::lock_guard<std::mutex> g(impl_->cmdMu_);
    impl_->ctlQueue_.push_back(Impl::Ctl{type, object, index, std::move(payload), toMaster, stamp});
  }
  if (wakeNow) impl_->wake();
}

void PageLoop::Impl::run() {
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
  std::deque<Ctl> ctls;
  double tokens = 0, last = nowSec();
  double rejoinAt = 0;  // when the group is left and joined again (opts_.rejoinMs); 0: not yet scheduled
  bool wantOut = false;
  while (!stopping_.load()) {
    {
      std::lock_guard<std::mutex> g(cmdMu_);
      while (!jobQueue_.empty()) { sender_->add(std::move(jobQueue_.front())); jobQueue_.pop_front(); }
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
    // in 70 s to wake-ups later than the credit (commit 02ea586).
    const double cap = std::max(rate * 0.004, pktWire * 32);
    double now = nowSec();
    const double credit = tokens + (now - last) * rate;
    if (credit > cap && opts_.sender == 0 && rate > 0) {
      // line time gone unused: with pages to send, this thread woke too late
      // (a busy CPU) or the socket was full; with none, nothing was queued
      uint64_t lost = uint64_t((credit - cap) / rate * 1e9);
      if (sender_->idle()) stats_.idleNs += lost;
      else stats_.lateNs += lost;
    }
    tokens = std::min(cap, credit);
    last = now;

    if (!sender_->idle() && !wantOut && tokens >= pktWire)
      sender_->step(std::min<uint32_t>(kSendBurst, uint32_t(tokens / pktWire)), &tokens, &wantOut, &evs);
    if (recv_.catchingUp()) recv_.catchUp(Receiver::kCatchUpBytes, &evs);
    push(std::move(evs));

    // How long may we sleep? Until the bucket holds what the link carries in
    // about two milliseconds (4 to 16 datagrams): one wake-up and one send
    // per batch rather than per datagram, bursts of a few ms at most.
    timespec ts{0, 0};
    timespec* tsp = nullptr;
    if (!sender_->idle() && !wantOut) {
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
    // the membership's refresh: a switch that snoops IGMP (MLD) forgets a
    // port whose host sent no report for a few minutes, and with no querier
    // on the VLAN nothing asks the host for one; leaving and joining again
    // makes the kernel send its unsolicited reports (the push then loses
    // what arrives in the microseconds between, and repairs it)
    if (opts_.join && opts_.rejoinMs > 0) {
      if (now >= rejoinAt) {  // (the clock as read for the bucket above)
        // a join refused (the interface down a moment, no memory) is tried again in a second, not a minute
        const bool joined = rejoinAt == 0 || rejoinGroup(sock);
        rejoinAt = now + (joined ? double(opts_.rejoinMs) / 1000.0 : 1.0);
      }
      const double left = rejoinAt - now;
      const double sleep = tsp ? double(ts.tv_sec) + double(ts.tv_nsec) / 1e9 : left;
      if (!tsp || left < sleep) {
        ts.tv_sec = time_t(left);
        ts.tv_nsec = long((left - double(ts.tv_sec)) * 1e9);
        tsp = &ts;
      }
    }
    pollfd fds[2] = {{sock.fd, short(POLLIN | (wantOut ? POLLOUT : 0)), 0}, {wakefd_, POLLIN, 0}};
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
      if (opts_.napUs > 0 && n > 0 && n < kBatch && sender_->idle() && ctls.empty() && !recv_.catchingUp()) {
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
long PageLoop::Impl::napTime() {
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


bool PageLoop::Impl::sendCtl(const Ctl& c) {
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
  const sockaddr* to = reinterpret_cast<const sockaddr*>(&sock.group);
  socklen_t tolen = sock.groupLen;
  if (c.toMaster) {
    if (!sock.hasMaster || sock.masterScope) { stats_.sendErrors++; return true; }
    to = reinterpret_cast<const sockaddr*>(&sock.master);
    tolen = sock.masterLen;
  }
  ssize_t r = sendto(sock.fd, pkt.data(), pkt.size(), MSG_DONTWAIT, to, tolen);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (r < 0) stats_.sendErrors++;
  else { stats_.pktsSent++; stats_.ctlSent++; stats_.bytesSent += pkt.size(); }
  return true;
}


void PageLoop::Impl::wake() {
  if (woken_.exchange(true)) return;  // the loop has not read the last one yet: it will see the queues
  uint64_t one = 1;
  ssize_t r = write(wakefd_, &one, sizeof one);
  (void)r;
}


std::vector<Event> PageLoop::Impl::takeEvents() {
  std::lock_guard<std::mutex> g(evMu_);
  std::vector<Event> out;
  out.swap(events_);
  return out;
}

void PageLoop::Impl::push(std::vector<Event>&& evs) {
  if (evs.empty()) return;
  {
    std::lock_guard<std::mutex> g(evMu_);
    if (events_.empty()) events_.swap(evs);
    else for (auto& e : evs) events_.push_back(std::move(e));
  }
  evs.clear();
  notify_();
}


int PageLoop::Impl::receive() {
  int last = 0;
  const size_t bufSize = std::max<size_t>(opts_.pageSize + kOverhead + kCtrLen, 2048) + 1;
  static thread_local std::vector<uint8_t> pool;
  pool.resize(bufSize * kBatch);
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  sockaddr_storage from[kBatch];
  // SO_TIMESTAMPNS (socket.cc): each datagram's arrival by the kernel's clock
  union Cmsg { cmsghdr align; char buf[CMSG_SPACE(sizeof(timespec))]; };
  Cmsg cmsgs[kBatch];
  std::vector<Event> evs;
  for (int round = 0; round < kRecvRounds; round++) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < kBatch; i++) {
      iov[i] = {pool.data() + i * bufSize, bufSize};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_control = cmsgs[i].buf;
      msgs[i].msg_hdr.msg_controllen = sizeof cmsgs[i].buf;
    }
    int n = recvmmsg(sock.fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    rxTotal_ += uint64_t(n);
    stats_.recvBatches++;
    const double readNs = double(monoNs());
    // the kernel stamps arrivals by CLOCK_REALTIME: moved onto the monotonic
    // clock by the offset between the two, taken once a batch has a stamped
    // control datagram (an arrival is never later than its read; without a
    // stamp, the read's time). The offset is read between two monotonic
    // reads, the tightest pair of three (a preemption between them would
    // skew it by its length: round trips of 20 us on lo read as -1.3 us),
    // in integer nanoseconds (a double holds today's realtime nanoseconds to
    // 256 ns only).
    int64_t realMinusMono = 0;
    bool offsetTaken = false;
    auto arrival = [&](int i) -> double {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
        if (!offsetTaken) {
          uint64_t tightest = UINT64_MAX;
          for (int k = 0; k < 3; k++) {
            const uint64_t m1 = monoNs();
            timespec real;
            clock_gettime(CLOCK_REALTIME, &real);
            const uint64_t m2 = monoNs();
            if (m2 - m1 >= tightest) continue;
            tightest = m2 - m1;
            realMinusMono = (int64_t(real.tv_sec) * 1000000000 + int64_t(real.tv_nsec)) - int64_t(m1 + (m2 - m1) / 2);
          }
          offsetTaken = true;
        }
        timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        const double at = double(int64_t(ts.tv_sec) * 1000000000 + int64_t(ts.tv_nsec) - realMinusMono);
        return at > 0 && at < readNs ? at : readNs;
      }
      return readNs;
    };
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
      if (sock.masterScope && h.sender == 0 && from[i].ss_family == AF_INET6) {
        // a link-local master address names no interface: ours is the one its datagrams arrive on
        auto* f6 = reinterpret_cast<sockaddr_in6*>(&from[i]);
        auto* m6 = reinterpret_cast<sockaddr_in6*>(&sock.master);
        if (memcmp(&f6->sin6_addr, &m6->sin6_addr, sizeof m6->sin6_addr) == 0) {
          m6->sin6_scope_id = f6->sin6_scope_id;
          sock.masterScope = false;
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
        if (sendto(sock.fd, rep, kHeaderLen + r.length + kTagLen, MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&from[i]), msgs[i].msg_hdr.msg_namelen) > 0) {
          stats_.pktsSent++;
          stats_.ctlSent++;
        } else {
          stats_.sendErrors++;
        }
      }
      Event e{EventKind::Control};
      e.rxNs = arrival(i);
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
