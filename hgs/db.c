/*
 * db.c - the HGS node's store (db.h): the schema as lib/store migrations and
 * the data access behind the admin verbs (Set-HgsServer, the
 * Add/Get/Remove-HgsAttestation* cmdlets, the Hgs_* policy states) and the
 * lookups the attestation modes make.  Every function takes the node lock
 * and runs its writes in one transaction, so concurrent threads of `hgs
 * serve` and concurrent admin processes (SQLite WAL) never see half a change.
 */
#include "hgs/db.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hgs/tpm_verify.h"
#include "proto/tcglog.h"

/* Largest registration blob accepted (TCG logs, CI policies). */
#define DB_BLOB_MAX ((size_t)8 << 20)

const char *const hgs_db_migrations[] = {
	/* 1: the node, its keys and the Hgs_* policy states */
	"CREATE TABLE node("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  name TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  trust TEXT NOT NULL CHECK (trust IN ('tpm', 'ad', 'hostkey')),"
	"  listen TEXT NOT NULL,"
	"  healthcert_validity_h INTEGER NOT NULL CHECK (healthcert_validity_h BETWEEN 1 AND 8760),"
	"  vendor_ca_pem TEXT,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE node_keys("
	"  id INTEGER PRIMARY KEY,"
	"  role TEXT NOT NULL CHECK (role IN ('attestation-signer', 'kps-signing', 'kps-encryption')),"
	"  thumbprint TEXT NOT NULL UNIQUE,"
	"  cert_pem TEXT NOT NULL,"
	"  key_file TEXT NOT NULL,"
	"  is_primary INTEGER NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),"
	"  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
	"  added INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX node_keys_primary ON node_keys(role) WHERE is_primary = 1;"
	"CREATE TABLE attestation_policies("
	"  name TEXT PRIMARY KEY,"
	"  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)));",
	/* 2: registrations */
	"CREATE TABLE tpm_hosts("
	"  name TEXT PRIMARY KEY,"
	"  host TEXT NOT NULL,"
	"  ek_fingerprint TEXT NOT NULL UNIQUE,"
	"  ek_public BLOB NOT NULL,"
	"  ek_certificate BLOB,"
	"  ek_cert_issuer TEXT,"
	"  forced INTEGER NOT NULL CHECK (forced IN (0, 1)),"
	"  identifier TEXT NOT NULL,"
	"  added INTEGER NOT NULL);"
	"CREATE TABLE tpm_policies("
	"  name TEXT PRIMARY KEY,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  tcglog BLOB NOT NULL,"
	"  events INTEGER NOT NULL,"
	"  added INTEGER NOT NULL);"
	"CREATE TABLE ci_policies("
	"  name TEXT PRIMARY KEY,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  policy BLOB NOT NULL,"
	"  added INTEGER NOT NULL);"
	"CREATE TABLE host_groups("
	"  name TEXT PRIMARY KEY,"
	"  sid TEXT NOT NULL UNIQUE,"
	"  added INTEGER NOT NULL);"
	"CREATE TABLE host_keys("
	"  name TEXT PRIMARY KEY,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  key_type TEXT NOT NULL,"
	"  public_key BLOB NOT NULL,"
	"  added INTEGER NOT NULL);",
	/* 3: nonces and the attestation log */
	"CREATE TABLE nonces("
	"  nonce BLOB PRIMARY KEY,"
	"  host TEXT,"
	"  issued INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  used INTEGER);"   /* dropped by 6 */
	"CREATE INDEX nonces_expires ON nonces(expires);"
	"CREATE TABLE attestation_log("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  host TEXT NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  substatus INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  remote TEXT,"
	"  healthcert TEXT);"
	"CREATE INDEX attestation_log_host ON attestation_log(host);",
	/* 4: TPM mode: AKs pinned to EKs by credential activation, pending challenges */
	"CREATE TABLE tpm_ak_pins("
	"  host TEXT PRIMARY KEY REFERENCES tpm_hosts(name) ON DELETE CASCADE,"
	"  ek_fingerprint TEXT NOT NULL UNIQUE,"
	"  ak_name TEXT NOT NULL UNIQUE,"
	"  ak_public BLOB NOT NULL,"
	"  pinned INTEGER NOT NULL);"
	"CREATE TABLE tpm_challenges("
	"  id TEXT PRIMARY KEY,"
	"  host TEXT NOT NULL REFERENCES tpm_hosts(name) ON DELETE CASCADE,"
	"  ek_fingerprint TEXT NOT NULL,"
	"  ak_name TEXT NOT NULL,"
	"  ak_public BLOB NOT NULL,"
	"  secret_sha256 BLOB NOT NULL,"
	"  expires INTEGER NOT NULL);"
	"CREATE INDEX tpm_challenges_host ON tpm_challenges(host);",
	/*
	 * 5: Key Protection Service: the KPS pair of init is its role's primary
	 * (a no-op for nodes made by init, which marks it so; kept for any store
	 * without one), the health certificate cut-off, the key protection log
	 */
	"UPDATE node_keys SET is_primary = 1, enabled = 1 WHERE id IN ("
	"  SELECT min(k.id) FROM node_keys k"
	"  WHERE k.role IN ('kps-signing', 'kps-encryption') AND NOT EXISTS ("
	"    SELECT 1 FROM node_keys p WHERE p.role = k.role AND p.is_primary = 1)"
	"  GROUP BY k.role);"
	"UPDATE node_keys SET enabled = 1 WHERE is_primary = 1;"
	"CREATE TABLE kps_policy("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  deny_issued_before INTEGER);"
	"INSERT INTO kps_policy(id, deny_issued_before) VALUES(1, NULL);"
	"CREATE TABLE key_protection_log("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  host TEXT,"
	"  key_protector TEXT,"
	"  owner TEXT,"
	"  result TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  message TEXT NOT NULL,"
	"  http_status INTEGER NOT NULL,"
	"  remote TEXT,"
	"  healthcert TEXT,"
	"  encryption_cert TEXT);"
	"CREATE INDEX key_protection_log_host ON key_protection_log(host);",
	/* 6: nonces live in the memory of `hgs serve` only (hgs/nonce.h) */
	"DROP INDEX IF EXISTS nonces_expires;"
	"DROP TABLE IF EXISTS nonces;",
};
const size_t hgs_db_n_migrations = sizeof(hgs_db_migrations) / sizeof(hgs_db_migrations[0]);

/* Open the store with the node's migrations. */
int hgs_db_open(const char *path, struct hl_store **out)
{
	return hl_store_open(path, hgs_db_migrations, hgs_db_n_migrations, out);
}

/* Free an array of strings. */
void hgs_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* strdup that sets the error on failure. */
static char *dup_str(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		hl_error("out of memory");
	return d;
}

/* Bind text V (NULL binds SQL NULL) to parameter I of STMT. */
static int bind_text(struct hl_store *st, sqlite3_stmt *stmt, int i, const char *v)
{
	int rc = v ? sqlite3_bind_text(stmt, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(stmt, i);

	return rc == SQLITE_OK ? 0 : hl_store_error(st, "bind parameter %d", i);
}

/* Bind LEN bytes of DATA (NULL binds SQL NULL) to parameter I of STMT. */
static int bind_blob(struct hl_store *st, sqlite3_stmt *stmt, int i, const void *data, size_t len)
{
	int rc = data ? sqlite3_bind_blob64(stmt, i, data, len, SQLITE_TRANSIENT)
		      : sqlite3_bind_null(stmt, i);

	return rc == SQLITE_OK ? 0 : hl_store_error(st, "bind parameter %d", i);
}

/* Bind integer V to parameter I of STMT. */
static int bind_int(struct hl_store *st, sqlite3_stmt *stmt, int i, long long v)
{
	return sqlite3_bind_int64(stmt, i, v) == SQLITE_OK ? 0
							   : hl_store_error(st, "bind parameter %d", i);
}

/* Copy column I of STMT (text) into BUF of SIZE bytes. */
static void col_copy(sqlite3_stmt *stmt, int i, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(stmt, i);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

/* ---- node row ---- */

int hgs_db_node_insert(struct hl_store *st, const struct hgs_config *cfg, const char *vendor_ca_pem)
{
	sqlite3_stmt *stmt = NULL;
	char listen[32];
	int rc = -1;

	snprintf(listen, sizeof(listen), "%s:%u", cfg->listen_addr, cfg->listen_port);
	if (hl_store_begin(st) < 0)
		return -1;
	if (hl_store_stmt(st, "INSERT INTO node(id, name, domain, trust, listen, "
			  "healthcert_validity_h, vendor_ca_pem, created) "
			  "VALUES(1, ?, ?, ?, ?, ?, ?, ?)", &stmt) < 0 ||
	    bind_text(st, stmt, 1, cfg->name) < 0 || bind_text(st, stmt, 2, cfg->domain) < 0 ||
	    bind_text(st, stmt, 3, hgs_mode_name(cfg->trust)) < 0 ||
	    bind_text(st, stmt, 4, listen) < 0 ||
	    bind_int(st, stmt, 5, cfg->healthcert_validity_h) < 0 ||
	    bind_text(st, stmt, 6, vendor_ca_pem) < 0 || bind_int(st, stmt, 7, cfg->created) < 0 ||
	    hl_store_step(st, stmt) < 0)
		goto out;
	hl_store_stmt_done(st, stmt);
	stmt = NULL;
	if (hgs_db_policy_seed(st) < 0 || hl_store_commit(st) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	if (rc < 0)
		hl_store_rollback(st);
	return rc;
}

/* Read the node row. */
int hgs_db_config_read(struct hl_store *st, struct hgs_config *out)
{
	sqlite3_stmt *stmt = NULL;
	char trust[16], listen[32];
	int rc = -1, r;

	memset(out, 0, sizeof(*out));
	if (hl_store_stmt(st, "SELECT name, domain, trust, listen, healthcert_validity_h, "
			  "vendor_ca_pem IS NOT NULL, created FROM node WHERE id = 1", &stmt) < 0)
		return -1;
	r = hl_store_step(st, stmt);
	if (r <= 0) {
		if (r == 0)
			hl_error("store '%s' has no node configuration; the node directory is "
				 "damaged: re-create it with `hgs init --force`", hl_store_path(st));
		goto out;
	}
	col_copy(stmt, 0, out->name, sizeof(out->name));
	col_copy(stmt, 1, out->domain, sizeof(out->domain));
	col_copy(stmt, 2, trust, sizeof(trust));
	col_copy(stmt, 3, listen, sizeof(listen));
	out->healthcert_validity_h = sqlite3_column_int(stmt, 4);
	out->has_vendor_ca = sqlite3_column_int(stmt, 5);
	out->created = (time_t)sqlite3_column_int64(stmt, 6);
	if (hgs_mode_parse(trust, &out->trust) < 0 ||
	    hgs_parse_listen(listen, out->listen_addr, &out->listen_port) < 0) {
		hl_error_wrap("store '%s' holds a damaged node configuration", hl_store_path(st));
		goto out;
	}
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	return rc;
}

/* Read the node row under the node lock. */
int hgs_db_config_get(struct hgs_node *node, struct hgs_config *out)
{
	int rc;

	hgs_node_lock(node);
	rc = hgs_db_config_read(node->store, out);
	hgs_node_unlock(node);
	return rc;
}

/* UPDATE node SET COLUMN = text or integer value. */
static int node_update(struct hgs_node *node, const char *sql, const char *text, long long num)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	hgs_node_lock(node);
	if (hl_store_stmt(node->store, sql, &stmt) < 0)
		goto out;
	if (text ? bind_text(node->store, stmt, 1, text) : bind_int(node->store, stmt, 1, num))
		goto out;
	if (hl_store_step(node->store, stmt) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Set the trust mode. */
int hgs_db_set_trust(struct hgs_node *node, enum hgs_mode mode)
{
	if (!hgs_mode_name(mode))
		return hl_error("invalid trust mode %d", (int)mode);
	return node_update(node, "UPDATE node SET trust = ? WHERE id = 1", hgs_mode_name(mode), 0);
}

/* Set the health certificate validity. */
int hgs_db_set_validity(struct hgs_node *node, int hours)
{
	if (hours < 1 || hours > HGS_HEALTHCERT_VALIDITY_H_MAX)
		return hl_error("invalid health certificate validity %d hours: use 1 to %d", hours,
				HGS_HEALTHCERT_VALIDITY_H_MAX);
	return node_update(node, "UPDATE node SET healthcert_validity_h = ? WHERE id = 1", NULL,
			   hours);
}

/* Set the TPM vendor CA bundle after checking it. */
int hgs_db_set_vendor_ca(struct hgs_node *node, const char *pem)
{
	if (hgs_vendor_ca_check(pem) < 0)
		return hl_error_wrap("invalid TPM vendor CA");
	return node_update(node, "UPDATE node SET vendor_ca_pem = ? WHERE id = 1", pem, 0);
}

/* Read the TPM vendor CA bundle. */
int hgs_db_vendor_ca_get(struct hgs_node *node, char **out)
{
	sqlite3_stmt *stmt = NULL;
	const unsigned char *t;
	int rc = -1, r;

	*out = NULL;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT vendor_ca_pem FROM node WHERE id = 1", &stmt) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r < 0)
		goto out;
	t = r ? sqlite3_column_text(stmt, 0) : NULL;
	if (t && !(*out = dup_str((const char *)t)))
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* ---- keys ---- */

int hgs_db_key_insert(struct hl_store *st, enum hgs_key_role role, const char *thumbprint,
		      const char *cert_pem, const char *key_file, int primary, time_t added)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (hl_store_stmt(st, "INSERT INTO node_keys(role, thumbprint, cert_pem, key_file, "
			  "is_primary, enabled, added) VALUES(?, ?, ?, ?, ?, 1, ?)", &stmt) < 0 ||
	    bind_text(st, stmt, 1, hgs_key_role_name(role)) < 0 ||
	    bind_text(st, stmt, 2, thumbprint) < 0 || bind_text(st, stmt, 3, cert_pem) < 0 ||
	    bind_text(st, stmt, 4, key_file) < 0 || bind_int(st, stmt, 5, primary ? 1 : 0) < 0 ||
	    bind_int(st, stmt, 6, added) < 0 || hl_store_step(st, stmt) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	return rc;
}

/* Read the primary enabled key row of a role. */
int hgs_db_key_primary(struct hgs_node *node, enum hgs_key_role role, char **cert_pem,
		       char **key_file)
{
	sqlite3_stmt *stmt = NULL;
	char *c = NULL, *k = NULL;
	int rc = -1, r;

	*cert_pem = NULL;
	*key_file = NULL;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT cert_pem, key_file FROM node_keys "
			  "WHERE role = ? AND is_primary = 1 AND enabled = 1", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, hgs_key_role_name(role)) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		if (r == 0)
			hl_error("the HGS node '%s' has no enabled primary %s key", node->dir,
				 hgs_key_role_name(role));
		goto out;
	}
	if (!(c = dup_str((const char *)sqlite3_column_text(stmt, 0))) ||
	    !(k = dup_str((const char *)sqlite3_column_text(stmt, 1))))
		goto out;
	*cert_pem = c;
	*key_file = k;
	c = k = NULL;
	rc = 0;
out:
	free(c);
	free(k);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* ---- Hgs_* policies ---- */

int hgs_db_policy_seed(struct hl_store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (hl_store_stmt(st, "INSERT OR IGNORE INTO attestation_policies(name, enabled) "
			  "VALUES(?, ?)", &stmt) < 0)
		return -1;
	for (const struct hgs_policy_def *d = hgs_policy_defs; d->name; d++) {
		sqlite3_reset(stmt);
		if (bind_text(st, stmt, 1, d->name) < 0 ||
		    bind_int(st, stmt, 2, d->default_enabled ? 1 : 0) < 0 ||
		    hl_store_step(st, stmt) < 0)
			goto out;
	}
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	return rc;
}

/* Policies of hgs_policy_defs that policy_states() reads at most. */
#define POLICY_STATES_MAX 64

/*
 * The stored state of every policy of hgs_policy_defs, in its order, into
 * STATES (1 enabled, 0 disabled; a policy without a row has its default),
 * read with one statement; *N gets the number of policies.  Lock held.
 */
static int policy_states(struct hgs_node *node, int states[POLICY_STATES_MAX], size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	const struct hgs_policy_def *d;
	size_t count = 0;
	int r, rc = -1;

	for (d = hgs_policy_defs; d->name; d++) {
		assert(count < POLICY_STATES_MAX);
		states[count++] = d->default_enabled != 0;
	}
	if (hl_store_stmt(node->store, "SELECT name, enabled FROM attestation_policies",
			  &stmt) < 0)
		return -1;
	while ((r = hl_store_step(node->store, stmt)) == 1) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);

		if (!name)
			continue;
		for (size_t i = 0; i < count; i++)
			if (strcmp(hgs_policy_defs[i].name, name) == 0)
				states[i] = sqlite3_column_int(stmt, 1) != 0;
	}
	if (r < 0)
		goto out;
	*n = count;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	return rc;
}

/* Enable or disable an Hgs_* policy; locked ones stay enabled. */
int hgs_db_policy_enable(struct hgs_node *node, const char *name, int enabled)
{
	const struct hgs_policy_def *def = hgs_policy_find(name);
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (!def)
		return hl_error("no attestation policy is named '%s'; list them with "
				"`hgslab hgs get-attestation-policy`", name);
	if (def->locked && !enabled)
		return hl_error("policy '%s' is locked and cannot be disabled: HGS requires it of "
				"every guarded host", name);
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "INSERT INTO attestation_policies(name, enabled) "
			  "VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled",
			  &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, def->name) < 0 ||
	    bind_int(node->store, stmt, 2, enabled ? 1 : 0) < 0 ||
	    hl_store_step(node->store, stmt) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* The Hgs_* policies with their states. */
int hgs_db_policy_list(struct hgs_node *node, json_t **out)
{
	json_t *arr = json_array(), *o;
	int rc = -1, states[POLICY_STATES_MAX];
	size_t n;

	*out = NULL;
	if (!arr)
		return hl_error("out of memory");
	hgs_node_lock(node);
	if (policy_states(node, states, &n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct hgs_policy_def *d = &hgs_policy_defs[i];

		o = json_pack("{s:s, s:s, s:b, s:s}", "Name", d->name, "PolicyState",
			      states[i] ? "Enabled" : "Disabled", "Locked", d->locked != 0,
			      "Description", d->description ? d->description : "");
		if (!o || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
		}
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	hgs_node_unlock(node);
	json_decref(arr);
	return rc;
}

/* Names of the enabled Hgs_* policies. */
int hgs_db_policies_enabled(struct hgs_node *node, char ***names, size_t *n)
{
	char **v = NULL;
	size_t count = 0, total = 0;
	int rc = -1, states[POLICY_STATES_MAX];

	*names = NULL;
	*n = 0;
	v = calloc(POLICY_STATES_MAX, sizeof(*v));
	if (!v)
		return hl_error("out of memory");
	hgs_node_lock(node);
	if (policy_states(node, states, &total) < 0)
		goto out;
	for (size_t i = 0; i < total; i++) {
		if (states[i] && !(v[count++] = dup_str(hgs_policy_defs[i].name)))
			goto out;
	}
	*names = v;
	*n = count;
	v = NULL;
	rc = 0;
out:
	hgs_node_unlock(node);
	hgs_strv_free(v, count);
	return rc;
}

/* ---- registrations: listing and removal ---- */

enum col_type { COL_TEXT, COL_INT, COL_BOOL, COL_TIME };

struct reg_col {
	const char *key;      /* JSON key = table header (the cmdlet's property name) */
	const char *expr;     /* SQL expression */
	enum col_type type;
};

#define REG_COLS_MAX 8

struct reg_kind {
	const char *noun;
	const char *table;
	const char *verb;     /* the add verb, for messages */
	struct reg_col cols[REG_COLS_MAX];
};

static const struct reg_kind reg_kinds[HGS_REG_COUNT] = {
	[HGS_REG_TPM_HOST] = { "TPM host", "tpm_hosts", "add-tpm-host", {
		{ "Name", "name", COL_TEXT },
		{ "Host", "host", COL_TEXT },
		{ "EkFingerprint", "ek_fingerprint", COL_TEXT },
		{ "EkCertificateIssuer", "ek_cert_issuer", COL_TEXT },
		{ "Forced", "forced", COL_BOOL },
		{ "Added", "added", COL_TIME },
	} },
	[HGS_REG_TPM_POLICY] = { "TPM policy", "tpm_policies", "add-tpm-policy", {
		{ "Name", "name", COL_TEXT },
		{ "Events", "events", COL_INT },
		{ "Size", "length(tcglog)", COL_INT },
		{ "Sha256", "sha256", COL_TEXT },
		{ "Added", "added", COL_TIME },
	} },
	[HGS_REG_CI_POLICY] = { "CI policy", "ci_policies", "add-ci-policy", {
		{ "Name", "name", COL_TEXT },
		{ "Size", "length(policy)", COL_INT },
		{ "Sha256", "sha256", COL_TEXT },
		{ "Added", "added", COL_TIME },
	} },
	[HGS_REG_HOST_GROUP] = { "host group", "host_groups", "add-host-group", {
		{ "Name", "name", COL_TEXT },
		{ "Sid", "sid", COL_TEXT },
		{ "Added", "added", COL_TIME },
	} },
	[HGS_REG_HOST_KEY] = { "host key", "host_keys", "add-host-key", {
		{ "Name", "name", COL_TEXT },
		{ "KeyType", "key_type", COL_TEXT },
		{ "Fingerprint", "fingerprint", COL_TEXT },
		{ "Added", "added", COL_TIME },
	} },
};

/* The noun of a registration kind, for messages. */
const char *hgs_reg_noun(enum hgs_reg_kind kind)
{
	return (unsigned)kind < HGS_REG_COUNT ? reg_kinds[kind].noun : "registration";
}

/* Column I of STMT as a JSON value of TYPE. */
static json_t *col_json(sqlite3_stmt *stmt, int i, enum col_type type)
{
	char when[32];

	if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
		return json_null();
	switch (type) {
	case COL_INT:
		return json_integer(sqlite3_column_int64(stmt, i));
	case COL_BOOL:
		return json_boolean(sqlite3_column_int(stmt, i) != 0);
	case COL_TIME:
		hgs_time_format((time_t)sqlite3_column_int64(stmt, i), when, sizeof(when));
		return json_string(when);
	case COL_TEXT:
	default:
		return json_string((const char *)sqlite3_column_text(stmt, i));
	}
}

/* 1 when a row of TABLE has COLUMN = VALUE, 0 when none, -1 on error. */
static int row_exists(struct hl_store *st, const char *table, const char *column, const char *value)
{
	sqlite3_stmt *stmt = NULL;
	char sql[160];
	int r;

	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE %s = ?", table, column);
	if (hl_store_stmt(st, sql, &stmt) < 0 || bind_text(st, stmt, 1, value) < 0) {
		hl_store_stmt_done(st, stmt);
		return -1;
	}
	r = hl_store_step(st, stmt);
	hl_store_stmt_done(st, stmt);
	return r;
}

/* List registrations of one kind as the cmdlets show them. */
int hgs_db_reg_list(struct hgs_node *node, enum hgs_reg_kind kind, const char *name, json_t **out)
{
	const struct reg_kind *k;
	sqlite3_stmt *stmt = NULL;
	json_t *arr = NULL, *o, *v;
	char sql[512];
	size_t used;
	int rc = -1, r, ncols = 0;

	*out = NULL;
	if ((unsigned)kind >= HGS_REG_COUNT)
		return hl_error("invalid registration kind %d", (int)kind);
	k = &reg_kinds[kind];
	used = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (; ncols < REG_COLS_MAX && k->cols[ncols].key; ncols++)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s%s", ncols ? ", " : "",
					 k->cols[ncols].expr);
	snprintf(sql + used, sizeof(sql) - used, " FROM %s%s ORDER BY added, name", k->table,
		 name ? " WHERE name = ?" : "");
	if (!(arr = json_array()))
		return hl_error("out of memory");
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, sql, &stmt) < 0 ||
	    (name && bind_text(node->store, stmt, 1, name) < 0))
		goto out;
	while ((r = hl_store_step(node->store, stmt)) == 1) {
		if (!(o = json_object()) || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
		}
		for (int i = 0; i < ncols; i++) {
			v = col_json(stmt, i, k->cols[i].type);
			if (!v || json_object_set_new(o, k->cols[i].key, v) < 0) {
				hl_error("out of memory");
				goto out;
			}
		}
	}
	if (r < 0)
		goto out;
	if (name && json_array_size(arr) == 0) {
		hl_error("no %s is registered as '%s'; list them with `hgslab hgs get-%s`", k->noun,
			 name, k->verb + 4);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	json_decref(arr);
	return rc;
}

/* Remove one registration. */
int hgs_db_reg_remove(struct hgs_node *node, enum hgs_reg_kind kind, const char *name)
{
	const struct reg_kind *k;
	sqlite3_stmt *stmt = NULL;
	char sql[128];
	int rc = -1;

	if ((unsigned)kind >= HGS_REG_COUNT)
		return hl_error("invalid registration kind %d", (int)kind);
	k = &reg_kinds[kind];
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name = ?", k->table);
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, sql, &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, name) < 0 || hl_store_step(node->store, stmt) < 0)
		goto out;
	if (sqlite3_changes(hl_store_db(node->store)) == 0) {
		hl_error("no %s is registered as '%s'; list them with `hgslab hgs get-%s`", k->noun,
			 name, k->verb + 4);
		goto out;
	}
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/*
 * In a transaction on NODE: refuse a NAME already registered in KIND's table,
 * and a unique COLUMN = VALUE already registered (as another name).
 */
static int reg_check_unique(struct hgs_node *node, enum hgs_reg_kind kind, const char *name,
			    const char *column, const char *value, const char *what)
{
	const struct reg_kind *k = &reg_kinds[kind];
	sqlite3_stmt *stmt = NULL;
	char sql[160], other[HGS_NAME_MAX];
	int r;

	r = row_exists(node->store, k->table, "name", name);
	if (r < 0)
		return -1;
	if (r)
		return hl_error("a %s named '%s' is already registered; remove it first with "
				"`hgslab hgs remove-%s --name '%s'` or choose another name", k->noun,
				name, k->verb + 4, name);
	if (!column)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT name FROM %s WHERE %s = ?", k->table, column);
	if (hl_store_stmt(node->store, sql, &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, value) < 0) {
		hl_store_stmt_done(node->store, stmt);
		return -1;
	}
	r = hl_store_step(node->store, stmt);
	if (r == 1)
		col_copy(stmt, 0, other, sizeof(other));
	hl_store_stmt_done(node->store, stmt);
	if (r < 0)
		return -1;
	if (r)
		return hl_error("%s is already registered as %s '%s'", what, k->noun, other);
	return 0;
}

/* Run one INSERT prepared in *STMT, then commit; rolls back on failure. */
static int insert_commit(struct hgs_node *node, sqlite3_stmt *stmt)
{
	if (hl_store_step(node->store, stmt) < 0 || hl_store_commit(node->store) < 0)
		return -1;
	return 0;
}

/* ---- TPM hosts and platform identifiers ---- */

/* Add-HgsAttestationTpmHost. */
int hgs_db_tpm_host_add(struct hgs_node *node, const char *name, const struct hgs_platform_id *id,
			int force)
{
	struct hl_buf ek_der = { 0 }, cert_der = { 0 };
	sqlite3_stmt *stmt = NULL;
	char *bundle = NULL, issuer[256] = "";
	const char *iss = NULL;
	time_t now;
	int rc = -1;

	if (hgs_check_name("TPM host name", name) < 0 || hgs_node_now(node, &now) < 0)
		return -1;
	if (!id->ek_cert && !force)
		return hl_error("the platform identifier of '%s' has no EK certificate; HGS cannot "
				"check that the TPM is genuine: add the host with --force to trust "
				"its EK as given", name);
	if (id->ek_cert && !force) {
		if (hgs_db_vendor_ca_get(node, &bundle) < 0)
			goto out;
		if (!bundle) {
			hl_error("no TPM vendor CA is configured, so the EK certificate of '%s' cannot "
				 "be checked; run `hgslab hgs set-server --tpm-vendor-ca FILE` or add "
				 "the host with --force", name);
			goto out;
		}
		if (hgs_vendor_ca_verify(bundle, id->ek_cert, now) < 0) {
			hl_error_wrap("the EK certificate of '%s' does not chain to the TPM vendor CA "
				      "(add the host with --force to trust its EK anyway)", name);
			goto out;
		}
	}
	if (id->ek_cert) {
		if (hl_cert_to_der(id->ek_cert, &cert_der) < 0)
			goto out;
		if (hl_cert_issuer_cn(id->ek_cert, issuer, sizeof(issuer)) == 0) {
			iss = issuer;
		} else {
			hl_error_clear();
			iss = "(no CN)";
		}
	}
	if (hl_key_pub_to_der(id->ek, &ek_der) < 0)
		goto out;
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto unlock;
	if (reg_check_unique(node, HGS_REG_TPM_HOST, name, "ek_fingerprint", id->ek_fingerprint,
			     "this TPM's EK") < 0 ||
	    hl_store_stmt(node->store, "INSERT INTO tpm_hosts(name, host, ek_fingerprint, "
			  "ek_public, ek_certificate, ek_cert_issuer, forced, identifier, added) "
			  "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, name) < 0 ||
	    bind_text(node->store, stmt, 2, id->host) < 0 ||
	    bind_text(node->store, stmt, 3, id->ek_fingerprint) < 0 ||
	    bind_blob(node->store, stmt, 4, ek_der.data, ek_der.len) < 0 ||
	    bind_blob(node->store, stmt, 5, cert_der.data, cert_der.len) < 0 ||
	    bind_text(node->store, stmt, 6, iss) < 0 ||
	    bind_int(node->store, stmt, 7, force ? 1 : 0) < 0 ||
	    bind_text(node->store, stmt, 8, id->json) < 0 ||
	    bind_int(node->store, stmt, 9, now) < 0 || insert_commit(node, stmt) < 0)
		goto unlock;
	rc = 0;
unlock:
	if (rc < 0)
		hl_store_rollback(node->store);
	hgs_node_unlock(node);
out:
	hl_store_stmt_done(node->store, stmt);
	hl_buf_free(&ek_der);
	hl_buf_free(&cert_der);
	free(bundle);
	return rc;
}

/* Free a TPM host. */
void hgs_tpm_host_free(struct hgs_tpm_host *h)
{
	if (!h)
		return;
	hl_key_free(h->ek);
	hl_cert_free(h->ek_cert);
	free(h->identifier_json);
	free(h);
}

/* The TPM host whose COLUMN = VALUE: 1 found, 0 not, -1 error. */
static int tpm_host_find(struct hgs_node *node, const char *column, const char *value,
			 struct hgs_tpm_host **out)
{
	struct hgs_tpm_host *h = NULL;
	sqlite3_stmt *stmt = NULL;
	const void *blob;
	char sql[192];
	int rc = -1, r;

	*out = NULL;
	snprintf(sql, sizeof(sql), "SELECT name, host, ek_fingerprint, ek_public, ek_certificate, "
		 "forced, identifier FROM tpm_hosts WHERE %s = ?", column);
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, sql, &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, value) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		hl_error("out of memory");
		goto out;
	}
	col_copy(stmt, 0, h->name, sizeof(h->name));
	col_copy(stmt, 1, h->host, sizeof(h->host));
	col_copy(stmt, 2, h->ek_fingerprint, sizeof(h->ek_fingerprint));
	blob = sqlite3_column_blob(stmt, 3);
	if (hl_key_pub_from_der(blob, (size_t)sqlite3_column_bytes(stmt, 3), &h->ek) < 0)
		goto out;
	blob = sqlite3_column_blob(stmt, 4);
	if (blob && hl_cert_from_der(blob, (size_t)sqlite3_column_bytes(stmt, 4), &h->ek_cert) < 0)
		goto out;
	h->forced = sqlite3_column_int(stmt, 5);
	if (!(h->identifier_json = dup_str((const char *)sqlite3_column_text(stmt, 6))))
		goto out;
	*out = h;
	h = NULL;
	rc = 1;
out:
	if (rc < 0 && h)
		hl_error_wrap("the TPM host '%s' in the store is damaged", h->name);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	hgs_tpm_host_free(h);
	return rc;
}

/* Find a TPM host by EK fingerprint. */
int hgs_db_tpm_host_find_ek(struct hgs_node *node, const char *fingerprint,
			    struct hgs_tpm_host **out)
{
	return tpm_host_find(node, "ek_fingerprint", fingerprint, out);
}

/* Find a TPM host by name. */
int hgs_db_tpm_host_find_name(struct hgs_node *node, const char *name, struct hgs_tpm_host **out)
{
	return tpm_host_find(node, "name", name, out);
}

/* ---- TPM policies, CI policies ---- */

/*
 * Insert a named blob into TABLE (tpm_policies with EVENTS >= 0, else
 * ci_policies), refusing duplicate names and duplicate contents.
 */
static int blob_add(struct hgs_node *node, enum hgs_reg_kind kind, const char *name,
		    const void *data, size_t len, long events)
{
	unsigned char digest[HL_SHA256_LEN];
	char hex[HL_SHA256_HEX_SIZE], what[64];
	sqlite3_stmt *stmt = NULL;
	time_t now;
	int rc = -1;

	if (hl_crypto_sha256(data, len, digest) < 0 ||
	    hl_crypto_hex_encode(digest, sizeof(digest), hex, sizeof(hex)) < 0 ||
	    hgs_node_now(node, &now) < 0)
		return -1;
	snprintf(what, sizeof(what), "the same %s",
		 kind == HGS_REG_TPM_POLICY ? "TCG log" : "policy file");
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (reg_check_unique(node, kind, name, "sha256", hex, what) < 0)
		goto out;
	if (kind == HGS_REG_TPM_POLICY) {
		if (hl_store_stmt(node->store, "INSERT INTO tpm_policies(name, sha256, tcglog, "
				  "events, added) VALUES(?, ?, ?, ?, ?)", &stmt) < 0 ||
		    bind_int(node->store, stmt, 4, events) < 0 ||
		    bind_int(node->store, stmt, 5, now) < 0)
			goto out;
	} else if (hl_store_stmt(node->store, "INSERT INTO ci_policies(name, sha256, policy, "
				 "added) VALUES(?, ?, ?, ?)", &stmt) < 0 ||
		   bind_int(node->store, stmt, 4, now) < 0) {
		goto out;
	}
	if (bind_text(node->store, stmt, 1, name) < 0 || bind_text(node->store, stmt, 2, hex) < 0 ||
	    bind_blob(node->store, stmt, 3, data, len) < 0 || insert_commit(node, stmt) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Add-HgsAttestationTpmPolicy. */
int hgs_db_tpm_policy_add(struct hgs_node *node, const char *name, const void *log, size_t len)
{
	struct hl_tcglog *tl = NULL;
	long events;
	int rc = -1;

	if (hgs_check_name("TPM policy name", name) < 0)
		return -1;
	if (len == 0 || len > DB_BLOB_MAX)
		return hl_error("a TCG log must have 1 to %zu bytes, this one has %zu", DB_BLOB_MAX,
				len);
	/* what the policy evaluation needs of a baseline (parses, SHA-256 bank, replays...) */
	if (hgs_policy_check_baseline(name, log, len) < 0)
		goto out;
	if (hl_tcglog_parse(log, len, &tl) < 0) {
		hl_error_wrap("not a TCG event log");
		goto out;
	}
	events = (long)tl->nevents;
	rc = blob_add(node, HGS_REG_TPM_POLICY, name, log, len, events);
out:
	hl_tcglog_free(tl);
	return rc;
}

/* Add-HgsAttestationCIPolicy. */
int hgs_db_ci_policy_add(struct hgs_node *node, const char *name, const void *data, size_t len)
{
	if (hgs_check_name("CI policy name", name) < 0)
		return -1;
	if (len == 0 || len > DB_BLOB_MAX)
		return hl_error("a CI policy must have 1 to %zu bytes, this one has %zu", DB_BLOB_MAX,
				len);
	return blob_add(node, HGS_REG_CI_POLICY, name, data, len, -1);
}

/* ---- host groups ---- */

int hgs_check_sid(const char *sid)
{
	const char *p;
	int parts = 0;

	if (!sid || strncmp(sid, "S-1-", 4) != 0)
		goto bad;
	for (p = sid + 4;;) {
		const char *start = p;
		uintmax_t v = 0;

		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (uintmax_t)(*p - '0');
			if (v > (parts == 0 ? 0xFFFFFFFFFFFFull : 0xFFFFFFFFull) || p - start > 15)
				goto bad;
			p++;
		}
		if (p == start)
			goto bad;
		parts++;
		if (*p == '\0')
			break;
		if (*p != '-')
			goto bad;
		p++;
	}
	if (parts < 2 || parts > 16)
		goto bad;
	return 0;
bad:
	return hl_error("invalid SID '%s': expected the S-1-5-21-... form of a security "
			"identifier, e.g. S-1-5-21-3623811015-3361044348-30300820-1013",
			sid ? sid : "");
}

/* Add-HgsAttestationHostGroup. */
int hgs_db_host_group_add(struct hgs_node *node, const char *name, const char *sid)
{
	sqlite3_stmt *stmt = NULL;
	time_t now;
	int rc = -1;

	if (hgs_check_name("host group name", name) < 0 || hgs_check_sid(sid) < 0 ||
	    hgs_node_now(node, &now) < 0)
		return -1;
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (reg_check_unique(node, HGS_REG_HOST_GROUP, name, "sid", sid, "this SID") < 0 ||
	    hl_store_stmt(node->store, "INSERT INTO host_groups(name, sid, added) "
			  "VALUES(?, ?, ?)", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, name) < 0 || bind_text(node->store, stmt, 2, sid) < 0 ||
	    bind_int(node->store, stmt, 3, now) < 0 || insert_commit(node, stmt) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Find a host group by SID. */
int hgs_db_host_group_find_sid(struct hgs_node *node, const char *sid, char **name)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r;

	*name = NULL;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT name FROM host_groups WHERE sid = ?", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, sid) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	if (!(*name = dup_str((const char *)sqlite3_column_text(stmt, 0))))
		goto out;
	rc = 1;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* ---- host keys ---- */

int hgs_db_host_key_add(struct hgs_node *node, const char *name, EVP_PKEY *key)
{
	struct hl_buf der = { 0 };
	char fp[HL_SHA256_HEX_SIZE];
	sqlite3_stmt *stmt = NULL;
	enum hl_key_type kt;
	time_t now;
	int rc = -1;

	if (hgs_check_name("host key name", name) < 0)
		return -1;
	if (hl_key_type_of(key, &kt) < 0 || hl_key_pub_to_der(key, &der) < 0 ||
	    hl_key_fingerprint(key, fp) < 0 || hgs_node_now(node, &now) < 0)
		goto done;
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (reg_check_unique(node, HGS_REG_HOST_KEY, name, "fingerprint", fp, "this key") < 0 ||
	    hl_store_stmt(node->store, "INSERT INTO host_keys(name, fingerprint, key_type, "
			  "public_key, added) VALUES(?, ?, ?, ?, ?)", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, name) < 0 || bind_text(node->store, stmt, 2, fp) < 0 ||
	    bind_text(node->store, stmt, 3, hl_key_type_name(kt)) < 0 ||
	    bind_blob(node->store, stmt, 4, der.data, der.len) < 0 ||
	    bind_int(node->store, stmt, 5, now) < 0 || insert_commit(node, stmt) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
done:
	hl_buf_free(&der);
	return rc;
}

/* Find a host key by fingerprint. */
int hgs_db_host_key_find(struct hgs_node *node, const char *fingerprint, char **name,
			 EVP_PKEY **key)
{
	sqlite3_stmt *stmt = NULL;
	EVP_PKEY *k = NULL;
	char *n = NULL;
	int rc = -1, r;

	*name = NULL;
	*key = NULL;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT name, public_key FROM host_keys "
			  "WHERE fingerprint = ?", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, fingerprint) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	if (!(n = dup_str((const char *)sqlite3_column_text(stmt, 0))))
		goto out;
	if (hl_key_pub_from_der(sqlite3_column_blob(stmt, 1), (size_t)sqlite3_column_bytes(stmt, 1),
				&k) < 0) {
		hl_error_wrap("the host key '%s' in the store is damaged", n);
		goto out;
	}
	*name = n;
	*key = k;
	n = NULL;
	k = NULL;
	rc = 1;
out:
	free(n);
	hl_key_free(k);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* ---- policy set for the evaluation ---- */

void hgs_policy_set_free(struct hgs_policy_set *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n_blobs; i++)
		free(ps->blobs[i]);
	free(ps->blobs);
	free(ps->baselines);
	free(ps->ci);
	hgs_strv_free(ps->enabled, ps->in.n_enabled);
	free(ps);
}

/* Keep a NUL-terminated malloc'd copy of column I's bytes in PS; the copy, or NULL. */
static void *keep_blob(struct hgs_policy_set *ps, sqlite3_stmt *stmt, int i, size_t *len)
{
	size_t n = (size_t)sqlite3_column_bytes(stmt, i);
	unsigned char *copy = malloc(n + 1);
	void **grown;

	if (!copy)
		return NULL;
	if (n)
		memcpy(copy, sqlite3_column_blob(stmt, i), n);
	copy[n] = '\0';
	grown = realloc(ps->blobs, (ps->n_blobs + 1) * sizeof(*grown));
	if (!grown) {
		free(copy);
		return NULL;
	}
	ps->blobs = grown;
	ps->blobs[ps->n_blobs++] = copy;
	*len = n;
	return copy;
}

/* Load the registered baselines (BASELINES) or CI policies into PS. */
static int load_named_blobs(struct hgs_node *node, struct hgs_policy_set *ps, int baselines)
{
	sqlite3_stmt *stmt = NULL;
	const char *sql = baselines ? "SELECT name, tcglog FROM tpm_policies ORDER BY added, name"
				    : "SELECT name, policy FROM ci_policies ORDER BY added, name";
	int r, rc = -1;

	if (hl_store_stmt(node->store, sql, &stmt) < 0)
		return -1;
	while ((r = hl_store_step(node->store, stmt)) == 1) {
		size_t nlen, blen;
		char *name;
		void *data;

		name = keep_blob(ps, stmt, 0, &nlen);
		data = keep_blob(ps, stmt, 1, &blen);
		if (!name || !data) {
			hl_error("out of memory");
			goto out;
		}
		if (baselines) {
			struct hgs_baseline *g = realloc(ps->baselines,
							 (ps->in.n_baselines + 1) * sizeof(*g));

			if (!g) {
				hl_error("out of memory");
				goto out;
			}
			ps->baselines = g;
			g[ps->in.n_baselines++] = (struct hgs_baseline){ name, data, blen };
		} else {
			struct hgs_ci_policy *g = realloc(ps->ci, (ps->in.n_ci_policies + 1) * sizeof(*g));

			if (!g) {
				hl_error("out of memory");
				goto out;
			}
			ps->ci = g;
			g[ps->in.n_ci_policies++] = (struct hgs_ci_policy){ name, data, blen };
		}
	}
	if (r < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	return rc;
}

/* Read baselines, CI policies and enabled policies in one snapshot. */
int hgs_db_policy_set_load(struct hgs_node *node, struct hgs_policy_set **out)
{
	struct hgs_policy_set *ps = calloc(1, sizeof(*ps));
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if (!ps)
		return hl_error("out of memory");
	hgs_node_lock(node);
	/* one read transaction: a consistent snapshot even while admins change things */
	if (hl_store_read_begin(node->store) < 0)
		goto out;
	if (load_named_blobs(node, ps, 1) < 0 || load_named_blobs(node, ps, 0) < 0 ||
	    hgs_db_policies_enabled(node, &ps->enabled, &n) < 0)
		goto rollback;
	ps->in.n_enabled = n;
	ps->in.enabled = (const char *const *)ps->enabled;
	ps->in.baselines = ps->baselines;
	ps->in.ci_policies = ps->ci;
	if (hl_store_commit(node->store) < 0)
		goto rollback;
	*out = ps;
	ps = NULL;
	rc = 0;
	goto out;
rollback:
	hl_store_rollback(node->store);
out:
	hgs_node_unlock(node);
	hgs_policy_set_free(ps);
	return rc;
}

/* ---- TPM mode: AK pins and activation challenges ---- */

/* Free an AK pin. */
void hgs_tpm_ak_pin_free(struct hgs_tpm_ak_pin *p)
{
	if (!p)
		return;
	hl_buf_free(&p->ak_public);
	free(p);
}

/* Copy LEN bytes of blob column I of STMT into OUT (an owned buffer). */
static int col_blob(sqlite3_stmt *stmt, int i, struct hl_buf *out)
{
	const void *blob = sqlite3_column_blob(stmt, i);
	size_t len = (size_t)sqlite3_column_bytes(stmt, i);

	out->data = NULL;
	out->len = 0;
	if (!(out->data = malloc(len + 1)))
		return hl_error("out of memory");
	if (len)
		memcpy(out->data, blob, len);
	out->data[len] = 0;
	out->len = len;
	return 0;
}

/* The pinned AK of HOST. */
int hgs_db_tpm_ak_pin_get(struct hgs_node *node, const char *host, struct hgs_tpm_ak_pin **out)
{
	struct hgs_tpm_ak_pin *p = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r;

	*out = NULL;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT host, ek_fingerprint, ak_name, ak_public, pinned "
			  "FROM tpm_ak_pins WHERE host = ?", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, host) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		hl_error("out of memory");
		goto out;
	}
	col_copy(stmt, 0, p->host, sizeof(p->host));
	col_copy(stmt, 1, p->ek_fingerprint, sizeof(p->ek_fingerprint));
	col_copy(stmt, 2, p->ak_name, sizeof(p->ak_name));
	if (col_blob(stmt, 3, &p->ak_public) < 0)
		goto out;
	p->pinned = (time_t)sqlite3_column_int64(stmt, 4);
	*out = p;
	p = NULL;
	rc = 1;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	hgs_tpm_ak_pin_free(p);
	return rc;
}

/* Pin an AK to a host unless another one is pinned already. */
int hgs_db_tpm_ak_pin_set(struct hgs_node *node, const struct hgs_tpm_ak_pin *pin)
{
	sqlite3_stmt *stmt = NULL;
	char current[HGS_TPM_NAME_HEX_MAX] = "";
	int rc = -1, r;

	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (hl_store_stmt(node->store, "SELECT ak_name FROM tpm_ak_pins WHERE host = ?",
			  &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, pin->host) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r < 0)
		goto out;
	if (r == 1)
		col_copy(stmt, 0, current, sizeof(current));
	hl_store_stmt_done(node->store, stmt);
	stmt = NULL;
	if (r == 1) {
		hl_store_rollback(node->store);
		rc = strcmp(current, pin->ak_name) == 0 ? 1 : 0;
		goto out;
	}
	if (hl_store_stmt(node->store, "INSERT INTO tpm_ak_pins(host, ek_fingerprint, ak_name, "
			  "ak_public, pinned) VALUES(?, ?, ?, ?, ?)", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, pin->host) < 0 ||
	    bind_text(node->store, stmt, 2, pin->ek_fingerprint) < 0 ||
	    bind_text(node->store, stmt, 3, pin->ak_name) < 0 ||
	    bind_blob(node->store, stmt, 4, pin->ak_public.data, pin->ak_public.len) < 0 ||
	    bind_int(node->store, stmt, 5, (long long)pin->pinned) < 0 ||
	    insert_commit(node, stmt) < 0) {
		hl_error_wrap("cannot pin the attestation key of TPM host '%s'", pin->host);
		goto out;
	}
	rc = 1;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Free a challenge. */
void hgs_tpm_challenge_free(struct hgs_tpm_challenge *c)
{
	if (!c)
		return;
	hl_buf_free(&c->ak_public);
	hl_crypto_cleanse(c->secret_sha256, sizeof(c->secret_sha256));
	free(c);
}

/* Store a pending activation challenge, purging expired ones. */
int hgs_db_tpm_challenge_add(struct hgs_node *node, const struct hgs_tpm_challenge *c, time_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (hl_store_stmt(node->store, "DELETE FROM tpm_challenges WHERE expires < ?",
			  &stmt) < 0 ||
	    bind_int(node->store, stmt, 1, (long long)now) < 0 ||
	    hl_store_step(node->store, stmt) < 0)
		goto out;
	hl_store_stmt_done(node->store, stmt);
	stmt = NULL;
	if (hl_store_stmt(node->store, "INSERT INTO tpm_challenges(id, host, ek_fingerprint, "
			  "ak_name, ak_public, secret_sha256, expires) VALUES(?, ?, ?, ?, ?, ?, ?)",
			  &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, c->id) < 0 ||
	    bind_text(node->store, stmt, 2, c->host) < 0 ||
	    bind_text(node->store, stmt, 3, c->ek_fingerprint) < 0 ||
	    bind_text(node->store, stmt, 4, c->ak_name) < 0 ||
	    bind_blob(node->store, stmt, 5, c->ak_public.data, c->ak_public.len) < 0 ||
	    bind_blob(node->store, stmt, 6, c->secret_sha256, sizeof(c->secret_sha256)) < 0 ||
	    bind_int(node->store, stmt, 7, (long long)c->expires) < 0 ||
	    insert_commit(node, stmt) < 0) {
		hl_error_wrap("cannot store the activation challenge of TPM host '%s'", c->host);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Read and delete challenge ID in one transaction. */
int hgs_db_tpm_challenge_take(struct hgs_node *node, const char *id,
			      struct hgs_tpm_challenge **out)
{
	struct hgs_tpm_challenge *c = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r;

	*out = NULL;
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (hl_store_stmt(node->store, "SELECT id, host, ek_fingerprint, ak_name, ak_public, "
			  "secret_sha256, expires FROM tpm_challenges WHERE id = ?", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, id) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		if (r == 0)
			hl_store_rollback(node->store);
		rc = r;
		goto out;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		hl_error("out of memory");
		goto out;
	}
	col_copy(stmt, 0, c->id, sizeof(c->id));
	col_copy(stmt, 1, c->host, sizeof(c->host));
	col_copy(stmt, 2, c->ek_fingerprint, sizeof(c->ek_fingerprint));
	col_copy(stmt, 3, c->ak_name, sizeof(c->ak_name));
	if (col_blob(stmt, 4, &c->ak_public) < 0)
		goto out;
	if ((size_t)sqlite3_column_bytes(stmt, 5) != sizeof(c->secret_sha256)) {
		hl_error("the activation challenge '%s' in the store is damaged", id);
		goto out;
	}
	memcpy(c->secret_sha256, sqlite3_column_blob(stmt, 5), sizeof(c->secret_sha256));
	c->expires = (time_t)sqlite3_column_int64(stmt, 6);
	hl_store_stmt_done(node->store, stmt);
	stmt = NULL;
	if (hl_store_stmt(node->store, "DELETE FROM tpm_challenges WHERE id = ?", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, id) < 0 || hl_store_step(node->store, stmt) < 0 ||
	    hl_store_commit(node->store) < 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 1;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	hgs_tpm_challenge_free(c);
	return rc;
}

/* ---- Key Protection Service certificates (hgs/kps.h) ---- */

/* 1 when ROLE is one of the KPS roles. */
static int kps_role(enum hgs_key_role role)
{
	return role == HGS_KEY_KPS_SIGNING || role == HGS_KEY_KPS_ENCRYPTION;
}

/* Free one KPS certificate row. */
void hgs_kps_cert_free(struct hgs_kps_cert *c)
{
	if (!c)
		return;
	free(c->cert_pem);
	free(c->key_file);
	free(c);
}

/* Free an array of N rows. */
void hgs_kps_certs_free(struct hgs_kps_cert **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		hgs_kps_cert_free(v[i]);
	free(v);
}

#define KPS_CERT_COLS "role, thumbprint, cert_pem, key_file, is_primary, enabled, added"
#define KPS_ROLES "role IN ('kps-signing', 'kps-encryption')"

/* Build a row from the KPS_CERT_COLS columns of STMT. */
static int kps_cert_row(sqlite3_stmt *stmt, struct hgs_kps_cert **out)
{
	struct hgs_kps_cert *c = calloc(1, sizeof(*c));
	const char *role = (const char *)sqlite3_column_text(stmt, 0);

	*out = NULL;
	if (!c)
		return hl_error("out of memory");
	c->role = role && strcmp(role, "kps-signing") == 0 ? HGS_KEY_KPS_SIGNING
							   : HGS_KEY_KPS_ENCRYPTION;
	col_copy(stmt, 1, c->thumbprint, sizeof(c->thumbprint));
	if (!(c->cert_pem = dup_str((const char *)sqlite3_column_text(stmt, 2))) ||
	    !(c->key_file = dup_str((const char *)sqlite3_column_text(stmt, 3)))) {
		hgs_kps_cert_free(c);
		return -1;
	}
	c->primary = sqlite3_column_int(stmt, 4) != 0;
	c->enabled = sqlite3_column_int(stmt, 5) != 0;
	c->added = (time_t)sqlite3_column_int64(stmt, 6);
	*out = c;
	return 0;
}

/* Uppercase copy of hex TEXT into OUT (HL_SHA256_HEX_SIZE); -1 when not 1..64 hex digits. */
static int kps_thumb_norm(const char *text, char out[HL_SHA256_HEX_SIZE])
{
	size_t n = text ? strlen(text) : 0;

	if (n == 0 || n > 2 * HL_SHA256_LEN)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)text[i]))
			return -1;
		out[i] = (char)toupper((unsigned char)text[i]);
	}
	out[n] = '\0';
	return 0;
}

/* Read the KPS certificate THUMBPRINT. */
int hgs_db_kps_cert_get(struct hgs_node *node, const char *thumbprint, struct hgs_kps_cert **out)
{
	char thumb[HL_SHA256_HEX_SIZE];
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r;

	*out = NULL;
	if (kps_thumb_norm(thumbprint, thumb) < 0 || strlen(thumb) != 2 * HL_SHA256_LEN)
		return 0;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT " KPS_CERT_COLS " FROM node_keys "
			  "WHERE thumbprint = ? AND " KPS_ROLES, &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, thumb) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	if (kps_cert_row(stmt, out) < 0)
		goto out;
	rc = 1;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* The one KPS certificate whose thumbprint starts with PREFIX. */
int hgs_db_kps_cert_resolve(struct hgs_node *node, const char *prefix,
			    char out[HL_SHA256_HEX_SIZE])
{
	char want[HL_SHA256_HEX_SIZE];
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r, found = 0;

	out[0] = '\0';
	if (kps_thumb_norm(prefix, want) < 0 || strlen(want) < HGS_KPS_THUMBPRINT_PREFIX_MIN)
		return hl_error("invalid thumbprint '%s': give the certificate's SHA-256 thumbprint "
				"in hex (at least its first %d digits), as `hgslab hgs "
				"get-key-protection-certificate` shows it", prefix ? prefix : "",
				HGS_KPS_THUMBPRINT_PREFIX_MIN);
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT thumbprint FROM node_keys WHERE " KPS_ROLES
			  " AND substr(thumbprint, 1, ?) = ?", &stmt) < 0 ||
	    bind_int(node->store, stmt, 1, (long long)strlen(want)) < 0 ||
	    bind_text(node->store, stmt, 2, want) < 0)
		goto out;
	while ((r = hl_store_step(node->store, stmt)) == 1) {
		if (found++) {
			hl_error("thumbprint '%s' is ambiguous: several key protection certificates "
				 "start with it; give more digits", prefix);
			goto out;
		}
		col_copy(stmt, 0, out, HL_SHA256_HEX_SIZE);
	}
	if (r < 0)
		goto out;
	if (!found) {
		hl_error("no key protection certificate has thumbprint '%s'; list them with "
			 "`hgslab hgs get-key-protection-certificate`", prefix);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		out[0] = '\0';
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Every KPS certificate: signing first, then encryption, each oldest first. */
int hgs_db_kps_cert_list(struct hgs_node *node, struct hgs_kps_cert ***out, size_t *n)
{
	struct hgs_kps_cert **v = NULL, **grown, *c = NULL;
	sqlite3_stmt *stmt = NULL;
	size_t count = 0;
	int rc = -1, r;

	*out = NULL;
	*n = 0;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT " KPS_CERT_COLS " FROM node_keys WHERE "
			  KPS_ROLES " ORDER BY role DESC, added, id", &stmt) < 0)
		goto out;
	while ((r = hl_store_step(node->store, stmt)) == 1) {
		if (kps_cert_row(stmt, &c) < 0)
			goto out;
		if (!(grown = realloc(v, (count + 1) * sizeof(*v)))) {
			hgs_kps_cert_free(c);
			hl_error("out of memory");
			goto out;
		}
		v = grown;
		v[count++] = c;
	}
	if (r < 0)
		goto out;
	*out = v;
	*n = count;
	v = NULL;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	hgs_kps_certs_free(v, count);
	return rc;
}

/* Clear the primary flag of ROLE's certificates (inside the caller's transaction). */
static int kps_clear_primary(struct hgs_node *node, enum hgs_key_role role)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (hl_store_stmt(node->store, "UPDATE node_keys SET is_primary = 0 WHERE role = ?",
			  &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, hgs_key_role_name(role)) < 0 ||
	    hl_store_step(node->store, stmt) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	return rc;
}

/* Add a KPS certificate row, making it the primary of its role when PRIMARY. */
int hgs_db_kps_cert_add(struct hgs_node *node, enum hgs_key_role role, const char *thumbprint,
			const char *cert_pem, const char *key_file, int primary, time_t added)
{
	int rc = -1, r;

	if (!kps_role(role))
		return hl_error("invalid key protection certificate role %d", (int)role);
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	r = row_exists(node->store, "node_keys", "thumbprint", thumbprint);
	if (r < 0)
		goto out;
	if (r) {
		hl_error("the certificate with thumbprint %s is already one of this HGS's keys; "
			 "list them with `hgslab hgs get-key-protection-certificate`", thumbprint);
		goto out;
	}
	if ((primary && kps_clear_primary(node, role) < 0) ||
	    hgs_db_key_insert(node->store, role, thumbprint, cert_pem, key_file, primary,
			      added) < 0 ||
	    hl_store_commit(node->store) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hgs_node_unlock(node);
	return rc;
}

/* "signing" or "encryption" for messages. */
static const char *kps_noun(enum hgs_key_role role)
{
	return role == HGS_KEY_KPS_SIGNING ? "signing" : "encryption";
}

/* Make THUMBPRINT primary, or enable / disable it. */
int hgs_db_kps_cert_change(struct hgs_node *node, const char *thumbprint,
			   enum hgs_kps_cert_change change)
{
	struct hgs_kps_cert *c = NULL;
	sqlite3_stmt *stmt = NULL;
	const char *sql;
	int rc = -1, r;

	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	r = hgs_db_kps_cert_get(node, thumbprint, &c);
	if (r <= 0) {
		if (r == 0)
			hl_error("no key protection certificate has thumbprint '%s'; list them with "
				 "`hgslab hgs get-key-protection-certificate`", thumbprint);
		goto out;
	}
	switch (change) {
	case HGS_KPS_CERT_SET_PRIMARY:
		if (!c->enabled) {
			hl_error("the %s certificate %s is disabled, and a primary certificate must "
				 "be enabled; enable it first with `hgslab hgs "
				 "set-key-protection-certificate --thumbprint %s --enable`",
				 kps_noun(c->role), c->thumbprint, c->thumbprint);
			goto out;
		}
		if (kps_clear_primary(node, c->role) < 0)
			goto out;
		sql = "UPDATE node_keys SET is_primary = 1 WHERE thumbprint = ?";
		break;
	case HGS_KPS_CERT_ENABLE:
		sql = "UPDATE node_keys SET enabled = 1 WHERE thumbprint = ?";
		break;
	case HGS_KPS_CERT_DISABLE:
		if (c->primary) {
			hl_error("cannot disable the %s certificate %s: it is the primary one, which "
				 "the guardian metadata hands out; make another %s certificate primary "
				 "first (`hgslab hgs set-key-protection-certificate --thumbprint T "
				 "--primary`)", kps_noun(c->role), c->thumbprint, kps_noun(c->role));
			goto out;
		}
		sql = "UPDATE node_keys SET enabled = 0 WHERE thumbprint = ?";
		break;
	default:
		hl_error("invalid key protection certificate change %d", (int)change);
		goto out;
	}
	if (hl_store_stmt(node->store, sql, &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, c->thumbprint) < 0 ||
	    hl_store_step(node->store, stmt) < 0 || hl_store_commit(node->store) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	hgs_kps_cert_free(c);
	return rc;
}

/* Remove a KPS certificate that is not primary; *KEY_FILE gets its key file. */
int hgs_db_kps_cert_remove(struct hgs_node *node, const char *thumbprint, char **key_file)
{
	struct hgs_kps_cert *c = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r;

	*key_file = NULL;
	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	r = hgs_db_kps_cert_get(node, thumbprint, &c);
	if (r <= 0) {
		if (r == 0)
			hl_error("no key protection certificate has thumbprint '%s'; list them with "
				 "`hgslab hgs get-key-protection-certificate`", thumbprint);
		goto out;
	}
	if (c->primary) {
		hl_error("cannot remove the %s certificate %s: it is the primary one; make another "
			 "%s certificate primary first (`hgslab hgs set-key-protection-certificate "
			 "--thumbprint T --primary`)", kps_noun(c->role), c->thumbprint,
			 kps_noun(c->role));
		goto out;
	}
	if (hl_store_stmt(node->store, "DELETE FROM node_keys WHERE thumbprint = ?", &stmt) < 0 ||
	    bind_text(node->store, stmt, 1, c->thumbprint) < 0 ||
	    hl_store_step(node->store, stmt) < 0 || hl_store_commit(node->store) < 0)
		goto out;
	*key_file = c->key_file;
	c->key_file = NULL;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(node->store);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	hgs_kps_cert_free(c);
	return rc;
}

/* ---- Key Protection Service: health certificate cut-off and log ---- */

/* Read the cut-off of Set-HgsKeyProtectionAttestationSignerCertificatePolicy. */
int hgs_db_kps_cutoff_get(struct hgs_node *node, int *set, time_t *cutoff)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1, r;

	*set = 0;
	*cutoff = 0;
	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "SELECT deny_issued_before FROM kps_policy WHERE id = 1",
			  &stmt) < 0)
		goto out;
	r = hl_store_step(node->store, stmt);
	if (r < 0)
		goto out;
	if (r == 1 && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
		*set = 1;
		*cutoff = (time_t)sqlite3_column_int64(stmt, 0);
	}
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Set (SET) or clear the cut-off. */
int hgs_db_kps_cutoff_set(struct hgs_node *node, int set, time_t cutoff)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	hgs_node_lock(node);
	if (hl_store_stmt(node->store, "INSERT INTO kps_policy(id, deny_issued_before) "
			  "VALUES(1, ?) ON CONFLICT(id) DO UPDATE SET "
			  "deny_issued_before = excluded.deny_issued_before", &stmt) < 0 ||
	    (set ? bind_int(node->store, stmt, 1, (long long)cutoff)
		 : bind_text(node->store, stmt, 1, NULL)) < 0 ||
	    hl_store_step(node->store, stmt) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Append one entry to the key protection log. */
int hgs_db_kps_log_add(struct hgs_node *node, const struct hgs_kps_log_entry *e)
{
	struct hl_store *st = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	/* an audit record (node.h, Durability) */
	if (hgs_node_log_store(node, &st) < 0)
		return hl_error_wrap("cannot record a key release in the key protection log");
	if (hl_store_stmt(st, "INSERT INTO key_protection_log(time, host, key_protector, owner, "
			  "result, reason, message, http_status, remote, healthcert, "
			  "encryption_cert) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt) < 0 ||
	    bind_int(st, stmt, 1, (long long)e->time) < 0 || bind_text(st, stmt, 2, e->host) < 0 ||
	    bind_text(st, stmt, 3, e->key_protector) < 0 || bind_text(st, stmt, 4, e->owner) < 0 ||
	    bind_text(st, stmt, 5, e->result ? e->result : "") < 0 ||
	    bind_text(st, stmt, 6, e->reason ? e->reason : "") < 0 ||
	    bind_text(st, stmt, 7, e->message ? e->message : "") < 0 ||
	    bind_int(st, stmt, 8, e->http_status) < 0 || bind_text(st, stmt, 9, e->remote) < 0 ||
	    bind_text(st, stmt, 10, e->health_certificate) < 0 ||
	    bind_text(st, stmt, 11, e->encryption_certificate) < 0 ||
	    hl_store_step(st, stmt) < 0) {
		hl_error_wrap("cannot record a key release in the key protection log");
		goto out;
	}
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	hgs_node_log_release(node);
	return rc;
}

/* The key protection log as JSON, oldest first. */
int hgs_db_kps_log_list(struct hgs_node *node, const char *host, long last, json_t **out)
{
	static const struct { const char *key; enum col_type type; } cols[] = {
		{ "Time", COL_TIME }, { "Host", COL_TEXT }, { "KeyProtector", COL_TEXT },
		{ "Owner", COL_TEXT }, { "Result", COL_TEXT }, { "Reason", COL_TEXT },
		{ "Message", COL_TEXT }, { "HttpStatus", COL_INT }, { "Remote", COL_TEXT },
		{ "HealthCertificate", COL_TEXT }, { "EncryptionCertificate", COL_TEXT },
	};
	struct hl_store *st = node->store;
	sqlite3_stmt *stmt = NULL;
	json_t *arr = json_array(), *o, *v;
	int rc = -1, r;

	*out = NULL;
	if (!arr)
		return hl_error("out of memory");
	hgs_node_lock(node);
	/* the LAST most recent, shown oldest first */
	if (hl_store_stmt(st, "SELECT time, host, key_protector, owner, result, reason, message, "
			  "http_status, remote, healthcert, encryption_cert FROM "
			  "(SELECT * FROM key_protection_log WHERE ?1 IS NULL OR host = ?1 "
			  "ORDER BY id DESC LIMIT ?2) ORDER BY id", &stmt) < 0 ||
	    bind_text(st, stmt, 1, host) < 0 || bind_int(st, stmt, 2, last > 0 ? last : -1) < 0)
		goto out;
	while ((r = hl_store_step(st, stmt)) == 1) {
		if (!(o = json_object()) || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
		}
		for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
			v = col_json(stmt, i, cols[i].type);
			if (!v || json_object_set_new(o, cols[i].key, v) < 0) {
				hl_error("out of memory");
				goto out;
			}
		}
	}
	if (r < 0)
		goto out;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	hgs_node_unlock(node);
	json_decref(arr);
	return rc;
}
