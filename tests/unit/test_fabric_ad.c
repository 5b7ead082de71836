/*
 * test_fabric_ad.c - unit tests for AD mode: the fabric directory
 * (fabric/directory.h: create, names, computers, groups, memberships), trust
 * documents (proto/ad_trust.h), membership tickets (fabric/dc.h issues them,
 * proto/ad_ticket.h reads and verifies them: expiry on the lab clock, a
 * wrong DC, every tampered byte, membership changes seen only in the next
 * ticket, SID filtering, malformed tickets never crashing), the DC over
 * HTTP with the host's client (hosts/ad_client.h), and HGS's AD
 * attestation route (hgs/attest_ad.h) in-process: Passed with a health
 * certificate, and each refusal.
 *
 * The group setup builds the lab once (each fabric and the HGS node cost
 * RSA key generations): fabric A fabrikam.com with FabricHost1 (member of
 * GuardedHosts) and FabricHost2 (not a member); fabric B, also named
 * fabrikam.com but with its own DC key (a rogue or rebuilt DC); fabric C
 * contoso.com with FabricHost3; an HGS node relecloud.com in AD mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hgs/attest_ad.h"
#include "hgs/attest_log.h"
#include "hgs/db.h"
#include "hgs/healthcert.h"
#include "hgs/node.h"
#include "hgs/serve.h"
#include "hosts/ad_client.h"
#include "fabric/dc.h"
#include "fabric/directory.h"
#include "proto/ad_ticket.h"
#include "proto/ad_trust.h"
#include "proto/hostkey.h"
#include "lib/base64url.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/served.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/nonce.h"
#include "tests/unit/testutil.h"

struct lab {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir_a[128], dir_b[128], dir_c[128], dir_node[128];
	struct fabric *a, *b, *c;
	struct ad_trust *trust_a, *trust_b, *trust_c;
	char *doc_a, *doc_c;                  /* trust documents as text */
	struct hgs_node *node;
	EVP_PKEY *h1, *h2, *h3, *tk;          /* machine keys; transport key */
	char guarded_sid[AD_SID_MAX];     /* GuardedHosts of A */
};

static struct lab *L;

/* ---- helpers ---- */

/* Create a fabric of DOMAIN at DIR and open it with its keys, or fail. */
static struct fabric *make_fabric(const char *dir, const char *domain)
{
	struct fabric_new_params p = { .dir = dir, .domain = domain, .listen = "127.0.0.1:0" };
	struct fabric *f = NULL;

	if (fabric_create(&p) < 0 || fabric_open(dir, FABRIC_OPEN_KEYS, &f) < 0)
		fail_msg("fabric %s: %s", domain, hl_error_last());
	return f;
}

/* F's trust document as text (malloc'd). */
static char *trust_doc(struct fabric *f)
{
	json_t *doc = NULL;
	char *text = NULL;

	assert_int_equal(fabric_trust_export(f, &doc), 0);
	assert_int_equal(hl_json_dump(doc, &text), 0);
	json_decref(doc);
	return text;
}

/* F's trust, parsed from its exported document. */
static struct ad_trust *trust_of(struct fabric *f)
{
	struct ad_trust *t = NULL;
	char *text = trust_doc(f);

	if (ad_trust_parse(text, strlen(text), &t) < 0)
		fail_msg("trust: %s", hl_error_last());
	free(text);
	return t;
}

/* base64url without padding of DATA (malloc'd; lib/base64url, tested in test_base64url). */
static char *b64url(const void *data, size_t len)
{
	char *s = NULL;

	assert_int_equal(hl_base64url_encode(data, len, &s), 0);
	return s;
}

/* base64url of the JSON dump of V. */
static char *b64url_json(const json_t *v)
{
	char *text = NULL, *s;

	assert_int_equal(hl_json_dump(v, &text), 0);
	s = b64url(text, strlen(text));
	free(text);
	return s;
}

/* The x5t#S256 header value of CERT. */
static char *x5t_of(X509 *cert)
{
	struct hl_buf der = { 0 };
	unsigned char md[HL_SHA256_LEN];
	char *s;

	assert_int_equal(hl_cert_to_der(cert, &der), 0);
	assert_int_equal(hl_crypto_sha256(der.data, der.len, md), 0);
	s = b64url(md, sizeof(md));
	hl_buf_free(&der);
	return s;
}

/* A JWS of HEADER and PAYLOAD signed PS256 with KEY (the forger's tool). */
static char *sign_jws(EVP_PKEY *key, const json_t *header, const json_t *payload)
{
	char *h = b64url_json(header), *p = b64url_json(payload), *input, *s, *out;
	struct hl_buf sig = { 0 };
	size_t n = strlen(h) + strlen(p) + 2;

	input = malloc(n);
	assert_non_null(input);
	snprintf(input, n, "%s.%s", h, p);
	assert_int_equal(hl_crypto_sign(key, HL_SIG_RSA_PSS, input, strlen(input), &sig), 0);
	s = b64url(sig.data, sig.len);
	out = malloc(strlen(input) + strlen(s) + 2);
	assert_non_null(out);
	sprintf(out, "%s.%s", input, s);
	free(h);
	free(p);
	free(input);
	free(s);
	hl_buf_free(&sig);
	return out;
}

/* The claims of ticket JWS as a JSON object (decoded by hand). */
static json_t *claims_of(const char *jws)
{
	const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
	struct hl_buf raw = { 0 };
	json_t *o = NULL;

	assert_int_equal(hl_base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), "claims", &raw), 0);
	assert_int_equal(hl_json_parse(raw.data, raw.len, 0, &o), 0);
	hl_buf_free(&raw);
	return o;
}

/* The standard header naming F's DC key. */
static json_t *header_for(struct fabric *f)
{
	char *x5t = x5t_of(f->dc_cert);
	json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "PS256", "typ", "JWT", "x5t#S256", x5t);

	free(x5t);
	return h;
}

/* Issue a ticket for COMPUTER from F, or fail. */
static char *issue(struct fabric *f, const char *computer)
{
	char *jws = NULL;

	if (fabric_ticket_issue(f, computer, &jws, NULL) < 0)
		fail_msg("issue %s: %s", computer, hl_error_last());
	return jws;
}

/* 1 when T lists group SID. */
static int has_sid(const struct ad_ticket *t, const char *sid)
{
	for (size_t i = 0; i < t->n_groups; i++)
		if (strcmp(t->groups[i].sid, sid) == 0)
			return 1;
	return 0;
}

/* ---- setup ---- */

/* Group setup: three fabrics, their computers and groups, an AD-mode HGS node. */
static int group_setup(void **state)
{
	json_t *g = NULL;

	L = tu_sandbox_new(sizeof(*L), "ad");
	if (!L)
		return -1;
	hl_log_set_stderr_level(HL_LOG_ERROR);
	snprintf(L->dir_a, sizeof(L->dir_a), "%s/fabrikam", L->sandbox);
	snprintf(L->dir_b, sizeof(L->dir_b), "%s/rogue", L->sandbox);
	snprintf(L->dir_c, sizeof(L->dir_c), "%s/contoso", L->sandbox);
	snprintf(L->dir_node, sizeof(L->dir_node), "%s/hgs", L->sandbox);
	L->a = make_fabric(L->dir_a, "fabrikam.com");
	L->b = make_fabric(L->dir_b, "fabrikam.com");
	L->c = make_fabric(L->dir_c, "contoso.com");
	if (hl_key_generate(HL_KEY_EC_P256, &L->h1) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &L->h2) < 0 ||
	    hl_key_generate(HL_KEY_EC_P256, &L->h3) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &L->tk) < 0)
		return -1;
	if (fabric_group_add(L->a, "GuardedHosts", "HGS guarded hosts") < 0 ||
	    fabric_computer_add(L->a, "FabricHost1", L->h1) < 0 ||
	    fabric_computer_add(L->a, "FabricHost2", L->h2) < 0 ||
	    fabric_member_add(L->a, "GuardedHosts", "FabricHost1") != 1 ||
	    fabric_computer_add(L->b, "FabricHost1", L->h1) < 0 ||
	    fabric_group_add(L->c, "GuardedHosts", NULL) < 0 ||
	    fabric_computer_add(L->c, "FabricHost3", L->h3) < 0 ||
	    fabric_member_add(L->c, "GuardedHosts", "FabricHost3") != 1 ||
	    fabric_group_list(L->a, "GuardedHosts", &g) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	snprintf(L->guarded_sid, sizeof(L->guarded_sid), "%s",
		 json_string_value(json_object_get(json_array_get(g, 0), "Sid")));
	json_decref(g);
	L->trust_a = trust_of(L->a);
	L->trust_b = trust_of(L->b);
	L->trust_c = trust_of(L->c);
	L->doc_a = trust_doc(L->a);
	L->doc_c = trust_doc(L->c);
	struct hgs_init_params p = {
		.dir = L->dir_node, .name = "MyHgsService", .domain = "relecloud.com",
		.trust = HGS_MODE_AD, .listen = "127.0.0.1:0",
	};
	if (hgs_node_create(&p) < 0 || hgs_node_open(L->dir_node, HGS_NODE_OPEN_KEYS, &L->node) < 0 ||
	    hgs_db_host_group_add(L->node, "GuardedHosts", L->guarded_sid) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	*state = L;
	return 0;
}

/* Group teardown: close everything and remove the sandbox. */
static int group_teardown(void **state)
{
	(void)state;
	fabric_close(L->a);
	fabric_close(L->b);
	fabric_close(L->c);
	ad_trust_free(L->trust_a);
	ad_trust_free(L->trust_b);
	ad_trust_free(L->trust_c);
	free(L->doc_a);
	free(L->doc_c);
	hgs_node_close(L->node);
	hl_key_free(L->h1);
	hl_key_free(L->h2);
	hl_key_free(L->h3);
	hl_key_free(L->tk);
	tu_sandbox_free(L);
	return 0;
}

/* ---- the directory ---- */

/* new: layout and modes, a well-formed random SID, Domain Computers; refusals leave nothing. */
static void test_create(void **state)
{
	char path[256], parent[160], dir[200];
	struct fabric_new_params p = { 0 };
	struct fabric *f = NULL;
	json_t *rows = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/keys/dc-signing.key", L->dir_a);
	assert_int_equal(tu_mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/keys/dc-signing.crt", L->dir_a);
	assert_int_equal(tu_mode_of(path), 0644);
	snprintf(path, sizeof(path), "%s/fabric.db", L->dir_a);
	assert_int_equal(tu_mode_of(path), 0600);
	assert_int_equal(tu_mode_of(L->dir_a), 0700);
	assert_int_equal(hl_name_sid(L->a->domain_sid), 0);
	assert_int_equal(strncmp(L->a->domain_sid, "S-1-5-21-", 9), 0);
	assert_string_not_equal(L->a->domain_sid, L->b->domain_sid);
	assert_string_equal(L->a->dc_name, "DC01");
	assert_int_equal(L->a->ticket_lifetime_s, 600);
	assert_int_equal(fabric_group_list(L->a, FABRIC_DOMAIN_COMPUTERS, &rows), 0);
	assert_true(ad_sid_in_domain(json_string_value(json_object_get(json_array_get(rows, 0),
									    "Sid")),
					 L->a->domain_sid));
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(rows, 0), "Sid")),
			       "-515"));
	json_decref(rows);

	/* refusals: each leaves the parent as it was */
	snprintf(parent, sizeof(parent), "%s/new", L->sandbox);
	assert_int_equal(hl_file_mkdirs(parent, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/f", parent);
	p.dir = dir;
	p.domain = "fabrikam.com";
	p.listen = "127.0.0.1:0";
	p.ticket_lifetime_s = 10;
	assert_int_equal(fabric_create(&p), -1);
	assert_error_has("ticket lifetime");
	p.ticket_lifetime_s = 0;
	p.domain = "not a domain";
	assert_int_equal(fabric_create(&p), -1);
	p.domain = "fabrikam.com";
	p.listen = "localhost";
	assert_int_equal(fabric_create(&p), -1);
	p.listen = "127.0.0.1:0";
	p.dc_name = "DC 1";
	assert_int_equal(fabric_create(&p), -1);
	assert_error_has("DC name");
	p.dc_name = NULL;
	assert_int_equal(hl_served_dir_entries(parent), 0);
	/* a fabric directory is not overwritten; a non-fabric one is not opened */
	p.dir = L->dir_a;
	assert_int_equal(fabric_create(&p), -1);
	assert_error_has("not empty");
	assert_int_equal(fabric_open(parent, 0, &f), -1);
	assert_null(f);
	assert_error_has("not a fabric directory");
	/* an empty directory is fine, and the lifetime is kept */
	p.dir = dir;
	p.ticket_lifetime_s = 120;
	p.dc_name = "DC02";
	assert_int_equal(hl_file_mkdirs(dir, 0755), 0);
	assert_int_equal(fabric_create(&p), 0);
	assert_int_equal(fabric_open(dir, 0, &f), 0);
	assert_int_equal(f->ticket_lifetime_s, 120);
	assert_string_equal(f->dc_name, "DC02");
	assert_null(f->dc_key);
	fabric_close(f);
	fabric_close(NULL);
	assert_int_equal(hl_served_dir_entries(parent), 1);
	assert_int_equal(hl_file_rmtree(parent), 0);
}

/* Name rules: NetBIOS computer names, group names, SIDs in a domain. */
static void test_names(void **state)
{
	static const char *const good_c[] = { "FabricHost1", "A", "host-2", "ABCDEFGHIJKLMNO" };
	static const char *const bad_c[] = { "", "ABCDEFGHIJKLMNOP", "a b", "a.b", "-x", "123",
					     "h\xc3\xa9" };
	static const char *const good_g[] = { "GuardedHosts", "Domain Computers", "a-b_c (x)" };
	static const char *const bad_g[] = { "", " x", "x ", "a/b", "a,b", "a@b", "a\"b", "\t" };
	char sid[AD_SID_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(good_c) / sizeof(good_c[0]); i++)
		assert_int_equal(hl_name_computer("computer name", good_c[i]), 0);
	for (size_t i = 0; i < sizeof(bad_c) / sizeof(bad_c[0]); i++)
		assert_int_equal(hl_name_computer("computer name", bad_c[i]), -1);
	assert_int_equal(hl_name_computer("computer name", NULL), -1);
	for (size_t i = 0; i < sizeof(good_g) / sizeof(good_g[0]); i++)
		assert_int_equal(hl_name_group(good_g[i]), 0);
	for (size_t i = 0; i < sizeof(bad_g) / sizeof(bad_g[0]); i++)
		assert_int_equal(hl_name_group(bad_g[i]), -1);
	snprintf(sid, sizeof(sid), "%s-1103", L->a->domain_sid);
	assert_true(ad_sid_in_domain(sid, L->a->domain_sid));
	assert_false(ad_sid_in_domain(sid, L->b->domain_sid));
	assert_false(ad_sid_in_domain(L->a->domain_sid, L->a->domain_sid));
	snprintf(sid, sizeof(sid), "%s-1103-5", L->a->domain_sid);
	assert_false(ad_sid_in_domain(sid, L->a->domain_sid));
	snprintf(sid, sizeof(sid), "%s-", L->a->domain_sid);
	assert_false(ad_sid_in_domain(sid, L->a->domain_sid));
	assert_false(ad_sid_in_domain(NULL, L->a->domain_sid));
}

/* Computers and groups: duplicates without regard to case, one key per computer, memberships. */
static void test_directory(void **state)
{
	EVP_PKEY *k = NULL;
	json_t *rows = NULL, *members;

	(void)state;
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &k), 0);
	assert_int_equal(fabric_group_add(L->a, "guardedhosts", NULL), -1);
	assert_error_has("already exists");
	assert_int_equal(fabric_group_add(L->a, "Domain Computers", NULL), -1);
	assert_int_equal(fabric_group_add(L->a, "bad/name", NULL), -1);
	assert_int_equal(fabric_computer_add(L->a, "FABRICHOST1", k), -1);
	assert_error_has("already exists");
	assert_int_equal(fabric_computer_add(L->a, "FabricHost9", L->h1), -1);
	assert_error_has("already belongs to computer 'FabricHost1'");
	assert_int_equal(fabric_computer_add(L->a, "FabricHost9", NULL), -1);
	assert_int_equal(fabric_computer_add(L->a, "Fabric Host", k), -1);
	/* memberships: unknown names, the primary group, idempotence */
	assert_int_equal(fabric_member_add(L->a, "NoSuchGroup", "FabricHost1"), -1);
	assert_error_has("no group 'NoSuchGroup'");
	assert_int_equal(fabric_member_add(L->a, "GuardedHosts", "NoSuchHost"), -1);
	assert_error_has("no computer account 'NoSuchHost'");
	assert_int_equal(fabric_member_add(L->a, "Domain Computers", "FabricHost1"), -1);
	assert_error_has("primary group");
	assert_int_equal(fabric_member_add(L->a, "guardedHOSTS", "fabrichost1"), 0);
	assert_int_equal(fabric_member_remove(L->a, "GuardedHosts", "FabricHost2"), 0);
	/* listings */
	assert_int_equal(fabric_group_list(L->a, "GuardedHosts", &rows), 0);
	members = json_object_get(json_array_get(rows, 0), "Members");
	assert_int_equal(json_array_size(members), 1);
	assert_string_equal(json_string_value(json_array_get(members, 0)), "FabricHost1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0),
							       "GroupScope")), "Global");
	json_decref(rows);
	assert_int_equal(fabric_group_list(L->a, FABRIC_DOMAIN_COMPUTERS, &rows), 0);
	assert_int_equal(json_array_size(json_object_get(json_array_get(rows, 0), "Members")), 2);
	json_decref(rows);
	assert_int_equal(fabric_computer_list(L->a, "FabricHost1", &rows), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0),
							       "SamAccountName")), "FABRICHOST1$");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "KeyType")),
			    "ec-p256");
	assert_int_equal(json_array_size(json_object_get(json_array_get(rows, 0), "MemberOf")), 2);
	json_decref(rows);
	assert_int_equal(fabric_computer_list(L->a, NULL, &rows), 0);
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rows);
	assert_int_equal(fabric_computer_list(L->a, "Nobody", &rows), -1);
	assert_null(rows);
	hl_key_free(k);
}

/* Trust documents: the export parses; every malformation is refused with a message. */
static void test_trust_documents(void **state)
{
	static const char *const fields[] = { "format", "version", "domain", "domain_sid",
					      "domain_controller", "dc_certificate",
					      "dc_thumbprint" };
	struct ad_trust *t = NULL;
	EVP_PKEY *ec = NULL;
	X509 *cert = NULL;
	struct hl_buf pem = { 0 };
	json_t *doc = NULL, *bad;
	char *text;

	(void)state;
	assert_string_equal(L->trust_a->domain, "fabrikam.com");
	assert_string_equal(L->trust_a->domain_sid, L->a->domain_sid);
	assert_string_equal(L->trust_a->dc, "DC01.fabrikam.com");
	assert_string_equal(L->trust_a->dc_thumbprint, L->a->dc_thumbprint);
	assert_int_equal(ad_trust_parse("", 0, &t), -1);
	assert_int_equal(ad_trust_parse("[]", 2, &t), -1);
	assert_int_equal(fabric_trust_export(L->a, &doc), 0);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		bad = json_deep_copy(doc);
		json_object_del(bad, fields[i]);
		assert_int_equal(hl_json_dump(bad, &text), 0);
		assert_int_equal(ad_trust_parse(text, strlen(text), &t), -1);
		assert_null(t);
		assert_error_has(fields[i]);
		free(text);
		json_decref(bad);
	}
	/* wrong values */
	const struct { const char *field; json_t *value; const char *msg; } cases[] = {
		{ "format", json_string("something"), "format" },
		{ "version", json_integer(2), "version" },
		{ "domain", json_string("-bad-"), "invalid domain" },
		{ "domain_sid", json_string("S-1-x"), "invalid SID" },
		{ "dc_certificate", json_string("not a certificate"), "dc_certificate" },
		{ "dc_thumbprint", json_string("00"), "does not match" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = json_deep_copy(doc);
		json_object_set_new(bad, cases[i].field, cases[i].value);
		assert_int_equal(hl_json_dump(bad, &text), 0);
		assert_int_equal(ad_trust_parse(text, strlen(text), &t), -1);
		assert_error_has(cases[i].msg);
		free(text);
		json_decref(bad);
	}
	/* a DC certificate with an EC key cannot verify PS256 tickets */
	{
		struct hl_cert_spec spec = { .cn = "DC01.fabrikam.com", .not_before = time(NULL) - 60,
					     .not_after = time(NULL) + 3600, .path_len = -1 };
		char thumb[HL_SHA256_HEX_SIZE];

		assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ec), 0);
		assert_int_equal(hl_cert_issue_self_signed(&spec, ec, &cert), 0);
		assert_int_equal(hl_cert_to_pem(cert, &pem), 0);
		assert_int_equal(hl_cert_thumbprint(cert, thumb), 0);
		bad = json_deep_copy(doc);
		json_object_set_new(bad, "dc_certificate", json_string((char *)pem.data));
		json_object_set_new(bad, "dc_thumbprint", json_string(thumb));
		assert_int_equal(hl_json_dump(bad, &text), 0);
		assert_int_equal(ad_trust_parse(text, strlen(text), &t), -1);
		assert_error_has("RSA");
		free(text);
		json_decref(bad);
	}
	hl_buf_free(&pem);
	hl_cert_free(cert);
	hl_key_free(ec);
	json_decref(doc);
	ad_trust_free(NULL);
}

/* ---- tickets ---- */

/* Issue and verify: what the ticket says, and the PS256 JWS shape. */
static void test_ticket_round_trip(void **state)
{
	struct ad_ticket *t = NULL, *info = NULL, *d = NULL;
	char *jws = NULL, sid[AD_SID_MAX], fp[HL_SHA256_HEX_SIZE];
	json_t *claims;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(fabric_ticket_issue(L->a, "fabrichost1", &jws, &info), 0);
	assert_string_equal(info->computer, "FabricHost1");   /* the directory's spelling */
	assert_int_equal(ad_ticket_verify(jws, strlen(jws), L->trust_a, now, &t), 0);
	assert_string_equal(t->domain, "fabrikam.com");
	assert_string_equal(t->domain_sid, L->a->domain_sid);
	assert_string_equal(t->dc, "DC01.fabrikam.com");
	assert_string_equal(t->computer, "FabricHost1");
	assert_true(ad_sid_in_domain(t->computer_sid, L->a->domain_sid));
	assert_int_equal(t->n_groups, 2);
	snprintf(sid, sizeof(sid), "%s-515", L->a->domain_sid);
	assert_string_equal(t->groups[0].sid, sid);
	assert_string_equal(t->groups[0].name, "Domain Computers");
	assert_string_equal(t->groups[1].sid, L->guarded_sid);
	assert_int_equal(t->n_filtered, 0);
	assert_true(hl_key_pub_equal(t->machine_key, L->h1));
	assert_int_equal(hl_key_fingerprint(L->h1, fp), 0);
	assert_string_equal(t->machine_key_fp, fp);
	assert_int_equal(t->expires - t->issued, 600);
	assert_true(t->issued >= now - 5 && t->issued <= now + 5);
	assert_string_equal(t->id, info->id);
	assert_int_equal(strlen(t->id), 32);
	assert_int_equal(ad_ticket_check_time(t, now), 0);
	/* decode without a trust says the same */
	assert_int_equal(ad_ticket_decode(jws, strlen(jws), &d), 0);
	assert_string_equal(d->computer_sid, t->computer_sid);
	/* the claims are plain JWT claims */
	claims = claims_of(jws);
	assert_string_equal(json_string_value(json_object_get(claims, "iss")), "fabrikam.com");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), t->computer_sid);
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")), (json_int_t)t->expires);
	json_decref(claims);
	/* an unknown computer gets none */
	free(jws);
	jws = NULL;
	assert_int_equal(fabric_ticket_issue(L->a, "Stranger", &jws, NULL), -1);
	assert_null(jws);
	assert_error_has("no computer account 'Stranger'");
	ad_ticket_free(t);
	ad_ticket_free(info);
	ad_ticket_free(d);
	ad_ticket_free(NULL);
}

/* Expiry follows the DC's lab clock; the verifier allows five minutes of skew, no more. */
static void test_ticket_expiry(void **state)
{
	struct ad_ticket *t = NULL;
	time_t now = time(NULL);
	char *jws;

	(void)state;
	/* a DC running 1000 s behind issues a ticket already expired for us */
	tu_set_clock_offset(L->dir_a, "-1000\n");
	jws = issue(L->a, "FabricHost1");
	assert_int_equal(ad_ticket_verify(jws, strlen(jws), L->trust_a, now, &t), 0);
	assert_int_equal(ad_ticket_check_time(t, now), -1);
	assert_error_has("KRB_AP_ERR_TKT_EXPIRED");
	ad_ticket_free(t);
	free(jws);
	/* 1000 s ahead: not yet valid */
	tu_set_clock_offset(L->dir_a, "1000");
	jws = issue(L->a, "FabricHost1");
	assert_int_equal(ad_ticket_verify(jws, strlen(jws), L->trust_a, now, &t), 0);
	assert_int_equal(ad_ticket_check_time(t, now), -1);
	assert_error_has("KRB_AP_ERR_TKT_NYV");
	ad_ticket_free(t);
	free(jws);
	/* 200 s ahead: within the skew */
	tu_set_clock_offset(L->dir_a, "200");
	jws = issue(L->a, "FabricHost1");
	assert_int_equal(ad_ticket_verify(jws, strlen(jws), L->trust_a, now, &t), 0);
	assert_int_equal(ad_ticket_check_time(t, now), 0);
	/* edges: exp + skew is the last good second */
	assert_int_equal(ad_ticket_check_time(t, t->expires + AD_CLOCK_SKEW_S), 0);
	assert_int_equal(ad_ticket_check_time(t, t->expires + AD_CLOCK_SKEW_S + 1), -1);
	ad_ticket_free(t);
	free(jws);
	tu_set_clock_offset(L->dir_a, NULL);
	/* a garbage offset file is an error, not a silent zero */
	tu_set_clock_offset(L->dir_a, "soon");
	assert_int_equal(fabric_ticket_issue(L->a, "FabricHost1", &jws, NULL), -1);
	tu_set_clock_offset(L->dir_a, NULL);
}

/* A ticket from another DC key (same domain name), or naming another domain, is refused. */
static void test_ticket_wrong_dc(void **state)
{
	struct ad_ticket *t = NULL;
	struct ad_trust forged;
	char *jws_b = issue(L->b, "FabricHost1"), *jws_c = issue(L->c, "FabricHost3"), *swapped;
	json_t *header, *claims;
	time_t now = time(NULL);

	(void)state;
	/* B's ticket checked against A's trust: the header names another key */
	assert_int_equal(ad_ticket_verify(jws_b, strlen(jws_b), L->trust_a, now, &t), -1);
	assert_null(t);
	assert_error_has("another key");
	/* B's claims under A's header: the signature does not verify */
	header = header_for(L->a);
	claims = claims_of(jws_b);
	swapped = sign_jws(L->b->dc_key, header, claims);
	assert_int_equal(ad_ticket_verify(swapped, strlen(swapped), L->trust_a, now, &t), -1);
	assert_error_has("does not verify");
	free(swapped);
	/* A's key signing claims of another domain: refused by the domain check */
	json_decref(claims);
	claims = claims_of(jws_c);
	swapped = sign_jws(L->a->dc_key, header, claims);
	assert_int_equal(ad_ticket_verify(swapped, strlen(swapped), L->trust_a, now, &t), -1);
	assert_error_has("names domain 'contoso.com'");
	free(swapped);
	/* a trust with the right key but another domain SID */
	forged = *L->trust_a;
	snprintf(forged.domain_sid, sizeof(forged.domain_sid), "%s", L->b->domain_sid);
	free(jws_b);
	jws_b = issue(L->a, "FabricHost1");
	assert_int_equal(ad_ticket_verify(jws_b, strlen(jws_b), &forged, now, &t), -1);
	/* the DC certificate must be valid when the ticket is checked */
	assert_int_equal(ad_ticket_verify(jws_b, strlen(jws_b), L->trust_a,
					      now + 20L * 365 * 24 * 3600, &t), -1);
	assert_error_has("DC certificate");
	json_decref(header);
	json_decref(claims);
	free(jws_b);
	free(jws_c);
}

/* Every single-character change, and every truncation, of a ticket fails verification. */
static void test_ticket_tampered(void **state)
{
	static const char subst[] = { 'A', 'B', '_', '.', '=', '\0' };
	struct ad_ticket *t = NULL;
	char *jws = issue(L->a, "FabricHost2"), *copy;
	size_t len = strlen(jws);
	time_t now = time(NULL);
	int accepted = 0;

	(void)state;
	copy = malloc(len + 1);
	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		for (size_t s = 0; s < sizeof(subst); s++) {
			memcpy(copy, jws, len + 1);
			if (copy[i] == subst[s])
				continue;
			copy[i] = subst[s];
			if (ad_ticket_verify(copy, len, L->trust_a, now, &t) == 0) {
				accepted++;
				ad_ticket_free(t);
				t = NULL;
			}
			assert_null(t);
		}
		/* every prefix */
		if (ad_ticket_verify(jws, i, L->trust_a, now, &t) == 0)
			accepted++;
	}
	assert_int_equal(accepted, 0);
	/* the untouched ticket still verifies */
	assert_int_equal(ad_ticket_verify(jws, len, L->trust_a, now, &t), 0);
	ad_ticket_free(t);
	free(copy);
	free(jws);
}

/* A membership change shows in the next ticket; a ticket already issued keeps its groups. */
static void test_membership_change(void **state)
{
	struct ad_ticket *old = NULL, *t = NULL;
	char *before = issue(L->a, "FabricHost1"), *after;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(fabric_member_remove(L->a, "GuardedHosts", "FabricHost1"), 1);
	after = issue(L->a, "FabricHost1");
	assert_int_equal(ad_ticket_verify(after, strlen(after), L->trust_a, now, &t), 0);
	assert_false(has_sid(t, L->guarded_sid));
	assert_int_equal(t->n_groups, 1);
	assert_int_equal(ad_ticket_verify(before, strlen(before), L->trust_a, now, &old), 0);
	assert_true(has_sid(old, L->guarded_sid));
	ad_ticket_free(t);
	free(after);
	assert_int_equal(fabric_member_add(L->a, "GuardedHosts", "FabricHost1"), 1);
	after = issue(L->a, "FabricHost1");
	assert_int_equal(ad_ticket_verify(after, strlen(after), L->trust_a, now, &t), 0);
	assert_true(has_sid(t, L->guarded_sid));
	ad_ticket_free(t);
	ad_ticket_free(old);
	free(after);
	free(before);
}

/* SIDs outside the ticket's domain are dropped, even from a genuine DC signature. */
static void test_sid_filtering(void **state)
{
	struct ad_ticket *t = NULL;
	char *jws = issue(L->a, "FabricHost2"), *forged;
	json_t *header = header_for(L->a), *claims = claims_of(jws), *groups;

	(void)state;
	groups = json_object_get(claims, "groups");
	json_array_append_new(groups, json_pack("{s:s, s:s}", "name", "Enterprise Admins", "sid",
						"S-1-5-21-1-2-3-519"));
	json_array_append_new(groups, json_pack("{s:s, s:s}", "name", "Builtin", "sid",
						"S-1-5-32-544"));
	forged = sign_jws(L->a->dc_key, header, claims);
	assert_int_equal(ad_ticket_verify(forged, strlen(forged), L->trust_a, time(NULL), &t), 0);
	assert_int_equal(t->n_filtered, 2);
	assert_int_equal(t->n_groups, 1);
	assert_false(has_sid(t, "S-1-5-21-1-2-3-519"));
	ad_ticket_free(t);
	free(forged);
	free(jws);
	json_decref(header);
	json_decref(claims);
}

/* Malformed tickets: every one refused with a message, none crashes. */
static void test_ticket_malformed(void **state)
{
	static const char *const claims_required[] = { "jti", "iss", "domain_sid", "dc", "sub",
						       "computer", "iat", "nbf", "exp", "groups",
						       "machine_key", "machine_key_sha256" };
	static const char *const raw[] = { "", ".", "..", "a.b", "a.b.c.d", "!!!.e30.AA",
					   "e30.e30.AA", "W10.e30.AA", "e30", "....", "a..b",
					   "eyJhbGciOiJub25lIn0.e30." };
	struct ad_ticket *t = NULL;
	char *jws = issue(L->a, "FabricHost1"), *bad, *big;
	json_t *header = header_for(L->a), *claims = claims_of(jws), *h, *c;
	time_t now = time(NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		assert_int_equal(ad_ticket_decode(raw[i], strlen(raw[i]), &t), -1);
		assert_null(t);
		assert_int_equal(ad_ticket_verify(raw[i], strlen(raw[i]), L->trust_a, now, &t), -1);
		assert_true(strlen(hl_error_last()) > 10);
	}
	assert_int_equal(ad_ticket_decode(NULL, 0, &t), -1);
	/* oversized */
	big = malloc(AD_TICKET_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', AD_TICKET_MAX + 1);
	big[AD_TICKET_MAX + 1] = '\0';
	assert_int_equal(ad_ticket_decode(big, AD_TICKET_MAX + 1, &t), -1);
	assert_error_has("more than");
	free(big);
	/* headers: alg none / RS256, no x5t, crit */
	const char *const headers[] = {
		"{\"alg\":\"none\",\"x5t#S256\":\"x\"}", "{\"alg\":\"RS256\",\"x5t#S256\":\"x\"}",
		"{\"alg\":\"PS256\"}", "{\"alg\":\"PS256\",\"x5t#S256\":\"x\",\"crit\":[\"exp\"]}",
		"{\"alg\":\"PS256\",\"x5t#S256\":\"x\",\"typ\":\"other\"}",
		"{\"alg\":\"PS256\",\"alg\":\"PS256\",\"x5t#S256\":\"x\"}", "[\"PS256\"]",
	};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *h64 = b64url(headers[i], strlen(headers[i])), *rest = strchr(jws, '.');
		size_t n = strlen(h64) + strlen(rest) + 1;

		bad = malloc(n);
		assert_non_null(bad);
		snprintf(bad, n, "%s%s", h64, rest);
		assert_int_equal(ad_ticket_decode(bad, strlen(bad), &t), -1);
		assert_null(t);
		free(bad);
		free(h64);
	}
	/* each required claim missing, even under a genuine signature */
	for (size_t i = 0; i < sizeof(claims_required) / sizeof(claims_required[0]); i++) {
		c = json_deep_copy(claims);
		json_object_del(c, claims_required[i]);
		bad = sign_jws(L->a->dc_key, header, c);
		assert_int_equal(ad_ticket_verify(bad, strlen(bad), L->trust_a, now, &t), -1);
		assert_error_has(claims_required[i]);
		free(bad);
		json_decref(c);
	}
	/* wrong types and values */
	const struct { const char *claim; json_t *value; } cases[] = {
		{ "exp", json_string("tomorrow") }, { "exp", json_integer(-1) },
		{ "exp", json_integer(1) }, { "nbf", json_integer((json_int_t)1 << 50) },
		{ "iss", json_string("not a domain") }, { "sub", json_string("S-1") },
		{ "computer", json_string("no such name!") }, { "groups", json_string("all") },
		{ "groups", json_pack("[s]", "x") }, { "groups", json_pack("[{s:s}]", "name", "x") },
		{ "groups", json_pack("[{s:s, s:s}]", "name", "x", "sid", "S-x") },
		{ "machine_key", json_string("!!") }, { "machine_key", json_string("AAAA") },
		{ "machine_key_sha256", json_string("00") }, { "jti", json_string("") },
		{ "domain_sid", json_integer(5) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = json_deep_copy(claims);
		json_object_set_new(c, cases[i].claim, cases[i].value);
		bad = sign_jws(L->a->dc_key, header, c);
		if (ad_ticket_verify(bad, strlen(bad), L->trust_a, now, &t) == 0)
			fail_msg("claim '%s' case %zu was accepted", cases[i].claim, i);
		assert_null(t);
		free(bad);
		json_decref(c);
	}
	/* claims that are not an object */
	h = json_pack("[i]", 1);
	bad = sign_jws(L->a->dc_key, header, h);
	assert_int_equal(ad_ticket_decode(bad, strlen(bad), &t), -1);
	json_decref(h);
	free(bad);
	json_decref(header);
	json_decref(claims);
	free(jws);
}

/* ---- the DC over HTTP, with the host's client ---- */

/* POST TEXT to URL; the reply status, the parsed body in *OUT (NULL if not JSON). */
static long post_raw(const char *url, const char *text, json_t **out)
{
	struct hl_http_reply reply;
	long status;

	*out = NULL;
	if (hl_http_post(url, "application/json", text, strlen(text), NULL, &reply) < 0)
		fail_msg("POST %s: %s", url, hl_error_last());
	status = reply.status;
	if (hl_json_parse(reply.body, reply.body_len, 0, out) < 0)
		*out = NULL;
	hl_http_reply_release(&reply);
	return status;
}

/* POST JSON BODY (stolen) to URL; the status, the reply in *OUT. */
static long post_json(const char *url, json_t *body, json_t **out)
{
	char *text = NULL;
	long status;

	assert_int_equal(hl_json_dump(body, &text), 0);
	json_decref(body);
	status = post_raw(url, text, out);
	free(text);
	return status;
}

/* The "error" message of reply O. */
static const char *error_of(const json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "error"));

	return s ? s : "";
}

/* Tickets over HTTP: issued to the key holder; every refusal with its Kerberos name. */
static void test_dc_http(void **state)
{
	struct fabric_dc *dc = NULL;
	struct ad_ticket *info = NULL;
	char base[64], url[128], *ticket = NULL;
	unsigned char *nonce = NULL;
	size_t nonce_len = 0;
	struct hl_buf msg = { 0 }, sig = { 0 };
	struct hl_http_reply reply;
	json_t *o = NULL, *req;
	char *req_text = NULL;
	static const char *const bad_bodies[] = { "", "{", "[]", "{\"computer\":1}",
						  "{\"computer\":\"FabricHost1\"}",
						  "{\"computer\":\"Fabric Host\",\"nonce\":\"AA==\","
						  "\"signature\":\"AA==\"}",
						  "{\"computer\":\"FabricHost1\",\"nonce\":\"!!\","
						  "\"signature\":\"AA==\"}" };

	(void)state;
	if (fabric_dc_start(L->a, "127.0.0.1", 0, &dc) < 0)
		fail_msg("dc: %s", hl_error_last());
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", fabric_dc_port(dc));

	/* info */
	snprintf(url, sizeof(url), "%s/Fabric/v1/info", base);
	assert_int_equal(hl_http_get(url, NULL, &reply), 0);
	assert_int_equal(reply.status, 200);
	assert_int_equal(hl_json_parse(reply.body, reply.body_len, 0, &o), 0);
	hl_http_reply_release(&reply);
	assert_string_equal(json_string_value(json_object_get(o, "domain_sid")), L->a->domain_sid);
	json_decref(o);

	/* the client gets a ticket; trailing '/' in the URL is fine */
	snprintf(url, sizeof(url), "%s/", base);
	if (ad_client_get_ticket(url, NULL, "FabricHost1", L->h1, &ticket, &info) < 0)
		fail_msg("get ticket: %s", hl_error_last());
	assert_string_equal(info->computer, "FabricHost1");
	assert_true(has_sid(info, L->guarded_sid));
	ad_ticket_free(info);
	info = NULL;
	free(ticket);
	ticket = NULL;
	/* an RSA machine key works too */
	assert_int_equal(ad_client_get_ticket(base, NULL, "FabricHost2", L->h2, &ticket, NULL), 0);
	free(ticket);
	ticket = NULL;

	/* refusals: another key, an unknown computer */
	assert_int_equal(ad_client_get_ticket(base, NULL, "FabricHost1", L->h2, &ticket, &info), -1);
	assert_null(ticket);
	assert_null(info);
	assert_error_has("KDC_ERR_PREAUTH_FAILED");
	assert_int_equal(ad_client_get_ticket(base, NULL, "FabricHost7", L->h1, &ticket, NULL), -1);
	assert_error_has("KDC_ERR_C_PRINCIPAL_UNKNOWN");
	assert_int_equal(ad_client_get_ticket("http://127.0.0.1:1", NULL, "FabricHost1", L->h1,
					      &ticket, NULL), -1);

	/* a DC nonce is single use */
	snprintf(url, sizeof(url), "%s/Fabric/v1/nonce", base);
	assert_int_equal(hl_http_get(url, NULL, &reply), 0);
	assert_int_equal(hl_json_parse(reply.body, reply.body_len, 0, &o), 0);
	hl_http_reply_release(&reply);
	assert_int_equal(hl_json_get_base64(o, "nonce", &nonce, &nonce_len), 0);
	assert_int_equal(nonce_len, HL_NONCE_LEN);
	json_decref(o);
	assert_int_equal(ad_ticket_request_message("FabricHost1", nonce, nonce_len, &msg), 0);
	assert_int_equal(hl_crypto_sign(L->h1, HL_SIG_DEFAULT, msg.data, msg.len, &sig), 0);
	req = json_pack("{s:s}", "computer", "FabricHost1");
	assert_int_equal(hl_json_set_base64(req, "nonce", nonce, nonce_len), 0);
	assert_int_equal(hl_json_set_base64(req, "signature", sig.data, sig.len), 0);
	assert_int_equal(hl_json_dump(req, &req_text), 0);
	json_decref(req);
	snprintf(url, sizeof(url), "%s/Fabric/v1/ticket", base);
	assert_int_equal(post_raw(url, req_text, &o), 200);
	assert_non_null(json_string_value(json_object_get(o, "ticket")));
	json_decref(o);
	assert_int_equal(post_raw(url, req_text, &o), 401);
	assert_non_null(strstr(error_of(o), "KRB_AP_ERR_REPEAT"));
	json_decref(o);
	free(req_text);
	free(nonce);
	hl_buf_free(&msg);
	hl_buf_free(&sig);

	/* a nonce that expired on the DC clock */
	snprintf(url, sizeof(url), "%s/Fabric/v1/nonce", base);
	assert_int_equal(post_raw(url, "", &o), 200);
	assert_int_equal(hl_json_get_base64(o, "nonce", &nonce, &nonce_len), 0);
	json_decref(o);
	tu_set_clock_offset(L->dir_a, "400");
	req = json_pack("{s:s}", "computer", "FabricHost1");
	assert_int_equal(hl_json_set_base64(req, "nonce", nonce, nonce_len), 0);
	assert_int_equal(hl_json_set_base64(req, "signature", nonce, nonce_len), 0);
	snprintf(url, sizeof(url), "%s/Fabric/v1/ticket", base);
	assert_int_equal(post_json(url, req, &o), 401);
	assert_non_null(strstr(error_of(o), "expired"));
	json_decref(o);
	tu_set_clock_offset(L->dir_a, NULL);
	free(nonce);
	nonce = NULL;
	/* an unknown nonce, a short one */
	req = json_pack("{s:s, s:s, s:s}", "computer", "FabricHost1", "nonce",
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "signature", "AA==");
	assert_int_equal(post_json(url, req, &o), 401);
	assert_non_null(strstr(error_of(o), "unknown"));
	json_decref(o);
	req = json_pack("{s:s, s:s, s:s}", "computer", "FabricHost1", "nonce", "AAAA", "signature",
			"AA==");
	assert_int_equal(post_json(url, req, &o), 401);
	json_decref(o);

	/* malformed bodies: 400, never a crash */
	for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
		long st = post_raw(url, bad_bodies[i], &o);

		if (st != 400)
			fail_msg("body '%s' got %ld", bad_bodies[i], st);
		assert_true(strlen(error_of(o)) > 0);
		json_decref(o);
	}
	fabric_dc_stop(dc);
	fabric_dc_stop(NULL);
}

/* ---- HGS: trusted domains and the AD attestation route ---- */

/* Trusted domains: add, list, refusals (own domain, duplicate, SID clash), force, remove. */
static void test_trusted_domains(void **state)
{
	struct ad_trust *t = NULL;
	char domain[HGS_DOMAIN_MAX], *text;
	json_t *rows = NULL, *doc;

	(void)state;
	assert_int_equal(hgs_ad_trust_list(L->node, NULL, &rows), 0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	assert_int_equal(hgs_ad_trust_find(L->node, "fabrikam.com", &t), 0);
	assert_int_equal(hgs_ad_trust_add(L->node, L->doc_a, strlen(L->doc_a), 0, domain,
					  sizeof(domain)), 0);
	assert_string_equal(domain, "fabrikam.com");
	assert_int_equal(hgs_ad_trust_add(L->node, L->doc_a, strlen(L->doc_a), 0, NULL, 0), -1);
	assert_error_has("already trusted");
	assert_int_equal(hgs_ad_trust_add(L->node, L->doc_a, strlen(L->doc_a), 1, NULL, 0), 0);
	assert_int_equal(hgs_ad_trust_find(L->node, "FABRIKAM.com", &t), 1);
	assert_string_equal(t->domain_sid, L->a->domain_sid);
	ad_trust_free(t);
	t = NULL;
	/* contoso's document relabelled with fabrikam's SID */
	assert_int_equal(hl_json_parse(L->doc_c, strlen(L->doc_c), 0, &doc), 0);
	json_object_set_new(doc, "domain_sid", json_string(L->a->domain_sid));
	assert_int_equal(hl_json_dump(doc, &text), 0);
	assert_int_equal(hgs_ad_trust_add(L->node, text, strlen(text), 0, NULL, 0), -1);
	assert_error_has("has the SID");
	free(text);
	/* the HGS's own domain */
	json_object_set_new(doc, "domain", json_string("relecloud.com"));
	json_object_set_new(doc, "domain_sid", json_string(L->c->domain_sid));
	assert_int_equal(hl_json_dump(doc, &text), 0);
	assert_int_equal(hgs_ad_trust_add(L->node, text, strlen(text), 0, NULL, 0), -1);
	assert_error_has("domain of this HGS");
	free(text);
	json_decref(doc);
	assert_int_equal(hgs_ad_trust_add(L->node, "{}", 2, 0, NULL, 0), -1);
	/* listing */
	assert_int_equal(hgs_ad_trust_list(L->node, NULL, &rows), 0);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "Direction")),
			    "Outbound");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "DomainSid")),
			    L->a->domain_sid);
	json_decref(rows);
	assert_int_equal(hgs_ad_trust_list(L->node, "contoso.com", &rows), -1);
	assert_error_has("not trusted by relecloud.com");
	assert_int_equal(hgs_ad_trust_remove(L->node, "contoso.com"), -1);
	assert_int_equal(hgs_ad_trust_remove(L->node, "../x"), -1);
}

/* Attest with a hand-built request: HOST, NONCE, TICKET, signed by SIGNER over nonce || TK. */
static long attest_raw(const char *base, const char *host, const unsigned char *nonce,
		       size_t nonce_len, const char *ticket, EVP_PKEY *signer, EVP_PKEY *tk,
		       json_t **reply)
{
	struct hl_buf msg = { 0 }, sig = { 0 }, pem = { 0 };
	char url[128];
	json_t *body;

	snprintf(url, sizeof(url), "%s/Attestation/v1/ad/attest", base);
	assert_int_equal(hostkey_message(nonce, nonce_len, tk, &msg), 0);
	assert_int_equal(hl_crypto_sign(signer, HL_SIG_DEFAULT, msg.data, msg.len, &sig), 0);
	assert_int_equal(hl_key_pub_to_pem(tk, &pem), 0);
	body = json_pack("{s:s, s:s, s:s}", "host", host, "ticket", ticket, "transport_key",
			 (char *)pem.data);
	assert_int_equal(hl_json_set_base64(body, "nonce", nonce, nonce_len), 0);
	assert_int_equal(hl_json_set_base64(body, "signature", sig.data, sig.len), 0);
	hl_buf_free(&msg);
	hl_buf_free(&sig);
	hl_buf_free(&pem);
	return post_json(url, body, reply);
}

/* A fresh HGS nonce. */
static void hgs_nonce(const char *base, unsigned char **nonce, size_t *len)
{
	char url[128];
	json_t *o = NULL;

	snprintf(url, sizeof(url), "%s/Attestation/v1/nonce", base);
	assert_int_equal(post_raw(url, "{}", &o), 200);
	assert_int_equal(hl_json_get_base64(o, "nonce", nonce, len), 0);
	json_decref(o);
}

/* Attest HOST presenting TICKET signed by SIGNER with a fresh nonce; the decision's status. */
static const char *attest_once(const char *base, const char *host, const char *ticket,
			       EVP_PKEY *signer, json_t **reply)
{
	unsigned char *nonce = NULL;
	size_t len = 0;

	hgs_nonce(base, &nonce, &len);
	assert_int_equal(attest_raw(base, host, nonce, len, ticket, signer, L->tk, reply), 200);
	free(nonce);
	return json_string_value(json_object_get(*reply, "status"));
}

/* The reason of decision O. */
static const char *reason_of(const json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "reason"));

	return s ? s : "";
}

/* Assert decision O is UnauthorizedHost with a reason containing TEXT. */
static void assert_refused(json_t *o, const char *text)
{
	assert_string_equal(json_string_value(json_object_get(o, "status")), "UnauthorizedHost");
	if (!strstr(reason_of(o), text))
		fail_msg("reason '%s' does not contain '%s'", reason_of(o), text);
	assert_null(json_object_get(o, "health_certificate"));
	json_decref(o);
}

/* The whole route: Passed with a health certificate, and every refusal. */
static void test_hgs_ad_attest(void **state)
{
	struct hgs_server *srv = NULL;
	struct fabric_dc *dc = NULL;
	struct ad_attest_result res;
	struct hgs_healthcert_info info;
	char base[64], dc_url[64], url[128], *t1 = NULL, *t2 = NULL, *t3 = NULL, *tb, *forged;
	unsigned char *nonce = NULL;
	size_t nonce_len = 0;
	json_t *o = NULL, *log = NULL, *header, *claims, *g;
	EVP_PKEY *ec_tk = NULL;
	size_t i;

	(void)state;
	if (hgs_server_start(L->node, "127.0.0.1", 0, &srv) < 0 ||
	    fabric_dc_start(L->a, "127.0.0.1", 0, &dc) < 0)
		fail_msg("servers: %s", hl_error_last());
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", hgs_server_port(srv));
	snprintf(dc_url, sizeof(dc_url), "http://127.0.0.1:%u", fabric_dc_port(dc));
	assert_int_equal(hgs_ad_trust_add(L->node, L->doc_a, strlen(L->doc_a), 1, NULL, 0), 0);

	/* Passed: the member host, through the client, health certificate bound to TK */
	assert_int_equal(ad_client_get_ticket(dc_url, NULL, "FabricHost1", L->h1, &t1, NULL), 0);
	snprintf(url, sizeof(url), "%s/Attestation", base);
	if (ad_client_attest(url, NULL, "FabricHost1", t1, L->h1, L->tk, &res) < 0)
		fail_msg("attest: %s", hl_error_last());
	assert_int_equal(res.result.status, HGS_STATUS_PASSED);
	assert_string_equal(res.node, "MyHgsService");
	assert_non_null(res.health_cert);
	assert_int_equal(hgs_healthcert_verify(L->node, res.health_cert, &info, NULL), 0);
	assert_string_equal(info.host, "FabricHost1");
	assert_int_equal(info.mode, HGS_MODE_AD);
	ad_attest_result_release(&res);
	ad_attest_result_release(NULL);
	/* the base URL without /Attestation works too */
	assert_int_equal(ad_client_attest(base, NULL, "FabricHost1", t1, L->h1, L->tk, &res), 0);
	assert_int_equal(res.result.status, HGS_STATUS_PASSED);
	ad_attest_result_release(&res);

	/* replay: the same nonce again */
	hgs_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest_raw(base, "FabricHost1", nonce, nonce_len, t1, L->h1, L->tk, &o), 200);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "Passed");
	json_decref(o);
	assert_int_equal(attest_raw(base, "FabricHost1", nonce, nonce_len, t1, L->h1, L->tk, &o), 200);
	assert_refused(o, "already used");
	free(nonce);
	nonce = NULL;

	/* a non-member (through the client: a refusal is a result, not an error) */
	assert_int_equal(ad_client_get_ticket(dc_url, NULL, "FabricHost2", L->h2, &t2, NULL), 0);
	assert_int_equal(ad_client_attest(base, NULL, "FabricHost2", t2, L->h2, L->tk, &res), 0);
	assert_int_equal(res.result.status, HGS_STATUS_UNAUTHORIZED_HOST);
	assert_null(res.health_cert);
	assert_non_null(strstr(res.result.reason, "FabricHost2 is not a member of any registered "
						  "guarded host group"));
	ad_attest_result_release(&res);
	/* ... who edits its ticket to add GuardedHosts: the DC signature breaks */
	header = header_for(L->a);
	claims = claims_of(t2);
	g = json_object_get(claims, "groups");
	json_array_append_new(g, json_pack("{s:s, s:s}", "name", "GuardedHosts", "sid",
					   L->guarded_sid));
	forged = sign_jws(L->h2, header, claims);   /* it only has its own key to sign with */
	attest_once(base, "FabricHost2", forged, L->h2, &o);
	assert_refused(o, "does not verify with the DC certificate");
	free(forged);
	json_decref(claims);
	/* ... or claims the registered SID through a foreign group entry: filtered out */
	claims = claims_of(t2);
	json_array_append_new(json_object_get(claims, "groups"),
			      json_pack("{s:s, s:s}", "name", "Alien", "sid", "S-1-5-21-9-9-9-1103"));
	assert_int_equal(hgs_db_host_group_add(L->node, "AlienGroup", "S-1-5-21-9-9-9-1103"), 0);
	forged = sign_jws(L->a->dc_key, header, claims);
	attest_once(base, "FabricHost2", forged, L->h2, &o);
	assert_refused(o, "not a member of any registered guarded host group");
	free(forged);
	json_decref(claims);
	json_decref(header);

	/* an untrusted domain */
	t3 = issue(L->c, "FabricHost3");
	attest_once(base, "FabricHost3", t3, L->h3, &o);
	assert_refused(o, "domain 'contoso.com' is not trusted by relecloud.com");
	/* another DC key for the trusted name */
	tb = issue(L->b, "FabricHost1");
	attest_once(base, "FabricHost1", tb, L->h1, &o);
	assert_refused(o, "another key");
	free(tb);
	/* FabricHost1's ticket presented as FabricHost2, by FabricHost2's key */
	attest_once(base, "FabricHost2", t1, L->h2, &o);
	assert_refused(o, "issued to computer 'FabricHost1'");
	/* FabricHost1's ticket stolen: the thief cannot sign with FabricHost1's machine key */
	attest_once(base, "FabricHost1", t1, L->h2, &o);
	assert_refused(o, "does not verify with the machine key");
	/* expired at the HGS clock */
	tu_set_clock_offset(L->dir_node, "1000");
	attest_once(base, "FabricHost1", t1, L->h1, &o);
	assert_refused(o, "expired");
	tu_set_clock_offset(L->dir_node, NULL);
	/* a membership removed: the current ticket still passes, a fresh one does not */
	assert_int_equal(fabric_member_remove(L->a, "GuardedHosts", "FabricHost1"), 1);
	assert_string_equal(attest_once(base, "FabricHost1", t1, L->h1, &o), "Passed");
	json_decref(o);
	free(t1);
	t1 = NULL;
	assert_int_equal(ad_client_get_ticket(dc_url, NULL, "FabricHost1", L->h1, &t1, NULL), 0);
	attest_once(base, "FabricHost1", t1, L->h1, &o);
	assert_refused(o, "FabricHost1 is not a member");
	assert_int_equal(fabric_member_add(L->a, "GuardedHosts", "FabricHost1"), 1);
	free(t1);
	t1 = NULL;
	assert_int_equal(ad_client_get_ticket(dc_url, NULL, "FabricHost1", L->h1, &t1, NULL), 0);

	/* malformed requests: 400 and recorded */
	snprintf(url, sizeof(url), "%s/Attestation/v1/ad/attest", base);
	assert_int_equal(post_raw(url, "{}", &o), 400);
	assert_non_null(strstr(error_of(o), "field 'host'"));
	json_decref(o);
	assert_int_equal(post_raw(url, "{\"host\":", &o), 400);
	json_decref(o);
	hgs_nonce(base, &nonce, &nonce_len);
	assert_int_equal(attest_raw(base, "FabricHost1", nonce, nonce_len, "not.a.ticket", L->h1,
				    L->tk, &o), 400);
	assert_non_null(strstr(error_of(o), "field 'ticket'"));
	json_decref(o);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ec_tk), 0);
	assert_int_equal(attest_raw(base, "FabricHost1", nonce, nonce_len, t1, L->h1, ec_tk, &o),
			 400);
	assert_non_null(strstr(error_of(o), "RSA"));
	json_decref(o);
	free(nonce);
	nonce = NULL;
	hl_key_free(ec_tk);

	/* another trust mode refuses the AD route */
	assert_int_equal(hgs_db_set_trust(L->node, HGS_MODE_HOSTKEY), 0);
	attest_once(base, "FabricHost1", t1, L->h1, &o);
	assert_refused(o, "this HGS attests hosts in hostkey mode");
	assert_int_equal(hgs_db_set_trust(L->node, HGS_MODE_AD), 0);
	/* trust removed */
	assert_int_equal(hgs_ad_trust_remove(L->node, "fabrikam.com"), 0);
	attest_once(base, "FabricHost1", t1, L->h1, &o);
	assert_refused(o, "domain 'fabrikam.com' is not trusted");
	assert_int_equal(hgs_ad_trust_add(L->node, L->doc_a, strlen(L->doc_a), 0, NULL, 0), 0);
	assert_string_equal(attest_once(base, "FabricHost1", t1, L->h1, &o), "Passed");
	json_decref(o);

	hgs_server_stop(srv);
	fabric_dc_stop(dc);

	/* the attestation log has every attempt, in AD mode */
	assert_int_equal(hgs_db_attest_log_list(L->node, NULL, 0, &log), 0);
	assert_true(json_array_size(log) >= 18);
	json_array_foreach(log, i, o)
		assert_string_equal(json_string_value(json_object_get(o, "Mode")), "ad");
	assert_string_equal(json_string_value(json_object_get(json_array_get(log, 0), "Mode")), "ad");
	assert_string_equal(json_string_value(json_object_get(json_array_get(log, 0), "Status")),
			    "Passed");
	json_decref(log);
	assert_int_equal(hgs_db_attest_log_list(L->node, "FabricHost2", 0, &log), 0);
	assert_true(json_array_size(log) >= 3);
	json_decref(log);
	free(t1);
	free(t2);
	free(t3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_trust_documents),
		cmocka_unit_test(test_ticket_round_trip),
		cmocka_unit_test(test_ticket_expiry),
		cmocka_unit_test(test_ticket_wrong_dc),
		cmocka_unit_test(test_ticket_tampered),
		cmocka_unit_test(test_membership_change),
		cmocka_unit_test(test_sid_filtering),
		cmocka_unit_test(test_ticket_malformed),
		cmocka_unit_test(test_dc_http),
		cmocka_unit_test(test_trusted_domains),
		cmocka_unit_test(test_hgs_ad_attest),
	};

	hl_log_set_stderr_level(HL_LOG_ERROR);
	return cmocka_run_group_tests_name("fabric_ad", tests, group_setup, group_teardown);
}
