/*
 * test_hgs_node.c - unit tests for the HGS node: init (files, modes, keys,
 * refusal, --force, nothing left on failure), removal (Clear-HgsServer),
 * the store's migrations, the Hgs_* policy states (defaults, locked refusal), nonces (single use,
 * expiry on the lab clock, refused after a restart, bounded table), the lab
 * clock offset, registrations
 * (duplicates, bad input, EK certificate chain to the vendor CA), and the
 * HTTP service in-process: info, nonce, a host-key attestation round trip
 * with every refusal, the trust-mode refusal, and the attestation log.
 *
 * Most tests share one node created by the group setup (creating one costs
 * three RSA key generations); they use distinct names.  Init tests make
 * their own nodes in their own sandbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/attest.h"
#include "hgs/attest_hostkey.h"
#include "hgs/attest_log.h"
#include "hgs/db.h"
#include "hgs/healthcert.h"
#include "hgs/node.h"
#include "hgs/nonce.h"
#include "hgs/policy.h"
#include "hgs/serve.h"
#include "proto/hostkey.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/served.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "tests/unit/testutil.h"

/* The shared node of the group. */
struct group {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir[128];
	struct hgs_node *node;
};

static struct group *G;

/* Create a node at DIR in TRUST mode, or fail the test. */
static void create_node(const char *dir, enum hgs_mode trust, int force)
{
	struct hgs_init_params p = {
		.dir = dir, .name = "MyHgsService", .domain = "relecloud.com", .trust = trust,
		.listen = "127.0.0.1:0", .force = force,
	};

	if (hgs_node_create(&p) < 0)
		fail_msg("hgs_node_create: %s", hl_error_last());
}

/* Group setup: one hostkey-mode node, open with its keys. */
static int group_setup(void **state)
{
	G = tu_sandbox_new(sizeof(*G), "hgs");
	if (!G)
		return -1;
	hl_log_set_stderr_level(HL_LOG_ERROR);
	snprintf(G->dir, sizeof(G->dir), "%s/node", G->sandbox);
	if (tu_hgs_node(G->dir, HGS_MODE_HOSTKEY, &G->node) < 0) {
		fprintf(stderr, "group setup: %s\n", hl_error_last());
		return -1;
	}
	*state = G;
	return 0;
}

/* Group teardown: close and remove the shared node. */
static int group_teardown(void **state)
{
	(void)state;
	hgs_node_close(G->node);
	tu_sandbox_free(G);
	return 0;
}

/* ---- init ---- */

/* init makes the store, three key pairs (keys 0600, certs 0644, dir 0700) and the config. */
static void test_init_creates_everything(void **state)
{
	static const char *const roles[] = { "attestation-signer", "kps-signing", "kps-encryption" };
	struct hgs_node *node = NULL;
	char sandbox[64], dir[128], path[256], cn[128];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	enum hl_key_type kt;

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	snprintf(dir, sizeof(dir), "%s/deep/node", sandbox);
	snprintf(path, sizeof(path), "%s/deep", sandbox);
	assert_int_equal(mkdir(path, 0755), 0);   /* hgs init makes no missing parent */
	umask(0);
	create_node(dir, HGS_MODE_TPM, 0);
	umask(022);
	assert_int_equal(tu_mode_of(dir), 0700);
	snprintf(path, sizeof(path), "%s/hgs.db", dir);
	assert_int_equal(tu_mode_of(path), 0600);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/keys/%s.key", dir, roles[i]);
		assert_int_equal(tu_mode_of(path), 0600);
		snprintf(path, sizeof(path), "%s/keys/%s.crt", dir, roles[i]);
		assert_int_equal(tu_mode_of(path), 0644);
	}
	/* nothing but the node was left beside it */
	snprintf(path, sizeof(path), "%s/deep", sandbox);
	assert_int_equal(hl_served_dir_entries(path), 1);

	assert_int_equal(hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &node), 0);
	assert_string_equal(node->config.name, "MyHgsService");
	assert_string_equal(node->config.domain, "relecloud.com");
	assert_int_equal(node->config.trust, HGS_MODE_TPM);
	assert_string_equal(node->config.listen_addr, "127.0.0.1");
	assert_int_equal(node->config.healthcert_validity_h, 8);
	assert_int_equal(hl_cert_subject_cn(node->signer_cert, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "MyHgsService Attestation Signer");
	assert_int_equal(strlen(node->signer_thumbprint), 64);
	/* every key pair loads and matches its certificate; the encryption key is RSA */
	for (int r = 0; r < HGS_KEY_ROLE_COUNT; r++) {
		assert_int_equal(hgs_node_keypair(node, (enum hgs_key_role)r, &cert, &key), 0);
		assert_int_equal(hl_key_type_of(key, &kt), 0);
		assert_int_equal(kt, HL_KEY_RSA2048);
		hl_cert_free(cert);
		hl_key_free(key);
	}
	assert_int_equal(hgs_node_keypair(node, HGS_KEY_KPS_ENCRYPTION, &cert, NULL), 0);
	assert_int_equal(hl_cert_subject_cn(cert, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "MyHgsService KPS Encryption");
	hl_cert_free(cert);
	hgs_node_close(node);
	hgs_node_close(NULL);
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/* An existing node is refused; --force replaces it whole; other directories are refused. */
static void test_init_refusals_and_force(void **state)
{
	struct hgs_node *node = NULL;
	char sandbox[64], dir[128], path[256], thumb[HL_SHA256_HEX_SIZE];
	struct hgs_init_params p = {
		.name = "MyHgsService", .domain = "relecloud.com", .trust = HGS_MODE_AD,
		.listen = "127.0.0.2:8080",
	};

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	snprintf(dir, sizeof(dir), "%s/node", sandbox);
	/* an empty existing directory is fine */
	assert_int_equal(mkdir(dir, 0755), 0);
	p.dir = dir;
	assert_int_equal(hgs_node_create(&p), 0);
	assert_int_equal(hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &node), 0);
	snprintf(thumb, sizeof(thumb), "%s", node->signer_thumbprint);
	assert_int_equal(hgs_db_host_group_add(node, "GuardedHosts", "S-1-5-21-1-2-3-1013"), 0);
	hgs_node_close(node);

	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("already an HGS node; use --force");

	p.force = 1;
	assert_int_equal(hgs_node_create(&p), 0);
	assert_int_equal(hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &node), 0);
	assert_string_not_equal(node->signer_thumbprint, thumb);
	assert_int_equal(hgs_db_host_group_find_sid(node, "S-1-5-21-1-2-3-1013", &(char *){ NULL }), 0);
	hgs_node_close(node);
	assert_int_equal(hl_served_dir_entries(sandbox), 1);

	/* a non-empty directory that is not a node, and a file, are refused even with force */
	snprintf(path, sizeof(path), "%s/other", sandbox);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/other/file", sandbox);
	assert_int_equal(hl_file_write(path, "x", 1, 0644), 0);
	snprintf(path, sizeof(path), "%s/other", sandbox);
	p.dir = path;
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("not empty and is not an HGS node");
	snprintf(path, sizeof(path), "%s/other/file", sandbox);
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("not a directory");

	/* bad parameters */
	p.dir = dir;
	p.name = "My Hgs";
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("invalid HGS name");
	p.name = "MyHgsService";
	p.listen = "localhost:80";
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("invalid listen address");
	p.listen = "127.0.0.2:8080";
	p.domain = "-bad.com";
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("invalid domain");
	p.domain = "relecloud.com";
	p.healthcert_validity_h = 9000;
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("validity");
	p.healthcert_validity_h = 0;
	p.vendor_ca_pem = "not a certificate";
	assert_int_equal(hgs_node_create(&p), -1);
	assert_error_has("TPM vendor CA");
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/* Fail the Nth private key write (a disk error in the middle of init). */
static int fail_nth(enum hl_file_stage stage, const char *tmp, void *arg)
{
	int *n = arg;

	(void)tmp;
	if (stage == HL_FILE_STAGE_BEFORE_RENAME && --*n == 0)
		return hl_error("simulated write failure");
	return 0;
}

/* A failure half-way leaves nothing: no node, no temporary directory; a replaced node survives. */
static void test_init_failure_leaves_nothing(void **state)
{
	struct hgs_node *node = NULL;
	char sandbox[64], dir[128];
	int n = 3;

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	snprintf(dir, sizeof(dir), "%s/node", sandbox);
	hl_file_set_test_hook(fail_nth, &n);
	struct hgs_init_params p = {
		.dir = dir, .name = "MyHgsService", .domain = "relecloud.com",
		.trust = HGS_MODE_TPM, .listen = "127.0.0.1:0",
	};
	assert_int_equal(hgs_node_create(&p), -1);
	hl_file_set_test_hook(NULL, NULL);
	assert_error_has("simulated write failure");
	assert_int_equal(hl_served_dir_entries(sandbox), 0);

	/* with --force over a node, a failure keeps the old node intact */
	create_node(dir, HGS_MODE_TPM, 0);
	n = 2;
	p.force = 1;
	hl_file_set_test_hook(fail_nth, &n);
	assert_int_equal(hgs_node_create(&p), -1);
	hl_file_set_test_hook(NULL, NULL);
	assert_int_equal(hl_served_dir_entries(sandbox), 1);
	assert_int_equal(hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &node), 0);
	hgs_node_close(node);
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/* Opening something that is not a node says what to do. */
static void test_open_not_a_node(void **state)
{
	struct hgs_node *node = NULL;
	char sandbox[64];

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	assert_int_equal(hgs_node_open(sandbox, 0, &node), -1);
	assert_null(node);
	assert_error_has("is not an HGS node");
	assert_error_has("hgslab hgs init");
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/* hgs_node_remove's confirmation: counts its calls, answers *ARG's first int. */
struct confirm_arg {
	int answer, calls;
};

/* A confirmation that says what ARG says (hgs_node_confirm_fn). */
static int confirm_with(void *arg)
{
	struct confirm_arg *a = arg;

	a->calls++;
	if (a->answer < 0)
		hl_error("not confirmed");
	return a->answer;
}

/*
 * Clear-HgsServer: a node nobody serves is removed whole after the
 * confirmation, without following a link in it; a served node, a folder
 * that is not a node and a link to a node are refused before anything is
 * asked, and a refused confirmation removes nothing.
 */
static void test_remove(void **state)
{
	struct confirm_arg ask = { 0, 0 };
	char sandbox[64], dir[128], path[256], link[256];
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	snprintf(dir, sizeof(dir), "%s/node", sandbox);
	create_node(dir, HGS_MODE_TPM, 0);
	snprintf(path, sizeof(path), "%s/outside", sandbox);
	tu_put(path, "keep");
	snprintf(link, sizeof(link), "%s/keys/link", dir);
	assert_int_equal(symlink(path, link), 0);

	/* a refused confirmation: its code, and nothing removed */
	ask.answer = -2;
	assert_int_equal(hgs_node_remove(dir, confirm_with, &ask), -2);
	assert_int_equal(ask.calls, 1);
	assert_true(tu_exists(tu_path("%s/hgs.db", dir)));

	/* a served node: refused before asking */
	pid = tu_pidfile_holder(tu_path("%s/hgs.pid", dir));
	ask.answer = 0;
	assert_int_equal(hgs_node_remove(dir, confirm_with, &ask), -1);
	assert_error_has("stop it first");
	assert_int_equal(ask.calls, 1);
	assert_true(tu_exists(tu_path("%s/hgs.db", dir)));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	/* not a node, a link to one, nothing there: -2 */
	assert_int_equal(hgs_node_remove(sandbox, confirm_with, &ask), -2);
	assert_error_has("is not an HGS node");
	snprintf(link, sizeof(link), "%s/node-link", sandbox);
	assert_int_equal(symlink(dir, link), 0);
	assert_int_equal(hgs_node_remove(link, confirm_with, &ask), -2);
	assert_error_has("is a symbolic link");
	assert_int_equal(unlink(link), 0);
	assert_int_equal(hgs_node_remove(tu_path("%s/none", sandbox), NULL, NULL), -2);
	assert_int_equal(ask.calls, 1);

	/* removed whole, the link's target kept, nothing set aside left */
	assert_int_equal(hgs_node_remove(dir, confirm_with, &ask), 0);
	assert_int_equal(ask.calls, 2);
	assert_false(tu_exists(dir));
	assert_true(tu_file_has(path, "keep"));
	assert_int_equal(hl_served_dir_entries(sandbox), 1);
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/* ---- store ---- */

/* The schema migrates from every older version; a newer one is refused. */
static void test_db_migrations(void **state)
{
	struct hl_store *st = NULL;
	char sandbox[64], db[128], sql[64];

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	snprintf(db, sizeof(db), "%s/hgs.db", sandbox);
	for (size_t v = 0; v <= hgs_db_n_migrations; v++) {
		unlink(db);
		assert_int_equal(hl_store_open(db, hgs_db_migrations, v, &st), 0);
		hl_store_close(st);
		st = NULL;
		if (hgs_db_open(db, &st) < 0)
			fail_msg("upgrade from %zu: %s", v, hl_error_last());
		assert_int_equal(hl_store_version(st), (int)hgs_db_n_migrations);
		hl_store_close(st);
		st = NULL;
	}
	assert_int_equal(hgs_db_open(db, &st), 0);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", hgs_db_n_migrations + 1);
	assert_int_equal(hl_store_exec(st, "bump", sql), 0);
	hl_store_close(st);
	st = NULL;
	assert_int_equal(hgs_db_open(db, &st), -1);
	assert_error_has("newer than this hgslab knows");
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/*
 * Migration 11 rebuilds used_nonces keyed by the nonce alone: a nonce used
 * before it is still there after it (so still refused), with its expiry,
 * and the table is one B-tree (WITHOUT ROWID, no index on expires).
 */
static void test_db_used_nonces_kept(void **state)
{
	static const unsigned char nonce[32] = { 0x48, 0x30, 0x65, 0xa2 };
	struct hl_store *st = NULL;
	char sandbox[64], db[128], *schema = NULL;
	long long expires = 0, indexes = -1;

	(void)state;
	assert_int_equal(tu_mkdtemp(sandbox, sizeof(sandbox), "hgs"), 0);
	snprintf(db, sizeof(db), "%s/hgs.db", sandbox);
	assert_int_equal(hl_store_open(db, hgs_db_migrations, 10, &st), 0);
	assert_int_equal(hl_store_run(st, "INSERT INTO used_nonces(nonce, expires) VALUES(?, ?)",
				      HL_VALS(HL_IN_BLOB(nonce, sizeof(nonce)), HL_IN_INT(1765000000))),
			 0);
	hl_store_close(st);
	st = NULL;
	assert_int_equal(hgs_db_open(db, &st), 0);
	assert_int_equal(hl_store_get(st, "SELECT expires FROM used_nonces WHERE nonce = ?",
				      HL_VALS(HL_IN_BLOB(nonce, sizeof(nonce)),
					      HL_OUT_INT64(&expires))), 1);
	assert_int_equal(expires, 1765000000);
	assert_int_equal(hl_store_get(st, "SELECT sql FROM sqlite_schema WHERE name = 'used_nonces'",
				      HL_VALS(HL_OUT_STR(&schema))), 1);
	assert_non_null(strstr(schema, "WITHOUT ROWID"));
	free(schema);
	assert_int_equal(hl_store_get(st, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
				      "AND tbl_name = 'used_nonces' AND sql IS NOT NULL",
				      HL_VALS(HL_OUT_INT64(&indexes))), 1);
	assert_int_equal(indexes, 0);
	hl_store_close(st);
	assert_int_equal(hl_file_rmtree(sandbox), 0);
}

/* ---- policies ---- */

/* Defaults follow hgs_policy_defs; locked ones cannot be disabled; others toggle. */
static void test_policies(void **state)
{
	struct hgs_node *node = G->node;
	const struct hgs_policy_def *locked = NULL, *free_one = NULL;
	json_t *list = NULL, *row;
	char **names = NULL;
	size_t n = 0, i;
	int found;

	(void)state;
	assert_int_equal(hgs_db_policy_list(node, &list), 0);
	json_array_foreach(list, i, row) {
		const struct hgs_policy_def *d = &hgs_policy_defs[i];

		assert_non_null(d->name);
		assert_string_equal(json_string_value(json_object_get(row, "Name")), d->name);
		assert_string_equal(json_string_value(json_object_get(row, "PolicyState")),
				    d->default_enabled ? "Enabled" : "Disabled");
		assert_int_equal(json_is_true(json_object_get(row, "Locked")), d->locked != 0);
		if (d->locked && !locked)
			locked = d;
		if (!d->locked && d->default_enabled && !free_one)
			free_one = d;
	}
	assert_null(hgs_policy_defs[json_array_size(list)].name);
	json_decref(list);
	assert_non_null(hgs_policy_find("Hgs_BitLockerEnabled"));
	assert_false(hgs_policy_find("Hgs_BitLockerEnabled")->default_enabled);
	assert_non_null(locked);
	assert_non_null(free_one);

	assert_int_equal(hgs_db_policy_enable(node, locked->name, 0), -1);
	assert_error_has("is locked and cannot be disabled");
	assert_int_equal(hgs_db_policy_enable(node, "Hgs_NoSuch", 1), -1);
	assert_error_has("get-attestation-policy");

	assert_int_equal(hgs_db_policy_enable(node, free_one->name, 0), 0);
	assert_int_equal(hgs_db_policies_enabled(node, &names, &n), 0);
	found = 0;
	for (i = 0; i < n; i++)
		found |= strcmp(names[i], free_one->name) == 0;
	assert_false(found);
	hgs_strv_free(names, n);
	assert_int_equal(hgs_db_policy_enable(node, free_one->name, 1), 0);
	assert_int_equal(hgs_db_policies_enabled(node, &names, &n), 0);
	found = 0;
	for (i = 0; i < n; i++)
		found |= strcmp(names[i], free_one->name) == 0;
	assert_true(found);
	hgs_strv_free(names, n);
}

/* ---- nonces and the clock ---- */

/*
 * Present NONCE (LEN bytes) at NODE as production does: hgs_nonce_check,
 * then the attempt's log entry, which uses a good nonce up
 * (hgs_attest_log_record).  0, the decision in RES; -1 on error.
 */
static int consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		   struct hgs_result *res)
{
	struct hgs_nonce_use use;

	if (hgs_nonce_check(node, NULL, nonce, len, res, &use) < 0 ||
	    hgs_attest_log_record(node, "NonceHost", HGS_MODE_HOSTKEY, res, 200, NULL, NULL, NULL,
				  &use, NULL) < 0)
		return -1;
	return 0;
}

/* A nonce passes once; a replay, an unknown one and a wrong length are UnauthorizedHost. */
static void test_nonce_single_use(void **state)
{
	unsigned char nonce[HGS_NONCE_LEN], other[HGS_NONCE_LEN] = { 1 };
	struct hgs_result res;
	time_t expires, now;

	(void)state;
	assert_int_equal(hgs_nonce_issue(G->node, "FabricHost1", nonce, &expires), 0);
	assert_int_equal(hgs_node_now(G->node, &now), 0);
	assert_true(expires >= now + HGS_NONCE_LIFETIME_S - 2 && expires <= now + HGS_NONCE_LIFETIME_S);
	assert_int_equal(consume(G->node, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
	assert_int_equal(consume(G->node, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(res.reason, "already used"));
	assert_int_equal(consume(G->node, other, sizeof(other), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(res.reason, "not issued by this HGS"));
	assert_int_equal(consume(G->node, nonce, 16, &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
}

/* A nonce expires on the node clock: moving DIR/clock-offset past its lifetime refuses it. */
static void test_nonce_expiry(void **state)
{
	unsigned char a[HGS_NONCE_LEN], b[HGS_NONCE_LEN];
	struct hgs_result res;
	time_t expires;
	char text[32];

	(void)state;
	assert_int_equal(hgs_nonce_issue(G->node, NULL, a, &expires), 0);
	assert_int_equal(hgs_nonce_issue(G->node, NULL, b, &expires), 0);
	snprintf(text, sizeof(text), "%d\n", HGS_NONCE_LIFETIME_S - 30);
	tu_set_clock_offset(G->dir, text);
	assert_int_equal(consume(G->node, a, sizeof(a), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
	snprintf(text, sizeof(text), "%d", HGS_NONCE_LIFETIME_S + 1);
	tu_set_clock_offset(G->dir, text);
	assert_int_equal(consume(G->node, b, sizeof(b), &res), 0);
	tu_set_clock_offset(G->dir, NULL);
	assert_int_equal(res.status, HGS_STATUS_TRANSIENT_ERROR);
	assert_non_null(strstr(res.reason, "expired"));
	/* an expired attempt does not use the nonce up: with the clock back it is valid once */
	assert_int_equal(consume(G->node, b, sizeof(b), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
}

/*
 * Nonces are the cluster's: a nonce issued by one handle (a node, or this
 * node before a restart) is accepted once by another handle on the same
 * store, and then refused by both as a replay.
 */
static void test_nonce_other_node(void **state)
{
	unsigned char nonce[HGS_NONCE_LEN], used[HGS_NONCE_LEN];
	struct hgs_node *other = NULL;
	struct hgs_result res;
	time_t expires;

	(void)state;
	assert_int_equal(hgs_nonce_issue(G->node, NULL, nonce, &expires), 0);
	assert_int_equal(hgs_nonce_issue(G->node, NULL, used, &expires), 0);
	assert_int_equal(consume(G->node, used, sizeof(used), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
	assert_int_equal(hgs_node_open(G->dir, 0, &other), 0);
	assert_int_equal(consume(other, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
	assert_int_equal(consume(other, used, sizeof(used), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(res.reason, "already used"));
	hgs_node_close(other);
	assert_int_equal(consume(G->node, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(res.reason, "already used"));
}

/* Race HOST's attempt with NONCE through the check at NODE: Passed, pending, a trace of 3 steps. */
static void race_check(struct hgs_node *node, const unsigned char *nonce, struct hgs_trace *t,
		       struct hgs_result *res, struct hgs_nonce_use *use)
{
	hgs_trace_init(t, HGS_TRACE_ATTESTATION);
	hgs_trace_message(t, HGS_TRACE_HOST, "POST /Attestation/v1/hostkey/attest");
	assert_int_equal(hgs_nonce_check(node, t, nonce, HGS_NONCE_LEN, res, use), 0);
	assert_int_equal(res->status, HGS_STATUS_PASSED);
	assert_true(use->pending);
	hgs_trace_check(t, "Signature", HGS_TRACE_PASS, "the host signed", NULL);
	assert_int_equal(hgs_trace_steps(t), 3);
}

/*
 * Two attempts with one nonce race past the check (at two nodes of one
 * store): the first log entry to commit uses the nonce up; the other is
 * rolled back and recorded as the replay refusal, without its health
 * certificate, its trace cut back to the request, the failed Nonce step
 * and the answer; each attempt is logged exactly once; a third attempt is
 * refused at the check.
 */
static void test_nonce_race(void **state)
{
	unsigned char nonce[HGS_NONCE_LEN];
	struct hgs_nonce_use ua, ub;
	struct hgs_result ra, rb;
	struct hgs_trace ta, tb;
	struct hgs_node *other = NULL;
	long long ida = 0, idb = 0;
	json_t *log, *e, *steps;
	time_t expires;

	(void)state;
	assert_int_equal(hgs_nonce_issue(G->node, NULL, nonce, &expires), 0);
	assert_int_equal(hgs_node_open(G->dir, 0, &other), 0);
	race_check(G->node, nonce, &ta, &ra, &ua);
	race_check(other, nonce, &tb, &rb, &ub);
	assert_int_equal(hgs_attest_log_record(other, "RaceHost", HGS_MODE_HOSTKEY, &rb, 200, NULL,
					       "B0B0", &tb, &ub, &idb), 0);
	assert_int_equal(rb.status, HGS_STATUS_PASSED);
	assert_false(ub.pending);
	assert_int_equal(hgs_attest_log_record(G->node, "RaceHost", HGS_MODE_HOSTKEY, &ra, 200, NULL,
					       "A0A0", &ta, &ua, &ida), 1);
	assert_int_equal(ra.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(ra.reason, "already used"));
	assert_false(ua.pending);
	assert_int_equal(hgs_trace_steps(&ta), 3);
	assert_true(ida > idb && idb > 0);
	hgs_node_close(other);

	assert_int_equal(hgs_db_attest_log_list(G->node, "RaceHost", 0, &log), 0);
	assert_int_equal(json_array_size(log), 2);
	e = json_array_get(log, 0);
	assert_int_equal(json_integer_value(json_object_get(e, "Id")), idb);
	assert_string_equal(json_string_value(json_object_get(e, "Status")), "Passed");
	assert_string_equal(json_string_value(json_object_get(e, "HealthCertificate")), "B0B0");
	e = json_array_get(log, 1);
	assert_int_equal(json_integer_value(json_object_get(e, "Id")), ida);
	assert_string_equal(json_string_value(json_object_get(e, "Status")), "UnauthorizedHost");
	assert_true(json_is_null(json_object_get(e, "HealthCertificate")));
	steps = json_object_get(json_object_get(e, "Trace"), "Steps");
	assert_int_equal(json_array_size(steps), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "Check")),
			    "Nonce");
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "Verdict")),
			    "Fail");
	json_decref(log);

	assert_int_equal(consume(G->node, nonce, sizeof(nonce), &ra), 0);
	assert_int_equal(ra.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(ra.reason, "already used"));
}

/*
 * A forged nonce is refused: any changed byte (random part, expiry, MAC)
 * and a nonce of another HGS (another nonce key) are not issued by this HGS;
 * a refused attempt does not use the genuine nonce up.
 */
static void test_nonce_forged(void **state)
{
	unsigned char nonce[HGS_NONCE_LEN], forged[HGS_NONCE_LEN];
	struct hgs_node *foreign = NULL;
	struct hgs_result res;
	char dir[160];
	time_t expires;

	(void)state;
	assert_int_equal(hgs_nonce_issue(G->node, NULL, nonce, &expires), 0);
	for (size_t i = 0; i < sizeof(nonce); i += 5) {
		memcpy(forged, nonce, sizeof(nonce));
		forged[i] ^= 0x01;
		assert_int_equal(consume(G->node, forged, sizeof(forged), &res), 0);
		assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
		assert_non_null(strstr(res.reason, "not issued by this HGS"));
	}
	snprintf(dir, sizeof(dir), "%s/foreign", G->sandbox);
	create_node(dir, HGS_MODE_HOSTKEY, 0);
	assert_int_equal(hgs_node_open(dir, 0, &foreign), 0);
	assert_int_equal(consume(foreign, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_non_null(strstr(res.reason, "not issued by this HGS"));
	hgs_node_close(foreign);
	assert_int_equal(consume(G->node, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
}

/*
 * A node joins the shared node's HGS (add-node): its store file names the
 * first node's hgs.db (0600), its keys are the same, its name is its own;
 * it takes a nonce the first node issued, once; a taken name is refused
 * (-2) leaving nothing; a store file that is not 0600, is a link or is
 * malformed is refused at open.
 */
static void test_join(void **state)
{
	struct hgs_join_params p = { 0 };
	struct hgs_node *joined = NULL;
	unsigned char nonce[HGS_NONCE_LEN];
	struct hgs_result res;
	char dir[160], other[160], path[200], want[200];
	time_t expires;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/joined", G->sandbox);
	snprintf(other, sizeof(other), "%s/other", G->sandbox);
	p.dir = dir;
	p.node_name = "HGS02";
	p.from = G->dir;
	if (hgs_node_join(&p) < 0)
		fail_msg("hgs_node_join: %s", hl_error_last());
	snprintf(path, sizeof(path), "%s/store", dir);
	snprintf(want, sizeof(want), "%s/hgs.db\n", G->dir);
	assert_int_equal(tu_mode_of(path), 0600);
	assert_true(tu_file_has(path, want));
	assert_int_equal(hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &joined), 0);
	assert_string_equal(joined->node_name, "HGS02");
	assert_string_equal(G->node->node_name, HGS_NODE_NAME_DEFAULT);
	assert_string_equal(joined->signer_thumbprint, G->node->signer_thumbprint);
	assert_int_equal(hgs_nonce_issue(G->node, NULL, nonce, &expires), 0);
	assert_int_equal(consume(joined, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_PASSED);
	assert_int_equal(consume(G->node, nonce, sizeof(nonce), &res), 0);
	assert_int_equal(res.status, HGS_STATUS_UNAUTHORIZED_HOST);
	hgs_node_close(joined);

	p.dir = other;
	assert_int_equal(hgs_node_join(&p), -2);
	assert_non_null(strstr(hl_error_last(), "already has a node named 'HGS02'"));
	assert_false(tu_exists(other));
	assert_int_equal(tu_count_prefix(G->sandbox, ".other."), 0);
	p.node_name = "HGS01";
	assert_int_equal(hgs_node_join(&p), -2);
	p.node_name = "HGS03";
	p.from = NULL;
	assert_int_equal(hgs_node_join(&p), -2);
	assert_false(tu_exists(other));

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(hgs_node_open(dir, 0, &joined), -1);
	assert_non_null(strstr(hl_error_last(), "mode 0600"));
	tu_put(path, "relative/hgs.db\n");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(hgs_node_open(dir, 0, &joined), -1);
	assert_non_null(strstr(hl_error_last(), "malformed"));
	snprintf(want, sizeof(want), "%s/store.real", G->sandbox);
	assert_int_equal(rename(path, want), 0);
	assert_int_equal(symlink(want, path), 0);
	assert_int_equal(hgs_node_open(dir, 0, &joined), -1);
	assert_non_null(strstr(hl_error_last(), "symbolic link"));
	assert_null(joined);
}

/* The clock offset file: absent is 0, negative works, garbage is a clear error. */
static void test_clock_offset(void **state)
{
	time_t t;
	long long off;

	(void)state;
	assert_int_equal(hl_labclock_offset(G->dir, &off), 0);
	assert_int_equal(off, 0);
	tu_set_clock_offset(G->dir, "-3600\n");
	assert_int_equal(hgs_node_now(G->node, &t), 0);
	assert_true(t <= time(NULL) - 3599 && t >= time(NULL) - 3601);
	tu_set_clock_offset(G->dir, "9 hours");
	assert_int_equal(hgs_node_now(G->node, &t), -1);
	assert_error_has("whole number of seconds");
	tu_set_clock_offset(G->dir, NULL);
	assert_int_equal(hgs_node_now(G->node, &t), 0);
}

/* ---- registrations ---- */

/* Host keys: add, duplicate name and key refused, list, find, remove. */
static void test_host_keys(void **state)
{
	EVP_PKEY *k1 = NULL, *k2 = NULL, *found = NULL;
	char fp[HL_SHA256_HEX_SIZE], *name = NULL;
	json_t *list = NULL;

	(void)state;
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &k1), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &k2), 0);
	assert_int_equal(hgs_db_host_key_add(G->node, "KeyHost1", k1), 0);
	assert_int_equal(hgs_db_host_key_add(G->node, "KeyHost1", k2), -1);
	assert_error_has("a host key named 'KeyHost1' is already registered");
	assert_int_equal(hgs_db_host_key_add(G->node, "KeyHost2", k1), -1);
	assert_error_has("already registered as host key 'KeyHost1'");
	assert_int_equal(hgs_db_host_key_add(G->node, "", k2), -1);

	assert_int_equal(hl_key_fingerprint(k1, fp), 0);
	assert_int_equal(hgs_db_host_key_find(G->node, fp, &name, &found), 1);
	assert_string_equal(name, "KeyHost1");
	assert_true(hl_key_pub_equal(found, k1));
	free(name);
	hl_key_free(found);

	assert_int_equal(hgs_db_reg_list(G->node, HGS_REG_HOST_KEY, "KeyHost1", &list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "KeyType")),
			    "ec-p256");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
							      "Fingerprint")), fp);
	json_decref(list);
	assert_int_equal(hgs_db_reg_list(G->node, HGS_REG_HOST_KEY, "Nobody", &list), -1);
	assert_error_has("no host key is registered as 'Nobody'");

	assert_int_equal(hgs_db_reg_remove(G->node, HGS_REG_HOST_KEY, "KeyHost1"), 0);
	assert_int_equal(hgs_db_reg_remove(G->node, HGS_REG_HOST_KEY, "KeyHost1"), -1);
	assert_int_equal(hgs_db_host_key_find(G->node, fp, &name, &found), 0);
	hl_key_free(k1);
	hl_key_free(k2);
}

/* Host groups: SID syntax, duplicates. */
static void test_host_groups(void **state)
{
	char *name = NULL;

	(void)state;
	assert_int_equal(hl_name_sid("S-1-5-21-3623811015-3361044348-30300820-1013"), 0);
	assert_int_equal(hl_name_sid("S-1-5-21-"), -1);
	assert_int_equal(hl_name_sid("S-1-5-32-544"), 0);
	assert_int_equal(hl_name_sid("S-1-5"), -1);
	assert_int_equal(hl_name_sid("S-2-5-21"), -1);
	assert_int_equal(hl_name_sid("S-1-5-99999999999"), -1);
	assert_int_equal(hl_name_sid("GuardedHosts"), -1);
	assert_error_has("invalid SID 'GuardedHosts'");
	assert_int_equal(hgs_db_host_group_add(G->node, "Group1", "S-1-5-21-7-8-9-1013"), 0);
	assert_int_equal(hgs_db_host_group_add(G->node, "Group2", "S-1-5-21-7-8-9-1013"), -1);
	assert_error_has("already registered as host group 'Group1'");
	assert_int_equal(hgs_db_host_group_find_sid(G->node, "S-1-5-21-7-8-9-1013", &name), 1);
	assert_string_equal(name, "Group1");
	free(name);
}

/* CI policies: duplicates by name and content, empty refused; a TPM policy must be a TCG log. */
static void test_policy_files(void **state)
{
	struct hgs_policy_set *ps = NULL;

	(void)state;
	static const char one[] = "{\"format\":\"" HGS_CI_POLICY_FORMAT "\",\"name\":\"One\","
				  "\"policy_id\":\"1\",\"rules\":[]}";
	static const char two[] = "{\"format\":\"" HGS_CI_POLICY_FORMAT "\",\"name\":\"Two\","
				  "\"policy_id\":\"2\",\"rules\":[]}";

	assert_int_equal(hgs_db_ci_policy_add(G->node, "CI1", one, strlen(one)), 0);
	assert_int_equal(hgs_db_ci_policy_add(G->node, "CI2", one, strlen(one)), -1);
	assert_error_has("the same policy file is already registered as CI policy 'CI1'");
	assert_int_equal(hgs_db_ci_policy_add(G->node, "CI1", two, strlen(two)), -1);
	/* the file itself is wrong: -2, bad input */
	assert_int_equal(hgs_db_ci_policy_add(G->node, "CI3", "", 0), -2);
	assert_int_equal(hgs_db_ci_policy_add(G->node, "CI4", "policy one", 10), -2);
	assert_error_has("not a CI policy");
	assert_int_equal(hgs_db_ci_policy_add(G->node, "CI5", "{\"format\":\"x\"}", 14), -2);
	assert_error_has("its format is 'x'");
	assert_int_equal(hgs_db_tpm_policy_add(G->node, "Base1", "garbage", 7), -2);
	assert_error_has("not a usable TCG log");
	assert_int_equal(hgs_db_policy_set_load(G->node, &ps), 0);
	assert_true(ps->in.n_ci_policies >= 1);
	assert_int_equal(ps->in.ci_policies[0].len, strlen(one));
	assert_memory_equal(ps->in.ci_policies[0].data, one, strlen(one));
	assert_true(ps->in.n_enabled > 0);
	hgs_policy_set_free(ps);
	hgs_policy_set_free(NULL);
}

/* A certificate for KEY signed by CA (or self-signed when CA is NULL). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, int is_ca)
{
	struct hl_cert_spec spec = { .cn = cn, .not_before = time(NULL) - 60,
				     .not_after = time(NULL) + 86400, .is_ca = is_ca, .path_len = -1 };
	X509 *c = NULL;

	if (ca)
		assert_int_equal(hl_cert_issue(&spec, key, ca, ca_key, &c), 0);
	else
		assert_int_equal(hl_cert_issue_self_signed(&spec, key, &c), 0);
	return c;
}

/* A platform identifier for EK (with EK_CERT or none), as the host writes it, into a new string. */
static char *make_identifier(const char *host, EVP_PKEY *ek, X509 *ek_cert)
{
	char *s = NULL;

	assert_int_equal(hgs_platform_id_write(host, ek, ek_cert, NULL, 0, &s), 0);
	return s;
}

/* TPM hosts: the EK certificate must chain to the vendor CA unless --force. */
static void test_tpm_hosts(void **state)
{
	EVP_PKEY *ca_key = NULL, *int_key = NULL, *rogue_key = NULL, *ek1 = NULL, *ek2 = NULL,
		 *ek3 = NULL;
	X509 *ca = NULL, *inter = NULL, *rogue = NULL, *cert1 = NULL, *cert2 = NULL;
	struct hgs_platform_id *id = NULL;
	struct hgs_tpm_host *h = NULL;
	struct hl_buf pem1 = { 0 }, pem2 = { 0 };
	char *doc, *bundle;

	(void)state;
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ca_key), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &int_key), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &rogue_key), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ek1), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ek2), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ek3), 0);
	ca = make_cert("Lab TPM Vendor Root", ca_key, NULL, NULL, 1);
	inter = make_cert("Lab TPM Vendor Issuing", int_key, ca, ca_key, 1);
	rogue = make_cert("Rogue TPM Vendor", rogue_key, NULL, NULL, 1);
	cert1 = make_cert("EK FabricHost1", ek1, inter, int_key, 0);
	cert2 = make_cert("EK RogueHost", ek2, rogue, rogue_key, 0);

	/* no vendor CA configured yet */
	doc = make_identifier("FabricHost1", ek1, cert1);
	assert_int_equal(hgs_platform_id_parse(doc, strlen(doc), &id), 0);
	free(doc);
	assert_string_equal(id->host, "FabricHost1");
	assert_int_equal(hgs_db_tpm_host_add(G->node, "FabricHost1", id, 0), -1);
	assert_error_has("no TPM vendor CA is configured");

	/* root + intermediate bundle */
	assert_int_equal(hl_cert_to_pem(ca, &pem1), 0);
	assert_int_equal(hl_cert_to_pem(inter, &pem2), 0);
	bundle = malloc(pem1.len + pem2.len + 1);
	assert_non_null(bundle);
	memcpy(bundle, pem2.data, pem2.len);
	memcpy(bundle + pem2.len, pem1.data, pem1.len + 1);
	assert_int_equal(hgs_db_set_vendor_ca(G->node, bundle), 0);
	assert_int_equal(hgs_db_set_vendor_ca(G->node, "junk"), -1);
	free(bundle);
	assert_int_equal(hgs_db_tpm_host_add(G->node, "FabricHost1", id, 0), 0);
	assert_int_equal(hgs_db_tpm_host_add(G->node, "FabricHost1b", id, 0), -1);
	assert_error_has("this TPM's EK is already registered as TPM host 'FabricHost1'");
	hgs_platform_id_free(id);
	assert_int_equal(hgs_db_tpm_host_find_name(G->node, "FabricHost1", &h), 1);
	assert_true(hl_key_pub_equal(h->ek, ek1));
	assert_non_null(h->ek_cert);
	assert_int_equal(h->forced, 0);
	hgs_tpm_host_free(h);
	h = NULL;

	/* an EK certificate from another CA is refused, unless forced */
	doc = make_identifier("RogueHost", ek2, cert2);
	assert_int_equal(hgs_platform_id_parse(doc, strlen(doc), &id), 0);
	free(doc);
	assert_int_equal(hgs_db_tpm_host_add(G->node, "RogueHost", id, 0), -1);
	assert_error_has("does not chain to the TPM vendor CA");
	assert_int_equal(hgs_db_tpm_host_add(G->node, "RogueHost", id, 1), 0);
	hgs_platform_id_free(id);

	/* no EK certificate needs --force */
	doc = make_identifier("NoCertHost", ek3, NULL);
	assert_int_equal(hgs_platform_id_parse(doc, strlen(doc), &id), 0);
	free(doc);
	assert_int_equal(hgs_db_tpm_host_add(G->node, "NoCertHost", id, 0), -1);
	assert_error_has("--force");
	assert_int_equal(hgs_db_tpm_host_add(G->node, "NoCertHost", id, 1), 0);
	assert_int_equal(hgs_db_tpm_host_find_ek(G->node, id->ek_fingerprint, &h), 1);
	assert_string_equal(h->name, "NoCertHost");
	assert_null(h->ek_cert);
	hgs_tpm_host_free(h);
	hgs_platform_id_free(id);

	/* malformed identifiers */
	doc = make_identifier("Mismatch", ek3, cert1);
	assert_int_equal(hgs_platform_id_parse(doc, strlen(doc), &id), -1);
	assert_error_has("certifies another key");
	free(doc);
	assert_int_equal(hgs_platform_id_parse("{}", 2, &id), -1);
	assert_error_has("field 'format' is missing");
	assert_int_equal(hgs_platform_id_parse("{\"format\":\"hgslab-platform-identifier\","
					       "\"version\":2}", 50, &id), -1);
	assert_int_equal(hgs_platform_id_parse("\x01\x02", 2, &id), -1);
	assert_null(id);

	hl_buf_free(&pem1);
	hl_buf_free(&pem2);
	hl_cert_free(ca);
	hl_cert_free(inter);
	hl_cert_free(rogue);
	hl_cert_free(cert1);
	hl_cert_free(cert2);
	hl_key_free(ca_key);
	hl_key_free(int_key);
	hl_key_free(rogue_key);
	hl_key_free(ek1);
	hl_key_free(ek2);
	hl_key_free(ek3);
}

/* ---- the HTTP service ---- */

/* POST BODY (a JSON object, stolen) to URL and parse the reply into *OUT; the status. */
static long post_json(const char *url, json_t *body, json_t **out)
{
	struct hl_http_reply reply;
	char *text = NULL;
	long status;

	assert_int_equal(hl_json_dump(body, &text), 0);
	json_decref(body);
	if (hl_http_post(url, "application/json", text, strlen(text), NULL, &reply) < 0)
		fail_msg("POST %s: %s", url, hl_error_last());
	free(text);
	status = reply.status;
	if (hl_json_parse(reply.body, reply.body_len, 0, out) < 0)
		fail_msg("reply of %s is not JSON: %s", url, reply.body);
	hl_http_reply_release(&reply);
	return status;
}

/* A fresh nonce from the server at BASE. */
static void get_nonce(const char *base, unsigned char **nonce, size_t *len)
{
	char url[128];
	json_t *reply = NULL;

	snprintf(url, sizeof(url), "%s/Attestation/v1/nonce", base);
	assert_int_equal(post_json(url, json_pack("{s:s}", "host", "FabricHost1"), &reply), 200);
	assert_int_equal(hl_json_get_base64(reply, "nonce", nonce, len), 0);
	assert_int_equal(*len, HGS_NONCE_LEN);
	json_decref(reply);
}

/* Attest HOST with SIGNER over NONCE || TK's DER, presenting PRESENTED as its host key. */
static long attest(const char *base, const char *host, EVP_PKEY *signer, EVP_PKEY *presented,
		   EVP_PKEY *tk, const unsigned char *nonce, size_t nonce_len, json_t **reply)
{
	struct hl_buf msg = { 0 }, sig = { 0 }, hk = { 0 }, tkp = { 0 };
	char url[128];
	json_t *body;
	long status;

	snprintf(url, sizeof(url), "%s/Attestation/v1/hostkey/attest", base);
	assert_int_equal(hostkey_message(nonce, nonce_len, tk, &msg), 0);
	assert_int_equal(hl_crypto_sign(signer, HL_SIG_DEFAULT, msg.data, msg.len, &sig), 0);
	assert_int_equal(hl_key_pub_to_pem(presented, &hk), 0);
	assert_int_equal(hl_key_pub_to_pem(tk, &tkp), 0);
	body = json_pack("{s:s, s:s, s:s}", "host", host, "host_key", (char *)hk.data,
			 "transport_key", (char *)tkp.data);
	assert_int_equal(hl_json_set_base64(body, "nonce", nonce, nonce_len), 0);
	assert_int_equal(hl_json_set_base64(body, "signature", sig.data, sig.len), 0);
	status = post_json(url, body, reply);
	hl_buf_free(&msg);
	hl_buf_free(&sig);
	hl_buf_free(&hk);
	hl_buf_free(&tkp);
	return status;
}

/* The status string of decision REPLY. */
static const char *status_of(const json_t *reply)
{
	return json_string_value(json_object_get(reply, "status"));
}

/* info, nonce, a Passed round trip with a verifying health certificate, and every refusal. */
static void test_serve_hostkey_round_trip(void **state)
{
	struct hgs_server *srv = NULL;
	EVP_PKEY *hk = NULL, *tk = NULL, *stranger = NULL;
	unsigned char *nonce = NULL, *der = NULL;
	size_t nonce_len = 0, der_len = 0;
	struct hl_http_reply reply;
	struct hgs_healthcert_info info;
	json_t *o = NULL, *log = NULL;
	X509 *hc = NULL;
	char base[64], url[128];

	(void)state;
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &hk), 0);
	assert_int_equal(hl_key_generate(HL_KEY_RSA2048, &tk), 0);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &stranger), 0);
	assert_int_equal(hgs_db_host_key_add(G->node, "FabricHost1", hk), 0);
	if (hgs_server_start(G->node, "127.0.0.1", 0, &srv) < 0)
		fail_msg("server: %s", hl_error_last());
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", hgs_server_port(srv));

	/* info */
	snprintf(url, sizeof(url), "%s/Attestation/v1/info", base);
	assert_int_equal(hl_http_get(url, NULL, &reply), 0);
	assert_int_equal(reply.status, 200);
	assert_int_equal(hl_json_parse(reply.body, reply.body_len, 0, &o), 0);
	hl_http_reply_release(&reply);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "MyHgsService");
	assert_string_equal(json_string_value(json_object_get(o, "mode")), "hostkey");
	assert_string_equal(json_string_value(json_object_get(o, "signer_thumbprint")),
			    G->node->signer_thumbprint);
	assert_non_null(strstr(json_string_value(json_object_get(o, "signer_certificate")),
			       "BEGIN CERTIFICATE"));
	json_decref(o);

	/* Passed: the health certificate binds the transport key and verifies */
	get_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest(base, "FabricHost1", hk, hk, tk, nonce, nonce_len, &o), 200);
	assert_string_equal(status_of(o), "Passed");
	assert_int_equal(hl_json_get_base64(o, "health_certificate", &der, &der_len), 0);
	assert_int_equal(hl_cert_from_der(der, der_len, &hc), 0);
	assert_int_equal(hgs_healthcert_verify(G->node, hc, &info, NULL), 0);
	assert_string_equal(info.host, "FabricHost1");
	assert_int_equal(info.mode, HGS_MODE_HOSTKEY);
	assert_int_equal(info.not_after - info.not_before, 8 * 3600);
	{
		EVP_PKEY *bound = NULL;

		assert_int_equal(hl_cert_pubkey(hc, &bound), 0);
		assert_true(hl_key_pub_equal(bound, tk));
		hl_key_free(bound);
	}
	hl_cert_free(hc);
	free(der);
	json_decref(o);

	/* the same request again: a replay */
	assert_int_equal(attest(base, "FabricHost1", hk, hk, tk, nonce, nonce_len, &o), 200);
	assert_string_equal(status_of(o), "UnauthorizedHost");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "already used"));
	assert_null(json_object_get(o, "health_certificate"));
	json_decref(o);
	free(nonce);

	/* an unregistered key */
	get_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest(base, "FabricHost1", stranger, stranger, tk, nonce, nonce_len, &o),
			 200);
	assert_string_equal(status_of(o), "UnauthorizedHost");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "not registered"));
	json_decref(o);
	free(nonce);

	/* the registered key presented, signed by another: a bad signature */
	get_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest(base, "FabricHost1", stranger, hk, tk, nonce, nonce_len, &o), 200);
	assert_string_equal(status_of(o), "UnauthorizedHost");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "does not verify"));
	json_decref(o);
	free(nonce);

	/* the key registered for another name */
	get_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest(base, "FabricHost2", hk, hk, tk, nonce, nonce_len, &o), 200);
	assert_string_equal(status_of(o), "UnauthorizedHost");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")),
			       "registered for host 'FabricHost1'"));
	json_decref(o);
	free(nonce);

	/* a transport key KPS could not wrap to, and a malformed body: 400 */
	get_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest(base, "FabricHost1", hk, hk, stranger, nonce, nonce_len, &o), 400);
	assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "RSA"));
	json_decref(o);
	snprintf(url, sizeof(url), "%s/Attestation/v1/hostkey/attest", base);
	assert_int_equal(post_json(url, json_pack("{s:s}", "host", "FabricHost1"), &o), 400);
	assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "field 'nonce'"));
	json_decref(o);
	assert_int_equal(hl_http_post(url, "application/json", "{\"host\":", 8, NULL, &reply), 0);
	assert_int_equal(reply.status, 400);
	hl_http_reply_release(&reply);

	/* another trust mode: refused with the reason, nonce untouched */
	assert_int_equal(hgs_db_set_trust(G->node, HGS_MODE_TPM), 0);
	assert_int_equal(attest(base, "FabricHost1", hk, hk, tk, nonce, nonce_len, &o), 200);
	assert_string_equal(status_of(o), "UnauthorizedHost");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")),
			       "this HGS attests hosts in tpm mode"));
	json_decref(o);
	assert_int_equal(hgs_db_set_trust(G->node, HGS_MODE_HOSTKEY), 0);
	assert_int_equal(attest(base, "FabricHost1", hk, hk, tk, nonce, nonce_len, &o), 200);
	assert_string_equal(status_of(o), "Passed");
	json_decref(o);
	free(nonce);
	hgs_server_stop(srv);

	/* every attempt is in the log, oldest first */
	assert_int_equal(hgs_db_attest_log_list(G->node, "FabricHost1", 0, &log), 0);
	assert_int_equal(json_array_size(log), 8);
	assert_string_equal(json_string_value(json_object_get(json_array_get(log, 0), "Status")),
			    "Passed");
	assert_non_null(json_string_value(json_object_get(json_array_get(log, 0),
							  "HealthCertificate")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(log, 1), "Status")),
			    "UnauthorizedHost");
	json_decref(log);
	assert_int_equal(hgs_db_attest_log_list(G->node, NULL, 2, &log), 0);
	assert_int_equal(json_array_size(log), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(log, 1), "Status")),
			    "Passed");
	json_decref(log);
	hl_key_free(hk);
	hl_key_free(tk);
	hl_key_free(stranger);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* these make their own nodes */
		cmocka_unit_test(test_init_creates_everything),
		cmocka_unit_test(test_init_refusals_and_force),
		cmocka_unit_test(test_init_failure_leaves_nothing),
		cmocka_unit_test(test_open_not_a_node),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_db_migrations),
		cmocka_unit_test(test_db_used_nonces_kept),
		/* these share the group's node */
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_nonce_single_use),
		cmocka_unit_test(test_nonce_expiry),
		cmocka_unit_test(test_nonce_other_node),
		cmocka_unit_test(test_nonce_race),
		cmocka_unit_test(test_nonce_forged),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_clock_offset),
		cmocka_unit_test(test_host_keys),
		cmocka_unit_test(test_host_groups),
		cmocka_unit_test(test_policy_files),
		cmocka_unit_test(test_tpm_hosts),
		cmocka_unit_test(test_serve_hostkey_round_trip),
	};

	hl_log_set_stderr_level(HL_LOG_ERROR);
	return cmocka_run_group_tests_name("hgs_node", tests, group_setup, group_teardown);
}
