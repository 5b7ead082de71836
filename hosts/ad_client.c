/*
 * ad_client.c - the host side of AD-mode attestation (ad_client.h): the two
 * HTTP exchanges a domain-joined guarded host makes, a ticket from its
 * fabric DC (fabric/dc.c serves it) and an attestation at HGS
 * (hgs/attest_ad.c answers it).  Requests and replies are JSON (lib/json),
 * signatures lib/crypto's; the wire format is in docs/attestation-protocol.md.
 */
#include "hosts/ad_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/hostkey.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/names.h"

/* Largest URL built here. */
#define URL_MAX 1024

/* BASE (trailing '/' dropped) + PATH into BUF. */
static int url_join(const char *base, const char *path, char *buf, size_t size)
{
	size_t n = base ? strlen(base) : 0;

	if (n == 0)
		return hl_error("no URL given");
	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((size_t)snprintf(buf, size, "%.*s%s", (int)n, base, path) >= size)
		return hl_error("URL '%s%s' is too long", base, path);
	return 0;
}

/*
 * POST JSON object BODY to URL and parse the 2xx reply object into *OUT;
 * a non-2xx reply is an error with the server's message.
 */
static int post_json(const char *url, const json_t *body, const struct hl_http_opts *opts,
		     json_t **out)
{
	struct hl_http_reply reply = { 0 };
	char *text = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_json_dump(body, &text) < 0 ||
	    hl_http_post(url, "application/json", text, strlen(text), opts, &reply) < 0 ||
	    hl_http_reply_check(url, &reply) < 0)
		goto out;
	if (hl_json_parse(reply.body, reply.body_len, 0, out) < 0) {
		hl_error_wrap("the reply of '%s'", url);
		goto out;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		hl_error("the reply of '%s' is not a JSON object", url);
		goto out;
	}
	rc = 0;
out:
	free(text);
	hl_http_reply_release(&reply);
	return rc;
}

/* A fresh nonce from URL (POST, body BODY) into *NONCE (malloc'd) of *LEN bytes. */
static int fetch_nonce(const char *url, const json_t *body, const struct hl_http_opts *opts,
		       unsigned char **nonce, size_t *len)
{
	json_t *reply = NULL;
	int rc;

	*nonce = NULL;
	*len = 0;
	if (post_json(url, body, opts, &reply) < 0)
		return -1;
	rc = hl_json_get_base64(reply, "nonce", nonce, len);
	if (rc < 0)
		hl_error_wrap("the nonce from '%s'", url);
	json_decref(reply);
	return rc;
}

/* Get a ticket for COMPUTER from the DC at DC_URL. */
int ad_client_get_ticket(const char *dc_url, const struct hl_http_opts *opts,
			 const char *computer, EVP_PKEY *machine_key, char **ticket,
			 struct ad_ticket **info)
{
	char url[URL_MAX], *copy = NULL;
	unsigned char *nonce = NULL;
	size_t nonce_len = 0;
	struct hl_buf msg = { 0 }, sig = { 0 };
	struct ad_ticket *t = NULL;
	json_t *empty = NULL, *body = NULL, *reply = NULL;
	const char *jws;
	int rc = -1;

	*ticket = NULL;
	if (info)
		*info = NULL;
	if (hl_name_computer("computer name", computer) < 0)
		return -1;
	if (!(empty = json_object())) {
		hl_error("out of memory");
		goto out;
	}
	if (url_join(dc_url, "/Fabric/v1/nonce", url, sizeof(url)) < 0 ||
	    fetch_nonce(url, empty, opts, &nonce, &nonce_len) < 0 ||
	    ad_ticket_request_message(computer, nonce, nonce_len, &msg) < 0 ||
	    hl_crypto_sign(machine_key, HL_SIG_DEFAULT, msg.data, msg.len, &sig) < 0)
		goto out;
	if (!(body = json_pack("{s:s}", "computer", computer)) ||
	    hl_json_set_base64(body, "nonce", nonce, nonce_len) < 0 ||
	    hl_json_set_base64(body, "signature", sig.data, sig.len) < 0) {
		hl_error_wrap("cannot build the ticket request");
		goto out;
	}
	if (url_join(dc_url, "/Fabric/v1/ticket", url, sizeof(url)) < 0 ||
	    post_json(url, body, opts, &reply) < 0)
		goto out;
	if (hl_json_get_string(reply, "ticket", &jws) < 0 ||
	    ad_ticket_decode(jws, strlen(jws), &t) < 0) {
		hl_error_wrap("the DC at '%s' answered with an unusable ticket", dc_url);
		goto out;
	}
	if (strcasecmp(t->computer, computer) != 0) {
		hl_error("the DC at '%s' issued a ticket for '%s', not '%s'", dc_url, t->computer,
			 computer);
		goto out;
	}
	if (!(copy = strdup(jws))) {
		hl_error("out of memory");
		goto out;
	}
	*ticket = copy;
	copy = NULL;
	if (info) {
		*info = t;
		t = NULL;
	}
	rc = 0;
out:
	free(nonce);
	free(copy);
	hl_buf_free(&msg);
	hl_buf_free(&sig);
	ad_ticket_free(t);
	json_decref(empty);
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* Fill R from HGS's decision REPLY, checking that a health certificate binds TK. */
static int read_decision(const json_t *reply, EVP_PKEY *tk, struct ad_attest_result *r)
{
	const char *status, *reason, *node;
	unsigned char *der = NULL;
	size_t der_len = 0, i;
	EVP_PKEY *bound = NULL;
	json_t *subs = NULL, *s;
	int rc = -1;

	if (hl_json_get_string(reply, "status", &status) < 0 ||
	    hgs_status_parse(status, &r->result.status) < 0 ||
	    hl_json_get_string_opt(reply, "reason", "", &reason) < 0 ||
	    hl_json_get_string_opt(reply, "node", "", &node) < 0 ||
	    hl_json_get_array_opt(reply, "substatus", &subs) < 0)
		goto out;
	snprintf(r->result.reason, sizeof(r->result.reason), "%s", reason);
	snprintf(r->node, sizeof(r->node), "%s", node);
	json_array_foreach(subs, i, s) {
		uint32_t bit;

		if (!json_is_string(s) || hgs_substatus_parse(json_string_value(s), &bit) < 0)
			goto out;
		r->result.substatus |= bit;
	}
	if (r->result.status != HGS_STATUS_PASSED) {
		rc = 0;
		goto out;
	}
	if (hl_json_get_base64(reply, "health_certificate", &der, &der_len) < 0 ||
	    hl_cert_from_der(der, der_len, &r->health_cert) < 0 ||
	    hl_cert_validity(r->health_cert, NULL, &r->not_after) < 0 ||
	    hl_cert_pubkey(r->health_cert, &bound) < 0)
		goto out;
	if (!hl_key_pub_equal(bound, tk)) {
		hl_error("the health certificate does not bind this host's transport key");
		goto out;
	}
	rc = 0;
out:
	free(der);
	hl_key_free(bound);
	return rc;
}

/* Attest HOST with its ticket to the HGS at ATTESTATION_URL. */
int ad_client_attest(const char *attestation_url, const struct hl_http_opts *opts,
		     const char *host, const char *ticket, EVP_PKEY *machine_key,
		     EVP_PKEY *transport_key, struct ad_attest_result *out)
{
	char base[URL_MAX], url[URL_MAX];
	unsigned char *nonce = NULL;
	size_t nonce_len = 0, n;
	struct hl_buf msg = { 0 }, sig = { 0 }, tk_pem = { 0 };
	json_t *body = NULL, *reply = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!attestation_url || !*attestation_url)
		return hl_error("no attestation URL given");
	n = strlen(attestation_url);
	while (n > 0 && attestation_url[n - 1] == '/')
		n--;
	if ((size_t)snprintf(base, sizeof(base), "%.*s%s", (int)n, attestation_url,
			     n >= 12 && strncmp(attestation_url + n - 12, "/Attestation", 12) == 0
				     ? ""
				     : "/Attestation") >= sizeof(base))
		return hl_error("attestation URL '%s' is too long", attestation_url);
	if (!(body = json_pack("{s:s}", "host", host ? host : ""))) {
		hl_error("out of memory");
		goto out;
	}
	if (url_join(base, "/v1/nonce", url, sizeof(url)) < 0 ||
	    fetch_nonce(url, body, opts, &nonce, &nonce_len) < 0 ||
	    hostkey_message(nonce, nonce_len, transport_key, &msg) < 0 ||
	    hl_crypto_sign(machine_key, HL_SIG_DEFAULT, msg.data, msg.len, &sig) < 0 ||
	    hl_key_pub_to_pem(transport_key, &tk_pem) < 0)
		goto out;
	if (json_object_set_new(body, "ticket", json_string(ticket ? ticket : "")) < 0 ||
	    json_object_set_new(body, "transport_key", json_string((const char *)tk_pem.data)) < 0 ||
	    hl_json_set_base64(body, "nonce", nonce, nonce_len) < 0 ||
	    hl_json_set_base64(body, "signature", sig.data, sig.len) < 0) {
		hl_error_wrap("cannot build the attestation request");
		goto out;
	}
	if (url_join(base, "/v1/ad/attest", url, sizeof(url)) < 0 ||
	    post_json(url, body, opts, &reply) < 0)
		goto out;
	if (read_decision(reply, transport_key, out) < 0) {
		hl_error_wrap("the decision from '%s'", url);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		ad_attest_result_release(out);
	free(nonce);
	hl_buf_free(&msg);
	hl_buf_free(&sig);
	hl_buf_free(&tk_pem);
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* Free a decision's health certificate and clear it; NULL-safe. */
void ad_attest_result_release(struct ad_attest_result *r)
{
	if (!r)
		return;
	hl_cert_free(r->health_cert);
	memset(r, 0, sizeof(*r));
}
