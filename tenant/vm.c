/*
 * vm.c - the tenant's VMs (tenant/vm.h): the plain template disk made with
 * `mke2fs -d` (no root), the shielding boot run on the tenant's own machine
 * (the VM launcher of hosts/vm.h: swtpm with the TK through a pipe, QEMU TCG
 * in provisioning mode, the guest agent's events from its virtio-serial
 * port), and the bundle.
 *
 * Crash safety: every VM folder and the shielded/ folder are built in a
 * temporary folder beside their final place and renamed in one step.
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

#include <jansson.h>

#include "lib/child.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "hosts/vm.h"
#include "proto/keyprotector.h"
#include "tenant/guardian.h"
#include "tenant/vm.h"

/* Validate a VM name. */
int hl_vm_name_check(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n >= HL_VM_NAME_MAX || name[0] == '.')
		return hl_error("bad VM name '%s': use 1 to %d of A-Z a-z 0-9 . _ - (not starting "
				"with '.')", name ? name : "", HL_VM_NAME_MAX - 1);
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return hl_error("bad VM name '%s': use 1 to %d of A-Z a-z 0-9 . _ - (not "
					"starting with '.')", name, HL_VM_NAME_MAX - 1);
	}
	return 0;
}

/* The current time as RFC 3339 UTC into BUF. */
static void now_rfc3339(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Run ARGV to completion within TIMEOUT_MS, output to LOG; 0 when it exits 0. */
static int run_tool(const char *const argv[], const char *log, int timeout_ms)
{
	struct hl_child_opts co = { 0 };
	struct hl_child *c = NULL;
	int status = -1, rc = -1;

	co.log_path = log;
	if (hl_child_spawn(argv, &co, &c) < 0)
		return -1;
	if (hl_child_wait(c, timeout_ms, &status) < 0 || status < 0) {
		hl_child_stop(c, 0, NULL);
		hl_error("'%s' did not finish within %d s", argv[0], timeout_ms / 1000);
		goto out;
	}
	if (status != 0) {
		hl_error("'%s' failed with status %d%s%s", argv[0], status, log ? "; see " : "",
			 log ? log : "");
		goto out;
	}
	rc = 0;
out:
	hl_child_free(c);
	return rc;
}

/* Copy file SRC to DST with MODE. */
int hl_vm_copy_file(const char *src, const char *dst, unsigned mode)
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

/* Copy directory SRC (regular files only, one level) into new directory DST. */
static int copy_dir(const char *src, const char *dst)
{
	DIR *d = NULL;
	struct dirent *e;
	char *a = NULL, *b = NULL;
	int rc = -1;

	if (mkdir(dst, 0700) < 0)
		return hl_error_errno("cannot create '%s'", dst);
	if (!(d = opendir(src)))
		return hl_error_errno("cannot read '%s'", src);
	while ((e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		free(a);
		free(b);
		a = b = NULL;
		if (asprintf(&a, "%s/%s", src, e->d_name) < 0 ||
		    asprintf(&b, "%s/%s", dst, e->d_name) < 0) {
			a = b = NULL;
			hl_error("out of memory");
			goto out;
		}
		if (lstat(a, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (hl_vm_copy_file(a, b, 0600) < 0)
			goto out;
	}
	rc = 0;
out:
	free(a);
	free(b);
	closedir(d);
	return rc;
}

/* Write FILE's CONTENT under STAGE, creating parent folders; refuses ".." and absolute names. */
static int stage_file(const char *stage, const struct hl_vm_file *f)
{
	char *path = NULL, *slash;
	int rc = -1;

	if (!f->name[0] || f->name[0] == '/' || strstr(f->name, ".."))
		return hl_error("bad file name '%s' for the VM's disk: give a relative path without "
				"'..'", f->name);
	if (asprintf(&path, "%s/%s", stage, f->name) < 0)
		return hl_error("out of memory");
	if ((slash = strrchr(path, '/')) && slash > path + strlen(stage)) {
		*slash = '\0';
		if (hl_file_mkdirs(path, 0700) < 0)
			goto out;
		*slash = '/';
	}
	rc = hl_file_write(path, f->content, strlen(f->content), 0644);
out:
	free(path);
	return rc;
}

/* new-vm. */
int hl_vm_new(const char *dir, const char *name, size_t size, const struct hl_vm_file *files,
	      size_t n, const char *srcdir)
{
	char *vms = NULL, *final = NULL, *tmp = NULL, *stage = NULL, *img = NULL, *cfg = NULL;
	char *log = NULL, *srcdot = NULL, *text = NULL, created[32], sizearg[32];
	json_t *o = NULL;
	size_t i;
	int rc = -1;

	if (hl_vm_name_check(name) < 0)
		return -1;
	if (size < ((size_t)1 << 20) || size > ((size_t)16 << 30))
		return hl_error("bad disk size %zu: give 1M to 16G", size);
	if (asprintf(&vms, "%s/vms", dir) < 0 || asprintf(&final, "%s/vms/%s", dir, name) < 0 ||
	    asprintf(&tmp, "%s/vms/.new-%s.XXXXXX", dir, name) < 0) {
		vms = final = tmp = NULL;
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(final) != 0) {
		hl_error("VM '%s' already exists in '%s': pick another name or remove '%s'", name,
			 dir, final);
		goto out;
	}
	if (hl_file_mkdirs(vms, 0700) < 0)
		goto out;
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a folder in '%s'", vms);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (asprintf(&stage, "%s/files", tmp) < 0 || asprintf(&img, "%s/plain.img", tmp) < 0 ||
	    asprintf(&cfg, "%s/vm.json", tmp) < 0 || asprintf(&log, "%s/mke2fs.log", tmp) < 0) {
		stage = img = cfg = log = NULL;
		hl_error("out of memory");
		goto out;
	}
	if (mkdir(stage, 0700) < 0) {
		hl_error_errno("cannot create '%s'", stage);
		goto out;
	}
	if (srcdir) {
		const char *cp[] = { "cp", "-R", "--no-preserve=ownership", NULL, stage, NULL };
		if (asprintf(&srcdot, "%s/.", srcdir) < 0) {
			srcdot = NULL;
			hl_error("out of memory");
			goto out;
		}
		cp[3] = srcdot;
		if (run_tool(cp, log, 120000) < 0) {
			hl_error_wrap("cannot copy the files of '%s'", srcdir);
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (stage_file(stage, &files[i]) < 0)
			goto out;
	snprintf(sizearg, sizeof(sizearg), "%zuk", size / 1024);
	{
		const char *mk[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", stage, img, sizearg,
				     NULL };
		if (run_tool(mk, log, 120000) < 0) {
			hl_error_wrap("cannot make the VM's plain disk (files too big for %s?)",
				      sizearg);
			goto out;
		}
	}
	unlink(log);
	if (hl_file_rmtree(stage) < 0)
		goto out;
	if (chmod(img, 0600) < 0) {
		hl_error_errno("cannot make '%s' private", img);
		goto out;
	}
	now_rfc3339(created, sizeof(created));
	o = json_pack("{s:i, s:s, s:I, s:s}", "version", 1, "name", name, "disk_size",
		      (json_int_t)size, "created", created);
	if (!o || hl_json_dump_pretty(o, &text) < 0 ||
	    hl_file_write(cfg, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (rename(tmp, final) < 0) {
		hl_error_errno("cannot install VM '%s' in '%s'", name, vms);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && tmp)
		hl_file_rmtree(tmp);
	json_decref(o);
	free(text);
	free(srcdot);
	free(log);
	free(cfg);
	free(img);
	free(stage);
	free(tmp);
	free(final);
	free(vms);
	return rc;
}

/* Remove stale .shield-* folders in VMDIR (an earlier run cut short). */
static void clean_stale(const char *vmdir)
{
	DIR *d = opendir(vmdir);
	struct dirent *e;
	char *p;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".shield-", 8) && asprintf(&p, "%s/%s", vmdir,
								   e->d_name) >= 0) {
			hl_file_rmtree(p);
			free(p);
		}
	closedir(d);
}

/*
 * Unwrap the TK of the KP at KP_PATH with the key of its owner, who must be a
 * guardian of DIR; the KP's bytes in *KPTEXT.  -2 when the owner check refuses.
 */
static int owner_tk(const char *dir, const char *kp_path, struct hl_buf *tk, char **kptext,
		    size_t *kplen, char kp_id[HL_KP_ID_SIZE])
{
	struct hl_guardian *owner = NULL;
	struct hl_kp *kp = NULL;
	int rc = -1;

	*kptext = NULL;
	if (hl_file_read(kp_path, HL_KP_MAX_SIZE, kptext, kplen) < 0)
		return -1;
	if (hl_kp_parse(*kptext, *kplen, &kp) < 0) {
		hl_error_wrap("'%s'", kp_path);
		goto out;
	}
	if (hl_guardian_find(dir, kp->owner_signing_thumbprint, 1, HL_GUARDIAN_LOAD_KEYS,
			     &owner) < 0) {
		hl_error("key protector %s is owned by '%s' (signing certificate %s), which is not "
			 "a guardian with private keys in '%s': only the owner can shield a VM "
			 "with it", kp->id, kp->owner_name, kp->owner_signing_thumbprint, dir);
		rc = -2;
		goto out;
	}
	if (hl_kp_verify(kp, owner->signing_thumbprint) < 0) {
		rc = -2;
		goto out;
	}
	if (hl_kp_unwrap_entry(&kp->entries[0], owner->encryption_key, tk) < 0)
		goto out;
	if (tk->len != HL_KP_TK_LEN) {
		hl_buf_free(tk);
		hl_error("key protector %s holds a %zu-byte TK, not %d", kp->id, tk->len,
			 HL_KP_TK_LEN);
		goto out;
	}
	memcpy(kp_id, kp->id, HL_KP_ID_SIZE);
	rc = 0;
out:
	if (rc < 0) {
		free(*kptext);
		*kptext = NULL;
	}
	hl_guardian_free(owner);
	hl_kp_free(kp);
	return rc;
}

/* Join A and B into a malloc'd "A/B" (NULL when out of memory). */
static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* shield-vm. */
int hl_vm_shield(const char *dir, const char *name, const char *kp_path, const char *policy,
		 const struct hl_vm_shield_opts *opts)
{
	struct hl_buf tk = { NULL, 0 };
	struct hosts_vm_launch l = { 0 };
	struct hosts_vm_proc *p = NULL;
	char *vmdir = NULL, *tmp = NULL, *plain = NULL, *disk = NULL, *vtpm = NULL;
	char *kpcopy = NULL, *cfgpath = NULL, *final = NULL, *kptext = NULL, *text = NULL;
	char kp_id[HL_KP_ID_SIZE], created[32];
	static const char *const scratch[] = { "swtpm.sock", "agent.sock", "qmp.sock", "swtpm.log",
					       "qemu.log", "console.log" };
	int rc = -1, r, fd, timeout;
	size_t kplen = 0, i;
	struct stat st;
	json_t *cfg = NULL;

	timeout = opts->timeout_s > 0 ? opts->timeout_s : HL_VM_PROVISION_TIMEOUT;
	if (strcmp(policy, "shielded") && strcmp(policy, "encryption-supported"))
		return hl_error("bad policy '%s': give shielded or encryption-supported", policy);
	if (hl_vm_name_check(name) < 0)
		return -1;
	if (asprintf(&vmdir, "%s/vms/%s", dir, name) < 0)
		return hl_error("out of memory");
	if (!(final = join(vmdir, "shielded")) || !(plain = join(vmdir, "plain.img"))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(vmdir) != 1) {
		hl_error("no VM '%s' in '%s': make it with `hgslab tenant new-vm`", name, dir);
		goto out;
	}
	if (hl_file_exists(final) == 1) {
		hl_error("VM '%s' is already shielded: export it with `hgslab tenant export-vm`",
			 name);
		goto out;
	}
	if (stat(plain, &st) < 0) {
		hl_error_errno("VM '%s' has no plain disk '%s'", name, plain);
		goto out;
	}
	if ((r = owner_tk(dir, kp_path, &tk, &kptext, &kplen, kp_id)) < 0) {
		rc = r;
		goto out;
	}
	clean_stale(vmdir);
	if (asprintf(&tmp, "%s/.shield-XXXXXX", vmdir) < 0) {
		tmp = NULL;
		hl_error("out of memory");
		goto out;
	}
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a folder in '%s'", vmdir);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (!(disk = join(tmp, "disk.img")) || !(vtpm = join(tmp, "vtpm")) ||
	    !(kpcopy = join(tmp, "key-protector.kp")) || !(cfgpath = join(tmp, "config.json"))) {
		hl_error("out of memory");
		goto out;
	}
	rc = -3; /* from here on a failure is a provisioning run cut short */
	if (mkdir(vtpm, 0700) < 0) {
		hl_error_errno("cannot create '%s'", vtpm);
		goto out;
	}
	if ((fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    ftruncate(fd, st.st_size + (off_t)HL_VM_LUKS_ROOM) < 0 || close(fd) < 0) {
		hl_error_errno("cannot create the VM's disk '%s'", disk);
		goto out;
	}
	l.guest_dir = opts->guest_dir;
	l.run_dir = tmp;
	l.vtpm_dir = vtpm;
	l.disk = disk;
	l.plain = plain;
	l.mode = "provision";
	l.accel = "tcg";
	l.console = 1;
	l.tk = &tk;
	if (opts->verbose)
		fprintf(stderr, "shield-vm: vTPM state encrypted with the VM's TK; provisioning "
			"boot (QEMU TCG, at most %d s)\n", timeout);
	if (hosts_vm_launch(&l, &p) < 0)
		goto out;
	hl_buf_free(&tk);
	if (hosts_vm_await(p, "provisioned", timeout, opts->verbose ? "shield-vm" : NULL,
			   NULL) < 0)
		goto out;
	/* the guest powers off by itself; swtpm ends when QEMU goes */
	hosts_vm_end(p, 60000);
	hosts_vm_proc_free(p);
	p = NULL;

	/* Install: only the four bundle parts, then one rename. */
	now_rfc3339(created, sizeof(created));
	cfg = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s}", "version", 1, "name", name,
			"policy", policy, "kp_id", kp_id, "disk_size",
			(json_int_t)(st.st_size + (off_t)HL_VM_LUKS_ROOM), "shielded_at", created,
			"disk", "LUKS2 aes-xts-plain64, volume key sealed in the vTPM");
	if (!cfg || hl_json_dump_pretty(cfg, &text) < 0 ||
	    hl_file_write(cfgpath, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0 ||
	    hl_file_write(kpcopy, kptext, kplen, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	for (i = 0; i < sizeof(scratch) / sizeof(scratch[0]); i++) {
		char *f = join(tmp, scratch[i]);
		if (f)
			unlink(f);
		free(f);
	}
	if (rename(tmp, final) < 0) {
		hl_error_errno("cannot install the shielded VM '%s'", final);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (unlink(plain) < 0) {
		hl_error_errno("VM '%s' is shielded but its plain disk '%s' could not be removed",
			       name, plain);
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	hl_buf_free(&tk);
	hosts_vm_proc_free(p);
	if (tmp)
		hl_file_rmtree(tmp);
	json_decref(cfg);
	free(text);
	free(kptext);
	free(vmdir);
	free(tmp);
	free(plain);
	free(disk);
	free(vtpm);
	free(kpcopy);
	free(cfgpath);
	free(final);
	return rc;
}

/* export-vm. */
int hl_vm_export(const char *dir, const char *name, const char *out)
{
	static const char *const files[] = { "disk.img", "key-protector.kp", "config.json" };
	char *src = NULL, *tmp = NULL, *a = NULL, *b = NULL;
	size_t i;
	int rc = -1;

	if (hl_vm_name_check(name) < 0)
		return -1;
	if (asprintf(&src, "%s/vms/%s/shielded", dir, name) < 0 ||
	    asprintf(&tmp, "%s.tmp-XXXXXX", out) < 0) {
		src = tmp = NULL;
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(src) != 1) {
		hl_error("VM '%s' in '%s' is not shielded: run `hgslab tenant shield-vm` first",
			 name, dir);
		goto out;
	}
	if (hl_file_exists(out) != 0) {
		hl_error("'%s' already exists: give a new folder for the bundle", out);
		goto out;
	}
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a folder beside '%s'", out);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		free(a);
		free(b);
		if (!(a = join(src, files[i])) | !(b = join(tmp, files[i]))) {
			hl_error("out of memory");
			goto out;
		}
		if (hl_vm_copy_file(a, b, i == 0 ? 0600 : 0644) < 0)
			goto out;
	}
	free(a);
	free(b);
	if (!(a = join(src, "vtpm")) | !(b = join(tmp, "vtpm"))) {
		hl_error("out of memory");
		goto out;
	}
	if (copy_dir(a, b) < 0)
		goto out;
	if (rename(tmp, out) < 0) {
		hl_error_errno("cannot install the bundle '%s'", out);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	if (tmp)
		hl_file_rmtree(tmp);
	free(a);
	free(b);
	free(tmp);
	free(src);
	return rc;
}
