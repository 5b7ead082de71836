/*
 * ad_ticket.c - the AD-mode membership ticket (ad_ticket.h): its one writer
 * (a JWS signed PS256, called by the DC with its key), its one reader
 * (form, header and claims, every malformation named), verification
 * against a trusted domain with SID filtering, the Kerberos-style time
 * check, and the message a computer signs to ask for a ticket.  JSON is
 * lib/json's, base64url lib/base64url's, signatures lib/crypto's.
 */
#include "proto/ad_ticket.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base64url.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "proto/names.h"

/* At most this many groups in one ticket. */
#define TICKET_GROUPS_MAX 1024
/* Largest time claim accepted (year 36812): keeps time_t arithmetic safe. */
#define TICKET_TIME_MAX ((json_int_t)1 << 40)
/* The label a computer's ticket request signature starts with. */
#define TICKET_REQUEST_LABEL "hgslab-fabric-ticket-request-v1"

/* Free a ticket; NULL-safe. */
void ad_ticket_free(struct ad_ticket *t)
{
	if (!t)
		return;
	free(t->groups);
	hl_key_free(t->machine_key);
	free(t);
}

/* The bytes a computer signs to ask for a ticket. */
int ad_ticket_request_message(const char *computer, const unsigned char *nonce, size_t len,
			      struct hl_buf *out)
{
	size_t label = sizeof(TICKET_REQUEST_LABEL), name = strlen(computer) + 1;
	unsigned char *m;

	out->data = NULL;
	out->len = 0;
	if (!(m = malloc(label + name + len + 1)))
		return hl_error("out of memory");
	memcpy(m, TICKET_REQUEST_LABEL, label);
	memcpy(m + label, computer, name);
	memcpy(m + label + name, nonce, len);
	m[label + name + len] = '\0';
	out->data = m;
	out->len = label + name + len;
	return 0;
}

/* 1 when SID is DOMAIN_SID plus exactly one RID. */
int ad_sid_in_domain(const char *sid, const char *domain_sid)
{
	size_t n = strlen(domain_sid);
	const char *p;

	if (!sid || strncmp(sid, domain_sid, n) != 0 || sid[n] != '-')
		return 0;
	p = sid + n + 1;
	if (!*p || strlen(p) > 10)
		return 0;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return 1;
}

/* base64url of the SHA-256 of CERT's DER (the JWS x5t#S256 header) into OUT (64 bytes). */
static int cert_x5t(const X509 *cert, char out[64])
{
	unsigned char md[HL_SHA256_LEN];
	struct hl_buf der = { 0 };
	char *s = NULL;
	int rc = -1;

	if (hl_cert_to_der(cert, &der) < 0 || hl_crypto_sha256(der.data, der.len, md) < 0 ||
	    hl_base64url_encode(md, sizeof(md), &s) < 0)
		goto out;
	snprintf(out, 64, "%s", s);
	rc = 0;
out:
	free(s);
	hl_buf_free(&der);
	return rc;
}

/* ---- writing ---- */

/* The claims of T as a JSON object into *OUT. */
static int ticket_claims_json(const struct ad_ticket *t, json_t **out)
{
	char fp[HL_SHA256_HEX_SIZE];
	struct hl_buf der = { 0 };
	json_t *groups = NULL, *o = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_key_pub_to_der(t->machine_key, &der) < 0 || hl_key_fingerprint(t->machine_key, fp) < 0)
		goto out;
	if (!(groups = json_array()))
		goto oom;
	for (size_t i = 0; i < t->n_groups; i++)
		if (json_array_append_new(groups, json_pack("{s:s, s:s}", "name", t->groups[i].name,
							    "sid", t->groups[i].sid)) < 0)
			goto oom;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:O, s:s}", "jti", t->id,
		      "iss", t->domain, "domain_sid", t->domain_sid, "dc", t->dc, "sub",
		      t->computer_sid, "computer", t->computer, "iat", (json_int_t)t->issued, "nbf",
		      (json_int_t)t->not_before, "exp", (json_int_t)t->expires, "groups", groups,
		      "machine_key_sha256", fp);
	if (!o)
		goto oom;
	if (hl_json_set_base64(o, "machine_key", der.data, der.len) < 0)
		goto out;
	*out = o;
	o = NULL;
	rc = 0;
	goto out;
oom:
	hl_error("out of memory");
out:
	hl_buf_free(&der);
	json_decref(groups);
	json_decref(o);
	return rc;
}

/* Write ticket T signed PS256 with DC_KEY. */
int ad_ticket_encode(const struct ad_ticket *t, EVP_PKEY *dc_key, X509 *dc_cert, char **jws)
{
	char x5t[64], *header_txt = NULL, *payload_txt = NULL, *h64 = NULL, *p64 = NULL;
	char *s64 = NULL, *signing = NULL, *result = NULL;
	json_t *header = NULL, *payload = NULL;
	struct hl_buf sig = { 0 };
	size_t n;
	int rc = -1;

	*jws = NULL;
	if (cert_x5t(dc_cert, x5t) < 0 || ticket_claims_json(t, &payload) < 0)
		goto out;
	if (!(header = json_pack("{s:s, s:s, s:s}", "alg", "PS256", "typ", "JWT", "x5t#S256",
				 x5t))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_json_dump(header, &header_txt) < 0 || hl_json_dump(payload, &payload_txt) < 0 ||
	    hl_base64url_encode(header_txt, strlen(header_txt), &h64) < 0 ||
	    hl_base64url_encode(payload_txt, strlen(payload_txt), &p64) < 0)
		goto out;
	n = strlen(h64) + 1 + strlen(p64);
	if (!(signing = malloc(n + 1))) {
		hl_error("out of memory");
		goto out;
	}
	snprintf(signing, n + 1, "%s.%s", h64, p64);
	if (hl_crypto_sign(dc_key, HL_SIG_RSA_PSS, signing, n, &sig) < 0 ||
	    hl_base64url_encode(sig.data, sig.len, &s64) < 0)
		goto out;
	if (!(result = malloc(n + 1 + strlen(s64) + 1))) {
		hl_error("out of memory");
		goto out;
	}
	snprintf(result, n + 1 + strlen(s64) + 1, "%s.%s", signing, s64);
	*jws = result;
	result = NULL;
	rc = 0;
out:
	hl_buf_free(&sig);
	json_decref(header);
	json_decref(payload);
	free(header_txt);
	free(payload_txt);
	free(h64);
	free(p64);
	free(s64);
	free(signing);
	free(result);
	return rc;
}

/* ---- reading ---- */

/* Copy string claim NAME of OBJ into BUF of SIZE bytes (non-empty, fits). */
static int claim_str(const json_t *obj, const char *name, char *buf, size_t size)
{
	const char *s;

	if (hl_json_get_string(obj, name, &s) < 0)
		return hl_error_wrap("the ticket's claims");
	if (!*s || strlen(s) >= size)
		return hl_error("the ticket's claim '%s' is empty or longer than %zu characters", name,
				size - 1);
	snprintf(buf, size, "%s", s);
	return 0;
}

/* Read NumericDate claim NAME of OBJ into *OUT. */
static int claim_time(const json_t *obj, const char *name, time_t *out)
{
	json_int_t v;

	if (hl_json_get_int(obj, name, &v) < 0)
		return hl_error_wrap("the ticket's claims");
	if (v <= 0 || v > TICKET_TIME_MAX)
		return hl_error("the ticket's claim '%s' is not a plausible NumericDate", name);
	*out = (time_t)v;
	return 0;
}

/* Read the groups claim of OBJ into T. */
static int claim_groups(const json_t *obj, struct ad_ticket *t)
{
	json_t *arr, *g;
	size_t i;

	if (hl_json_get_array(obj, "groups", &arr) < 0)
		return hl_error_wrap("the ticket's claims");
	if (json_array_size(arr) > TICKET_GROUPS_MAX)
		return hl_error("the ticket lists more than %d groups", TICKET_GROUPS_MAX);
	if (json_array_size(arr) &&
	    !(t->groups = calloc(json_array_size(arr), sizeof(*t->groups))))
		return hl_error("out of memory");
	json_array_foreach(arr, i, g) {
		if (!json_is_object(g))
			return hl_error("the ticket's group %zu is not an object", i + 1);
		if (claim_str(g, "name", t->groups[i].name, sizeof(t->groups[i].name)) < 0 ||
		    claim_str(g, "sid", t->groups[i].sid, sizeof(t->groups[i].sid)) < 0 ||
		    hl_name_sid(t->groups[i].sid) < 0)
			return hl_error_wrap("the ticket's group %zu", i + 1);
		t->n_groups++;
	}
	return 0;
}

/* Read the claims of PAYLOAD into T. */
static int ticket_claims(const json_t *payload, struct ad_ticket *t)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	char fp[HL_SHA256_HEX_SIZE];
	int rc = -1;

	if (!json_is_object(payload))
		return hl_error("the ticket's claims are not a JSON object");
	if (claim_str(payload, "jti", t->id, sizeof(t->id)) < 0 ||
	    claim_str(payload, "iss", t->domain, sizeof(t->domain)) < 0 ||
	    hl_dnsname_check(t->domain) < 0 ||
	    claim_str(payload, "domain_sid", t->domain_sid, sizeof(t->domain_sid)) < 0 ||
	    hl_name_sid(t->domain_sid) < 0 ||
	    claim_str(payload, "dc", t->dc, sizeof(t->dc)) < 0 ||
	    claim_str(payload, "computer", t->computer, sizeof(t->computer)) < 0 ||
	    hl_name_computer("computer name", t->computer) < 0 ||
	    claim_str(payload, "sub", t->computer_sid, sizeof(t->computer_sid)) < 0 ||
	    hl_name_sid(t->computer_sid) < 0 || claim_time(payload, "iat", &t->issued) < 0 ||
	    claim_time(payload, "nbf", &t->not_before) < 0 ||
	    claim_time(payload, "exp", &t->expires) < 0 || claim_groups(payload, t) < 0 ||
	    claim_str(payload, "machine_key_sha256", fp, sizeof(fp)) < 0)
		goto out;
	if (t->expires <= t->not_before) {
		hl_error("the ticket expires before it becomes valid");
		goto out;
	}
	if (hl_json_get_base64(payload, "machine_key", &der, &der_len) < 0 ||
	    hl_key_pub_from_der(der, der_len, &t->machine_key) < 0 ||
	    hl_key_fingerprint(t->machine_key, t->machine_key_fp) < 0) {
		hl_error_wrap("the ticket's claim 'machine_key'");
		goto out;
	}
	if (strcasecmp(fp, t->machine_key_fp) != 0) {
		hl_error("the ticket's claim 'machine_key_sha256' does not match its 'machine_key'");
		goto out;
	}
	rc = 0;
out:
	free(der);
	return rc;
}

/*
 * Split and decode JWS into T; *SIGNED_LEN gets the length of the signing
 * input (header.payload) and SIG the signature bytes.
 */
static int ticket_decode(const char *jws, size_t len, struct ad_ticket *t, size_t *signed_len,
			 struct hl_buf *sig)
{
	const char *d1, *d2, *alg, *typ, *x5t;
	struct hl_buf hb = { 0 }, pb = { 0 };
	json_t *header = NULL, *payload = NULL;
	int rc = -1;

	sig->data = NULL;
	sig->len = 0;
	if (!jws || len == 0)
		return hl_error("the ticket is empty");
	if (len > AD_TICKET_MAX)
		return hl_error("the ticket is %zu bytes, more than the %d a ticket may have", len,
				AD_TICKET_MAX);
	if (!(d1 = memchr(jws, '.', len)) || !(d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws))) ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)))
		return hl_error("the ticket is not a JWS compact serialization "
				"(BASE64URL(header).BASE64URL(claims).BASE64URL(signature))");
	if (hl_base64url_decode(jws, (size_t)(d1 - jws), "the ticket's header", &hb) < 0 ||
	    hl_base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), "the ticket's claims", &pb) < 0 ||
	    hl_base64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jws), "the ticket's signature",
				sig) < 0)
		goto out;
	if (hl_json_parse(hb.data, hb.len, 4096, &header) < 0) {
		hl_error_wrap("the ticket's header");
		goto out;
	}
	if (!json_is_object(header)) {
		hl_error("the ticket's header is not a JSON object");
		goto out;
	}
	if (hl_json_get_string(header, "alg", &alg) < 0 ||
	    hl_json_get_string_opt(header, "typ", "JWT", &typ) < 0 ||
	    hl_json_get_string(header, "x5t#S256", &x5t) < 0) {
		hl_error_wrap("the ticket's header");
		goto out;
	}
	if (strcmp(alg, "PS256") != 0) {
		hl_error("the ticket's header names algorithm '%s'; tickets are signed PS256", alg);
		goto out;
	}
	if (strcmp(typ, "JWT") != 0 || json_object_get(header, "crit") || strlen(x5t) >= sizeof(t->x5t)) {
		hl_error("the ticket's header has an unsupported 'typ', a 'crit' member or an "
			 "oversized 'x5t#S256'");
		goto out;
	}
	snprintf(t->x5t, sizeof(t->x5t), "%s", x5t);
	if (hl_json_parse(pb.data, pb.len, AD_TICKET_MAX, &payload) < 0) {
		hl_error_wrap("the ticket's claims");
		goto out;
	}
	if (ticket_claims(payload, t) < 0)
		goto out;
	if (sig->len == 0) {
		hl_error("the ticket has no signature");
		goto out;
	}
	*signed_len = (size_t)(d2 - jws);
	rc = 0;
out:
	if (rc < 0)
		hl_buf_free(sig);
	hl_buf_free(&hb);
	hl_buf_free(&pb);
	json_decref(header);
	json_decref(payload);
	return rc;
}

/* Read a ticket without checking its signature. */
int ad_ticket_decode(const char *jws, size_t len, struct ad_ticket **out)
{
	struct ad_ticket *t;
	struct hl_buf sig = { 0 };
	size_t signed_len;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	if (ticket_decode(jws, len, t, &signed_len, &sig) < 0) {
		ad_ticket_free(t);
		return -1;
	}
	hl_buf_free(&sig);
	*out = t;
	return 0;
}

/* ---- verifying ---- */

/* Drop the group SIDs of T that do not belong to DOMAIN_SID (SID filtering). */
static void sid_filter(struct ad_ticket *t, const char *domain_sid)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->n_groups; i++) {
		if (ad_sid_in_domain(t->groups[i].sid, domain_sid))
			t->groups[kept++] = t->groups[i];
		else
			t->n_filtered++;
	}
	t->n_groups = kept;
}

/* Verify a ticket against a trusted domain (times aside). */
int ad_ticket_verify(const char *jws, size_t len, const struct ad_trust *trust, time_t now,
		     struct ad_ticket **out)
{
	struct ad_ticket *t = NULL;
	struct hl_buf sig = { 0 };
	char x5t[64], when[32];
	EVP_PKEY *pub = NULL;
	time_t nb, na;
	size_t signed_len;
	int rc = -1;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	if (ticket_decode(jws, len, t, &signed_len, &sig) < 0 || cert_x5t(trust->dc_cert, x5t) < 0)
		goto out;
	if (strcmp(x5t, t->x5t) != 0) {
		hl_error("the ticket was signed by another key than the DC key %s is trusted with "
			 "(its header names x5t#S256 %s, the trust holds %s); re-import the trust "
			 "if the DC key changed", trust->domain, t->x5t, x5t);
		goto out;
	}
	if (hl_cert_pubkey(trust->dc_cert, &pub) < 0)
		goto out;
	if (hl_crypto_verify(pub, HL_SIG_RSA_PSS, jws, signed_len, sig.data, sig.len) < 0) {
		hl_error("the ticket's signature does not verify with the DC certificate of %s: it "
			 "was altered or not issued by %s", trust->domain, trust->dc);
		goto out;
	}
	if (strcasecmp(t->domain, trust->domain) != 0 || strcmp(t->domain_sid, trust->domain_sid) != 0) {
		hl_error("the ticket names domain '%s' (%s) but is signed by the DC of '%s' (%s)",
			 t->domain, t->domain_sid, trust->domain, trust->domain_sid);
		goto out;
	}
	if (hl_cert_validity(trust->dc_cert, &nb, &na) < 0)
		goto out;
	if (now < nb || now > na) {
		hl_labclock_format(now < nb ? nb : na, when, sizeof(when));
		hl_error("the DC certificate of %s is %s %s; re-import the domain's trust",
			 trust->domain, now < nb ? "not valid before" : "expired on", when);
		goto out;
	}
	if (!ad_sid_in_domain(t->computer_sid, trust->domain_sid)) {
		hl_error("the ticket's computer SID %s is not in domain %s (%s)", t->computer_sid,
			 trust->domain, trust->domain_sid);
		goto out;
	}
	sid_filter(t, trust->domain_sid);
	*out = t;
	t = NULL;
	rc = 0;
out:
	hl_key_free(pub);
	hl_buf_free(&sig);
	ad_ticket_free(t);
	return rc;
}

/* Check a ticket's validity period at NOW, with the Kerberos skew. */
int ad_ticket_check_time(const struct ad_ticket *t, time_t now)
{
	char when[32];

	if (now > t->expires + AD_CLOCK_SKEW_S) {
		hl_labclock_format(t->expires, when, sizeof(when));
		return hl_error("the ticket expired at %s (KRB_AP_ERR_TKT_EXPIRED); get a fresh one "
				"from the domain controller", when);
	}
	if (now + AD_CLOCK_SKEW_S < t->not_before) {
		hl_labclock_format(t->not_before, when, sizeof(when));
		return hl_error("the ticket is not valid before %s (KRB_AP_ERR_TKT_NYV): the DC's "
				"clock and this one differ by more than %d minutes", when,
				AD_CLOCK_SKEW_S / 60);
	}
	return 0;
}
