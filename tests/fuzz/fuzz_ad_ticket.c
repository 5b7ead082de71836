/*
 * fuzz_ad_ticket.c - libFuzzer target: the AD membership ticket
 * (proto/ad_ticket.h), a JWS that a host presents and HGS decodes and
 * verifies against the trust of the fabric domain.
 *
 * Fixture: a DC key pair and the trust document of fabrikam.com naming it
 * (written with ad_trust_write, read with ad_trust_parse).  The first input
 * byte (mod 3) picks how the rest is used:
 *   0  the rest is the ticket (compact serialization);
 *   1  the rest is  HEADER-JSON FZ_SEP CLAIMS-JSON, joined here into a
 *      ticket with a dummy signature, so header and claims are fuzzed as
 *      JSON rather than as base64url;
 *   2  the rest is the claims JSON, signed here with the DC key under the
 *      right header, so what HGS checks after the signature is reached too.
 * Every ticket is decoded, verified against the trust at the current time
 * and, when it verifies, its times are checked.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base64url.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/ad_ticket.h"
#include "proto/ad_trust.h"
#include "tests/fuzz/fuzzutil.h"

static struct fz_keypair dc;
static struct ad_trust *trust;
static char *header_b64;      /* the right header, base64url */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct hl_buf der = { 0 };
	unsigned char md[HL_SHA256_LEN];
	char *x5t = NULL, *text = NULL;
	json_t *doc = NULL, *h = NULL;

	(void)argc;
	(void)argv;
	fz_quiet();
	fz_keypair_make(HL_KEY_RSA2048, "DC01.fabrikam.com", &dc);
	if (ad_trust_write("fabrikam.com", "S-1-5-21-1004336348-1177238915-682003330",
			   "DC01.fabrikam.com", dc.cert, &doc) < 0 || hl_json_dump(doc, &text) < 0 ||
	    ad_trust_parse(text, strlen(text), &trust) < 0)
		fz_die("cannot make the trust fixture");
	free(text);
	text = NULL;
	if (hl_cert_to_der(dc.cert, &der) < 0 || hl_crypto_sha256(der.data, der.len, md) < 0 ||
	    hl_base64url_encode(md, sizeof(md), &x5t) < 0 ||
	    !(h = json_pack("{s:s, s:s, s:s}", "alg", "PS256", "typ", "JWT", "x5t#S256", x5t)) ||
	    hl_json_dump(h, &text) < 0 || hl_base64url_encode(text, strlen(text), &header_b64) < 0)
		fz_die("cannot make the ticket header");
	free(text);
	free(x5t);
	json_decref(h);
	json_decref(doc);
	hl_buf_free(&der);
	return 0;
}

/* "H.C" of header H and claims C (base64url of each), into a new string. */
static char *join(const char *h64, const void *claims, size_t len)
{
	char *c64 = NULL, *s = NULL;

	if (hl_base64url_encode(claims, len, &c64) < 0 || asprintf(&s, "%s.%s", h64, c64) < 0)
		fz_die("out of memory");
	free(c64);
	return s;
}

/* Ticket from mode 1: fuzzed header and claims, dummy signature. */
static char *unsigned_ticket(struct fz_in *in)
{
	const uint8_t *h, *c;
	size_t hlen, clen;
	char *h64 = NULL, *hc, *s = NULL;

	fz_part(in, &h, &hlen);
	fz_part(in, &c, &clen);
	if (hl_base64url_encode(h, hlen, &h64) < 0)
		fz_die("out of memory");
	hc = join(h64, c, clen);
	if (asprintf(&s, "%s.c2ln", hc) < 0)
		fz_die("out of memory");
	free(hc);
	free(h64);
	return s;
}

/* Ticket from mode 2: the right header, fuzzed claims, signed by the DC key. */
static char *signed_ticket(const struct fz_in *in)
{
	struct hl_buf sig = { 0 };
	char *hc = join(header_b64, in->p, in->n), *s64 = NULL, *s = NULL;

	if (hl_crypto_sign(dc.key, HL_SIG_RSA_PSS, hc, strlen(hc), &sig) < 0 ||
	    hl_base64url_encode(sig.data, sig.len, &s64) < 0 || asprintf(&s, "%s.%s", hc, s64) < 0)
		fz_die("cannot sign a ticket");
	free(s64);
	free(hc);
	hl_buf_free(&sig);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct ad_ticket *t = NULL;
	char *jws;

	switch (fz_byte(&in) % 3) {
	case 0:
		jws = fz_strndup(in.p, in.n);
		break;
	case 1:
		jws = unsigned_ticket(&in);
		break;
	default:
		jws = signed_ticket(&in);
		break;
	}
	if (ad_ticket_decode(jws, strlen(jws), &t) == 0) {
		ad_ticket_free(t);
		t = NULL;
	}
	if (ad_ticket_verify(jws, strlen(jws), trust, time(NULL), &t) == 0) {
		ad_ticket_check_time(t, time(NULL));
		for (size_t i = 0; i < t->n_groups; i++)
			ad_sid_in_domain(t->groups[i].sid, t->domain_sid);
	}
	ad_ticket_free(t);
	free(jws);
	hl_error_clear();
	return 0;
}
