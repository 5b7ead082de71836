/*
 * attack_host_admin.c - the host family's attacks on a VM's folder
 * (sim/attack_host.h): what a host administrator, root on the host, does to
 * the files of a shielded VM it hosts - edit the policy, forge or borrow a
 * policy statement, swap the key protector, the vTPM state or the disk -
 * then tries to start it or reach its console; and an offline read of the
 * disk.  Each takes the VM's folder (attack_host_vm_take: imported, not
 * running, its parts saved) and gives it back as it was.
 */
#include "sim/attack_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "proto/vmpolicy.h"
#include "sim/search.h"
#include "tenant/guardian.h"
#include "vm/bundle.h"

/*
 * Start S's VM after the attack's edit, then ask for its console.  Refused
 * (1) when neither worked: the start's exit status and reason.  A VM that
 * started anyway is stopped again.
 */
static int start_and_console(struct attack_run *a, struct attack_host_vm *S, int console)
{
	struct lab_result r, c;
	char st[32], *err = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (attack_host_start_vm(a, S->hi, &r) < 0)
		return -1;
	if (console && lab_exec(a->L, &c, NULL, "host", "connect-vm", "--dir", a->L->hosts[S->hi].dir,
				"--name", a->st->vm, "--seconds", "1", NULL) < 0)
		goto out;
	err = attack_err_line(r.err);
	if (r.rc == 0) {
		rc = attack_succeeded(a, "start-vm ran the VM%s", console && c.rc == 0 ?
				      ", and connect-vm attached to its console" : "");
		if (attack_host_stop_vm(a, S->hi) < 0)
			rc = -1;
	} else if (console && c.rc == 0) {
		rc = attack_succeeded(a, "connect-vm attached to the VM's console");
	} else {
		rc = attack_refused(a, attack_host_exit(&r, st, sizeof(st)), err);
	}
out:
	free(err);
	lab_result_clear(&r);
	lab_result_clear(&c);
	return rc;
}

/* Take the VM, play BODY's edit, start (and console), give back. */
typedef int (*edit_fn)(struct attack_run *a, struct attack_host_vm *S, void *arg);

static int edit_and_start(struct attack_run *a, edit_fn edit, void *arg, int console)
{
	struct attack_host_vm S;
	int rc;

	if ((rc = attack_host_vm_take(a, &S)) == 0 && (rc = edit(a, &S, arg)) == 0)
		rc = start_and_console(a, &S, console);
	if (attack_host_vm_give_back(a, &S) < 0)
		rc = -1;
	return rc;
}

/* policy-downgrade: config.json says encryption-supported. */
static int edit_downgrade(struct attack_run *a, struct attack_host_vm *S, void *arg)
{
	(void)a;
	(void)arg;
	return attack_host_vm_config(S, "encryption-supported", NULL);
}

int attack_host_policy_downgrade(struct attack_run *a)
{
	return edit_and_start(a, edit_downgrade, NULL, 1);
}

/* The id of the key protector in file PATH into ID (HL_KP_ID_SIZE). */
static int kp_id_of(const char *path, char id[HL_KP_ID_SIZE])
{
	struct hl_kp *kp = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (hl_file_read(path, HL_KP_MAX_SIZE, &text, &len) == 0 && hl_kp_parse(text, len, &kp) == 0) {
		snprintf(id, HL_KP_ID_SIZE, "%s", kp->id);
		rc = 0;
	}
	hl_kp_free(kp);
	free(text);
	return rc;
}

/* Write a statement for the key protector KP_ID and the step's VM, policy encryption-supported, signed with KEY. */
static int write_statement(struct attack_run *a, struct attack_host_vm *S, const char *kp_id,
			   EVP_PKEY *key)
{
	struct hl_buf sig = { NULL, 0 };
	char *path = NULL;
	int rc = -1;

	if (asprintf(&path, "%s/%s", S->dir, VM_BUNDLE_POLICY) < 0)
		return hl_error("out of memory");
	if (hl_vmpolicy_create(kp_id, a->st->vm, "encryption-supported", time(NULL), key, &sig) == 0 &&
	    hl_file_write(path, sig.data, sig.len, HL_FILE_MODE_PUBLIC) == 0)
		rc = 0;
	hl_buf_free(&sig);
	free(path);
	return rc;
}

/* policy-sig-forged: a statement for the VM's own key protector, signed with a fresh key. */
static int edit_forged(struct attack_run *a, struct attack_host_vm *S, void *arg)
{
	char id[HL_KP_ID_SIZE], *kp = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	(void)arg;
	if (asprintf(&kp, "%s/key-protector.kp", S->dir) < 0)
		return hl_error("out of memory");
	if (kp_id_of(kp, id) == 0 && hl_key_generate(HL_KEY_RSA2048, &key) == 0 &&
	    write_statement(a, S, id, key) == 0 &&
	    attack_host_vm_config(S, "encryption-supported", NULL) == 0)
		rc = 0;
	hl_key_free(key);
	free(kp);
	return rc;
}

int attack_host_policy_sig_forged(struct attack_run *a)
{
	return edit_and_start(a, edit_forged, NULL, 1);
}

/* Copy PART of VM OTHER's exported bundle over PART of S's folder. */
static int borrow_part(struct attack_run *a, struct attack_host_vm *S, int other, const char *part)
{
	char *dst = NULL;
	int rc;

	if (asprintf(&dst, "%s/%s", S->dir, part) < 0)
		return hl_error("out of memory");
	unlink(dst);
	rc = vm_bundle_copy_part(a->L->vms[other].bundle, part, dst, HL_FILE_MODE_PRIVATE);
	free(dst);
	return rc;
}

/* The other shielded VM an attack borrows from, or -1 with the error set. */
static int other_vm(struct attack_run *a, struct attack_host_vm *S)
{
	int o = attack_host_other_vm(a->L, S->vi);

	if (o < 0)
		hl_error("the attack needs a second tenant VM, shielded by an earlier step");
	return o;
}

/* policy-sig-other-vm: the other VM's genuine statement, and its policy in config.json. */
static int edit_other_sig(struct attack_run *a, struct attack_host_vm *S, void *arg)
{
	int o = other_vm(a, S);
	const char *policy;

	(void)arg;
	if (o < 0)
		return -1;
	policy = a->L->vms[o].sc->policy == SC_VM_SHIELDED ? "shielded" : "encryption-supported";
	if (borrow_part(a, S, o, VM_BUNDLE_POLICY) < 0 || attack_host_vm_config(S, policy, NULL) < 0)
		return -1;
	return 0;
}

int attack_host_policy_sig_other_vm(struct attack_run *a)
{
	return edit_and_start(a, edit_other_sig, NULL, 1);
}

/*
 * kp-swap-on-host: the host admin's own guardian and key protector (listing
 * the lab's HGS, so KPS releases its TK to the healthy host), a matching
 * statement signed with its own key, config.json to match.
 */
static int edit_kp_swap(struct attack_run *a, struct attack_host_vm *S, void *arg)
{
	struct lab *L = a->L;
	struct hl_guardian *g = NULL;
	struct lab_result r;
	char *dir = NULL, *kp = NULL, *dst = NULL, *text = NULL, id[HL_KP_ID_SIZE];
	size_t len;
	int rc = -1;

	(void)arg;
	memset(&r, 0, sizeof(r));
	if (attack_host_scratch(a, "kp-swap", &dir) < 0)
		return -1;
	if (asprintf(&kp, "%s/host-admin.kp", dir) < 0 ||
	    asprintf(&dst, "%s/key-protector.kp", S->dir) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_guardian_new(dir, "HostAdmin") < 0 ||
	    lab_exec(L, &r, NULL, "tenant", "import-guardian", "--dir", dir, "--url", L->hgs[0].url,
		     "--resolve", L->hgs[0].resolve, "--allow-untrusted-root", NULL) < 0)
		goto out;
	if (r.rc != 0) {
		hl_error("import-guardian failed: %s", r.err);
		goto out;
	}
	lab_result_clear(&r);
	if (lab_exec(L, &r, NULL, "tenant", "new-key-protector", "--dir", dir, "--owner",
		     "HostAdmin", "--guardian", L->hgs[0].sc->name, "--out", kp, NULL) < 0)
		goto out;
	if (r.rc != 0) {
		hl_error("new-key-protector failed: %s", r.err);
		goto out;
	}
	if (kp_id_of(kp, id) < 0 ||
	    hl_guardian_load(dir, "HostAdmin", HL_GUARDIAN_LOAD_KEYS, &g) < 0 ||
	    hl_file_read(kp, HL_KP_MAX_SIZE, &text, &len) < 0 ||
	    hl_file_write(dst, text, len, HL_FILE_MODE_PUBLIC) < 0 ||
	    write_statement(a, S, id, g->signing_key) < 0 ||
	    attack_host_vm_config(S, "encryption-supported", id) < 0)
		goto out;
	rc = 0;
out:
	lab_result_clear(&r);
	hl_guardian_free(g);
	hl_file_rmtree(dir);
	free(dir);
	free(kp);
	free(dst);
	free(text);
	return rc;
}

int attack_host_kp_swap(struct attack_run *a)
{
	return edit_and_start(a, edit_kp_swap, NULL, 0);
}

/* vtpm-swap / disk-swap: the other VM's part ARG. */
static int edit_swap(struct attack_run *a, struct attack_host_vm *S, void *arg)
{
	int o = other_vm(a, S);

	return o < 0 ? -1 : borrow_part(a, S, o, (const char *)arg);
}

int attack_host_vtpm_swap(struct attack_run *a)
{
	return edit_and_start(a, edit_swap, (void *)"vtpm/tpm2-00.permall", 0);
}

int attack_host_disk_swap(struct attack_run *a)
{
	return edit_and_start(a, edit_swap, (void *)"disk.img", 0);
}

/*
 * The host the step's VM is on for a look that needs no edit: where it runs,
 * else the step's host (imported there when it was not: *IMPORTED set, the
 * caller removes HOSTDIR/vms/VM again).  -1 when it cannot be arranged.
 */
static int vm_host(struct attack_run *a, int *imported)
{
	struct lab *L = a->L;
	int vi = lab_vm_index(L, a->st->vm), hi;
	struct lab_result r;
	char *dir = NULL;

	*imported = 0;
	if (vi < 0 || !L->vms[vi].bundle)
		return hl_error("the attack needs a VM shielded by an earlier step");
	hi = L->vms[vi].running_on >= 0 ? L->vms[vi].running_on : lab_host_index(L, a->st->host);
	if (hi < 0 || asprintf(&dir, "%s/vms/%s", L->hosts[hi].dir, a->st->vm) < 0)
		return hl_error("the attack needs the VM's host");
	if (hl_file_exists(dir) != 1) {
		if (lab_exec(L, &r, NULL, "host", "import-vm", "--dir", L->hosts[hi].dir, "--bundle",
			     L->vms[vi].bundle, NULL) < 0)
			hi = -1;
		else if (r.rc != 0)
			hi = hl_error("import-vm of VM %s failed: %s", a->st->vm, r.err);
		else
			*imported = 1;
		lab_result_clear(&r);
	}
	free(dir);
	return hi;
}

/* Remove the VM folder vm_host imported on host HI. */
static void vm_host_end(struct attack_run *a, int hi, int imported)
{
	char *dir = NULL;

	if (hi >= 0 && imported && asprintf(&dir, "%s/vms/%s", a->L->hosts[hi].dir, a->st->vm) >= 0)
		hl_file_rmtree(dir);
	free(dir);
}

int attack_host_console(struct attack_run *a)
{
	struct lab_result r;
	char st[32], *err = NULL;
	int imported, hi = vm_host(a, &imported), rc;

	if (hi < 0)
		return -1;
	if (lab_exec(a->L, &r, NULL, "host", "connect-vm", "--dir", a->L->hosts[hi].dir, "--name",
		     a->st->vm, "--seconds", "1", NULL) < 0) {
		vm_host_end(a, hi, imported);
		return -1;
	}
	err = attack_err_line(r.err);
	rc = r.rc == 0 ? attack_succeeded(a, "connect-vm attached to the VM's serial console")
		       : attack_refused(a, attack_host_exit(&r, st, sizeof(st)), err);
	free(err);
	lab_result_clear(&r);
	vm_host_end(a, hi, imported);
	return rc;
}

/*
 * offline-disk-read: the VM's folder on the host read as a thief would - the
 * disk's first bytes (a LUKS2 header, or a file system?), each of the
 * tenant's file contents searched in every file of the folder, and the vTPM
 * state given to swtpm without its key (tenant inspect-vm, which searches
 * nothing itself here: a content on its command line would be a leak).
 */
int attack_host_offline_disk(struct attack_run *a)
{
	static const unsigned char luks[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
	struct lab *L = a->L;
	int vi = lab_vm_index(L, a->st->vm), imported, hi = vm_host(a, &imported), rc = -1;
	const struct sc_vm *v = L->vms[vi].sc;
	char *dir = NULL, *disk = NULL, *found = NULL, *err = NULL, head[sizeof(luks)];
	struct lab_result r;
	FILE *fp;
	size_t k, len = 0, files = 0;

	memset(&r, 0, sizeof(r));
	if (hi < 0)
		return -1;
	if (asprintf(&dir, "%s/vms/%s", L->hosts[hi].dir, a->st->vm) < 0 ||
	    asprintf(&disk, "%s/disk.img", dir) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (!(fp = fopen(disk, "rb"))) {
		hl_error_errno("cannot open '%s'", disk);
		goto out;
	}
	len = fread(head, 1, sizeof(head), fp);
	fclose(fp);
	for (k = 0; v && !found && k < v->n_files; k++) {
		struct sim_search S;
		const char *t = v->files[k].content;
		size_t tl = strlen(t);

		while (tl && t[tl - 1] == '\n')
			tl--;
		if (tl < 8)
			continue;
		if (sim_search_run(&S, dir, t, tl, NULL) < 0) {
			sim_search_release(&S);
			goto out;
		}
		files = S.files;
		if (S.found && asprintf(&found, "file %s of the VM is in clear in %s",
					v->files[k].name, S.first) < 0)
			found = NULL;
		sim_search_release(&S);
	}
	if (lab_exec(L, &r, NULL, "tenant", "inspect-vm", "--bundle", dir, NULL) < 0)
		goto out;
	err = attack_err_line(r.out);
	if (found)
		rc = attack_succeeded(a, "%s", found);
	else if (len < sizeof(luks) || memcmp(head, luks, sizeof(luks)) != 0)
		rc = attack_succeeded(a, "disk.img is not a LUKS volume");
	else if (r.rc != 0)
		rc = attack_succeeded(a, "tenant inspect-vm found something readable (exit %d): %s",
				      r.rc, err ? err : "");
	else {
		char why[256];

		snprintf(why, sizeof(why), "disk.img is a LUKS2 volume, no file of the VM is in "
			 "clear in the %zu files of its folder, and swtpm cannot open the vTPM "
			 "state without the TK", files);
		rc = attack_refused(a, "ciphertext", why);
	}
out:
	lab_result_clear(&r);
	vm_host_end(a, hi, imported);
	free(dir);
	free(disk);
	free(found);
	free(err);
	return rc;
}
