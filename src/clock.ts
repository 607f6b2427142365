/**
 * Milliseconds on the monotonic clock, counted from the wall clock's reading
 * at this process's start. Every interval mrsync times (silence past -w,
 * rate reports, timeouts, the report's seconds) is taken on it: a step of
 * the wall clock (NTP stepping it, a VM resumed) moves none of them. Not for
 * times kept across runs (ratecache.ts) or shown as dates.
 */
const origin = performance.timeOrigin;
const perf = performance;
export const nowMs = (): number => origin + perf.now();
