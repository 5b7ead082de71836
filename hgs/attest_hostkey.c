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
#include "lib/json.h"
#include "proto/names.h"

/* Read PEM public key field NAME of OBJ into *OUT; -1 with a message naming the field. */
static int get_pubkey(const json_t *obj, const char *name, EVP_PKEY **out)
{
	const char *pem;

	*out = NULL;
	if (hl_json_get_string(obj, name, &pem) < 0)
		return -1;
	if (hl_key_pub_from_pem(pem, strlen(pem), out) < 0)
		return hl_error_wrap("field '%s'", name);
	return 0;
}

/* POST /Attestation/v1/hostkey/attest. */
static int route_attest(struct hgs_request *req, struct hl_http_response *resp)
{
	unsigned char *nonce = NULL, *sig = NULL;
	size_t nonce_len = 0, sig_len = 0;
	EVP_PKEY *host_key = NULL, *transport = NULL, *registered = NULL;
	char fp[HL_SHA256_HEX_SIZE], *reg_name = NULL;
	struct hl_buf msg = { 0 };
	struct hgs_result res;
	enum hl_key_type kt;
	const char *host;
	int rc = -1, found;

	/* 1. the request */
	if (hl_json_get_string(req->body, "host", &host) < 0 ||
	    hl_name_registration("host name", host) < 0 ||
	    hl_json_get_base64(req->body, "nonce", &nonce, &nonce_len) < 0 ||
	    get_pubkey(req->body, "host_key", &host_key) < 0 ||
	    get_pubkey(req->body, "transport_key", &transport) < 0 ||
	    hl_json_get_base64(req->body, "signature", &sig, &sig_len) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	if (hl_key_type_of(transport, &kt) < 0 || (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072)) {
		rc = hgs_attest_reject(req, resp, 400, "field 'transport_key' must be an RSA 2048 or "
				       "3072 public key: keys are released to it with RSA-OAEP");
		goto out;
	}
	/* 2. the nonce, before anything else: single use whatever follows */
	if (hgs_nonce_consume(req->node, nonce, nonce_len, &res) < 0)
		goto out;
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 3. the registration */
	if (hl_key_fingerprint(host_key, fp) < 0)
		goto out;
	found = hgs_db_host_key_find(req->node, fp, &reg_name, &registered);
	if (found < 0)
		goto out;
	if (!found) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the host key of '%s' (SHA-256 %.16s...) is not registered with this "
				"HGS; register it with `hgslab hgs add-host-key --name %s --key FILE`",
				host, fp, host);
		goto decided;
	}
	if (strcmp(reg_name, host) != 0) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the host key presented by '%s' is registered for host '%s'", host,
				reg_name);
		goto decided;
	}
	/* 4. proof of possession over nonce || transport key */
	if (hostkey_message(nonce, nonce_len, transport, &msg) < 0)
		goto out;
	if (hl_crypto_verify(registered, HL_SIG_DEFAULT, msg.data, msg.len, sig, sig_len) < 0) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the signature over the nonce and transport key does not verify with "
				"the host key registered for '%s': the host does not hold that key, "
				"or signed other data", host);
		goto decided;
	}
	hgs_result_pass(&res);
decided:
	rc = hgs_attest_finish(req, host, &res, transport, resp);
out:
	free(nonce);
	free(sig);
	free(reg_name);
	hl_buf_free(&msg);
	hl_key_free(host_key);
	hl_key_free(transport);
	hl_key_free(registered);
	return rc;
}

const struct hgs_route hgs_hostkey_routes[] = {
	{ "POST", "/Attestation/v1/hostkey/attest", HGS_MODE_HOSTKEY, route_attest },
	{ NULL, NULL, 0, NULL },
};
