/*
 * test_tenant_vm.c - unit tests for tenant/vm (the tenant's VMs) without
 * QEMU: the plain template disk (new-vm: mke2fs -d, nothing left behind on
 * failure), shield-vm's refusals before any boot (policy, name, missing VM
 * or plain disk, a KP that is missing, truncated, owned by another tenant or
 * tampered with) and its cleanup when the launch fails, a shielding run
 * against a fake qemu-system-x86_64 whose guest reports provisioned (the
 * owner's signed policy statement is installed with the rest), and
 * export-vm's bundle (with the policy statement, signed at export for a VM
 * an older hgslab shielded without one) and its failures.  VM names and the bundle copy have their own
 * tests (test_vm_bundle.c).
 *
 * The group makes one tenant directory with an owner guardian and two KPs
 * (one owned here, one by a guardian of another directory); each test works
 * in its own mkdtemp sandbox with a copy of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "proto/vmpolicy.h"
#include "tenant/guardian.h"
#include "tenant/vm.h"
#include "tests/unit/testutil.h"

/* The group's template: tenant/ with guardian Owner, own.kp and foreign.kp beside it. */
static char group_dir[64];
static char template_dir[128];

/* One test's sandbox: DIR/tenant (a copy of the template), DIR/own.kp, DIR/foreign.kp. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char tenant[128];
	char own_kp[128];
	char foreign_kp[128];
	char no_guest[128];      /* a guest folder without a kernel */
};

/* Make guardian NAME in DIR and a KP owned by it alone into KP_PATH. */
static int make_kp(const char *dir, const char *name, const char *kp_path)
{
	struct hl_guardian *g = NULL;
	struct hl_kp_owner o;
	struct hl_buf kp = { NULL, 0 };
	int rc = -1;

	if (hl_guardian_new(dir, name) < 0 ||
	    hl_guardian_load(dir, name, HL_GUARDIAN_LOAD_KEYS, &g) < 0)
		goto out;
	hl_guardian_as_owner(g, &o);
	if (hl_kp_create(&o, NULL, 0, 0, &kp, NULL) < 0 ||
	    hl_file_write(kp_path, kp.data, kp.len, 0644) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "make_kp: %s\n", hl_error_last());
	hl_buf_free(&kp);
	hl_guardian_free(g);
	return rc;
}

static int group_setup(void **state)
{
	char path[256], other[256];

	(void)state;
	if (tu_mkdtemp(group_dir, sizeof(group_dir), "tvm") < 0)
		return -1;
	snprintf(template_dir, sizeof(template_dir), "%s/tenant", group_dir);
	snprintf(path, sizeof(path), "%s/own.kp", group_dir);
	snprintf(other, sizeof(other), "%s/other", group_dir);
	if (make_kp(template_dir, "Owner", path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/foreign.kp", group_dir);
	return make_kp(other, "Stranger", path);
}

static int group_teardown(void **state)
{
	(void)state;
	return tu_rmtree(group_dir);
}

static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "tvm1");

	if (!s)
		return -1;
	snprintf(s->tenant, sizeof(s->tenant), "%s/tenant", s->dir);
	snprintf(s->own_kp, sizeof(s->own_kp), "%s/own.kp", s->dir);
	snprintf(s->foreign_kp, sizeof(s->foreign_kp), "%s/foreign.kp", s->dir);
	snprintf(s->no_guest, sizeof(s->no_guest), "%s/no-guest", s->dir);
	if (tu_sh("cp -a '%s' '%s' && cp '%s/own.kp' '%s/foreign.kp' '%s/'", template_dir,
		  s->tenant, group_dir, group_dir, s->dir) < 0)
		return -1;
	*state = s;
	return 0;
}

static int sandbox_teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* ---- new-vm ---- */

static void test_new_vm_layout(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file files[] = { { "secret.txt", "tenant secret 42" },
						   { "dir/sub/b.txt", "nested" } };
	PATH_VAR(img, "%s/vms/vm1/plain.img", s->tenant);
	unsigned char magic[2];
	json_t *cfg;
	FILE *f;

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, files, 2, NULL), 0);
	assert_int_equal(tu_mode_of(img), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/vms/vm1", s->tenant)) & 0077, 0);
	/* an ext4 image of the asked size: the superblock magic 0xEF53 at 1024 + 56 */
	f = fopen(img, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 1024 + 56, SEEK_SET), 0);
	assert_int_equal(fread(magic, 1, 2, f), 2);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_int_equal(ftell(f), (long)HL_VM_DISK_DEFAULT);
	fclose(f);
	assert_int_equal(magic[0], 0x53);
	assert_int_equal(magic[1], 0xef);
	/* the files are in it (debugfs reads ext4 without mounting) */
	assert_int_equal(tu_sh("debugfs -R 'cat /secret.txt' '%s' 2>/dev/null | "
			       "grep -qx 'tenant secret 42'", img), 0);
	assert_int_equal(tu_sh("debugfs -R 'cat /dir/sub/b.txt' '%s' 2>/dev/null | grep -qx nested",
			       img), 0);
	/* vm.json */
	cfg = json_load_file(tu_path("%s/vms/vm1/vm.json", s->tenant), 0, NULL);
	assert_non_null(cfg);
	assert_int_equal(json_integer_value(json_object_get(cfg, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(cfg, "name")), "vm1");
	assert_int_equal(json_integer_value(json_object_get(cfg, "disk_size")), (json_int_t)HL_VM_DISK_DEFAULT);
	assert_non_null(json_string_value(json_object_get(cfg, "created")));
	json_decref(cfg);
	/* nothing else: no staged plaintext, no mke2fs log, no temporary folder */
	assert_false(tu_exists(tu_path("%s/vms/vm1/files", s->tenant)));
	assert_false(tu_exists(tu_path("%s/vms/vm1/mke2fs.log", s->tenant)));
	assert_int_equal(tu_count_prefix(tu_path("%s/vms", s->tenant), ".new-"), 0);
	assert_int_equal(tu_sh("grep -rqs 'tenant secret 42' '%s/vms' --exclude=plain.img",
			       s->tenant), -1);
}

static void test_new_vm_srcdir(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(src, "%s/src", s->dir);
	PATH_VAR(img, "%s/vms/vm2/plain.img", s->tenant);

	assert_int_equal(tu_sh("mkdir -p '%s/docs' && echo from-tree > '%s/docs/a.txt'", src, src),
			 0);
	assert_int_equal(hl_vm_new(s->tenant, "vm2", (size_t)4 << 20, NULL, 0, src), 0);
	assert_int_equal(tu_sh("debugfs -R 'cat /docs/a.txt' '%s' 2>/dev/null | grep -qx from-tree",
			       img), 0);
	/* a source tree that does not exist is refused and leaves nothing */
	assert_int_equal(hl_vm_new(s->tenant, "vm3", (size_t)4 << 20, NULL, 0,
				   tu_path("%s/nope", s->dir)), -1);
	assert_error_has("cannot copy the files");
	assert_false(tu_exists(tu_path("%s/vms/vm3", s->tenant)));
	assert_int_equal(tu_count_prefix(tu_path("%s/vms", s->tenant), ".new-"), 0);
}

static void test_new_vm_refuses(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file ok[] = { { "a.txt", "a" } };
	static const struct hl_vm_file dotdot[] = { { "../escape.txt", "x" } };
	static const struct hl_vm_file absolute[] = { { "/etc/x", "x" } };
	static const struct hl_vm_file empty[] = { { "", "x" } };
	struct hl_vm_file big = { "big.txt", NULL };
	char *content;

	assert_int_equal(hl_vm_new(s->tenant, "bad/name", HL_VM_DISK_DEFAULT, ok, 1, NULL), -1);
	assert_error_has("bad VM name");
	assert_int_equal(hl_vm_new(s->tenant, "vm", (size_t)1 << 19, ok, 1, NULL), -1);
	assert_error_has("bad disk size");
	assert_int_equal(hl_vm_new(s->tenant, "vm", ((size_t)16 << 30) + 1, ok, 1, NULL), -1);
	assert_error_has("bad disk size");
	assert_int_equal(hl_vm_new(s->tenant, "vm", HL_VM_DISK_DEFAULT, dotdot, 1, NULL), -1);
	assert_error_has("bad file name");
	assert_false(tu_exists(tu_path("%s/escape.txt", s->tenant)));
	assert_false(tu_exists(tu_path("%s/vms/escape.txt", s->tenant)));
	assert_int_equal(hl_vm_new(s->tenant, "vm", HL_VM_DISK_DEFAULT, absolute, 1, NULL), -1);
	assert_error_has("bad file name");
	assert_int_equal(hl_vm_new(s->tenant, "vm", HL_VM_DISK_DEFAULT, empty, 1, NULL), -1);
	assert_error_has("bad file name");
	/* files bigger than the disk: mke2fs fails, nothing is left behind */
	content = malloc((size_t)3 << 20);
	assert_non_null(content);
	memset(content, 'z', ((size_t)3 << 20) - 1);
	content[((size_t)3 << 20) - 1] = '\0';
	big.content = content;
	assert_int_equal(hl_vm_new(s->tenant, "vm", (size_t)1 << 20, &big, 1, NULL), -1);
	free(content);
	assert_error_has("files too big");
	assert_false(tu_exists(tu_path("%s/vms/vm", s->tenant)));
	assert_int_equal(tu_count_prefix(tu_path("%s/vms", s->tenant), ".new-"), 0);
	/* an existing VM is refused and kept as it was */
	assert_int_equal(hl_vm_new(s->tenant, "vm", HL_VM_DISK_DEFAULT, ok, 1, NULL), 0);
	assert_int_equal(hl_vm_new(s->tenant, "vm", HL_VM_DISK_DEFAULT, ok, 1, NULL), -1);
	assert_error_has("already exists");
	assert_true(tu_exists(tu_path("%s/vms/vm/plain.img", s->tenant)));
}

/* ---- shield-vm, up to the boot ---- */

/* Options whose guest folder has no kernel: the launch fails before any process starts. */
static struct hl_vm_shield_opts no_guest(struct sandbox *s)
{
	struct hl_vm_shield_opts o = { 0 };

	o.guest_dir = s->no_guest;
	o.timeout_s = 5;
	return o;
}

static void test_shield_refuses(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "tenant secret 42" } };
	struct hl_vm_shield_opts o = no_guest(s);
	PATH_VAR(plain, "%s/vms/vm1/plain.img", s->tenant);

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", s->own_kp, "open", &o), -1);
	assert_error_has("bad policy 'open'");
	assert_int_equal(hl_vm_shield(s->tenant, "../vm1", s->own_kp, "shielded", &o), -1);
	assert_error_has("bad VM name");
	assert_int_equal(hl_vm_shield(s->tenant, "vm9", s->own_kp, "shielded", &o), -1);
	assert_error_has("no VM 'vm9'");
	/* the KP: missing, empty, truncated, not JSON */
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", tu_path("%s/none.kp", s->dir), "shielded",
				      &o), -1);
	assert_int_equal(tu_sh("head -c 200 '%s' > '%s/trunc.kp' && : > '%s/empty.kp' && "
			       "echo 'not a kp' > '%s/junk.kp'", s->own_kp, s->dir, s->dir, s->dir),
			 0);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", tu_path("%s/trunc.kp", s->dir), "shielded",
				      &o), -1);
	assert_error_has("trunc.kp");
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", tu_path("%s/empty.kp", s->dir), "shielded",
				      &o), -1);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", tu_path("%s/junk.kp", s->dir), "shielded",
				      &o), -1);
	assert_error_has("junk.kp");
	/* nothing of a run was made, the plain disk is still there */
	assert_true(tu_exists(plain));
	assert_false(tu_exists(tu_path("%s/vms/vm1/shielded", s->tenant)));
	assert_int_equal(tu_count_prefix(tu_path("%s/vms/vm1", s->tenant), ".shield-"), 0);
	/* no plain disk (removed by hand) */
	assert_int_equal(unlink(plain), 0);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", s->own_kp, "shielded", &o), -1);
	assert_error_has("has no plain disk");
}

static void test_shield_refuses_foreign_kp(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "tenant secret 42" } };
	struct hl_vm_shield_opts o = no_guest(s);

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", s->foreign_kp, "shielded", &o), -2);
	assert_error_has("Stranger");
	assert_error_has("only the owner can shield");
	assert_true(tu_exists(tu_path("%s/vms/vm1/plain.img", s->tenant)));
	assert_int_equal(tu_count_prefix(tu_path("%s/vms/vm1", s->tenant), ".shield-"), 0);
}

static void test_shield_refuses_tampered_kp(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "tenant secret 42" } };
	struct hl_vm_shield_opts o = no_guest(s);
	PATH_VAR(bad, "%s/tampered.kp", s->dir);
	json_t *kp;
	char *sig;

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	/* flip one character of the base64 signature: parses, does not verify */
	kp = json_load_file(s->own_kp, 0, NULL);
	assert_non_null(kp);
	sig = strdup(json_string_value(json_object_get(kp, "signature")));
	assert_non_null(sig);
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	json_object_set_new(kp, "signature", json_string(sig));
	free(sig);
	assert_int_equal(json_dump_file(kp, bad, JSON_COMPACT), 0);
	json_decref(kp);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", bad, "shielded", &o), -2);
	assert_true(tu_exists(tu_path("%s/vms/vm1/plain.img", s->tenant)));
	assert_false(tu_exists(tu_path("%s/vms/vm1/shielded", s->tenant)));
}

static void test_shield_launch_fails_cleanly(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "tenant secret 42" } };
	struct hl_vm_shield_opts o = no_guest(s);
	PATH_VAR(vmdir, "%s/vms/vm1", s->tenant);

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	/* a run cut short earlier left a folder behind: the next run removes it */
	assert_int_equal(tu_sh("mkdir -p '%s/.shield-old/vtpm' && "
			       "echo x > '%s/.shield-old/disk.img'", vmdir, vmdir), 0);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", s->own_kp, "shielded", &o), -3);
	assert_error_has("no guest in");
	assert_int_equal(tu_count_prefix(vmdir, ".shield-"), 0);
	assert_false(tu_exists(tu_path("%s/shielded", vmdir)));
	assert_true(tu_exists(tu_path("%s/plain.img", vmdir)));
	/* and it can simply be run again, with the same result */
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", s->own_kp, "encryption-supported", &o), -3);
	assert_int_equal(tu_count_prefix(vmdir, ".shield-"), 0);
}

static void test_shield_refuses_shielded(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "x" } };
	struct hl_vm_shield_opts o = no_guest(s);

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	assert_int_equal(mkdir(tu_path("%s/vms/vm1/shielded", s->tenant), 0700), 0);
	assert_int_equal(hl_vm_shield(s->tenant, "vm1", s->own_kp, "shielded", &o), -1);
	assert_error_has("already shielded");
}

/* Check that folder DIR's policy.sig is the owner's statement that VM has POLICY, for KP_PATH's KP. */
static void statement_holds(const char *dir, const char *kp_path, const char *vm,
			    const char *policy)
{
	struct hl_vmpolicy *p = NULL;
	struct hl_kp *kp = NULL;
	char *text, *kptext;
	size_t len = 0, kplen = 0;

	text = tu_slurp(tu_path("%s/policy.sig", dir), &len);
	kptext = tu_slurp(kp_path, &kplen);
	assert_ok(hl_vmpolicy_parse(text, len, &p));
	assert_ok(hl_kp_parse(kptext, kplen, &kp));
	assert_ok(hl_vmpolicy_verify(p, kp, vm));
	assert_string_equal(p->policy, policy);
	hl_vmpolicy_free(p);
	hl_kp_free(kp);
	free(text);
	free(kptext);
}

static void test_shield_signs_policy(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "x" } };
	struct hl_vm_shield_opts o = { 0 };
	PATH_VAR(events, "%s/events.jsonl", s->dir);
	PATH_VAR(sd, "%s/vms/vm1/shielded", s->tenant);
	char *old_path = NULL;

	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	assert_ok(tu_fake_qemu_install(s->dir, &old_path));
	tu_put(events, "{\"event\":\"provisioned\"}\n");
	setenv("FAKE_QEMU_ARGS", tu_path("%s/qemu.args", s->dir), 1);
	setenv("FAKE_QEMU_EVENTS", events, 1);
	o.guest_dir = tu_path("%s/guest", s->dir);
	o.timeout_s = 20;
	if (hl_vm_shield(s->tenant, "vm1", s->own_kp, "encryption-supported", &o) != 0) {
		tu_fake_qemu_remove(old_path);
		fail_msg("shield: %s", hl_error_last());
	}
	tu_fake_qemu_remove(old_path);
	/* the bundle parts, the owner's statement among them, and nothing else */
	assert_int_equal(tu_sh("cd '%s' && test \"$(ls | tr '\\n' ' ')\" = "
			       "'config.json disk.img key-protector.kp policy.sig vtpm '", sd), 0);
	assert_int_equal(tu_mode_of(tu_path("%s/policy.sig", sd)), 0644);
	statement_holds(sd, s->own_kp, "vm1", "encryption-supported");
}

/* ---- export-vm ---- */

/* Fake what a shielding run installs in VM's shielded/ (no boot needed for the bundle). */
static void fake_shielded(struct sandbox *s, const char *vm)
{
	PATH_VAR(sd, "%s/vms/%s/shielded", s->tenant, vm);

	assert_int_equal(tu_sh("mkdir -p '%s/vtpm' && head -c 65536 /dev/urandom > '%s/disk.img' "
			       "&& head -c 4096 /dev/urandom > '%s/vtpm/tpm2-00.permall' && "
			       "cp '%s' '%s/key-protector.kp' && "
			       "printf '{\"version\":1,\"name\":\"%s\",\"policy\":\"shielded\","
			       "\"disk_size\":65536}' > "
			       "'%s/config.json'", sd, sd, sd, s->own_kp, sd, vm, sd), 0);
}

static void test_export(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(out, "%s/bundle", s->dir);
	PATH_VAR(src, "%s/vms/vm1/shielded", s->tenant);
	static const char *const parts[] = { "disk.img", "key-protector.kp", "config.json",
					     "policy.sig", "vtpm/tpm2-00.permall" };
	char *first = NULL;
	size_t i;

	assert_int_equal(mkdir(tu_path("%s/vms", s->tenant), 0700), 0);
	assert_int_equal(mkdir(tu_path("%s/vms/vm1", s->tenant), 0700), 0);
	/* shielded by an hgslab older than the signed policy: export signs the statement */
	fake_shielded(s, "vm1");
	assert_false(tu_exists(tu_path("%s/policy.sig", src)));
	if (hl_vm_export(s->tenant, "vm1", out) != 0)
		fail_msg("export: %s", hl_error_last());
	statement_holds(out, s->own_kp, "vm1", "shielded");
	assert_int_equal(tu_mode_of(tu_path("%s/policy.sig", out)), 0644);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (tu_sh("cmp -s '%s/%s' '%s/%s'", src, parts[i], out, parts[i]) < 0)
			fail_msg("bundle part %s differs from the VM's", parts[i]);
	assert_int_equal(tu_mode_of(tu_path("%s/disk.img", out)), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/vtpm/tpm2-00.permall", out)), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/config.json", out)), 0644);
	assert_int_equal(tu_count_prefix(s->dir, "bundle.tmp-"), 0);
	/* the bundle is not replaced */
	assert_int_equal(hl_vm_export(s->tenant, "vm1", out), -1);
	assert_error_has("already exists");
	/* the statement is kept in shielded/: a second export carries the same one */
	first = tu_slurp(tu_path("%s/policy.sig", out), NULL);
	assert_ok(hl_vm_export(s->tenant, "vm1", tu_path("%s/bundle2", s->dir)));
	assert_true(tu_file_has(tu_path("%s/bundle2/policy.sig", s->dir), first));
	free(first);
}

static void test_export_refuses(void **state)
{
	struct sandbox *s = *state;
	static const struct hl_vm_file f[] = { { "secret.txt", "x" } };
	PATH_VAR(out, "%s/bundle", s->dir);

	assert_int_equal(hl_vm_export(s->tenant, ".x", out), -1);
	assert_error_has("bad VM name");
	assert_int_equal(hl_vm_new(s->tenant, "vm1", HL_VM_DISK_DEFAULT, f, 1, NULL), 0);
	assert_int_equal(hl_vm_export(s->tenant, "vm1", out), -1);
	assert_error_has("is not shielded");
	assert_false(tu_exists(out));
	/* a shielded/ folder missing a part: refused, no bundle, no temporary folder */
	fake_shielded(s, "vm1");
	assert_int_equal(unlink(tu_path("%s/vms/vm1/shielded/key-protector.kp", s->tenant)), 0);
	/* -3: the shielded folder breaks the bundle rules (exit 2); -2 is the KP owner's refusal */
	assert_int_equal(hl_vm_export(s->tenant, "vm1", out), -3);
	assert_error_has("key-protector.kp");
	assert_false(tu_exists(out));
	assert_int_equal(tu_count_prefix(s->dir, "bundle.tmp-"), 0);
	/* an old shielded/ whose KP another tenant owns: no statement can be signed (-2) */
	assert_int_equal(tu_sh("cp '%s' '%s/vms/vm1/shielded/key-protector.kp'", s->foreign_kp,
			       s->tenant), 0);
	assert_int_equal(hl_vm_export(s->tenant, "vm1", out), -2);
	assert_error_has("only the owner");
	assert_error_has("policy statement cannot be made");
	assert_false(tu_exists(out));
	assert_false(tu_exists(tu_path("%s/vms/vm1/shielded/policy.sig", s->tenant)));
	/* an OUT whose parent does not exist */
	assert_int_equal(tu_sh("cp '%s' '%s/vms/vm1/shielded/key-protector.kp'", s->own_kp,
			       s->tenant), 0);
	assert_int_equal(hl_vm_export(s->tenant, "vm1", tu_path("%s/no/such/bundle", s->dir)), -1);
	assert_error_has("cannot create a folder");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_vm_layout, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_new_vm_srcdir, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_new_vm_refuses, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_shield_refuses, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_shield_refuses_foreign_kp, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_shield_refuses_tampered_kp, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_shield_launch_fails_cleanly, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_shield_refuses_shielded, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_shield_signs_policy, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_export, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_export_refuses, sandbox_setup, sandbox_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
