/*
 * attest_hostkey.c - host key attestation (attest_hostkey.h): the
 * POST /Attestation/v1/hostkey/attest route.  It checks the request, then the
 * nonce, the registration and the proof of possession, and hands the result
 * to hgs_attest_finish(), which issues the health certificate and records the
 * attempt.
 */
#include "hgs/attest_hostkey.h"

#include <stdlib.h>
#include <string.h>

#include "hgs/db.h"
#include "hgs/nonce.h"
#include "proto/hostkey.h"
#include "lib/crypto.h"

/* POST /Attestation/v1/hostkey/attest. */
static int route_attest(struct hgs_request *req, struct hl_http_response *resp)
{
	struct hostkey_request r;
	EVP_PKEY *registered = NULL;
	char fp[HL_SHA256_HEX_SIZE], *reg_name = NULL;
	struct hgs_result res;
	const char *host;
	int rc = -1, found, ok;

	/* 1. the request */
	if (hostkey_request_read(req->body, HOSTKEY_CLAIM_HOST_KEY, &r) < 0 ||
	    hostkey_request_check_transport(&r) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	host = r.host;
	hgs_trace_amend(req->trace, 0, ": host '%s': host key, transport key, signature over the "
			"nonce and transport key", host);
	/* 2. the nonce, before anything else: used up with the log entry whatever follows */
	if (hgs_nonce_check(req->node, req->trace, r.nonce, r.nonce_len, &res, &req->nonce) < 0)
		goto out;
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 3. the registration */
	if (hl_key_fingerprint(r.host_key, fp) < 0)
		goto out;
	found = hgs_db_host_key_find(req->node, fp, &reg_name, &registered);
	if (found < 0)
		goto out;
	if (!found) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the host key of '%s' (SHA-256 %.16s...) is not registered with this "
				"HGS; register it with `hgslab hgs add-host-key --name %s --key FILE`",
				host, fp, host);
	} else if (strcmp(reg_name, host) != 0) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the host key presented by '%s' is registered for host '%s'", host,
				reg_name);
	}
	hgs_trace_result(req->trace, "HostKeyRegistered", "the host key is registered for this host",
			 &res, "host key SHA-256 %.*s... registered as '%s'",
			 HGS_TRACE_THUMB_SHOWN, fp, host);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 4. proof of possession over nonce || transport key */
	ok = hostkey_request_verify(&r, registered);
	if (ok < 0)
		goto out;
	if (!ok)
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the signature over the nonce and transport key does not verify with "
				"the host key registered for '%s': the host does not hold that key, "
				"or signed other data", host);
	hgs_trace_result(req->trace, "Signature", "the host signed the nonce and its transport key "
			 "with the registered key", &res, NULL);
decided:
	rc = hgs_attest_finish(req, host, &res, r.transport, resp);
out:
	hostkey_request_release(&r);
	free(reg_name);
	hl_key_free(registered);
	return rc;
}

const struct hgs_route hgs_hostkey_routes[] = {
	{ "POST", "/Attestation/v1/hostkey/attest", HGS_MODE_HOSTKEY, route_attest },
	{ NULL, NULL, 0, NULL },
};
