/*
 * test_db_cache.c - unit tests for what hgs/db.c keeps per node handle
 * between calls (db.h): the policy snapshot (hgs_db_policy_set_load) and
 * the node row (hgs_db_config_get).  `hgs serve` reads its baselines, CI
 * policies, policy states and configuration from the kept copies while
 * nothing changed, and sees every change at its next read, whether another
 * connection made it (an admin verb in another process: here a second
 * handle on the same node directory) or its own handle did.  Each test
 * would fail on a stale copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hgs/db.h"
#include "lib/crypto.h"
#include "hgs/node.h"
#include "hgs/policy.h"
#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "lib/err.h"
#include "lib/log.h"
#include "tests/unit/testutil.h"

/* A node with two handles: SERVE (the one that loads) and ADMIN (another connection). */
struct fx {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir[128];
	struct hgs_node *serve, *admin;
	uint8_t *log;                   /* a usable TPM baseline */
	size_t log_len;
	char *ci;                       /* a CI policy document */
	size_t ci_len;
};

/* Make the node, open both handles, build a baseline and a CI policy. */
static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "policy-cache");
	struct hl_measured_boot *mb = NULL;
	struct hl_profile p;

	if (!fx)
		return -1;
	hl_log_set_stderr_level(HL_LOG_ERROR);
	snprintf(fx->dir, sizeof(fx->dir), "%s/node", fx->sandbox);
	if (tu_hgs_node(fx->dir, HGS_MODE_TPM, &fx->serve) < 0 ||
	    hgs_node_open(fx->dir, 0, &fx->admin) < 0 || hl_profile_parse("baseline", &p) < 0 ||
	    hl_measured_boot_build(&p, &mb) < 0 ||
	    hl_profile_ci_policy_document("HgsLabDefault", &fx->ci, &fx->ci_len) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		hl_measured_boot_free(mb);
		return -1;
	}
	fx->log = mb->log;
	fx->log_len = mb->log_len;
	mb->log = NULL;
	hl_measured_boot_free(mb);
	*state = fx;
	return 0;
}

/* Close both handles and remove the node. */
static int teardown(void **state)
{
	struct fx *fx = *state;

	hgs_node_close(fx->serve);
	hgs_node_close(fx->admin);
	free(fx->log);
	free(fx->ci);
	return tu_sandbox_free(fx);
}

/* The snapshot NODE loads now. */
static struct hgs_policy_set *load(struct hgs_node *node)
{
	struct hgs_policy_set *ps = NULL;

	if (hgs_db_policy_set_load(node, &ps) < 0)
		fail_msg("hgs_db_policy_set_load: %s", hl_error_last());
	return ps;
}

/* 1 when PS has NAME among its enabled policies. */
static int enabled(const struct hgs_policy_set *ps, const char *name)
{
	for (size_t i = 0; i < ps->in.n_enabled; i++)
		if (strcmp(ps->in.enabled[i], name) == 0)
			return 1;
	return 0;
}

/* A policy enabled by default that can be disabled. */
static const char *unlocked_default(void)
{
	for (size_t i = 0; hgs_policy_defs[i].name; i++)
		if (hgs_policy_defs[i].default_enabled && !hgs_policy_defs[i].locked)
			return hgs_policy_defs[i].name;
	fail_msg("no default-enabled policy can be disabled");
	return NULL;
}

/* Nothing changed: the kept snapshot; a snapshot handed out stays whole after a change. */
static void test_kept_until_changed(void **state)
{
	struct fx *fx = *state;
	struct hgs_policy_set *a = load(fx->serve), *b = load(fx->serve), *c;

	assert_ptr_equal(a->data, b->data);
	assert_int_equal(a->in.n_baselines, 0);
	assert_int_equal(hgs_db_tpm_policy_add(fx->admin, "Baseline1", fx->log, fx->log_len), 0);
	c = load(fx->serve);
	assert_ptr_not_equal(c->data, a->data);
	assert_int_equal(c->in.n_baselines, 1);
	/* the older snapshot is still what it was */
	assert_int_equal(a->in.n_baselines, 0);
	assert_true(a->in.n_enabled > 0 && a->in.enabled[0] != NULL);
	hgs_policy_set_free(a);
	hgs_policy_set_free(b);
	/* the caller's copy of the input is its own */
	c->in.log = NULL;
	c->in.trace = NULL;
	hgs_policy_set_free(c);
}

/* Another connection adds and removes a baseline and a CI policy: seen at the next load. */
static void test_other_connection(void **state)
{
	struct fx *fx = *state;
	struct hgs_policy_set *ps = load(fx->serve);
	unsigned char digest[HL_SHA256_LEN];

	assert_int_equal(ps->in.n_baselines, 0);
	assert_int_equal(ps->in.n_ci_policies, 0);
	hgs_policy_set_free(ps);

	assert_int_equal(hgs_db_tpm_policy_add(fx->admin, "Baseline1", fx->log, fx->log_len), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_baselines, 1);
	assert_string_equal(ps->in.baselines[0].name, "Baseline1");
	assert_int_equal(ps->in.baselines[0].len, fx->log_len);
	assert_memory_equal(ps->in.baselines[0].tcglog, fx->log, fx->log_len);
	/* the digest the evaluation looks it up by, made once at the load */
	assert_int_equal(hl_crypto_sha256(fx->log, fx->log_len, digest), 0);
	assert_true(ps->in.baselines[0].has_sha256);
	assert_memory_equal(ps->in.baselines[0].sha256, digest, sizeof(digest));
	hgs_policy_set_free(ps);

	assert_int_equal(hgs_db_ci_policy_add(fx->admin, "HgsLabDefault", fx->ci, fx->ci_len), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_baselines, 1);
	assert_int_equal(ps->in.n_ci_policies, 1);
	assert_string_equal(ps->in.ci_policies[0].name, "HgsLabDefault");
	assert_int_equal(hl_crypto_sha256(fx->ci, fx->ci_len, digest), 0);
	assert_true(ps->in.ci_policies[0].has_sha256);
	assert_memory_equal(ps->in.ci_policies[0].sha256, digest, sizeof(digest));
	hgs_policy_set_free(ps);

	assert_int_equal(hgs_db_reg_remove(fx->admin, HGS_REG_TPM_POLICY, "Baseline1"), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_baselines, 0);
	assert_int_equal(ps->in.n_ci_policies, 1);
	hgs_policy_set_free(ps);

	assert_int_equal(hgs_db_reg_remove(fx->admin, HGS_REG_CI_POLICY, "HgsLabDefault"), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_ci_policies, 0);
	hgs_policy_set_free(ps);
}

/* Another connection disables and enables a policy: seen at the next load. */
static void test_other_connection_states(void **state)
{
	struct fx *fx = *state;
	const char *name = unlocked_default();
	struct hgs_policy_set *ps = load(fx->serve);

	assert_true(enabled(ps, name));
	hgs_policy_set_free(ps);
	assert_int_equal(hgs_db_policy_enable(fx->admin, name, 0), 0);
	ps = load(fx->serve);
	assert_false(enabled(ps, name));
	hgs_policy_set_free(ps);
	assert_int_equal(hgs_db_policy_enable(fx->admin, name, 1), 0);
	ps = load(fx->serve);
	assert_true(enabled(ps, name));
	hgs_policy_set_free(ps);
}

/* The loading handle's own changes (which data_version does not count) are seen too. */
static void test_own_changes(void **state)
{
	struct fx *fx = *state;
	const char *name = unlocked_default();
	struct hgs_policy_set *ps = load(fx->serve);

	hgs_policy_set_free(ps);
	assert_int_equal(hgs_db_tpm_policy_add(fx->serve, "Baseline1", fx->log, fx->log_len), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_baselines, 1);
	hgs_policy_set_free(ps);
	assert_int_equal(hgs_db_ci_policy_add(fx->serve, "HgsLabDefault", fx->ci, fx->ci_len), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_ci_policies, 1);
	hgs_policy_set_free(ps);
	assert_int_equal(hgs_db_policy_enable(fx->serve, name, 0), 0);
	ps = load(fx->serve);
	assert_false(enabled(ps, name));
	hgs_policy_set_free(ps);
	assert_int_equal(hgs_db_reg_remove(fx->serve, HGS_REG_TPM_POLICY, "Baseline1"), 0);
	ps = load(fx->serve);
	assert_int_equal(ps->in.n_baselines, 0);
	hgs_policy_set_free(ps);
}

/* Set-HgsServer by another connection or by the handle itself: the next read has it. */
static void test_config(void **state)
{
	struct fx *fx = *state;
	struct hgs_config cfg;

	assert_int_equal(hgs_db_config_get(fx->serve, &cfg), 0);
	assert_int_equal(cfg.trust, HGS_MODE_TPM);
	assert_int_equal(hgs_db_config_get(fx->serve, &cfg), 0);
	assert_int_equal(cfg.trust, HGS_MODE_TPM);
	assert_int_equal(hgs_db_set_trust(fx->admin, HGS_MODE_HOSTKEY), 0);
	assert_int_equal(hgs_db_config_get(fx->serve, &cfg), 0);
	assert_int_equal(cfg.trust, HGS_MODE_HOSTKEY);
	assert_int_equal(hgs_db_set_validity(fx->admin, 7), 0);
	assert_int_equal(hgs_db_config_get(fx->serve, &cfg), 0);
	assert_int_equal(cfg.healthcert_validity_h, 7);
	assert_int_equal(hgs_db_set_trust(fx->serve, HGS_MODE_TPM), 0);
	assert_int_equal(hgs_db_config_get(fx->serve, &cfg), 0);
	assert_int_equal(cfg.trust, HGS_MODE_TPM);
	assert_int_equal(hgs_db_set_validity(fx->serve, 9), 0);
	assert_int_equal(hgs_db_config_get(fx->serve, &cfg), 0);
	assert_int_equal(cfg.healthcert_validity_h, 9);
	/* and the other handle, which kept its own copy, sees the first one's change */
	assert_int_equal(hgs_db_config_get(fx->admin, &cfg), 0);
	assert_int_equal(cfg.healthcert_validity_h, 9);
	assert_int_equal(cfg.trust, HGS_MODE_TPM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kept_until_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_connection_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
