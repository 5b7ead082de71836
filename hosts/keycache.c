/*
 * keycache.c - the key material cache of a guarded host (keycache.h): the
 * reader of HGS's two caching fields, the entries under HOSTDIR/keycache/
 * (JSON through lib/json, the sealed blobs from hosts/tpm_host's
 * hosts_tpm_seal, the folder and files opened without following links),
 * the invalidation rules, and hosts_keycache_resolve, which `host
 * start-vm` calls after the key release to seal a released TK or, when
 * HGS is down, to unseal the cached one with the host's TPM (hosts/agent's
 * host_tpm_open: the agent's swtpm, or our own with the boot replayed).
 */
#include "hosts/keycache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hosts/agent.h"
#include "hosts/host.h"
#include "hosts/kps_client.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proto/names.h"

/* Largest entry file read. */
#define ENTRY_MAX ((size_t)64 << 10)

int hosts_keycache_policy_read(const json_t *o, struct hosts_keycache_policy *out)
{
	const json_t *c = json_object_get(o, "KeyMaterialCaching");
	const char *g = NULL;

	memset(out, 0, sizeof(*out));
	if (!c)
		return 0;
	if (!json_is_boolean(c))
		return hl_error("field 'KeyMaterialCaching' must be true or false");
	out->allowed = json_is_true(c);
	if (out->allowed) {
		if (hl_json_get_string(o, "PolicyGeneration", &g) < 0)
			return hl_error_wrap("an answer that allows key material caching must carry "
					     "its policy generation");
		if (!*g || strlen(g) >= sizeof(out->generation))
			return hl_error("field 'PolicyGeneration' must be 1 to %zu characters",
					sizeof(out->generation) - 1);
		snprintf(out->generation, sizeof(out->generation), "%s", g);
	}
	out->known = 1;
	return 0;
}

/* ---- the folder ---- */

/*
 * Open H's cache folder into *FD (close-on-exec, never through a link):
 * 1 opened, 0 absent (when !CREATE), -1 error.  CREATE makes it 0700.
 */
static int dir_open(struct host *h, int create, int *fd)
{
	char *path = NULL;
	int rc = -1;

	*fd = -1;
	if (host_path(h, HOSTS_KEYCACHE_DIR, &path) < 0)
		return -1;
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		hl_error_errno("cannot make the key cache folder '%s'", path);
		goto out;
	}
	if (!create && access(path, F_OK) < 0 && errno == ENOENT) {
		rc = 0;
		goto out;
	}
	if ((*fd = hl_file_open_input_dir(AT_FDCWD, path, path)) < 0)
		goto out;
	rc = 1;
out:
	free(path);
	return rc;
}

/* Read entry NAME of folder FD into *OUT (a JSON object). */
static int entry_read(int fd, const char *name, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (hl_file_read_input(fd, name, name, ENTRY_MAX, 0, &text, &len) < 0)
		return hl_error_wrap("cannot read key cache entry");
	rc = hl_json_parse(text, len, ENTRY_MAX, out);
	if (rc == 0 && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = hl_error("key cache entry '%s' is not a JSON object", name);
	}
	free(text);
	return rc;
}

/* Delete entry NAME of folder FD; 1 removed, 0 absent, -1 error. */
static int entry_unlink(int fd, const char *name)
{
	if (unlinkat(fd, name, 0) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return hl_error_errno("cannot delete key cache entry '%s'", name);
}

/*
 * Delete the entries of H whose policy generation is not GEN (NULL: all of
 * them), counting them in *REMOVED; WHY goes to the log.  A file that does
 * not read as an entry goes too.
 */
static int sweep(struct host *h, const char *gen, const char *why, size_t *removed)
{
	struct dirent *d;
	DIR *dir = NULL;
	int fd, dup_fd, r, rc = -1;

	if (removed)
		*removed = 0;
	if ((r = dir_open(h, 0, &fd)) <= 0)
		return r;
	if ((dup_fd = dup(fd)) < 0 || !(dir = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		hl_error_errno("cannot list the key cache of host '%s'", h->name);
		goto out;
	}
	while ((d = readdir(dir))) {
		const char *g = NULL;
		json_t *e = NULL;
		int stale = 1;

		if (d->d_name[0] == '.')
			continue;
		if (gen && entry_read(fd, d->d_name, &e) == 0 &&
		    hl_json_get_string(e, "PolicyGeneration", &g) == 0 && strcmp(g, gen) == 0)
			stale = 0;
		hl_error_clear();
		json_decref(e);
		if (!stale)
			continue;
		if ((r = entry_unlink(fd, d->d_name)) < 0)
			goto out;
		if (r > 0) {
			hl_log_info("key cache: entry of VM '%s' deleted: %s", d->d_name, why);
			if (removed)
				(*removed)++;
		}
	}
	rc = 0;
out:
	if (dir)
		closedir(dir);
	close(fd);
	return rc;
}

int hosts_keycache_learn(struct host *h, const struct hosts_keycache_policy *p, size_t *removed)
{
	char why[128];

	if (removed)
		*removed = 0;
	if (!p->known)
		return 0;
	if (!p->allowed)
		return sweep(h, NULL, "HGS no longer allows key material caching", removed);
	snprintf(why, sizeof(why), "HGS's policy generation is now %s", p->generation);
	return sweep(h, p->generation, why, removed);
}

int hosts_keycache_clear(struct host *h, size_t *removed)
{
	return sweep(h, NULL, "cleared", removed);
}

int hosts_keycache_remove(struct host *h, const char *vm, size_t *removed)
{
	int fd, r;

	if (removed)
		*removed = 0;
	if (hl_name_vm(vm) < 0)
		return -1;
	if ((r = dir_open(h, 0, &fd)) <= 0)
		return r;
	r = entry_unlink(fd, vm);
	close(fd);
	if (r > 0 && removed)
		*removed = 1;
	return r < 0 ? -1 : 0;
}

/* ---- sealing and unsealing ---- */

/* The SHA-256 of KP in hex into OUT. */
static int kp_digest(const void *kp, size_t kp_len, char out[HL_SHA256_HEX_SIZE])
{
	unsigned char md[HL_SHA256_LEN];

	if (hl_crypto_sha256(kp, kp_len, md) < 0)
		return -1;
	return hl_crypto_hex_encode(md, sizeof(md), out, HL_SHA256_HEX_SIZE);
}

/* The PCR numbers of HOSTS_KEYCACHE_PCRS as a JSON array. */
static json_t *pcr_list(void)
{
	json_t *a = json_array();

	for (int i = 0; a && i < HL_TPM_PCR_COUNT; i++)
		if (HOSTS_KEYCACHE_PCRS & (1u << i))
			json_array_append_new(a, json_integer(i));
	return a;
}

/* Open H's TPM as it is booted now into *T, connected into *TPM. */
static int tpm_now(struct host *h, struct host_tpm **t, struct hl_tpm **tpm)
{
	*tpm = NULL;
	if (host_tpm_open(h, 1, 1, t) < 0 || !(*tpm = host_tpm_connect(*t)))
		return hl_error_wrap("cannot use the TPM of host '%s'", h->name);
	return 0;
}

int hosts_keycache_store(struct host *h, const char *vm, const void *kp, size_t kp_len,
			 const char *gen, const struct hl_buf *tk)
{
	struct hosts_tpm_key sealed = { { NULL, 0 }, { NULL, 0 } };
	char digest[HL_SHA256_HEX_SIZE], *text = NULL, *path = NULL, *dir = NULL;
	struct host_tpm *t = NULL;
	struct hl_tpm *tpm;
	json_t *o = NULL;
	int fd = -1, rc = -1;

	if (hl_name_vm(vm) < 0 || kp_digest(kp, kp_len, digest) < 0)
		return -1;
	if (dir_open(h, 1, &fd) < 0 || tpm_now(h, &t, &tpm) < 0 ||
	    hosts_tpm_seal(tpm, HOSTS_KEYCACHE_PCRS, tk->data, tk->len, &sealed) < 0)
		goto out;
	o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:I}", "Vm", vm, "KeyProtector", digest,
		      "PolicyGeneration", gen, "Pcrs", pcr_list(), "Bank", "sha256", "Created",
		      (json_int_t)time(NULL));
	if (!o || hl_json_set_base64(o, "Public", sealed.pub.data, sealed.pub.len) < 0 ||
	    hl_json_set_base64(o, "Private", sealed.priv.data, sealed.priv.len) < 0 ||
	    hl_json_dump(o, &text) < 0) {
		if (!o)
			hl_error("out of memory");
		goto out;
	}
	/* hl_file_write renames over the name: a link planted there is replaced, never followed */
	if (host_path(h, HOSTS_KEYCACHE_DIR, &dir) < 0 || asprintf(&path, "%s/%s", dir, vm) < 0) {
		path = NULL;
		if (dir)
			hl_error("out of memory");
		goto out;
	}
	if (hl_file_write_private(path, text, strlen(text)) < 0)
		goto out;
	hl_log_info("key cache: the TK of VM '%s' sealed to the TPM of host '%s' (PCRs 0-7, "
		    "11-14; policy generation %s)", vm, h->name, gen);
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot cache the key material of VM '%s'", vm);
	if (fd >= 0)
		close(fd);
	host_tpm_close(t);
	hosts_tpm_key_release(&sealed);
	json_decref(o);
	free(text);
	free(path);
	free(dir);
	return rc;
}

int hosts_keycache_open(struct host *h, const char *vm, const void *kp, size_t kp_len,
			struct hl_buf *tk, char *why, size_t size)
{
	struct hosts_tpm_key sealed = { { NULL, 0 }, { NULL, 0 } };
	char digest[HL_SHA256_HEX_SIZE];
	const char *kpd = NULL;
	struct host_tpm *t = NULL;
	struct hl_tpm *tpm;
	json_t *e = NULL;
	int fd = -1, r, rc = -1;

	tk->data = NULL;
	tk->len = 0;
	why[0] = '\0';
	if (hl_name_vm(vm) < 0 || kp_digest(kp, kp_len, digest) < 0)
		return -1;
	if ((r = dir_open(h, 0, &fd)) < 0)
		return -1;
	if (r == 0 || faccessat(fd, vm, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(why, size, "host '%s' holds no cached key material for VM '%s'", h->name,
			 vm);
		rc = HOSTS_KEYCACHE_NONE;
		goto out;
	}
	if (entry_read(fd, vm, &e) < 0 || hl_json_get_string(e, "KeyProtector", &kpd) < 0 ||
	    hl_json_get_base64(e, "Public", &sealed.pub.data, &sealed.pub.len) < 0 ||
	    hl_json_get_base64(e, "Private", &sealed.priv.data, &sealed.priv.len) < 0)
		goto out;
	if (strcmp(kpd, digest) != 0) {
		snprintf(why, size, "the cached key material of VM '%s' belongs to another key "
			 "protector than its current one", vm);
		rc = HOSTS_KEYCACHE_NONE;
		goto out;
	}
	if (tpm_now(h, &t, &tpm) < 0)
		goto out;
	r = hosts_tpm_unseal(tpm, &sealed, HOSTS_KEYCACHE_PCRS, tk);
	if (r == HOSTS_TPM_POLICY_FAIL) {
		snprintf(why, size, "the key material cache of VM '%s' does not match the measured "
			 "boot: the TPM of host '%s' refused to unseal it (%s); the host booted "
			 "another configuration than the one the key was sealed to", vm, h->name,
			 hl_error_last());
		hl_error_clear();
		rc = HOSTS_KEYCACHE_MISMATCH;
		goto out;
	}
	if (r < 0)
		goto out;
	if (tk->len != HL_KP_TK_LEN) {
		hl_buf_free(tk);
		hl_error("the cached key material of VM '%s' is not a TK", vm);
		goto out;
	}
	rc = HOSTS_KEYCACHE_OPENED;
out:
	if (rc < 0)
		hl_error_wrap("cannot open the cached key material of VM '%s'", vm);
	if (fd >= 0)
		close(fd);
	host_tpm_close(t);
	hosts_tpm_key_release(&sealed);
	json_decref(e);
	return rc;
}

/* 1 when U got no key because HGS could not be reached (a TransientError). */
static int hgs_down(const struct hosts_kps_unwrap *u)
{
	return u->outcome == HOSTS_KPS_UNREACHABLE ||
	       (u->outcome == HOSTS_KPS_NOT_HEALTHY && !strcmp(u->status, HOST_STATUS_TRANSIENT));
}

int hosts_keycache_resolve(struct host *h, const char *vm, const void *kp, size_t kp_len,
			   const struct hosts_kps_unwrap *u, struct hl_buf *tk, char *why,
			   size_t size)
{
	const struct hosts_keycache_policy *p = &u->release.caching;
	int r;

	why[0] = '\0';
	if (u->outcome == HOSTS_KPS_OPENED) {
		if (hosts_keycache_learn(h, p, NULL) < 0 ||
		    (p->known && p->allowed &&
		     hosts_keycache_store(h, vm, kp, kp_len, p->generation, tk) < 0)) {
			/* the key was released: the start goes on without a cache entry */
			hl_log_warn("%s", hl_error_last());
			hl_error_clear();
		}
		return HOSTS_KEY_KPS;
	}
	if (u->outcome == HOSTS_KPS_REFUSED) {
		if (hosts_keycache_remove(h, vm, NULL) < 0)
			return -1;
		return HOSTS_KEY_NONE;
	}
	if (!hgs_down(u))
		return HOSTS_KEY_NONE;
	r = hosts_keycache_open(h, vm, kp, kp_len, tk, why, size);
	if (r < 0)
		return -1;
	if (r == HOSTS_KEYCACHE_OPENED) {
		hl_log_info("key cache: VM '%s' gets its key material from the cache of host '%s' "
			    "(HGS unreachable)", vm, h->name);
		return HOSTS_KEY_CACHE;
	}
	return r == HOSTS_KEYCACHE_MISMATCH ? HOSTS_KEY_CACHE_MISMATCH : HOSTS_KEY_NONE;
}
