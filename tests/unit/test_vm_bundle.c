/*
 * test_vm_bundle.c - unit tests for vm/bundle (the VM bundle both ends
 * share): VM names, policies, the copy of one part, the bundle copy in its two
 * shapes (the tenant's export takes every regular file of vtpm/, a host's
 * import only the state file), and config.json: the bytes shield-vm writes
 * and the checks import-vm reads it with; a hostile bundle (a part that is a
 * symbolic link to a host file or folder, /dev/zero, a FIFO, a hard link, a
 * part larger than the bundle declares) is refused before anything of it is
 * read, and never hangs (each such copy runs in a child bounded in time).
 *
 * The group works in one mkdtemp folder; each test makes its own folders
 * inside it.
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

#include "lib/err.h"
#include "lib/fileio.h"
#include "vm/bundle.h"
#include "tests/unit/testutil.h"

/* The group's folder. */
static char root[64];

static int group_setup(void **state)
{
	(void)state;
	return tu_mkdtemp(root, sizeof(root), "vmb");
}

static int group_teardown(void **state)
{
	(void)state;
	return tu_rmtree(root);
}

/* Write LEN bytes of a pattern seeded by SEED to DIR/NAME with MODE. */
static void put_bytes(const char *dir, const char *name, size_t len, unsigned seed, mode_t mode)
{
	PATH_VAR(path, "%s/%s", dir, name);
	unsigned char *b = malloc(len + 1);
	size_t i;

	assert_non_null(b);
	for (i = 0; i < len; i++)
		b[i] = (unsigned char)((i * 131u + seed * 7u) ^ (i >> 8));
	if (hl_file_write(path, b, len, mode) < 0)
		fail_msg("%s", hl_error_last());
	free(b);
}

/* Fail unless A/NAME and B/NAME hold the same bytes and B/NAME has MODE. */
static void assert_same(const char *a, const char *b, const char *name, unsigned mode)
{
	PATH_VAR(pa, "%s/%s", a, name);
	PATH_VAR(pb, "%s/%s", b, name);
	size_t la = 0, lb = 0;
	char *ta = tu_slurp(pa, &la), *tb = tu_slurp(pb, &lb);

	if (la != lb || memcmp(ta, tb, la))
		fail_msg("'%s' differs from '%s'", pb, pa);
	free(ta);
	free(tb);
	assert_int_equal(tu_mode_of(pb), mode);
}

/* A folder DIR (under the group's) holding the parts of a bundle for VM NAME with POLICY. */
static void make_parts(const char *dir, const char *name, const char *policy)
{
	PATH_VAR(vtpm, "%s/vtpm", dir);
	PATH_VAR(cfg, "%s/config.json", dir);
	char text[256];

	assert_int_equal(hl_file_mkdirs(vtpm, 0700), 0);
	put_bytes(dir, "disk.img", 65536, 1, 0600);
	put_bytes(dir, "key-protector.kp", 900, 2, 0644);
	put_bytes(dir, "policy.sig", 700, 6, 0644);
	put_bytes(vtpm, "tpm2-00.permall", 4096, 3, 0600);
	put_bytes(vtpm, "tpm2-00.volatilestate", 300, 4, 0600);
	put_bytes(vtpm, ".lock", 1, 5, 0600);
	snprintf(text, sizeof(text), "{\"version\":1,\"name\":\"%s\",\"policy\":\"%s\","
		 "\"disk_size\":65536}", name, policy);
	assert_int_equal(hl_file_write(cfg, text, strlen(text), 0644), 0);
}

/* ---- names and policies ---- */

static void test_name_check(void **state)
{
	static const char *const good[] = { "vm1", "ShieldedVM1", "a", "a.b_c-d", "9" };
	static const char *const bad[] = { "", ".hidden", "a/b", "..", "a b", "vm$", "\xc3\xa9", "a\n" };
	char longest[HL_NAME_VM_SIZE], too_long[HL_NAME_VM_SIZE + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (hl_name_vm(good[i]) != 0)
			fail_msg("'%s' refused: %s", good[i], hl_error_last());
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hl_name_vm(bad[i]) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_error_has("bad VM name");
	}
	assert_int_equal(hl_name_vm(NULL), -1);
	memset(longest, 'v', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_int_equal(hl_name_vm(longest), 0);
	memset(too_long, 'v', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_int_equal(hl_name_vm(too_long), -1);
}

static void test_policy_known(void **state)
{
	(void)state;
	assert_int_equal(vm_bundle_policy_known("shielded"), 1);
	assert_int_equal(vm_bundle_policy_known("encryption-supported"), 1);
	assert_int_equal(vm_bundle_policy_known("open"), 0);
	assert_int_equal(vm_bundle_policy_known(""), 0);
	assert_int_equal(vm_bundle_policy_known("Shielded"), 0);
}

/* ---- the copies ---- */

static void test_copy_part(void **state)
{
	PATH_VAR(da, "%s/copy-a", root);
	PATH_VAR(db, "%s/copy-b", root);
	PATH_VAR(b, "%s/copy-b/disk.img", root);
	PATH_VAR(missing, "%s/missing", root);
	PATH_VAR(nodir, "%s/no/dir/b", root);
	PATH_VAR(state_b, "%s/copy-b/tpm2-00.permall", root);

	(void)state;
	make_parts(da, "vm1", "shielded");
	assert_int_equal(mkdir(db, 0700), 0);
	assert_int_equal(hl_file_write(b, "old\n", 4, 0644), 0);
	assert_int_equal(vm_bundle_copy_part(da, "disk.img", b, 0600), 0);
	assert_same(da, db, "disk.img", 0600);
	assert_int_equal(vm_bundle_copy_part(da, "vtpm/tpm2-00.permall", state_b, 0600), 0);
	assert_same(tu_path("%s/vtpm", da), db, "tpm2-00.permall", 0600);
	assert_int_equal(vm_bundle_copy_part(missing, "disk.img", b, 0600), -2);
	assert_error_has("is not a VM bundle");
	assert_int_equal(vm_bundle_copy_part(da, "nothing.bin", b, 0600), -2);
	assert_error_has("cannot read");
	assert_int_equal(vm_bundle_copy_part(da, "disk.img", nodir, 0600), -1);
	assert_error_has("cannot create");
}

static void test_copy_all(void **state)
{
	PATH_VAR(src, "%s/all-src", root);
	PATH_VAR(dst, "%s/all-dst", root);
	PATH_VAR(sv, "%s/all-src/vtpm", root);
	PATH_VAR(dv, "%s/all-dst/vtpm", root);
	PATH_VAR(lock, "%s/all-dst/vtpm/.lock", root);
	PATH_VAR(sub, "%s/all-src/vtpm/sub", root);
	struct stat st;

	(void)state;
	make_parts(src, "vm1", "shielded");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mkdir(dst, 0700), 0);
	if (vm_bundle_copy(src, dst, VM_BUNDLE_VTPM_ALL) != 0)
		fail_msg("copy: %s", hl_error_last());
	assert_same(src, dst, "disk.img", 0600);
	assert_same(src, dst, "key-protector.kp", 0644);
	assert_same(src, dst, "config.json", 0644);
	assert_same(src, dst, "policy.sig", 0644);
	assert_int_equal(stat(dv, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_same(sv, dv, "tpm2-00.permall", 0600);
	assert_same(sv, dv, "tpm2-00.volatilestate", 0600);
	/* regular files only, no dot files */
	assert_int_equal(access(lock, F_OK), -1);
	{
		PATH_VAR(dsub, "%s/sub", dv);
		assert_int_equal(access(dsub, F_OK), -1);
	}
}

static void test_copy_state(void **state)
{
	PATH_VAR(src, "%s/state-src", root);
	PATH_VAR(dst, "%s/state-dst", root);
	PATH_VAR(sv, "%s/state-src/vtpm", root);
	PATH_VAR(dv, "%s/state-dst/vtpm", root);
	PATH_VAR(vol, "%s/state-dst/vtpm/tpm2-00.volatilestate", root);
	PATH_VAR(dst2, "%s/state-dst2", root);
	PATH_VAR(permall, "%s/state-src/vtpm/tpm2-00.permall", root);

	(void)state;
	make_parts(src, "vm1", "encryption-supported");
	assert_int_equal(mkdir(dst, 0700), 0);
	if (vm_bundle_copy(src, dst, VM_BUNDLE_VTPM_STATE) != 0)
		fail_msg("copy: %s", hl_error_last());
	assert_same(src, dst, "disk.img", 0600);
	assert_same(src, dst, "config.json", 0644);
	assert_same(src, dst, "policy.sig", 0644);
	assert_same(sv, dv, "tpm2-00.permall", 0600);
	assert_int_equal(access(vol, F_OK), -1);
	/* a missing part is named; a vtpm/ already there is refused */
	assert_int_equal(vm_bundle_copy(src, dst, VM_BUNDLE_VTPM_STATE), -1);
	assert_error_has("cannot create");
	assert_error_has("vtpm");
	assert_int_equal(mkdir(dst2, 0700), 0);
	assert_int_equal(unlink(permall), 0);
	assert_int_equal(vm_bundle_copy(src, dst2, VM_BUNDLE_VTPM_STATE), -2);
	assert_error_has("tpm2-00.permall");
}

/* ---- hostile bundles ---- */

/* What one bounded copy gets. */
struct copy_args {
	const char *src, *dst;
	enum vm_bundle_vtpm vtpm;
};

static int copy_fn(void *p)
{
	const struct copy_args *a = p;

	return vm_bundle_copy(a->src, a->dst, a->vtpm);
}

/* The host's secret that a hostile bundle points at (a stand-in for the KPS private key). */
#define HOST_SECRET "-----BEGIN PRIVATE KEY----- host KPS key"

/*
 * A copy of bundle DIR/TAG (VTPM) must be refused within 5 s with TEXT in the
 * message, and the host's secret must be in no file it wrote.
 */
static void copy_refused(const char *tag, enum vm_bundle_vtpm vtpm, const char *text)
{
	PATH_VAR(src, "%s/%s", root, tag);
	PATH_VAR(dst, "%s/%s-dst", root, tag);
	struct copy_args a = { src, dst, vtpm };
	char msg[HL_ERROR_MAX];
	int rc;

	assert_int_equal(mkdir(dst, 0700), 0);
	rc = tu_bounded(copy_fn, &a, 5, msg, sizeof(msg));
	if (rc == TU_HUNG)
		fail_msg("the copy of bundle '%s' did not end within 5 s", tag);
	if (rc >= 0)
		fail_msg("bundle '%s' was copied", tag);
	if (!strstr(msg, text))
		fail_msg("bundle '%s': '%s' lacks '%s'", tag, msg, text);
	if (tu_sh("grep -rqaF -- '%s' '%s'", HOST_SECRET, dst) == 0)
		fail_msg("bundle '%s': the host's secret was copied into '%s'", tag, dst);
}

static void test_copy_refuses_hostile(void **state)
{
	PATH_VAR(secret, "%s/host-kps.key", root);
	PATH_VAR(tpmdir, "%s/host-tpm", root);

	(void)state;
	tu_put(secret, HOST_SECRET);
	assert_int_equal(hl_file_mkdirs(tpmdir, 0700), 0);
	tu_put(tu_path("%s/tpm2-00.permall", tpmdir), HOST_SECRET);

	/* symbolic links to the host's files and folders, and to a device */
	make_parts(tu_path("%s/h-disk", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf '%s' '%s/h-disk/disk.img'", secret, root), 0);
	copy_refused("h-disk", VM_BUNDLE_VTPM_STATE, "symbolic link");
	make_parts(tu_path("%s/h-kp", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf '%s' '%s/h-kp/key-protector.kp'", secret, root), 0);
	copy_refused("h-kp", VM_BUNDLE_VTPM_STATE, "symbolic link");
	make_parts(tu_path("%s/h-vtpm", root), "vm1", "shielded");
	assert_int_equal(tu_sh("rm -r '%s/h-vtpm/vtpm' && ln -s '%s' '%s/h-vtpm/vtpm'", root,
			       tpmdir, root), 0);
	copy_refused("h-vtpm", VM_BUNDLE_VTPM_STATE, "symbolic link");
	make_parts(tu_path("%s/h-state", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf '%s/tpm2-00.permall' '%s/h-state/vtpm/tpm2-00.permall'",
			       tpmdir, root), 0);
	copy_refused("h-state", VM_BUNDLE_VTPM_STATE, "symbolic link");
	make_parts(tu_path("%s/h-all", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf '%s' '%s/h-all/vtpm/tpm2-00.volatilestate'", secret, root),
			 0);
	copy_refused("h-all", VM_BUNDLE_VTPM_ALL, "symbolic link");
	make_parts(tu_path("%s/h-zero", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf /dev/zero '%s/h-zero/disk.img'", root), 0);
	copy_refused("h-zero", VM_BUNDLE_VTPM_STATE, "symbolic link");
	make_parts(tu_path("%s/h-cfg", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf '%s' '%s/h-cfg/config.json'", secret, root), 0);
	copy_refused("h-cfg", VM_BUNDLE_VTPM_STATE, "symbolic link");

	/* FIFOs: refused at once, never waited on */
	make_parts(tu_path("%s/h-fifo", root), "vm1", "shielded");
	assert_int_equal(tu_sh("rm '%s/h-fifo/disk.img' && mkfifo '%s/h-fifo/disk.img'", root,
			       root), 0);
	copy_refused("h-fifo", VM_BUNDLE_VTPM_STATE, "not a regular file");
	make_parts(tu_path("%s/h-cfgfifo", root), "vm1", "shielded");
	assert_int_equal(tu_sh("rm '%s/h-cfgfifo/config.json' && mkfifo '%s/h-cfgfifo/config.json'",
			       root, root), 0);
	copy_refused("h-cfgfifo", VM_BUNDLE_VTPM_STATE, "not a regular file");

	/* a hard link to a host file */
	make_parts(tu_path("%s/h-hard", root), "vm1", "shielded");
	assert_int_equal(tu_sh("ln -f '%s' '%s/h-hard/disk.img'", secret, root), 0);
	copy_refused("h-hard", VM_BUNDLE_VTPM_STATE, "hard link");

	/* sizes: the disk bounded by its declared disk_size, the vTPM state by its bound */
	make_parts(tu_path("%s/h-big", root), "vm1", "shielded");
	assert_int_equal(truncate(tu_path("%s/h-big/disk.img", root), 65537), 0);
	copy_refused("h-big", VM_BUNDLE_VTPM_STATE, "more than");
	make_parts(tu_path("%s/h-nosize", root), "vm1", "shielded");
	tu_put(tu_path("%s/h-nosize/config.json", root),
	       "{\"version\":1,\"name\":\"vm1\",\"policy\":\"shielded\"}");
	copy_refused("h-nosize", VM_BUNDLE_VTPM_STATE, "disk_size");
	make_parts(tu_path("%s/h-bigstate", root), "vm1", "shielded");
	assert_int_equal(truncate(tu_path("%s/h-bigstate/vtpm/tpm2-00.permall", root), 64 << 20),
			 0);
	copy_refused("h-bigstate", VM_BUNDLE_VTPM_STATE, "more than");
}

/* ---- config.json ---- */

static void test_config_write(void **state)
{
	PATH_VAR(dir, "%s/cfg", root);
	PATH_VAR(path, "%s/cfg/config.json", root);
	char *text = NULL, want[1024];
	json_t *cfg = NULL;
	const char *at;
	struct stat st;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(vm_bundle_config_write(dir, "vm1", "shielded", "0123abcd", 33554432LL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* the fields, in this order, pretty-printed: the format hosts import */
	assert_int_equal(hl_file_read(path, 1 << 20, &text, NULL), 0);
	cfg = json_loads(text, 0, NULL);
	assert_non_null(cfg);
	at = json_string_value(json_object_get(cfg, "shielded_at"));
	assert_non_null(at);
	assert_int_equal(strlen(at), 20);
	assert_int_equal(at[19], 'Z');
	snprintf(want, sizeof(want),
		 "{\n  \"version\": 1,\n  \"name\": \"vm1\",\n  \"policy\": \"shielded\",\n"
		 "  \"kp_id\": \"0123abcd\",\n  \"disk_size\": 33554432,\n"
		 "  \"shielded_at\": \"%s\",\n"
		 "  \"disk\": \"LUKS2 aes-xts-plain64, volume key sealed in the vTPM\"\n}", at);
	if (strncmp(text, want, strlen(want)))
		fail_msg("config.json is\n%s\nnot\n%s", text, want);
	json_decref(cfg);
	free(text);
	/* and import reads it back */
	assert_int_equal(vm_bundle_config_read(dir, &cfg), 0);
	assert_string_equal(json_string_value(json_object_get(cfg, "name")), "vm1");
	json_decref(cfg);
}

static void test_config_read_refuses(void **state)
{
	PATH_VAR(dir, "%s/cfg-bad", root);
	PATH_VAR(path, "%s/cfg-bad/config.json", root);
	PATH_VAR(none, "%s/cfg-none", root);
	static const struct {
		const char *text, *error;
	} cases[] = {
		{ "{\"version\":1,\"name\":", "is not a VM bundle" },
		{ "{\"version\":1,\"policy\":\"shielded\"}", "name" },
		{ "{\"name\":\"vm1\"}", "policy" },
		{ "{\"name\":\"../evil\",\"policy\":\"shielded\"}", "bad VM name" },
		{ "{\"name\":\"vm1\",\"policy\":\"open\"}", "unknown policy 'open'" },
	};
	json_t *cfg = NULL;
	size_t i;

	(void)state;
	/* a config.json that is a symbolic link is not followed */
	assert_int_equal(mkdir(tu_path("%s/cfg-link", root), 0700), 0);
	tu_put(tu_path("%s/cfg-link.json", root), "{\"name\":\"vm1\",\"policy\":\"shielded\"}");
	assert_int_equal(tu_sh("ln -s '%s/cfg-link.json' '%s/cfg-link/config.json'", root, root), 0);
	assert_int_equal(vm_bundle_config_read(tu_path("%s/cfg-link", root), &cfg), -1);
	assert_error_has("symbolic link");
	assert_null(cfg);
	assert_int_equal(vm_bundle_config_read(none, &cfg), -1);
	assert_error_has("is not a VM bundle");
	assert_error_has("export-vm");
	assert_null(cfg);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hl_file_write(path, cases[i].text, strlen(cases[i].text), 0644), 0);
		if (vm_bundle_config_read(dir, &cfg) != -1)
			fail_msg("'%s' was read", cases[i].text);
		assert_error_has(cases[i].error);
		assert_null(cfg);
	}
}

static void test_read_json(void **state)
{
	PATH_VAR(path, "%s/state.json", root);
	json_t *j = NULL;

	(void)state;
	assert_int_equal(vm_bundle_read_json(path, 1, &j), 0);
	assert_null(j);
	assert_int_equal(vm_bundle_read_json(path, 0, &j), -1);
	assert_int_equal(hl_file_write(path, "{\"state\":\"Runn", 14, 0644), 0);
	assert_int_equal(vm_bundle_read_json(path, 1, &j), -1);
	assert_error_has("state.json");
	assert_null(j);
	assert_int_equal(hl_file_write(path, "{\"state\":\"Off\"}", 15, 0644), 0);
	assert_int_equal(vm_bundle_read_json(path, 1, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "Off");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_policy_known),
		cmocka_unit_test(test_copy_part),
		cmocka_unit_test(test_copy_all),
		cmocka_unit_test(test_copy_state),
		cmocka_unit_test(test_copy_refuses_hostile),
		cmocka_unit_test(test_config_write),
		cmocka_unit_test(test_config_read_refuses),
		cmocka_unit_test(test_read_json),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
