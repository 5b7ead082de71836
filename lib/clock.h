/*
 * clock.h - the process's own clocks, read in one place: the monotonic clock
 * for deadlines and durations, and the system clock for time stamps that
 * other processes compare.
 *
 * The calling thread's CPU clock is here too, for the benchmarks' timed loops.
 *
 * Not the lab clock (lib/labclock.h): that one is the system time plus a
 * served directory's offset, for certificates, tickets and nonces; these
 * never move with a scenario's clock step.
 *
 * Every function is async-signal-safe (clock_gettime only) and cannot fail.
 */
#ifndef HGSLAB_LIB_CLOCK_H
#define HGSLAB_LIB_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (deadlines, poll budgets). */
int64_t hl_clock_ms(void);

/* Nanoseconds on the monotonic clock (latency samples, benchmark windows). */
uint64_t hl_clock_ns(void);

/* Seconds on the monotonic clock, to the nanosecond (durations reported in seconds). */
double hl_clock_s(void);

/* Milliseconds since the epoch on the system clock (stamps compared across processes). */
int64_t hl_clock_epoch_ms(void);

/* CPU time (user + system) the calling thread has used, in nanoseconds. */
uint64_t hl_clock_thread_cpu_ns(void);

#endif
