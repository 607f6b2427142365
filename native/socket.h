// The loop's UDP socket (socket.cc) and the errors of setting it up.
#pragma once
#include <sys/socket.h>

#include <stdexcept>
#include <string>

#include "pageloop.h"

namespace mrsync {

struct UdpSocket {
  int fd = -1;
  sockaddr_storage group{};   // where multicast goes
  socklen_t groupLen = 0;
  sockaddr_storage master{};  // where feedback goes (LoopOptions.master), if hasMaster
  socklen_t masterLen = 0;
  bool hasMaster = false;
  bool masterScope = false;   // an IPv6 link-local master: its scope is taken from its first datagram
  unsigned ifindex = 0;       // the interface the group is joined on (0: by route)
};

// Throws LoopError (the socket closed) when any step that matters fails.
UdpSocket openSocket(const LoopOptions& opts);

// Leave the group and join it again (s joined it): the kernel sends its
// unsolicited membership reports anew. False if the join failed (tried
// again next time).
bool rejoinGroup(const UdpSocket& s);

}  // namespace mrsync
