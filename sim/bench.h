/*
 * bench.h - helpers shared by the `hgslab bench` benchmarks (cmd/cmd_bench*.c):
 * latency samples and their percentiles, the CPU time of another
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
 * Besides, the parts the lab benchmarks (bench attest, bench release) share:
 * the lab's temporary directory, the `hgs serve` child, the measured window
 * of N load threads, the crypto floor, the report (human and JSON), and one
 * run: a benchmark describes its lab and steps in a struct bench_lab_def and
 * bench_lab_run() runs them in order and reports.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); release functions
 * are NULL-safe and leave the struct reusable.
 */
#ifndef HGSLAB_SIM_BENCH_H
#define HGSLAB_SIM_BENCH_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"

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

/*
 * A benchmark's JSON report O (NULL when it could not be built: out of
 * memory): appended to COLLECT when not NULL, else printed on stdout.
 */
int bench_emit_json(json_t *o, json_t *collect);

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

/* ---- the lab ---- */

struct hl_child;

/*
 * Make DIR (SIZE bytes) a new directory "PREFIX-XXXXXX" inside WORKDIR
 * (created when missing), else $TMPDIR or /tmp.  A base path longer than
 * DIR_MAX is refused as too long for WHAT ("the lab").  DIR is "" on failure.
 */
int bench_lab_mkdtemp(char *dir, size_t size, const char *workdir, const char *prefix,
		      size_t dir_max, const char *what);

/*
 * Remove the lab directory DIR unless KEEP, when it keeps CONTENTS (said in
 * the progress line); then DIR is "".  Nothing to do when DIR is "".
 */
int bench_lab_remove(char *dir, int keep, const char *contents);

/*
 * Start `hgslab hgs serve --dir NODE_DIR` (this binary, /proc/self/exe) as a
 * child whose output goes to LOG_PATH, wait up to READY_MS for its readiness
 * line and put the URL it serves on ("http://ADDR:PORT") into URL of SIZE.
 */
int bench_hgs_serve_start(const char *node_dir, const char *log_path, int ready_ms,
			  struct hl_child **child, char *url, size_t size);

struct hgs_node;
struct hosts_ek;

/*
 * Create an HGS node in TPM mode in DIR, named NAME in DOMAIN and listening
 * on LISTEN, that trusts the TPM vendor CA in VENDOR_DIR; open it into *NODE.
 */
int bench_hgs_node_create(const char *dir, const char *name, const char *domain,
			  const char *listen, const char *vendor_dir, struct hgs_node **node);

/*
 * Register the guarded host NAME with NODE (TPM mode) from its platform
 * identifier, built from its endorsement key EK (EKpub and EKcert).
 */
int bench_hgs_add_tpm_host(struct hgs_node *node, const char *name, const struct hosts_ek *ek);

/*
 * Stop the `hgs serve` child *CHILD (none: nothing to do) within STOP_MS and
 * free it; -1 when it cannot be stopped or exits with a status other than 0.
 */
int bench_hgs_serve_stop(struct hl_child **child, int stop_ms, const char *log_path,
			 const char *node_dir);

/* ---- VM boots (bench boot, bench provision) ---- */

struct vm_launch;

/*
 * Launch L, wait up to WAIT_S for the guest's "running" report and stop QEMU
 * (and swtpm): the time from the launch to the report into *WALL, the
 * report (with its uptime_ms) into *EV when EV is not NULL.  KEEP: the
 * guest's console (L->console set) is kept as L->run_dir/console-IDX.log.
 * WHAT names the boot in the error ("the plain boot failed: ...").
 */
int bench_boot_once(const struct vm_launch *l, int wait_s, const char *what, long idx, int keep,
		    double *wall, json_t **ev);

/* ---- the measured window ---- */

/*
 * One request of a load thread: 1 when it did what it should (its time is a
 * sample), 0 when refused (then, when WHY is not NULL, the reason into WHY of
 * SIZE), -1 without a decision (after hl_error(); the thread stops).
 */
typedef int (*bench_request_fn)(void *arg, char *why, size_t size);

/* A load thread and its tallies; zero-initialise, set label, fn and arg. */
struct bench_worker {
	char label[64];                       /* "client thread 1", for errors */
	bench_request_fn fn;
	void *arg;
	atomic_uint_fast64_t *deadline_ns;    /* set by bench_load_run */
	pthread_t thread;
	int started;
	unsigned long ok, refused, errors;
	struct hl_bench_samples lat;          /* latencies of the requests that did */
	char failure[HL_ERROR_MAX];           /* the first refusal or error, "" when none */
};

/* Free the samples of the N workers W and W itself; NULL-safe. */
void bench_workers_free(struct bench_worker *w, size_t n);

/* What a measured window gave; the figures are valid once done is set. */
struct bench_load {
	double window_s;
	uint64_t hgs_cpu_ns;                  /* CPU of the served processes in the window (all nodes) */
	unsigned long ok, refused, errors;
	struct hl_bench_samples lat;          /* latencies of the requests that did, ns */
	char failure[HL_ERROR_MAX];           /* the first refusal or error, "" when none */
	int done;
};

/*
 * The measured window: the N workers W run their requests in threads for
 * SECONDS (signals left to the calling thread); the CPU the N_PIDS processes
 * PIDS (the HGS nodes) used meanwhile, summed, and the merged tallies go
 * into OUT.
 */
int bench_load_run(struct bench_worker *w, size_t n, const pid_t *pids, size_t n_pids,
		   long seconds, struct bench_load *out);

/* ---- the crypto floor ---- */

#define BENCH_FLOOR_OPS_MAX 8

/* One floor operation: what it is, how it is called, and its timing. */
struct bench_floor_op {
	const char *name;                     /* its Name in JSON: "verify_quote" */
	const char *what;                     /* "verify quote signature" */
	const char *how;                      /* "RSASSA-PKCS1-v1_5" */
	char key[48];                         /* "rsa-2048" */
	hl_bench_op_fn fn;
	void *arg;
	struct hl_bench_op res;
};

/* The floor: N operations, ms their CPU total per request; valid once done is set. */
struct bench_floor {
	struct bench_floor_op op[BENCH_FLOOR_OPS_MAX];
	size_t n;
	double ms;
	int done;
};

/* ---- the report ---- */

/* A lab benchmark's names in its report: labels (human) and keys (JSON, PascalCase). */
struct bench_kind {
	const char *benchmark;                /* "attest" */
	const char *workers_key;              /* "Hosts" */
	const char *done_label;               /* "attestations passed" */
	const char *rate_label;               /* "attestations/s" */
	int lat_digits;                       /* decimals of the latency row */
	const char *cpu_label;                /* "HGS CPU per attestation" */
	const char *floor_label;              /* "crypto floor per attestation" */
	const char *ratio_label;              /* "HGS CPU / crypto floor" */
	const char *tally_key;                /* "Attestations" */
	const char *ok_key;                   /* "Passed" */
	const char *rate_key;                 /* "AttestationsPerSecond" */
	const char *cpu_key;                  /* "HgsCpuMillisecondsPerAttestation" */
	const char *floor_key;                /* "MillisecondsPerAttestation" */
	const char *how_key;                  /* "Scheme" */
	double goal_ratio;                    /* CPU per request / floor to reach */
};

/* What one run of a lab benchmark measured. */
/* At most this many HGS nodes serve a lab benchmark (`bench attest --nodes`). */
#define BENCH_NODES_MAX 5

struct bench_result {
	long workers, seconds;
	long nodes;                           /* `hgs serve` processes of the HGS (a cluster's nodes) */
	long hgs_pid[BENCH_NODES_MAX];
	double setup_s;
	struct bench_load load;
	struct bench_floor floor;
};

/* ---- one run of a lab benchmark ---- */

/* CPU time each floor operation is timed for (about a second). */
#define BENCH_FLOOR_CPU_NS 1000000000ull

/*
 * A lab benchmark (bench attest, bench release): its names, and its own
 * steps, which bench_lab_run() calls in this order.  LAB and RESULT are the
 * benchmark's own structs of LAB_SIZE and RESULT_SIZE bytes, zeroed before
 * the run; RESULT begins with its struct bench_result.  Each step returns 0,
 * or -1 after hl_error().
 */
struct bench_lab_def {
	const struct bench_kind *kind;
	const char *worker;           /* a load thread in the report's first line: "host" */
	const char *doing;            /* what they do there: "attesting with real swtpm quotes" */
	const char *hgs_name;         /* the HGS the lab serves, in that line too */
	const char *none, *bad;       /* the window's failures: "no release" in the S s window,
					 "K of N requests were not released" */
	size_t lab_size, result_size;
	/* Build LAB for WORKERS load threads and an HGS of NODES nodes in a new
	 * directory inside WORKDIR (or $TMPDIR, /tmp) and warm it up; HGS_PIDS[i]
	 * is node i's `hgs serve` child's pid.  A benchmark of one node only
	 * refuses NODES > 1. */
	int (*setup)(void *lab, long workers, long nodes, const char *workdir, pid_t *hgs_pids);
	/* The measured window: the load threads for SECONDS, their tallies into OUT. */
	int (*load)(void *lab, long seconds, struct bench_load *out);
	/* Fill RESULT's floor operations with the lab's material. */
	int (*floor_prepare)(void *lab, void *result);
	/* Stop everything LAB started and remove its directory unless KEEP. */
	int (*teardown)(void *lab, int keep);
	/* Free what RESULT owns besides its struct bench_result. */
	void (*release)(void *result);
};

/*
 * Run the lab benchmark DEF with WORKERS load threads against NODES HGS
 * nodes for SECONDS, its lab
 * inside WORKDIR (kept with KEEP), and report it: set up, the measured
 * window, and only when every request of it did what it should the crypto
 * floor; then the lab is torn down (the run's error, when it failed, wins
 * over the teardown's; a failed teardown fails a run that succeeded).  The
 * report goes out as JSON on stdout (JSON), appended to COLLECT (not NULL),
 * and unless JSON for a human.  0 when the run measured what it should, -1
 * (error set) when not.
 */
int bench_lab_run(const struct bench_lab_def *def, long workers, long nodes, long seconds,
		  const char *workdir, int keep, int json, json_t *collect);

/*
 * Run DEF twice in one go, with one node and with NODES, and report both
 * and the N-node figures against the 1-node ones (throughput, HGS CPU per
 * request over all nodes).  JSON: {"Benchmark", "Runs": [1-node, N-node],
 * "Comparison": {...}}.  0 when both runs measured what they should.
 */
int bench_lab_run_cluster(const struct bench_lab_def *def, long workers, long nodes,
			  long seconds, const char *workdir, int keep, int json);

#endif
