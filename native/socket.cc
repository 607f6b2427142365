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

UdpSocket openSocket(const LoopOptions& opts_) {
  UdpSocket s;
  int& sock_ = s.fd;
  sockaddr_storage& groupAddr_ = s.group;
  socklen_t& groupLen_ = s.groupLen;
  sockaddr_storage& masterAddr_ = s.master;
  socklen_t& masterLen_ = s.masterLen;
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
        s.masterScope = IN6_IS_ADDR_LINKLOCAL(&m6.sin6_addr);
        s.hasMaster = true;
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
        s.hasMaster = true;
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
  return s;
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

}  // namespace mrsync
