/*
 * attest_log.c - the attestation log (attest_log.h): every attestation mode
 * records each attempt here, in the node's store (hgs_db_attest_log_add, an
 * audit record, with the exchange's trace as JSON) and in hgs.log;
 * get-attestation-log reads it back with hgs_db_attest_log_list.  The
 * entry of an attempt whose nonce is pending uses the nonce up in the same
 * transaction (hgs/nonce.h).
 */
#include "hgs/attest_log.h"

#include <stdlib.h>

#include "hgs/db.h"
#include "lib/err.h"
#include "lib/log.h"

/*
 * Write the entry of an attempt (with NONCE's use when not NULL, one
 * transaction): 1 recorded, 0 the nonce was already used (nothing
 * recorded), -1 error.
 */
static int log_add(struct hgs_node *node, struct hgs_attest_log_entry *e,
		   const struct hgs_result *res, const struct hgs_trace *trace,
		   const struct hgs_nonce_use *nonce, long long *id)
{
	char *json = NULL;
	int r;

	e->status = hgs_status_name(res->status);
	e->substatus = res->substatus;
	e->reason = res->reason;
	if (!e->status)
		return hl_error("cannot record an attestation attempt: invalid status");
	/* the attempt is recorded even when its trace cannot be written */
	if (trace && hgs_trace_json(trace, &json) < 0) {
		hl_log_warn("%s", hl_error_last());
		hl_error_clear();
	}
	e->trace = json;
	r = hgs_db_attest_log_add(node, e, nonce ? nonce->nonce : NULL, HGS_NONCE_LEN,
				  nonce ? nonce->expires : 0, id);
	e->trace = NULL;
	free(json);
	return r;
}

/* Record one attestation attempt with its pending nonce's use (and log it in hgs.log). */
int hgs_attest_log_record(struct hgs_node *node, const char *host, enum hgs_mode mode,
			  struct hgs_result *res, int http_status, const char *remote,
			  const char *healthcert, struct hgs_trace *trace,
			  struct hgs_nonce_use *nonce, long long *log_id)
{
	char sub[HGS_REASON_MAX];
	struct hgs_attest_log_entry e = { .mode = hgs_mode_name(mode), .remote = remote };
	long long id = 0;
	int r, lost = 0;

	if (!e.mode)
		return hl_error("cannot record an attestation attempt: invalid mode");
	if (hgs_node_now(node, &e.time) < 0)
		return -1;
	e.host = host ? host : "";
	e.healthcert = healthcert;
	hgs_trace_answer(trace, http_status, res);
	r = log_add(node, &e, res, trace, nonce && nonce->pending ? nonce : NULL, &id);
	if (r == 0) {
		/* another request used the nonce first: this one is its replay */
		lost = 1;
		hgs_nonce_lost(trace, nonce, res);
		hgs_trace_answer(trace, http_status, res);
		e.healthcert = NULL;
		r = log_add(node, &e, res, trace, NULL, &id);
	}
	if (r == 1) {
		if (nonce)
			nonce->pending = 0;
		if (log_id)
			*log_id = id;
	}
	hgs_substatus_format(res->substatus, sub, sizeof(sub));
	hl_log_info("attestation %lld: host '%s' (%s) from %s: %s%s%s%s%s%s", id,
		    e.host[0] ? e.host : "-", e.mode, remote ? remote : "-",
		    hgs_status_name(res->status), sub[0] ? " (" : "", sub,
		    sub[0] ? ")" : "", res->reason[0] ? ": " : "", res->reason);
	return r < 0 ? -1 : lost;
}
