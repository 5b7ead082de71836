/*
 * nonce.h - attestation nonces: fresh, single use, expiring, good at every
 * node of the HGS.
 *
 * A host asks a node for a nonce (POST /Attestation/v1/nonce) and puts it
 * in what it proves (a TPM quote's extraData, a host-key signature), which
 * it may send to any node of the cluster.  A nonce is self-certifying, so
 * issuing one writes nothing:
 *
 *   nonce = random (8 bytes) || expires (8 bytes, big-endian, node clock)
 *           || HMAC-SHA256(nonce key, random || expires), first 16 bytes
 *
 * The nonce key is the cluster's, in the shared store (hgs/db_cluster.h),
 * read at open: every node checks every node's nonces, nothing else can
 * make one.  Checking a nonce (hgs_nonce_check) looks at its length and MAC
 * (else UnauthorizedHost: not issued by this HGS), its expiry on the
 * checking node's clock (else TransientError: ask for a fresh one; the
 * attempt does not use it up) and whether the store's used_nonces has it
 * (UnauthorizedHost: already used, a replay).  A good nonce is then pending
 * (struct hgs_nonce_use): it is used up by the attempt's attestation log
 * entry, in the same write transaction (hgs_attest_log_record), whatever
 * the decision - one commit per attestation.  The primary key of
 * used_nonces makes the insert of a second use conflict, whichever node
 * sees it: when two requests with one nonce race past the check, the one
 * whose insert conflicts is rolled back and becomes the replay refusal
 * (hgs_nonce_lost; a health certificate it computed is discarded, never
 * sent).  So a health certificate is only ever sent after its nonce's use
 * has committed, and a nonce is accepted at most once cluster-wide.  The
 * commit is at synchronous=NORMAL as the audit records are
 * (hgs_node_log_store): it survives a crash of `hgs serve`; a power
 * failure may lose the last ones, which could then be presented again
 * until they expire, and a replayed request gets only what the original
 * got (a health certificate bound to the original host's transport key).
 * `hgs serve` purges used nonces HGS_NONCE_LIFETIME_S after they expired (a
 * nonce past its expiry is refused before it is looked up, so a purged one
 * cannot come back unless a node's clock goes back by more than that).  A
 * restart of a node forgets nothing: a nonce issued before it is still good
 * once.  The nodes' clocks are assumed to agree within a few seconds (a
 * node whose clock runs ahead refuses nonces early).
 *
 * Every attestation mode calls hgs_nonce_check() before it checks anything
 * else the request proves, into its request's pending nonce (hgs/serve.h).
 */
#ifndef HGSLAB_HGS_NONCE_H
#define HGSLAB_HGS_NONCE_H

#include <stddef.h>
#include <time.h>

#include "proto/attest.h"
#include "hgs/node.h"
#include "hgs/trace.h"

#define HGS_NONCE_LEN 32
/* How long a nonce may be used after it was issued, seconds. */
#define HGS_NONCE_LIFETIME_S 300

/*
 * Issue a nonce into NONCE, valid until *EXPIRES (node clock).  HOST (may be
 * NULL) is for diagnostics only: it binds nothing and is not kept.
 */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires);

/*
 * A nonce checked good and not used up yet.  Invariant: when pending, NONCE
 * passed hgs_nonce_check (MAC, expiry EXPIRES, not in used_nonces then),
 * and TRACE_STEP is the index of its "Nonce" step in the exchange's trace.
 */
struct hgs_nonce_use {
	int pending;
	unsigned char nonce[HGS_NONCE_LEN];
	time_t expires;
	size_t trace_step;
};

/*
 * Check NONCE (LEN bytes): a decision in RES, not an error, appended to
 * trace T (may be NULL) as its "Nonce" step.  Passed when a node of this
 * HGS issued it and it is unexpired and not used yet: then USE holds it,
 * pending, for the attempt's log entry to use up (hgs_attest_log_record);
 * otherwise UnauthorizedHost (wrong length, not made with the cluster's
 * key, already used: a replay) or TransientError (expired: ask for a fresh
 * one and retry), with a reason, and nothing is pending.  Returns -1 only
 * on an internal error (clock, store).
 */
int hgs_nonce_check(struct hgs_node *node, struct hgs_trace *t, const unsigned char *nonce,
		    size_t len, struct hgs_result *res, struct hgs_nonce_use *use);

/*
 * USE's nonce was used up by another request first (its insert conflicted):
 * RES becomes the replay refusal and trace T is cut back to what a replay's
 * trace holds (the request, then the failed "Nonce" step); nothing pending.
 */
void hgs_nonce_lost(struct hgs_trace *t, struct hgs_nonce_use *use, struct hgs_result *res);

/* Forget the used nonces that can no longer be presented (`hgs serve`, now and then). */
int hgs_nonce_purge(struct hgs_node *node);

#endif
