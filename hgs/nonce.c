/*
 * nonce.c - attestation nonces of an HGS node (nonce.h): the node's
 * lib/nonce table read on the node clock, and the decision a presented
 * nonce gives (Passed, UnauthorizedHost or TransientError with a reason).
 */
#include "hgs/nonce.h"

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
