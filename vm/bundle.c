/*
 * bundle.c - the VM bundle (bundle.h): VM names, policies, the one copy of a
 * bundle's parts (whole vtpm/ for the tenant's export, its state file for a
 * host's import) and its install as a new folder through a staging folder
 * (lib/staging), and config.json, written by the tenant's shield-vm and read
 * by a host's import-vm.  A bundle is read as outside input: every part is
 * opened under the bundle's folder descriptor with lib/fileio's input rules
 * (no link followed, regular files only, never blocking) and bounded by the
 * sizes the bundle declares.
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
#include "lib/staging.h"
#include "proto/keyprotector.h"
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

/* A bundle opened for reading.  Invariant: dir >= 0 while open; disk_max from its config.json. */
struct src {
	const char *path;       /* as the caller gave it */
	int dir;                /* the bundle folder */
	uint64_t disk_max;      /* config.json's disk_size */
};

/* Read and check config.json in bundle folder DIR (BUNDLE names it) into *OUT. */
static int config_read_at(int dir, const char *bundle, json_t **out)
{
	const char *name = NULL, *policy = NULL;
	char shown[PATH_MAX], *text = NULL;
	json_int_t disk = 0;
	json_t *cfg = NULL;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	snprintf(shown, sizeof(shown), "%s/config.json", bundle);
	if (hl_file_read_input(dir, "config.json", shown, VM_BUNDLE_CONFIG_MAX, 0, &text, &len) < 0 ||
	    hl_json_parse(text, len, 0, &cfg) < 0) {
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
	if (hl_json_get_int(cfg, "disk_size", &disk) < 0 || disk <= 0 ||
	    (uint64_t)disk > VM_BUNDLE_DISK_MAX) {
		hl_error("bundle '%s' declares no valid disk_size in config.json (1 to %ju bytes), "
			 "so its disk cannot be bounded", bundle, (uintmax_t)VM_BUNDLE_DISK_MAX);
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	json_decref(cfg);
	free(text);
	return rc;
}

/*
 * Open bundle PATH into S: its folder (the path the user named, followed) and
 * its disk bound; its checked config.json into *CFG when CFG is not NULL.
 */
static int src_open(struct src *s, const char *path, json_t **cfg_out)
{
	json_t *cfg = NULL;

	if (cfg_out)
		*cfg_out = NULL;
	s->path = path;
	s->disk_max = 0;
	if ((s->dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return hl_error_errno("'%s' is not a VM bundle (export one with `hgslab tenant "
				      "export-vm`): cannot read it", path);
	if (config_read_at(s->dir, path, &cfg) < 0) {
		close(s->dir);
		s->dir = -1;
		return -1;
	}
	s->disk_max = (uint64_t)json_integer_value(json_object_get(cfg, "disk_size"));
	if (cfg_out)
		*cfg_out = cfg;
	else
		json_decref(cfg);
	return 0;
}

/* Close S (a closed one too). */
static void src_close(struct src *s)
{
	if (s->dir >= 0)
		close(s->dir);
	s->dir = -1;
}

/* The bound of part NAME of S outside vtpm/; vTPM files have VM_BUNDLE_VTPM_MAX. */
static uint64_t part_max(const struct src *s, const char *name)
{
	if (!strcmp(name, "disk.img"))
		return s->disk_max;
	if (!strcmp(name, "key-protector.kp"))
		return HL_KP_MAX_SIZE;
	if (!strcmp(name, "config.json"))
		return VM_BUNDLE_CONFIG_MAX;
	return VM_BUNDLE_VTPM_MAX;
}

/* Open NAME in folder DIRFD of S (SUB "" or "vtpm/") as outside input, at most MAX bytes. */
static int part_open(const struct src *s, int dirfd, const char *sub, const char *name,
		     uint64_t max)
{
	char shown[PATH_MAX];
	uint64_t size;

	snprintf(shown, sizeof(shown), "%s/%s%s", s->path, sub, name);
	return hl_file_open_input(dirfd, name, shown, max, 0, &size);
}

/*
 * Copy what IN holds (at most MAX bytes; SHOWN names it) to new file DST with
 * MODE, synced.  -2 when IN grew past MAX while read, -1 on other failures.
 */
static int copy_fd(int in, uint64_t max, const char *shown, const char *dst, unsigned mode)
{
	char buf[65536];
	uint64_t done = 0;
	int o, rc = -1;
	ssize_t n;

	if ((o = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      (mode_t)mode)) < 0)
		return hl_error_errno("cannot create '%s'", dst);
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			hl_error_errno("cannot read '%s'", shown);
			goto out;
		}
		if ((done += (uint64_t)n) > max) {
			hl_error("'%s' grew past the %ju bytes it may have while it was read", shown,
				 (uintmax_t)max);
			rc = -2;
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
	if (close(o) < 0 && rc == 0)
		rc = hl_error_errno("cannot write '%s'", dst);
	return rc;
}

/* Copy NAME of folder DIRFD of S (SUB "" or "vtpm/") to DST/NAME with MODE; -2 when refused. */
static int copy_one(const struct src *s, int dirfd, const char *sub, const char *name,
		    uint64_t max, const char *dst, unsigned mode)
{
	char shown[PATH_MAX], *to;
	int in, rc;

	snprintf(shown, sizeof(shown), "%s/%s%s", s->path, sub, name);
	if ((in = part_open(s, dirfd, sub, name, max)) < 0)
		return -2;
	if (!(to = join(dst, name))) {
		close(in);
		return hl_error("out of memory");
	}
	rc = copy_fd(in, max, shown, to, mode);
	close(in);
	free(to);
	return rc;
}

/* Copy every regular file of S's vtpm/ (folder VT; no dot files, folders skipped) into DST. */
static int copy_vtpm_all(const struct src *s, int vt, const char *dst)
{
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	if ((fd = dup(vt)) < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return hl_error_errno("cannot read '%s/vtpm'", s->path);
	}
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (fstatat(vt, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			continue;
		rc = copy_one(s, vt, "vtpm/", e->d_name, VM_BUNDLE_VTPM_MAX, dst, 0600);
	}
	closedir(d);
	return rc;
}

/* Copy a bundle's parts. */
int vm_bundle_copy(const char *src, const char *dst, enum vm_bundle_vtpm vtpm)
{
	struct src s = { NULL, -1, 0 };
	char shown[PATH_MAX], *b = NULL;
	size_t i;
	int vt = -1, rc;

	if (src_open(&s, src, NULL) < 0)
		return -2;
	for (i = 0, rc = 0; rc == 0 && i < sizeof(bundle_files) / sizeof(bundle_files[0]); i++)
		rc = copy_one(&s, s.dir, "", bundle_files[i], part_max(&s, bundle_files[i]), dst,
			      i == 0 ? 0600 : 0644);
	if (rc < 0)
		goto out;
	snprintf(shown, sizeof(shown), "%s/vtpm", src);
	if ((vt = hl_file_open_input_dir(s.dir, "vtpm", shown)) < 0) {
		rc = -2;
		goto out;
	}
	if (!(b = join(dst, "vtpm"))) {
		rc = hl_error("out of memory");
		goto out;
	}
	if (mkdir(b, 0700) < 0) {
		rc = hl_error_errno("cannot create '%s'", b);
		goto out;
	}
	rc = vtpm == VM_BUNDLE_VTPM_ALL ? copy_vtpm_all(&s, vt, b) :
	     copy_one(&s, vt, "vtpm/", VTPM_STATE, VM_BUNDLE_VTPM_MAX, b, 0600);
out:
	if (vt >= 0)
		close(vt);
	src_close(&s);
	free(b);
	return rc;
}

/* Stage a copy of SRC beside DST and rename it onto DST. */
int vm_bundle_install(const char *src, enum vm_bundle_vtpm vtpm, const char *dst,
		      const char *prefix, const char *where, const char *place, const char *what)
{
	struct hl_staging st = HL_STAGING_INIT;
	char *parent = strdup(dst), *slash;
	int rc;

	if (!parent)
		return hl_error("out of memory");
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, strlen(parent) + 1, ".");
	else if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (hl_staging_begin(&st, parent, prefix) < 0) {
		free(parent);
		return hl_error_wrap("cannot create a folder %s '%s'", where, place);
	}
	free(parent);
	if ((rc = vm_bundle_copy(src, st.path, vtpm)) == 0 && hl_staging_commit(&st, dst, what) < 0)
		rc = -1;
	hl_staging_end(&st);
	return rc;
}

/* Open PART of BUNDLE by the bundle's rules. */
int vm_bundle_open_part(const char *bundle, const char *part, uint64_t *size)
{
	struct src s = { NULL, -1, 0 };
	char shown[PATH_MAX];
	int vt, fd;

	*size = 0;
	if (src_open(&s, bundle, NULL) < 0)
		return -2;
	if (strncmp(part, "vtpm/", 5)) {
		snprintf(shown, sizeof(shown), "%s/%s", bundle, part);
		fd = hl_file_open_input(s.dir, part, shown, part_max(&s, part), 0, size);
	} else {
		snprintf(shown, sizeof(shown), "%s/vtpm", bundle);
		fd = -1;
		if ((vt = hl_file_open_input_dir(s.dir, "vtpm", shown)) >= 0) {
			snprintf(shown, sizeof(shown), "%s/%s", bundle, part);
			fd = hl_file_open_input(vt, part + 5, shown, VM_BUNDLE_VTPM_MAX, 0, size);
			close(vt);
		}
	}
	src_close(&s);
	return fd < 0 ? -2 : fd;
}

/* Copy PART of BUNDLE to DST. */
int vm_bundle_copy_part(const char *bundle, const char *part, const char *dst, unsigned mode)
{
	char shown[PATH_MAX];
	uint64_t size;
	int in, rc;

	if ((in = vm_bundle_open_part(bundle, part, &size)) < 0)
		return in;
	snprintf(shown, sizeof(shown), "%s/%s", bundle, part);
	rc = copy_fd(in, size, shown, dst, mode);
	close(in);
	return rc;
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
	struct src s = { NULL, -1, 0 };
	int rc = src_open(&s, bundle, out);

	src_close(&s);
	return rc;
}
