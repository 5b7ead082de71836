/*
 * db.c - the HGS node's store (db.h): the schema as lib/store migrations and
 * every SQL statement of the node: the data access behind the admin verbs
 * (Set-HgsServer, the Add/Get/Remove-HgsAttestation* cmdlets, the Hgs_*
 * policy states, the KPS certificates), the lookups the attestation modes
 * and KPS make, and the two audit logs.  Every function takes the node lock
 * and runs its writes in one transaction (tx_begin / tx_end), so concurrent
 * threads of `hgs serve` and concurrent admin processes or other nodes
 * (SQLite WAL, or one PostgreSQL database) never see half a change.  The
 * SQL is lib/store's portable subset (store.h), the same on both stores.  Each statement is bound and read with lib/store's
 * value lists (HL_VALS); listings to JSON are driven by column tables
 * (struct json_col).
 */
#include "hgs/db.h"

#include <assert.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hgs/db_cluster.h"
#include "hgs/tpm_verify.h"
#include "lib/labclock.h"
#include "lib/served.h"
#include "proto/names.h"
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
	/* 7: each exchange's trace (hgs/trace.h): what was sent and checked, for the diagrams */
	"ALTER TABLE attestation_log ADD COLUMN trace TEXT;"
	"ALTER TABLE key_protection_log ADD COLUMN trace TEXT;",
	/* 8: cluster: nodes, used nonces */
	"CREATE TABLE cluster_nodes("
	"  name TEXT PRIMARY KEY,"
	"  address TEXT NOT NULL DEFAULT '',"
	"  pid INTEGER NOT NULL DEFAULT 0,"
	"  started INTEGER NOT NULL DEFAULT 0,"
	"  last_seen INTEGER NOT NULL DEFAULT 0,"
	"  added INTEGER NOT NULL);"
	"CREATE TABLE cluster_secrets("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  nonce_key BLOB NOT NULL);"
	"CREATE TABLE used_nonces("
	"  nonce BLOB PRIMARY KEY,"
	"  expires INTEGER NOT NULL);"
	"CREATE INDEX used_nonces_expires ON used_nonces(expires);",
	/* 9: key protection configuration: key material caching */
	"CREATE TABLE key_protection_config("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  allow_key_material_caching INTEGER NOT NULL DEFAULT 0"
	"    CHECK (allow_key_material_caching IN (0, 1)),"
	"  epoch INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO key_protection_config(id) VALUES(1);",
	/* 10: the AD-mode trusted domains, shared by the nodes (hgs/db_trust.h; were files) */
	"CREATE TABLE trusted_domains("
	"  domain TEXT PRIMARY KEY,"
	"  doc TEXT NOT NULL);",
	/*
	 * 11: used_nonces, one B-tree written per attestation instead of three:
	 * keyed by the nonce alone (SQLite: WITHOUT ROWID, which PostgreSQL's
	 * translation drops), and no index on expires (the purge, every 30 s,
	 * scans the nonces of the last 5 minutes)
	 */
	"CREATE TABLE used_nonces_11("
	"  nonce BLOB PRIMARY KEY,"
	"  expires INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO used_nonces_11(nonce, expires) SELECT nonce, expires FROM used_nonces;"
	"DROP TABLE used_nonces;"
	"ALTER TABLE used_nonces_11 RENAME TO used_nonces;",
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

/* ---- how the accessors below run their statements ---- */

/*
 * Run SQL with VALS (lib/store.h) under NODE's lock, reading the first row
 * into the OUT values: 1 read, 0 no row (always for a write), -1 error.
 */
static int node_sql(struct hgs_node *node, const char *sql, const struct hl_store_val *vals,
		    size_t n)
{
	int r;

	hgs_node_lock(node);
	r = hl_store_get(node->store, sql, vals, n);
	hgs_node_unlock(node);
	return r;
}

/* The store's data version (lib/store.h) of NODE's connection into *OUT (node lock held). */
static int data_version(struct hgs_node *node, long long *out)
{
	return hgs_node_data_version(node, out);
}

/*
 * Take NODE's lock and start a write transaction; on failure the lock is
 * released.  Counts as a change of this handle's (changes_gen, db.h) and,
 * at its commit, of every other connection's data version.
 */
static int tx_begin(struct hgs_node *node)
{
	hgs_node_lock(node);
	node->changes_gen++;
	if (hl_store_begin(node->store) == 0) {
		if (hl_store_mark_changed(node->store) == 0)
			return 0;
		hl_store_rollback(node->store);
	}
	hgs_node_unlock(node);
	return -1;
}

/*
 * End tx_begin()'s transaction: commit when RC >= 0, else roll back (the
 * error message stays); release the lock.  RC, or -1 when the commit fails.
 */
static int tx_end(struct hgs_node *node, int rc)
{
	if (rc >= 0 && hl_store_commit(node->store) < 0)
		rc = -1;
	if (rc < 0)
		hl_store_rollback(node->store);
	hgs_node_unlock(node);
	return rc;
}

/* Run the write SQL with VALS in a transaction of its own (tx_begin): 0, or -1. */
static int node_write(struct hgs_node *node, const char *sql, const struct hl_store_val *vals,
		      size_t n)
{
	if (tx_begin(node) < 0)
		return -1;
	return tx_end(node, hl_store_run(node->store, sql, vals, n));
}

/* How a listed column is shown in JSON. */
enum col_type { COL_TEXT, COL_INT, COL_BOOL, COL_TIME, COL_SUBSTATUS, COL_JSON };

/* One column of a listing: its JSON key (the cmdlet's property name), SQL expression, type. */
struct json_col {
	const char *key;
	const char *expr;
	enum col_type type;
};

/* The sub-status bits as a JSON array of names. */
static json_t *substatus_json(uint32_t bits)
{
	json_t *arr = json_array();

	for (int i = 0; arr && i < HGS_SUB_COUNT; i++)
		if (bits & (1u << i))
			json_array_append_new(arr, json_string(hgs_substatus_name(1u << i)));
	return arr;
}

/* Columns a listing may have. */
#define LIST_COLS_MAX 16

/* What a listing reads of one column: a number (NUM, PRESENT) or text (TEXT, NULL for NULL). */
struct col_value {
	long long num;
	int present;
	char *text;
};

/* The OUT value that reads a column of TYPE into V. */
static struct hl_store_val col_out(enum col_type type, struct col_value *v)
{
	if (type == COL_TEXT || type == COL_JSON)
		return (struct hl_store_val)HL_OUT_STR(&v->text);
	return (struct hl_store_val)HL_OUT_INT64_OPT(&v->num, &v->present);
}

/* A column read with col_out() as a JSON value of TYPE (null for SQL NULL). */
static json_t *col_json(const struct col_value *v, enum col_type type)
{
	char when[32];

	if (type == COL_TEXT || type == COL_JSON) {
		json_t *j;

		if (!v->text)
			return json_null();
		if (type == COL_TEXT)
			return json_string(v->text);
		/* written by this node only (a trace); a damaged one shows as null */
		j = json_loads(v->text, 0, NULL);
		return j ? j : json_null();
	}
	if (!v->present)
		return json_null();
	switch (type) {
	case COL_BOOL:
		return json_boolean(v->num != 0);
	case COL_TIME:
		hl_labclock_format((time_t)v->num, when, sizeof(when));
		return json_string(when);
	case COL_SUBSTATUS:
		return substatus_json((uint32_t)v->num);
	case COL_INT:
	default:
		return json_integer(v->num);
	}
}

/*
 * Under NODE's lock, the rows of "SELECT <the exprs of COLS> FROM_SQL" run
 * with VALS into *OUT: a new JSON array of one object per row, keyed by COLS.
 */
static int list_json(struct hgs_node *node, const struct json_col *cols, size_t ncols,
		     const char *from_sql, const struct hl_store_val *vals, size_t n, json_t **out)
{
	struct hl_store_stmt *stmt = NULL;
	struct hl_store_val outs[LIST_COLS_MAX];
	struct col_value got[LIST_COLS_MAX] = { 0 };
	json_t *arr = NULL, *o, *v;
	char sql[768];
	size_t used = 0;
	int r, rc = -1;

	*out = NULL;
	assert(ncols <= LIST_COLS_MAX);
	for (size_t i = 0; i < ncols; i++)
		outs[i] = col_out(cols[i].type, &got[i]);
	for (size_t i = 0; i < ncols; i++)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s%s", i ? ", " : "SELECT ",
					 cols[i].expr);
	snprintf(sql + used, sizeof(sql) - used, " %s", from_sql);
	if (!(arr = json_array()))
		return hl_error("out of memory");
	hgs_node_lock(node);
	if (hl_store_query(node->store, sql, vals, n, &stmt) < 0)
		goto out;
	while ((r = hl_store_next(node->store, stmt, outs, ncols)) == 1) {
		if (!(o = json_object()) || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
		}
		for (size_t i = 0; i < ncols; i++) {
			v = col_json(&got[i], cols[i].type);
			free(got[i].text);
			got[i].text = NULL;
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
	for (size_t i = 0; i < ncols; i++)
		free(got[i].text);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	json_decref(arr);
	return rc;
}

/* ---- node row ---- */

int hgs_db_node_insert(struct hl_store *st, const struct hgs_config *cfg, const char *vendor_ca_pem)
{
	char listen[32];

	snprintf(listen, sizeof(listen), "%s:%u", cfg->listen_addr, cfg->listen_port);
	if (hl_store_begin(st) < 0)
		return -1;
	if (hl_store_run(st, "INSERT INTO node(id, name, domain, trust, listen, "
			 "healthcert_validity_h, vendor_ca_pem, created) "
			 "VALUES(1, ?, ?, ?, ?, ?, ?, ?)",
			 HL_VALS(HL_IN_TEXT(cfg->name), HL_IN_TEXT(cfg->domain),
				 HL_IN_TEXT(hgs_mode_name(cfg->trust)), HL_IN_TEXT(listen),
				 HL_IN_INT(cfg->healthcert_validity_h), HL_IN_TEXT(vendor_ca_pem),
				 HL_IN_INT(cfg->created))) < 0 ||
	    hgs_db_policy_seed(st) < 0 || hl_store_commit(st) < 0) {
		hl_store_rollback(st);
		return -1;
	}
	return 0;
}

/* Read the node row. */
int hgs_db_config_read(struct hl_store *st, struct hgs_config *out)
{
	char trust[16], listen[32];
	int r;

	memset(out, 0, sizeof(*out));
	r = hl_store_get(st, "SELECT name, domain, trust, listen, healthcert_validity_h, "
			 "vendor_ca_pem IS NOT NULL, created FROM node WHERE id = 1",
			 HL_VALS(HL_OUT_TEXT(out->name, sizeof(out->name)),
				 HL_OUT_TEXT(out->domain, sizeof(out->domain)),
				 HL_OUT_TEXT(trust, sizeof(trust)), HL_OUT_TEXT(listen, sizeof(listen)),
				 HL_OUT_INT(&out->healthcert_validity_h),
				 HL_OUT_INT(&out->has_vendor_ca), HL_OUT_TIME(&out->created)));
	if (r == 0)
		return hl_error("store '%s' has no node configuration; the node directory is "
				"damaged: re-create it with `hgs init --force`", hl_store_path(st));
	if (r < 0)
		return -1;
	if (hgs_mode_parse(trust, &out->trust) < 0 ||
	    hl_served_parse_listen(listen, out->listen_addr, &out->listen_port) < 0)
		return hl_error_wrap("store '%s' holds a damaged node configuration",
				     hl_store_path(st));
	return 0;
}

/*
 * The node row under the node lock: the kept copy while the data version
 * and this handle's changes_gen say nothing changed (db.h), else read and
 * kept.  The version is read before the row, so a commit in between only
 * makes the next call read again.
 */
int hgs_db_config_get(struct hgs_node *node, struct hgs_config *out)
{
	long long version;
	int rc = -1;

	hgs_node_lock(node);
	if (data_version(node, &version) < 0)
		goto out;
	if (node->config_kept && node->config_version == version &&
	    node->config_gen == node->changes_gen) {
		*out = node->config_now;
		rc = 0;
		goto out;
	}
	if (hgs_db_config_read(node->store, out) < 0)
		goto out;
	node->config_now = *out;
	node->config_version = version;
	node->config_gen = node->changes_gen;
	node->config_kept = 1;
	rc = 0;
out:
	hgs_node_unlock(node);
	return rc;
}

/* Set the trust mode. */
int hgs_db_set_trust(struct hgs_node *node, enum hgs_mode mode)
{
	if (!hgs_mode_name(mode))
		return hl_error("invalid trust mode %d", (int)mode);
	return node_write(node, "UPDATE node SET trust = ? WHERE id = 1",
			  HL_VALS(HL_IN_TEXT(hgs_mode_name(mode))));
}

/* Set the health certificate validity. */
int hgs_db_set_validity(struct hgs_node *node, int hours)
{
	if (hours < 1 || hours > HGS_HEALTHCERT_VALIDITY_H_MAX)
		return hl_error("invalid health certificate validity %d hours: use 1 to %d", hours,
				HGS_HEALTHCERT_VALIDITY_H_MAX);
	return node_write(node, "UPDATE node SET healthcert_validity_h = ? WHERE id = 1",
			  HL_VALS(HL_IN_INT(hours)));
}

/* Set the TPM vendor CA bundle after checking it. */
int hgs_db_set_vendor_ca(struct hgs_node *node, const char *pem)
{
	if (hgs_vendor_ca_check(pem) < 0)
		return hl_error_wrap("invalid TPM vendor CA");
	return node_write(node, "UPDATE node SET vendor_ca_pem = ? WHERE id = 1",
			  HL_VALS(HL_IN_TEXT(pem)));
}

/* Read the TPM vendor CA bundle. */
int hgs_db_vendor_ca_get(struct hgs_node *node, char **out)
{
	*out = NULL;
	return node_sql(node, "SELECT vendor_ca_pem FROM node WHERE id = 1",
			HL_VALS(HL_OUT_STR(out))) < 0 ? -1 : 0;
}

/* ---- keys ---- */

int hgs_db_key_insert(struct hl_store *st, enum hgs_key_role role, const char *thumbprint,
		      const char *cert_pem, const char *key_file, int primary, time_t added)
{
	return hl_store_run(st, "INSERT INTO node_keys(role, thumbprint, cert_pem, key_file, "
			    "is_primary, enabled, added) VALUES(?, ?, ?, ?, ?, 1, ?)",
			    HL_VALS(HL_IN_TEXT(hgs_key_role_name(role)), HL_IN_TEXT(thumbprint),
				    HL_IN_TEXT(cert_pem), HL_IN_TEXT(key_file),
				    HL_IN_INT(primary ? 1 : 0), HL_IN_INT(added)));
}

/* Read the primary enabled key row of a role. */
int hgs_db_key_primary(struct hgs_node *node, enum hgs_key_role role, char **cert_pem,
		       char **key_file)
{
	int r;

	*cert_pem = NULL;
	*key_file = NULL;
	r = node_sql(node, "SELECT cert_pem, key_file FROM node_keys "
		     "WHERE role = ? AND is_primary = 1 AND enabled = 1",
		     HL_VALS(HL_IN_TEXT(hgs_key_role_name(role)), HL_OUT_STR(cert_pem),
			     HL_OUT_STR(key_file)));
	if (r == 0)
		return hl_error("the HGS node '%s' has no enabled primary %s key", node->dir,
				hgs_key_role_name(role));
	return r < 0 ? -1 : 0;
}

/* ---- Hgs_* policies ---- */

int hgs_db_policy_seed(struct hl_store *st)
{
	for (const struct hgs_policy_def *d = hgs_policy_defs; d->name; d++)
		if (hl_store_run(st, "INSERT INTO attestation_policies(name, enabled) "
				 "VALUES(?, ?) ON CONFLICT(name) DO NOTHING", HL_VALS(HL_IN_TEXT(d->name),
							 HL_IN_INT(d->default_enabled ? 1 : 0))) < 0)
			return -1;
	return 0;
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
	struct hl_store_stmt *stmt = NULL;
	const struct hgs_policy_def *d;
	char name[HL_NAME_REG_SIZE];
	size_t count = 0;
	int r, enabled;

	for (d = hgs_policy_defs; d->name; d++) {
		assert(count < POLICY_STATES_MAX);
		states[count++] = d->default_enabled != 0;
	}
	if (hl_store_query(node->store, "SELECT name, enabled FROM attestation_policies", NULL, 0,
			   &stmt) < 0)
		return -1;
	while ((r = hl_store_next(node->store, stmt, HL_VALS(HL_OUT_TEXT(name, sizeof(name)),
							      HL_OUT_INT(&enabled)))) == 1)
		for (size_t i = 0; i < count; i++)
			if (strcmp(hgs_policy_defs[i].name, name) == 0) {
				states[i] = enabled != 0;
				break;
			}
	hl_store_stmt_done(node->store, stmt);
	if (r < 0)
		return -1;
	*n = count;
	return 0;
}

/* Enable or disable an Hgs_* policy; locked ones stay enabled. */
int hgs_db_policy_enable(struct hgs_node *node, const char *name, int enabled)
{
	const struct hgs_policy_def *def = hgs_policy_find(name);

	if (!def)
		return hl_error("no attestation policy is named '%s'; list them with "
				"`hgslab hgs get-attestation-policy`", name);
	if (def->locked && !enabled)
		return hl_error("policy '%s' is locked and cannot be disabled: HGS requires it of "
				"every guarded host", name);
	return node_write(node, "INSERT INTO attestation_policies(name, enabled) VALUES(?, ?) "
			  "ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled",
			  HL_VALS(HL_IN_TEXT(def->name), HL_IN_INT(enabled ? 1 : 0)));
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

#define REG_COLS_MAX 8

struct reg_kind {
	const char *noun;
	const char *table;
	const char *verb;     /* the add verb, for messages */
	struct json_col cols[REG_COLS_MAX];
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

/* 1 when a row of TABLE has COLUMN = VALUE, 0 when none, -1 on error. */
static int row_exists(struct hl_store *st, const char *table, const char *column, const char *value)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE %s = ?", table, column);
	return hl_store_get(st, sql, HL_VALS(HL_IN_TEXT(value)));
}

/* List registrations of one kind as the cmdlets show them. */
int hgs_db_reg_list(struct hgs_node *node, enum hgs_reg_kind kind, const char *name, json_t **out)
{
	const struct hl_store_val by_name[] = { HL_IN_TEXT(name) };
	const struct reg_kind *k;
	char from[128];
	size_t ncols = 0;

	*out = NULL;
	if ((unsigned)kind >= HGS_REG_COUNT)
		return hl_error("invalid registration kind %d", (int)kind);
	k = &reg_kinds[kind];
	while (ncols < REG_COLS_MAX && k->cols[ncols].key)
		ncols++;
	snprintf(from, sizeof(from), "FROM %s%s ORDER BY added, name", k->table,
		 name ? " WHERE name = ?" : "");
	if (list_json(node, k->cols, ncols, from, by_name, name ? 1 : 0, out) < 0)
		return -1;
	if (name && json_array_size(*out) == 0) {
		json_decref(*out);
		*out = NULL;
		return hl_error("no %s is registered as '%s'; list them with `hgslab hgs get-%s`",
				k->noun, name, k->verb + 4);
	}
	return 0;
}

/* Remove one registration. */
int hgs_db_reg_remove(struct hgs_node *node, enum hgs_reg_kind kind, const char *name)
{
	const struct reg_kind *k;
	char sql[128];
	int rc;

	if ((unsigned)kind >= HGS_REG_COUNT)
		return hl_error("invalid registration kind %d", (int)kind);
	k = &reg_kinds[kind];
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name = ?", k->table);
	if (tx_begin(node) < 0)
		return -1;
	rc = hl_store_run(node->store, sql, HL_VALS(HL_IN_TEXT(name)));
	if (rc == 0 && hl_store_changes(node->store) == 0)
		rc = hl_error("no %s is registered as '%s'; list them with `hgslab hgs get-%s`",
			      k->noun, name, k->verb + 4);
	return tx_end(node, rc);
}

/*
 * In a transaction on NODE: refuse a NAME already registered in KIND's table,
 * and a unique COLUMN = VALUE already registered (as another name).
 */
static int reg_check_unique(struct hgs_node *node, enum hgs_reg_kind kind, const char *name,
			    const char *column, const char *value, const char *what)
{
	const struct reg_kind *k = &reg_kinds[kind];
	char sql[160], other[HL_NAME_REG_SIZE];
	int r;

	r = row_exists(node->store, k->table, "name", name);
	if (r < 0)
		return -1;
	if (r)
		return hl_error("a %s named '%s' is already registered; remove it first with "
				"`hgslab hgs remove-%s --name '%s'` or choose another name", k->noun,
				name, k->verb + 4, name);
	snprintf(sql, sizeof(sql), "SELECT name FROM %s WHERE %s = ?", k->table, column);
	r = hl_store_get(node->store, sql, HL_VALS(HL_IN_TEXT(value),
						   HL_OUT_TEXT(other, sizeof(other))));
	if (r < 0)
		return -1;
	if (r)
		return hl_error("%s is already registered as %s '%s'", what, k->noun, other);
	return 0;
}

/*
 * Register in one transaction: refuse NAME already registered in KIND and
 * COLUMN = VALUE registered under another name (reg_check_unique), then
 * run the INSERT SQL with VALS.
 */
static int reg_insert(struct hgs_node *node, enum hgs_reg_kind kind, const char *name,
		      const char *column, const char *value, const char *what, const char *sql,
		      const struct hl_store_val *vals, size_t n)
{
	int r;

	if (tx_begin(node) < 0)
		return -1;
	r = reg_check_unique(node, kind, name, column, value, what);
	if (r == 0)
		r = hl_store_run(node->store, sql, vals, n);
	return tx_end(node, r);
}

/* ---- TPM hosts ---- */

/* Add-HgsAttestationTpmHost. */
int hgs_db_tpm_host_add(struct hgs_node *node, const char *name, const struct hgs_platform_id *id,
			int force)
{
	struct hl_buf ek_der = { 0 }, cert_der = { 0 };
	char *bundle = NULL, issuer[256] = "";
	const char *iss = NULL;
	time_t now;
	int rc = -1;

	if (hl_name_registration("TPM host name", name) < 0 || hgs_node_now(node, &now) < 0)
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
	rc = reg_insert(node, HGS_REG_TPM_HOST, name, "ek_fingerprint", id->ek_fingerprint,
			"this TPM's EK", "INSERT INTO tpm_hosts(name, host, ek_fingerprint, "
			"ek_public, ek_certificate, ek_cert_issuer, forced, identifier, added) "
			"VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
			HL_VALS(HL_IN_TEXT(name), HL_IN_TEXT(id->host),
				HL_IN_TEXT(id->ek_fingerprint), HL_IN_BLOB(ek_der.data, ek_der.len),
				HL_IN_BLOB(cert_der.data, cert_der.len), HL_IN_TEXT(iss),
				HL_IN_INT(force ? 1 : 0), HL_IN_TEXT(id->json), HL_IN_INT(now)));
out:
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
	struct hgs_tpm_host *h = calloc(1, sizeof(*h));
	struct hl_buf ek = { 0 }, cert = { 0 };
	char sql[192];
	int r;

	*out = NULL;
	if (!h)
		return hl_error("out of memory");
	snprintf(sql, sizeof(sql), "SELECT name, host, ek_fingerprint, ek_public, ek_certificate, "
		 "forced, identifier FROM tpm_hosts WHERE %s = ?", column);
	r = node_sql(node, sql, HL_VALS(HL_IN_TEXT(value), HL_OUT_TEXT(h->name, sizeof(h->name)),
					HL_OUT_TEXT(h->host, sizeof(h->host)),
					HL_OUT_TEXT(h->ek_fingerprint, sizeof(h->ek_fingerprint)),
					HL_OUT_BUF(&ek), HL_OUT_BUF(&cert), HL_OUT_INT(&h->forced),
					HL_OUT_STR(&h->identifier_json)));
	if (r == 1 && (hl_key_pub_from_der(ek.data, ek.len, &h->ek) < 0 ||
		       (cert.len && hl_cert_from_der(cert.data, cert.len, &h->ek_cert) < 0))) {
		hl_error_wrap("the TPM host '%s' in the store is damaged", h->name);
		r = -1;
	}
	if (r == 1) {
		*out = h;
		h = NULL;
	}
	hl_buf_free(&ek);
	hl_buf_free(&cert);
	hgs_tpm_host_free(h);
	return r;
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

/* Free what a TPM registration read holds. */
void hgs_tpm_reg_release(struct hgs_tpm_reg *r)
{
	hl_buf_free(&r->ek_public);
	hl_buf_free(&r->ek_cert);
	free(r->bundle);
	r->bundle = NULL;
}

/* Read TPM host NAME's registration, the vendor CA and its pinned AK in one statement. */
int hgs_db_tpm_reg_read(struct hgs_node *node, const char *name, struct hgs_tpm_reg *r)
{
	int found;

	memset(r, 0, sizeof(*r));
	found = node_sql(node, "SELECT forced, ek_public, ek_certificate, host, "
			 "ek_fingerprint, (SELECT vendor_ca_pem FROM node WHERE id = 1), "
			 "(SELECT ak_name FROM tpm_ak_pins WHERE host = tpm_hosts.name) "
			 "FROM tpm_hosts WHERE name = ?",
			 HL_VALS(HL_IN_TEXT(name), HL_OUT_INT(&r->forced),
				 HL_OUT_BUF(&r->ek_public), HL_OUT_BUF(&r->ek_cert),
				 HL_OUT_TEXT(r->host, sizeof(r->host)),
				 HL_OUT_TEXT(r->ek_fingerprint, sizeof(r->ek_fingerprint)),
				 HL_OUT_STR(&r->bundle),
				 HL_OUT_TEXT(r->ak_name, sizeof(r->ak_name))));
	r->pinned = r->ak_name[0] != '\0';
	return found;
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
	char hex[HL_SHA256_HEX_SIZE];
	time_t now;

	if (hl_crypto_sha256(data, len, digest) < 0 ||
	    hl_crypto_hex_encode(digest, sizeof(digest), hex, sizeof(hex)) < 0 ||
	    hgs_node_now(node, &now) < 0)
		return -1;
	if (kind == HGS_REG_TPM_POLICY)
		return reg_insert(node, kind, name, "sha256", hex, "the same TCG log",
				  "INSERT INTO tpm_policies(name, sha256, tcglog, events, added) "
				  "VALUES(?, ?, ?, ?, ?)",
				  HL_VALS(HL_IN_TEXT(name), HL_IN_TEXT(hex), HL_IN_BLOB(data, len),
					  HL_IN_INT(events), HL_IN_INT(now)));
	return reg_insert(node, kind, name, "sha256", hex, "the same policy file",
			  "INSERT INTO ci_policies(name, sha256, policy, added) VALUES(?, ?, ?, ?)",
			  HL_VALS(HL_IN_TEXT(name), HL_IN_TEXT(hex), HL_IN_BLOB(data, len),
				  HL_IN_INT(now)));
}
/* Add-HgsAttestationTpmPolicy. */
int hgs_db_tpm_policy_add(struct hgs_node *node, const char *name, const void *log, size_t len)
{
	struct hl_tcglog *tl = NULL;
	long events;
	int rc = -1;

	if (hl_name_registration("TPM policy name", name) < 0)
		return -1;
	if (len == 0 || len > DB_BLOB_MAX) {
		hl_error("a TCG log must have 1 to %zu bytes, this one has %zu", DB_BLOB_MAX, len);
		return -2;
	}
	/* what the policy evaluation needs of a baseline (parses, SHA-256 bank, replays...) */
	if (hgs_policy_check_baseline(name, log, len) < 0 || hl_tcglog_parse(log, len, &tl) < 0) {
		hl_error_wrap("not a usable TCG log");
		rc = -2;
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
	if (hl_name_registration("CI policy name", name) < 0)
		return -1;
	if (len == 0 || len > DB_BLOB_MAX) {
		hl_error("a CI policy must have 1 to %zu bytes, this one has %zu", DB_BLOB_MAX, len);
		return -2;
	}
	if (hgs_policy_check_ci(data, len) < 0)
		return -2;
	return blob_add(node, HGS_REG_CI_POLICY, name, data, len, -1);
}

/* ---- host groups ---- */

/* Add-HgsAttestationHostGroup. */
int hgs_db_host_group_add(struct hgs_node *node, const char *name, const char *sid)
{
	time_t now;

	if (hl_name_registration("host group name", name) < 0 || hl_name_sid(sid) < 0 ||
	    hgs_node_now(node, &now) < 0)
		return -1;
	return reg_insert(node, HGS_REG_HOST_GROUP, name, "sid", sid, "this SID",
			  "INSERT INTO host_groups(name, sid, added) VALUES(?, ?, ?)",
			  HL_VALS(HL_IN_TEXT(name), HL_IN_TEXT(sid), HL_IN_INT(now)));
}

/* Find a host group by SID. */
int hgs_db_host_group_find_sid(struct hgs_node *node, const char *sid, char **name)
{
	*name = NULL;
	return node_sql(node, "SELECT name FROM host_groups WHERE sid = ?",
			HL_VALS(HL_IN_TEXT(sid), HL_OUT_STR(name)));
}

/* ---- host keys ---- */

int hgs_db_host_key_add(struct hgs_node *node, const char *name, EVP_PKEY *key)
{
	struct hl_buf der = { 0 };
	char fp[HL_SHA256_HEX_SIZE];
	enum hl_key_type kt;
	time_t now;
	int rc = -1;

	if (hl_name_registration("host key name", name) < 0)
		return -1;
	if (hl_key_type_of(key, &kt) == 0 && hl_key_pub_to_der(key, &der) == 0 &&
	    hl_key_fingerprint(key, fp) == 0 && hgs_node_now(node, &now) == 0)
		rc = reg_insert(node, HGS_REG_HOST_KEY, name, "fingerprint", fp, "this key",
				"INSERT INTO host_keys(name, fingerprint, key_type, public_key, "
				"added) VALUES(?, ?, ?, ?, ?)",
				HL_VALS(HL_IN_TEXT(name), HL_IN_TEXT(fp),
					HL_IN_TEXT(hl_key_type_name(kt)), HL_IN_BLOB(der.data, der.len),
					HL_IN_INT(now)));
	hl_buf_free(&der);
	return rc;
}

/* Find a host key by fingerprint. */
int hgs_db_host_key_find(struct hgs_node *node, const char *fingerprint, char **name,
			 EVP_PKEY **key)
{
	struct hl_buf der = { 0 };
	char *n = NULL;
	int r;

	*name = NULL;
	*key = NULL;
	r = node_sql(node, "SELECT name, public_key FROM host_keys WHERE fingerprint = ?",
		     HL_VALS(HL_IN_TEXT(fingerprint), HL_OUT_STR(&n), HL_OUT_BUF(&der)));
	if (r == 1 && hl_key_pub_from_der(der.data, der.len, key) < 0)
		r = hl_error_wrap("the host key '%s' in the store is damaged", n);
	if (r == 1) {
		*name = n;
		n = NULL;
	}
	free(n);
	hl_buf_free(&der);
	return r;
}

/* ---- policy set for the evaluation ---- */

/*
 * A snapshot of the registrations (db.h, struct hgs_policy_set): IN with
 * baselines, CI policies and enabled names filled, pointing into the
 * storage below; immutable once made, freed with its last reference.
 */
struct hgs_policy_data {
	struct hgs_policy_input in;
	struct hgs_baseline *baselines;
	struct hgs_ci_policy *ci;
	char **enabled;
	void **blobs;
	size_t n_blobs;
	atomic_int refs;
};

/* Drop a reference to D; the last one frees it.  NULL-safe. */
static void policy_data_put(struct hgs_policy_data *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	for (size_t i = 0; i < d->n_blobs; i++)
		free(d->blobs[i]);
	free(d->blobs);
	free(d->baselines);
	free(d->ci);
	hgs_strv_free(d->enabled, d->in.n_enabled);
	free(d);
}

void hgs_policy_set_free(struct hgs_policy_set *ps)
{
	if (!ps)
		return;
	policy_data_put(ps->data);
	free(ps);
}

void hgs_db_policy_cache_drop(struct hgs_node *node)
{
	policy_data_put(node->policies);
	node->policies = NULL;
}

/* Hand the bytes of B (read with HL_OUT_BUF) to D, which frees them. */
static int keep_blob(struct hgs_policy_data *d, struct hl_buf *b)
{
	void **grown = realloc(d->blobs, (d->n_blobs + 1) * sizeof(*grown));

	if (!grown)
		return hl_error("out of memory");
	d->blobs = grown;
	d->blobs[d->n_blobs++] = b->data;
	b->data = NULL;
	return 0;
}

/* Load the registered baselines (BASELINES) or CI policies into D. */
static int load_named_blobs(struct hgs_node *node, struct hgs_policy_data *d, int baselines)
{
	struct hl_buf name = { 0 }, data = { 0 };
	struct hl_store_stmt *stmt = NULL;
	const char *sql = baselines ? "SELECT name, tcglog FROM tpm_policies ORDER BY added, name"
				    : "SELECT name, policy FROM ci_policies ORDER BY added, name";
	int r;

	if (hl_store_query(node->store, sql, NULL, 0, &stmt) < 0)
		return -1;
	while ((r = hl_store_next(node->store, stmt, HL_VALS(HL_OUT_BUF(&name),
							      HL_OUT_BUF(&data)))) == 1) {
		const char *n = (const char *)name.data;
		const void *p = data.data;
		size_t len = data.len;

		if (keep_blob(d, &name) < 0 || keep_blob(d, &data) < 0) {
			r = -1;
			break;
		}
		if (baselines) {
			struct hgs_baseline *g = realloc(d->baselines,
							 (d->in.n_baselines + 1) * sizeof(*g));

			if (!g) {
				r = hl_error("out of memory");
				break;
			}
			d->baselines = g;
			g[d->in.n_baselines] = (struct hgs_baseline){ n, p, len, 1, { 0 } };
			if (hl_crypto_sha256(p, len, g[d->in.n_baselines++].sha256) < 0) {
				r = -1;
				break;
			}
		} else {
			struct hgs_ci_policy *g = realloc(d->ci, (d->in.n_ci_policies + 1) * sizeof(*g));

			if (!g) {
				r = hl_error("out of memory");
				break;
			}
			d->ci = g;
			g[d->in.n_ci_policies] = (struct hgs_ci_policy){ n, p, len, 1, { 0 } };
			if (hl_crypto_sha256(p, len, g[d->in.n_ci_policies++].sha256) < 0) {
				r = -1;
				break;
			}
		}
	}
	free(name.data);
	free(data.data);
	hl_store_stmt_done(node->store, stmt);
	return r < 0 ? -1 : 0;
}

/*
 * Read a new snapshot into *OUT at data version *VERSION, in one read
 * transaction (node lock held).
 */
static int policy_data_read(struct hgs_node *node, long long *version,
			    struct hgs_policy_data **out)
{
	struct hgs_policy_data *d = calloc(1, sizeof(*d));
	size_t n = 0;

	*out = NULL;
	if (!d)
		return hl_error("out of memory");
	atomic_init(&d->refs, 1);
	/* one read transaction: a consistent snapshot even while admins change things */
	if (hl_store_read_begin(node->store) < 0)
		goto fail;
	if (data_version(node, version) < 0 || load_named_blobs(node, d, 1) < 0 ||
	    load_named_blobs(node, d, 0) < 0 || hgs_db_policies_enabled(node, &d->enabled, &n) < 0)
		goto rollback;
	d->in.n_enabled = n;
	d->in.enabled = (const char *const *)d->enabled;
	d->in.baselines = d->baselines;
	d->in.ci_policies = d->ci;
	if (hl_store_commit(node->store) < 0)
		goto rollback;
	*out = d;
	return 0;
rollback:
	hl_store_rollback(node->store);
fail:
	policy_data_put(d);
	return -1;
}

/* The kept snapshot when still current, else a new one kept (db.h). */
int hgs_db_policy_set_load(struct hgs_node *node, struct hgs_policy_set **out)
{
	struct hgs_policy_set *ps = calloc(1, sizeof(*ps));
	struct hgs_policy_data *d = NULL;
	long long version;
	int rc = -1;

	*out = NULL;
	if (!ps)
		return hl_error("out of memory");
	hgs_node_lock(node);
	if (node->policies && node->policies_gen == node->changes_gen) {
		if (data_version(node, &version) < 0)
			goto out;
		if (version == node->policies_version)
			d = node->policies;
	}
	if (!d) {
		if (policy_data_read(node, &version, &d) < 0)
			goto out;
		hgs_db_policy_cache_drop(node);
		node->policies = d;
		node->policies_version = version;
		node->policies_gen = node->changes_gen;
	}
	atomic_fetch_add(&d->refs, 1);
	ps->data = d;
	ps->in = d->in;
	*out = ps;
	ps = NULL;
	rc = 0;
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

/* The pinned AK of HOST. */
int hgs_db_tpm_ak_pin_get(struct hgs_node *node, const char *host, struct hgs_tpm_ak_pin **out)
{
	struct hgs_tpm_ak_pin *p = calloc(1, sizeof(*p));
	int r;

	*out = NULL;
	if (!p)
		return hl_error("out of memory");
	r = node_sql(node, "SELECT host, ek_fingerprint, ak_name, ak_public, pinned "
		     "FROM tpm_ak_pins WHERE host = ?",
		     HL_VALS(HL_IN_TEXT(host), HL_OUT_TEXT(p->host, sizeof(p->host)),
			     HL_OUT_TEXT(p->ek_fingerprint, sizeof(p->ek_fingerprint)),
			     HL_OUT_TEXT(p->ak_name, sizeof(p->ak_name)),
			     HL_OUT_BUF(&p->ak_public), HL_OUT_TIME(&p->pinned)));
	if (r == 1) {
		*out = p;
		p = NULL;
	}
	hgs_tpm_ak_pin_free(p);
	return r;
}

/* Pin an AK to a host unless another one is pinned already. */
int hgs_db_tpm_ak_pin_set(struct hgs_node *node, const struct hgs_tpm_ak_pin *pin)
{
	char current[HGS_TPM_NAME_HEX_MAX] = "";
	int r, inserting = 0;

	if (tx_begin(node) < 0)
		return -1;
	r = hl_store_get(node->store, "SELECT ak_name FROM tpm_ak_pins WHERE host = ?",
			 HL_VALS(HL_IN_TEXT(pin->host), HL_OUT_TEXT(current, sizeof(current))));
	if (r == 1) {
		r = strcmp(current, pin->ak_name) == 0 ? 1 : 0;
	} else if (r == 0) {
		inserting = 1;
		r = hl_store_run(node->store, "INSERT INTO tpm_ak_pins(host, ek_fingerprint, "
				 "ak_name, ak_public, pinned) VALUES(?, ?, ?, ?, ?)",
				 HL_VALS(HL_IN_TEXT(pin->host), HL_IN_TEXT(pin->ek_fingerprint),
					 HL_IN_TEXT(pin->ak_name),
					 HL_IN_BLOB(pin->ak_public.data, pin->ak_public.len),
					 HL_IN_INT(pin->pinned))) < 0 ? -1 : 1;
	}
	r = tx_end(node, r);
	if (r < 0 && inserting)
		hl_error_wrap("cannot pin the attestation key of TPM host '%s'", pin->host);
	return r;
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
	int r, inserting = 0;

	if (tx_begin(node) < 0)
		return -1;
	r = hl_store_run(node->store, "DELETE FROM tpm_challenges WHERE expires < ?",
			 HL_VALS(HL_IN_INT(now)));
	if (r == 0) {
		inserting = 1;
		r = hl_store_run(node->store, "INSERT INTO tpm_challenges(id, host, ek_fingerprint, "
				 "ak_name, ak_public, secret_sha256, expires) "
				 "VALUES(?, ?, ?, ?, ?, ?, ?)",
				 HL_VALS(HL_IN_TEXT(c->id), HL_IN_TEXT(c->host),
					 HL_IN_TEXT(c->ek_fingerprint), HL_IN_TEXT(c->ak_name),
					 HL_IN_BLOB(c->ak_public.data, c->ak_public.len),
					 HL_IN_BLOB(c->secret_sha256, sizeof(c->secret_sha256)),
					 HL_IN_INT(c->expires)));
	}
	r = tx_end(node, r);
	if (r < 0 && inserting)
		hl_error_wrap("cannot store the activation challenge of TPM host '%s'", c->host);
	return r;
}

/* Read and delete challenge ID in one transaction. */
int hgs_db_tpm_challenge_take(struct hgs_node *node, const char *id,
			      struct hgs_tpm_challenge **out)
{
	struct hgs_tpm_challenge *c = calloc(1, sizeof(*c));
	struct hl_buf secret = { 0 };
	int r;

	*out = NULL;
	if (!c)
		return hl_error("out of memory");
	if (tx_begin(node) < 0) {
		hgs_tpm_challenge_free(c);
		return -1;
	}
	r = hl_store_get(node->store, "SELECT id, host, ek_fingerprint, ak_name, ak_public, "
			 "secret_sha256, expires FROM tpm_challenges WHERE id = ?",
			 HL_VALS(HL_IN_TEXT(id), HL_OUT_TEXT(c->id, sizeof(c->id)),
				 HL_OUT_TEXT(c->host, sizeof(c->host)),
				 HL_OUT_TEXT(c->ek_fingerprint, sizeof(c->ek_fingerprint)),
				 HL_OUT_TEXT(c->ak_name, sizeof(c->ak_name)),
				 HL_OUT_BUF(&c->ak_public), HL_OUT_BUF(&secret),
				 HL_OUT_TIME(&c->expires)));
	if (r == 1 && secret.len != sizeof(c->secret_sha256))
		r = hl_error("the activation challenge '%s' in the store is damaged", id);
	if (r == 1) {
		memcpy(c->secret_sha256, secret.data, sizeof(c->secret_sha256));
		if (hl_store_run(node->store, "DELETE FROM tpm_challenges WHERE id = ?",
				 HL_VALS(HL_IN_TEXT(id))) < 0)
			r = -1;
	}
	r = tx_end(node, r);
	if (r == 1) {
		*out = c;
		c = NULL;
	}
	hl_buf_free(&secret);
	hgs_tpm_challenge_free(c);
	return r;
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

/* Step STMT (selecting KPS_CERT_COLS) into a new row *OUT: 1 read, 0 no more rows, -1 error. */
static int kps_cert_next(struct hl_store *st, struct hl_store_stmt *stmt, struct hgs_kps_cert **out)
{
	struct hgs_kps_cert *c = calloc(1, sizeof(*c));
	char role[32];
	int r;

	*out = NULL;
	if (!c)
		return hl_error("out of memory");
	r = hl_store_next(st, stmt, HL_VALS(HL_OUT_TEXT(role, sizeof(role)),
					    HL_OUT_TEXT(c->thumbprint, sizeof(c->thumbprint)),
					    HL_OUT_STR(&c->cert_pem), HL_OUT_STR(&c->key_file),
					    HL_OUT_INT(&c->primary), HL_OUT_INT(&c->enabled),
					    HL_OUT_TIME(&c->added)));
	if (r == 1 && (!c->cert_pem || !c->key_file))
		r = hl_error("a key protection certificate in the store is damaged");
	if (r != 1) {
		hgs_kps_cert_free(c);
		return r;
	}
	c->role = strcmp(role, "kps-signing") == 0 ? HGS_KEY_KPS_SIGNING : HGS_KEY_KPS_ENCRYPTION;
	c->primary = c->primary != 0;
	c->enabled = c->enabled != 0;
	*out = c;
	return 1;
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
	struct hl_store_stmt *stmt = NULL;
	int r = -1;

	*out = NULL;
	if (kps_thumb_norm(thumbprint, thumb) < 0 || strlen(thumb) != 2 * HL_SHA256_LEN)
		return 0;
	hgs_node_lock(node);
	if (hl_store_query(node->store, "SELECT " KPS_CERT_COLS " FROM node_keys "
			   "WHERE thumbprint = ? AND " KPS_ROLES, HL_VALS(HL_IN_TEXT(thumb)),
			   &stmt) == 0)
		r = kps_cert_next(node->store, stmt, out);
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	return r;
}

/* The one KPS certificate whose thumbprint starts with PREFIX. */
int hgs_db_kps_cert_resolve(struct hgs_node *node, const char *prefix,
			    char out[HL_SHA256_HEX_SIZE])
{
	char want[HL_SHA256_HEX_SIZE], thumb[HL_SHA256_HEX_SIZE];
	struct hl_store_stmt *stmt = NULL;
	int r, found = 0;

	out[0] = '\0';
	if (kps_thumb_norm(prefix, want) < 0 || strlen(want) < HGS_KPS_THUMBPRINT_PREFIX_MIN)
		return hl_error("invalid thumbprint '%s': give the certificate's SHA-256 thumbprint "
				"in hex (at least its first %d digits), as `hgslab hgs "
				"get-key-protection-certificate` shows it", prefix ? prefix : "",
				HGS_KPS_THUMBPRINT_PREFIX_MIN);
	hgs_node_lock(node);
	r = hl_store_query(node->store, "SELECT thumbprint FROM node_keys WHERE " KPS_ROLES
			   " AND substr(thumbprint, 1, length(?1)) = ?1",
			   HL_VALS(HL_IN_TEXT(want)), &stmt);
	while (r == 0 && (r = hl_store_next(node->store, stmt,
					    HL_VALS(HL_OUT_TEXT(thumb, sizeof(thumb))))) == 1) {
		if (found++) {
			r = hl_error("thumbprint '%s' is ambiguous: several key protection "
				     "certificates start with it; give more digits", prefix);
			break;
		}
		memcpy(out, thumb, sizeof(thumb));
		r = 0;
	}
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	if (r == 0 && !found)
		r = hl_error("no key protection certificate has thumbprint '%s'; list them with "
			     "`hgslab hgs get-key-protection-certificate`", prefix);
	if (r < 0)
		out[0] = '\0';
	return r;
}

/* Every KPS certificate: signing first, then encryption, each oldest first. */
int hgs_db_kps_cert_list(struct hgs_node *node, struct hgs_kps_cert ***out, size_t *n)
{
	struct hgs_kps_cert **v = NULL, **grown, *c = NULL;
	struct hl_store_stmt *stmt = NULL;
	size_t count = 0;
	int r;

	*out = NULL;
	*n = 0;
	hgs_node_lock(node);
	r = hl_store_query(node->store, "SELECT " KPS_CERT_COLS " FROM node_keys WHERE "
			   KPS_ROLES " ORDER BY role DESC, added, id", NULL, 0, &stmt);
	while (r == 0 && (r = kps_cert_next(node->store, stmt, &c)) == 1) {
		if (!(grown = realloc(v, (count + 1) * sizeof(*v)))) {
			hgs_kps_cert_free(c);
			r = hl_error("out of memory");
			break;
		}
		v = grown;
		v[count++] = c;
		r = 0;
	}
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	if (r < 0) {
		hgs_kps_certs_free(v, count);
		return -1;
	}
	*out = v;
	*n = count;
	return 0;
}

/* Clear the primary flag of ROLE's certificates (inside the caller's transaction). */
static int kps_clear_primary(struct hgs_node *node, enum hgs_key_role role)
{
	return hl_store_run(node->store, "UPDATE node_keys SET is_primary = 0 WHERE role = ?",
			    HL_VALS(HL_IN_TEXT(hgs_key_role_name(role))));
}

/* Add a KPS certificate row, making it the primary of its role when PRIMARY. */
int hgs_db_kps_cert_add(struct hgs_node *node, enum hgs_key_role role, const char *thumbprint,
			const char *cert_pem, const char *key_file, int primary, time_t added)
{
	int r;

	if (!kps_role(role))
		return hl_error("invalid key protection certificate role %d", (int)role);
	if (tx_begin(node) < 0)
		return -1;
	r = row_exists(node->store, "node_keys", "thumbprint", thumbprint);
	if (r > 0)
		r = hl_error("the certificate with thumbprint %s is already one of this HGS's keys; "
			     "list them with `hgslab hgs get-key-protection-certificate`", thumbprint);
	if (r == 0 && primary)
		r = kps_clear_primary(node, role);
	if (r == 0)
		r = hgs_db_key_insert(node->store, role, thumbprint, cert_pem, key_file, primary,
				      added);
	return tx_end(node, r);
}

/* "signing" or "encryption" for messages. */
static const char *kps_noun(enum hgs_key_role role)
{
	return role == HGS_KEY_KPS_SIGNING ? "signing" : "encryption";
}

/* In a transaction: the KPS certificate THUMBPRINT into *OUT, refused when unknown. */
static int kps_cert_must_get(struct hgs_node *node, const char *thumbprint,
			     struct hgs_kps_cert **out)
{
	int r = hgs_db_kps_cert_get(node, thumbprint, out);

	if (r == 0)
		return hl_error("no key protection certificate has thumbprint '%s'; list them with "
				"`hgslab hgs get-key-protection-certificate`", thumbprint);
	return r < 0 ? -1 : 0;
}

/* Make THUMBPRINT primary, or enable / disable it. */
int hgs_db_kps_cert_change(struct hgs_node *node, const char *thumbprint,
			   enum hgs_kps_cert_change change)
{
	struct hgs_kps_cert *c = NULL;
	const char *sql = NULL;
	int r;

	if (tx_begin(node) < 0)
		return -1;
	r = kps_cert_must_get(node, thumbprint, &c);
	if (r == 0) {
		switch (change) {
		case HGS_KPS_CERT_SET_PRIMARY:
			if (!c->enabled)
				r = hl_error("the %s certificate %s is disabled, and a primary "
					     "certificate must be enabled; enable it first with "
					     "`hgslab hgs set-key-protection-certificate --thumbprint "
					     "%s --enable`", kps_noun(c->role), c->thumbprint,
					     c->thumbprint);
			else
				r = kps_clear_primary(node, c->role);
			sql = "UPDATE node_keys SET is_primary = 1 WHERE thumbprint = ?";
			break;
		case HGS_KPS_CERT_ENABLE:
			sql = "UPDATE node_keys SET enabled = 1 WHERE thumbprint = ?";
			break;
		case HGS_KPS_CERT_DISABLE:
			if (c->primary)
				r = hl_error("cannot disable the %s certificate %s: it is the primary "
					     "one, which the guardian metadata hands out; make another "
					     "%s certificate primary first (`hgslab hgs "
					     "set-key-protection-certificate --thumbprint T --primary`)",
					     kps_noun(c->role), c->thumbprint, kps_noun(c->role));
			sql = "UPDATE node_keys SET enabled = 0 WHERE thumbprint = ?";
			break;
		default:
			r = hl_error("invalid key protection certificate change %d", (int)change);
			break;
		}
	}
	if (r == 0)
		r = hl_store_run(node->store, sql, HL_VALS(HL_IN_TEXT(c->thumbprint)));
	r = tx_end(node, r);
	hgs_kps_cert_free(c);
	return r;
}

/* Remove a KPS certificate that is not primary; *KEY_FILE gets its key file. */
int hgs_db_kps_cert_remove(struct hgs_node *node, const char *thumbprint, char **key_file)
{
	struct hgs_kps_cert *c = NULL;
	int r;

	*key_file = NULL;
	if (tx_begin(node) < 0)
		return -1;
	r = kps_cert_must_get(node, thumbprint, &c);
	if (r == 0 && c->primary)
		r = hl_error("cannot remove the %s certificate %s: it is the primary one; make "
			     "another %s certificate primary first (`hgslab hgs "
			     "set-key-protection-certificate --thumbprint T --primary`)",
			     kps_noun(c->role), c->thumbprint, kps_noun(c->role));
	if (r == 0)
		r = hl_store_run(node->store, "DELETE FROM node_keys WHERE thumbprint = ?",
				 HL_VALS(HL_IN_TEXT(c->thumbprint)));
	r = tx_end(node, r);
	if (r == 0) {
		*key_file = c->key_file;
		c->key_file = NULL;
	}
	hgs_kps_cert_free(c);
	return r;
}

/* ---- Key Protection Service: health certificate cut-off ---- */

/* Read the cut-off of Set-HgsKeyProtectionAttestationSignerCertificatePolicy. */
int hgs_db_kps_cutoff_get(struct hgs_node *node, int *set, time_t *cutoff)
{
	*set = 0;
	*cutoff = 0;
	return node_sql(node, "SELECT deny_issued_before IS NOT NULL, "
			"coalesce(deny_issued_before, 0) FROM kps_policy WHERE id = 1",
			HL_VALS(HL_OUT_INT(set), HL_OUT_TIME(cutoff))) < 0 ? -1 : 0;
}

/* Set (SET) or clear the cut-off. */
int hgs_db_kps_cutoff_set(struct hgs_node *node, int set, time_t cutoff)
{
	const struct hl_store_val at[] = { HL_IN_INT(cutoff) }, none[] = { HL_IN_TEXT(NULL) };

	return node_write(node, "INSERT INTO kps_policy(id, deny_issued_before) VALUES(1, ?) "
			  "ON CONFLICT(id) DO UPDATE SET "
			  "deny_issued_before = excluded.deny_issued_before", set ? at : none, 1);
}

/* ---- the audit logs: attestation log and key protection log ---- */

/*
 * Audit log TABLE as JSON objects of COLS, oldest first: HOST's entries
 * only when HOST is not NULL, those with an id above AFTER only, the LAST
 * most recent only when LAST > 0.
 */
static int log_list(struct hgs_node *node, const char *table, const struct json_col *cols,
		    size_t ncols, const char *host, long long after, long last, json_t **out)
{
	char from[200];

	snprintf(from, sizeof(from), "FROM (SELECT * FROM %s WHERE (CAST(?1 AS TEXT) IS NULL "
		 "OR host = ?1) "
		 "AND id > ?3 ORDER BY id DESC LIMIT ?2) AS recent ORDER BY id", table);
	return list_json(node, cols, ncols, from,
			 HL_VALS(HL_IN_TEXT(host), HL_IN_INT(last > 0 ? last : INT64_MAX),
				 HL_IN_INT(after)),
			 out);
}

/* Append one entry to the attestation log. */
/* An attestation log entry, its id given by the store (hl_store_insert_id). */
#define ATTEST_LOG_INSERT \
	"INSERT INTO attestation_log(time, host, mode, status, substatus, reason, remote, " \
	"healthcert, trace) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)"

int hgs_db_attest_log_add(struct hgs_node *node, const struct hgs_attest_log_entry *e,
			  const unsigned char *nonce, size_t nonce_len, time_t expires,
			  long long *id)
{
	struct hl_store *st = NULL;
	int r = -1;

	/* an audit record (node.h, Durability); one write transaction with the nonce's use */
	if (hgs_node_log_store(node, &st) < 0)
		return -1;
	if (hl_store_begin(st) < 0)
		goto out;
	if (nonce && (r = hgs_db_nonce_insert(st, nonce, nonce_len, expires)) <= 0)
		goto out;
	r = hl_store_insert_id(st, ATTEST_LOG_INSERT, ATTEST_LOG_INSERT " RETURNING id",
			       HL_VALS(HL_IN_INT(e->time), HL_IN_TEXT(e->host), HL_IN_TEXT(e->mode),
				       HL_IN_TEXT(e->status), HL_IN_INT(e->substatus),
				       HL_IN_TEXT(e->reason), HL_IN_TEXT(e->remote),
				       HL_IN_TEXT(e->healthcert), HL_IN_TEXT(e->trace)), id);
	if (r == 0)
		r = hl_error("the attestation log gave no entry id");
	if (r == 1 && hl_store_commit(st) < 0)
		r = -1;
out:
	if (r != 1)
		hl_store_rollback(st);
	hgs_node_log_release(node);
	return r;
}

/* The attestation log's columns as JSON (hgs_db_attest_log_list). */
static const struct json_col attest_log_cols[] = {
	{ "Id", "id", COL_INT }, { "Time", "time", COL_TIME }, { "Host", "host", COL_TEXT },
	{ "Mode", "mode", COL_TEXT }, { "Status", "status", COL_TEXT },
	{ "SubStatus", "substatus", COL_SUBSTATUS }, { "Reason", "reason", COL_TEXT },
	{ "Remote", "remote", COL_TEXT }, { "HealthCertificate", "healthcert", COL_TEXT },
	{ "Trace", "trace", COL_JSON },
};

/* The attestation log as JSON, oldest first. */
int hgs_db_attest_log_list(struct hgs_node *node, const char *host, long last, json_t **out)
{
	return log_list(node, "attestation_log", attest_log_cols,
			sizeof(attest_log_cols) / sizeof(attest_log_cols[0]), host, 0, last, out);
}

/* The attestation log's entries after id AFTER, oldest first, at most MAX. */
int hgs_db_attest_log_since(struct hgs_node *node, long long after, long max, json_t **out)
{
	return log_list(node, "attestation_log", attest_log_cols,
			sizeof(attest_log_cols) / sizeof(attest_log_cols[0]), NULL, after, max, out);
}

/* Append one entry to the key protection log. */
int hgs_db_kps_log_add(struct hgs_node *node, const struct hgs_kps_log_entry *e, long long *id)
{
	struct hl_store *st = NULL;
	int rc;

	/* an audit record (node.h, Durability) */
	if (hgs_node_log_store(node, &st) < 0)
		return hl_error_wrap("cannot record a key release in the key protection log");
	rc = hl_store_get(st, "INSERT INTO key_protection_log(time, host, key_protector, owner, "
			  "result, reason, message, http_status, remote, healthcert, "
			  "encryption_cert, trace) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
			  "RETURNING id",
			  HL_VALS(HL_IN_INT(e->time), HL_IN_TEXT(e->host),
				  HL_IN_TEXT(e->key_protector), HL_IN_TEXT(e->owner),
				  HL_IN_TEXT(e->result ? e->result : ""),
				  HL_IN_TEXT(e->reason ? e->reason : ""),
				  HL_IN_TEXT(e->message ? e->message : ""),
				  HL_IN_INT(e->http_status), HL_IN_TEXT(e->remote),
				  HL_IN_TEXT(e->health_certificate),
				  HL_IN_TEXT(e->encryption_certificate), HL_IN_TEXT(e->trace),
				  HL_OUT_INT64(id)));
	if (rc == 0)
		rc = hl_error("the key protection log gave no entry id");
	if (rc < 0)
		hl_error_wrap("cannot record a key release in the key protection log");
	else
		rc = 0;
	hgs_node_log_release(node);
	return rc;
}

/* The key protection log's columns as JSON (hgs_db_kps_log_list). */
static const struct json_col kps_log_cols[] = {
	{ "Id", "id", COL_INT }, { "Time", "time", COL_TIME }, { "Host", "host", COL_TEXT },
	{ "KeyProtector", "key_protector", COL_TEXT }, { "Owner", "owner", COL_TEXT },
	{ "Result", "result", COL_TEXT }, { "Reason", "reason", COL_TEXT },
	{ "Message", "message", COL_TEXT }, { "HttpStatus", "http_status", COL_INT },
	{ "Remote", "remote", COL_TEXT }, { "HealthCertificate", "healthcert", COL_TEXT },
	{ "EncryptionCertificate", "encryption_cert", COL_TEXT }, { "Trace", "trace", COL_JSON },
};

/* The key protection log as JSON, oldest first. */
int hgs_db_kps_log_list(struct hgs_node *node, const char *host, long last, json_t **out)
{
	return log_list(node, "key_protection_log", kps_log_cols,
			sizeof(kps_log_cols) / sizeof(kps_log_cols[0]), host, 0, last, out);
}

/* The key protection log's entries after id AFTER, oldest first, at most MAX. */
int hgs_db_kps_log_since(struct hgs_node *node, long long after, long max, json_t **out)
{
	return log_list(node, "key_protection_log", kps_log_cols,
			sizeof(kps_log_cols) / sizeof(kps_log_cols[0]), NULL, after, max, out);
}

/* Set the listen address after checking it. */
int hgs_db_set_listen(struct hgs_node *node, const char *listen)
{
	char addr[16], text[32];
	unsigned short port;

	if (hl_served_parse_listen(listen, addr, &port) < 0)
		return -1;
	snprintf(text, sizeof(text), "%s:%u", addr, port);
	return node_write(node, "UPDATE node SET listen = ? WHERE id = 1",
			  HL_VALS(HL_IN_TEXT(text)));
}
