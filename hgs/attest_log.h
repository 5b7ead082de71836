/*
 * attest_log.h - the attestation log: every attestation attempt the node
 * answered, with its time (node clock), host, mode, AttestationStatus,
 * sub-status, reason, the peer address and the thumbprint of the health
 * certificate issued (if any).  Kept in the node's store (hgs/db.h:
 * hgs_db_attest_log_add, hgs_db_attest_log_list, which `hgslab hgs
 * get-attestation-log` shows).
 *
 * Every attestation mode records each attempt exactly once; the route
 * framework in hgs/serve.h (hgs_attest_finish, hgs_attest_refuse) does it
 * for the handlers.  Each entry is committed alone at synchronous=NORMAL
 * (hgs_node_log_store): it survives a crash of `hgs serve`, the last ones
 * may be lost on a power failure (docs/attestation-protocol.md,
 * "Durability").
 */
#ifndef HGSLAB_HGS_ATTEST_LOG_H
#define HGSLAB_HGS_ATTEST_LOG_H

#include "proto/attest.h"
#include "hgs/node.h"
#include "hgs/trace.h"

/*
 * Record one attempt by HOST (NULL or "" when the request named none) in
 * MODE with result RES; REMOTE is the peer ("127.0.0.5:40112") or NULL;
 * HEALTHCERT is the thumbprint of the health certificate issued, or NULL;
 * TRACE the exchange's trace (hgs/trace.h), complete with its answer, or
 * NULL (recorded as null).  The entry is committed when this returns;
 * *LOG_ID (LOG_ID may be NULL) gets its Id, the "LogId" of the answer.
 */
int hgs_attest_log_record(struct hgs_node *node, const char *host, enum hgs_mode mode,
			  const struct hgs_result *res, const char *remote, const char *healthcert,
			  const struct hgs_trace *trace, long long *log_id);

#endif
