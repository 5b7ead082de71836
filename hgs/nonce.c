/*
 * nonce.c - attestation nonces of an HGS cluster (nonce.h): made and
 * checked with the cluster's nonce key (HMAC-SHA256, OpenSSL), used up in
 * the shared store (hgs/db_cluster.h), read on the node clock; the
 * decision a presented nonce gives (Passed, UnauthorizedHost or
 * TransientError with a reason) and its step in the exchange's trace.
 */
#include "hgs/nonce.h"

#include <stdint.h>
#include <string.h>

#include "hgs/db_cluster.h"
#include "lib/crypto.h"

/* The parts of a nonce: random (first: a trace shows the nonce's first bytes), expiry, MAC. */
#define NONCE_EXPIRES_LEN 8
#define NONCE_RANDOM_LEN 8
#define NONCE_SIGNED_LEN (NONCE_EXPIRES_LEN + NONCE_RANDOM_LEN)
#define NONCE_MAC_LEN (HGS_NONCE_LEN - NONCE_SIGNED_LEN)

/* The MAC of the first NONCE_SIGNED_LEN bytes of NONCE under NODE's nonce key into MAC. */
static int nonce_mac(const struct hgs_node *node, const unsigned char *nonce,
		     unsigned char mac[HL_SHA256_LEN])
{
	if (hl_hmac_sha256(node->nonce_mac, nonce, NONCE_SIGNED_LEN, mac) < 0)
		return hl_error_wrap("cannot compute a nonce's MAC");
	return 0;
}

/* Issue a nonce on the node clock: random, expiry, MAC. */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires)
{
	unsigned char mac[HL_SHA256_LEN];
	uint64_t e;
	time_t now;

	(void)host;
	if (hgs_node_now(node, &now) < 0)
		return -1;
	*expires = now + HGS_NONCE_LIFETIME_S;
	e = (uint64_t)*expires;
	for (int i = 0; i < NONCE_EXPIRES_LEN; i++)
		nonce[NONCE_RANDOM_LEN + i] = (unsigned char)(e >> (8 * (NONCE_EXPIRES_LEN - 1 - i)));
	if (hl_crypto_random_public(nonce, NONCE_RANDOM_LEN) < 0 ||
	    nonce_mac(node, nonce, mac) < 0)
		return -1;
	memcpy(nonce + NONCE_SIGNED_LEN, mac, NONCE_MAC_LEN);
	return 0;
}

/* Fail RES as a replay: the nonce was used before. */
static int nonce_replayed(struct hgs_result *res)
{
	return hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
			       "the nonce was already used: the request is a replay");
}

/* Decide whether NONCE can be used; explain a refusal. */
static int nonce_decide(struct hgs_node *node, const unsigned char *nonce, size_t len,
			struct hgs_result *res, time_t *expires_out)
{
	unsigned char mac[HL_SHA256_LEN];
	uint64_t e = 0;
	time_t now, expires;
	int r;

	if (hgs_node_now(node, &now) < 0)
		return -1;
	if (!nonce || len != HGS_NONCE_LEN)
		return hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				       "the nonce has %zu bytes, not %d: it was not issued by this "
				       "HGS", len, HGS_NONCE_LEN);
	if (nonce_mac(node, nonce, mac) < 0)
		return -1;
	if (!hl_crypto_ct_equal(mac, nonce + NONCE_SIGNED_LEN, NONCE_MAC_LEN))
		return hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				       "the nonce was not issued by this HGS (its MAC does not "
				       "verify under the cluster's nonce key); ask for a fresh nonce");
	for (int i = 0; i < NONCE_EXPIRES_LEN; i++)
		e = e << 8 | nonce[NONCE_RANDOM_LEN + i];
	expires = (time_t)e;
	if (expires <= now)
		return hgs_result_fail(res, HGS_STATUS_TRANSIENT_ERROR, 0,
				       "the nonce expired %lld s ago (nonces are valid %d s); ask "
				       "for a fresh nonce and retry", (long long)(now - expires),
				       HGS_NONCE_LIFETIME_S);
	if ((r = hgs_db_nonce_used(node, nonce, len)) < 0)
		return -1;
	if (r == 1)
		return nonce_replayed(res);
	*expires_out = expires;
	hgs_result_pass(res);
	return 0;
}

/* The trace step of a nonce decision. */
static void nonce_trace(struct hgs_trace *t, const unsigned char *nonce, size_t len,
			const struct hgs_result *res)
{
	char hex[2 * HGS_TRACE_NONCE_SHOWN + 1] = "";

	if (!t)
		return;
	if (nonce && len >= HGS_TRACE_NONCE_SHOWN &&
	    hl_crypto_hex_encode(nonce, HGS_TRACE_NONCE_SHOWN, hex, sizeof(hex)) < 0)
		hl_error_clear();
	hgs_trace_result(t, "Nonce", "the nonce was issued by this HGS, is unused and unexpired",
			 res, "nonce %s... (%zu bytes), now used up", hex, len);
}

/* Check a nonce, trace the decision, and keep a good one in USE to be used up. */
int hgs_nonce_check(struct hgs_node *node, struct hgs_trace *t, const unsigned char *nonce,
		    size_t len, struct hgs_result *res, struct hgs_nonce_use *use)
{
	time_t expires = 0;

	use->pending = 0;
	if (nonce_decide(node, nonce, len, res, &expires) < 0)
		return -1;
	use->trace_step = hgs_trace_steps(t);
	nonce_trace(t, nonce, len, res);
	if (res->status == HGS_STATUS_PASSED) {
		memcpy(use->nonce, nonce, HGS_NONCE_LEN);
		use->expires = expires;
		use->pending = 1;
	}
	return 0;
}

/* A pending nonce lost its use to another request: the attempt becomes the replay refusal. */
void hgs_nonce_lost(struct hgs_trace *t, struct hgs_nonce_use *use, struct hgs_result *res)
{
	use->pending = 0;
	nonce_replayed(res);
	hgs_trace_truncate(t, use->trace_step);
	nonce_trace(t, use->nonce, HGS_NONCE_LEN, res);
}

/* Purge used nonces a lifetime after they expired. */
int hgs_nonce_purge(struct hgs_node *node)
{
	time_t now;

	if (hgs_node_now(node, &now) < 0)
		return -1;
	return hgs_db_nonce_purge(node, now - HGS_NONCE_LIFETIME_S);
}
