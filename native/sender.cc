#include "sender.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fec.h"

namespace mrsync {

void PageSender::add(Job&& j) {
  if (j.urgent) active_.push_front(std::move(j));
  else active_.push_back(std::move(j));
}

void PageSender::step(uint32_t room, double* tokens, bool* wantOut, std::vector<Event>* out) {
  if (active_.empty()) return;
  Job& j = active_.front();
  int err = 0;
  if (j.run < j.runs.size()) err = sendRunChunk(j, room, tokens, wantOut);
  else if (j.par < j.parity.size()) err = sendParityChunk(j, room, tokens, wantOut);
  if (!err && (j.run < j.runs.size() || j.par < j.parity.size())) return;
  Event e{err ? EventKind::JobError : EventKind::JobSent};
  e.index = j.id;
  e.object = j.object;
  e.err = err;
  if (j.hash) {
    // the first pass's hash, if this job ended it (all pages hashed in order)
    const uint64_t pages = paging_.pageCount(j.size);
    auto it = sendHash_.find(j.object);
    const bool last = pages == 0 || (!j.runs.empty() && uint64_t(j.runs.back().first) + j.runs.back().second == pages);
    if (!err && pages == 0) e.payload = Sha256().final();
    else if (!err && last && it != sendHash_.end() && it->second->next == pages) e.payload = it->second->md.final();
    if (it != sendHash_.end() && (err || last)) sendHash_.erase(it);
  }
  out->push_back(std::move(e));
  if (blockJob_ == int64_t(j.id)) blockJob_ = -1;
  active_.pop_front();
}

int PageSender::sendPagesBatch(uint32_t object, uint8_t type, const uint32_t* index, const uint32_t* len, uint8_t* buf,
                             uint32_t n, double* tokens, bool* wantOut) {
  uint8_t hdrs[kBatch][kHeaderLen], tags[kBatch][kTagLen], ctrs[kBatch][kCtrLen];
  iovec iov[kBatch][4];
  mmsghdr msgs[kBatch];
  memset(msgs, 0, sizeof msgs);
  size_t pos = 0;
  for (uint32_t i = 0; i < n; i++) {
    Header h;
    h.type = type;
    h.object = object;
    h.index = index[i];
    h.seq = uint16_t(dataSeq_ + i);
    encodeHeader(h, hdrs[i]);
    int k = 0;
    iov[i][k++] = {hdrs[i], kHeaderLen};
    if (aead_) {
      // in place: a page not sent this time is read (and sealed) again
      aead_->seal(hdrs[i], (*ctr_)++, ctrs[i], buf + pos, len[i], tags[i]);
      iov[i][k++] = {ctrs[i], kCtrLen};
    } else {
      auth_->tag(hdrs[i], kHeaderLen, buf + pos, len[i], tags[i]);
    }
    iov[i][k++] = {buf + pos, len[i]};
    iov[i][k++] = {tags[i], kTagLen};
    msgs[i].msg_hdr.msg_iov = iov[i];
    msgs[i].msg_hdr.msg_iovlen = size_t(k);
    msgs[i].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&group_);
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
      mh.msg_name = const_cast<sockaddr_storage*>(&group_);
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
    const uint64_t wire = uint64_t(msgs[i].msg_len) + wireOverhead_;  // what the line carries, as pacing counts it
    *tokens -= double(wire);
    stats_.bytesSent += msgs[i].msg_len;
    stats_.dataWire += wire;
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

int PageSender::sendRunChunk(Job& j, uint32_t room, double* tokens, bool* wantOut) {
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
  buf.resize(size_t(kBatch) * paging_.pageSize);
  if (int err = readAt(j, buf.data(), want, uint64_t(first) * paging_.pageSize)) return err;
  if (j.hash) feedHash(j, first, n, buf.data(), lens);
  j.done += sendPagesBatch(j.object, kTypeData, idx, lens, buf.data(), n, tokens, wantOut);
  if (j.done >= len) { j.run++; j.done = 0; }
  return 0;
}

int PageSender::readAt(const Job& j, uint8_t* dst, uint64_t want, uint64_t off) const {
  if (want == 0) return 0;
  if (j.mem) {
    if (off > j.size || want > j.size - off) return ENODATA;
    memcpy(dst, j.mem + off, want);
    return 0;
  }
  return preadWhole(j.fd, dst, want, off);  // ENODATA: the file shrank under us
}

// A first pass's pages as read, before they are sent (sealing encrypts them in
// place); a page read again after a partial send is not hashed twice.
void PageSender::feedHash(const Job& j, uint32_t first, uint32_t n, const uint8_t* buf, const uint32_t* lens) {
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

int PageSender::sendParityChunk(Job& j, uint32_t room, double* tokens, bool* wantOut) {
  const ParityRun& pr = j.parity[j.par];
  const uint32_t kb = paging_.blockPages(j.size, pr.block);
  if (kb == 0 || pr.block >= fec::kMaxBlocks || uint64_t(pr.first) + pr.count > fec::kMaxParity) return EINVAL;
  const size_t P = paging_.pageSize;
  if (blockJob_ != int64_t(j.id) || blockNo_ != pr.block) {
    auto read = [this, &j](uint8_t* dst, uint64_t want, uint64_t off) { return readAt(j, dst, want, off); };
    if (int err = paging_.readBlock(j.size, pr.block, kb, &blockBuf_, read)) return err;
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

}  // namespace mrsync
