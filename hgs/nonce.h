/*
 * nonce.h - attestation nonces: fresh, single use, expiring.
 *
 * A host asks for a nonce (POST /Attestation/v1/nonce) and puts it in what it
 * proves (a TPM quote's extraData, a host-key signature).  The nonces of a
 * node are a lib/nonce table (node->nonces): 32 random bytes kept only in
 * the memory of the process that issued them, with their expiry on the node
 * clock (hgs_node_now).  A restart of `hgs serve` therefore forgets every
 * outstanding nonce: a nonce issued before it is refused after it as not
 * issued by this HGS, and the host asks for a fresh one.  That is the safe
 * direction: no nonce, used or not, can come back after a crash, and nothing
 * is written to disk per nonce.
 *
 * hgs_nonce_consume() checks and marks a nonce used under the table's lock,
 * so two requests racing with one nonce cannot both pass.  A used or expired
 * nonce stays in the table (so a replay is named as such) until its slot is
 * taken: the table holds the HGS_NONCE_TABLE_SIZE most recently issued
 * nonces, and issuing one more drops the oldest (used or not; a host whose
 * nonce was dropped that way is refused and retries with a fresh one).
 * This file adds what HGS makes of a presented nonce: the decision.
 *
 * Every attestation mode calls hgs_nonce_consume() before it checks anything
 * else the request proves.
 */
#ifndef HGSLAB_HGS_NONCE_H
#define HGSLAB_HGS_NONCE_H

#include <stddef.h>
#include <time.h>

#include "proto/attest.h"
#include "hgs/node.h"
#include "hgs/trace.h"
#include "lib/nonce.h"

#define HGS_NONCE_LEN HL_NONCE_LEN
/* How long a nonce may be used after it was issued, seconds. */
#define HGS_NONCE_LIFETIME_S 300
/* Nonces a node remembers: at 100 attestations/s, well over a lifetime's worth. */
#define HGS_NONCE_TABLE_SIZE 65536

/*
 * Issue a nonce into NONCE, valid until *EXPIRES (node clock).  HOST (may be
 * NULL) is for diagnostics only: it binds nothing and is not kept.
 */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires);

/*
 * Consume NONCE (LEN bytes): a decision in RES, not an error.  Passed when it
 * was issued by this node in this process, is unused and unexpired (it is
 * then used up); otherwise UnauthorizedHost (unknown, issued before a
 * restart, wrong length, already used: a replay) or TransientError (expired:
 * ask for a fresh one and retry), with a reason.  Returns -1 only on an
 * internal error (clock).
 */
int hgs_nonce_consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		      struct hgs_result *res);

/*
 * Append to trace T the "Nonce" check that hgs_nonce_consume() decided as
 * RES for NONCE (LEN bytes), showing only its first HGS_TRACE_NONCE_SHOWN
 * bytes.
 */
void hgs_nonce_trace(struct hgs_trace *t, const unsigned char *nonce, size_t len,
		     const struct hgs_result *res);

#endif
