// File-system calls the catcher and the master's source reader make beneath
// a directory descriptor, and the few that need nanoseconds or batching:
// openat2 with no symlink followed, fstatat into a typed array, a received
// file's last steps in one call, utimensat to the nanosecond.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "napi_util.h"

namespace mrsync {

namespace {

// setTimes(pathBuffer | fd, sec, nsec, nofollow): mtime to the nanosecond, atime now
// The times for utimensat/futimens: atime now, mtime sec + nsec.
void nowAndMtime(timespec ts[2], const Napi::Value& sec, const Napi::Value& nsec) {
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

// Kernels before 5.6 have no openat2 (RHEL 8, Ubuntu 20.04): the same walk
// made one component at a time, each opened beneath the one before with
// O_NOFOLLOW (O_PATH | O_DIRECTORY for directories), so no symlink is ever
// followed and nothing outside dirfd's tree is reached: a symlink component
// is ELOOP as openat2 says it, ".." is EXDEV (the callers never send one).
// Chosen once, when openat2 says ENOSYS (or always with MRSYNC_NO_OPENAT2=1,
// for the tests).
bool noOpenat2 = getenv("MRSYNC_NO_OPENAT2") != nullptr && getenv("MRSYNC_NO_OPENAT2")[0] == '1';

// One component name in dir: opened with flags (O_NOFOLLOW added); a symlink is ELOOP.
long openComponent(int dir, const char* name, int flags, mode_t mode) {
  int fd;
  do { fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode); } while (fd < 0 && errno == EINTR);
  if (fd >= 0) return fd;
  int e = errno;
  struct stat st;
  // O_PATH | O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR; openat2 says ELOOP: so does this
  if (e == ENOTDIR && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) e = ELOOP;
  return -e;
}

long openWalk(int dirfd, const std::string& p, int flags, mode_t mode) {
  std::vector<std::string> parts;
  for (size_t i = 0; i <= p.size();) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string c = p.substr(i, j - i);
    if (c == "..") return -EXDEV;
    if (!c.empty() && c != ".") parts.push_back(c);
    i = j + 1;
  }
  if (!p.empty() && p[0] == '/') return -EXDEV; // absolute: not beneath
  if (parts.empty()) parts.push_back(".");
  int cur = dirfd;
  long fd = -1;
  for (size_t k = 0; k < parts.size(); k++) {
    bool last = k + 1 == parts.size();
    fd = last ? openComponent(cur, parts[k].c_str(), flags, mode) : openComponent(cur, parts[k].c_str(), O_PATH | O_DIRECTORY, 0);
    if (cur != dirfd) close(cur);
    if (fd < 0) return fd;
    if (!last) cur = int(fd);
  }
  return fd;
}

// openBeneath(dirfd, pathBuffer, flags, mode) -> fd, or -errno. openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: the path may
// not leave dirfd's tree and no component may be a symlink, checked by the
// kernel at the moment of the call (a symlink swapped in meanwhile is ELOOP);
// openWalk where the kernel has no openat2.
long openBeneathPath(int dirfd, const std::string& p, int flags, mode_t mode) {
  if (p.find('\0') != std::string::npos) return -EINVAL;
  open_how how{};
  how.flags = uint64_t(uint32_t(flags)) | O_CLOEXEC;
  how.mode = (how.flags & (O_CREAT | O_TMPFILE)) ? uint64_t(mode & 07777) : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  if (!noOpenat2) {
    long fd = -1;
    // EAGAIN: a concurrent rename made the kernel unsure; retry a bounded number of times
    for (int tries = 0; tries < 16; tries++) {
      fd = syscall(SYS_openat2, dirfd, p.c_str(), &how, sizeof how);
      if (fd >= 0 || (errno != EINTR && errno != EAGAIN)) break;
    }
    if (fd >= 0 || errno != ENOSYS) return fd < 0 ? -errno : fd;
    noOpenat2 = true;
  }
  return openWalk(dirfd, p, int(how.flags & ~uint64_t(O_CLOEXEC)), mode_t(how.mode));
}

Napi::Value OpenBeneath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 4 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber() ||
                       !info[3].IsNumber(), "openBeneath(dirfd, path, flags, mode)")) return env.Undefined();
  return Napi::Number::New(env, double(openBeneathPath(info[0].As<Napi::Number>().Int32Value(), bufferBytes(info[1]),
                                                       info[2].As<Napi::Number>().Int32Value(),
                                                       mode_t(info[3].As<Napi::Number>().Uint32Value()))));
}

// openat2Used() -> whether openBeneath uses openat2 (false: the walk of openWalk).
Napi::Value Openat2Used(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !noOpenat2);
}

// A single name within one directory: what a temp file and its final name must be.
bool isComponent(const std::string& n) {
  return !n.empty() && n.size() <= 255 && n != "." && n != ".." && n.find('/') == std::string::npos &&
         n.find('\0') == std::string::npos;
}

// A received file's last steps (the catcher's per-file cost is mostly calls
// like these): owner (if chown; it clears setuid/setgid, so before the
// mode), mode, mtime (atime now), close (always, whatever failed), then
// rename tmp to final within dirfd (both single components). Returns the step
// that failed, 0 if none (first, first + 1, ...: fchown, fchmod, futimens,
// close, renameat), with its errno in *err.
int finishFile(int fd, bool chown, uid_t uid, gid_t gid, mode_t mode, const timespec ts[2], int dirfd,
               const std::string& from, const std::string& to, int first, int* err) {
  int step = 0;
  auto fail = [&](int st) { if (!step) { step = first + st; *err = errno; } };
  if (chown && fchown(fd, uid, gid) != 0) fail(0);
  if (!step && fchmod(fd, mode & 07777) != 0) fail(1);
  if (!step && futimens(fd, ts) != 0) fail(2);
  if (close(fd) != 0) fail(3);
  if (!step) {
    if (!isComponent(from) || !isComponent(to)) { step = first + 4; *err = EINVAL; }
    else if (renameat(dirfd, from.c_str(), dirfd, to.c_str()) != 0) fail(4);
  }
  return step;
}

// commitFile(fd, chown, uid, gid, mode, mtimeSec, mtimeNsec, dirfd, tmp, final,
// step Int32Array(1)) -> 0, or -errno: finishFile for one received temp
// file. The step that failed goes to step[0]: 1 fchown, 2 fchmod, 3
// futimens, 4 close, 5 renameat.
Napi::Value CommitFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 11 || !info[0].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() ||
                       !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsNumber() || !info[7].IsNumber() ||
                       !info[8].IsBuffer() || !info[9].IsBuffer() || !info[10].IsTypedArray() ||
                       info[10].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
                       info[10].As<Napi::Int32Array>().ElementLength() < 1,
              "commitFile(fd, chown, uid, gid, mode, sec, nsec, dirfd, tmp, final, Int32Array(1))")) return env.Undefined();
  timespec ts[2];
  nowAndMtime(ts, info[5], info[6]);
  int err = 0;
  const int step = finishFile(info[0].As<Napi::Number>().Int32Value(), info[1].ToBoolean(),
                              uid_t(info[2].As<Napi::Number>().Uint32Value()), gid_t(info[3].As<Napi::Number>().Uint32Value()),
                              mode_t(info[4].As<Napi::Number>().Uint32Value()), ts, info[7].As<Napi::Number>().Int32Value(),
                              bufferBytes(info[8]), bufferBytes(info[9]), 1, &err);
  info[10].As<Napi::Int32Array>()[0] = step;
  return Napi::Number::New(env, step ? -double(err) : 0);
}

// placeFiles(bytes, meta Float64Array(10n), names, chown, out Int32Array(2n))
// -> how many were placed: n small files whose content is checked already
// (the members of a pack), each written whole from bytes into a temp file of
// its own and renamed into place, in one call instead of three per file.
// File i: meta[10i..] = dirfd, offset, size, uid, gid, mode, mtime s, mtime
// ns, name offset, name length (its final name, one component, in names);
// its temp file .NAME.mrsync.RANDOM (at most 200 bytes of NAME, as tempName
// makes it) is created O_EXCL beneath dirfd, mode 0600. out[2i] = the step
// that failed, 0 if none (1 open, 2 write, 3 fchown, 4 fchmod, 5 futimens,
// 6 close, 7 renameat), out[2i + 1] its errno. A file that fails after its
// temp file exists leaves no temp file behind.
Napi::Value PlaceFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 5 || !info[0].IsBuffer() || !info[1].IsTypedArray() ||
                       info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || !info[2].IsBuffer() ||
                       !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array,
              "placeFiles(bytes, Float64Array(10n), names, chown, Int32Array(2n))")) return env.Undefined();
  auto bytes = info[0].As<Napi::Buffer<uint8_t>>();
  auto meta = info[1].As<Napi::Float64Array>();
  auto names = info[2].As<Napi::Buffer<char>>();
  auto out = info[4].As<Napi::Int32Array>();
  const bool chown = info[3].ToBoolean();
  const size_t n = meta.ElementLength() / 10;
  if (throwIf(env, meta.ElementLength() % 10 != 0 || out.ElementLength() < 2 * n, "placeFiles: 10 numbers and 2 results per file"))
    return env.Undefined();
  std::vector<uint8_t> rnd(6 * n);
  for (size_t got = 0; got < rnd.size();) {
    ssize_t r = getrandom(rnd.data() + got, rnd.size() - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (throwIf(env, r <= 0, "placeFiles: getrandom failed")) return env.Undefined();
    got += size_t(r);
  }
  static const char hex[] = "0123456789abcdef";
  int placed = 0;
  for (size_t i = 0; i < n; i++) {
    const double* m = meta.Data() + 10 * i;
    const int dirfd = int(m[0]);
    const uint64_t off = uint64_t(m[1]), size = uint64_t(m[2]), noff = uint64_t(m[8]), nlen = uint64_t(m[9]);
    int step = 0, err = 0;
    std::string name;
    if (off > bytes.Length() || size > bytes.Length() - off || noff > names.Length() || nlen > names.Length() - noff) {
      step = 1;
      err = EINVAL;
    } else {
      name.assign(names.Data() + noff, nlen);
      if (!isComponent(name)) { step = 1; err = EINVAL; }
    }
    std::string tmp;
    if (!step) {
      tmp = "." + name.substr(0, 200) + ".mrsync.";
      for (int k = 0; k < 6; k++) { tmp += hex[rnd[6 * i + k] >> 4]; tmp += hex[rnd[6 * i + k] & 15]; }
    }
    long fd = step ? -1 : openBeneathPath(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (!step && fd < 0) { step = 1; err = int(-fd); }
    if (!step) {
      const uint8_t* p = bytes.Data() + off;
      for (uint64_t done = 0; done < size;) {
        ssize_t w = write(int(fd), p + done, size_t(size - done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { step = 2; err = w < 0 ? errno : ENOSPC; break; }
        done += uint64_t(w);
      }
      if (step) {
        close(int(fd));
      } else {
        timespec ts[2] = {{0, UTIME_NOW}, {time_t(m[6]), long(m[7])}};
        step = finishFile(int(fd), chown, uid_t(m[3]), gid_t(m[4]), mode_t(m[5]), ts, dirfd, tmp, name, 3, &err);
      }
      if (step) unlinkat(dirfd, tmp.c_str(), 0);
    }
    out[2 * i] = step;
    out[2 * i + 1] = err;
    if (!step) placed++;
  }
  return Napi::Number::New(env, placed);
}

// readFiles(dirfd, paths, meta Float64Array(3n), ids BigUint64Array(2n), dest,
// out Float64Array(2n)) -> bytes placed in dest: n small files of the source
// read whole into dest one after the other (a pack's contents), in one call
// instead of five per file. File i: its path beneath dirfd at meta[3i]
// (offset in paths), meta[3i + 1] (length), size meta[3i + 2] as the scan
// saw it, and the scan's device and inode ids[2i], ids[2i + 1]. Each is
// opened beneath dirfd (no symlink followed, no blocking on a FIFO), checked
// against the scan on its descriptor (a regular file, the same inode, the
// same size), read whole, and checked again (size, mtime, ctime) after the
// read: a file written meanwhile is not taken. out[2i] = 0 and out[2i + 1] =
// its offset in dest; or out[2i] = 1 not a regular file, 2 another inode,
// 3 another size (out[2i + 1] = that size), 4 shorter than its size when
// read, 5 changed while read; or 11 open, 12 fstat, 13 read failed with
// errno out[2i + 1]. A file that fails takes no room in dest.
Napi::Value ReadFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 6 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsTypedArray() ||
                       info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || !info[3].IsTypedArray() ||
                       info[3].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array || !info[4].IsBuffer() ||
                       !info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array,
              "readFiles(dirfd, paths, Float64Array(3n), BigUint64Array(2n), dest, Float64Array(2n))")) return env.Undefined();
  const int dirfd = info[0].As<Napi::Number>().Int32Value();
  auto paths = info[1].As<Napi::Buffer<char>>();
  auto meta = info[2].As<Napi::Float64Array>();
  auto ids = info[3].As<Napi::TypedArrayOf<uint64_t>>();
  auto dest = info[4].As<Napi::Buffer<uint8_t>>();
  auto out = info[5].As<Napi::Float64Array>();
  const size_t n = meta.ElementLength() / 3;
  if (throwIf(env, meta.ElementLength() % 3 != 0 || ids.ElementLength() < 2 * n || out.ElementLength() < 2 * n,
              "readFiles: 3 numbers, 2 ids and 2 results per file")) return env.Undefined();
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    const uint64_t poff = uint64_t(meta[3 * i]), plen = uint64_t(meta[3 * i + 1]), want = uint64_t(meta[3 * i + 2]);
    double code = 0, arg = 0;
    long fd = -EINVAL;
    if (poff <= paths.Length() && plen <= paths.Length() - poff && plen > 0)
      fd = openBeneathPath(dirfd, std::string(paths.Data() + poff, plen), O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    struct stat st, after;
    if (fd < 0) {
      code = 11;
      arg = double(-fd);
    } else if (fstat(int(fd), &st) != 0) {
      code = 12;
      arg = errno;
    } else if (!S_ISREG(st.st_mode)) {
      code = 1;
    } else if (uint64_t(st.st_dev) != ids[2 * i] || uint64_t(st.st_ino) != ids[2 * i + 1]) {
      code = 2;
    } else if (uint64_t(st.st_size) != want) {
      code = 3;
      arg = double(st.st_size);
    } else if (want > dest.Length() - used) {
      code = 13;
      arg = ENOBUFS;
    } else {
      uint64_t got = 0;
      while (got < want) {
        ssize_t r = pread(int(fd), dest.Data() + used + got, size_t(want - got), off_t(got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { code = 13; arg = errno; break; }
        if (r == 0) { code = 4; break; }
        got += uint64_t(r);
      }
      if (!code && (fstat(int(fd), &after) != 0 || after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
                    after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || after.st_ctim.tv_sec != st.st_ctim.tv_sec ||
                    after.st_ctim.tv_nsec != st.st_ctim.tv_nsec))
        code = 5;
    }
    if (fd >= 0) close(int(fd));
    if (!code) {
      arg = double(used);
      used += size_t(want);
    }
    out[2 * i] = code;
    out[2 * i + 1] = arg;
  }
  return Napi::Number::New(env, double(used));
}

// raiseFdLimit() -> the soft RLIMIT_NOFILE after raising it to the hard
// limit (a catcher holds two descriptors per file in flight, and the
// window goes to 1024 files; many systems start processes at 1024).
Napi::Value RaiseFdLimit(const Napi::CallbackInfo& info) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) getrlimit(RLIMIT_NOFILE, &r);
  }
  return Napi::Number::New(info.Env(), r.rlim_cur == RLIM_INFINITY ? -1 : double(r.rlim_cur));
}

// memfd() -> a descriptor of a new file in memory (memfd_create), or -errno:
// bytes a process keeps for a while (a pack of small files) without a file
// system's inode to allocate and free each time.
Napi::Value Memfd(const Napi::CallbackInfo& info) {
  const int fd = int(syscall(SYS_memfd_create, "mrsync", 1u /* MFD_CLOEXEC */));
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

// lockTemp(fd) -> 0, or -errno (EWOULDBLOCK: another open file holds it):
// flock(fd, LOCK_EX | LOCK_NB). A catcher holds its open temp files so (the
// lock goes with the process, however it ends), and removes a temp file it
// finds in a directory as an interrupted run's only if it can take it: one
// that another push into the same directory is writing is left alone.
Napi::Value LockTemp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 1 || !info[0].IsNumber(), "lockTemp(fd)")) return env.Undefined();
  int r;
  do r = flock(info[0].As<Napi::Number>().Int32Value(), LOCK_EX | LOCK_NB); while (r != 0 && errno == EINTR);
  return Napi::Number::New(env, r == 0 ? 0 : -errno);
}

// lstatAt(dirfd, name, out Float64Array(10 or 11)) -> 0, or -errno: fstatat
// without following name (a single component) in the directory dirfd.
// out: st_mode, size, uid, gid,
// mtime s, mtime ns, ino and dev (each as high 32 bits, low 32 bits), and
// st_nlink if out has room for it.
// o[0..9] (n numbers) as lstatAt documents; [10] st_nlink, [11] ctime s, [12] ctime ns where n has room for them.
void fillStat(const struct stat& st, double* o, size_t n) {
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
  if (n >= 11) o[10] = double(st.st_nlink);
  if (n >= 13) {
    o[11] = double(st.st_ctim.tv_sec);
    o[12] = double(st.st_ctim.tv_nsec);
  }
}

// The same into a JavaScript Float64Array (lstatAt, fstatInto): as many as it has room for.
void fillStat(const struct stat& st, Napi::Float64Array out) { fillStat(st, out.Data(), out.ElementLength()); }

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
  fillStat(st, info[2].As<Napi::Float64Array>());
  return Napi::Number::New(env, 0);
}

// listStat(dirfd) -> { names, stats }: a directory's entries in byte order
// of their names, each with its lstat, in one call (the scan's cost per
// entry was mostly a call per entry). names: the names, each ended by a NUL
// (a name holds no NUL); stats: 12 numbers per entry, lstatAt's 11 (mode,
// size, uid, gid, mtime s, ns, ino and dev as high and low 32 bits, nlink),
// then 0, or the errno of that entry's fstatat (its other numbers are then
// 0). '.' and '..' are left out. dirfd is read from its start and left open.
// { errno } if the directory cannot be read.
Napi::Value ListStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 1 || !info[0].IsNumber(), "listStat(dirfd)")) return env.Undefined();
  const int dirfd = info[0].As<Napi::Number>().Int32Value();
  std::vector<std::string> names;
  alignas(8) char buf[32768];
  int err = 0;
  if (lseek(dirfd, 0, SEEK_SET) < 0) err = errno;
  while (!err) {
    long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { err = errno; break; }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      struct Dirent64 { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[1]; };
      const auto* d = reinterpret_cast<const Dirent64*>(buf + at);
      at += d->reclen;
      if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0) continue;
      names.emplace_back(d->name);
    }
  }
  if (err) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("errno", Napi::Number::New(env, err));
    return r;
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    const int c = memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
    return c != 0 ? c < 0 : a.size() < b.size();
  });
  size_t total = 0;
  for (const auto& nm : names) total += nm.size() + 1;
  Napi::Buffer<char> out = Napi::Buffer<char>::New(env, total);
  Napi::Float64Array stats = Napi::Float64Array::New(env, names.size() * 12);
  size_t at = 0;
  for (size_t i = 0; i < names.size(); i++) {
    memcpy(out.Data() + at, names[i].c_str(), names[i].size() + 1);
    at += names[i].size() + 1;
    struct stat st;
    double* o = stats.Data() + 12 * i;
    if (fstatat(dirfd, names[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      o[11] = errno;
      continue;
    }
    fillStat(st, o, 11);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("names", out);
  r.Set("stats", stats);
  r.Set("errno", Napi::Number::New(env, 0));
  return r;
}

// fstatInto(fd, out Float64Array(13)) -> 0, or -errno: fstat of an open
// descriptor, as lstatAt fills out, then st_nlink, ctime s, ctime ns (a file
// being sent is checked against it as it is opened and when it is done,
// without the BigInt stat object of fs.fstatSync).
Napi::Value FstatInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (throwIf(env, info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
                       info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
                       info[1].As<Napi::Float64Array>().ElementLength() < 13, "fstatInto(fd, Float64Array(13))")) {
    return env.Undefined();
  }
  struct stat st;
  if (fstat(info[0].As<Napi::Number>().Int32Value(), &st) != 0) return Napi::Number::New(env, -errno);
  fillStat(st, info[1].As<Napi::Float64Array>());
  return Napi::Number::New(env, 0);
}

}  // namespace

void initFsOps(Napi::Env env, Napi::Object exports) {
  exports.Set("setTimes", Napi::Function::New(env, SetTimes));
  exports.Set("openBeneath", Napi::Function::New(env, OpenBeneath));
  exports.Set("openat2Used", Napi::Function::New(env, Openat2Used));
  exports.Set("commitFile", Napi::Function::New(env, CommitFile));
  exports.Set("placeFiles", Napi::Function::New(env, PlaceFiles));
  exports.Set("readFiles", Napi::Function::New(env, ReadFiles));
  exports.Set("raiseFdLimit", Napi::Function::New(env, RaiseFdLimit));
  exports.Set("memfd", Napi::Function::New(env, Memfd));
  exports.Set("lockTemp", Napi::Function::New(env, LockTemp));
  exports.Set("lstatAt", Napi::Function::New(env, LstatAt));
  exports.Set("listStat", Napi::Function::New(env, ListStat));
  exports.Set("fstatInto", Napi::Function::New(env, FstatInto));
  exports.Set("O_PATH", Napi::Number::New(env, double(O_PATH)));
}

}  // namespace mrsync
