/*
 * nonce.c - single-use, expiring attestation nonces kept in the node's store
 * (nonce.h).  Checking and using up a nonce is one UPDATE, so concurrent
 * requests with the same nonce cannot both pass.
 */
#include "hgs/nonce.h"

#include <string.h>

#include "lib/crypto.h"

/* Nonces are forgotten this long after they expire. */
#define NONCE_PURGE_AFTER_S (24L * 3600)

/* Issue a nonce and purge long-expired ones. */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires)
{
	struct hl_store *st = node->store;
	sqlite3_stmt *stmt = NULL;
	unsigned char n[HGS_NONCE_LEN];
	time_t now;
	int rc = -1;

	if (hgs_node_now(node, &now) < 0 || hl_crypto_random(n, sizeof(n)) < 0)
		return -1;
	hgs_node_lock(node);
	if (hl_store_prepare(st, "DELETE FROM nonces WHERE expires < ?", &stmt) < 0 ||
	    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)(now - NONCE_PURGE_AFTER_S)) != SQLITE_OK ||
	    hl_store_step(st, stmt) < 0)
		goto out;
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (hl_store_prepare(st, "INSERT INTO nonces(nonce, host, issued, expires) "
			     "VALUES(?, ?, ?, ?)", &stmt) < 0 ||
	    sqlite3_bind_blob(stmt, 1, n, sizeof(n), SQLITE_STATIC) != SQLITE_OK ||
	    (host ? sqlite3_bind_text(stmt, 2, host, -1, SQLITE_TRANSIENT)
		  : sqlite3_bind_null(stmt, 2)) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)now) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)(now + HGS_NONCE_LIFETIME_S)) != SQLITE_OK) {
		hl_store_error(st, "record a nonce");
		goto out;
	}
	if (hl_store_step(st, stmt) < 0)
		goto out;
	memcpy(nonce, n, sizeof(n));
	*expires = now + HGS_NONCE_LIFETIME_S;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	hgs_node_unlock(node);
	return rc;
}

/* Check and use up a nonce in one statement; explain a refusal. */
int hgs_nonce_consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		      struct hgs_result *res)
{
	struct hl_store *st = node->store;
	sqlite3_stmt *stmt = NULL;
	time_t now;
	int rc = -1, r;

	if (hgs_node_now(node, &now) < 0)
		return -1;
	if (!nonce || len != HGS_NONCE_LEN)
		return hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				       "the nonce has %zu bytes, not %d: it was not issued by this "
				       "HGS", len, HGS_NONCE_LEN);
	hgs_node_lock(node);
	if (hl_store_prepare(st, "UPDATE nonces SET used = ?1 WHERE nonce = ?2 AND used IS NULL "
			     "AND expires > ?1", &stmt) < 0 ||
	    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)now) != SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 2, nonce, (int)len, SQLITE_STATIC) != SQLITE_OK) {
		hl_store_error(st, "check a nonce");
		goto out;
	}
	if (hl_store_step(st, stmt) < 0)
		goto out;
	if (sqlite3_changes(hl_store_db(st)) == 1) {
		hgs_result_pass(res);
		rc = 0;
		goto out;
	}
	/* refused: find out why */
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (hl_store_prepare(st, "SELECT used, expires FROM nonces WHERE nonce = ?", &stmt) < 0 ||
	    sqlite3_bind_blob(stmt, 1, nonce, (int)len, SQLITE_STATIC) != SQLITE_OK) {
		hl_store_error(st, "check a nonce");
		goto out;
	}
	r = hl_store_step(st, stmt);
	if (r < 0)
		goto out;
	if (r == 0)
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the nonce was not issued by this HGS (or expired long ago); ask "
				"for a fresh nonce");
	else if (sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the nonce was already used: the request is a replay");
	else
		hgs_result_fail(res, HGS_STATUS_TRANSIENT_ERROR, 0,
				"the nonce expired %lld s ago (nonces are valid %d s); ask for a "
				"fresh nonce and retry",
				(long long)(now - (time_t)sqlite3_column_int64(stmt, 1)),
				HGS_NONCE_LIFETIME_S);
	rc = 0;
out:
	sqlite3_finalize(stmt);
	hgs_node_unlock(node);
	return rc;
}
