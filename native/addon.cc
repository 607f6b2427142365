// Thin N-API wrap of PageLoop and the packet codec. Options are validated in
// TypeScript (src/native.ts); here we only check types.
#define NAPI_VERSION 8
#include <napi.h>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>

#include "fec.h"
#include "pageloop.h"

using namespace mrsync;

namespace {

bool throwIf(Napi::Env env, bool bad, const char* msg) {
  if (bad) Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return bad;
}

void throwLoopError(Napi::Env env, const LoopError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  err.Set("errno", Napi::Number::New(env, e.err));
  err.ThrowAsJavaScriptException();
}

std::string bufferBytes(const Napi::Value& v) {
  auto b = v.As<Napi::Buffer<char>>();
  return std::string(b.Data(), b.Length());
}

constexpr size_t kEventFields = 8;  // kind, type, sender, object, index, err, rxNs, payload length (-1: none)

class LoopWrap : public Napi::ObjectWrap<LoopWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "PageLoop", {
      InstanceMethod("sendPages", &LoopWrap::SendPages),
      InstanceMethod("sendControl", &LoopWrap::SendControl),
      InstanceMethod("openSink", &LoopWrap::OpenSink),
      InstanceMethod("closeSink", &LoopWrap::CloseSink),
      InstanceMethod("sinkMissing", &LoopWrap::SinkMissing),
      InstanceMethod("setRate", &LoopWrap::SetRate),
      InstanceMethod("stats", &LoopWrap::GetStats),
      InstanceMethod("hasMaster", &LoopWrap::HasMaster),
      InstanceMethod("localPort", &LoopWrap::LocalPort),
      InstanceMethod("stop", &LoopWrap::Stop),
      InstanceMethod("wake", &LoopWrap::Wake),
    });
  }

  LoopWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoopWrap>(info) {
    Napi::Env env = info.Env();
    if (throwIf(env, info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction(),
                "PageLoop(options, onEvents)")) return;
    Napi::Object o = info[0].As<Napi::Object>();
    LoopOptions opts;
    auto num = [&](const char* k) { return o.Get(k).As<Napi::Number>().DoubleValue(); };
    if (throwIf(env, !o.Get("key").IsBuffer() || !o.Get("group").IsString() || !o.Get("ifname").IsString(),
                "PageLoop options: key must be a Buffer, group and ifname strings")) return;
    for (const char* k : {"family", "port", "bindPort", "ttl", "sender", "pageSize", "rateBps",
                          "wireOverhead", "rcvbuf", "sndbuf"})
      if (throwIf(env, !o.Get(k).IsNumber(), "PageLoop options: numeric field missing")) return;
    opts.family = int(num("family"));
    opts.group = o.Get("group").As<Napi::String>().Utf8Value();
    opts.port = int(num("port"));
    opts.bindPort = int(num("bindPort"));
    opts.ifname = o.Get("ifname").As<Napi::String>().Utf8Value();
    opts.ttl = int(num("ttl"));
    opts.loopback = o.Get("loopback").ToBoolean();
    opts.join = o.Get("join").ToBoolean();
    opts.key = bufferBytes(o.Get("key"));
    opts.sender = uint16_t(num("sender"));
    opts.pageSize = uint32_t(num("pageSize"));
    opts.rateBps = uint64_t(num("rateBps"));
    opts.wireOverhead = uint32_t(num("wireOverhead"));
    opts.rcvbuf = int(num("rcvbuf"));
    opts.sndbuf = int(num("sndbuf"));
    opts.encrypt = o.Get("encrypt").ToBoolean();
    if (o.Get("echoType").IsNumber()) {
      if (throwIf(env, num("echoType") < 1 || num("echoType") > 30, "PageLoop options: echoType 1..30")) return;
      opts.echoType = uint8_t(num("echoType"));
    }
    if (o.Get("napUs").IsNumber()) opts.napUs = long(num("napUs"));
    if (o.Get("napMaxUs").IsNumber()) opts.napMaxUs = long(num("napMaxUs"));
    if (o.Get("gso").IsBoolean()) opts.gso = o.Get("gso").ToBoolean();
    if (o.Get("boost").IsBoolean()) opts.boost = o.Get("boost").ToBoolean();
    if (o.Get("master").IsString()) opts.master = o.Get("master").As<Napi::String>().Utf8Value();
    if (o.Get("masterPort").IsNumber()) opts.masterPort = int(num("masterPort"));

    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "mrsync-pageloop", 0, 1,
                                          [this](Napi::Env) { Unref(); });
    try {
      loop_.reset(new PageLoop(opts, [this] { Notify(); }));
      loop_->start();
    } catch (const LoopError& e) {
      tsfn_.Release();
      released_ = true;
      throwLoopError(env, e);
      return;
    } catch (const std::exception& e) {
      tsfn_.Release();
      released_ = true;
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
      return;
    }
    Ref();  // alive until the thread-safe function is finalized
    // at exit (environment teardown) the loop thread is stopped; a loop
    // collected before that removes its hook (else the hook would run on
    // freed memory)
    cleanup_ = env.AddCleanupHook(&LoopWrap::AtExit, this);
  }

  ~LoopWrap() override {
    if (!exited_ && !cleanup_.IsEmpty()) cleanup_.Remove(Env());
    Shutdown();
  }

  static void AtExit(LoopWrap* self) {
    self->exited_ = true;
    self->Shutdown();
  }

 private:
  void Notify() {
    if (pending_.exchange(true)) return;
    tsfn_.NonBlockingCall([this](Napi::Env env, Napi::Function cb) {
      pending_.store(false);
      if (!loop_) return;
      std::vector<Event> evs = loop_->takeEvents();
      if (evs.empty()) return;
      // packed, one allocation each for the batch (an object per event with
      // eight named properties cost more than the event's handling): per
      // event kEventFields numbers, then every payload back to back
      size_t bytes = 0;
      for (const Event& e : evs) bytes += e.payload.size();
      Napi::Float64Array nums = Napi::Float64Array::New(env, evs.size() * kEventFields);
      Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, bytes);
      double* f = nums.Data();
      uint8_t* d = data.Data();
      for (const Event& e : evs) {
        *f++ = double(e.kind);
        *f++ = e.type;
        *f++ = e.sender;
        *f++ = e.object;
        *f++ = e.index;
        *f++ = e.err;
        *f++ = e.rxNs;
        // control: the datagram's payload; complete and sent: the file's SHA-256 (sent: if it ended a hashed first pass)
        *f++ = e.kind == EventKind::Control || !e.payload.empty() ? double(e.payload.size()) : -1;
        if (!e.payload.empty()) memcpy(d, e.payload.data(), e.payload.size());
        d += e.payload.size();
      }
      cb.Call({nums, data});
    });
  }

  void Shutdown() {
    if (loop_) loop_->stop();
    if (!released_) {
      released_ = true;
      tsfn_.Release();
    }
  }

  bool Live(Napi::Env env) {
    if (!loop_ || released_) {
      Napi::Error::New(env, "PageLoop is stopped").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  Napi::Value SendPages(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    if (throwIf(env, info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
                         !info[3].IsNumber(), "sendPages(job, object, fd, size, runs|null, parity?, urgent?, hash?)")) return env.Undefined();
    uint32_t job = info[0].As<Napi::Number>().Uint32Value();
    uint32_t object = info[1].As<Napi::Number>().Uint32Value();
    int fd = info[2].As<Napi::Number>().Int32Value();
    uint64_t size = uint64_t(info[3].As<Napi::Number>().DoubleValue());
    std::vector<std::pair<uint32_t, uint32_t>> runs;
    if (info[4].IsTypedArray()) {
      auto a = info[4].As<Napi::Uint32Array>();
      if (throwIf(env, a.TypedArrayType() != napi_uint32_array || a.ElementLength() % 2, "runs must be a Uint32Array of pairs"))
        return env.Undefined();
      for (size_t i = 0; i + 1 < a.ElementLength(); i += 2) runs.emplace_back(a[i], a[i + 1]);
    } else {
      uint64_t pages = loop_->pageCount(size);
      if (pages) runs.emplace_back(0, uint32_t(pages));
    }
    std::vector<PageLoop::ParityRun> parity;
    if (info.Length() > 5 && info[5].IsTypedArray()) {
      auto a = info[5].As<Napi::Uint32Array>();
      if (throwIf(env, a.TypedArrayType() != napi_uint32_array || a.ElementLength() % 3,
                  "parity must be a Uint32Array of (block, first, count) triples"))
        return env.Undefined();
      uint64_t blocks = (loop_->pageCount(size) + fec::kBlock - 1) / fec::kBlock;
      for (size_t i = 0; i + 2 < a.ElementLength(); i += 3) {
        PageLoop::ParityRun r{a[i], a[i + 1], a[i + 2]};
        if (throwIf(env, r.block >= blocks || r.block >= fec::kMaxBlocks || uint64_t(r.first) + r.count > fec::kMaxParity,
                    "parity run out of range")) return env.Undefined();
        parity.push_back(r);
      }
    }
    loop_->sendPages(job, object, fd, size, std::move(runs), std::move(parity), info.Length() > 6 && info[6].ToBoolean(),
                     info.Length() > 7 && info[7].ToBoolean(), !(info.Length() > 8 && info[8].ToBoolean()));
    return env.Undefined();
  }

  Napi::Value SendControl(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    if (throwIf(env, info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber(),
                "sendControl(type, object, index, payload|null, toMaster)")) return env.Undefined();
    std::string payload = info[3].IsBuffer() ? bufferBytes(info[3]) : std::string();
    if (throwIf(env, payload.size() > kMaxDatagram - kOverhead, "control payload too large")) return env.Undefined();
    loop_->sendControl(uint8_t(info[0].As<Napi::Number>().Uint32Value()), info[1].As<Napi::Number>().Uint32Value(),
                       info[2].As<Napi::Number>().Uint32Value(), std::move(payload), info[4].ToBoolean(),
                       info.Length() > 5 && info[5].ToBoolean(), !(info.Length() > 6 && info[6].ToBoolean()));
    return env.Undefined();
  }

  Napi::Value OpenSink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    if (throwIf(env, info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber(),
                "openSink(object, fd, size)")) return env.Undefined();
    int err = loop_->openSink(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Int32Value(),
                              uint64_t(info[2].As<Napi::Number>().DoubleValue()));
    return Napi::Number::New(env, err);
  }

  Napi::Value CloseSink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!loop_ || throwIf(env, !info[0].IsNumber(), "closeSink(object)")) return env.Undefined();
    return Napi::Number::New(env, double(loop_->closeSink(info[0].As<Napi::Number>().Uint32Value())));
  }

  Napi::Value SinkMissing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!loop_ || throwIf(env, !info[0].IsNumber() || !info[1].IsNumber(), "sinkMissing(object, maxRuns)"))
      return env.Undefined();
    std::vector<std::pair<uint32_t, uint32_t>> runs;
    int64_t m = loop_->sinkMissing(info[0].As<Napi::Number>().Uint32Value(),
                                   info[1].As<Napi::Number>().Uint32Value(), &runs);
    if (m < 0) return env.Null();
    Napi::Uint32Array a = Napi::Uint32Array::New(env, runs.size() * 2);
    for (size_t i = 0; i < runs.size(); i++) { a[2 * i] = runs[i].first; a[2 * i + 1] = runs[i].second; }
    Napi::Object o = Napi::Object::New(env);
    o.Set("missing", Napi::Number::New(env, double(m)));
    o.Set("runs", a);
    return o;
  }

  Napi::Value SetRate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env) || throwIf(env, !info[0].IsNumber(), "setRate(bps)")) return env.Undefined();
    loop_->setRate(uint64_t(info[0].As<Napi::Number>().DoubleValue()));
    return env.Undefined();
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    if (!loop_) return o;
    const Stats& s = loop_->stats();
#define STAT(f) o.Set(#f, Napi::Number::New(env, double(s.f.load())))
    STAT(pktsSent); STAT(bytesSent); STAT(dataSent); STAT(ctlSent); STAT(sendErrors);
    STAT(pktsRecv); STAT(dataExpected); STAT(dataRecv); STAT(dataNew); STAT(dataDup); STAT(dataStray);
    STAT(badAuth); STAT(ownEcho); STAT(badFormat); STAT(ctlRecv); STAT(recvBatches);
    STAT(paritySent); STAT(parityRecv); STAT(fecRecovered); STAT(lateNs); STAT(idleNs);
#undef STAT
    return o;
  }

  Napi::Value HasMaster(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), loop_ && loop_->hasMaster());
  }

  Napi::Value LocalPort(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), loop_->localPort());
  }

  Napi::Value Wake(const Napi::CallbackInfo& info) {
    if (loop_ && !released_) loop_->wake();
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<PageLoop> loop_;
  Napi::Env::CleanupHook<void (*)(LoopWrap*), LoopWrap> cleanup_;
  bool exited_ = false;
  Napi::ThreadSafeFunction tsfn_;
  std::atomic<bool> pending_{false};
  bool released_ = false;
};

// seal(key, sender, type, object, index, payload[, counter]) -> Buffer
Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 6 || !info[0].IsBuffer() || !info[5].IsBuffer(),
              "seal(key, sender, type, object, index, payload)")) return env.Undefined();
  for (int i = 1; i <= 4; i++) if (throwIf(env, !info[i].IsNumber(), "seal: numeric field")) return env.Undefined();
  const uint32_t sender = info[1].As<Napi::Number>().Uint32Value(), type = info[2].As<Napi::Number>().Uint32Value();
  if (throwIf(env, type > 31, "seal: type is 5 bits")) return env.Undefined();
  if (throwIf(env, isPageType(uint8_t(type)) && sender != 0, "seal: pages are the master's (sender 0)")) return env.Undefined();
  std::string payload = bufferBytes(info[5]);
  if (throwIf(env, payload.size() > kMaxDatagram - kOverhead, "seal: payload too large")) return env.Undefined();
  Header h;
  h.sender = uint16_t(sender);
  h.type = uint8_t(type);
  h.object = info[3].As<Napi::Number>().Uint32Value();
  h.index = info[4].As<Napi::Number>().Uint32Value();
  const bool encrypt = info.Length() > 6 && info[6].IsNumber();  // 7th argument: AES-GCM counter
  std::string out(kHeaderLen, '\0');
  uint8_t tag[kTagLen];
  if (encrypt) {
    encodeHeader(h, reinterpret_cast<uint8_t*>(&out[0]));
    uint8_t ctr[kCtrLen];
    Aead aead(bufferBytes(info[0]));
    aead.seal(reinterpret_cast<const uint8_t*>(out.data()), uint64_t(info[6].As<Napi::Number>().Int64Value()), ctr,
              reinterpret_cast<uint8_t*>(&payload[0]), payload.size(), tag);
    out.append(reinterpret_cast<char*>(ctr), kCtrLen);
    out += payload;
  } else {
    encodeHeader(h, reinterpret_cast<uint8_t*>(&out[0]));
    out += payload;
    Auth auth(bufferBytes(info[0]));
    auth.tag(reinterpret_cast<const uint8_t*>(out.data()), out.size(), nullptr, 0, tag);
  }
  out.append(reinterpret_cast<char*>(tag), kTagLen);
  return Napi::Buffer<char>::Copy(env, out.data(), out.size());
}

// open(key, datagram[, encrypted]) -> {type, sender, object, index, payload} or {error}
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsBuffer(), "open(key, datagram)"))
    return env.Undefined();
  std::string pkt = bufferBytes(info[1]);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(pkt.data());
  Napi::Object o = Napi::Object::New(env);
  Header h;
  if (!decodeHeader(p, pkt.size(), &h)) { o.Set("error", "format"); return o; }
  size_t skip = 0;
  if (info.Length() > 2 && info[2].ToBoolean()) {  // encrypted session
    Aead aead(bufferBytes(info[0]));
    if (h.length < kCtrLen || !aead.open(reinterpret_cast<uint8_t*>(&pkt[0]), pkt.size())) { o.Set("error", "auth"); return o; }
    skip = kCtrLen;
    h.length = uint16_t(h.length - kCtrLen);
  } else {
    Auth auth(bufferBytes(info[0]));
    if (!auth.verify(p, pkt.size())) { o.Set("error", "auth"); return o; }
  }
  o.Set("type", h.type);
  o.Set("sender", h.sender);
  o.Set("object", Napi::Number::New(env, h.object));
  o.Set("index", Napi::Number::New(env, h.index));
  o.Set("payload", Napi::Buffer<char>::Copy(env, pkt.data() + kHeaderLen + skip, h.length));
  return o;
}

// setTimes(pathBuffer | fd, sec, nsec, nofollow): mtime to the nanosecond, atime now
// The times for utimensat/futimens: atime now, mtime sec + nsec.
static void nowAndMtime(timespec ts[2], const Napi::Value& sec, const Napi::Value& nsec) {
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_NOW;
  ts[1].tv_sec = time_t(sec.As<Napi::Number>().Int64Value());
  ts[1].tv_nsec = long(nsec.As<Napi::Number>().Int64Value());
}

Napi::Value SetTimes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 4 || !(info[0].IsBuffer() || info[0].IsNumber()) || !info[1].IsNumber() ||
                       !info[2].IsNumber(), "setTimes(path|fd, sec, nsec, nofollow)")) return env.Undefined();
  timespec ts[2];
  nowAndMtime(ts, info[1], info[2]);
  int r;
  if (info[0].IsNumber()) {
    r = futimens(info[0].As<Napi::Number>().Int32Value(), ts);
  } else {
    std::string p = bufferBytes(info[0]);
    if (throwIf(env, p.find('\0') != std::string::npos, "setTimes: NUL in path")) return env.Undefined();
    r = utimensat(AT_FDCWD, p.c_str(), ts, info[3].ToBoolean() ? AT_SYMLINK_NOFOLLOW : 0);
  }
  if (r != 0) {
    int e = errno;
    Napi::Error err = Napi::Error::New(env, std::string("utimensat: ") + strerror(e));
    err.Set("code", Napi::String::New(env, e == ENOENT ? "ENOENT" : e == EPERM ? "EPERM" : e == EACCES ? "EACCES" : e == EROFS ? "EROFS" : "EIO"));
    err.Set("errno", Napi::Number::New(env, e));
    err.Set("syscall", Napi::String::New(env, "utimensat"));
    err.ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// clearRuns(bitmapBytes, nbits, maxRuns) -> Uint32Array of (start, length)
// pairs of clear bits; bit i is byte i/8, bit i%8 (LSB first).
Napi::Value ClearRuns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsNumber(),
              "clearRuns(bitmap, nbits, maxRuns)")) return env.Undefined();
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  uint32_t nbits = info[1].As<Napi::Number>().Uint32Value();
  if (throwIf(env, (uint64_t(nbits) + 7) / 8 > b.Length(), "clearRuns: bitmap shorter than nbits")) return env.Undefined();
  Bitmap bm(nbits);
  for (uint32_t i = 0; i < nbits; i++)
    if (b.Data()[i >> 3] & (1u << (i & 7))) bm.set(i);
  auto runs = bm.clearRuns(info[2].As<Napi::Number>().Uint32Value());
  Napi::Uint32Array a = Napi::Uint32Array::New(env, runs.size() * 2);
  for (size_t i = 0; i < runs.size(); i++) { a[2 * i] = runs[i].first; a[2 * i + 1] = runs[i].second; }
  Napi::Object o = Napi::Object::New(env);
  o.Set("runs", a);
  o.Set("count", Napi::Number::New(env, bm.count()));
  return o;
}

// openBeneath(dirfd, pathBuffer, flags, mode) -> fd, or -errno. openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: the path may
// not leave dirfd's tree and no component may be a symlink, checked by the
// kernel at the moment of the call (a symlink swapped in meanwhile is ELOOP).
Napi::Value OpenBeneath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 4 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber() ||
                       !info[3].IsNumber(), "openBeneath(dirfd, path, flags, mode)")) return env.Undefined();
  std::string p = bufferBytes(info[1]);
  if (p.find('\0') != std::string::npos) return Napi::Number::New(env, -EINVAL);
  open_how how{};
  how.flags = uint64_t(uint32_t(info[2].As<Napi::Number>().Int32Value())) | O_CLOEXEC;
  how.mode = (how.flags & (O_CREAT | O_TMPFILE)) ? uint64_t(info[3].As<Napi::Number>().Uint32Value() & 07777) : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  // EAGAIN: a concurrent rename made the kernel unsure; retry a bounded number of times
  for (int tries = 0; tries < 16; tries++) {
    fd = syscall(SYS_openat2, info[0].As<Napi::Number>().Int32Value(), p.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != EINTR && errno != EAGAIN)) break;
  }
  return Napi::Number::New(env, fd < 0 ? -errno : double(fd));
}

// commitFile(fd, chown, uid, gid, mode, mtimeSec, mtimeNsec, dirfd, tmp, final)
// -> 0, or -(step << 16 | errno): a received temp file's last steps in one
// call (the catcher's per-file cost is mostly calls like these): owner (if
// chown; it clears setuid/setgid, so before the mode), mode, mtime (atime
// now), close (always, whatever failed), then rename tmp to final within
// dirfd (both single components). Steps: 1 fchown, 2 fchmod, 3 futimens,
// 4 close, 5 renameat.
Napi::Value CommitFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 10 || !info[0].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() ||
                       !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsNumber() || !info[7].IsNumber() ||
                       !info[8].IsBuffer() || !info[9].IsBuffer(),
              "commitFile(fd, chown, uid, gid, mode, sec, nsec, dirfd, tmp, final)")) return env.Undefined();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  std::string from = bufferBytes(info[8]), to = bufferBytes(info[9]);
  auto component = [](const std::string& n) {
    return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
  };
  int step = 0, err = 0;
  auto fail = [&](int st) { if (!step) { step = st; err = errno; } };
  if (info[1].ToBoolean() &&
      fchown(fd, uid_t(info[2].As<Napi::Number>().Uint32Value()), gid_t(info[3].As<Napi::Number>().Uint32Value())) != 0)
    fail(1);
  if (!step && fchmod(fd, mode_t(info[4].As<Napi::Number>().Uint32Value() & 07777)) != 0) fail(2);
  timespec ts[2];
  nowAndMtime(ts, info[5], info[6]);
  if (!step && futimens(fd, ts) != 0) fail(3);
  if (close(fd) != 0) fail(4);
  if (!step) {
    const int dfd = info[7].As<Napi::Number>().Int32Value();
    if (!component(from) || !component(to)) { step = 5; err = EINVAL; }
    else if (renameat(dfd, from.c_str(), dfd, to.c_str()) != 0) fail(5);
  }
  return Napi::Number::New(env, step ? -double((step << 16) | err) : 0);
}

// raiseFdLimit() -> the soft RLIMIT_NOFILE after raising it to the hard
// limit (a catcher holds three descriptors per file in flight, and the
// window goes to 1024 files; many systems start processes at 1024).
Napi::Value RaiseFdLimit(const Napi::CallbackInfo& info) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) getrlimit(RLIMIT_NOFILE, &r);
  }
  return Napi::Number::New(info.Env(), r.rlim_cur == RLIM_INFINITY ? -1 : double(r.rlim_cur));
}

// lstatAt(dirfd, name, out Float64Array(10 or 11)) -> 0, or -errno: fstatat
// without following name (a single component) in the directory dirfd.
// out: st_mode, size, uid, gid,
// mtime s, mtime ns, ino and dev (each as high 32 bits, low 32 bits), and
// st_nlink if out has room for it.
Napi::Value LstatAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsTypedArray() ||
                       info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
                       info[2].As<Napi::Float64Array>().ElementLength() < 10, "lstatAt(dirfd, name, Float64Array(10))")) {
    return env.Undefined();
  }
  std::string n = bufferBytes(info[1]);
  if (n.empty() || n.find('/') != std::string::npos || n.find('\0') != std::string::npos) return Napi::Number::New(env, -EINVAL);
  struct stat st;
  if (fstatat(info[0].As<Napi::Number>().Int32Value(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Napi::Number::New(env, -errno);
  double* o = info[2].As<Napi::Float64Array>().Data();
  if (info[2].As<Napi::Float64Array>().ElementLength() >= 11) o[10] = double(st.st_nlink);
  o[0] = double(st.st_mode);
  o[1] = double(st.st_size);
  o[2] = double(st.st_uid);
  o[3] = double(st.st_gid);
  o[4] = double(st.st_mtim.tv_sec);
  o[5] = double(st.st_mtim.tv_nsec);
  o[6] = double(uint64_t(st.st_ino) >> 32);
  o[7] = double(uint64_t(st.st_ino) & 0xffffffffu);
  o[8] = double(uint64_t(st.st_dev) >> 32);
  o[9] = double(uint64_t(st.st_dev) & 0xffffffffu);
  return Napi::Number::New(env, 0);
}

// multicastSource(family, group, port, ifname) -> the address datagrams to the group leave from (pageloop.h)
Napi::Value MulticastSource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 4 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsString(),
              "multicastSource(family, group, port, ifname)")) return env.Undefined();
  try {
    return Napi::String::New(env, multicastSource(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value(),
                                                  info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::String>().Utf8Value()));
  } catch (const LoopError& e) {
    throwLoopError(env, e);
    return env.Undefined();
  }
}

Napi::Value MonoNs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(monoNs()));
}

// The erasure code on its own, for tests: fecEncode(pages, j, len) -> the
// parity page j of pages (each zero-padded to len bytes).
Napi::Value FecEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 3 || !info[0].IsArray() || !info[1].IsNumber() || !info[2].IsNumber(),
              "fecEncode(pages, parityIndex, len)")) return env.Undefined();
  auto arr = info[0].As<Napi::Array>();
  uint32_t kb = arr.Length(), j = info[1].As<Napi::Number>().Uint32Value();
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  if (throwIf(env, kb == 0 || kb > fec::kBlock || j >= fec::kMaxParity || len == 0 || len > 65536, "fecEncode: out of range"))
    return env.Undefined();
  std::vector<std::string> pages(kb);
  for (uint32_t i = 0; i < kb; i++) {
    if (throwIf(env, !arr.Get(i).IsBuffer(), "fecEncode: pages must be Buffers")) return env.Undefined();
    pages[i] = bufferBytes(arr.Get(i));
    if (throwIf(env, pages[i].size() > len, "fecEncode: page longer than len")) return env.Undefined();
    pages[i].resize(len, '\0');
  }
  std::vector<const uint8_t*> ptr(kb);
  for (uint32_t i = 0; i < kb; i++) ptr[i] = reinterpret_cast<const uint8_t*>(pages[i].data());
  auto out = Napi::Buffer<uint8_t>::New(env, len);
  fec::encode(ptr.data(), kb, j, out.Data(), len);
  return out;
}

// fecRecover(pages (Buffer|null)[], parity [[j, Buffer]], len) -> the null
// pages rebuilt, in order; needs as many parity pages as nulls.
Napi::Value FecRecover(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 3 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsNumber(),
              "fecRecover(pages, parity, len)")) return env.Undefined();
  auto arr = info[0].As<Napi::Array>();
  auto par = info[1].As<Napi::Array>();
  uint32_t kb = arr.Length();
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  if (throwIf(env, kb == 0 || kb > fec::kBlock || len == 0 || len > 65536, "fecRecover: out of range")) return env.Undefined();
  std::vector<std::string> pages(kb);
  std::vector<uint32_t> missing;
  for (uint32_t i = 0; i < kb; i++) {
    Napi::Value v = arr.Get(i);
    if (v.IsBuffer()) pages[i] = bufferBytes(v);
    else missing.push_back(i);
    if (throwIf(env, pages[i].size() > len, "fecRecover: page longer than len")) return env.Undefined();
    pages[i].resize(len, '\0');
  }
  std::vector<std::string> pbytes(par.Length());
  std::vector<std::pair<uint32_t, const uint8_t*>> use;
  for (uint32_t r = 0; r < par.Length() && use.size() < missing.size(); r++) {
    Napi::Value pv = par.Get(r);
    if (throwIf(env, !pv.IsArray(), "fecRecover: parity entries are [j, Buffer]")) return env.Undefined();
    auto pair = pv.As<Napi::Array>();
    if (throwIf(env, !pair.Get(0u).IsNumber() || !pair.Get(1u).IsBuffer(), "fecRecover: parity entries are [j, Buffer]"))
      return env.Undefined();
    pbytes[r] = bufferBytes(pair.Get(1u));
    if (throwIf(env, pbytes[r].size() != len, "fecRecover: parity page length must be len")) return env.Undefined();
    use.emplace_back(pair.Get(0u).As<Napi::Number>().Uint32Value(), reinterpret_cast<const uint8_t*>(pbytes[r].data()));
  }
  if (throwIf(env, use.size() < missing.size(), "fecRecover: fewer parity pages than missing pages")) return env.Undefined();
  std::vector<uint8_t*> ptr(kb);
  for (uint32_t i = 0; i < kb; i++) ptr[i] = reinterpret_cast<uint8_t*>(&pages[i][0]);
  if (throwIf(env, !fec::recover(ptr.data(), kb, missing, use, len), "fecRecover: bad parity indices")) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, missing.size());
  for (size_t c = 0; c < missing.size(); c++)
    out.Set(uint32_t(c), Napi::Buffer<char>::Copy(env, pages[missing[c]].data(), len));
  return out;
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("fecEncode", Napi::Function::New(env, FecEncode));
  exports.Set("fecRecover", Napi::Function::New(env, FecRecover));
  exports.Set("FEC_BLOCK", Napi::Number::New(env, double(fec::kBlock)));
  exports.Set("FEC_MAX_PARITY", Napi::Number::New(env, double(fec::kMaxParity)));
  exports.Set("PageLoop", LoopWrap::Init(env));
  exports.Set("EVENT_FIELDS", Napi::Number::New(env, double(kEventFields)));
  exports.Set("seal", Napi::Function::New(env, Seal));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("monoNs", Napi::Function::New(env, MonoNs));
  exports.Set("multicastSource", Napi::Function::New(env, MulticastSource));
  exports.Set("clearRuns", Napi::Function::New(env, ClearRuns));
  exports.Set("setTimes", Napi::Function::New(env, SetTimes));
  exports.Set("openBeneath", Napi::Function::New(env, OpenBeneath));
  exports.Set("commitFile", Napi::Function::New(env, CommitFile));
  exports.Set("raiseFdLimit", Napi::Function::New(env, RaiseFdLimit));
  exports.Set("lstatAt", Napi::Function::New(env, LstatAt));
  exports.Set("O_PATH", Napi::Number::New(env, double(O_PATH)));
  exports.Set("overhead", Napi::Number::New(env, double(kOverhead)));
  return exports;
}

}  // namespace

NODE_API_MODULE(mrsync_native, InitAll)
