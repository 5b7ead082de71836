/*
 * nonce.c - attestation nonces of an HGS node (nonce.h): the node's
 * lib/nonce table read on the node clock, the decision a presented nonce
 * gives (Passed, UnauthorizedHost or TransientError with a reason) and its
 * step in the exchange's trace.
 */
#include "hgs/nonce.h"

#include "lib/crypto.h"

/* Issue a nonce on the node clock. */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires)
{
	time_t now;

	(void)host;
	if (hgs_node_now(node, &now) < 0)
		return -1;
	return hl_nonce_issue(node->nonces, now, nonce, expires);
}

/* Check and use up a nonce; explain a refusal. */
int hgs_nonce_consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		      struct hgs_result *res)
{
	time_t now, expires;

	if (hgs_node_now(node, &now) < 0)
		return -1;
	if (!nonce || len != HGS_NONCE_LEN)
		return hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				       "the nonce has %zu bytes, not %d: it was not issued by this "
				       "HGS", len, HGS_NONCE_LEN);
	switch (hl_nonce_consume(node->nonces, nonce, now, &expires)) {
	case HL_NONCE_FRESH:
		hgs_result_pass(res);
		break;
	case HL_NONCE_UNKNOWN:
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the nonce was not issued by this HGS since it last started (or it "
				"expired long ago); ask for a fresh nonce");
		break;
	case HL_NONCE_USED:
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the nonce was already used: the request is a replay");
		break;
	case HL_NONCE_EXPIRED:
		hgs_result_fail(res, HGS_STATUS_TRANSIENT_ERROR, 0,
				"the nonce expired %lld s ago (nonces are valid %d s); ask for a "
				"fresh nonce and retry", (long long)(now - expires),
				HGS_NONCE_LIFETIME_S);
		break;
	}
	return 0;
}

/* The trace step of a nonce decision. */
void hgs_nonce_trace(struct hgs_trace *t, const unsigned char *nonce, size_t len,
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
