// Test probes: the packet codec, the bitmap's runs and the erasure code on
// their own, for unit tests and the e2e scenarios' hostile hosts. Nothing in
// src/ calls them.
#include <string>
#include <vector>

#include "bitmap.h"
#include "fec.h"
#include "napi_util.h"
#include "wire.h"

namespace mrsync {

namespace {

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

// fecKernels() -> the multiply-add kernels this CPU can run, the default first
Napi::Value FecKernels(const Napi::CallbackInfo& info) {
  auto names = fec::kernels();
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); i++) out.Set(uint32_t(i), Napi::String::New(info.Env(), names[i]));
  return out;
}

// fecUseKernel(name) -> whether this CPU can run it (it is then used)
Napi::Value FecUseKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 1 || !info[0].IsString(), "fecUseKernel(name)")) return env.Undefined();
  return Napi::Boolean::New(env, fec::useKernel(info[0].As<Napi::String>().Utf8Value()));
}

}  // namespace

void initProbes(Napi::Env env, Napi::Object exports) {
  exports.Set("seal", Napi::Function::New(env, Seal));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("clearRuns", Napi::Function::New(env, ClearRuns));
  exports.Set("fecEncode", Napi::Function::New(env, FecEncode));
  exports.Set("fecRecover", Napi::Function::New(env, FecRecover));
  exports.Set("fecKernels", Napi::Function::New(env, FecKernels));
  exports.Set("fecUseKernel", Napi::Function::New(env, FecUseKernel));
}

}  // namespace mrsync
