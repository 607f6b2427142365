// What the loop hands its owner (batched events) and counts (stats): shared
// by the socket loop (pageloop.h) and the receiving sinks (receiver.h).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace mrsync {

enum class EventKind : uint8_t { Control = 1, SinkComplete = 2, JobSent = 3, JobError = 4, SinkError = 5 };

struct Event {
  EventKind kind;
  uint8_t type = 0;
  uint16_t sender = 0;
  uint32_t object = 0;
  uint32_t index = 0;
  int err = 0;
  double rxNs = 0;  // when the datagram arrived (the kernel's stamp, or when it was read; monoNs)
  std::string payload;
};

struct Stats {
  std::atomic<uint64_t> pktsSent{0}, bytesSent{0}, dataSent{0}, ctlSent{0}, sendErrors{0};
  std::atomic<uint64_t> pktsRecv{0}, dataExpected{0}, dataRecv{0}, dataNew{0}, dataDup{0}, dataStray{0};
  std::atomic<uint64_t> badAuth{0}, ownEcho{0}, badFormat{0}, ctlRecv{0}, recvBatches{0};
  std::atomic<uint64_t> paritySent{0}, parityRecv{0}, fecRecovered{0};
  std::atomic<uint64_t> lateNs{0}, idleNs{0};  // sender: line time unused, pages queued / none queued
  std::atomic<uint64_t> dataWire{0};           // sender: bytes of its data datagrams on the wire (with wireOverhead)
};

}  // namespace mrsync
