/*
 * test_tpm_cache.c - unit tests for the cache of manufactured TPM states
 * (sim/tpm_cache): where the cache is (--cache, $HGSLAB_TPM_CACHE, the
 * checkout's build/cache/tpm-states), a new cache's FORMAT and vendor CA,
 * the count of complete states (an incomplete one is removed, the leftovers
 * of an interrupted fill too), the rebuild of a cache whose format or
 * vendor CA does not match, and the shared and non-waiting opens the labs
 * use (a shared holder changes nothing; a busy cache answers 1 at once).  States here are stand-in files: making real
 * ones (swtpm_setup) is tests/cli/bench-fabric.sh's part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/manufacture.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "sim/tpm_cache.h"
#include "tests/unit/testutil.h"

struct fx {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char cache[PATH_MAX];
};

/* A sandbox and the cache's path inside it. */
static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "fabric");

	if (!fx)
		return -1;
	snprintf(fx->cache, sizeof(fx->cache), "%s/cache", fx->dir);
	*state = fx;
	return 0;
}

/* Remove the sandbox. */
static int teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* A stand-in for complete state I of cache C (every file there); without MISSING when not NULL. */
static void fake_state(const struct tpm_cache *c, size_t i, const char *missing)
{
	static const char *const files[] = { "tpm2-00.permall", "ek.pub", "ek-cert.der", "ak.key",
					     "tk.key" };
	char dir[PATH_MAX];

	assert_ok(tpm_cache_state(c, i, dir, sizeof(dir)));
	assert_ok(hl_file_mkdirs(dir, 0700));
	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		PATH_VAR(p, "%s/%s", dir, files[k]);

		if (!missing || strcmp(missing, files[k]) != 0)
			tu_put(p, "x");
	}
}

/* The cache directory: --cache first, then $HGSLAB_TPM_CACHE, then the checkout's build/. */
static void test_cache_dir(void **state)
{
	char *dir = NULL;

	(void)state;
	assert_ok(tpm_cache_dir("/somewhere/given", &dir));
	assert_string_equal(dir, "/somewhere/given");
	free(dir);
	setenv("HGSLAB_TPM_CACHE", "/from/env", 1);
	assert_ok(tpm_cache_dir(NULL, &dir));
	assert_string_equal(dir, "/from/env");
	free(dir);
	unsetenv("HGSLAB_TPM_CACHE");
	/* this program is build/<flavour>/tests/test_tpm_cache of the checkout */
	assert_ok(tpm_cache_dir(NULL, &dir));
	assert_non_null(strstr(dir, "/build/cache/tpm-states"));
	PATH_VAR(mk, "%.*s/Makefile", (int)(strlen(dir) - strlen("/build/cache/tpm-states")), dir);
	assert_int_equal(hl_file_exists(mk), 1);
	free(dir);
}

/* A new cache gets its vendor CA and a FORMAT naming it; no state yet. */
static void test_open_new(void **state)
{
	struct fx *fx = *state;
	struct tpm_cache c;

	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	assert_int_equal(c.ready, 0);
	assert_int_equal(c.rebuilt, 0);
	PATH_VAR(fmt, "%s/FORMAT", fx->cache);
	assert_int_equal(tu_file_has(fmt, TPM_CACHE_FORMAT "\nvendor-ca "), 1);
	PATH_VAR(ca, "%s/vendor/%s", fx->cache, HOSTS_VENDOR_CA_CERT_FILE);
	assert_int_equal(hl_file_exists(ca), 1);
	tpm_cache_close(&c);
	/* opened again: the same, not rebuilt */
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	assert_int_equal(c.rebuilt, 0);
	tpm_cache_close(&c);
	tpm_cache_close(&c);   /* idempotent */
}

/* Complete states are counted up to the first gap; an incomplete one and tmp/ are removed. */
static void test_count(void **state)
{
	struct fx *fx = *state;
	struct tpm_cache c;
	char dir[PATH_MAX];

	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	fake_state(&c, 0, NULL);
	fake_state(&c, 1, NULL);
	fake_state(&c, 2, "tk.key");
	PATH_VAR(tmp, "%s/tmp/00003-abcdef", fx->cache);
	assert_ok(hl_file_mkdirs(tmp, 0700));
	tpm_cache_close(&c);

	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	assert_int_equal(c.ready, 2);
	assert_ok(tpm_cache_state(&c, 2, dir, sizeof(dir)));
	assert_int_equal(hl_file_exists(dir), 0);
	PATH_VAR(tmpdir, "%s/tmp", fx->cache);
	assert_int_equal(hl_file_exists(tmpdir), 0);
	/* nothing to make: the fill returns at once */
	assert_ok(tpm_cache_fill(&c, 2, 2));
	assert_int_equal(c.ready, 2);
	tpm_cache_close(&c);
}

/* A cache of another format is rebuilt: its states are gone. */
static void test_rebuild_format(void **state)
{
	struct fx *fx = *state;
	struct tpm_cache c;

	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	fake_state(&c, 0, NULL);
	tpm_cache_close(&c);
	PATH_VAR(fmt, "%s/FORMAT", fx->cache);
	tu_put(fmt, "hgslab-tpm-state-cache 0\nvendor-ca 00\n");
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	assert_int_equal(c.rebuilt, 1);
	assert_int_equal(c.ready, 0);
	assert_int_equal(tu_file_has(fmt, TPM_CACHE_FORMAT "\n"), 1);
	tpm_cache_close(&c);
}

/* A cache whose vendor CA is not the one FORMAT names is rebuilt, with a new CA. */
static void test_rebuild_vendor(void **state)
{
	struct fx *fx = *state;
	struct tpm_cache c;
	char *before = NULL, *after = NULL;

	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	fake_state(&c, 0, NULL);
	tpm_cache_close(&c);
	PATH_VAR(fmt, "%s/FORMAT", fx->cache);
	before = tu_slurp(fmt, NULL);
	/* another vendor CA in place of the one the states were made with */
	PATH_VAR(vendor, "%s/vendor", fx->cache);
	assert_ok(hl_file_rmtree(vendor));
	assert_ok(hosts_vendor_ca_init(vendor));
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	assert_int_equal(c.rebuilt, 1);
	assert_int_equal(c.ready, 0);
	after = tu_slurp(fmt, NULL);
	assert_string_not_equal(before, after);
	tpm_cache_close(&c);
	/* states without a FORMAT are not ours either */
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	fake_state(&c, 0, NULL);
	tpm_cache_close(&c);
	assert_ok(hl_file_rmtree(fmt));
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	assert_int_equal(c.rebuilt, 1);
	assert_int_equal(c.ready, 0);
	tpm_cache_close(&c);
	free(before);
	free(after);
}

/* Shared opens count without changing anything and exclude an exclusive one, and back. */
static void test_shared(void **state)
{
	struct fx *fx = *state;
	struct tpm_cache c, d;
	char dir[PATH_MAX];

	/* a new cache read shared: no state, nothing made */
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_SHARED, NULL));
	assert_int_equal(c.ready, 0);
	PATH_VAR(fmt, "%s/FORMAT", fx->cache);
	assert_int_equal(hl_file_exists(fmt), 0);
	tpm_cache_close(&c);

	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_WAIT, NULL));
	fake_state(&c, 0, NULL);
	fake_state(&c, 1, "ak.key");
	tpm_cache_close(&c);
	/* two shared holders at once; the incomplete state is left for an exclusive open */
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_SHARED, NULL));
	assert_ok(tpm_cache_open(&d, fx->cache, TPM_CACHE_SHARED, NULL));
	assert_int_equal(c.ready, 1);
	assert_int_equal(d.ready, 1);
	assert_ok(tpm_cache_state(&c, 1, dir, sizeof(dir)));
	assert_int_equal(hl_file_exists(dir), 1);
	/* a shared holder makes no state */
	assert_int_equal(tpm_cache_fill(&c, 2, 1), -1);
	assert_non_null(strstr(hl_error_last(), "must be held alone"));
	tpm_cache_close(&d);
	/* an exclusive open that does not wait answers 1 while a shared holder is there */
	assert_int_equal(tpm_cache_open(&d, fx->cache, TPM_CACHE_TRY, NULL), 1);
	assert_false(d.locked);
	tpm_cache_close(&c);
	assert_ok(tpm_cache_open(&d, fx->cache, TPM_CACHE_TRY, NULL));
	assert_int_equal(d.ready, 1);
	assert_int_equal(hl_file_exists(dir), 0);
	/* and a shared open answers 1 while it holds the cache */
	assert_int_equal(tpm_cache_open(&c, fx->cache, TPM_CACHE_SHARED, NULL), 1);
	tpm_cache_close(&d);

	/* a cache whose vendor CA does not match gives no state to a shared holder */
	PATH_VAR(junk, "%s/FORMAT", fx->cache);
	tu_put(junk, TPM_CACHE_FORMAT "\nvendor-ca 00\n");
	assert_ok(tpm_cache_open(&c, fx->cache, TPM_CACHE_SHARED, NULL));
	assert_int_equal(c.ready, 0);
	assert_ok(tpm_cache_state(&c, 0, dir, sizeof(dir)));
	assert_int_equal(hl_file_exists(dir), 1);
	tpm_cache_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_dir),
		cmocka_unit_test_setup_teardown(test_open_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_vendor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared, setup, teardown),
	};
	return cmocka_run_group_tests_name("tpm_cache", tests, NULL, NULL);
}
