/*
 * bench.c - helpers shared by the benchmarks (see bench.h): latency
 * samples and percentiles, another process's CPU time from /proc/PID/stat,
 * timed loops for crypto floors, progress lines and the report's output;
 * and what the lab benchmarks share: the lab's directory, the `hgs serve`
 * child, the measured window, the crypto floor, the report, and the run
 * itself (bench_lab_run: their steps in one order).  The benchmarks
 * themselves are in cmd/cmd_bench*.c.
 */
#include "sim/bench.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hgs/db.h"
#include "hgs/node.h"
#include "hosts/manufacture.h"
#include "hosts/tpm_host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/platform_id.h"
#include "vm/launch.h"

/* Largest /proc/PID/stat we read (a few hundred bytes in practice). */
#define PROC_STAT_MAX 4096

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
	cpu0 = hl_clock_thread_cpu_ns();
	wall0 = hl_clock_ns();
	while (cpu < min_cpu_ns || ops < 10) {
		for (unsigned long i = 0; i < batch; i++)
			if (fn(arg) < 0)
				return -1;
		ops += batch;
		cpu = hl_clock_thread_cpu_ns() - cpu0;
		/* aim for about 50 clock reads over the loop */
		if (cpu < min_cpu_ns / 50 && batch < 1000000)
			batch *= 2;
	}
	out->ops = ops;
	out->cpu_ns = cpu;
	out->wall_ns = hl_clock_ns() - wall0;
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

/* Append O to COLLECT or print it; -1 when O is NULL. */
int bench_emit_json(json_t *o, json_t *collect)
{
	if (!o)
		return hl_error("out of memory");
	if (collect) {
		json_array_append_new(collect, o);
	} else {
		hl_bench_print_json(o);
		json_decref(o);
	}
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

/* ---- the lab ---- */

/* Make "PREFIX-XXXXXX" inside WORKDIR, $TMPDIR or /tmp into DIR. */
int bench_lab_mkdtemp(char *dir, size_t size, const char *workdir, const char *prefix,
		      size_t dir_max, const char *what)
{
	const char *base = workdir ? workdir : getenv("TMPDIR");
	char *abs = NULL;
	int rc = -1;

	dir[0] = '\0';
	if (!base || !*base)
		base = "/tmp";
	if ((workdir && hl_file_mkdirs(workdir, 0700) < 0) || hl_file_abspath(base, &abs) < 0)
		goto out;
	if (strlen(abs) > dir_max) {
		hl_error("the work directory '%s' has too long a path for %s; use a shorter "
			 "--workdir", abs, what);
		goto out;
	}
	if (bench_path_fmt(dir, size, "%s/%s-XXXXXX", abs, prefix) < 0)
		goto out;
	if (!mkdtemp(dir)) {
		hl_error_errno("cannot create the lab directory in '%s'", abs);
		dir[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	free(abs);
	return rc;
}

int bench_boot_once(const struct vm_launch *l, int wait_s, const char *what, long idx, int keep,
		    double *wall, json_t **ev)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct vm_launch_proc *p = NULL;
	json_t *e = NULL;
	int rc = -1;

	if (ev)
		*ev = NULL;
	if (vm_launch(l, &p) < 0 || vm_launch_await(p, "running", wait_s, NULL, &e) < 0) {
		hl_error("the %s boot failed: %s (logs in %s)", what, hl_error_last(), l->run_dir);
		goto out;
	}
	*wall = vm_launch_elapsed(p);
	if (ev) {
		*ev = e;
		e = NULL;
	}
	rc = 0;
out:
	if (p)
		vm_launch_end(p, 0);
	vm_launch_proc_free(p);
	json_decref(e);
	if (keep && bench_path_fmt(from, sizeof(from), "%s/console.log", l->run_dir) == 0 &&
	    bench_path_fmt(to, sizeof(to), "%s/console-%ld.log", l->run_dir, idx) == 0)
		rename(from, to);
	return rc;
}

/* Remove or keep the lab directory DIR; then it is "". */
int bench_lab_remove(char *dir, int keep, const char *contents)
{
	int rc = 0;

	if (!dir[0])
		return 0;
	if (keep)
		hl_bench_progress("lab kept in '%s' (%s)", dir, contents);
	else if (hl_file_rmtree(dir) < 0)
		rc = -1;
	dir[0] = '\0';
	return rc;
}

/* Start `hgslab hgs serve` on NODE_DIR as a child and learn its URL. */
int bench_hgs_serve_start(const char *node_dir, const char *log_path, int ready_ms,
			  struct hl_child **child, char *url, size_t size)
{
	struct hl_child_opts o = { 0 };
	char exe[PATH_MAX], *out = NULL, *p, *end;
	const char *argv[] = { exe, "hgs", "serve", "--dir", node_dir, NULL };
	ssize_t n;
	int rc = -1;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1)
		return hl_error_errno("cannot find the hgslab binary through /proc/self/exe");
	exe[n] = '\0';
	o.name = "hgs serve";
	o.log_path = log_path;
	if (hl_child_spawn(argv, &o, child) < 0 ||
	    hl_child_wait_log(*child, "hgs: serving ", ready_ms) < 0 ||
	    hl_file_read(log_path, HL_FILE_READ_MAX, &out, NULL) < 0)
		goto out;
	p = strstr(out, "hgs: serving ");
	p = p ? strstr(p, " on http://") : NULL;
	end = p ? strchr(p, '\n') : NULL;
	if (!end || (size_t)(end - (p + 4)) >= size) {
		hl_error("'hgs serve' printed no usable readiness line; see '%s'", log_path);
		goto out;
	}
	memcpy(url, p + 4, (size_t)(end - (p + 4)));
	url[end - (p + 4)] = '\0';
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot start 'hgslab hgs serve'");
	free(out);
	return rc;
}

/* Create the lab's HGS node (TPM mode, the vendor's CA) and open it. */
int bench_hgs_node_create(const char *dir, const char *name, const char *domain,
			  const char *listen, const char *vendor_dir, struct hgs_node **node)
{
	struct hgs_init_params ip = { 0 };
	char *ca_path = NULL, *ca_pem = NULL;
	int rc = -1;

	if (hosts_vendor_ca_cert_path(vendor_dir, &ca_path) < 0 ||
	    hl_file_read(ca_path, HL_FILE_READ_MAX, &ca_pem, NULL) < 0)
		goto out;
	ip.dir = dir;
	ip.name = name;
	ip.domain = domain;
	ip.trust = HGS_MODE_TPM;
	ip.listen = listen;
	ip.vendor_ca_pem = ca_pem;
	if (hgs_node_create(&ip) < 0 || hgs_node_open(dir, 0, node) < 0)
		goto out;
	rc = 0;
out:
	free(ca_path);
	free(ca_pem);
	return rc;
}

/* Register host NAME with NODE from its platform identifier (EKpub + EKcert). */
int bench_hgs_add_tpm_host(struct hgs_node *node, const char *name, const struct hosts_ek *ek)
{
	struct hgs_platform_id *id = NULL;
	char *text = NULL;
	int rc = -1;

	if (hgs_platform_id_write(name, ek->pub, ek->cert, ek->tpm_public.data, ek->tpm_public.len,
				  &text) < 0 ||
	    hgs_platform_id_parse(text, strlen(text), &id) < 0 ||
	    hgs_db_tpm_host_add(node, name, id, 0) < 0)
		goto out;
	rc = 0;
out:
	hgs_platform_id_free(id);
	free(text);
	return rc;
}

/* Stop the `hgs serve` child and check how it exited. */
int bench_hgs_serve_stop(struct hl_child **child, int stop_ms, const char *log_path,
			 const char *node_dir)
{
	int rc = 0, status = -1;

	if (!*child)
		return 0;
	if (hl_child_stop(*child, stop_ms, &status) < 0) {
		rc = -1;
	} else if (status != 0) {
		rc = hl_error("'hgslab hgs serve' exited with status %d when stopped; see "
			      "'%s' and '%s/%s'", status, log_path, node_dir, HGS_LOG_FILE);
	}
	hl_child_free(*child);
	*child = NULL;
	return rc;
}

/* ---- the measured window ---- */

/* Free the workers' samples and the array. */
void bench_workers_free(struct bench_worker *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++)
		hl_bench_samples_release(&w[i].lat);
	free(w);
}

/* A load thread: run the worker's requests until the deadline or an interruption. */
static void *worker_main(void *arg)
{
	struct bench_worker *w = arg;
	uint64_t t0, t1;
	int rc;

	while (!bench_interrupt_signal()) {
		t0 = hl_clock_ns();
		if (t0 >= atomic_load(w->deadline_ns))
			break;
		rc = w->fn(w->arg, w->failure[0] ? NULL : w->failure, sizeof(w->failure));
		t1 = hl_clock_ns();
		if (rc < 0) {
			w->errors++;
			snprintf(w->failure, sizeof(w->failure), "%s", hl_error_last());
			break;   /* no decision: the server is broken, stop this thread */
		}
		if (rc == 0) {
			w->refused++;
			continue;
		}
		w->ok++;
		if (hl_bench_samples_add(&w->lat, t1 - t0) < 0) {
			w->errors++;
			snprintf(w->failure, sizeof(w->failure), "%s", hl_error_last());
			break;
		}
	}
	return NULL;
}

/* Run the workers' threads for SECONDS; tallies and PID's CPU into OUT. */
/* The CPU the N processes PIDS have used, summed, into *OUT. */
static int pids_cpu_ns(const pid_t *pids, size_t n, uint64_t *out)
{
	uint64_t one;

	*out = 0;
	for (size_t i = 0; i < n; i++) {
		if (hl_bench_proc_cpu_ns(pids[i], &one) < 0)
			return -1;
		*out += one;
	}
	return 0;
}

int bench_load_run(struct bench_worker *w, size_t n, const pid_t *pids, size_t n_pids,
		   long seconds, struct bench_load *out)
{
	atomic_uint_fast64_t deadline_ns;
	uint64_t cpu0, cpu1, start, end;
	sigset_t block, old;
	int rc = 0, err;

	if (pids_cpu_ns(pids, n_pids, &cpu0) < 0)
		return -1;
	/* the load threads leave the signals to the main thread: no EINTR in TPM or HTTP calls */
	sigemptyset(&block);
	bench_signals_add(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	start = hl_clock_ns();
	atomic_init(&deadline_ns, start + (uint64_t)seconds * 1000000000u);
	for (size_t i = 0; i < n; i++) {
		w[i].deadline_ns = &deadline_ns;
		err = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (err) {
			atomic_store(&deadline_ns, 0);
			rc = hl_error("cannot start %s: %s", w[i].label, strerror(err));
			break;
		}
		w[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (size_t i = 0; i < n; i++) {
		if (w[i].started)
			pthread_join(w[i].thread, NULL);
		w[i].started = 0;
		w[i].deadline_ns = NULL;
	}
	end = hl_clock_ns();
	if (rc < 0 || bench_check_interrupted() < 0 || pids_cpu_ns(pids, n_pids, &cpu1) < 0)
		return -1;
	out->window_s = (double)(end - start) / 1e9;
	out->hgs_cpu_ns = cpu1 - cpu0;
	for (size_t i = 0; i < n; i++) {
		out->ok += w[i].ok;
		out->refused += w[i].refused;
		out->errors += w[i].errors;
		if (!out->failure[0] && w[i].failure[0])
			snprintf(out->failure, sizeof(out->failure), "%s", w[i].failure);
		if (hl_bench_samples_merge(&out->lat, &w[i].lat) < 0)
			return -1;
	}
	out->done = 1;
	return 0;
}

/*
 * 0 when every request of L's window did what it should; otherwise -1 with
 * "NONE in the S s window: first failure" when none did, or "K of N BAD
 * (R refused, E without a decision); first: ..." when some did not.
 */
static int bench_load_check(const struct bench_load *l, long seconds, const char *none,
		     const char *bad)
{
	if (l->ok == 0)
		return hl_error("%s in the %ld s window%s%s", none, seconds,
				l->failure[0] ? ": " : "", l->failure);
	if (l->refused || l->errors)
		return hl_error("%lu of %lu %s (%lu refused, %lu without a decision); first: %s",
				l->refused + l->errors, l->ok + l->refused + l->errors, bad,
				l->refused, l->errors, l->failure);
	return 0;
}

/* ---- the crypto floor ---- */

/* Measure the floor: each operation timed for about MIN_CPU_NS of this thread's CPU. */
static int bench_floor_measure(struct bench_floor *f, uint64_t min_cpu_ns)
{
	hl_bench_progress("measuring the crypto floor: OpenSSL, one thread, about 1 s per "
			  "operation");
	f->ms = 0;
	for (size_t i = 0; i < f->n; i++) {
		struct bench_floor_op *op = &f->op[i];

		if (bench_check_interrupted() < 0)
			return -1;
		if (hl_bench_time_op(op->fn, op->arg, min_cpu_ns, &op->res) < 0)
			return hl_error_wrap("cannot %s for the crypto floor", op->what);
		f->ms += op->res.cpu_ns_per_op / 1e6;
	}
	f->done = 1;
	return 0;
}

/* ---- the report ---- */

/* Tear the lab down; keep the run's first error message. */
static int bench_run_end(int rc, int (*teardown)(void *lab, int keep), void *lab, int keep)
{
	char saved[HL_ERROR_MAX] = "";

	if (rc < 0)
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	if (teardown(lab, keep) < 0 && rc == 0) {
		rc = -1;
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	}
	if (rc < 0)
		hl_error("%s", saved);
	return rc;
}

/* Requests the server decided in the window (each cost it CPU, done or refused). */
static unsigned long decided(const struct bench_result *r)
{
	return r->load.ok + r->load.refused;
}

/* Server CPU ms per decided request; 0 when none. */
static double cpu_ms_per(const struct bench_result *r)
{
	return decided(r) ? (double)r->load.hgs_cpu_ns / 1e6 / (double)decided(r) : 0;
}

/* The ratio server CPU / floor; 0 when either is missing. */
static double ratio(const struct bench_result *r)
{
	return r->floor.done && r->floor.ms > 0 && decided(r) ? cpu_ms_per(r) / r->floor.ms : 0;
}

/* Percentile P of R's latencies in ms. */
static double lat_ms(struct bench_result *r, double p)
{
	return (double)hl_bench_samples_percentile(&r->load.lat, p) / 1e6;
}

/* The human report of R on stdout; OK says whether the run measured what it should. */
static void report_print(const struct bench_kind *k, struct bench_result *r, int ok,
			 const char *header)
{
	const struct bench_load *l = &r->load;
	double rt = ratio(r);

	printf("%s\n\n", header);
	if (!l->done) {
		printf("  no figures: the run stopped before the measured window ended\n");
		return;
	}
	if (!ok)
		printf("  the run failed (see the error): these figures are not a measurement\n");
	hl_bench_row(stdout, k->done_label, "%lu in %.2f s (%lu refused, %lu without a decision)",
		     l->ok, l->window_s, l->refused, l->errors);
	hl_bench_row(stdout, k->rate_label, "%.1f", (double)l->ok / l->window_s);
	hl_bench_row(stdout, "latency p50 / p99", "%.*f ms / %.*f ms", k->lat_digits,
		     lat_ms(r, 50), k->lat_digits, lat_ms(r, 99));
	hl_bench_row(stdout, k->cpu_label, "%.3f ms (hgs serve busy %.2f cores%s)", cpu_ms_per(r),
		     (double)l->hgs_cpu_ns / 1e9 / l->window_s,
		     r->nodes > 1 ? ", all nodes" : "");
	if (!r->floor.done) {
		printf("  crypto floor not measured\n");
		return;
	}
	hl_bench_row(stdout, k->floor_label, "%.3f ms (OpenSSL, one thread, this run)",
		     r->floor.ms);
	for (size_t i = 0; i < r->floor.n; i++) {
		const struct bench_floor_op *op = &r->floor.op[i];
		char label[64];

		snprintf(label, sizeof(label), "  %s", op->what);
		hl_bench_row(stdout, label, "%.3f ms  %s %s (%.0f/s)", op->res.cpu_ns_per_op / 1e6,
			     op->key, op->how, 1e9 / op->res.cpu_ns_per_op);
	}
	hl_bench_row(stdout, k->ratio_label, "%.1fx", rt);
	hl_bench_row(stdout, "goal", "within %.0fx of the floor: %s", k->goal_ratio,
		     rt > 0 && rt <= k->goal_ratio ? "met" : "NOT met");
}

/* R as a JSON object; OK and ERROR (may be NULL) say how the run ended. */
static json_t *report_json(const struct bench_kind *k, struct bench_result *r, int ok,
			   const char *error)
{
	const struct bench_load *l = &r->load;
	json_t *o = json_object(), *ops = NULL, *v;
	double rt = ratio(r);

	if (!o)
		return NULL;
	json_object_set_new(o, "Benchmark", json_string(k->benchmark));
	json_object_set_new(o, "Ok", json_boolean(ok));
	json_object_set_new(o, "Error", error ? json_string(error) : json_null());
	json_object_set_new(o, k->workers_key, json_integer(r->workers));
	json_object_set_new(o, "Seconds", json_integer(r->seconds));
	json_object_set_new(o, "Nodes", json_integer(r->nodes));
	if (l->done) {
		json_object_set_new(o, "SetupSeconds", hl_bench_json_real(r->setup_s, 2));
		json_object_set_new(o, "WindowSeconds", hl_bench_json_real(l->window_s, 3));
		json_object_set_new(o, "HgsPid", json_integer(r->hgs_pid[0]));
		v = json_array();
		for (long i = 0; v && i < r->nodes; i++)
			json_array_append_new(v, json_integer(r->hgs_pid[i]));
		json_object_set_new(o, "HgsPids", v ? v : json_null());
		v = json_pack("{s:I, s:I, s:I}", k->ok_key, (json_int_t)l->ok, "Refused",
			      (json_int_t)l->refused, "Errors", (json_int_t)l->errors);
		json_object_set_new(o, k->tally_key, v);
		json_object_set_new(o, k->rate_key,
				    hl_bench_json_real((double)l->ok / l->window_s, 2));
		v = json_object();
		if (v) {
			json_object_set_new(v, "P50", hl_bench_json_real(lat_ms(r, 50), 3));
			json_object_set_new(v, "P99", hl_bench_json_real(lat_ms(r, 99), 3));
			json_object_set_new(v, "Mean", hl_bench_json_real(
				hl_bench_samples_mean(&l->lat) / 1e6, 3));
			json_object_set_new(v, "Max", hl_bench_json_real(lat_ms(r, 100), 3));
		}
		json_object_set_new(o, "LatencyMilliseconds", v ? v : json_null());
		json_object_set_new(o, "HgsCpuMilliseconds", hl_bench_json_real(l->hgs_cpu_ns / 1e6, 1));
		json_object_set_new(o, k->cpu_key, hl_bench_json_real(cpu_ms_per(r), 4));
	}
	if (r->floor.done && (ops = json_array())) {
		for (size_t i = 0; i < r->floor.n; i++) {
			const struct bench_floor_op *op = &r->floor.op[i];

			v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "Name", op->name,
				      "What", op->what, "Key", op->key, k->how_key, op->how, "Milliseconds",
				      hl_bench_json_real(op->res.cpu_ns_per_op / 1e6, 4), "PerSecond",
				      hl_bench_json_real(1e9 / op->res.cpu_ns_per_op, 0), "Iterations",
				      (json_int_t)op->res.ops);
			if (v)
				json_array_append_new(ops, v);
		}
		v = json_pack("{s:o, s:o}", k->floor_key, hl_bench_json_real(r->floor.ms, 4),
			      "Operations", ops);
		json_object_set_new(o, "CryptoFloor", v ? v : json_null());
		json_object_set_new(o, "Ratio", rt > 0 ? hl_bench_json_real(rt, 2) : json_null());
	}
	json_object_set_new(o, "GoalRatio", hl_bench_json_real(k->goal_ratio, 1));
	json_object_set_new(o, "GoalMet", json_boolean(rt > 0 && rt <= k->goal_ratio));
	return o;
}

/*
 * Report R of a run that ended with RC (0 or -1, error set): as JSON on
 * stdout (JSON), appended to COLLECT (not NULL), and unless JSON the human
 * report, HEADER (its first line) first.  -1 when out of memory.
 */
static int bench_report(const struct bench_kind *k, struct bench_result *r, int rc,
			const char *header, int json, json_t *collect)
{
	if ((json || collect) &&
	    bench_emit_json(report_json(k, r, rc == 0, rc < 0 ? hl_error_last() : NULL),
			    collect) < 0)
		return -1;
	if (!json)
		report_print(k, r, rc == 0, header);
	return 0;
}

/* ---- one run of a lab benchmark ---- */

/* Set up DEF's LAB, run its window and floor into R; tear the lab down. */
static int lab_run(const struct bench_lab_def *def, void *lab, void *result, long seconds,
		   const char *workdir, int keep)
{
	struct bench_result *r = result;
	uint64_t t0 = hl_clock_ns();
	pid_t hgs_pids[BENCH_NODES_MAX] = { 0 };
	int rc = -1;

	if (def->setup(lab, r->workers, r->nodes, workdir, hgs_pids) < 0)
		goto out;
	r->setup_s = (double)(hl_clock_ns() - t0) / 1e9;
	for (long i = 0; i < r->nodes; i++)
		r->hgs_pid[i] = (long)hgs_pids[i];
	/* a window with failures measured something else than what it should: no floor */
	if (def->load(lab, seconds, &r->load) < 0 ||
	    bench_load_check(&r->load, seconds, def->none, def->bad) < 0 ||
	    def->floor_prepare(lab, result) < 0 ||
	    bench_floor_measure(&r->floor, BENCH_FLOOR_CPU_NS) < 0)
		goto out;
	rc = 0;
out:
	return bench_run_end(rc, def->teardown, lab, keep);
}

/* Run DEF and report it. */
int bench_lab_run(const struct bench_lab_def *def, long workers, long nodes, long seconds,
		  const char *workdir, int keep, int json, json_t *collect)
{
	void *lab = calloc(1, def->lab_size), *result = calloc(1, def->result_size);
	struct bench_result *r = result;
	char header[256];
	int rc = -1;

	if (!lab || !result) {
		hl_error("out of memory");
		goto out;
	}
	if (nodes < 1 || nodes > BENCH_NODES_MAX) {
		hl_error("an HGS of %ld nodes: the benchmarks run 1 to %d", nodes, BENCH_NODES_MAX);
		goto out;
	}
	r->workers = workers;
	r->nodes = nodes;
	r->seconds = seconds;
	rc = lab_run(def, lab, result, seconds, workdir, keep);
	snprintf(header, sizeof(header), "hgslab bench %s: %ld %s%s %s for %ld s against HGS %s%s",
		 def->kind->benchmark, workers, def->worker, workers == 1 ? "" : "s", def->doing,
		 seconds, def->hgs_name, nodes > 1 ? " (a cluster of " : "");
	if (nodes > 1)
		snprintf(header + strlen(header), sizeof(header) - strlen(header), "%ld nodes)",
			 nodes);
	if (bench_report(def->kind, r, rc, header, json, collect) < 0)
		rc = -1;
	hl_bench_samples_release(&r->load.lat);
	def->release(result);
out:
	free(lab);
	free(result);
	return rc;
}

/* Member KEY of O as a real, 0 when absent or not a number. */
static double json_num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

int bench_lab_run_cluster(const struct bench_lab_def *def, long workers, long nodes,
			  long seconds, const char *workdir, int keep, int json)
{
	const struct bench_kind *k = def->kind;
	json_t *runs = json_array(), *one, *many, *cmp = NULL, *o = NULL;
	double rate1, rateN, cpu1, cpuN;
	int rc = -1;

	if (!runs)
		return hl_error("out of memory");
	if (bench_lab_run(def, workers, 1, seconds, workdir, keep, json, runs) < 0)
		goto out;
	if (!json)
		printf("\n");
	if (bench_check_interrupted() < 0 ||
	    bench_lab_run(def, workers, nodes, seconds, workdir, keep, json, runs) < 0)
		goto out;
	one = json_array_get(runs, 0);
	many = json_array_get(runs, 1);
	rate1 = json_num(one, k->rate_key);
	rateN = json_num(many, k->rate_key);
	cpu1 = json_num(one, k->cpu_key);
	cpuN = json_num(many, k->cpu_key);
	if (!(cmp = json_object()))
		goto oom;
	json_object_set_new(cmp, "Nodes", json_integer(nodes));
	json_object_set_new(cmp, "ThroughputRatio",
			    rate1 > 0 ? hl_bench_json_real(rateN / rate1, 2) : json_null());
	json_object_set_new(cmp, "CpuPerRequestRatio",
			    cpu1 > 0 ? hl_bench_json_real(cpuN / cpu1, 2) : json_null());
	if (json) {
		if (!(o = json_pack("{s:s, s:O, s:O}", "Benchmark", k->benchmark, "Runs", runs,
				    "Comparison", cmp)))
			goto oom;
		hl_bench_print_json(o);
	} else {
		char label[80];

		printf("\nhgslab bench %s: 1 node against %ld nodes, measured in this run\n\n",
		       k->benchmark, nodes);
		hl_bench_row(stdout, k->rate_label, "%.1f with 1 node, %.1f with %ld (%.2fx)", rate1,
			     rateN, nodes, rate1 > 0 ? rateN / rate1 : 0);
		snprintf(label, sizeof(label), "%s", k->cpu_label);
		hl_bench_row(stdout, label, "%.3f ms with 1 node, %.3f ms over all %ld (%.2fx)",
			     cpu1, cpuN, nodes, cpu1 > 0 ? cpuN / cpu1 : 0);
		printf("  (%ld nodes share this machine's cores: a cluster buys availability "
		       "here, not throughput)\n", nodes);
	}
	rc = 0;
	goto out;
oom:
	hl_error("out of memory");
out:
	if (rc < 0 && json && json_array_size(runs) &&
	    (o = json_pack("{s:s, s:O, s:n}", "Benchmark", k->benchmark, "Runs", runs,
			   "Comparison")))
		hl_bench_print_json(o);
	json_decref(cmp);
	json_decref(o);
	json_decref(runs);
	return rc;
}
