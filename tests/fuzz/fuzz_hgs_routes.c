/*
 * fuzz_hgs_routes.c - libFuzzer target: the JSON body of every POST route
 * of an HGS node, handled by the route's own handler against a real node in
 * a scratch folder, without sockets.
 *
 * Fixture (made once): a node created with hgs_node_create and opened with
 * its keys; a registered host key (FabricHost1, P-256), a trusted domain
 * (fabrikam.com, its DC key fixture) and a host group of it, so requests
 * reach past "not registered"; a ticket that DC issued to FabricHost1 (the
 * host key as its machine key, in the group); and a health certificate the
 * node issued for FabricHost1, for KPS.
 *
 * Input: ROUTE-byte FLAGS-byte BODY.  ROUTE picks one of the POST routes of
 * hgs/serve.c's route sets (nonce, hostkey, the three TPM routes, AD, KPS
 * release).  BODY is parsed as the route framework does (hl_json_parse of
 * the body, which must be an object; the "host" member when a string) and
 * handed to the handler with a request record.  FLAGS bit 0 replaces the
 * body's "nonce" with one the node just issued (so the checks after the
 * nonce are reached), bit 1 its "health_certificate" with the node's
 * genuine one (so KPS goes on to the key protector), bit 2 its "host_key"
 * and "ticket" with the fixture's and its "signature" with the host key's
 * over the body's nonce and transport key (so host-key and AD attestation
 * go on to the registration, the groups and a health certificate).  The trust mode check
 * of the framework is left out: each handler runs whatever the node's mode.
 *
 * Every attempt is recorded in the node's logs (SQLite), so the node is put
 * back to its pristine copy every RESET_RUNS runs, which keeps the store
 * small (a few MB a second would pile up otherwise).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hgs/attest_ad.h"
#include "hgs/attest_hostkey.h"
#include "hgs/attest_tpm.h"
#include "hgs/db.h"
#include "hgs/healthcert.h"
#include "hgs/kps.h"
#include "hgs/node.h"
#include "hgs/nonce.h"
#include "hgs/serve.h"
#include "lib/err.h"
#include "lib/http.h"
#include "lib/json.h"
#include "proto/ad_ticket.h"
#include "proto/ad_trust.h"
#include "proto/hostkey.h"
#include "tests/fuzz/fuzzutil.h"

#define MAX_ROUTES 16
#define RESET_RUNS 100000

static struct hgs_node *node;
static char node_dir[PATH_MAX], pristine_dir[PATH_MAX];
static unsigned long runs;
static const struct hgs_route *routes[MAX_ROUTES];
static size_t n_routes;
static char *healthcert_pem;
static struct fz_keypair hostkey;       /* FabricHost1's host key and machine key */
static char *host_pem, *ticket;
#define DOMAIN_SID "S-1-5-21-1004336348-1177238915-682003330"

/* Every POST route of the node's route sets. */
static void routes_collect(void)
{
	const struct hgs_route *const sets[] = { hgs_core_routes, hgs_hostkey_routes,
						 hgs_tpm_routes, hgs_ad_routes, hgs_kps_routes };

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
		for (const struct hgs_route *r = sets[s]; r->path; r++)
			if (strcmp(r->method, "POST") == 0 && n_routes < MAX_ROUTES)
				routes[n_routes++] = r;
}

/* The ticket DC issues to FabricHost1: its machine key is the host key, it is in GuardedHosts. */
static void ticket_make(const struct fz_keypair *dc)
{
	struct ad_ticket_group groups[] = { { "Domain Computers", DOMAIN_SID "-515" },
					    { "GuardedHosts", DOMAIN_SID "-1105" } };
	struct ad_ticket t;
	time_t now = time(NULL);

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", "0123456789abcdef0123456789abcdef");
	snprintf(t.domain, sizeof(t.domain), "%s", "fabrikam.com");
	snprintf(t.domain_sid, sizeof(t.domain_sid), "%s", DOMAIN_SID);
	snprintf(t.dc, sizeof(t.dc), "%s", "DC01.fabrikam.com");
	snprintf(t.computer, sizeof(t.computer), "%s", "FabricHost1");
	snprintf(t.computer_sid, sizeof(t.computer_sid), "%s", DOMAIN_SID "-1103");
	t.groups = groups;
	t.n_groups = 2;
	t.machine_key = hostkey.key;
	t.issued = now;
	t.not_before = now - 60;
	t.expires = now + 7 * 86400;
	if (ad_ticket_encode(&t, dc->key, dc->cert, &ticket) < 0)
		fz_die("cannot make the ticket fixture");
}

/* The node, its registrations, a ticket and a health certificate. */
static void node_make(void)
{
	struct hgs_init_params p = { 0 };
	struct fz_keypair dc, transport;
	struct hgs_result passed;
	struct hgs_config cfg;
	struct hl_buf pem = { 0 }, der = { 0 };
	json_t *doc = NULL;
	char *text = NULL;
	X509 *hc = NULL;

	snprintf(node_dir, sizeof(node_dir), "%s/hgs", fz_scratch());
	snprintf(pristine_dir, sizeof(pristine_dir), "%s/hgs.pristine", fz_scratch());
	p.dir = node_dir;
	p.name = "MyHgsService";
	p.domain = "relecloud.com";
	p.trust = HGS_MODE_TPM;
	p.listen = "127.0.0.1:0";
	fz_keypair_make(HL_KEY_EC_P256, "FabricHost1", &hostkey);
	fz_keypair_make(HL_KEY_RSA2048, "DC01.fabrikam.com", &dc);
	fz_keypair_make(HL_KEY_RSA2048, "FabricHost1 transport", &transport);
	hgs_result_pass(&passed);
	if (hgs_node_create(&p) < 0 || hgs_node_open(node_dir, HGS_NODE_OPEN_KEYS, &node) < 0 ||
	    hgs_db_host_key_add(node, "FabricHost1", hostkey.key) < 0 ||
	    ad_trust_write("fabrikam.com", DOMAIN_SID, "DC01.fabrikam.com", dc.cert, &doc) < 0 ||
	    hl_json_dump(doc, &text) < 0 || hgs_ad_trust_add(node, text, strlen(text), 0, NULL, 0) < 0 ||
	    hgs_db_host_group_add(node, "GuardedHosts", DOMAIN_SID "-1105") < 0 ||
	    hgs_db_config_get(node, &cfg) < 0 ||
	    hgs_healthcert_issue(node, &cfg, "FabricHost1", HGS_MODE_HOSTKEY, &passed, transport.key,
				 &der, NULL) < 0 || hl_cert_from_der(der.data, der.len, &hc) < 0 ||
	    hl_cert_to_pem(hc, &pem) < 0)
		fz_die("cannot make the HGS node fixture");
	healthcert_pem = fz_strndup(pem.data, pem.len);
	hl_buf_free(&pem);
	hl_buf_free(&der);
	ticket_make(&dc);
	if (hl_key_pub_to_pem(hostkey.key, &pem) < 0)
		fz_die("cannot write the host key");
	host_pem = fz_strndup(pem.data, pem.len);
	hl_buf_free(&pem);
	hl_cert_free(hc);
	free(text);
	json_decref(doc);
	hl_key_free(dc.key);
	hl_cert_free(dc.cert);
	hl_key_free(transport.key);
	hl_cert_free(transport.cert);
}

/* Copy folder FROM to TO (replacing TO) with cp -a; the node is closed meanwhile. */
static void node_copy(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];

	hgs_node_close(node);
	node = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
	if (system(cmd) != 0 || hgs_node_open(node_dir, HGS_NODE_OPEN_KEYS, &node) < 0)
		fz_die("cannot copy the HGS node");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	routes_collect();
	node_make();
	node_copy(node_dir, pristine_dir);
	return 0;
}

/* The fixture's host key or ticket in BODY, and the host key's signature over its nonce and transport key. */
static void body_prove(json_t *body)
{
	unsigned char *nonce = NULL;
	size_t nonce_len = 0;
	const char *pem;
	struct hl_buf msg = { 0 }, sig = { 0 };
	EVP_PKEY *transport = NULL;

	if (json_object_get(body, "host_key"))
		json_object_set_new(body, "host_key", json_string(host_pem));
	if (json_object_get(body, "ticket"))
		json_object_set_new(body, "ticket", json_string(ticket));
	pem = json_string_value(json_object_get(body, "transport_key"));
	if (pem && hl_json_get_base64(body, "nonce", &nonce, &nonce_len) == 0 &&
	    hl_key_pub_from_pem(pem, strlen(pem), &transport) == 0 &&
	    hostkey_message(nonce, nonce_len, transport, &msg) == 0) {
		if (hl_crypto_sign(hostkey.key, HL_SIG_DEFAULT, msg.data, msg.len, &sig) < 0 ||
		    hl_json_set_base64(body, "signature", sig.data, sig.len) < 0)
			fz_die("cannot sign");
	}
	hl_buf_free(&sig);
	hl_buf_free(&msg);
	hl_key_free(transport);
	free(nonce);
	hl_error_clear();
}

/* Apply FLAGS to BODY (see the top of the file). */
static void body_prepare(json_t *body, uint8_t flags)
{
	unsigned char nonce[HGS_NONCE_LEN];
	time_t expires;

	if ((flags & 1) && json_object_get(body, "nonce")) {
		if (hgs_nonce_issue(node, NULL, nonce, &expires) < 0 ||
		    hl_json_set_base64(body, "nonce", nonce, sizeof(nonce)) < 0)
			fz_die("cannot issue a nonce");
	}
	if ((flags & 2) && json_object_get(body, "health_certificate"))
		json_object_set_new(body, "health_certificate", json_string(healthcert_pem));
	if (flags & 4)
		body_prove(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	const struct hgs_route *route = routes[fz_byte(&in) % n_routes];
	uint8_t flags = fz_byte(&in);
	struct hl_http_request http = { 0 };
	struct hl_http_response resp = { 0 };
	struct hgs_request req = { 0 };
	char *body = fz_strndup(in.p, in.n);
	json_t *host;

	if (++runs % RESET_RUNS == 0)
		node_copy(pristine_dir, node_dir);
	http.method = route->method;
	http.path = route->path;
	http.body = body;
	http.body_len = in.n;
	http.remote = "127.0.0.1:40112";
	resp.status = 200;
	req.node = node;
	req.route = route;
	req.http = &http;
	if (in.n == 0)
		req.body = json_object();
	else if (hl_json_parse(in.p, in.n, 0, &req.body) == 0 && !json_is_object(req.body)) {
		json_decref(req.body);
		req.body = NULL;
	}
	if (!req.body) {
		hgs_attest_reject(&req, &resp, 400, "%s", hl_error_last());
		goto out;
	}
	host = json_object_get(req.body, "host");
	if (json_is_string(host))
		req.host = json_string_value(host);
	body_prepare(req.body, flags);
	route->handler(&req, &resp);
out:
	free(resp.body);
	json_decref(req.body);
	free(body);
	hl_error_clear();
	return 0;
}
