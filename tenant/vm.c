/*
 * vm.c - the tenant's VMs (tenant/vm.h): the plain template disk made with
 * `mke2fs -d` (no root), the shielding boot run on the tenant's own machine
 * (the VM launcher of vm/launch.h: swtpm with the TK through a pipe, QEMU TCG
 * in provisioning mode, the guest agent's events from its virtio-serial
 * port), the owner's signed statement of the VM's policy (proto/vmpolicy.h)
 * that a guarded host checks, and the export of the bundle (vm/bundle.h).
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
#include "lib/labclock.h"
#include "proto/keyprotector.h"
#include "proto/names.h"
#include "proto/vmpolicy.h"
#include "tenant/guardian.h"
#include "tenant/vm.h"
#include "vm/bundle.h"
#include "vm/launch.h"

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

/* A file name for a disk: relative, no "..", not empty. */
int hl_vm_file_check(const struct hl_vm_file *f)
{
	if (!f->name[0] || f->name[0] == '/' || strstr(f->name, ".."))
		return hl_error("bad file name '%s' for the VM's disk: give a relative path without "
				"'..'", f->name);
	return 0;
}

/* Write FILE's CONTENT under STAGE, creating parent folders; refuses ".." and absolute names. */
static int stage_file(const char *stage, const struct hl_vm_file *f)
{
	char *path = NULL, *slash;
	int rc = -1;

	if (hl_vm_file_check(f) < 0)
		return -1;
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

/* 1M to 16G. */
int hl_vm_disk_size_check(size_t size)
{
	if (size < ((size_t)1 << 20) || size > ((size_t)16 << 30))
		return hl_error("bad disk size %zu: give 1M to 16G", size);
	return 0;
}

/* Copy SRCDIR's tree and write FILES into STAGE. */
int hl_vm_disk_stage(const char *stage, const struct hl_vm_file *files, size_t n,
		     const char *srcdir, const char *log)
{
	char *srcdot = NULL;
	size_t i;
	int rc = -1;

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
	rc = 0;
out:
	free(srcdot);
	return rc;
}

/* mke2fs -d STAGE into IMG. */
int hl_vm_disk_mkfs(const char *stage, const char *img, size_t size, const char *what,
		    const char *log)
{
	char sizearg[32];
	const char *mk[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", stage, img, sizearg, NULL };

	snprintf(sizearg, sizeof(sizearg), "%zuk", size / 1024);
	if (run_tool(mk, log, 120000) < 0)
		return hl_error_wrap("cannot make %s (files too big for %s?)", what, sizearg);
	return 0;
}

/* new-vm. */
int hl_vm_new(const char *dir, const char *name, size_t size, const struct hl_vm_file *files,
	      size_t n, const char *srcdir)
{
	char *vms = NULL, *final = NULL, *tmp = NULL, *stage = NULL, *img = NULL, *cfg = NULL;
	char *log = NULL, *text = NULL, created[32];
	json_t *o = NULL;
	int rc = -1;

	if (hl_name_vm(name) < 0)
		return -1;
	if (hl_vm_disk_size_check(size) < 0)
		return -1;
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
	if (hl_vm_disk_stage(stage, files, n, srcdir, log) < 0 ||
	    hl_vm_disk_mkfs(stage, img, size, "the VM's plain disk", log) < 0)
		goto out;
	unlink(log);
	if (hl_file_rmtree(stage) < 0)
		goto out;
	if (chmod(img, 0600) < 0) {
		hl_error_errno("cannot make '%s' private", img);
		goto out;
	}
	hl_labclock_format(time(NULL), created, sizeof(created));
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
 * Parse the KP of KPLEN bytes KPTEXT (read from KP_PATH) and find its owner,
 * who must be a guardian of DIR with private keys, into *KP and *OWNER
 * (released by the caller).  -2 when the owner check refuses.
 */
static int kp_owner(const char *dir, const char *kp_path, const char *kptext, size_t kplen,
		    struct hl_kp **kp, struct hl_guardian **owner)
{
	*kp = NULL;
	*owner = NULL;
	if (hl_kp_parse(kptext, kplen, kp) < 0)
		return hl_error_wrap("'%s'", kp_path);
	if (hl_guardian_find(dir, (*kp)->owner_signing_thumbprint, 1, HL_GUARDIAN_LOAD_KEYS,
			     owner) < 0) {
		hl_error("key protector %s is owned by '%s' (signing certificate %s), which is not "
			 "a guardian with private keys in '%s': only the owner can shield a VM "
			 "with it", (*kp)->id, (*kp)->owner_name, (*kp)->owner_signing_thumbprint,
			 dir);
		return -2;
	}
	if (hl_kp_verify(*kp, (*owner)->signing_thumbprint) < 0)
		return -2;
	return 0;
}

/*
 * Unwrap the TK of the KP at KP_PATH with the key of its owner, who must be a
 * guardian of DIR, and sign the statement that VM NAME has POLICY with the
 * owner's signing key into STMT (proto/vmpolicy.h); the KP's bytes in
 * *KPTEXT, its id in KP_ID.  -2 when the owner check refuses.
 */
static int owner_tk(const char *dir, const char *kp_path, const char *name, const char *policy,
		    struct hl_buf *tk, char **kptext, size_t *kplen, struct hl_buf *stmt,
		    char kp_id[HL_KP_ID_SIZE])
{
	struct hl_guardian *owner = NULL;
	struct hl_kp *kp = NULL;
	int rc = -1, r;

	*kptext = NULL;
	if (hl_file_read(kp_path, HL_KP_MAX_SIZE, kptext, kplen) < 0)
		return -1;
	if ((r = kp_owner(dir, kp_path, *kptext, *kplen, &kp, &owner)) < 0) {
		rc = r;
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
	if (hl_vmpolicy_create(kp->id, name, policy, time(NULL), owner->signing_key, stmt) < 0) {
		hl_buf_free(tk);
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
	struct vm_launch l = { 0 };
	struct vm_launch_proc *p = NULL;
	char *vmdir = NULL, *tmp = NULL, *plain = NULL, *disk = NULL, *vtpm = NULL;
	char *kpcopy = NULL, *final = NULL, *kptext = NULL, *sigfile = NULL;
	char kp_id[HL_KP_ID_SIZE];
	struct hl_buf stmt = { NULL, 0 };
	int rc = -1, r, fd, timeout;
	size_t kplen = 0;
	struct stat st;

	timeout = opts->timeout_s > 0 ? opts->timeout_s : HL_VM_PROVISION_TIMEOUT;
	if (!vm_bundle_policy_known(policy))
		return hl_error("bad policy '%s': give shielded or encryption-supported", policy);
	if (hl_name_vm(name) < 0)
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
	if ((r = owner_tk(dir, kp_path, name, policy, &tk, &kptext, &kplen, &stmt, kp_id)) < 0) {
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
	    !(kpcopy = join(tmp, "key-protector.kp")) || !(sigfile = join(tmp, VM_BUNDLE_POLICY))) {
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
	if (vm_launch(&l, &p) < 0)
		goto out;
	hl_buf_free(&tk);
	if (vm_launch_await(p, "provisioned", timeout, opts->verbose ? "shield-vm" : NULL,
			    NULL) < 0)
		goto out;
	/* the guest powers off by itself; swtpm ends when QEMU goes */
	vm_launch_end(p, 60000);
	vm_launch_proc_free(p);
	p = NULL;

	/* Install: only the five bundle parts, then one rename. */
	if (vm_bundle_config_write(tmp, name, policy, kp_id,
				   (long long)(st.st_size + (off_t)HL_VM_LUKS_ROOM)) < 0 ||
	    hl_file_write(kpcopy, kptext, kplen, HL_FILE_MODE_PUBLIC) < 0 ||
	    hl_file_write(sigfile, stmt.data, stmt.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	vm_launch_scratch_remove(tmp);
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
	hl_buf_free(&stmt);
	vm_launch_proc_free(p);
	if (tmp)
		hl_file_rmtree(tmp);
	free(kptext);
	free(sigfile);
	free(vmdir);
	free(tmp);
	free(plain);
	free(disk);
	free(vtpm);
	free(kpcopy);
	free(final);
	return rc;
}

/*
 * Sign the policy statement of shielded folder SRC of VM NAME when a
 * shield-vm of an hgslab older than the signed policy did not make one: the
 * name and policy of its config.json, the KP of its key-protector.kp,
 * signed by that KP's owner (a guardian of DIR with private keys: -2 when
 * not).  0 at once when SRC has one.
 */
static int sign_missing_policy(const char *dir, const char *name, const char *src)
{
	struct hl_guardian *owner = NULL;
	struct hl_kp *kp = NULL;
	struct hl_buf stmt = { NULL, 0 };
	char *kp_path = NULL, *sig = NULL, *kptext = NULL;
	const char *policy = NULL, *cfg_name = NULL;
	json_t *cfg = NULL;
	size_t kplen = 0;
	int rc = -1, r;

	if (!(kp_path = join(src, "key-protector.kp")) || !(sig = join(src, VM_BUNDLE_POLICY))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(sig) == 1) {
		rc = 0;
		goto out;
	}
	/* a shielded/ folder missing its config or KP breaks the bundle rules (-3) */
	if (vm_bundle_config_read(src, &cfg) < 0 ||
	    hl_json_get_string(cfg, "policy", &policy) < 0 ||
	    hl_json_get_string(cfg, "name", &cfg_name) < 0 ||
	    hl_file_read(kp_path, HL_KP_MAX_SIZE, &kptext, &kplen) < 0) {
		rc = -3;
		goto out;
	}	if ((r = kp_owner(dir, kp_path, kptext, kplen, &kp, &owner)) < 0) {
		rc = r;
		goto out;
	}
	/* the name a host installs the VM under is config.json's */
	if (hl_vmpolicy_create(kp->id, cfg_name, policy, time(NULL), owner->signing_key,
			       &stmt) < 0 ||
	    hl_file_write(sig, stmt.data, stmt.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("VM '%s' was shielded by an hgslab older than the signed policy and "
			      "its policy statement cannot be made", name);
	hl_buf_free(&stmt);
	hl_guardian_free(owner);
	hl_kp_free(kp);
	json_decref(cfg);
	free(kptext);
	free(kp_path);
	free(sig);
	return rc;
}

/* export-vm. */
int hl_vm_export(const char *dir, const char *name, const char *out)
{
	char *src = NULL, *prefix = NULL;
	const char *base = strrchr(out, '/');
	int rc = -1, r;

	if (hl_name_vm(name) < 0)
		return -1;
	if (asprintf(&src, "%s/vms/%s/shielded", dir, name) < 0 ||
	    asprintf(&prefix, "%s.tmp-", base ? base + 1 : out) < 0) {
		src = prefix = NULL;
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
	if ((r = sign_missing_policy(dir, name, src)) < 0) {
		rc = r;
		goto out;
	}
	r = vm_bundle_install(src, VM_BUNDLE_VTPM_ALL, out, prefix, "beside", out, "the bundle");
	rc = r == -2 ? -3 : r;
out:
	free(prefix);
	free(src);
	return rc;
}
