/*
 * attest_log.c - the attestation log (attest_log.h): every attestation mode
 * records each attempt here, in the node's store (hgs_db_attest_log_add, an
 * audit record, with the exchange's trace as JSON) and in hgs.log;
 * get-attestation-log reads it back with hgs_db_attest_log_list.
 */
#include "hgs/attest_log.h"

#include <stdlib.h>

#include "hgs/db.h"
#include "lib/log.h"

/* Record one attestation attempt (and log it in hgs.log). */
int hgs_attest_log_record(struct hgs_node *node, const char *host, enum hgs_mode mode,
			  const struct hgs_result *res, const char *remote, const char *healthcert,
			  const struct hgs_trace *trace, long long *log_id)
{
	char sub[HGS_REASON_MAX], *json = NULL;
	struct hgs_attest_log_entry e = {
		.mode = hgs_mode_name(mode), .status = hgs_status_name(res->status),
		.substatus = res->substatus, .reason = res->reason, .remote = remote,
	};
	long long id = 0;
	int rc;

	if (!e.mode || !e.status)
		return hl_error("cannot record an attestation attempt: invalid mode or status");
	if (hgs_node_now(node, &e.time) < 0)
		return -1;
	e.host = host ? host : "";
	e.healthcert = healthcert;
	/* the attempt is recorded even when its trace cannot be written */
	if (trace && hgs_trace_json(trace, &json) < 0) {
		hl_log_warn("%s", hl_error_last());
		hl_error_clear();
	}
	e.trace = json;
	rc = hgs_db_attest_log_add(node, &e, &id);
	if (rc == 0 && log_id)
		*log_id = id;
	free(json);
	hgs_substatus_format(res->substatus, sub, sizeof(sub));
	hl_log_info("attestation %lld: host '%s' (%s) from %s: %s%s%s%s%s%s", id,
		    e.host[0] ? e.host : "-", e.mode, remote ? remote : "-", e.status,
		    sub[0] ? " (" : "", sub,
		    sub[0] ? ")" : "", res->reason[0] ? ": " : "", res->reason);
	return rc;
}
