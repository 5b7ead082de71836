/*
 * test_attack.c - unit tests for the attack library's registry and its leak
 * check (sim/attack.h): every attack has a unique lowercase-dash name and
 * every field set, attack_find finds each by name (and nothing else); and
 * attack_leak_check on a hand-made lab (a work folder, a tenant folder with
 * an owner guardian and a key protector made by tenant/ and proto/, a VM
 * with files) finds nothing in a clean lab, then reports a VM file content
 * planted in a lab file and the TK planted raw and as hex (either case),
 * while the same texts in the tenant's own folder are skipped: the check
 * can fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "sim/attack.h"
#include "tenant/guardian.h"
#include "tests/unit/testutil.h"

#define CONTENT "tenant secret 42 of the leak check"

/* The hand-made lab: WORK/tenant (the owner), WORK/kp/vm1.kp, WORK/hosts/FabricHost1/. */
struct fx {
	char sandbox[TU_SANDBOX_DIR];
	char work[PATH_MAX], tenant[PATH_MAX], kp[PATH_MAX], host[PATH_MAX];
	struct scenario s;
	struct sc_vm vm;
	struct lab_vm lv;
	struct lab L;
	struct hl_buf tk;
};

static int setup(void **state)
{
	struct fx *f = tu_sandbox_new(sizeof(*f), "attack");
	struct hl_guardian *g = NULL;
	struct hl_kp_owner owner;
	struct hl_buf kp = { NULL, 0 };

	assert_non_null(f);
	snprintf(f->work, sizeof(f->work), "%s/lab", f->sandbox);
	snprintf(f->tenant, sizeof(f->tenant), "%s/tenant", f->work);
	snprintf(f->kp, sizeof(f->kp), "%s/kp/vm1.kp", f->work);
	snprintf(f->host, sizeof(f->host), "%s/hosts/FabricHost1", f->work);
	assert_ok(hl_file_mkdirs(f->host, 0700));
	assert_ok(hl_file_mkdirs(f->tenant, 0700));
	PATH_VAR(kpdir, "%s/kp", f->work);
	assert_ok(hl_file_mkdirs(kpdir, 0700));
	/* the tenant's owner guardian, and a key protector it owns */
	assert_ok(hl_guardian_new(f->tenant, "Owner"));
	assert_ok(hl_guardian_load(f->tenant, "Owner", HL_GUARDIAN_LOAD_KEYS, &g));
	hl_guardian_as_owner(g, &owner);
	assert_ok(hl_kp_create(&owner, NULL, 0, 0, &kp, &f->tk));
	assert_ok(hl_file_write(f->kp, kp.data, kp.len, HL_FILE_MODE_PUBLIC));
	hl_buf_free(&kp);
	hl_guardian_free(g);
	/* a VM with one file, and an ordinary lab file */
	f->vm.name = "vm1";
	f->vm.owner = "Owner";
	f->vm.n_files = 1;
	f->vm.files[0].name = "secret.txt";
	f->vm.files[0].content = CONTENT "\n";
	f->s.n_vms = 1;
	f->s.vms = &f->vm;
	f->lv.sc = &f->vm;
	f->lv.name = "vm1";
	f->lv.kp = f->kp;
	f->lv.running_on = f->lv.placed_on = -1;
	f->L.s = &f->s;
	f->L.work = f->work;
	f->L.tenant = f->tenant;
	f->L.vms = &f->lv;
	f->L.n_vms = 1;
	assert_ok(hl_file_write(tu_path("%s/host.json", f->host), "{\"name\":\"FabricHost1\"}", 22,
				HL_FILE_MODE_PUBLIC));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hl_buf_free(&f->tk);
	return tu_sandbox_free(f);
}

/* Run the leak check on F's lab; what it found (malloc'd) or NULL. */
static char *leaks(struct fx *f)
{
	char *where = (char *)1;

	assert_int_equal(attack_leak_check(&f->L, &where), 0);
	return where;
}

static void test_registry(void **state)
{
	const struct attack_def *d, *e;
	size_t i, k, n = 0;

	(void)state;
	for (i = 0; (d = attack_at(i)); i++, n++) {
		const char *p;

		assert_non_null(d->name);
		assert_true(d->name[0] >= 'a' && d->name[0] <= 'z');
		for (p = d->name; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
				    (*p == '-' && p[1] != '-' && p[1] != '\0'));
		assert_true(d->family && *d->family);
		assert_true(d->title && *d->title);
		assert_true(d->status && *d->status);
		assert_true(d->concept && *d->concept);
		assert_non_null(d->play);
		assert_ptr_equal(attack_find(d->name), d);
		for (k = 0; k < i; k++) {
			e = attack_at(k);
			assert_string_not_equal(e->name, d->name);
		}
	}
	assert_true(n >= 23);
	assert_null(attack_at(n));
	assert_null(attack_find("no-such-attack"));
	assert_null(attack_find(""));
	assert_null(attack_find("bundle-link"));
	/* the host family's table is in the list */
	for (i = 0; attack_host_defs[i].name; i++)
		assert_ptr_equal(attack_find(attack_host_defs[i].name), &attack_host_defs[i]);
	assert_true(i >= 22);
}

static void test_leak_clean(void **state)
{
	struct fx *f = *state;

	assert_null(leaks(f));
}

static void test_leak_content(void **state)
{
	struct fx *f = *state;
	char *w;

	assert_ok(hl_file_write(tu_path("%s/host.log", f->host), "before " CONTENT " after", 13 +
				strlen(CONTENT), HL_FILE_MODE_PUBLIC));
	w = leaks(f);
	assert_non_null(w);
	assert_non_null(strstr(w, "VM vm1's file secret.txt"));
	assert_non_null(strstr(w, "hosts/FabricHost1/host.log"));
	free(w);
}

static void test_leak_tk_raw(void **state)
{
	struct fx *f = *state;
	char *w;

	assert_ok(hl_file_write(tu_path("%s/tk.bin", f->host), f->tk.data, f->tk.len,
				HL_FILE_MODE_PRIVATE));
	w = leaks(f);
	assert_non_null(w);
	assert_non_null(strstr(w, "VM vm1's TK in hosts/FabricHost1/tk.bin"));
	free(w);
}

static void test_leak_tk_hex(void **state)
{
	struct fx *f = *state;
	char hex[2 * HL_KP_TK_LEN + 1], *w;
	size_t i;

	/* uppercase, as hl_crypto_hex_encode writes it */
	assert_ok(hl_crypto_hex_encode(f->tk.data, f->tk.len, hex, sizeof(hex)));
	assert_ok(hl_file_write(tu_path("%s/keeper.log", f->host), hex, strlen(hex),
				HL_FILE_MODE_PUBLIC));
	w = leaks(f);
	assert_non_null(w);
	assert_non_null(strstr(w, "VM vm1's TK (HEX) in hosts/FabricHost1/keeper.log"));
	free(w);
	/* lowercase */
	for (i = 0; hex[i]; i++)
		hex[i] = (char)tolower((unsigned char)hex[i]);
	assert_ok(hl_file_write(tu_path("%s/keeper.log", f->host), hex, strlen(hex),
				HL_FILE_MODE_PUBLIC));
	w = leaks(f);
	assert_non_null(w);
	assert_non_null(strstr(w, "VM vm1's TK (hex) in hosts/FabricHost1/keeper.log"));
	free(w);
	hl_crypto_cleanse(hex, sizeof(hex));
}

static void test_leak_tenant_skipped(void **state)
{
	struct fx *f = *state;
	char hex[2 * HL_KP_TK_LEN + 1];

	assert_ok(hl_crypto_hex_encode(f->tk.data, f->tk.len, hex, sizeof(hex)));
	assert_ok(hl_file_write(tu_path("%s/notes.txt", f->tenant), CONTENT, strlen(CONTENT),
				HL_FILE_MODE_PRIVATE));
	assert_ok(hl_file_write(tu_path("%s/tk.hex", f->tenant), hex, strlen(hex),
				HL_FILE_MODE_PRIVATE));
	assert_ok(hl_file_write(tu_path("%s/tk.bin", f->tenant), f->tk.data, f->tk.len,
				HL_FILE_MODE_PRIVATE));
	assert_null(leaks(f));
	hl_crypto_cleanse(hex, sizeof(hex));
}

static void test_leak_short_content(void **state)
{
	struct fx *f = *state;

	/* a content under 8 bytes would be found in ciphertext by chance: not searched */
	f->vm.files[0].content = "abc";
	assert_ok(hl_file_write(tu_path("%s/host.log", f->host), "abc", 3, HL_FILE_MODE_PUBLIC));
	assert_null(leaks(f));
}

static void test_vm_tk(void **state)
{
	struct fx *f = *state;
	struct hl_buf tk = { NULL, 0 };

	assert_ok(attack_vm_tk(&f->L, &f->lv, &tk));
	assert_int_equal(tk.len, f->tk.len);
	assert_memory_equal(tk.data, f->tk.data, tk.len);
	hl_buf_free(&tk);
	/* a KP that does not parse: the leak check cannot be done */
	{
		char *where = NULL;

		assert_ok(hl_file_write(f->kp, "{}", 2, HL_FILE_MODE_PUBLIC));
		assert_int_equal(attack_leak_check(&f->L, &where), -1);
		assert_null(where);
		assert_error_has("cannot open VM vm1's key protector");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test_setup_teardown(test_leak_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_tk_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_tk_hex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_tenant_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_short_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_tk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
