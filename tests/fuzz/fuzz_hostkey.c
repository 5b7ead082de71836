/*
 * fuzz_hostkey.c - libFuzzer target: the proof-of-possession request of
 * host-key and AD attestation as HGS reads it (proto/hostkey.h).  The
 * first input byte picks the mode's claim (even: host_key, odd: ticket);
 * the rest is the request's JSON body (hl_json_parse, as the route
 * framework parses it).  A request that reads is checked as the routes do:
 * its transport key, its signature with the key it carries, and the message
 * rebuilt from its nonce and transport key.
 */
#include "lib/err.h"
#include "lib/json.h"
#include "proto/hostkey.h"
#include "tests/fuzz/fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	enum hostkey_claim claim = fz_byte(&in) & 1 ? HOSTKEY_CLAIM_TICKET : HOSTKEY_CLAIM_HOST_KEY;
	struct hostkey_request r = { 0 };
	struct hl_buf msg = { 0 };
	json_t *body = NULL;

	if (hl_json_parse(in.p, in.n, 0, &body) < 0)
		goto out;
	if (hostkey_request_read(body, claim, &r) == 0) {
		hostkey_request_check_transport(&r);
		if (r.host_key)
			hostkey_request_verify(&r, r.host_key);
		if (hostkey_message(r.nonce, r.nonce_len, r.transport, &msg) == 0)
			hl_buf_free(&msg);
	}
out:
	hostkey_request_release(&r);
	json_decref(body);
	hl_error_clear();
	return 0;
}
