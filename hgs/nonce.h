/*
 * nonce.h - attestation nonces: fresh, single use, expiring.
 *
 * A host asks for a nonce (POST /Attestation/v1/nonce) and puts it in what it
 * proves (a TPM quote's extraData, a host-key signature).  The nonce is 32
 * random bytes kept in the node's store with its expiry on the node clock
 * (hgs_node_now), so a restart of `hgs serve` forgets none and a replay after
 * a restart is still caught.  hgs_nonce_consume() marks a nonce used in the
 * same statement that checks it, so two requests racing with one nonce cannot
 * both pass.  Nonces are purged a day after they expire; a purged nonce is
 * refused as unknown.
 *
 * Every attestation mode calls hgs_nonce_consume() before it checks anything
 * else the request proves.
 */
#ifndef HGSLAB_HGS_NONCE_H
#define HGSLAB_HGS_NONCE_H

#include <stddef.h>
#include <time.h>

#include "hgs/attest.h"
#include "hgs/node.h"

#define HGS_NONCE_LEN 32
/* How long a nonce may be used after it was issued, seconds. */
#define HGS_NONCE_LIFETIME_S 300

/*
 * Issue a nonce into NONCE, valid until *EXPIRES (node clock).  HOST (may be
 * NULL) is recorded for diagnostics only: it binds nothing.
 */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires);

/*
 * Consume NONCE (LEN bytes): a decision in RES, not an error.  Passed when it
 * was issued by this node, is unused and unexpired (it is then used up);
 * otherwise UnauthorizedHost (unknown, wrong length, already used: a replay)
 * or TransientError (expired: ask for a fresh one and retry), with a reason.
 * Returns -1 only on an internal error (store, clock).
 */
int hgs_nonce_consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		      struct hgs_result *res);

#endif
