/*
 * bench_fabric_cache.c - the cache of manufactured TPM states of `bench
 * fabric` (see bench_fabric.h for its layout and contract): where it is, its
 * lock, the checks of its FORMAT and vendor CA (a mismatch rebuilds it), the
 * count of its complete states, and the fill: states made in parallel, each
 * in tmp/ with swtpm_setup (hosts/manufacture), its EK read and its AK and TK
 * created in a swtpm of the state (hosts/tpm_host), then renamed into
 * states/ when complete.  sim/bench_fabric.c runs the benchmark on it.
 */
#include "sim/bench_fabric.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hosts/manufacture.h"
#include "hosts/tpm_host.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/selfpath.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"
#include "sim/bench.h"

/* The files of a complete state. */
static const char *const state_files[] = { BENCH_TPM_STATE_PERMALL, BENCH_TPM_STATE_EK_PUB,
					   BENCH_TPM_STATE_EK_CERT, BENCH_TPM_STATE_AK,
					   BENCH_TPM_STATE_TK };
#define N_STATE_FILES (sizeof(state_files) / sizeof(state_files[0]))

/* How often a waiting run retries the cache lock (ms). */
#define LOCK_RETRY_MS 200

/* The swtpm a state's AK and TK are made in. */
#define CACHE_TPM_ADDR "127.0.0.1"
#define CACHE_SWTPM_READY_MS 60000
#define CACHE_SWTPM_STOP_MS 5000

/* "DIR/NAME" into BUF of SIZE. */
static int join(char *buf, size_t size, const char *dir, const char *name)
{
	return bench_path_fmt(buf, size, "%s/%s", dir, name);
}

int bench_tpm_cache_dir(const char *given, char **out)
{
	static const char *const rel[] = { "..", "../../.." };
	const char *env = getenv("HGSLAB_TPM_CACHE"), *base;
	char *root = NULL;

	*out = NULL;
	if (given && *given)
		return (*out = strdup(given)) ? 0 : hl_error("out of memory");
	if (env && *env)
		return (*out = strdup(env)) ? 0 : hl_error("out of memory");
	if (hl_self_find(rel, sizeof(rel) / sizeof(rel[0]), "Makefile", &root) < 0)
		return -1;
	if (root) {
		int n = asprintf(out, "%s/build/cache/tpm-states", root);

		free(root);
		if (n < 0) {
			*out = NULL;
			return hl_error("out of memory");
		}
		return 0;
	}
	if ((base = getenv("XDG_CACHE_HOME")) && *base) {
		if (asprintf(out, "%s/hgslab/tpm-states", base) < 0)
			*out = NULL;
	} else if ((base = getenv("HOME")) && *base) {
		if (asprintf(out, "%s/.cache/hgslab/tpm-states", base) < 0)
			*out = NULL;
	} else {
		return hl_error("no TPM state cache directory: set $HGSLAB_TPM_CACHE or give --cache");
	}
	return *out ? 0 : hl_error("out of memory");
}

/* Take C's lock (DIR/.lock), waiting while another run holds it. */
static int cache_lock(struct bench_tpm_cache *c)
{
	char path[PATH_MAX];
	int told = 0;

	if (join(path, sizeof(path), c->dir, ".lock") < 0)
		return -1;
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (c->lock_fd < 0)
		return hl_error_errno("cannot open the TPM state cache's lock '%s'", path);
	while (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return hl_error_errno("cannot lock the TPM state cache '%s'", c->dir);
		if (!told++)
			hl_bench_progress("waiting for the TPM state cache '%s': another run uses it",
					  c->dir);
		if (bench_check_interrupted() < 0)
			return -1;
		poll(NULL, 0, LOCK_RETRY_MS);
	}
	c->locked = 1;
	return 0;
}

/* The FORMAT text a cache whose vendor CA key has fingerprint FP holds, into BUF. */
static void format_text(char *buf, size_t size, const char *fp)
{
	snprintf(buf, size, "%s\nvendor-ca %s\n", BENCH_TPM_CACHE_FORMAT, fp);
}

/* The fingerprint of the vendor CA's key in VENDOR into FP; -1 when it cannot be read. */
static int vendor_fingerprint(const char *vendor, char fp[HL_SHA256_HEX_SIZE])
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (hosts_vendor_ca_cert(vendor, &cert) == 0 && hl_cert_pubkey(cert, &key) == 0 &&
	    hl_key_fingerprint(key, fp) == 0)
		rc = 0;
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/*
 * Why the cache C (locked) cannot be used as it is, into WHY ("" when it
 * can, or when it is empty: nothing to rebuild).
 */
static void cache_mismatch(struct bench_tpm_cache *c, char *why, size_t size)
{
	char path[PATH_MAX], fp[HL_SHA256_HEX_SIZE], want[256], *text = NULL, *nl;
	int ex;

	why[0] = '\0';
	if (join(path, sizeof(path), c->dir, "FORMAT") < 0)
		goto out;
	ex = hl_file_exists(path);
	if (ex == 0) {
		char states[PATH_MAX];

		/* an empty cache: nothing to rebuild; anything else was not made by us */
		if (join(states, sizeof(states), c->dir, "states") == 0 &&
		    (hl_file_exists(states) == 1 || hl_file_exists(c->vendor) == 1))
			snprintf(why, size, "it has no FORMAT file");
		goto out;
	}
	if (ex < 0 || hl_file_read(path, 4096, &text, NULL) < 0) {
		snprintf(why, size, "its FORMAT file cannot be read (%s)", hl_error_last());
		goto out;
	}
	nl = strchr(text, '\n');
	if (!nl || (size_t)(nl - text) != strlen(BENCH_TPM_CACHE_FORMAT) ||
	    strncmp(text, BENCH_TPM_CACHE_FORMAT, (size_t)(nl - text)) != 0) {
		snprintf(why, size, "its format is not '%s'", BENCH_TPM_CACHE_FORMAT);
		goto out;
	}
	if (vendor_fingerprint(c->vendor, fp) < 0) {
		snprintf(why, size, "its TPM vendor CA cannot be read (%s)", hl_error_last());
		goto out;
	}
	format_text(want, sizeof(want), fp);
	if (strcmp(text, want) != 0)
		snprintf(why, size, "its TPM vendor CA is not the one its states were made with");
out:
	hl_error_clear();
	free(text);
}

/* Empty the cache C (locked): vendor CA, states, unfinished states, FORMAT. */
static int cache_clear(struct bench_tpm_cache *c)
{
	static const char *const parts[] = { "states", "tmp", "vendor", "FORMAT" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (join(path, sizeof(path), c->dir, parts[i]) < 0 || hl_file_rmtree(path) < 0)
			return -1;
	return 0;
}

/* 1 when state directory DIR holds every file of a complete state, else 0. */
static int state_complete(const char *dir)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < N_STATE_FILES; i++)
		if (join(path, sizeof(path), dir, state_files[i]) < 0 || hl_file_exists(path) != 1) {
			hl_error_clear();
			return 0;
		}
	return 1;
}

int bench_tpm_cache_state(const struct bench_tpm_cache *c, size_t i, char *buf, size_t size)
{
	return bench_path_fmt(buf, size, "%s/states/%05zu", c->dir, i);
}

/* Count C's complete states; an incomplete one (and what follows) is removed. */
static int cache_count(struct bench_tpm_cache *c)
{
	char path[PATH_MAX];
	int ex;

	c->ready = 0;
	for (;;) {
		if (bench_tpm_cache_state(c, c->ready, path, sizeof(path)) < 0)
			return -1;
		if ((ex = hl_file_exists(path)) < 0)
			return -1;
		if (!ex)
			return 0;
		if (!state_complete(path)) {
			hl_bench_progress("TPM state cache: state %zu is incomplete; it will be made "
					  "again", c->ready);
			return hl_file_rmtree(path);
		}
		c->ready++;
	}
}

int bench_tpm_cache_open(struct bench_tpm_cache *c, const char *dir)
{
	char path[PATH_MAX], why[512], fp[HL_SHA256_HEX_SIZE], text[256];
	char *abs = NULL;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->lock_fd = -1;
	if (hl_file_mkdirs(dir, 0700) < 0 || hl_file_abspath(dir, &abs) < 0)
		goto out;
	if (bench_path_fmt(c->dir, sizeof(c->dir), "%s", abs) < 0 ||
	    join(c->vendor, sizeof(c->vendor), c->dir, "vendor") < 0 || cache_lock(c) < 0)
		goto out;
	cache_mismatch(c, why, sizeof(why));
	if (why[0]) {
		hl_bench_progress("the TPM state cache '%s' does not match: %s; rebuilding it",
				  c->dir, why);
		if (cache_clear(c) < 0)
			goto out;
		c->rebuilt = 1;
	}
	if (join(path, sizeof(path), c->dir, "FORMAT") < 0)
		goto out;
	if (hl_file_exists(path) != 1) {
		/* a new cache: its vendor CA first, then the FORMAT that names it */
		if (hosts_vendor_ca_init(c->vendor) < 0 || vendor_fingerprint(c->vendor, fp) < 0)
			goto out;
		format_text(text, sizeof(text), fp);
		if (hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0)
			goto out;
	}
	/* what an interrupted fill left */
	if (join(path, sizeof(path), c->dir, "tmp") < 0 || hl_file_rmtree(path) < 0 ||
	    join(path, sizeof(path), c->dir, "states") < 0 || hl_file_mkdirs(path, 0700) < 0 ||
	    cache_count(c) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		hl_error_wrap("cannot open the TPM state cache '%s'", dir);
		bench_tpm_cache_close(c);
	}
	free(abs);
	return rc;
}

void bench_tpm_cache_close(struct bench_tpm_cache *c)
{
	if (!c || !c->locked)
		return;
	close(c->lock_fd);
	c->lock_fd = -1;
	c->locked = 0;
}

/* The shared state of a fill's threads. */
struct fill {
	struct bench_tpm_cache *c;
	size_t want;
	atomic_size_t next;           /* the next state to make */
	atomic_size_t made;
	atomic_int failed;
	pthread_mutex_t mu;           /* error and progress */
	char error[HL_ERROR_MAX];
	uint64_t t0, last_report;
};

/*
 * Make state I in a temporary directory of the cache: manufacture it, start
 * a swtpm on it, read its EK, create its AK and TK, save them beside it,
 * stop the swtpm (it saves the state) and rename the directory into states/.
 */
static int make_state(struct bench_tpm_cache *c, size_t i)
{
	char tmp[PATH_MAX], path[PATH_MAX], path2[PATH_MAX], dest[PATH_MAX], name[32];
	struct hl_swtpm_opts so = { 0 };
	struct hl_swtpm *sw = NULL;
	struct hl_tpm *tpm = NULL;
	struct hosts_ek *ek = NULL;
	struct hosts_tpm_key ak = { { NULL, 0 }, { NULL, 0 } }, tk = { { NULL, 0 }, { NULL, 0 } };
	int made = 0, rc = -1;

	snprintf(name, sizeof(name), BENCH_FABRIC_HOST_FMT, i + 1);
	if (bench_path_fmt(tmp, sizeof(tmp), "%s/tmp/%05zu-XXXXXX", c->dir, i) < 0 ||
	    join(path, sizeof(path), c->dir, "tmp") < 0 || hl_file_mkdirs(path, 0700) < 0)
		goto out;
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create '%s'", tmp);
		goto out;
	}
	made = 1;
	if (hosts_tpm_manufacture(c->vendor, tmp, name) < 0)
		goto out;
	so.state_dir = tmp;
	so.host = CACHE_TPM_ADDR;
	so.timeout_ms = CACHE_SWTPM_READY_MS;
	if (hl_swtpm_start(&so, &sw) < 0 || hl_tpm_connect(hl_swtpm_tcti(sw), &tpm) < 0 ||
	    hosts_tpm_read_ek(tpm, &ek) < 0 || hosts_tpm_create_ak(tpm, &ak) < 0 ||
	    hosts_tpm_create_transport_key(tpm, &tk) < 0)
		goto out;
	if (join(path, sizeof(path), tmp, BENCH_TPM_STATE_EK_PUB) < 0 ||
	    join(path2, sizeof(path2), tmp, BENCH_TPM_STATE_EK_CERT) < 0 ||
	    hosts_ek_save(ek, path, path2) < 0 ||
	    join(path, sizeof(path), tmp, BENCH_TPM_STATE_AK) < 0 ||
	    hosts_tpm_key_save(&ak, path) < 0 ||
	    join(path, sizeof(path), tmp, BENCH_TPM_STATE_TK) < 0 ||
	    hosts_tpm_key_save(&tk, path) < 0)
		goto out;
	hl_tpm_disconnect(tpm);
	tpm = NULL;
	if (hl_swtpm_stop(sw, CACHE_SWTPM_STOP_MS, NULL) < 0)
		goto out;
	/* the logs are of no use in the cache */
	if (join(path, sizeof(path), tmp, "swtpm.log") == 0)
		unlink(path);
	if (join(path, sizeof(path), tmp, HOSTS_MANUFACTURE_LOG) == 0)
		unlink(path);
	if (!state_complete(tmp)) {
		hl_error("state '%s' lacks a file after it was made", tmp);
		goto out;
	}
	if (bench_tpm_cache_state(c, i, dest, sizeof(dest)) < 0 || hl_file_rmtree(dest) < 0)
		goto out;
	if (rename(tmp, dest) < 0) {
		hl_error_errno("cannot rename '%s' to '%s'", tmp, dest);
		goto out;
	}
	made = 0;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot make TPM state %zu of the cache", i);
	hl_tpm_disconnect(tpm);
	if (sw)
		hl_swtpm_stop(sw, CACHE_SWTPM_STOP_MS, NULL);
	hl_swtpm_free(sw);
	hosts_ek_free(ek);
	hosts_tpm_key_release(&ak);
	hosts_tpm_key_release(&tk);
	if (made) {
		char saved[HL_ERROR_MAX];

		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		hl_file_rmtree(tmp);
		hl_error("%s", saved);
	}
	return rc;
}

/* A fill thread: make the next state until none is left, a failure or a stop. */
static void *fill_main(void *arg)
{
	struct fill *f = arg;
	size_t i, made;
	uint64_t now;

	while (!atomic_load(&f->failed) && !bench_interrupt_signal()) {
		i = atomic_fetch_add(&f->next, 1);
		if (i >= f->want)
			break;
		if (make_state(f->c, i) < 0) {
			pthread_mutex_lock(&f->mu);
			if (!atomic_exchange(&f->failed, 1))
				snprintf(f->error, sizeof(f->error), "%s", hl_error_last());
			pthread_mutex_unlock(&f->mu);
			break;
		}
		made = atomic_fetch_add(&f->made, 1) + 1;
		pthread_mutex_lock(&f->mu);
		now = hl_clock_ns();
		if (now - f->last_report >= 5000000000ull || made == f->want - f->c->ready) {
			double s = (double)(now - f->t0) / 1e9;

			f->last_report = now;
			hl_bench_progress("TPM state cache: %zu of %zu states made (%.0f s, %.2f s "
					  "each)", made, f->want - f->c->ready, s, s / (double)made);
		}
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

int bench_tpm_cache_fill(struct bench_tpm_cache *c, size_t want, int jobs)
{
	struct fill f;
	pthread_t th[64];
	sigset_t block, old;
	int n = 0, err, rc = 0;

	if (want <= c->ready)
		return 0;
	if (jobs < 1)
		jobs = 1;
	if (jobs > 64)
		jobs = 64;
	memset(&f, 0, sizeof(f));
	f.c = c;
	f.want = want;
	atomic_init(&f.next, c->ready);
	atomic_init(&f.made, 0);
	atomic_init(&f.failed, 0);
	pthread_mutex_init(&f.mu, NULL);
	f.t0 = f.last_report = hl_clock_ns();
	hl_bench_progress("TPM state cache '%s': making %zu state%s (%zu there), %d at once: "
			  "swtpm_setup (EK, EK certificate from the cache's vendor CA), then the "
			  "AK and TK in each", c->dir, want - c->ready, want - c->ready == 1 ? "" : "s",
			  c->ready, jobs);
	/* the threads leave the signals to this one; they stop at the flag */
	sigemptyset(&block);
	bench_signals_add(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (; n < jobs && (size_t)n < want - c->ready; n++) {
		if ((err = pthread_create(&th[n], NULL, fill_main, &f))) {
			atomic_store(&f.failed, 1);
			snprintf(f.error, sizeof(f.error), "cannot start a fill thread: %s",
				 strerror(err));
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&f.mu);
	if (atomic_load(&f.failed))
		rc = hl_error("%s", f.error);
	else if (bench_check_interrupted() < 0)
		rc = -1;
	/* the states made are in the cache whatever happened */
	if (cache_count(c) < 0 && rc == 0)
		rc = -1;
	return rc;
}

