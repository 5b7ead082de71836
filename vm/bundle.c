/*
 * bundle.c - the VM bundle (bundle.h): VM names, policies, the one copy of a
 * bundle's parts (whole vtpm/ for the tenant's export, its state file for a
 * host's import) and its install as a new folder, and config.json, written
 * by the tenant's shield-vm and read by a host's import-vm.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "proto/names.h"
#include "vm/bundle.h"

/* The files of a bundle besides vtpm/, in copy order. */
static const char *const bundle_files[] = { "disk.img", "key-protector.kp", "config.json",
					     VM_BUNDLE_POLICY };

/* The vTPM state file swtpm needs. */
#define VTPM_STATE "tpm2-00.permall"

/* 1 for a known policy. */
int vm_bundle_policy_known(const char *policy)
{
	return !strcmp(policy, "shielded") || !strcmp(policy, "encryption-supported");
}

/* "A/B" malloc'd, NULL when out of memory. */
static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* Copy file SRC to DST with MODE. */
int vm_bundle_copy_file(const char *src, const char *dst, unsigned mode)
{
	char buf[65536];
	int in = -1, o = -1, rc = -1;
	ssize_t n;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		hl_error_errno("cannot read '%s'", src);
		goto out;
	}
	if ((o = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode)) < 0) {
		hl_error_errno("cannot create '%s'", dst);
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			hl_error_errno("cannot read '%s'", src);
			goto out;
		}
		if (write(o, buf, (size_t)n) != n) {
			hl_error_errno("cannot write '%s'", dst);
			goto out;
		}
	}
	if (fchmod(o, (mode_t)mode) < 0 || fsync(o) < 0) {
		hl_error_errno("cannot write '%s'", dst);
		goto out;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (o >= 0 && close(o) < 0 && rc == 0)
		rc = hl_error_errno("cannot write '%s'", dst);
	return rc;
}

/* Copy SRC/NAME to DST/NAME with MODE. */
static int copy_part(const char *src, const char *dst, const char *name, unsigned mode)
{
	char *a = join(src, name), *b = join(dst, name);
	int rc;

	rc = a && b ? vm_bundle_copy_file(a, b, mode) : hl_error("out of memory");
	free(a);
	free(b);
	return rc;
}

/* Copy every regular file of folder SRC (one level, no dot files) into folder DST. */
static int copy_regular_files(const char *src, const char *dst)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (!(d = opendir(src)))
		return hl_error_errno("cannot read '%s'", src);
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		char *a;

		if (e->d_name[0] == '.')
			continue;
		if (!(a = join(src, e->d_name))) {
			rc = hl_error("out of memory");
			break;
		}
		if (lstat(a, &st) == 0 && S_ISREG(st.st_mode))
			rc = copy_part(src, dst, e->d_name, 0600);
		free(a);
	}
	closedir(d);
	return rc;
}

/* Copy a bundle's parts. */
int vm_bundle_copy(const char *src, const char *dst, enum vm_bundle_vtpm vtpm)
{
	char *a = NULL, *b = NULL;
	size_t i;
	int rc = -1;

	for (i = 0; i < sizeof(bundle_files) / sizeof(bundle_files[0]); i++)
		if (copy_part(src, dst, bundle_files[i], i == 0 ? 0600 : 0644) < 0)
			return -1;
	if (!(a = join(src, "vtpm")) || !(b = join(dst, "vtpm"))) {
		hl_error("out of memory");
		goto out;
	}
	if (mkdir(b, 0700) < 0) {
		hl_error_errno("cannot create '%s'", b);
		goto out;
	}
	rc = vtpm == VM_BUNDLE_VTPM_ALL ? copy_regular_files(a, b) : copy_part(a, b, VTPM_STATE, 0600);
out:
	free(a);
	free(b);
	return rc;
}

/* Stage a copy of SRC in TMP and rename it onto DST. */
int vm_bundle_install(const char *src, enum vm_bundle_vtpm vtpm, char *tmp, const char *dst,
		      const char *where, const char *place, const char *what)
{
	if (!mkdtemp(tmp))
		return hl_error_errno("cannot create a folder %s '%s'", where, place);
	if (vm_bundle_copy(src, tmp, vtpm) < 0)
		goto fail;
	if (rename(tmp, dst) < 0) {
		hl_error_errno("cannot install %s '%s'", what, dst);
		goto fail;
	}
	return 0;
fail:
	hl_file_rmtree(tmp);
	return -1;
}

/* Write config.json. */
int vm_bundle_config_write(const char *dir, const char *name, const char *policy,
			   const char *kp_id, long long disk_size)
{
	char created[32], *path = NULL, *text = NULL;
	json_t *cfg;
	int rc = -1;

	hl_labclock_format(time(NULL), created, sizeof(created));
	cfg = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s}", "version", 1, "name", name,
			"policy", policy, "kp_id", kp_id, "disk_size", (json_int_t)disk_size,
			"shielded_at", created, "disk",
			"LUKS2 aes-xts-plain64, volume key sealed in the vTPM");
	if (!cfg || !(path = join(dir, "config.json"))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_json_dump_pretty(cfg, &text) < 0 ||
	    hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	json_decref(cfg);
	free(text);
	free(path);
	return rc;
}

/* Read a JSON file. */
int vm_bundle_read_json(const char *path, int optional, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (optional && hl_file_exists(path) != 1)
		return 0;
	if (hl_file_read(path, 1 << 20, &text, &len) < 0)
		return -1;
	rc = hl_json_parse(text, len, 0, out);
	free(text);
	if (rc < 0)
		hl_error_wrap("'%s'", path);
	return rc;
}

/* Read and check BUNDLE/config.json. */
int vm_bundle_config_read(const char *bundle, json_t **out)
{
	const char *name = NULL, *policy = NULL;
	char *path;
	json_t *cfg = NULL;
	int rc = -1;

	*out = NULL;
	if (!(path = join(bundle, "config.json")))
		return hl_error("out of memory");
	if (vm_bundle_read_json(path, 0, &cfg) < 0) {
		hl_error_wrap("'%s' is not a VM bundle (export one with `hgslab tenant export-vm`)",
			      bundle);
		goto out;
	}
	if (hl_json_get_string(cfg, "name", &name) < 0 ||
	    hl_json_get_string(cfg, "policy", &policy) < 0 || hl_name_vm(name) < 0)
		goto out;
	if (!vm_bundle_policy_known(policy)) {
		hl_error("bundle '%s' has an unknown policy '%s'", bundle, policy);
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	json_decref(cfg);
	free(path);
	return rc;
}
