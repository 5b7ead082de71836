/*
 * attack_proto.c - the attack library's protocol family (sim/attack.h):
 * what a rogue host or a thief does on the wire to HGS's attestation and
 * key protection services, and what HGS answers.
 */
#include "sim/attack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/http.h"

/* POST BODY to PATH of the lab's HGS into REPLY (0), or -1. */
static int hgs_post(struct lab *L, const char *path, const char *body, struct hl_http_reply *reply)
{
	const struct lab_hgs *g = &L->hgs[0];
	const char *resolve[] = { g->resolve, NULL };
	struct hl_http_opts o = { 10000, 0, resolve };
	char url[256];

	snprintf(url, sizeof(url), "%s%s", g->url, path);
	return hl_http_post(url, "application/json", body, strlen(body), &o, reply);
}

/* hostile-json: a body that is JSON but not an object, and one that is not JSON. */
static int play_hostile_json(struct attack_run *a)
{
	static const char *const bodies[] = { "[1,2,3]", "{\"nonce\": \"\\ud800", "\x01\xff{" };
	struct hl_http_reply r;
	char *err = NULL;
	size_t i;
	int rc = 1;

	memset(&r, 0, sizeof(r));
	for (i = 0; rc == 1 && i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (hgs_post(a->L, "/Attestation/v1/nonce", bodies[i], &r) < 0)
			return -1;
		if (r.status != 400)
			rc = attack_succeeded(a, "HGS answered %ld to body %zu", r.status, i + 1);
		else if (i == 0 && hl_http_reply_check("nonce", &r) < 0)
			err = strdup(hl_error_last());
		hl_http_reply_release(&r);
	}
	hl_error_clear();
	if (rc == 1)
		rc = attack_refused(a, "HTTP 400", err);
	free(err);
	return rc;
}

const struct attack_def attack_proto_defs[] = {
	{ "hostile-json", "hgs", "sends HGS request bodies that are JSON but not an object, and bytes "
	  "that are not JSON at all", "HTTP 400",
	  "HGS parses every body with a JSON library and checks its shape before it reads a field: "
	  "anything else is a bad request, answered at once, and HGS keeps serving.", 0,
	  play_hostile_json },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL },
};
