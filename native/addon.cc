// The N-API wrap of the socket loop (PageLoop, pageloop.h): options in,
// batches of events out through one thread-safe function, and the few
// module-level values the loader needs. Options are validated in TypeScript
// (src/native.ts); here we only check types. File-system calls are in
// fsops.cc, test probes in probes.cc.
#include <atomic>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "fec.h"
#include "napi_util.h"
#include "pageloop.h"
#include "wire.h"

using namespace mrsync;

namespace {

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
      InstanceMethod("stampArrivals", &LoopWrap::StampArrivals),
      InstanceMethod("stats", &LoopWrap::GetStats),
      InstanceMethod("hasMaster", &LoopWrap::HasMaster),
      InstanceMethod("localPort", &LoopWrap::LocalPort),
      InstanceMethod("setLoopback", &LoopWrap::SetLoopback),
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
    if (o.Get("rejoinMs").IsNumber()) opts.rejoinMs = long(num("rejoinMs"));
    if (o.Get("gso").IsBoolean()) opts.gso = o.Get("gso").ToBoolean();
    if (o.Get("boost").IsBoolean()) opts.boost = o.Get("boost").ToBoolean();
    if (o.Get("master").IsString()) opts.master = o.Get("master").As<Napi::String>().Utf8Value();
    if (o.Get("masterPort").IsNumber()) opts.masterPort = int(num("masterPort"));

    // A constructor that throws has its object deleted at once (node-addon-api
    // without C++ exceptions), while the thread-safe function's finalizer runs
    // later: it unreferences the object only once the object is whole (the
    // socket bound and the thread started), never a deleted one (a push whose
    // answer port was taken crashed so, after its error message).
    auto whole = std::make_shared<LoopWrap*>(nullptr);
    try {
      loop_.reset(new PageLoop(opts, [this] { Notify(); }));
    } catch (const LoopError& e) {
      throwLoopError(env, e);
      return;
    } catch (const std::exception& e) {
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
      return;
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "mrsync-pageloop", 0, 1,
                                          [whole](Napi::Env) { if (*whole) (*whole)->Unref(); });
    released_ = false;
    try {
      loop_->start();
    } catch (const std::exception& e) {
      tsfn_.Release();
      released_ = true;
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
      return;
    }
    Ref();  // alive until the thread-safe function is finalized
    *whole = this;
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
        // a job's memory (sendPages from a Buffer) is the loop's no longer once its end is told
        if (e.kind == EventKind::JobSent || e.kind == EventKind::JobError) held_.erase(e.index);
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
    if (loop_) loop_->stop();  // joined: no job reads its memory any more
    held_.clear();
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
    if (throwIf(env, info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() ||
                         !(info[2].IsNumber() || info[2].IsBuffer()) || !info[3].IsNumber(),
                "sendPages(job, object, fd|Buffer, size, runs|null, parity?, urgent?, hash?)")) return env.Undefined();
    uint32_t job = info[0].As<Napi::Number>().Uint32Value();
    uint32_t object = info[1].As<Napi::Number>().Uint32Value();
    uint64_t size = uint64_t(info[3].As<Napi::Number>().DoubleValue());
    // the pages in a Buffer (a pack of small files): held here until the job's end is told (Notify)
    int fd = -1;
    const uint8_t* mem = nullptr;
    if (info[2].IsBuffer()) {
      auto b = info[2].As<Napi::Buffer<uint8_t>>();
      if (throwIf(env, b.Length() < size, "sendPages: the Buffer is shorter than size") ||
          throwIf(env, held_.count(job) != 0, "sendPages: job id already in use")) return env.Undefined();
      mem = b.Data();
    } else {
      fd = info[2].As<Napi::Number>().Int32Value();
    }
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
    std::vector<ParityRun> parity;
    if (info.Length() > 5 && info[5].IsTypedArray()) {
      auto a = info[5].As<Napi::Uint32Array>();
      if (throwIf(env, a.TypedArrayType() != napi_uint32_array || a.ElementLength() % 3,
                  "parity must be a Uint32Array of (block, first, count) triples"))
        return env.Undefined();
      uint64_t blocks = (loop_->pageCount(size) + fec::kBlock - 1) / fec::kBlock;
      for (size_t i = 0; i + 2 < a.ElementLength(); i += 3) {
        ParityRun r{a[i], a[i + 1], a[i + 2]};
        if (throwIf(env, r.block >= blocks || r.block >= fec::kMaxBlocks || uint64_t(r.first) + r.count > fec::kMaxParity,
                    "parity run out of range")) return env.Undefined();
        parity.push_back(r);
      }
    }
    if (mem) held_.emplace(job, Napi::Persistent(info[2]));
    loop_->sendPages(job, object, fd, size, std::move(runs), std::move(parity), info.Length() > 6 && info[6].ToBoolean(),
                     info.Length() > 7 && info[7].ToBoolean(), !(info.Length() > 8 && info[8].ToBoolean()), mem);
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

  Napi::Value StampArrivals(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    loop_->stampArrivals(info[0].ToBoolean());
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
    STAT(paritySent); STAT(parityRecv); STAT(fecRecovered); STAT(lateNs); STAT(idleNs); STAT(dataWire);
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

  Napi::Value SetLoopback(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), loop_->setLoopback(info[0].ToBoolean()));
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
  std::unordered_map<uint32_t, Napi::Reference<Napi::Value>> held_;  // Buffers of jobs out (sendPages), by job id
  Napi::Env::CleanupHook<void (*)(LoopWrap*), LoopWrap> cleanup_;
  bool exited_ = false;
  Napi::ThreadSafeFunction tsfn_;
  std::atomic<bool> pending_{false};
  bool released_ = true;  // no thread-safe function yet
};

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

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("FEC_BLOCK", Napi::Number::New(env, double(fec::kBlock)));
  exports.Set("FEC_MAX_PARITY", Napi::Number::New(env, double(fec::kMaxParity)));
  exports.Set("PageLoop", LoopWrap::Init(env));
  exports.Set("EVENT_FIELDS", Napi::Number::New(env, double(kEventFields)));
  exports.Set("monoNs", Napi::Function::New(env, MonoNs));
  exports.Set("multicastSource", Napi::Function::New(env, MulticastSource));
  initFsOps(env, exports);
  initProbes(env, exports);
  exports.Set("overhead", Napi::Number::New(env, double(kOverhead)));
  return exports;
}

}  // namespace

NODE_API_MODULE(mrsync_native, InitAll)
