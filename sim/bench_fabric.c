/*
 * bench_fabric.c - the run of `hgslab bench fabric` (see bench_fabric.h):
 * N guarded hosts, each a real swtpm with its own EK, EK certificate, AK and
 * TK taken from the cache of manufactured TPM states (sim/tpm_cache.h),
 * brought up from cold against one HGS node served by a separate `hgs serve`
 * child, then a re-attestation storm.
 *
 * One process drives every host (a shared agent, as one agent process may
 * drive many hosts): a pool of W worker threads takes the hosts one by one
 * from a shared counter in each phase, so that a TPM is used by one thread
 * at a time.  The threads live from the first swtpm start to the last stop,
 * because lib/child ties each child to the thread that spawned it
 * (PR_SET_PDEATHSIG): the swtpm processes die with the thread, and so with
 * the bench, whatever happens.  Phases, each timed:
 *   cache fill         states manufactured for the hosts the cache lacks
 *   state copy         each host's swtpm state copied from the cache into
 *                      the lab; its EK, AK and TK read from the cache
 *   registration       the HGS node created (TPM mode, the cache's vendor
 *                      CA) and every host registered with its platform
 *                      identifier (EKpub + EKcert) through the in-process
 *                      hgs_db API, with the baseline and the CI policy
 *   hgs start          `hgslab hgs serve` started
 *   swtpm start        every swtpm started, connected, the baseline boot
 *                      replayed into its PCRs
 *   first attestation  every host activates its AK (credential activation)
 *                      and attests: all must pass
 *   storm              every host attests again at once (as after an HGS
 *                      outage): all must pass; time to all Passed,
 *                      attestations/s, latency per attestation, HGS CPU
 *   teardown           every swtpm stopped (in parallel), hgs serve
 *                      stopped, the lab removed
 * Memory is sampled after the first attestation and after the storm (every
 * process alive): RSS and PSS (/proc/PID/smaps_rollup) summed over the
 * swtpm processes, hgs serve and this process; the peak of the two samples
 * is reported, PSS being the honest one (RSS counts shared pages in every
 * process).
 */
#include "sim/bench_fabric.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hgs/db.h"
#include "hgs/node.h"
#include "hosts/hgs_client.h"
#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "hosts/tpm_host.h"
#include "hosts/tpm_state.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"
#include "sim/bench.h"

#define FABRIC_HGS_NAME "MyHgsService"
#define FABRIC_HGS_DOMAIN "relecloud.com"
#define FABRIC_HGS_LISTEN "127.0.0.2:0"
#define FABRIC_HGS_READY_MS 30000
#define FABRIC_HGS_STOP_MS 10000
#define FABRIC_HTTP_TIMEOUT_MS 60000
#define FABRIC_TPM_ADDR "127.0.0.1"
#define FABRIC_SWTPM_READY_MS 60000
#define FABRIC_SWTPM_STOP_MS 5000
#define FABRIC_BASELINE_NAME "Baseline"
#define FABRIC_DIR_MAX 300
/* The targets of issue #16 for 1000 hosts. */
#define GOAL_SECONDS 60.0
#define GOAL_MEMORY_MB 8192.0

/* "DIR/NAME" into BUF of SIZE. */
static int join(char *buf, size_t size, const char *dir, const char *name)
{
	return bench_path_fmt(buf, size, "%s/%s", dir, name);
}

/* ---- the lab ---- */

/* A guarded host of the fabric. */
struct fhost {
	char name[16];                        /* "FabricHost0001" */
	char state[PATH_MAX];                 /* its swtpm state in the lab */
	struct hl_swtpm *swtpm;
	struct hl_tpm *tpm;
	struct hosts_ek *ek;
	struct hosts_tpm_key ak, tk;
	struct hosts_hgs_tpm client;
	int ak_bound;
};

struct fabric;

/* One worker of the shared agent: a thread and its tallies. */
struct fworker {
	struct fabric *fab;
	pthread_t thread;
	int started;
	struct hl_bench_samples lat;          /* storm latencies, ns */
};

/* What a phase does to one host: 0, or -1 after hl_error(). */
typedef int (*host_fn)(struct fabric *fab, struct fhost *h, struct fworker *w);

/* Memory of the lab at one moment, kB. */
struct mem_sample {
	unsigned long long rss_kb, pss_kb;
	unsigned long long swtpm_rss_kb, swtpm_pss_kb, hgs_rss_kb, hgs_pss_kb, self_rss_kb,
		self_pss_kb;
	size_t processes;
	double swtpm_cpu_s;                   /* CPU the swtpm processes used so far */
};

/* The phases, in order. */
enum phase { PH_FILL, PH_COPY, PH_REGISTER, PH_HGS_START, PH_SWTPM_START, PH_FIRST, PH_STORM,
	     PH_TEARDOWN, PH_N };
static const char *const phase_key[PH_N] = { "CacheFill", "StateCopy", "Registration",
					     "HgsStart", "SwtpmStart", "FirstAttestation",
					     "Storm", "Teardown" };
static const char *const phase_label[PH_N] = { "cache fill", "state copy", "registration",
					       "hgs serve start", "swtpm start",
					       "first attestation", "storm", "teardown" };

/* The lab and the run's figures. */
struct fabric {
	const struct bench_fabric_opts *o;
	size_t n;
	struct fhost *hosts;
	struct tpm_cache cache;
	size_t cache_ready_before;
	char lab[PATH_MAX];
	char node_dir[PATH_MAX];
	char serve_out[PATH_MAX];
	char url[128];
	struct hosts_hgs_conn conn;
	struct hl_child *hgs;
	struct hl_profile profile;
	struct hl_measured_boot *mb;
	struct hosts_pcr_extend *ext;
	/* the pool */
	struct fworker *w;
	size_t n_workers;
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	int pool_init;
	unsigned gen;                         /* bumped per phase */
	int quit;
	size_t busy;
	host_fn fn;
	int all;                              /* the phase visits every host, failures or not */
	atomic_size_t next;
	atomic_int failed;
	char error[HL_ERROR_MAX];
	/* figures */
	double phase_s[PH_N];
	double phase_cpu_s[PH_N];             /* this process's CPU in the phase, all threads */
	int phase_done[PH_N];
	double cold_s;                        /* wall time from the copy to all Passed */
	int register_rc;                      /* the registration thread's result */
	char register_error[HL_ERROR_MAX];
	uint64_t hgs_cpu_first_ns, hgs_cpu_storm_ns;
	unsigned long passed_first, passed_storm;
	struct hl_bench_samples lat;
	struct mem_sample mem;                /* the peak of the samples */
	int mem_done;
	unsigned long long self_hwm_kb;
	rlim_t nofile_before, nofile_after;
	double load_start[3], load_end[3];
};

/* The load averages into L (zeros when unreadable). */
static void loadavg(double l[3])
{
	l[0] = l[1] = l[2] = 0;
	if (getloadavg(l, 3) < 0)
		l[0] = l[1] = l[2] = 0;
}

/* Raise RLIMIT_NOFILE to what N hosts need (or the hard limit); say so. */
static int raise_nofile(struct fabric *fab)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)fab->n * 4 + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return hl_error_errno("cannot read RLIMIT_NOFILE");
	fab->nofile_before = fab->nofile_after = rl.rlim_cur;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		return hl_error("%zu hosts need about %llu file descriptors; the hard limit is %llu "
				"(raise it: ulimit -Hn)", fab->n, (unsigned long long)need,
				(unsigned long long)rl.rlim_max);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return hl_error_errno("cannot raise RLIMIT_NOFILE to %llu", (unsigned long long)need);
	fab->nofile_after = need;
	hl_bench_progress("raised the open-file limit from %llu to %llu for %zu hosts",
			  (unsigned long long)fab->nofile_before, (unsigned long long)need, fab->n);
	return 0;
}

/* A worker thread: run each phase's function over the hosts it takes. */
static void *worker_main(void *arg)
{
	struct fworker *w = arg;
	struct fabric *fab = w->fab;
	unsigned seen = 0;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&fab->mu);
		while (!fab->quit && fab->gen == seen)
			pthread_cond_wait(&fab->cv, &fab->mu);
		if (fab->quit) {
			pthread_mutex_unlock(&fab->mu);
			break;
		}
		seen = fab->gen;
		pthread_mutex_unlock(&fab->mu);
		for (;;) {
			if (!fab->all && (atomic_load(&fab->failed) || bench_interrupt_signal()))
				break;
			i = atomic_fetch_add(&fab->next, 1);
			if (i >= fab->n)
				break;
			if (fab->fn(fab, &fab->hosts[i], w) < 0) {
				pthread_mutex_lock(&fab->mu);
				if (!atomic_exchange(&fab->failed, 1))
					snprintf(fab->error, sizeof(fab->error), "%s: %s",
						 fab->hosts[i].name, hl_error_last());
				pthread_mutex_unlock(&fab->mu);
			}
		}
		pthread_mutex_lock(&fab->mu);
		if (--fab->busy == 0)
			pthread_cond_broadcast(&fab->done_cv);
		pthread_mutex_unlock(&fab->mu);
	}
	return NULL;
}

/* Start the pool's threads (signals blocked in them: they stop at the flag). */
static int pool_start(struct fabric *fab)
{
	sigset_t block, old;
	int err;

	if (!(fab->w = calloc(fab->n_workers, sizeof(*fab->w))))
		return hl_error("out of memory");
	pthread_mutex_init(&fab->mu, NULL);
	pthread_cond_init(&fab->cv, NULL);
	pthread_cond_init(&fab->done_cv, NULL);
	fab->pool_init = 1;
	sigemptyset(&block);
	bench_signals_add(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (size_t i = 0; i < fab->n_workers; i++) {
		fab->w[i].fab = fab;
		if ((err = pthread_create(&fab->w[i].thread, NULL, worker_main, &fab->w[i]))) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return hl_error("cannot start worker thread %zu: %s", i + 1, strerror(err));
		}
		fab->w[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/*
 * Run FN over every host with the pool and wait for it; ALL: visit every
 * host even after a failure or a stop (the teardown).  -1 with the first
 * host's error when one failed, or when interrupted.
 */
static int pool_run(struct fabric *fab, host_fn fn, int all)
{
	size_t started = 0;

	for (size_t i = 0; i < fab->n_workers; i++)
		started += fab->w[i].started;
	pthread_mutex_lock(&fab->mu);
	fab->fn = fn;
	fab->all = all;
	atomic_store(&fab->next, 0);
	atomic_store(&fab->failed, 0);
	fab->error[0] = '\0';
	fab->busy = started;
	fab->gen++;
	pthread_cond_broadcast(&fab->cv);
	while (fab->busy)
		pthread_cond_wait(&fab->done_cv, &fab->mu);
	pthread_mutex_unlock(&fab->mu);
	if (atomic_load(&fab->failed))
		return hl_error("%s", fab->error);
	return all ? 0 : bench_check_interrupted();
}

/* Stop the pool's threads. */
static void pool_stop(struct fabric *fab)
{
	if (!fab->pool_init)
		return;
	pthread_mutex_lock(&fab->mu);
	fab->quit = 1;
	pthread_cond_broadcast(&fab->cv);
	pthread_mutex_unlock(&fab->mu);
	for (size_t i = 0; i < fab->n_workers; i++)
		if (fab->w[i].started)
			pthread_join(fab->w[i].thread, NULL);
	for (size_t i = 0; i < fab->n_workers; i++)
		hl_bench_samples_release(&fab->w[i].lat);
	free(fab->w);
	fab->w = NULL;
	pthread_cond_destroy(&fab->cv);
	pthread_cond_destroy(&fab->done_cv);
	pthread_mutex_destroy(&fab->mu);
	fab->pool_init = 0;
}

/* Copy host H's state from the cache into the lab; read its EK, AK and TK (host_fn). */
static int host_copy(struct fabric *fab, struct fhost *h, struct fworker *w)
{
	size_t i = (size_t)(h - fab->hosts);
	char src[PATH_MAX], from[PATH_MAX], from2[PATH_MAX];

	(void)w;
	if (tpm_cache_state(&fab->cache, i, src, sizeof(src)) < 0 ||
	    bench_path_fmt(h->state, sizeof(h->state), "%s/hosts/%s/tpm", fab->lab, h->name) < 0 ||
	    hosts_tpm_state_copy_tpm(src, h->state) < 0 ||
	    join(from, sizeof(from), src, HOSTS_TPM_STATE_EK_PUB) < 0 ||
	    join(from2, sizeof(from2), src, HOSTS_TPM_STATE_EK_CERT) < 0 ||
	    hosts_ek_load(from, from2, &h->ek) < 0 ||
	    join(from, sizeof(from), src, HOSTS_TPM_STATE_AK) < 0 ||
	    hosts_tpm_key_load(from, &h->ak) < 0 ||
	    join(from, sizeof(from), src, HOSTS_TPM_STATE_TK) < 0 ||
	    hosts_tpm_key_load(from, &h->tk) < 0)
		return hl_error_wrap("cannot copy the TPM state of '%s' from the cache", h->name);
	h->client.host = h->name;
	h->client.ek = h->ek;
	h->client.ak = &h->ak;
	h->client.tk = &h->tk;
	h->client.tcglog = fab->mb->log;
	h->client.tcglog_len = fab->mb->log_len;
	return 0;
}

/* Create the HGS node and register every host, the baseline and the CI policy. */
static int hgs_register(struct fabric *fab)
{
	struct hgs_node *node = NULL;
	char *ci = NULL;
	size_t ci_len = 0;
	int rc = -1;

	if (bench_hgs_node_create(fab->node_dir, FABRIC_HGS_NAME, FABRIC_HGS_DOMAIN,
				  FABRIC_HGS_LISTEN, fab->cache.vendor, &node) < 0)
		goto out;
	for (size_t i = 0; i < fab->n; i++) {
		if (bench_check_interrupted() < 0)
			goto out;
		if (bench_hgs_add_tpm_host(node, fab->hosts[i].name, fab->hosts[i].ek) < 0) {
			hl_error_wrap("cannot register host '%s' with HGS", fab->hosts[i].name);
			goto out;
		}
	}
	if (hgs_db_tpm_policy_add(node, FABRIC_BASELINE_NAME, fab->mb->log, fab->mb->log_len) < 0 ||
	    hl_profile_ci_policy_document(fab->profile.ci_policy, &ci, &ci_len) < 0 ||
	    hgs_db_ci_policy_add(node, fab->profile.ci_policy, ci, ci_len) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot set up the HGS node in '%s'", fab->node_dir);
	hgs_node_close(node);
	free(ci);
	return rc;
}

/* Start host H's swtpm, connect to it and replay the baseline boot (host_fn). */
static int host_start(struct fabric *fab, struct fhost *h, struct fworker *w)
{
	struct hl_swtpm_opts so = { 0 };

	(void)w;
	so.state_dir = h->state;
	so.host = FABRIC_TPM_ADDR;
	so.timeout_ms = FABRIC_SWTPM_READY_MS;
	if (hl_swtpm_start(&so, &h->swtpm) < 0 || hl_tpm_connect(hl_swtpm_tcti(h->swtpm), &h->tpm) < 0 ||
	    hosts_tpm_extend(h->tpm, fab->ext, fab->mb->n_extends) < 0)
		return -1;
	h->client.tpm = h->tpm;
	return 0;
}

/* "STATUS (SUBSTATUS): REASON" of decision D into BUF. */
static void decision_text(const struct hosts_hgs_decision *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s%s", d->status, d->substatus_text[0] ? " (" : "",
		 d->substatus_text, d->substatus_text[0] ? ")" : "", d->reason[0] ? ": " : "",
		 d->reason);
}

/* One attestation of H that must pass; its time into *NS. */
static int host_attest(struct fabric *fab, struct fhost *h, uint64_t *ns)
{
	struct hosts_hgs_decision d;
	char text[HL_ERROR_MAX - 64];
	uint64_t t0 = hl_clock_ns();
	int passed;

	if (hosts_hgs_attest_tpm(&fab->conn, &h->client, &h->ak_bound, &d) < 0)
		return hl_error_wrap("no attestation decision");
	*ns = hl_clock_ns() - t0;
	passed = d.passed;
	if (!passed)
		decision_text(&d, text, sizeof(text));
	hosts_hgs_decision_release(&d);
	if (!passed)
		return hl_error("attestation refused: %s", text);
	return 0;
}

/* The first attestation of H: AK activation, then attest (host_fn). */
static int host_first(struct fabric *fab, struct fhost *h, struct fworker *w)
{
	uint64_t ns;

	(void)w;
	h->ak_bound = 0;
	return host_attest(fab, h, &ns);
}

/* H's attestation in the storm; its latency into the worker's samples (host_fn). */
static int host_storm(struct fabric *fab, struct fhost *h, struct fworker *w)
{
	uint64_t ns;

	if (host_attest(fab, h, &ns) < 0)
		return -1;
	return hl_bench_samples_add(&w->lat, ns);
}

/* Stop H's swtpm and free what H holds (host_fn; never fails the phase). */
static int host_stop(struct fabric *fab, struct fhost *h, struct fworker *w)
{
	(void)fab;
	(void)w;
	hl_tpm_disconnect(h->tpm);
	h->tpm = NULL;
	h->client.tpm = NULL;
	if (h->swtpm && hl_swtpm_stop(h->swtpm, FABRIC_SWTPM_STOP_MS, NULL) < 0)
		hl_bench_progress("%s: %s", h->name, hl_error_last());
	hl_swtpm_free(h->swtpm);
	h->swtpm = NULL;
	return 0;
}

/* Send SIGTERM to H's swtpm, so that the stops that follow find it exiting (host_fn). */
static int host_term(struct fabric *fab, struct fhost *h, struct fworker *w)
{
	(void)fab;
	(void)w;
	hl_tpm_disconnect(h->tpm);
	h->tpm = NULL;
	h->client.tpm = NULL;
	if (h->swtpm)
		hl_child_signal(hl_swtpm_child(h->swtpm), SIGTERM);
	return 0;
}

/* "Rss:" and "Pss:" of process PID in kB from /proc/PID/smaps_rollup; -1 when gone. */
static int proc_mem(pid_t pid, unsigned long long *rss, unsigned long long *pss)
{
	char path[64], line[256];
	FILE *f;
	int got = 0;

	*rss = *pss = 0;
	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if (!(f = fopen(path, "re")))
		return hl_error_errno("cannot read '%s'", path);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %llu kB", rss) == 1 || sscanf(line, "Pss: %llu kB", pss) == 1)
			got++;
	}
	fclose(f);
	if (got < 2)
		return hl_error("'%s' has no Rss and Pss lines", path);
	return 0;
}

/* Sample the lab's memory (and the swtpm CPU); keep the sample with the larger PSS. */
static int mem_sample(struct fabric *fab)
{
	struct mem_sample m;
	unsigned long long rss, pss;
	uint64_t cpu;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < fab->n; i++) {
		pid_t pid;

		if (!fab->hosts[i].swtpm)
			continue;
		pid = hl_child_pid(hl_swtpm_child(fab->hosts[i].swtpm));
		if (proc_mem(pid, &rss, &pss) < 0 || hl_bench_proc_cpu_ns(pid, &cpu) < 0)
			return -1;
		m.swtpm_rss_kb += rss;
		m.swtpm_pss_kb += pss;
		m.swtpm_cpu_s += (double)cpu / 1e9;
		m.processes++;
	}
	if (proc_mem(hl_child_pid(fab->hgs), &m.hgs_rss_kb, &m.hgs_pss_kb) < 0 ||
	    proc_mem(getpid(), &m.self_rss_kb, &m.self_pss_kb) < 0)
		return -1;
	m.processes += 2;
	m.rss_kb = m.swtpm_rss_kb + m.hgs_rss_kb + m.self_rss_kb;
	m.pss_kb = m.swtpm_pss_kb + m.hgs_pss_kb + m.self_pss_kb;
	if (!fab->mem_done || m.pss_kb > fab->mem.pss_kb)
		fab->mem = m;
	fab->mem_done = 1;
	return 0;
}

/* This process's peak RSS (VmHWM) in kB, 0 when unreadable. */
static unsigned long long self_hwm_kb(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %llu kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* The CPU time of this process, every thread, in ns. */
static uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Time phase P: run FN(FAB) and record its wall time and this process's CPU. */
static int timed(struct fabric *fab, enum phase p, int (*fn)(struct fabric *))
{
	uint64_t t0 = hl_clock_ns(), c0 = process_cpu_ns();
	int rc = fn(fab);

	fab->phase_s[p] = (double)(hl_clock_ns() - t0) / 1e9;
	fab->phase_cpu_s[p] = (double)(process_cpu_ns() - c0) / 1e9;
	fab->phase_done[p] = rc == 0;
	return rc;
}

/* Open the TPM state cache alone (waiting for it), progress on stderr, Ctrl-C seen. */
static int open_cache(struct fabric *fab)
{
	const struct tpm_cache_io io = { stderr, "hgslab bench: ", bench_interrupt_signal };

	return tpm_cache_open(&fab->cache, fab->o->cache, TPM_CACHE_WAIT, &io);
}

/* Phase: fill the cache for the hosts. */
static int ph_fill(struct fabric *fab)
{
	long jobs = sysconf(_SC_NPROCESSORS_ONLN);

	return tpm_cache_fill(&fab->cache, fab->n, jobs < 1 ? 1 : (int)jobs);
}

/* Phase: start `hgs serve`. */
static int ph_hgs_start(struct fabric *fab)
{
	if (bench_hgs_serve_start(fab->node_dir, fab->serve_out, FABRIC_HGS_READY_MS, &fab->hgs,
				  fab->url, sizeof(fab->url)) < 0)
		return -1;
	fab->conn.url = fab->url;
	fab->conn.timeout_ms = FABRIC_HTTP_TIMEOUT_MS;
	return 0;
}

/* Phase: start every swtpm. */
static int ph_swtpm(struct fabric *fab)
{
	return pool_run(fab, host_start, 0);
}

/* Phase: copy the states into the lab, then let the cache go. */
static int ph_copy(struct fabric *fab)
{
	if (pool_run(fab, host_copy, 0) < 0)
		return -1;
	tpm_cache_close(&fab->cache);
	return 0;
}

/* The registration thread: create the HGS node and register the hosts (timed). */
static void *register_main(void *arg)
{
	struct fabric *fab = arg;
	uint64_t t0 = hl_clock_ns(), c0 = hl_clock_thread_cpu_ns();

	fab->register_rc = hgs_register(fab);
	if (fab->register_rc < 0)
		snprintf(fab->register_error, sizeof(fab->register_error), "%s", hl_error_last());
	fab->phase_s[PH_REGISTER] = (double)(hl_clock_ns() - t0) / 1e9;
	fab->phase_cpu_s[PH_REGISTER] = (double)(hl_clock_thread_cpu_ns() - c0) / 1e9;
	fab->phase_done[PH_REGISTER] = fab->register_rc == 0;
	return NULL;
}

/*
 * Registration (a thread of its own: it waits on the store's fsyncs) while
 * the pool starts every swtpm; then `hgs serve`, from this thread, since a
 * child dies with the thread that spawned it.
 */
static int ph_register_and_start(struct fabric *fab)
{
	sigset_t block, old;
	pthread_t th;
	int err, rc;

	sigemptyset(&block);
	bench_signals_add(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	err = pthread_create(&th, NULL, register_main, fab);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return hl_error("cannot start the registration thread: %s", strerror(err));
	rc = timed(fab, PH_SWTPM_START, ph_swtpm);
	pthread_join(th, NULL);
	if (rc < 0)
		return -1;
	if (fab->register_rc < 0)
		return hl_error("%s", fab->register_error);
	return timed(fab, PH_HGS_START, ph_hgs_start);
}

/* A round of attestations: FN over every host (all must pass); HGS CPU meanwhile into *CPU_NS. */
static int attest_round(struct fabric *fab, host_fn fn, uint64_t *cpu_ns)
{
	uint64_t c0, c1;
	pid_t pid = hl_child_pid(fab->hgs);

	if (hl_bench_proc_cpu_ns(pid, &c0) < 0 || pool_run(fab, fn, 0) < 0 ||
	    hl_bench_proc_cpu_ns(pid, &c1) < 0)
		return -1;
	*cpu_ns = c1 - c0;
	return 0;
}

/* Phase: the first attestation of every host. */
static int ph_first(struct fabric *fab)
{
	if (attest_round(fab, host_first, &fab->hgs_cpu_first_ns) < 0)
		return -1;
	fab->passed_first = fab->n;
	return 0;
}

/* Phase: the storm; its latencies. */
static int ph_storm(struct fabric *fab)
{
	if (attest_round(fab, host_storm, &fab->hgs_cpu_storm_ns) < 0)
		return -1;
	fab->passed_storm = fab->n;
	for (size_t i = 0; i < fab->n_workers; i++)
		if (hl_bench_samples_merge(&fab->lat, &fab->w[i].lat) < 0)
			return -1;
	return 0;
}

/* Phase: stop every swtpm (all signalled first, then reaped in parallel) and hgs serve. */
static int ph_teardown(struct fabric *fab)
{
	int rc = 0;

	if (fab->pool_init) {
		pool_run(fab, host_term, 1);
		pool_run(fab, host_stop, 1);
	}
	pool_stop(fab);
	/* a host whose thread never started (the pool failed to start) */
	for (size_t i = 0; fab->hosts && i < fab->n; i++)
		host_stop(fab, &fab->hosts[i], NULL);
	if (bench_hgs_serve_stop(&fab->hgs, FABRIC_HGS_STOP_MS, fab->serve_out, fab->node_dir) < 0)
		rc = -1;
	return rc;
}

/* Build the lab: directories, profile, measured boot and its PCR events. */
static int lab_prepare(struct fabric *fab)
{
	if (bench_lab_mkdtemp(fab->lab, sizeof(fab->lab), fab->o->workdir, "hgslab-fabric",
			      FABRIC_DIR_MAX, "the lab") < 0 ||
	    join(fab->node_dir, sizeof(fab->node_dir), fab->lab, "hgs") < 0 ||
	    join(fab->serve_out, sizeof(fab->serve_out), fab->lab, "hgs-serve.out") < 0 ||
	    hl_profile_init(&fab->profile, "baseline") < 0 ||
	    hl_measured_boot_build(&fab->profile, &fab->mb) < 0)
		return -1;
	if (!(fab->ext = calloc(fab->mb->n_extends ? fab->mb->n_extends : 1, sizeof(*fab->ext))))
		return hl_error("out of memory");
	for (size_t k = 0; k < fab->mb->n_extends; k++) {
		fab->ext[k].pcr = fab->mb->extends[k].pcr;
		memcpy(fab->ext[k].sha1, fab->mb->extends[k].sha1, sizeof(fab->ext[k].sha1));
		memcpy(fab->ext[k].sha256, fab->mb->extends[k].sha256, sizeof(fab->ext[k].sha256));
	}
	return 0;
}

/* Bring the fabric up from cold and hold the storm (the phases that can fail the run). */
static int fabric_up(struct fabric *fab)
{
	uint64_t t0;

	hl_bench_progress("%zu host%s, %zu worker thread%s (the shared agent), TPM state cache "
			  "'%s'", fab->n, fab->n == 1 ? "" : "s", fab->n_workers,
			  fab->n_workers == 1 ? "" : "s", fab->o->cache);
	if (raise_nofile(fab) < 0 || open_cache(fab) < 0)
		return -1;
	fab->cache_ready_before = fab->cache.ready;
	hl_bench_progress("TPM state cache: %zu state%s ready, %zu needed: %s%s", fab->cache.ready,
			  fab->cache.ready == 1 ? "" : "s", fab->n,
			  fab->cache.ready >= fab->n ? "warm" : fab->cache.ready ? "partly warm" :
			  "cold", fab->cache.rebuilt ? " (rebuilt)" : "");
	if (timed(fab, PH_FILL, ph_fill) < 0 || bench_check_interrupted() < 0 || lab_prepare(fab) < 0)
		return -1;
	hl_bench_progress("lab in '%s'; copying %zu TPM states from the cache", fab->lab, fab->n);
	t0 = hl_clock_ns();
	if (pool_start(fab) < 0 || timed(fab, PH_COPY, ph_copy) < 0)
		return -1;
	hl_bench_progress("starting %zu swtpm processes; meanwhile creating HGS %s (TPM mode, the "
			  "cache's vendor CA) and registering the hosts (in-process hgs_db API)",
			  fab->n, FABRIC_HGS_NAME);
	if (ph_register_and_start(fab) < 0)
		return -1;
	hl_bench_progress("HGS serving on %s (hgs serve, pid %ld); first attestation of every "
			  "host (AK activation, quote)", fab->url, (long)hl_child_pid(fab->hgs));
	if (timed(fab, PH_FIRST, ph_first) < 0)
		return -1;
	fab->cold_s = (double)(hl_clock_ns() - t0) / 1e9;
	if (mem_sample(fab) < 0)
		return -1;
	hl_bench_progress("all %zu hosts Passed; the storm: every host attests again at once",
			  fab->n);
	if (timed(fab, PH_STORM, ph_storm) < 0 || mem_sample(fab) < 0)
		return -1;
	return 0;
}

/* Seconds from cold (states in the cache) to all Passed: copy to the first attestation's end. */
static double cold_s(const struct fabric *fab)
{
	return fab->cold_s;
}

/* The cache's state as a word. */
static const char *cache_status(const struct fabric *fab)
{
	return fab->cache_ready_before >= fab->n ? "warm" : fab->cache_ready_before ? "partly warm" :
	       "cold";
}

/* MB from kB. */
static double mb(unsigned long long kb)
{
	return (double)kb / 1024.0;
}

/* The report as JSON; OK and ERROR say how the run ended. */
static json_t *report_json(struct fabric *fab, int ok, const char *error)
{
	json_t *o = json_object(), *v;
	double storm = fab->phase_s[PH_STORM];

	if (!o)
		return NULL;
	json_object_set_new(o, "Benchmark", json_string("fabric"));
	json_object_set_new(o, "Ok", json_boolean(ok));
	json_object_set_new(o, "Error", error ? json_string(error) : json_null());
	json_object_set_new(o, "Hosts", json_integer((json_int_t)fab->n));
	json_object_set_new(o, "Workers", json_integer((json_int_t)fab->n_workers));
	v = json_pack("{s:s, s:s, s:I, s:I, s:b, s:[sss]}", "Dir", fab->cache.dir, "Status",
		      cache_status(fab), "StatesBefore", (json_int_t)fab->cache_ready_before,
		      "StatesMade", (json_int_t)(fab->cache.ready > fab->cache_ready_before ?
						 fab->cache.ready - fab->cache_ready_before : 0),
		      "Rebuilt", fab->cache.rebuilt, "Cached", "VendorCa", "EkAndEkCertificate",
		      "AkAndTk");
	json_object_set_new(o, "Cache", v ? v : json_null());
	v = json_object();
	for (int p = 0; v && p < PH_N; p++)
		json_object_set_new(v, phase_key[p], fab->phase_done[p] ?
				    hl_bench_json_real(fab->phase_s[p], 3) : json_null());
	json_object_set_new(o, "PhaseSeconds", v ? v : json_null());
	/* the bench's CPU per phase (the swtpm start's includes what the registration thread
	   used meanwhile; the registration's is that thread's own) */
	v = json_object();
	for (int p = 0; v && p < PH_N; p++)
		json_object_set_new(v, phase_key[p], fab->phase_done[p] && p != PH_TEARDOWN ?
				    hl_bench_json_real(fab->phase_cpu_s[p], 3) : json_null());
	json_object_set_new(o, "BenchCpuSeconds", v ? v : json_null());
	json_object_set_new(o, "ColdToAllPassedSeconds", fab->phase_done[PH_FIRST] ?
			    hl_bench_json_real(cold_s(fab), 2) : json_null());
	json_object_set_new(o, "FirstAttestation", json_pack(
		"{s:I, s:o, s:o}", "Passed", (json_int_t)fab->passed_first, "HgsCpuMilliseconds",
		hl_bench_json_real((double)fab->hgs_cpu_first_ns / 1e6, 1),
		"HgsCpuMillisecondsPerAttestation", fab->passed_first ?
		hl_bench_json_real((double)fab->hgs_cpu_first_ns / 1e6 / (double)fab->passed_first, 4) :
		json_null()));
	if (fab->phase_done[PH_STORM]) {
		v = json_pack("{s:I, s:o, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:o}",
			      "Passed", (json_int_t)fab->passed_storm,
			      "Seconds", hl_bench_json_real(storm, 3),
			      "AttestationsPerSecond", hl_bench_json_real((double)fab->passed_storm / storm, 1),
			      "LatencyMilliseconds",
			      "P50", hl_bench_json_real(hl_bench_samples_percentile(&fab->lat, 50) / 1e6, 2),
			      "P99", hl_bench_json_real(hl_bench_samples_percentile(&fab->lat, 99) / 1e6, 2),
			      "Mean", hl_bench_json_real(hl_bench_samples_mean(&fab->lat) / 1e6, 2),
			      "Max", hl_bench_json_real(hl_bench_samples_percentile(&fab->lat, 100) / 1e6, 2),
			      "HgsCpuMilliseconds", hl_bench_json_real((double)fab->hgs_cpu_storm_ns / 1e6, 1),
			      "HgsCpuMillisecondsPerAttestation",
			      hl_bench_json_real((double)fab->hgs_cpu_storm_ns / 1e6 / (double)fab->passed_storm, 4));
		json_object_set_new(o, "Storm", v ? v : json_null());
	} else {
		json_object_set_new(o, "Storm", json_null());
	}
	if (fab->mem_done) {
		v = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "Processes", (json_int_t)fab->mem.processes,
			      "PssMegabytes", hl_bench_json_real(mb(fab->mem.pss_kb), 1),
			      "RssMegabytes", hl_bench_json_real(mb(fab->mem.rss_kb), 1),
			      "SwtpmPssMegabytes", hl_bench_json_real(mb(fab->mem.swtpm_pss_kb), 1),
			      "SwtpmRssMegabytes", hl_bench_json_real(mb(fab->mem.swtpm_rss_kb), 1),
			      "HgsPssMegabytes", hl_bench_json_real(mb(fab->mem.hgs_pss_kb), 1),
			      "HgsRssMegabytes", hl_bench_json_real(mb(fab->mem.hgs_rss_kb), 1),
			      "BenchPssMegabytes", hl_bench_json_real(mb(fab->mem.self_pss_kb), 1),
			      "BenchRssMegabytes", hl_bench_json_real(mb(fab->mem.self_rss_kb), 1),
			      "BenchPeakRssMegabytes", hl_bench_json_real(mb(fab->self_hwm_kb), 1),
			      "SwtpmCpuSeconds", hl_bench_json_real(fab->mem.swtpm_cpu_s, 2));
		json_object_set_new(o, "Memory", v ? v : json_null());
	} else {
		json_object_set_new(o, "Memory", json_null());
	}
	json_object_set_new(o, "OpenFileLimit", json_pack("{s:I, s:I}", "Before",
			    (json_int_t)fab->nofile_before, "After", (json_int_t)fab->nofile_after));
	json_object_set_new(o, "LoadAverage", json_pack("{s:[ooo], s:[ooo]}", "Start",
			    hl_bench_json_real(fab->load_start[0], 2),
			    hl_bench_json_real(fab->load_start[1], 2),
			    hl_bench_json_real(fab->load_start[2], 2), "End",
			    hl_bench_json_real(fab->load_end[0], 2),
			    hl_bench_json_real(fab->load_end[1], 2),
			    hl_bench_json_real(fab->load_end[2], 2)));
	json_object_set_new(o, "Goals", json_pack(
		"{s:f, s:f, s:b, s:b}", "ColdSeconds", GOAL_SECONDS, "PssMegabytes", GOAL_MEMORY_MB,
		"ColdMet", fab->phase_done[PH_FIRST] && cold_s(fab) <= GOAL_SECONDS,
		"MemoryMet", fab->mem_done && mb(fab->mem.pss_kb) <= GOAL_MEMORY_MB));
	return o;
}

/* The human report on stdout. */
static void report_print(struct fabric *fab, int ok)
{
	double storm = fab->phase_s[PH_STORM];
	char label[64];

	printf("hgslab bench fabric: %zu guarded hosts (a swtpm each, own EK, EK certificate, AK "
	       "and TK) against HGS %s, %zu worker threads\n\n", fab->n, FABRIC_HGS_NAME,
	       fab->n_workers);
	if (!ok)
		printf("  the run failed (see the error): these figures are not a measurement\n");
	hl_bench_row(stdout, "TPM state cache", "%s: %zu states before, %zu made%s (%s)",
		     cache_status(fab), fab->cache_ready_before,
		     fab->cache.ready > fab->cache_ready_before ?
		     fab->cache.ready - fab->cache_ready_before : 0,
		     fab->cache.rebuilt ? ", rebuilt" : "", fab->cache.dir);
	hl_bench_row(stdout, "cached", "vendor CA; per state: EK + EK certificate, AK + TK");
	for (int p = 0; p < PH_N; p++) {
		snprintf(label, sizeof(label), "  %s", phase_label[p]);
		if (fab->phase_done[p] && p != PH_TEARDOWN)
			hl_bench_row(stdout, label, "%.2f s (bench CPU %.2f s)", fab->phase_s[p],
				     fab->phase_cpu_s[p]);
		else if (fab->phase_done[p])
			hl_bench_row(stdout, label, "%.2f s", fab->phase_s[p]);
		else
			hl_bench_row(stdout, label, "-");
	}
	if (fab->phase_done[PH_FIRST]) {
		hl_bench_row(stdout, "from cold to all Passed", "%.2f s (%zu hosts; goal %.0f s: %s)",
			     cold_s(fab), fab->n, GOAL_SECONDS,
			     cold_s(fab) <= GOAL_SECONDS ? "met" : "NOT met");
		hl_bench_row(stdout, "HGS CPU per first attestation", "%.3f ms (AK activation + "
			     "attestation)", (double)fab->hgs_cpu_first_ns / 1e6 / (double)fab->n);
	}
	if (fab->phase_done[PH_STORM]) {
		hl_bench_row(stdout, "storm: all Passed in", "%.2f s (%lu attestations)", storm,
			     fab->passed_storm);
		hl_bench_row(stdout, "storm: attestations/s", "%.1f", (double)fab->passed_storm / storm);
		hl_bench_row(stdout, "storm: latency p50 / p99", "%.1f ms / %.1f ms (one attestation, "
			     "%zu in flight)", hl_bench_samples_percentile(&fab->lat, 50) / 1e6,
			     hl_bench_samples_percentile(&fab->lat, 99) / 1e6, fab->n_workers);
		hl_bench_row(stdout, "storm: HGS CPU per attestation", "%.3f ms (hgs serve busy %.2f "
			     "cores)", (double)fab->hgs_cpu_storm_ns / 1e6 / (double)fab->passed_storm,
			     (double)fab->hgs_cpu_storm_ns / 1e9 / storm);
	}
	if (fab->mem_done) {
		hl_bench_row(stdout, "peak memory, PSS", "%.0f MB (goal %.0f MB: %s; swtpm %.0f, hgs "
			     "serve %.0f, bench %.0f)", mb(fab->mem.pss_kb), GOAL_MEMORY_MB,
			     mb(fab->mem.pss_kb) <= GOAL_MEMORY_MB ? "met" : "NOT met",
			     mb(fab->mem.swtpm_pss_kb), mb(fab->mem.hgs_pss_kb),
			     mb(fab->mem.self_pss_kb));
		hl_bench_row(stdout, "peak memory, RSS sum", "%.0f MB (counts shared pages once per "
			     "process; %zu processes)", mb(fab->mem.rss_kb), fab->mem.processes);
		hl_bench_row(stdout, "swtpm CPU (all, so far)", "%.1f s", fab->mem.swtpm_cpu_s);
	}
	hl_bench_row(stdout, "load average", "%.2f %.2f %.2f at the start, %.2f %.2f %.2f at the "
		     "end", fab->load_start[0], fab->load_start[1], fab->load_start[2],
		     fab->load_end[0], fab->load_end[1], fab->load_end[2]);
	if (fab->nofile_after != fab->nofile_before)
		hl_bench_row(stdout, "open-file limit", "raised from %llu to %llu",
			     (unsigned long long)fab->nofile_before,
			     (unsigned long long)fab->nofile_after);
}

/* Free what FAB holds (after the teardown). */
static void fabric_free(struct fabric *fab)
{
	for (size_t i = 0; fab->hosts && i < fab->n; i++) {
		hosts_ek_free(fab->hosts[i].ek);
		hosts_tpm_key_release(&fab->hosts[i].ak);
		hosts_tpm_key_release(&fab->hosts[i].tk);
	}
	free(fab->hosts);
	free(fab->ext);
	hl_measured_boot_free(fab->mb);
	hl_bench_samples_release(&fab->lat);
	tpm_cache_close(&fab->cache);
}

int bench_fabric_run(const struct bench_fabric_opts *o)
{
	struct fabric fab;
	char saved[HL_ERROR_MAX] = "";
	uint64_t t0;
	int rc;

	memset(&fab, 0, sizeof(fab));
	fab.o = o;
	fab.n = (size_t)o->hosts;
	fab.n_workers = (size_t)o->workers;
	fab.cache.lock_fd = -1;
	loadavg(fab.load_start);
	if (!(fab.hosts = calloc(fab.n, sizeof(*fab.hosts)))) {
		hl_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < fab.n; i++)
		snprintf(fab.hosts[i].name, sizeof(fab.hosts[i].name), TPM_CACHE_HOST_FMT, i + 1);
	rc = fabric_up(&fab);
	if (rc < 0)
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	fab.self_hwm_kb = self_hwm_kb();
	loadavg(fab.load_end);
	hl_bench_progress("stopping %zu swtpm processes and hgs serve", fab.n);
	t0 = hl_clock_ns();
	if (ph_teardown(&fab) < 0 && rc == 0) {
		rc = -1;
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	}
	if (bench_lab_remove(fab.lab, o->keep, "HGS node in hgs/, TPM states in hosts/*/tpm/") < 0 &&
	    rc == 0) {
		rc = -1;
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	}
	fab.phase_s[PH_TEARDOWN] = (double)(hl_clock_ns() - t0) / 1e9;
	fab.phase_done[PH_TEARDOWN] = 1;
	if (o->json) {
		json_t *j = report_json(&fab, rc == 0, rc < 0 ? saved : NULL);

		if (j)
			hl_bench_print_json(j);
		json_decref(j);
	} else {
		report_print(&fab, rc == 0);
	}
	fabric_free(&fab);
	if (rc < 0)
		hl_error("%s", saved);
	return rc;
}
