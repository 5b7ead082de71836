/*
 * attack_host.c - the attack library's host family (sim/attack.h): what a
 * hostile tenant's bundle, a host administrator's edits and dying
 * processes try against a guarded host, and how the host refuses them.
 */
#include "sim/attack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"

/* A copy of VM V's exported bundle in a scratch folder of the lab, into *OUT (malloc'd). */
static int bundle_copy(struct attack_run *a, const struct lab_vm *v, char **out)
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
	*out = dir;
	dir = NULL;
	rc = 0;
out:
	free(dir);
	return rc;
}

/* bundle-link-kps-key: disk.img a symbolic link to HGS's KPS encryption key. */
static int play_bundle_link_kps_key(struct attack_run *a)
{
	struct lab *L = a->L;
	int hi = lab_host_index(L, a->st->host), vi = lab_vm_index(L, a->st->vm);
	char *bundle = NULL, *disk = NULL, *key = NULL, *err = NULL, *copy = NULL;
	struct lab_result res;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (bundle_copy(a, &L->vms[vi], &bundle) < 0)
		return -1;
	if (asprintf(&disk, "%s/disk.img", bundle) < 0 ||
	    asprintf(&key, "%s/keys/kps-encryption.key", L->hgs[0].dir) < 0 ||
	    asprintf(&copy, "%s/vms/%s/disk.img", L->hosts[hi].dir, a->st->vm) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (unlink(disk) < 0 || symlink(key, disk) < 0) {
		hl_error_errno("cannot plant the link '%s'", disk);
		goto out;
	}
	if (lab_exec(L, &res, NULL, "host", "import-vm", "--dir", L->hosts[hi].dir, "--bundle",
		     bundle, NULL) < 0)
		goto out;
	err = attack_err_line(res.err);
	if (res.rc == 0)
		rc = attack_succeeded(a, "import-vm took the bundle: the host copied its own KPS key "
				      "into %s", copy);
	else
		rc = attack_refused(a, res.rc == 2 ? "exit 2" : "exit other", err);
out:
	lab_result_clear(&res);
	if (bundle)
		hl_file_rmtree(bundle);
	free(bundle);
	free(disk);
	free(key);
	free(copy);
	free(err);
	return rc;
}

const struct attack_def attack_host_defs[] = {
	{ "bundle-link-kps-key", "bundle", "hands the host a VM bundle whose disk.img is a symbolic "
	  "link to HGS's KPS private key, hoping import-vm copies the key into the VM's folder",
	  "exit 2",
	  "a bundle is outside input: the host opens each part without following any link and "
	  "reads regular files only, so the link is refused and nothing is copied.",
	  ATTACK_NEEDS_HOST | ATTACK_NEEDS_VM, play_bundle_link_kps_key },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL },
};
