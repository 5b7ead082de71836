/*
 * tpm_state.c - a manufactured TPM state (see tpm_state.h): made in the
 * factory (hosts_tpm_state_make: swtpm_setup through hosts/manufacture, then
 * the EK read and the AK and TK created through hosts/tpm_host in a swtpm of
 * the state) and adopted by a new host (hosts_tpm_state_adopt: a checked
 * copy).  sim/tpm_cache keeps states made ahead of time; hosts/host calls
 * the adoption for `host new --tpm-state`.
 */
#include "hosts/tpm_state.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts/manufacture.h"
#include "hosts/tpm_host.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"

/* The files of a complete state. */
static const char *const state_files[] = { HOSTS_TPM_STATE_PERMALL, HOSTS_TPM_STATE_EK_PUB,
					   HOSTS_TPM_STATE_EK_CERT, HOSTS_TPM_STATE_AK,
					   HOSTS_TPM_STATE_TK };
#define N_STATE_FILES (sizeof(state_files) / sizeof(state_files[0]))

/* The swtpm a state is used in: loopback, bounded waits. */
#define STATE_TPM_ADDR "127.0.0.1"
#define STATE_SWTPM_READY_MS 60000
#define STATE_SWTPM_STOP_MS 5000

/* Largest swtpm state file copied. */
#define PERMALL_MAX (1u << 20)

/* "DIR/NAME" into BUF of SIZE. */
static int join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return hl_error("path too long: '%s/%s'", dir, name);
	return 0;
}

int hosts_tpm_state_complete(const char *dir)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < N_STATE_FILES; i++)
		if (join(path, sizeof(path), dir, state_files[i]) < 0 || hl_file_exists(path) != 1) {
			hl_error_clear();
			return 0;
		}
	return 1;
}

/* A swtpm on state directory DIR and a connection to it. */
struct state_tpm {
	struct hl_swtpm *sw;
	struct hl_tpm *tpm;
};

/* Start a swtpm on DIR and connect to it into T. */
static int state_tpm_start(struct state_tpm *t, const char *dir)
{
	struct hl_swtpm_opts so = { 0 };

	so.state_dir = dir;
	so.host = STATE_TPM_ADDR;
	so.timeout_ms = STATE_SWTPM_READY_MS;
	if (hl_swtpm_start(&so, &t->sw) < 0 || hl_tpm_connect(hl_swtpm_tcti(t->sw), &t->tpm) < 0)
		return -1;
	return 0;
}

/* Disconnect and stop T's swtpm (it saves the state); RET, or -1 when the stop fails. */
static int state_tpm_stop(struct state_tpm *t, int ret)
{
	hl_tpm_disconnect(t->tpm);
	t->tpm = NULL;
	if (t->sw && hl_swtpm_stop(t->sw, STATE_SWTPM_STOP_MS, NULL) < 0 && ret == 0)
		ret = -1;
	hl_swtpm_free(t->sw);
	t->sw = NULL;
	return ret;
}

int hosts_tpm_state_make(const char *vendor_dir, const char *dir, const char *host)
{
	char path[PATH_MAX], path2[PATH_MAX];
	struct state_tpm t = { NULL, NULL };
	struct hosts_ek *ek = NULL;
	struct hosts_tpm_key ak = { { NULL, 0 }, { NULL, 0 } }, tk = { { NULL, 0 }, { NULL, 0 } };
	int rc = -1;

	if (hosts_tpm_manufacture(vendor_dir, dir, host) < 0 || state_tpm_start(&t, dir) < 0 ||
	    hosts_tpm_read_ek(t.tpm, &ek) < 0 || hosts_tpm_create_ak(t.tpm, &ak) < 0 ||
	    hosts_tpm_create_transport_key(t.tpm, &tk) < 0)
		goto out;
	if (join(path, sizeof(path), dir, HOSTS_TPM_STATE_EK_PUB) < 0 ||
	    join(path2, sizeof(path2), dir, HOSTS_TPM_STATE_EK_CERT) < 0 ||
	    hosts_ek_save(ek, path, path2) < 0 ||
	    join(path, sizeof(path), dir, HOSTS_TPM_STATE_AK) < 0 || hosts_tpm_key_save(&ak, path) < 0 ||
	    join(path, sizeof(path), dir, HOSTS_TPM_STATE_TK) < 0 || hosts_tpm_key_save(&tk, path) < 0)
		goto out;
	rc = 0;
out:
	rc = state_tpm_stop(&t, rc);
	/* the logs are of no use in a state kept for later */
	if (join(path, sizeof(path), dir, "swtpm.log") == 0)
		unlink(path);
	if (join(path, sizeof(path), dir, HOSTS_MANUFACTURE_LOG) == 0)
		unlink(path);
	if (rc == 0 && !hosts_tpm_state_complete(dir))
		rc = hl_error("state '%s' lacks a file after it was made", dir);
	if (rc < 0)
		hl_error_wrap("cannot make a TPM state for '%s' in '%s'", host, dir);
	hosts_ek_free(ek);
	hosts_tpm_key_release(&ak);
	hosts_tpm_key_release(&tk);
	return rc;
}

int hosts_tpm_state_copy_tpm(const char *state_dir, const char *tpm_dir)
{
	char from[PATH_MAX], to[PATH_MAX], *data = NULL;
	size_t len = 0;
	int ex, rc = -1;

	if (join(from, sizeof(from), state_dir, HOSTS_TPM_STATE_PERMALL) < 0 ||
	    join(to, sizeof(to), tpm_dir, HOSTS_TPM_STATE_PERMALL) < 0 ||
	    hl_file_mkdirs(tpm_dir, 0700) < 0 || (ex = hl_file_exists(to)) < 0)
		return -1;
	if (ex)
		return hl_error("'%s' already holds a TPM", tpm_dir);
	if (hl_file_read(from, PERMALL_MAX, &data, &len) == 0 &&
	    hl_file_write_private(to, data, len) == 0)
		rc = 0;
	if (data)
		hl_crypto_cleanse(data, len);
	free(data);
	return rc;
}

/* Copy the TPM key file FROM to TO through its parser (a file that is no key is refused). */
static int copy_key(const char *from, const char *to)
{
	struct hosts_tpm_key k = { { NULL, 0 }, { NULL, 0 } };
	int rc = -1;

	if (hosts_tpm_key_load(from, &k) == 0 && hosts_tpm_key_save(&k, to) == 0)
		rc = 0;
	hosts_tpm_key_release(&k);
	return rc;
}

/*
 * Check the EK of the TPM in TPM_DIR (run in a swtpm): it is the one the
 * state's ek.pub names and its certificate chains to the vendor CA VENDOR.
 */
static int check_ek(const char *state_dir, const char *tpm_dir, X509 *vendor)
{
	char pub[PATH_MAX], cert[PATH_MAX];
	struct state_tpm t = { NULL, NULL };
	struct hosts_ek *ek = NULL, *named = NULL;
	int rc = -1;

	if (join(pub, sizeof(pub), state_dir, HOSTS_TPM_STATE_EK_PUB) < 0 ||
	    join(cert, sizeof(cert), state_dir, HOSTS_TPM_STATE_EK_CERT) < 0 ||
	    hosts_ek_load(pub, cert, &named) < 0 || state_tpm_start(&t, tpm_dir) < 0 ||
	    hosts_tpm_read_ek(t.tpm, &ek) < 0)
		goto out;
	if (!hl_key_pub_equal(ek->pub, named->pub)) {
		hl_error("its TPM's EK is not the one its '%s' names (a state mixed from two TPMs)",
			 HOSTS_TPM_STATE_EK_PUB);
		goto out;
	}
	if (!ek->cert) {
		hl_error("its TPM has no EK certificate (NV index 0x%08x is empty)",
			 HOSTS_EK_CERT_NV_INDEX);
		goto out;
	}
	if (hl_cert_verify(ek->cert, vendor, NULL, 0, 0) < 0) {
		hl_error_wrap("its EK certificate does not chain to the lab's TPM vendor CA");
		goto out;
	}
	rc = 0;
out:
	rc = state_tpm_stop(&t, rc);
	hosts_ek_free(ek);
	hosts_ek_free(named);
	return rc;
}

int hosts_tpm_state_adopt(const char *state_dir, const char *vendor_dir, const char *tpm_dir,
			  const char *ak_path, const char *tk_path)
{
	char from[PATH_MAX];
	X509 *vendor = NULL;
	int made = 0, rc = -1;

	if (!hosts_tpm_state_complete(state_dir)) {
		hl_error("it is not a complete TPM state (it needs %s, %s, %s, %s and %s)",
			 HOSTS_TPM_STATE_PERMALL, HOSTS_TPM_STATE_EK_PUB, HOSTS_TPM_STATE_EK_CERT,
			 HOSTS_TPM_STATE_AK, HOSTS_TPM_STATE_TK);
		goto out;
	}
	if (hosts_vendor_ca_cert(vendor_dir, &vendor) < 0 ||
	    hosts_tpm_state_copy_tpm(state_dir, tpm_dir) < 0)
		goto out;
	made = 1;
	if (check_ek(state_dir, tpm_dir, vendor) < 0)
		goto out;
	if (join(from, sizeof(from), state_dir, HOSTS_TPM_STATE_AK) < 0 || copy_key(from, ak_path) < 0 ||
	    join(from, sizeof(from), state_dir, HOSTS_TPM_STATE_TK) < 0 || copy_key(from, tk_path) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		char saved[HL_ERROR_MAX];

		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		if (made) {
			hl_file_rmtree(tpm_dir);
			unlink(ak_path);
			unlink(tk_path);
		}
		hl_error("cannot adopt the TPM state '%s': %s", state_dir, saved);
	}
	hl_cert_free(vendor);
	return rc;
}
