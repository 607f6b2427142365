// Small helpers shared by the N-API files (addon.cc, fsops.cc, probes.cc).
#pragma once
#define NAPI_VERSION 8
#include <napi.h>

#include <string>

#include "pageloop.h"

namespace mrsync {

// Throws a TypeError with msg if bad; returns bad.
inline bool throwIf(Napi::Env env, bool bad, const char* msg) {
  if (bad) Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return bad;
}

inline void throwLoopError(Napi::Env env, const LoopError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  err.Set("errno", Napi::Number::New(env, e.err));
  err.ThrowAsJavaScriptException();
}

inline std::string bufferBytes(const Napi::Value& v) {
  auto b = v.As<Napi::Buffer<char>>();
  return std::string(b.Data(), b.Length());
}

// The addon's exports beyond the loop: file-system calls (fsops.cc) and
// test probes (probes.cc).
void initFsOps(Napi::Env env, Napi::Object exports);
void initProbes(Napi::Env env, Napi::Object exports);

}  // namespace mrsync
