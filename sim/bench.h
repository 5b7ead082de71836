/*
 * bench.h - helpers shared by the `hgslab bench` benchmarks (sim/cmd_bench.c):
 * clocks, latency samples and their percentiles, the CPU time of another
 * process (an `hgs serve` child) read from /proc/PID/stat, timed loops that
 * measure a crypto floor, and output (progress on stderr, an aligned table
 * or JSON on stdout).
 *
 * The project's rule for speed targets: a benchmark reports its figures as a
 * ratio against a baseline it measures in the same run (e.g. HGS CPU per
 * attestation / the OpenSSL cost of the same signature operations), on the
 * same machine under the same load, never as an absolute time checked by a
 * unit test.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); release functions
 * are NULL-safe and leave the struct reusable.
 */
#ifndef HGSLAB_SIM_BENCH_H
#define HGSLAB_SIM_BENCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"

/* Nanoseconds on the monotonic clock. */
uint64_t hl_bench_now_ns(void);

/* CPU time (user + system) the calling thread has used, nanoseconds. */
uint64_t hl_bench_thread_cpu_ns(void);

/*
 * CPU time (utime + stime, every thread of the process, the exited ones
 * included) that process PID has used, from /proc/PID/stat, in nanoseconds.
 * The kernel counts it in clock ticks (sysconf(_SC_CLK_TCK), 10 ms here), so
 * measure windows long enough for that resolution not to matter.
 */
int hl_bench_proc_cpu_ns(pid_t pid, uint64_t *out);

/* A set of samples (latencies in ns, say); zero-initialise before use. */
struct hl_bench_samples {
	uint64_t *v;
	size_t n;
	size_t cap;
	int sorted;          /* v is sorted ascending (percentile queries sort it) */
};

/* Add one sample. */
int hl_bench_samples_add(struct hl_bench_samples *s, uint64_t value);

/* Add every sample of FROM to TO. */
int hl_bench_samples_merge(struct hl_bench_samples *to, const struct hl_bench_samples *from);

/*
 * The P-th percentile (0 < P <= 100) by nearest rank: the smallest sample
 * that at least P % of the samples do not exceed.  Sorts S.  0 when S is empty.
 */
uint64_t hl_bench_samples_percentile(struct hl_bench_samples *s, double p);

/* The arithmetic mean; 0 when S is empty. */
double hl_bench_samples_mean(const struct hl_bench_samples *s);

/* Free S's samples and reset it; NULL-safe. */
void hl_bench_samples_release(struct hl_bench_samples *s);

/* One operation timed in a loop, e.g. one RSA-2048 signature. */
typedef int (*hl_bench_op_fn)(void *arg);

/* What hl_bench_time_op measured. */
struct hl_bench_op {
	unsigned long ops;   /* calls timed (the untimed warm-up call is not counted) */
	uint64_t cpu_ns;     /* thread CPU time they took */
	uint64_t wall_ns;    /* monotonic time they took */
	double cpu_ns_per_op;
};

/*
 * Call FN(ARG) once untimed (warm-up), then in a loop until at least
 * MIN_CPU_NS of the calling thread's CPU time have gone by (and at least 10
 * calls were made); the clocks are read between batches, not per call.  FN
 * returns 0, or -1 after hl_error(), which stops the loop with that error.
 */
int hl_bench_time_op(hl_bench_op_fn fn, void *arg, uint64_t min_cpu_ns, struct hl_bench_op *out);

/* Print one progress line "hgslab bench: MESSAGE" on stderr (at once). */
void hl_bench_progress(const char *fmt, ...) HL_PRINTF(1, 2);

/* Print one table row on F: LABEL in a fixed-width column, then the value. */
void hl_bench_row(FILE *f, const char *label, const char *fmt, ...) HL_PRINTF(3, 4);

/* Print V indented, with a final newline, on stdout. */
int hl_bench_print_json(const json_t *v);

/* A number rounded to DIGITS decimals as a JSON real (NAN/INF become null). */
json_t *hl_bench_json_real(double value, int digits);

/*
 * Interruption of a benchmark: the first SIGINT/SIGTERM/SIGHUP asks for a
 * clean stop (bench_check_interrupted() then fails), a second one stops the
 * children at once and dies.  Install over lib/child's handlers; restore after.
 */
int bench_signals_install(void);
void bench_signals_restore(void);
int bench_check_interrupted(void);
/* The signal that asked for a stop, or 0. */
int bench_interrupt_signal(void);
/* Add the signals the benchmarks handle to SET (to block them in worker threads). */
void bench_signals_add(sigset_t *set);

/* snprintf a path into BUF of SIZE; -1 (and a message) when it does not fit. */
int bench_path_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
