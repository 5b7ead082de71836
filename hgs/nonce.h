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
 * make one.  Consuming a nonce checks its length and MAC (else
 * UnauthorizedHost: not issued by this HGS), its expiry on the consuming
 * node's clock (else TransientError: ask for a fresh one; the attempt does
 * not use it up), then inserts it into the store's used_nonces, whose
 * primary key makes the insert of a second use conflict (UnauthorizedHost:
 * already used, a replay), whichever node sees it.  That is one insert per
 * attestation, committed at synchronous=NORMAL as the audit records are
 * (hgs_node_log_store): it survives a crash of `hgs serve`; a power
 * failure may lose the last ones, which could then be presented again
 * until they expire, and a replayed request gets only what the original
 * got (a health certificate bound to the original host's transport key).  `hgs serve` purges used nonces HGS_NONCE_LIFETIME_S after
 * they expired (a nonce past its expiry is refused before it is looked up,
 * so a purged one cannot come back unless a node's clock goes back by more
 * than that).  A restart of a node forgets nothing: a nonce issued before
 * it is still good once.  The nodes' clocks are assumed to agree within a
 * few seconds (a node whose clock runs ahead refuses nonces early).
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
 * Consume NONCE (LEN bytes): a decision in RES, not an error.  Passed when
 * a node of this HGS issued it and it is unused and unexpired (it is then
 * used up, at every node); otherwise UnauthorizedHost (wrong length, not
 * made with the cluster's key, already used: a replay) or TransientError
 * (expired: ask for a fresh one and retry), with a reason.  Returns -1 only
 * on an internal error (clock, store).
 */
int hgs_nonce_consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		      struct hgs_result *res);

/* Forget the used nonces that can no longer be presented (`hgs serve`, now and then). */
int hgs_nonce_purge(struct hgs_node *node);

/*
 * Append to trace T the "Nonce" check that hgs_nonce_consume() decided as
 * RES for NONCE (LEN bytes), showing only its first HGS_TRACE_NONCE_SHOWN
 * bytes.
 */
void hgs_nonce_trace(struct hgs_trace *t, const unsigned char *nonce, size_t len,
		     const struct hgs_result *res);

#endif
