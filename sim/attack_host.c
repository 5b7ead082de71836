/*
 * attack_host.c - the attack library's host family (sim/attack.h): what a
 * hostile tenant's bundle, a host administrator's edits and dying
 * processes try against a guarded host, and how the host refuses them.
 *
 * This file holds the family's table, the helpers its files share
 * (sim/attack_host.h: scratch folders, a bounded verb run, a VM folder taken
 * and given back, impostor processes) and the bundle attacks: a copy of
 * the VM's exported bundle with one part made hostile is handed to
 * `host import-vm`.  attack_host_admin.c has a host administrator's edits
 * of a VM's folder, attack_host_proc.c QMP, secrets in memory and logs,
 * process identity and availability.
 */
#include "sim/attack_host.h"

#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "sim/verb.h"
#include "vm/bundle.h"

/* ---- shared helpers (sim/attack_host.h) ---- */

int attack_host_scratch(struct attack_run *a, const char *tag, char **out)
{
	char *dir = NULL;

	*out = NULL;
	if (asprintf(&dir, "%s/attack/%s", a->L->work, tag) < 0)
		return hl_error("out of memory");
	hl_file_rmtree(dir);
	if (hl_file_mkdirs(dir, 0700) < 0) {
		free(dir);
		return -1;
	}
	*out = dir;
	return 0;
}

int attack_host_exec(struct attack_run *a, struct lab_result *r, int timeout_ms,
		     const char *const *args)
{
	struct lab *L = a->L;
	struct hl_child *c = NULL;
	char base[PATH_MAX], *outp = NULL, *errp = NULL;
	FILE *cf;
	size_t i, len;
	int st = -1, rc = -1;

	memset(r, 0, sizeof(*r));
	L->n_exec++;
	snprintf(base, sizeof(base), "%s/logs/%03d-%s-%s", L->work, L->n_exec, args[0],
		 args[1] ? args[1] : "");
	if (asprintf(&outp, "%s.out", base) < 0 || asprintf(&errp, "%s.err", base) < 0) {
		hl_error("out of memory");
		goto out;
	}
	/* the command line, for repeating it by hand (as lab_exec writes it) */
	strncat(base, ".cmd", sizeof(base) - strlen(base) - 1);
	if ((cf = fopen(base, "w"))) {
		fputs("hgslab", cf);
		for (i = 0; args[i]; i++)
			fprintf(cf, strpbrk(args[i], " \"'$") ? " '%s'" : " %s", args[i]);
		fputc('\n', cf);
		fclose(cf);
	}
	if (verb_spawn(L->self, args, "hgslab", outp, errp, 0, &c) < 0)
		goto out;
	if (hl_child_wait(c, timeout_ms, &st) < 0) {
		hl_error_clear();
		hl_child_stop(c, 1000, NULL);
		st = -1;
	}
	r->rc = st;
	if (hl_file_read(outp, LAB_MAX_OUT, &r->out, &len) < 0 ||
	    hl_file_read(errp, LAB_MAX_OUT, &r->err, &len) < 0) {
		lab_result_clear(r);
		goto out;
	}
	rc = 0;
out:
	hl_child_free(c);
	free(outp);
	free(errp);
	return rc;
}

int attack_host_start_vm(struct attack_run *a, int hi, struct lab_result *r)
{
	struct lab *L = a->L;
	const char *args[16];
	size_t n = 0;

	args[n++] = "host";
	args[n++] = "start-vm";
	args[n++] = "--dir";
	args[n++] = L->hosts[hi].dir;
	args[n++] = "--name";
	args[n++] = a->st->vm;
	args[n++] = "--accel";
	args[n++] = L->s->accel == SC_ACCEL_KVM ? "kvm" : L->s->accel == SC_ACCEL_TCG ? "tcg" : "auto";
	if (L->guest) {
		args[n++] = "--guest";
		args[n++] = L->guest;
	}
	args[n] = NULL;
	return lab_execv(L, r, "attack: start-vm", args);
}

int attack_host_stop_vm(struct attack_run *a, int hi)
{
	struct lab_result r;
	int rc;

	if (lab_exec(a->L, &r, NULL, "host", "stop-vm", "--dir", a->L->hosts[hi].dir, "--name",
		     a->st->vm, NULL) < 0)
		return -1;
	rc = r.rc == 0 || (r.err && strstr(r.err, "is not running")) ? 0
		: hl_error("stop-vm of VM %s failed: %s", a->st->vm, r.err);
	lab_result_clear(&r);
	return rc;
}

const char *attack_host_exit(const struct lab_result *r, char *buf, size_t size)
{
	if (r->rc < 0)
		snprintf(buf, size, "hung");
	else
		snprintf(buf, size, "exit %d", r->rc);
	return buf;
}

/* 1 when process PID's command line (its arguments joined by spaces) holds every NEEDLES. */
static int proc_cmdline_has(const char *pid, const char *const *needles)
{
	char path[64], *text = NULL;
	size_t len, i;
	int hit = 0;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	if (hl_file_read(path, 1 << 16, &text, &len) < 0) {
		hl_error_clear();
		return 0;
	}
	for (i = 0; i + 1 < len; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	hit = len > 0;
	for (i = 0; hit && needles[i]; i++)
		hit = strstr(text, needles[i]) != NULL;
	free(text);
	return hit;
}

pid_t attack_host_find_proc(const char *const *needles)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && proc_cmdline_has(e->d_name, needles) &&
		    atol(e->d_name) != (long)getpid())
			found = (pid_t)atol(e->d_name);
	closedir(d);
	return found;
}

int attack_host_impostor(const char *name, struct hl_child **out, pid_t *pid)
{
	const char *argv[] = { "bash", "-c", "exec -a \"$0\" sleep 300", name, NULL };
	struct hl_child_opts o;
	int i;

	memset(&o, 0, sizeof(o));
	o.name = "impostor";
	if (hl_child_spawn(argv, &o, out) < 0)
		return -1;
	*pid = hl_child_pid(*out);
	/* wait until bash has become the impostor (its command line is NAME) */
	for (i = 0; i < 200; i++) {
		const char *const needles[] = { name, NULL };
		char p[24];

		snprintf(p, sizeof(p), "%ld", (long)*pid);
		if (proc_cmdline_has(p, needles))
			return 0;
		usleep(10000);
	}
	hl_child_free(*out);
	*out = NULL;
	return hl_error("the impostor process did not start");
}

void attack_host_impostor_end(struct hl_child *c)
{
	if (c)
		hl_child_stop(c, 500, NULL);
	hl_child_free(c);
}

int attack_host_other_vm(const struct lab *L, int vi)
{
	size_t i;

	for (i = 0; i < L->n_vms; i++)
		if ((int)i != vi && L->vms[i].sc && L->vms[i].shielded && L->vms[i].bundle)
			return (int)i;
	return -1;
}

/* ---- the VM folder a host administrator edits ---- */

/* The parts of a host's VM folder an attack may change (saved first, put back after). */
static const char *const saved_parts[] = { "config.json", "policy.sig", "key-protector.kp",
					   "state.json", "keeper.pid", "disk.img",
					   "vtpm/tpm2-00.permall", NULL };

/* DIR/NAME with '/' turned into '_' (a flat name in the save folder), malloc'd. */
static char *flat(const char *dir, const char *name)
{
	char *p = NULL, *q;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	for (q = p + strlen(dir) + 1; *q; q++)
		if (*q == '/')
			*q = '_';
	return p;
}

int attack_host_vm_take(struct attack_run *a, struct attack_host_vm *S)
{
	struct lab *L = a->L;
	struct lab_result r;
	char tag[96];
	size_t i;

	memset(S, 0, sizeof(*S));
	S->hi = lab_host_index(L, a->st->host);
	S->vi = lab_vm_index(L, a->st->vm);
	if (S->hi < 0 || S->vi < 0 || !L->vms[S->vi].bundle)
		return hl_error("the attack needs the host and a VM shielded by an earlier step");
	if (asprintf(&S->dir, "%s/vms/%s", L->hosts[S->hi].dir, a->st->vm) < 0)
		return hl_error("out of memory");
	snprintf(tag, sizeof(tag), "save-%s", a->st->vm);
	if (attack_host_scratch(a, tag, &S->save) < 0)
		return -1;
	if (hl_file_exists(S->dir) != 1) {
		if (lab_exec(L, &r, NULL, "host", "import-vm", "--dir", L->hosts[S->hi].dir,
			     "--bundle", L->vms[S->vi].bundle, NULL) < 0)
			return -1;
		if (r.rc != 0) {
			hl_error("import-vm of VM %s failed: %s", a->st->vm, r.err);
			lab_result_clear(&r);
			return -1;
		}
		lab_result_clear(&r);
		S->imported = 1;
	}
	if (L->vms[S->vi].running_on == S->hi) {
		if (attack_host_stop_vm(a, S->hi) < 0)
			return -1;
		S->was_running = 1;
		L->vms[S->vi].running_on = -1;
	}
	for (i = 0; saved_parts[i]; i++) {
		char *src = NULL, *dst = flat(S->save, saved_parts[i]);
		char *text = NULL;
		size_t len;
		int rc = 0;

		if (!dst || asprintf(&src, "%s/%s", S->dir, saved_parts[i]) < 0)
			rc = hl_error("out of memory");
		else if (hl_file_exists(src) == 1) {
			/* the big parts are moved away and back (one file system), the rest copied */
			if (!strcmp(saved_parts[i], "disk.img") || strstr(saved_parts[i], "vtpm/")) {
				if (link(src, dst) < 0)
					rc = hl_error_errno("cannot save '%s'", src);
			} else if (hl_file_read(src, 1 << 22, &text, &len) < 0 ||
				   hl_file_write(dst, text, len, HL_FILE_MODE_PRIVATE) < 0) {
				rc = -1;
			}
		}
		free(text);
		free(src);
		free(dst);
		if (rc < 0)
			return -1;
	}
	{
		char *p = NULL;

		if (asprintf(&p, "%s/state.json", S->dir) >= 0)
			S->had_state = hl_file_exists(p) == 1;
		free(p);
		if (asprintf(&p, "%s/run", S->dir) >= 0)
			S->had_run = hl_file_exists(p) == 1;
		free(p);
	}
	return 0;
}

int attack_host_vm_give_back(struct attack_run *a, struct attack_host_vm *S)
{
	struct lab *L = a->L;
	int rc = 0;
	size_t i;

	if (!S->dir)
		return 0;
	if (S->imported) {
		hl_file_rmtree(S->dir);
	} else if (S->save) {
		for (i = 0; saved_parts[i]; i++) {
			char *dst = NULL, *src = flat(S->save, saved_parts[i]);

			if (!src || asprintf(&dst, "%s/%s", S->dir, saved_parts[i]) < 0) {
				rc = hl_error("out of memory");
			} else if (hl_file_exists(src) == 1) {
				if (rename(src, dst) < 0)
					rc = hl_error_errno("cannot put back '%s'", dst);
			} else if (!strcmp(saved_parts[i], "state.json") ||
				   !strcmp(saved_parts[i], "keeper.pid")) {
				unlink(dst);   /* the attack made it */
			}
			free(src);
			free(dst);
		}
		if (!S->had_run) {
			char *p = NULL;

			if (asprintf(&p, "%s/run", S->dir) >= 0)
				hl_file_rmtree(p);
			free(p);
		}
	}
	if (S->save)
		hl_file_rmtree(S->save);
	if (rc == 0 && S->was_running) {
		struct lab_result r;

		if (attack_host_start_vm(a, S->hi, &r) < 0)
			rc = -1;
		else if (r.rc != 0)
			rc = hl_error("VM %s did not start again: %s", a->st->vm, r.err);
		else
			L->vms[S->vi].running_on = S->hi;
		lab_result_clear(&r);
	}
	free(S->dir);
	free(S->save);
	memset(S, 0, sizeof(*S));
	return rc;
}

int attack_host_config_set(const char *dir, const char *key, json_t *value)
{
	json_t *cfg = NULL;
	char *path = NULL, *text = NULL;
	int rc = -1;

	if (!value || asprintf(&path, "%s/config.json", dir) < 0) {
		json_decref(value);
		return hl_error("out of memory");
	}
	if (vm_bundle_read_json(path, 0, &cfg) < 0) {
		json_decref(value);
		goto out;
	}
	json_object_set_new(cfg, key, value);
	if (hl_json_dump_pretty(cfg, &text) < 0 ||
	    hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	json_decref(cfg);
	free(path);
	free(text);
	return rc;
}

int attack_host_vm_config(struct attack_host_vm *S, const char *policy, const char *kp_id)
{
	if (attack_host_config_set(S->dir, "policy", json_string(policy)) < 0)
		return -1;
	return kp_id ? attack_host_config_set(S->dir, "kp_id", json_string(kp_id)) : 0;
}

/* ---- bundles: a hostile copy of the VM's bundle handed to import-vm ---- */

/*
 * A copy of VM V's exported bundle in a scratch folder of the lab, into *OUT
 * (malloc'd); named AS in its config.json when AS is not NULL (so that a host
 * that has the VM already still reads the hostile parts).
 */
static int bundle_copy(struct attack_run *a, const struct lab_vm *v, const char *as, char **out)
{
	struct lab_result res;
	char *dir = NULL;
	int rc = -1;

	*out = NULL;
	if (asprintf(&dir, "%s/attack/bundle-%s", a->L->work, v->name) < 0)
		return hl_error("out of memory");
	hl_file_rmtree(dir);
	if (hl_file_mkdirs(dir, 0700) < 0 || rmdir(dir) < 0 ||
	    lab_exec(a->L, &res, NULL, "tenant", "export-vm", "--dir", a->L->tenant, "--vm",
		     v->name, "--out", dir, NULL) < 0)
		goto out;
	if (res.rc != 0) {
		hl_error("export-vm of VM %s failed: %s", v->name, res.err);
		lab_result_clear(&res);
		goto out;
	}
	lab_result_clear(&res);
	if (as && attack_host_config_set(dir, "name", json_string(as)) < 0)
		goto out;
	*out = dir;
	dir = NULL;
	rc = 0;
out:
	if (dir)
		hl_file_rmtree(dir);
	free(dir);
	return rc;
}

/* What a bundle attack makes hostile in bundle B (a copy) on host HOSTDIR; 0 or -1. */
typedef int (*bundle_mutate_fn)(struct attack_run *a, const char *b, const char *hostdir);

/* Replace B/PART by a symbolic link to TARGET. */
static int plant_link(const char *b, const char *part, const char *target)
{
	char *p = NULL;
	int rc = 0;

	if (asprintf(&p, "%s/%s", b, part) < 0)
		return hl_error("out of memory");
	hl_file_rmtree(p);
	if (symlink(target, p) < 0)
		rc = hl_error_errno("cannot plant the link '%s'", p);
	free(p);
	return rc;
}

/* The HGS node's KPS encryption key (its private key), malloc'd. */
static char *kps_key(struct lab *L)
{
	char *p = NULL;

	return asprintf(&p, "%s/keys/kps-encryption.key", L->hgs[0].dir) < 0 ? NULL : p;
}

static int mut_link_kps_key(struct attack_run *a, const char *b, const char *hostdir)
{
	char *key = kps_key(a->L);
	int rc;

	(void)hostdir;
	rc = key ? plant_link(b, "disk.img", key) : hl_error("out of memory");
	free(key);
	return rc;
}

static int mut_link_host_tpm(struct attack_run *a, const char *b, const char *hostdir)
{
	char *tpm = NULL;
	int rc;

	(void)a;
	if (asprintf(&tpm, "%s/tpm", hostdir) < 0)
		return hl_error("out of memory");
	rc = plant_link(b, "vtpm", tpm);
	free(tpm);
	return rc;
}

static int mut_link_tpm_state(struct attack_run *a, const char *b, const char *hostdir)
{
	char *st = NULL;
	int rc;

	(void)a;
	if (asprintf(&st, "%s/tpm/tpm2-00.permall", hostdir) < 0)
		return hl_error("out of memory");
	rc = plant_link(b, "vtpm/tpm2-00.permall", st);
	free(st);
	return rc;
}

/* disk.img a device: /dev/zero's own node (root may make one), else a link to /dev/zero. */
static int mut_dev_zero(struct attack_run *a, const char *b, const char *hostdir)
{
	char *p = NULL;
	int rc = 0;

	(void)a;
	(void)hostdir;
	if (asprintf(&p, "%s/disk.img", b) < 0)
		return hl_error("out of memory");
	unlink(p);
	if (mknod(p, S_IFCHR | 0600, makedev(1, 5)) < 0)
		rc = plant_link(b, "disk.img", "/dev/zero");
	free(p);
	return rc;
}

static int mut_fifo(struct attack_run *a, const char *b, const char *hostdir)
{
	char *p = NULL;
	int rc = 0;

	(void)a;
	(void)hostdir;
	if (asprintf(&p, "%s/disk.img", b) < 0)
		return hl_error("out of memory");
	if (unlink(p) < 0 || mkfifo(p, 0600) < 0)
		rc = hl_error_errno("cannot make the FIFO '%s'", p);
	free(p);
	return rc;
}

static int mut_hardlink(struct attack_run *a, const char *b, const char *hostdir)
{
	char *p = NULL, *key = kps_key(a->L);
	int rc = 0;

	(void)hostdir;
	if (!key || asprintf(&p, "%s/disk.img", b) < 0)
		rc = hl_error("out of memory");
	else if (unlink(p) < 0 || link(key, p) < 0)
		rc = hl_error_errno("cannot make the hard link '%s'", p);
	free(p);
	free(key);
	return rc;
}

/* disk.img one MiB larger than config.json's disk_size says (a sparse tail). */
static int mut_oversize(struct attack_run *a, const char *b, const char *hostdir)
{
	char *p = NULL;
	struct stat st;
	int rc = 0;

	(void)a;
	(void)hostdir;
	if (asprintf(&p, "%s/disk.img", b) < 0)
		return hl_error("out of memory");
	if (stat(p, &st) < 0 || truncate(p, st.st_size + (1 << 20)) < 0)
		rc = hl_error_errno("cannot grow '%s'", p);
	free(p);
	return rc;
}

/* config.json names the VM "../../keys": the host's folder would be outside vms/. */
static int mut_name_traversal(struct attack_run *a, const char *b, const char *hostdir)
{
	(void)a;
	(void)hostdir;
	return attack_host_config_set(b, "name", json_string("../../keys"));
}

/* The .import-* staging folders in HOSTDIR/vms, how many; the first into FIRST (may be NULL). */
static int staging_count(const char *hostdir, char **first)
{
	char *vms = NULL;
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (first)
		*first = NULL;
	if (asprintf(&vms, "%s/vms", hostdir) < 0 || !(d = opendir(vms))) {
		free(vms);
		return 0;
	}
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".import-", 8) && n++ == 0 && first &&
		    asprintf(first, "%s/%s", vms, e->d_name) < 0)
			*first = NULL;
	closedir(d);
	free(vms);
	return n;
}

/*
 * One bundle attack: a copy of the step's VM's bundle (renamed when the host
 * has that VM already), made hostile by MUTATE, handed to import-vm on the
 * step's host (bounded: a FIFO must not hang it).  Refused: import-vm failed
 * and nothing of the bundle reached the host's vms/.  Whatever it imported
 * is removed again.
 */
static int bundle_attack(struct attack_run *a, bundle_mutate_fn mutate)
{
	struct lab *L = a->L;
	int hi = lab_host_index(L, a->st->host), vi = lab_vm_index(L, a->st->vm);
	const char *hostdir = L->hosts[hi].dir;
	char *bundle = NULL, *as = NULL, *final = NULL, *err = NULL, *stale = NULL, st[32];
	const char *name = a->st->vm;
	struct lab_result res;
	int rc = -1, before = staging_count(hostdir, NULL);

	memset(&res, 0, sizeof(res));
	if (asprintf(&final, "%s/vms/%s", hostdir, name) < 0)
		return hl_error("out of memory");
	if (hl_file_exists(final) == 1) {
		free(final);
		final = NULL;
		if (asprintf(&as, "%s-attack", name) < 0 ||
		    asprintf(&final, "%s/vms/%s", hostdir, as) < 0) {
			hl_error("out of memory");
			goto out;
		}
	}
	if (bundle_copy(a, &L->vms[vi], as, &bundle) < 0 || mutate(a, bundle, hostdir) < 0)
		goto out;
	{
		const char *args[] = { "host", "import-vm", "--dir", hostdir, "--bundle", bundle,
				       NULL };

		if (attack_host_exec(a, &res, 20000, args) < 0)
			goto out;
	}
	err = attack_err_line(res.err);
	if (res.rc == 0)
		rc = attack_succeeded(a, "import-vm took the hostile bundle into %s", final);
	else if (res.rc < 0)
		rc = attack_succeeded(a, "import-vm hung on the bundle for 20 s (stopped)");
	else if (hl_file_exists(final) == 1)
		rc = attack_succeeded(a, "import-vm failed but left the VM folder %s", final);
	else if (staging_count(hostdir, &stale) > before)
		rc = attack_succeeded(a, "import-vm failed but left its staging folder %s", stale);
	else
		rc = attack_refused(a, attack_host_exit(&res, st, sizeof(st)), err);
out:
	if (final && rc == 0)
		hl_file_rmtree(final);
	if (stale && rc == 0)
		hl_file_rmtree(stale);
	lab_result_clear(&res);
	if (bundle)
		hl_file_rmtree(bundle);
	free(bundle);
	free(as);
	free(final);
	free(stale);
	free(err);
	return rc;
}

static int play_bundle_link_kps_key(struct attack_run *a)
{
	return bundle_attack(a, mut_link_kps_key);
}

static int play_bundle_link_host_tpm(struct attack_run *a)
{
	return bundle_attack(a, mut_link_host_tpm);
}

static int play_bundle_link_tpm_state(struct attack_run *a)
{
	return bundle_attack(a, mut_link_tpm_state);
}

static int play_bundle_dev_zero(struct attack_run *a)
{
	return bundle_attack(a, mut_dev_zero);
}

static int play_bundle_fifo(struct attack_run *a)
{
	return bundle_attack(a, mut_fifo);
}

static int play_bundle_hardlink(struct attack_run *a)
{
	return bundle_attack(a, mut_hardlink);
}

static int play_bundle_oversize(struct attack_run *a)
{
	return bundle_attack(a, mut_oversize);
}

static int play_bundle_name_traversal(struct attack_run *a)
{
	return bundle_attack(a, mut_name_traversal);
}

/*
 * bundle-staging-leftover: an import killed outright (SIGKILL, no handler
 * runs) while it copies a large disk leaves its .import-* folder; the next
 * import must remove it.  The killed import's bundle declares a 256 MiB
 * sparse disk so that the copy lasts long enough to be killed in it.
 */
static int play_bundle_staging_leftover(struct attack_run *a)
{
	struct lab *L = a->L;
	int hi = lab_host_index(L, a->st->host), vi = lab_vm_index(L, a->st->vm), i;
	const char *hostdir = L->hosts[hi].dir;
	char *bundle = NULL, *as = NULL, *diskp = NULL;
	char *stale = NULL, *final = NULL, *outp = NULL, *errp = NULL, *err = NULL;
	struct hl_child *c = NULL;
	struct lab_result res;
	int rc = -1, before = staging_count(hostdir, NULL);

	memset(&res, 0, sizeof(res));
	if (asprintf(&as, "%s-staging", a->st->vm) < 0 ||
	    asprintf(&final, "%s/vms/%s", hostdir, as) < 0 ||
	    asprintf(&outp, "%s/attack/killed-import.out", L->work) < 0 ||
	    asprintf(&errp, "%s/attack/killed-import.err", L->work) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (bundle_copy(a, &L->vms[vi], as, &bundle) < 0 ||
	    asprintf(&diskp, "%s/disk.img", bundle) < 0 ||
	    attack_host_config_set(bundle, "disk_size", json_integer(256 << 20)) < 0)
		goto out;
	if (truncate(diskp, 256 << 20) < 0) {
		hl_error_errno("cannot grow '%s'", diskp);
		goto out;
	}
	{
		const char *args[] = { "host", "import-vm", "--dir", hostdir, "--bundle", bundle,
				       NULL };

		if (verb_spawn(L->self, args, "import-vm", outp, errp, 0, &c) < 0)
			goto out;
	}
	for (i = 0; i < 2000 && staging_count(hostdir, NULL) == before && hl_child_running(c); i++)
		usleep(2000);
	hl_child_signal(c, SIGKILL);
	hl_child_wait(c, 5000, NULL);
	hl_error_clear();
	if (staging_count(hostdir, &stale) == before) {
		/* the import ended before it could be killed: the attack was not played */
		hl_error("the import to be killed was not caught in its copy (it ended first)");
		goto out;
	}
	hl_file_rmtree(final);
	/* the next import: a good bundle (a fresh copy) */
	hl_file_rmtree(bundle);
	free(bundle);
	bundle = NULL;
	if (bundle_copy(a, &L->vms[vi], as, &bundle) < 0)
		goto out;
	{
		const char *args[] = { "host", "import-vm", "--dir", hostdir, "--bundle", bundle,
				       NULL };

		if (attack_host_exec(a, &res, 60000, args) < 0)
			goto out;
	}
	err = attack_err_line(res.err);
	if (res.rc != 0)
		rc = attack_succeeded(a, "the next import failed (%s): the killed import's staging "
				      "folder %s blocks the host", err ? err : "no message", stale);
	else if (hl_file_exists(stale) == 1)
		rc = attack_succeeded(a, "the killed import's staging folder %s is still there after "
				      "the next import", stale);
	else
		rc = attack_refused(a, "removed by the next import",
				    "the staging folder of the killed import was removed by the next "
				    "import, which succeeded");
out:
	if (c) {
		hl_child_signal(c, SIGKILL);
		hl_child_free(c);
	}
	if (final)
		hl_file_rmtree(final);
	if (stale)
		hl_file_rmtree(stale);
	if (bundle)
		hl_file_rmtree(bundle);
	if (outp)
		unlink(outp);
	if (errp)
		unlink(errp);
	lab_result_clear(&res);
	free(bundle);
	free(as);
	free(diskp);
	free(stale);
	free(final);
	free(outp);
	free(errp);
	free(err);
	return rc;
}

#define HV (ATTACK_NEEDS_HOST | ATTACK_NEEDS_VM)

const struct attack_def attack_host_defs[] = {
	/* bundles: a hostile tenant's bundle handed to import-vm */
	{ "bundle-link-kps-key", "bundle", "hands the host a VM bundle whose disk.img is a symbolic "
	  "link to HGS's KPS private key, hoping import-vm copies the key into the VM's folder",
	  "exit 2",
	  "a bundle is outside input: the host opens each part without following any link and "
	  "reads regular files only, so the link is refused and nothing is copied.",
	  HV, play_bundle_link_kps_key },
	{ "bundle-link-host-tpm", "bundle", "hands the host a bundle whose vtpm folder is a symbolic "
	  "link to the host's own TPM state folder, hoping to walk away with the host's TPM identity",
	  "exit 2",
	  "the vTPM folder is opened without following links, like every part of a bundle: the "
	  "host's TPM state (its endorsement and storage keys) never enters a VM's folder.",
	  HV, play_bundle_link_host_tpm },
	{ "bundle-link-tpm-state", "bundle", "hands the host a bundle whose vtpm/tpm2-00.permall is "
	  "a symbolic link to the host TPM's own state file", "exit 2",
	  "each vTPM file is opened with no link followed and must be a regular file of its own: a "
	  "link inside the folder is refused as the folder itself would be.",
	  HV, play_bundle_link_tpm_state },
	{ "bundle-dev-zero", "bundle", "hands the host a bundle whose disk.img is a device (/dev/zero's "
	  "node, or a link to it), hoping import-vm copies without end and fills the host's disk",
	  "exit 2",
	  "only regular files are read from a bundle, and the device is refused before a byte is "
	  "read: no endless copy, nothing written.",
	  HV, play_bundle_dev_zero },
	{ "bundle-fifo", "bundle", "hands the host a bundle whose disk.img is a FIFO nobody writes to, "
	  "hoping import-vm waits on it for ever", "exit 2",
	  "the host opens a bundle part without blocking and checks what it is before it reads: a "
	  "FIFO is refused at once, so the import cannot be hung.",
	  HV, play_bundle_fifo },
	{ "bundle-hardlink", "bundle", "hands the host a bundle whose disk.img is a hard link to HGS's "
	  "KPS private key (no symbolic link to spot)", "exit 2",
	  "a bundle part must be a file with exactly one link: a second name for a host file is "
	  "refused, so a hard link cannot smuggle one out either.",
	  HV, play_bundle_hardlink },
	{ "bundle-oversize-disk", "bundle", "hands the host a bundle whose disk.img is larger than the "
	  "disk_size its own config.json declares", "exit 2",
	  "each part is bounded by what the bundle itself declares before a byte is copied: a disk "
	  "that does not match its declared size is refused.",
	  HV, play_bundle_oversize },
	{ "bundle-name-traversal", "bundle", "hands the host a bundle whose config.json names the VM "
	  "'../../keys', hoping the import writes outside the host's vms folder", "exit 2",
	  "a VM name is checked by the one validator both ends use (letters, digits, '.', '_', '-', "
	  "no leading dot): a path is no name, and nothing is written.",
	  HV, play_bundle_name_traversal },
	{ "bundle-staging-leftover", "bundle", "kills an import outright (SIGKILL) while it copies a "
	  "large disk, leaving its half-written .import-* staging folder behind",
	  "removed by the next import",
	  "an import builds the VM in a staging folder it locks, then renames it into place in one "
	  "step: a killed import leaves no half VM, and the next import removes every staging "
	  "folder no live import holds.",
	  HV, play_bundle_staging_leftover },
	/* the host administrator: a VM's folder on the host */
	{ "policy-downgrade", "host admin", "stops the shielded VM, edits its config.json on the host "
	  "to policy encryption-supported and starts it again, hoping for a serial console",
	  "exit 4",
	  "the policy that counts is the one the tenant signed (policy.sig): the host's copy "
	  "disagrees with it, so the VM does not start and connect-vm gives no console.",
	  HV, attack_host_policy_downgrade },
	{ "policy-sig-forged", "host admin", "writes its own policy statement (encryption-supported) "
	  "signed with a key of its own, and edits config.json to match", "exit 4",
	  "a policy statement must verify with the signing certificate of the key protector's "
	  "owner, which the host does not have the key of: a statement signed by anyone else is "
	  "refused.",
	  HV, attack_host_policy_sig_forged },
	{ "policy-sig-other-vm", "host admin", "copies another VM's genuine policy statement (an "
	  "encryption-supported VM of the same tenant) into the shielded VM's folder", "exit 4",
	  "a statement names the key protector and the VM it is for: a genuine statement for "
	  "another VM does not speak for this one.",
	  HV, attack_host_policy_sig_other_vm },
	{ "kp-swap-on-host", "host admin", "replaces the VM's key protector with one of its own "
	  "(listing the same HGS) and signs a matching policy statement with its own key",
	  "exit 1",
	  "KPS then releases the TK of the host's own key protector, not the one that encrypts the "
	  "VM's vTPM state: swtpm cannot open the vTPM and the VM does not start; the tenant's "
	  "secrets stay locked.",
	  HV, attack_host_kp_swap },
	{ "vtpm-swap", "vm", "puts another VM's vTPM state into the VM's folder and starts it",
	  "exit 1",
	  "each VM's vTPM state is encrypted with its own key protector's TK: with this VM's TK "
	  "swtpm cannot open another VM's state, so the swap starts nothing.",
	  HV, attack_host_vtpm_swap },
	{ "disk-swap", "vm", "puts another VM's encrypted disk into the VM's folder and starts it, "
	  "hoping the guest unlocks it", "exit 1",
	  "a disk's key is sealed in the vTPM of the VM it was made for: this VM's vTPM holds no key "
	  "that opens another VM's LUKS volume, so the guest cannot unlock it and stops.",
	  HV, attack_host_disk_swap },
	{ "console-on-shielded", "vm", "asks for the serial console of a running shielded VM "
	  "(host connect-vm)", "exit 4",
	  "a shielded VM has no serial console, monitor or debugger on the host: connect-vm is "
	  "refused with the reason.",
	  HV, attack_host_console },
	{ "offline-disk-read", "vm", "reads the VM's disk and vTPM state on the host offline, "
	  "looking for the tenant's files", "ciphertext",
	  "the disk is a LUKS2 volume whose key is sealed in the vTPM, and the vTPM state is "
	  "encrypted with the TK only KPS releases: at rest on the host both are ciphertext.",
	  HV, attack_host_offline_disk },
	/* QMP and secrets */
	{ "qmp-dump-guest-memory", "qmp", "looks for any socket in the lab that answers QMP and asks "
	  "it for dump-guest-memory, to read the running guest's plaintext memory",
	  "no QMP socket",
	  "QEMU's QMP is a socket pair held by the VM keeper alone, with no path in the file system, "
	  "and the keeper sends only the commands the lab needs: no socket answers QMP.",
	  HV, attack_host_qmp_dump },
	{ "qmp-gdbserver", "qmp", "looks for any socket in the lab that answers QMP and asks it to "
	  "start a gdbstub (human-monitor-command gdbserver), to debug the running guest",
	  "no QMP socket",
	  "no socket answers QMP and QEMU runs with no gdbstub or monitor configured: a shielded "
	  "VM has no debugger the host can attach through hgslab.",
	  HV, attack_host_qmp_gdbserver },
	{ "tk-in-keeper-memory", "secrets", "reads the running VM keeper's memory (/proc/PID/mem) "
	  "looking for the VM's transport key", "not found",
	  "the keeper holds the TK only until swtpm has it, then cleanses it: the same scan finds "
	  "the key in swtpm (which needs it) and nowhere in the keeper.",
	  HV, attack_host_tk_in_keeper },
	{ "secret-in-command-logs", "secrets", "looks for the tenant's file contents and TK in the "
	  "runner's command logs and in the command line and environment of every process",
	  "not found",
	  "the tenant's contents go to new-vm as 0600 files it removes (NAME=@PATH), never as "
	  "arguments: no log, argv or environment holds them.",
	  HV, attack_host_secret_in_logs },
	/* process identity */
	{ "pidfile-squat", "process", "restarts HGS after writing its hgs.pid with the pid of an "
	  "unrelated live process, hoping HGS refuses to start", "served anyway",
	  "a pid file belongs to the process that holds its lock (flock), not to whatever process "
	  "has that pid now: HGS starts, and the unrelated process is left alone.",
	  0, attack_host_pidfile_squat },
	{ "down-pid-reuse", "process", "records pids of unrelated live processes in a lab.json (as "
	  "if the lab's processes had died and their pids been reused) and runs hgslab down on it",
	  "left alone",
	  "down signals only a process that holds the pid file of what lab.json recorded, and "
	  "never a process group: a recycled pid is not the lab's.",
	  0, attack_host_down_pid_reuse },
	{ "stop-pid-reuse", "process", "writes the VM's state.json and keeper.pid naming an "
	  "unrelated process whose command line looks like a keeper, then runs host stop-vm",
	  "left alone",
	  "the keeper is the process holding keeper.pid's lock, whatever a file or a command line "
	  "says: stop-vm finds no keeper and signals nobody.",
	  HV, attack_host_stop_pid_reuse },
	/* availability */
	{ "start-without-hgs", "availability", "takes HGS down (as a crash or a cut network would) and "
	  "starts the shielded VM on a host that holds a valid health certificate", "exit 4",
	  "a health certificate is not a key: only KPS, part of HGS, can re-wrap the VM's transport "
	  "key to the host's TPM, so the start is refused with TransientError and the VM waits for "
	  "HGS; it never starts unprotected.",
	  HV, attack_host_start_without_hgs },
	{ "swtpm-kill", "availability", "kills the host's TPM (its swtpm) with SIGKILL under the "
	  "running host agent", "restarted",
	  "the agent supervises its swtpm: it restarts it with a fresh measured boot and attests "
	  "again, instead of running on with no TPM and saying it is fine.",
	  ATTACK_NEEDS_HOST, attack_host_swtpm_kill },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL },
};
