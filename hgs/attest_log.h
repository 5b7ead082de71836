/*
 * attest_log.h - the attestation log: every attestation attempt the node
 * answered, with its time (node clock), host, mode, AttestationStatus,
 * sub-status, reason, the peer address and the thumbprint of the health
 * certificate issued (if any).  Kept in the node's store (hgs/db.h:
 * hgs_db_attest_log_add, hgs_db_attest_log_list, which `hgslab hgs
 * get-attestation-log` shows).
 *
 * Every attestation mode records each attempt exactly once; the route
 * framework in hgs/serve.h (hgs_attest_finish, hgs_attest_reject) does it
 * for the handlers.  Each entry is committed alone, or with the use of the
 * attempt's nonce (hgs/nonce.h) in one write transaction, at
 * synchronous=NORMAL (hgs_node_log_store): it survives a crash of `hgs
 * serve`, the last ones may be lost on a power failure
 * (docs/attestation-protocol.md, "Durability").
 */
#ifndef HGSLAB_HGS_ATTEST_LOG_H
#define HGSLAB_HGS_ATTEST_LOG_H

#include "proto/attest.h"
#include "hgs/node.h"
#include "hgs/nonce.h"
#include "hgs/trace.h"

/*
 * Record one attempt by HOST (NULL or "" when the request named none) in
 * MODE with result RES, answered with HTTP_STATUS; REMOTE is the peer
 * ("127.0.0.5:40112") or NULL; HEALTHCERT is the thumbprint of the health
 * certificate issued, or NULL; TRACE the exchange's trace (hgs/trace.h),
 * to which the answer is appended here, or NULL (recorded as null).  When
 * NONCE (may be NULL) is pending, the entry uses it up in the same write
 * transaction.  The entry is committed when this returns; *LOG_ID (LOG_ID
 * may be NULL) gets its Id, the "LogId" of the answer.  Returns 0; or 1
 * when another request had used the nonce up first: then RES and TRACE were
 * turned into the replay refusal (hgs_nonce_lost) and that was recorded,
 * without HEALTHCERT (which must not be sent); -1 on error.
 */
int hgs_attest_log_record(struct hgs_node *node, const char *host, enum hgs_mode mode,
			  struct hgs_result *res, int http_status, const char *remote,
			  const char *healthcert, struct hgs_trace *trace,
			  struct hgs_nonce_use *nonce, long long *log_id);

#endif
