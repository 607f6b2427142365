// The loop's UDP socket: bound, its buffers as big as allowed, the group
// joined (catchers) or the multicast interface, TTL and loopback set (the
// master); and the address a host's datagrams to a group leave from.
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>

namespace mrsync {

namespace {

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

// text:port as a socket address of the family (v6: with scope); false if text is not one.
static bool toSockaddr(bool v6, const std::string& text, int port, unsigned scope, sockaddr_storage* out, socklen_t* len) {
  *out = {};
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(uint16_t(port));
    a->sin6_scope_id = scope;
    *len = sizeof *a;
    return inet_pton(AF_INET6, text.c_str(), &a->sin6_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(out);
  a->sin_family = AF_INET;
  a->sin_port = htons(uint16_t(port));
  *len = sizeof *a;
  return inet_pton(AF_INET, text.c_str(), &a->sin_addr) == 1;
}

UdpSocket openSocket(const LoopOptions& opts) {
  UdpSocket s;
  const bool v6 = opts.family == 6;
  const int fd = s.fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("ESOCKET", "socket", "cannot create UDP socket");
  try {
    unsigned ifindex = 0;
    if (!opts.ifname.empty()) {
      ifindex = if_nametoindex(opts.ifname.c_str());
      if (!ifindex) fail("EIFACE", "if_nametoindex", "no such interface '" + opts.ifname + "'");
    }
    // the group's port is shared by every receiver on the host (catchers of
    // two masters' pushes each see both, and keep their own); a master's
    // answer port is its own: bound twice, each master's answers could reach
    // the other's socket (and be dropped there, unauthenticated), so a second
    // push on the same port fails at once (EBIND) instead of waiting
    if (opts.join) setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", true);
    setBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, opts.rcvbuf);
    setBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, opts.sndbuf);
    if (v6) setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", false);
    // the kernel's arrival time of each datagram (pageloop.cc receive): a
    // packet train's spacing (the rate's probe), an answer's round trip,
    // whatever the loop thread's naps and batches
    setInt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS", false);
    sockaddr_storage any;
    socklen_t anyLen;
    toSockaddr(v6, v6 ? "::" : "0.0.0.0", opts.bindPort, 0, &any, &anyLen);
    if (bind(fd, reinterpret_cast<sockaddr*>(&any), anyLen) != 0)
      fail("EBIND", "bind", "cannot bind UDP port " + std::to_string(opts.bindPort));
    s.ifindex = ifindex;
    if (!toSockaddr(v6, opts.group, opts.port, ifindex, &s.group, &s.groupLen)) {
      errno = EINVAL;
      fail("EGROUP", "inet_pton", std::string("bad IPv") + (v6 ? "6" : "4") + " group '" + opts.group + "'");
    }
    if (!opts.master.empty()) {
      if (!toSockaddr(v6, opts.master, opts.masterPort, 0, &s.master, &s.masterLen)) {
        errno = EINVAL;
        fail("EMASTER", "inet_pton", "bad master address '" + opts.master + "'");
      }
      s.hasMaster = true;
      s.masterScope = v6 && IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<sockaddr_in6*>(&s.master)->sin6_addr);
    }
    if (v6) {
      const in6_addr& g = reinterpret_cast<sockaddr_in6*>(&s.group)->sin6_addr;
      if (opts.join) {
        ipv6_mreq m{};
        m.ipv6mr_multiaddr = g;
        m.ipv6mr_interface = ifindex;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m) != 0) fail("EJOIN", "setsockopt", "cannot join group " + opts.group);
#ifdef IPV6_MULTICAST_ALL
        setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL", false);
#endif
      }
      if (ifindex) setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, int(ifindex), "IPV6_MULTICAST_IF", true);
      setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, opts.ttl, "IPV6_MULTICAST_HOPS", true);
      setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, opts.loopback ? 1 : 0, "IPV6_MULTICAST_LOOP", true);
    } else {
      ip_mreqn m{};
      m.imr_multiaddr = reinterpret_cast<sockaddr_in*>(&s.group)->sin_addr;
      m.imr_address.s_addr = htonl(INADDR_ANY);
      m.imr_ifindex = int(ifindex);
      if (opts.join) {
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) fail("EJOIN", "setsockopt", "cannot join group " + opts.group);
        // only this group's traffic, not every group joined on the host
        setInt(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL", false);
      }
      if (ifindex && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) fail("ESOCKOPT", "setsockopt", "IP_MULTICAST_IF");
      setInt(fd, IPPROTO_IP, IP_MULTICAST_TTL, opts.ttl, "IP_MULTICAST_TTL", true);
      setInt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, opts.loopback ? 1 : 0, "IP_MULTICAST_LOOP", true);
    }
  } catch (...) {
    close(fd);
    throw;
  }
  return s;
}

bool rejoinGroup(const UdpSocket& s) {
  if (s.group.ss_family == AF_INET6) {
    ipv6_mreq m{};
    m.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(&s.group)->sin6_addr;
    m.ipv6mr_interface = s.ifindex;
    setsockopt(s.fd, IPPROTO_IPV6, IPV6_LEAVE_GROUP, &m, sizeof m);
    return setsockopt(s.fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m) == 0;
  }
  ip_mreqn m{};
  m.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(&s.group)->sin_addr;
  m.imr_address.s_addr = htonl(INADDR_ANY);
  m.imr_ifindex = int(s.ifindex);
  setsockopt(s.fd, IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
  return setsockopt(s.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0;
}

std::string multicastSource(int family, const std::string& group, int port, const std::string& ifname) {
  const bool v6 = family == 6;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("ESOCKET", "socket", "cannot create UDP socket");
  unsigned ifindex = ifname.empty() ? 0 : if_nametoindex(ifname.c_str());
  if (ifindex && v6) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
  if (ifindex && !v6) {
    ip_mreqn m{};
    m.imr_ifindex = int(ifindex);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
  }
  sockaddr_storage g, a{};
  socklen_t glen, n = sizeof a;
  int rc = toSockaddr(v6, group, port, ifindex, &g, &glen) ? connect(fd, reinterpret_cast<sockaddr*>(&g), glen) : -1;
  if (rc == 0) rc = getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  char text[INET6_ADDRSTRLEN] = "";
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

}  // namespace mrsync
