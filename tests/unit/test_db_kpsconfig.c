/*
 * test_db_kpsconfig.c - the key protection configuration of an HGS and its
 * policy generation (hgs/db_kpsconfig), on a node made by hgs_node_create:
 * off by default; a set bumps the epoch; the generation stays put while
 * nothing changes, is the same through two handles of one store (as two
 * nodes of a cluster read it), and moves with the setting, a policy, a
 * registration and the KPS cut-off; the answer fields hgs/kps.c adds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "hgs/db.h"
#include "hgs/db_kpsconfig.h"
#include "hgs/kps.h"
#include "hgs/node.h"
#include "tests/unit/testutil.h"

struct fixture {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char node_dir[128];
	struct hgs_node *a, *b;     /* two handles of one store */
};

static int setup(void **state)
{
	struct fixture *f = tu_sandbox_new(sizeof(*f), "kpsconfig");
	struct hgs_init_params p = {
		.name = "MyHgsService", .domain = "relecloud.com", .trust = HGS_MODE_TPM,
		.listen = "127.0.0.1:0",
	};

	if (!f)
		return -1;
	snprintf(f->node_dir, sizeof(f->node_dir), "%s/node", f->dir);
	p.dir = f->node_dir;
	if (hgs_node_create(&p) < 0 || hgs_node_open(f->node_dir, 0, &f->a) < 0 ||
	    hgs_node_open(f->node_dir, 0, &f->b) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		hgs_node_close(f->a);
		tu_sandbox_free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hgs_node_close(f->a);
	hgs_node_close(f->b);
	return tu_sandbox_free(f);
}

/* The generation of NODE into OUT, checking it is 16 upper-case hex digits. */
static void gen(struct hgs_node *node, char out[HGS_POLICY_GENERATION_SIZE])
{
	assert_int_equal(hgs_db_policy_generation(node, NULL, out), 0);
	assert_int_equal(strlen(out), HGS_POLICY_GENERATION_LEN);
	assert_int_equal(strspn(out, "0123456789ABCDEF"), HGS_POLICY_GENERATION_LEN);
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	struct hgs_kps_config c;

	assert_int_equal(hgs_db_kps_config_get(f->a, &c), 0);
	assert_int_equal(c.allow_caching, 0);
	assert_int_equal(c.epoch, 0);
	assert_int_equal(hgs_db_kps_config_set(f->a, 1), 0);
	/* the other handle (another node of the same store) reads it */
	assert_int_equal(hgs_db_kps_config_get(f->b, &c), 0);
	assert_int_equal(c.allow_caching, 1);
	assert_int_equal(c.epoch, 1);
	assert_int_equal(hgs_db_kps_config_set(f->b, 1), 0);
	assert_int_equal(hgs_db_kps_config_get(f->a, &c), 0);
	assert_int_equal(c.allow_caching, 1);
	assert_int_equal(c.epoch, 2);
	assert_int_equal(hgs_db_kps_config_set(f->a, 0), 0);
	assert_int_equal(hgs_db_kps_config_get(f->a, &c), 0);
	assert_int_equal(c.allow_caching, 0);
}

static void test_generation(void **state)
{
	struct fixture *f = *state;
	char g0[HGS_POLICY_GENERATION_SIZE], g1[HGS_POLICY_GENERATION_SIZE];
	char g2[HGS_POLICY_GENERATION_SIZE], g3[HGS_POLICY_GENERATION_SIZE];
	struct hgs_kps_config c;

	gen(f->a, g0);
	gen(f->a, g1);
	assert_string_equal(g0, g1);
	gen(f->b, g1);
	assert_string_equal(g0, g1);              /* every node of one store agrees */
	/* the setting, and off-then-on (the epoch) */
	assert_int_equal(hgs_db_kps_config_set(f->a, 1), 0);
	assert_int_equal(hgs_db_policy_generation(f->b, &c, g1), 0);
	assert_int_equal(c.allow_caching, 1);
	assert_string_not_equal(g1, g0);
	assert_int_equal(hgs_db_kps_config_set(f->a, 0), 0);
	assert_int_equal(hgs_db_kps_config_set(f->a, 1), 0);
	gen(f->a, g2);
	assert_string_not_equal(g2, g1);
	/* a policy */
	assert_int_equal(hgs_db_policy_enable(f->a, "Hgs_IommuEnabled", 0), 0);
	gen(f->b, g3);
	assert_string_not_equal(g3, g2);
	assert_int_equal(hgs_db_policy_enable(f->a, "Hgs_IommuEnabled", 1), 0);
	gen(f->b, g1);
	assert_string_equal(g1, g2);              /* the same rows, the same generation */
	/* the KPS cut-off */
	assert_int_equal(hgs_db_kps_cutoff_set(f->a, 1, 1700000000), 0);
	gen(f->a, g3);
	assert_string_not_equal(g3, g2);
}

static void test_answer_fields(void **state)
{
	struct fixture *f = *state;
	char g[HGS_POLICY_GENERATION_SIZE];
	json_t *o = json_object();

	hgs_kps_caching_fields(f->a, o);
	assert_true(json_is_false(json_object_get(o, "KeyMaterialCaching")));
	assert_null(json_object_get(o, "PolicyGeneration"));
	json_decref(o);
	assert_int_equal(hgs_db_kps_config_set(f->a, 1), 0);
	gen(f->a, g);
	o = json_object();
	hgs_kps_caching_fields(f->b, o);
	assert_true(json_is_true(json_object_get(o, "KeyMaterialCaching")));
	assert_string_equal(json_string_value(json_object_get(o, "PolicyGeneration")), g);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_fields, setup, teardown),
	};

	return cmocka_run_group_tests_name("db_kpsconfig", tests, NULL, NULL);
}
