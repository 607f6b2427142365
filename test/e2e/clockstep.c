// LD_PRELOAD shim for the clock-step scenario: the process's wall clock
// (CLOCK_REALTIME, gettimeofday, time) steps by CLOCK_STEP_MS once
// CLOCK_STEP_AFTER_MS have passed since it started, as when NTP (or a VM
// resumed) steps a machine's clock. The monotonic clocks do not move.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static int (*real_gettime)(clockid_t, struct timespec*);
static long long after_ns = -1, step_ns, start_ns;

static long long ns(const struct timespec* t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

__attribute__((constructor)) static void init(void) {
  real_gettime = (int (*)(clockid_t, struct timespec*))dlsym(RTLD_NEXT, "clock_gettime");
  const char *a = getenv("CLOCK_STEP_AFTER_MS"), *s = getenv("CLOCK_STEP_MS");
  struct timespec m;
  real_gettime(CLOCK_MONOTONIC, &m);
  start_ns = ns(&m);
  if (a && s) { after_ns = atoll(a) * 1000000LL; step_ns = atoll(s) * 1000000LL; }
}

int clock_gettime(clockid_t id, struct timespec* ts) {
  int r = real_gettime(id, ts);
  if (r == 0 && after_ns >= 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
    struct timespec m;
    real_gettime(CLOCK_MONOTONIC, &m);
    if (ns(&m) - start_ns >= after_ns) {
      long long v = ns(ts) + step_ns;
      ts->tv_sec = v / 1000000000LL;
      ts->tv_nsec = v % 1000000000LL;
    }
  }
  return r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  (void)tz;
  struct timespec ts;
  int r = clock_gettime(CLOCK_REALTIME, &ts);
  if (r == 0 && tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
  return r;
}

time_t time(time_t* t) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (t) *t = ts.tv_sec;
  return ts.tv_sec;
}
