/*
 * attest_log.c - the attestation log (attest_log.h), a table of the node's
 * store written by every attestation mode (an audit record: hgs_node_log_store)
 * and read by get-attestation-log.
 */
#include "hgs/attest_log.h"

#include <string.h>

#include "lib/crypto.h"
#include "lib/log.h"

/* Record one attestation attempt (and log it in hgs.log). */
int hgs_attest_log_record(struct hgs_node *node, const char *host, enum hgs_mode mode,
			  const struct hgs_result *res, const char *remote, const X509 *healthcert)
{
	struct hl_store *st = NULL;
	char thumb[HL_SHA256_HEX_SIZE], sub[HGS_REASON_MAX];
	sqlite3_stmt *stmt = NULL;
	const char *mode_name = hgs_mode_name(mode), *status = hgs_status_name(res->status);
	time_t now;
	int rc = -1;

	if (!mode_name || !status)
		return hl_error("cannot record an attestation attempt: invalid mode or status");
	if (healthcert && hl_cert_thumbprint(healthcert, thumb) < 0)
		return -1;
	if (hgs_node_now(node, &now) < 0)
		return -1;
	if (!host)
		host = "";
	if (hgs_node_log_store(node, &st) < 0)
		goto logged;
	if (hl_store_stmt(st, "INSERT INTO attestation_log(time, host, mode, status, substatus, "
			  "reason, remote, healthcert) VALUES(?, ?, ?, ?, ?, ?, ?, ?)", &stmt) < 0)
		goto out;
	if (sqlite3_bind_int64(stmt, 1, (sqlite3_int64)now) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 2, host, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 3, mode_name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 4, status, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 5, res->substatus) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 6, res->reason, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (remote ? sqlite3_bind_text(stmt, 7, remote, -1, SQLITE_STATIC)
		    : sqlite3_bind_null(stmt, 7)) != SQLITE_OK ||
	    (healthcert ? sqlite3_bind_text(stmt, 8, thumb, -1, SQLITE_STATIC)
			: sqlite3_bind_null(stmt, 8)) != SQLITE_OK) {
		hl_store_error(st, "record an attestation attempt");
		goto out;
	}
	if (hl_store_step(st, stmt) < 0)
		goto out;
	rc = 0;
out:
	hl_store_stmt_done(st, stmt);
	hgs_node_log_release(node);
logged:
	hgs_substatus_format(res->substatus, sub, sizeof(sub));
	hl_log_info("attestation: host '%s' (%s) from %s: %s%s%s%s%s%s", host[0] ? host : "-",
		    mode_name, remote ? remote : "-", status, sub[0] ? " (" : "", sub,
		    sub[0] ? ")" : "", res->reason[0] ? ": " : "", res->reason);
	return rc;
}

/* The sub-status bits as a JSON array of names. */
static json_t *substatus_json(uint32_t bits)
{
	json_t *arr = json_array();

	for (int i = 0; arr && i < HGS_SUB_COUNT; i++)
		if (bits & (1u << i))
			json_array_append_new(arr, json_string(hgs_substatus_name(1u << i)));
	return arr;
}

/* Read the attestation log. */
int hgs_attest_log_list(struct hgs_node *node, const char *host, long last, json_t **out)
{
	struct hl_store *st = node->store;
	sqlite3_stmt *stmt = NULL;
	json_t *arr = json_array(), *o;
	char when[32];
	int rc = -1, r;

	*out = NULL;
	if (!arr)
		return hl_error("out of memory");
	hgs_node_lock(node);
	/* the LAST most recent, shown oldest first */
	if (hl_store_stmt(st, "SELECT time, host, mode, status, substatus, reason, remote, "
			  "healthcert FROM (SELECT * FROM attestation_log "
			  "WHERE ?1 IS NULL OR host = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
			  &stmt) < 0)
		goto out;
	if ((host ? sqlite3_bind_text(stmt, 1, host, -1, SQLITE_STATIC)
		  : sqlite3_bind_null(stmt, 1)) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, last > 0 ? last : -1) != SQLITE_OK) {
		hl_store_error(st, "read the attestation log");
		goto out;
	}
	while ((r = hl_store_step(st, stmt)) == 1) {
		const char *remote = (const char *)sqlite3_column_text(stmt, 6);
		const char *thumb = (const char *)sqlite3_column_text(stmt, 7);

		hl_labclock_format((time_t)sqlite3_column_int64(stmt, 0), when, sizeof(when));
		o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s?, s:s?}", "Time", when, "Host",
			      (const char *)sqlite3_column_text(stmt, 1), "Mode",
			      (const char *)sqlite3_column_text(stmt, 2), "Status",
			      (const char *)sqlite3_column_text(stmt, 3), "SubStatus",
			      substatus_json((uint32_t)sqlite3_column_int64(stmt, 4)), "Reason",
			      (const char *)sqlite3_column_text(stmt, 5), "Remote", remote,
			      "HealthCertificate", thumb);
		if (!o || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
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
