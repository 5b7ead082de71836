/*
 * db_kpsconfig.c - the key protection configuration of an HGS and its
 * policy generation (db_kpsconfig.h): the SQL of table
 * key_protection_config (migration 9 of hgs/db.c) and the one snapshot of
 * the policy and registration tables the generation digests.  Portable SQL
 * only (the store may be SQLite or PostgreSQL); the admin verbs are
 * cmd/cmd_hgs_kps.c, the answers that carry the fields hgs/kps.c.
 */
#include "hgs/db_kpsconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"

/*
 * The rows the policy generation covers, each query giving two text
 * columns in key order: the setting, the trust mode and TPM vendor CAs,
 * the Hgs_* policy states, each kind of registration, then what KPS
 * decides with (the health certificate cut-off, which encryption
 * certificates are enabled).
 */
static const struct {
	const char *table, *sql;
} generation_rows[] = {
	{ "key_protection_config", "SELECT CAST(allow_key_material_caching AS TEXT), "
	  "CAST(epoch AS TEXT) FROM key_protection_config ORDER BY id" },
	{ "node", "SELECT trust, COALESCE(vendor_ca_pem, '') FROM node WHERE id = 1" },
	{ "attestation_policies", "SELECT name, CAST(enabled AS TEXT) FROM attestation_policies "
	  "ORDER BY name" },
	{ "tpm_hosts", "SELECT name, ek_fingerprint FROM tpm_hosts ORDER BY name" },
	{ "tpm_policies", "SELECT name, sha256 FROM tpm_policies ORDER BY name" },
	{ "ci_policies", "SELECT name, sha256 FROM ci_policies ORDER BY name" },
	{ "host_groups", "SELECT name, sid FROM host_groups ORDER BY name" },
	{ "host_keys", "SELECT name, fingerprint FROM host_keys ORDER BY name" },
	{ "kps_policy", "SELECT 'deny_issued_before', COALESCE(CAST(deny_issued_before AS TEXT), "
	  "'') FROM kps_policy WHERE id = 1" },
	{ "node_keys", "SELECT thumbprint, CAST(enabled AS TEXT) FROM node_keys WHERE role = "
	  "'kps-encryption' ORDER BY thumbprint" },
};
#define N_GENERATION_ROWS (sizeof(generation_rows) / sizeof(generation_rows[0]))

/* Read the configuration row (with the node lock held). */
static int config_read(struct hgs_node *node, struct hgs_kps_config *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = hl_store_get(node->store, "SELECT allow_key_material_caching, epoch FROM "
			 "key_protection_config WHERE id = 1",
			 HL_VALS(HL_OUT_INT(&out->allow_caching), HL_OUT_INT64(&out->epoch)));
	if (r == 0)
		return hl_error("the key protection configuration of HGS '%s' is missing from its "
				"store", node->config.name);
	return r < 0 ? -1 : 0;
}

/*
 * The kept row while the data version and this handle's changes_gen say
 * nothing changed (as hgs_db_config_get), else read and kept.
 */
int hgs_db_kps_config_get(struct hgs_node *node, struct hgs_kps_config *out)
{
	long long version;
	int rc = -1;

	hgs_node_lock(node);
	if (hgs_node_data_version(node, &version) < 0)
		goto out;
	if (node->kps_config_kept && node->kps_config_version == version &&
	    node->kps_config_gen == node->changes_gen) {
		out->allow_caching = node->kps_allow_caching;
		out->epoch = node->kps_epoch;
		rc = 0;
		goto out;
	}
	if (config_read(node, out) < 0)
		goto out;
	node->kps_allow_caching = out->allow_caching;
	node->kps_epoch = out->epoch;
	node->kps_config_version = version;
	node->kps_config_gen = node->changes_gen;
	node->kps_config_kept = 1;
	rc = 0;
out:
	hgs_node_unlock(node);
	return rc;
}

int hgs_db_kps_config_set(struct hgs_node *node, int allow)
{
	int rc = -1;

	hgs_node_lock(node);
	node->changes_gen++;   /* kept copies are read again (hgs/db.h) */
	if (hl_store_begin(node->store) < 0 || hl_store_mark_changed(node->store) < 0)
		goto fail;
	if (hl_store_run(node->store, "UPDATE key_protection_config SET "
			 "allow_key_material_caching = ?, epoch = epoch + 1 WHERE id = 1",
			 HL_VALS(HL_IN_INT(allow ? 1 : 0))) < 0)
		goto fail;
	if (hl_store_changes(node->store) != 1) {
		hl_error("the key protection configuration of HGS '%s' is missing from its store",
			 node->config.name);
		goto fail;
	}
	if (hl_store_commit(node->store) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	hl_store_rollback(node->store);
out:
	hgs_node_unlock(node);
	return rc;
}

/* Hash the rows of query Q of generation_rows into H (with the node lock held). */
static int hash_rows(struct hgs_node *node, size_t q, struct hl_sha256 *h)
{
	char *a = NULL, *b = NULL;
	struct hl_store_stmt *stmt = NULL;
	int r;

	if (hl_store_query(node->store, generation_rows[q].sql, NULL, 0, &stmt) < 0)
		return -1;
	while ((r = hl_store_next(node->store, stmt, HL_VALS(HL_OUT_STR(&a), HL_OUT_STR(&b)))) ==
	       1) {
		const char *t = generation_rows[q].table;

		r = hl_crypto_sha256_update(h, t, strlen(t) + 1) < 0 ||
		    hl_crypto_sha256_update(h, a ? a : "", a ? strlen(a) + 1 : 1) < 0 ||
		    hl_crypto_sha256_update(h, b ? b : "", b ? strlen(b) + 1 : 1) < 0 ? -1 : 1;
		free(a);
		free(b);
		a = b = NULL;
		if (r < 0)
			break;
	}
	hl_store_stmt_done(node->store, stmt);
	return r < 0 ? -1 : 0;
}

int hgs_db_policy_generation(struct hgs_node *node, struct hgs_kps_config *cfg,
			     char out[HGS_POLICY_GENERATION_SIZE])
{
	unsigned char md[HL_SHA256_LEN];
	char hex[HL_SHA256_HEX_SIZE];
	struct hl_sha256 h = { NULL };
	struct hgs_kps_config c;
	int rc = -1;

	out[0] = '\0';
	hgs_node_lock(node);
	if (hl_store_read_begin(node->store) < 0)
		goto out;
	if (config_read(node, &c) < 0 || hl_crypto_sha256_begin(&h) < 0)
		goto end;
	for (size_t q = 0; q < N_GENERATION_ROWS; q++)
		if (hash_rows(node, q, &h) < 0)
			goto end;
	if (hl_crypto_sha256_end(&h, md) < 0 ||
	    hl_crypto_hex_encode(md, sizeof(md), hex, sizeof(hex)) < 0)
		goto end;
	snprintf(out, HGS_POLICY_GENERATION_SIZE, "%.*s", HGS_POLICY_GENERATION_LEN, hex);
	if (cfg)
		*cfg = c;
	rc = 0;
end:
	hl_crypto_sha256_abort(&h);
	if (rc == 0 && hl_store_commit(node->store) < 0)
		rc = -1;
	else if (rc < 0)
		hl_store_rollback(node->store);
out:
	hgs_node_unlock(node);
	if (rc < 0)
		hl_error_wrap("cannot compute the policy generation of HGS '%s'", node->config.name);
	return rc;
}
