/*
 * tpm_cache.c - the cache of manufactured TPM states (see tpm_cache.h for
 * its layout and contract): where it is, its lock (exclusive for a run that
 * changes it, shared for runs that copy states out), the checks of its
 * FORMAT and vendor CA (a mismatch rebuilds it), the count of its complete
 * states, and the fill: states made in parallel, each in tmp/ by
 * hosts/tpm_state, then renamed into states/ when complete.  sim/bench_fabric.c
 * runs the fabric benchmark on it; sim/lab.c gives scenario hosts its states.
 */
#include "sim/tpm_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hosts/manufacture.h"
#include "hosts/tpm_state.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/selfpath.h"
#include "sim/bench.h"

/* How often a waiting run retries the cache lock (ms). */
#define LOCK_RETRY_MS 200

/* "DIR/NAME" into BUF of SIZE. */
static int join(char *buf, size_t size, const char *dir, const char *name)
{
	return bench_path_fmt(buf, size, "%s/%s", dir, name);
}

/* One progress line of C (its io's prefix, then the message). */
static void progress(const struct tpm_cache *c, const char *fmt, ...) HL_PRINTF(2, 3);
static void progress(const struct tpm_cache *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->io.out)
		return;
	fputs(c->io.prefix ? c->io.prefix : "", c->io.out);
	va_start(ap, fmt);
	vfprintf(c->io.out, fmt, ap);
	va_end(ap);
	fputc('\n', c->io.out);
	fflush(c->io.out);
}

/* The signal that asked C's user to stop, or 0. */
static int stop_asked(const struct tpm_cache *c)
{
	return c->io.stop_asked ? c->io.stop_asked() : 0;
}

/* -1 with a message when a stop was asked, else 0. */
static int check_stop(const struct tpm_cache *c)
{
	int sig = stop_asked(c);

	if (sig)
		return hl_error("interrupted by signal %d (%s)", sig, strsignal(sig));
	return 0;
}

int tpm_cache_dir(const char *given, char **out)
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

/*
 * Take C's lock (DIR/.lock) in MODE: 0 when taken, 1 when MODE does not
 * wait and another run holds it.
 */
static int cache_lock(struct tpm_cache *c, enum tpm_cache_mode mode)
{
	char path[PATH_MAX];
	int op = mode == TPM_CACHE_SHARED ? LOCK_SH : LOCK_EX, told = 0;

	if (join(path, sizeof(path), c->dir, ".lock") < 0)
		return -1;
	/* O_RDWR even for a shared lock: the file may need creating */
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (c->lock_fd < 0)
		return hl_error_errno("cannot open the TPM state cache's lock '%s'", path);
	while (flock(c->lock_fd, op | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return hl_error_errno("cannot lock the TPM state cache '%s'", c->dir);
		if (errno == EWOULDBLOCK && mode != TPM_CACHE_WAIT)
			return 1;
		if (!told++)
			progress(c, "waiting for the TPM state cache '%s': another run uses it", c->dir);
		if (check_stop(c) < 0)
			return -1;
		poll(NULL, 0, LOCK_RETRY_MS);
	}
	c->locked = 1;
	c->exclusive = op == LOCK_EX;
	return 0;
}

/* The FORMAT text a cache whose vendor CA key has fingerprint FP holds, into BUF. */
static void format_text(char *buf, size_t size, const char *fp)
{
	snprintf(buf, size, "%s\nvendor-ca %s\n", TPM_CACHE_FORMAT, fp);
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
static void cache_mismatch(struct tpm_cache *c, char *why, size_t size)
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
	if (!nl || (size_t)(nl - text) != strlen(TPM_CACHE_FORMAT) ||
	    strncmp(text, TPM_CACHE_FORMAT, (size_t)(nl - text)) != 0) {
		snprintf(why, size, "its format is not '%s'", TPM_CACHE_FORMAT);
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
static int cache_clear(struct tpm_cache *c)
{
	static const char *const parts[] = { "states", "tmp", "vendor", "FORMAT" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (join(path, sizeof(path), c->dir, parts[i]) < 0 || hl_file_rmtree(path) < 0)
			return -1;
	return 0;
}

int tpm_cache_state(const struct tpm_cache *c, size_t i, char *buf, size_t size)
{
	return bench_path_fmt(buf, size, "%s/states/%05zu", c->dir, i);
}

/*
 * Count C's complete states; held exclusively, an incomplete one (and what
 * follows) is removed, else the count stops there.
 */
static int cache_count(struct tpm_cache *c)
{
	char path[PATH_MAX];
	int ex;

	c->ready = 0;
	for (;;) {
		if (tpm_cache_state(c, c->ready, path, sizeof(path)) < 0)
			return -1;
		if ((ex = hl_file_exists(path)) < 0)
			return -1;
		if (!ex)
			return 0;
		if (!hosts_tpm_state_complete(path)) {
			if (!c->exclusive)
				return 0;
			progress(c, "TPM state cache: state %zu is incomplete; it will be made again",
				 c->ready);
			return hl_file_rmtree(path);
		}
		c->ready++;
	}
}

/* The exclusive part of an open: rebuild a mismatched cache, start a new one, clean up. */
static int open_exclusive(struct tpm_cache *c)
{
	char path[PATH_MAX], why[512], fp[HL_SHA256_HEX_SIZE], text[256];

	cache_mismatch(c, why, sizeof(why));
	if (why[0]) {
		progress(c, "the TPM state cache '%s' does not match: %s; rebuilding it", c->dir, why);
		if (cache_clear(c) < 0)
			return -1;
		c->rebuilt = 1;
	}
	if (join(path, sizeof(path), c->dir, "FORMAT") < 0)
		return -1;
	if (hl_file_exists(path) != 1) {
		/* a new cache: its vendor CA first, then the FORMAT that names it */
		if (hosts_vendor_ca_init(c->vendor) < 0 || vendor_fingerprint(c->vendor, fp) < 0)
			return -1;
		format_text(text, sizeof(text), fp);
		if (hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0)
			return -1;
	}
	/* what an interrupted fill left */
	if (join(path, sizeof(path), c->dir, "tmp") < 0 || hl_file_rmtree(path) < 0 ||
	    join(path, sizeof(path), c->dir, "states") < 0 || hl_file_mkdirs(path, 0700) < 0)
		return -1;
	return cache_count(c);
}

int tpm_cache_open(struct tpm_cache *c, const char *dir, enum tpm_cache_mode mode,
		   const struct tpm_cache_io *io)
{
	char path[PATH_MAX], why[512];
	char *abs = NULL;
	int r, rc = -1;

	memset(c, 0, sizeof(*c));
	c->lock_fd = -1;
	if (io)
		c->io = *io;
	if (hl_file_mkdirs(dir, 0700) < 0 || hl_file_abspath(dir, &abs) < 0)
		goto out;
	if (bench_path_fmt(c->dir, sizeof(c->dir), "%s", abs) < 0 ||
	    join(c->vendor, sizeof(c->vendor), c->dir, "vendor") < 0 || (r = cache_lock(c, mode)) < 0)
		goto out;
	if (r == 1) {
		rc = 1;
		goto out;
	}
	if (c->exclusive) {
		if (open_exclusive(c) < 0)
			goto out;
	} else {
		/* a cache that does not match (or a new one) has no state to give */
		cache_mismatch(c, why, sizeof(why));
		if (!why[0] && join(path, sizeof(path), c->dir, "FORMAT") == 0 &&
		    hl_file_exists(path) == 1 && cache_count(c) < 0)
			goto out;
		hl_error_clear();
	}
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot open the TPM state cache '%s'", dir);
	if (rc != 0)
		tpm_cache_close(c);
	free(abs);
	return rc;
}

void tpm_cache_close(struct tpm_cache *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = -1;
	c->locked = 0;
	c->exclusive = 0;
}

/* The shared state of a fill's threads. */
struct fill {
	struct tpm_cache *c;
	size_t want;
	atomic_size_t next;           /* the next state to make */
	atomic_size_t made;
	atomic_int failed;
	pthread_mutex_t mu;           /* error and progress */
	char error[HL_ERROR_MAX];
	uint64_t t0, last_report;
};

/* Make state I in a temporary directory of the cache, then rename it into states/. */
static int make_state(struct tpm_cache *c, size_t i)
{
	char tmp[PATH_MAX], path[PATH_MAX], dest[PATH_MAX], name[32];
	int made = 0, rc = -1;

	snprintf(name, sizeof(name), TPM_CACHE_HOST_FMT, i + 1);
	if (bench_path_fmt(tmp, sizeof(tmp), "%s/tmp/%05zu-XXXXXX", c->dir, i) < 0 ||
	    join(path, sizeof(path), c->dir, "tmp") < 0 || hl_file_mkdirs(path, 0700) < 0)
		goto out;
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create '%s'", tmp);
		goto out;
	}
	made = 1;
	if (hosts_tpm_state_make(c->vendor, tmp, name) < 0 ||
	    tpm_cache_state(c, i, dest, sizeof(dest)) < 0 || hl_file_rmtree(dest) < 0)
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

	while (!atomic_load(&f->failed) && !stop_asked(f->c)) {
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
			progress(f->c, "TPM state cache: %zu of %zu states made (%.0f s, %.2f s each)",
				 made, f->want - f->c->ready, s, s / (double)made);
		}
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

int tpm_cache_fill(struct tpm_cache *c, size_t want, int jobs)
{
	struct fill f;
	pthread_t th[64];
	sigset_t block, old;
	int n = 0, err, rc = 0;

	if (want <= c->ready)
		return 0;
	if (!c->locked || !c->exclusive)
		return hl_error("the TPM state cache '%s' must be held alone to make states", c->dir);
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
	progress(c, "TPM state cache '%s': making %zu state%s (%zu there), %d at once: "
		 "swtpm_setup (EK, EK certificate from the cache's vendor CA), then the AK and TK "
		 "in each", c->dir, want - c->ready, want - c->ready == 1 ? "" : "s", c->ready, jobs);
	/* the threads leave the stop signals to this one; they stop at the flag */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
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
	else if (check_stop(c) < 0)
		rc = -1;
	/* the states made are in the cache whatever happened */
	if (cache_count(c) < 0 && rc == 0)
		rc = -1;
	return rc;
}
