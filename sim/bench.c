/*
 * bench.c - helpers shared by the benchmarks (see bench.h): clocks, latency
 * samples and percentiles, another process's CPU time from /proc/PID/stat,
 * timed loops for crypto floors, progress lines and the report's output.
 * The benchmarks themselves are in sim/cmd_bench.c.
 */
#include "sim/bench.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/fileio.h"

/* Largest /proc/PID/stat we read (a few hundred bytes in practice). */
#define PROC_STAT_MAX 4096

/* Nanoseconds of clock CLK. */
static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds on the monotonic clock. */
uint64_t hl_bench_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread. */
uint64_t hl_bench_thread_cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* utime + stime of PID from /proc/PID/stat. */
int hl_bench_proc_cpu_ns(pid_t pid, uint64_t *out)
{
	unsigned long long utime, stime;
	char path[64], *text = NULL, *p;
	long tick = sysconf(_SC_CLK_TCK);
	int rc = -1;

	*out = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (hl_file_read(path, PROC_STAT_MAX, &text, NULL) < 0) {
		hl_error_wrap("cannot read the CPU time of process %ld (has it exited?)", (long)pid);
		goto out;
	}
	/* "pid (comm) state ppid ...": comm may hold spaces and ')', so skip to the last ')' */
	p = strrchr(text, ')');
	/* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	   cmajflt utime(14) stime(15) */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &utime, &stime) != 2 || tick <= 0) {
		hl_error("cannot read the CPU time of process %ld: '%s' is not in the expected "
			 "format", (long)pid, path);
		goto out;
	}
	*out = (uint64_t)((utime + stime) * (1000000000.0 / (double)tick));
	rc = 0;
out:
	free(text);
	return rc;
}

/* Add one sample. */
int hl_bench_samples_add(struct hl_bench_samples *s, uint64_t value)
{
	uint64_t *v;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 256;
		if (!(v = realloc(s->v, cap * sizeof(*v))))
			return hl_error("out of memory for %zu samples", cap);
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = value;
	s->sorted = 0;
	return 0;
}

/* Add every sample of FROM to TO. */
int hl_bench_samples_merge(struct hl_bench_samples *to, const struct hl_bench_samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (hl_bench_samples_add(to, from->v[i]) < 0)
			return -1;
	return 0;
}

/* qsort comparison of two uint64_t. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile. */
uint64_t hl_bench_samples_percentile(struct hl_bench_samples *s, double p)
{
	double exact;
	size_t rank;

	if (!s->n)
		return 0;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(s->v[0]), cmp_u64);
		s->sorted = 1;
	}
	if (p <= 0)
		return s->v[0];
	exact = p / 100.0 * (double)s->n;
	rank = (size_t)exact;
	if ((double)rank < exact)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

/* The mean of S. */
double hl_bench_samples_mean(const struct hl_bench_samples *s)
{
	double sum = 0;

	if (!s->n)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	return sum / (double)s->n;
}

/* Free S's samples. */
void hl_bench_samples_release(struct hl_bench_samples *s)
{
	if (!s)
		return;
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Time FN in a loop for at least MIN_CPU_NS of thread CPU time. */
int hl_bench_time_op(hl_bench_op_fn fn, void *arg, uint64_t min_cpu_ns, struct hl_bench_op *out)
{
	uint64_t cpu0, wall0, cpu = 0;
	unsigned long ops = 0, batch = 1;

	memset(out, 0, sizeof(*out));
	if (fn(arg) < 0)
		return -1;
	cpu0 = hl_bench_thread_cpu_ns();
	wall0 = hl_bench_now_ns();
	while (cpu < min_cpu_ns || ops < 10) {
		for (unsigned long i = 0; i < batch; i++)
			if (fn(arg) < 0)
				return -1;
		ops += batch;
		cpu = hl_bench_thread_cpu_ns() - cpu0;
		/* aim for about 50 clock reads over the loop */
		if (cpu < min_cpu_ns / 50 && batch < 1000000)
			batch *= 2;
	}
	out->ops = ops;
	out->cpu_ns = cpu;
	out->wall_ns = hl_bench_now_ns() - wall0;
	out->cpu_ns_per_op = (double)cpu / (double)ops;
	return 0;
}

/* A progress line on stderr. */
void hl_bench_progress(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hgslab bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
}

/* One table row: the label column is 34 characters wide. */
void hl_bench_row(FILE *f, const char *label, const char *fmt, ...)
{
	va_list ap;

	fprintf(f, "  %-34s ", label);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fprintf(f, "\n");
}

/* V as indented JSON on stdout; reals with at most 10 significant digits. */
int hl_bench_print_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(10));

	if (!text)
		return hl_error("cannot print the results as JSON: out of memory");
	printf("%s\n", text);
	free(text);
	return 0;
}

/* VALUE rounded to DIGITS decimals as a JSON real, or null when not finite (no libm). */
json_t *hl_bench_json_real(double value, int digits)
{
	double scale = 1, x;

	if (!isfinite(value) || value > 1e15 || value < -1e15)
		return json_null();
	for (int i = 0; i < digits && i < 9; i++)
		scale *= 10;
	x = value * scale;
	x = (double)(long long)(x + (x >= 0 ? 0.5 : -0.5));
	return json_real(x / scale);
}

/* ---- interruption ---- */

static volatile sig_atomic_t bench_signal;
static const int bench_sigs[] = { SIGINT, SIGTERM, SIGHUP };
#define N_BENCH_SIGS (sizeof(bench_sigs) / sizeof(bench_sigs[0]))
static struct sigaction bench_old_sa[N_BENCH_SIGS];
static int bench_sa_set[N_BENCH_SIGS];

/* First signal: ask for a clean stop; second: stop the children now and die. */
static void bench_on_signal(int sig)
{
	static const char msg[] = "\nhgslab bench: interrupted: stopping the lab and removing it "
				  "(interrupt again to stop at once)\n";
	struct sigaction sa;
	sigset_t set;

	if (!bench_signal) {
		ssize_t n;

		bench_signal = sig;
		n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)n;
		return;
	}
	hl_child_cleanup_all(500);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	raise(sig);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	_exit(128 + sig);
}

/* Install the bench's handlers over lib/child's (signals ignored stay ignored). */
int bench_signals_install(void)
{
	struct sigaction sa;

	bench_signal = 0;
	if (hl_child_cleanup_install(-1) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_BENCH_SIGS; i++)
		sigaddset(&sa.sa_mask, bench_sigs[i]);
	for (size_t i = 0; i < N_BENCH_SIGS; i++) {
		if (sigaction(bench_sigs[i], NULL, &bench_old_sa[i]) < 0)
			return hl_error_errno("cannot read the handler of signal %d", bench_sigs[i]);
		if (bench_old_sa[i].sa_handler == SIG_IGN)
			continue;
		if (sigaction(bench_sigs[i], &sa, NULL) < 0)
			return hl_error_errno("cannot handle signal %d", bench_sigs[i]);
		bench_sa_set[i] = 1;
	}
	return 0;
}

/* Put lib/child's handlers back. */
void bench_signals_restore(void)
{
	for (size_t i = 0; i < N_BENCH_SIGS; i++) {
		if (bench_sa_set[i])
			sigaction(bench_sigs[i], &bench_old_sa[i], NULL);
		bench_sa_set[i] = 0;
	}
}

/* -1 with a message once a stop was asked for, else 0. */
int bench_check_interrupted(void)
{
	if (bench_signal)
		return hl_error("interrupted by signal %d (%s)", (int)bench_signal,
				strsignal((int)bench_signal));
	return 0;
}

/* snprintf into BUF of SIZE; -1 when the path does not fit. */
int bench_path_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return hl_error("path '%.60s...' is too long; use a shorter --workdir", buf);
	return 0;
}

/* The signal that asked for a stop, or 0. */
int bench_interrupt_signal(void)
{
	return (int)bench_signal;
}

/* Add the signals the benchmarks handle to SET. */
void bench_signals_add(sigset_t *set)
{
	for (size_t i = 0; i < N_BENCH_SIGS; i++)
		sigaddset(set, bench_sigs[i]);
}
