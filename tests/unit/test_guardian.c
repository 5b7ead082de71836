/*
 * test_guardian.c - unit tests for tenant/guardian: new-guardian makes two
 * RSA-2048 key pairs whose private key files are 0600 and load back
 * matching their certificates; names are checked; a key file others may
 * read is refused; the metadata document round-trips (escaped names) and
 * every malformed document gets a clear "bad guardian metadata" error (a
 * table of cases, every truncation and 2000 random buffers, never a crash);
 * import refuses a self-signed (untrusted root) guardian without the flag
 * and accepts one chaining to --trusted-root; an imported guardian has no
 * private keys; remove deletes the guardian whole; fetching metadata over
 * HTTP with a resolve entry; and a key protector made from the directory's
 * guardians leaves the TK in no file of the tenant directory.
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

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "proto/keyprotector.h"
#include "tenant/guardian.h"
#include "tests/unit/testutil.h"

struct fx {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir[128];      /* the tenant directory: Owner (made once) */
	char hgsdir[128];   /* another party's directory: MyHgsService (made once) */
};

static struct fx *F;

/* A tenant directory with Owner and another with MyHgsService. */
static int group_setup(void **state)
{
	F = tu_sandbox_new(sizeof(*F), "guardian");
	if (!F)
		return -1;
	snprintf(F->dir, sizeof(F->dir), "%s/tenant", F->sandbox);
	snprintf(F->hgsdir, sizeof(F->hgsdir), "%s/hgs", F->sandbox);
	if (hl_guardian_new(F->dir, "Owner") < 0 || hl_guardian_new(F->hgsdir, "MyHgsService") < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	*state = F;
	return 0;
}

/* Remove both. */
static int group_teardown(void **state)
{
	(void)state;
	tu_sandbox_free(F);
	return 0;
}

/* Mode bits of DIR/guardians/NAME/FILE. */
static unsigned mode_of(const char *dir, const char *name, const char *file)
{
	return tu_mode_of(tu_path("%s/guardians/%s/%s", dir, name, file));
}

/* Key files 0600, certificates 0644, keys load and match, no temporary directory left. */
static void test_new_guardian_files_and_keys(void **state)
{
	struct hl_guardian *g = NULL;
	char cn[128];

	(void)state;
	assert_int_equal(mode_of(F->dir, "Owner", "signing.key"), 0600);
	assert_int_equal(mode_of(F->dir, "Owner", "encryption.key"), 0600);
	assert_int_equal(mode_of(F->dir, "Owner", "signing.crt"), 0644);
	assert_int_equal(mode_of(F->dir, "Owner", "encryption.crt"), 0644);
	assert_int_equal(hl_guardian_load(F->dir, "Owner", HL_GUARDIAN_LOAD_KEYS, &g), 0);
	assert_string_equal(g->name, "Owner");
	assert_int_equal(g->kind, HL_GUARDIAN_OWNED);
	assert_true(g->has_private_keys);
	assert_non_null(g->signing_key);
	assert_non_null(g->encryption_key);
	assert_string_not_equal(g->signing_thumbprint, g->encryption_thumbprint);
	assert_int_equal(hl_cert_subject_cn(g->signing_cert, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "Shielded VM Signing Certificate (Owner)");
	hl_guardian_free(g);
	/* no temporary directories left behind */
	{
		char path[256];
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/guardians", F->dir);
		d = opendir(path);
		assert_non_null(d);
		while ((e = readdir(d)))
			assert_false(strncmp(e->d_name, ".new-", 5) == 0);
		closedir(d);
	}
}

/* Bad names and a second guardian of a name are refused. */
static void test_names_and_duplicates(void **state)
{
	static const char *const bad[] = { "", ".hidden", "a/b", "a b", "..", "x\ny",
		"12345678901234567890123456789012345678901234567890123456789012345" };
	struct hl_guardian *g = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hl_name_guardian(bad[i]), -1);
		assert_int_equal(hl_guardian_new(F->dir, bad[i]), -1);
	}
	assert_int_equal(hl_name_guardian("My-Hgs_Service.2"), 0);
	assert_int_equal(hl_guardian_new(F->dir, "Owner"), -1);
	assert_true(tu_error_has("already exists"));
	assert_int_equal(hl_guardian_load(F->dir, "Nobody", 0, &g), -1);
	assert_null(g);
	assert_true(tu_error_has("no guardian 'Nobody'"));
}

/* A private key file others may read is refused, with the fix named. */
static void test_key_file_mode_refused(void **state)
{
	struct hl_guardian *g = NULL;
	char path[256];

	(void)state;
	assert_int_equal(hl_guardian_new(F->dir, "Leaky"), 0);
	snprintf(path, sizeof(path), "%s/guardians/Leaky/encryption.key", F->dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(hl_guardian_load(F->dir, "Leaky", HL_GUARDIAN_LOAD_KEYS, &g), -1);
	assert_null(g);
	assert_true(tu_error_has("chmod 600"));
	/* without keys it still loads */
	assert_int_equal(hl_guardian_load(F->dir, "Leaky", 0, &g), 0);
	hl_guardian_free(g);
	assert_int_equal(hl_guardian_remove(F->dir, "Leaky"), 0);
}

/* The metadata document of guardian NAME of DIR into OUT. */
static void export_md(const char *dir, const char *name, struct hl_buf *out)
{
	struct hl_guardian *g = NULL;

	assert_int_equal(hl_guardian_load(dir, name, 0, &g), 0);
	assert_int_equal(hl_guardian_metadata_write(g->name, g->signing_cert, g->encryption_cert,
						    out), 0);
	hl_guardian_free(g);
}

/* Write then parse metadata: escaped name, the same certificates. */
static void test_metadata_round_trip(void **state)
{
	struct hl_guardian_metadata *md = NULL;
	struct hl_buf xml = { NULL, 0 };
	struct hl_guardian *g = NULL;
	char t[HL_SHA256_HEX_SIZE];

	(void)state;
	assert_int_equal(hl_guardian_load(F->hgsdir, "MyHgsService", 0, &g), 0);
	assert_int_equal(hl_guardian_metadata_write("A&B <HGS> \"x\"", g->signing_cert,
						    g->encryption_cert, &xml), 0);
	assert_non_null(strstr((char *)xml.data, "A&amp;B &lt;HGS&gt;"));
	assert_non_null(strstr((char *)xml.data, "urn:hgslab:guardian-metadata:2014-07"));
	assert_non_null(strstr((char *)xml.data, "Version=\"1\""));
	assert_int_equal(hl_guardian_metadata_parse(xml.data, xml.len, &md), 0);
	assert_string_equal(md->name, "A&B <HGS> \"x\"");
	assert_int_equal(hl_cert_thumbprint(md->signing_cert, t), 0);
	assert_string_equal(t, g->signing_thumbprint);
	assert_int_equal(hl_cert_thumbprint(md->encryption_cert, t), 0);
	assert_string_equal(t, g->encryption_thumbprint);
	hl_guardian_metadata_free(md);
	hl_buf_free(&xml);
	hl_guardian_free(g);
}

/* The base64 DER of guardian's signing (or encryption) certificate, as a C string. */
static char *cert_b64(int encryption, const char *dir, const char *name)
{
	struct hl_buf der = { NULL, 0 }, b64 = { NULL, 0 };
	struct hl_guardian *g = NULL;
	char *s;

	assert_int_equal(hl_guardian_load(dir, name, 0, &g), 0);
	assert_int_equal(hl_cert_to_der(encryption ? g->encryption_cert : g->signing_cert, &der), 0);
	assert_int_equal(hl_crypto_base64_encode(der.data, der.len, &b64), 0);
	s = strdup((char *)b64.data);
	hl_buf_free(&der);
	hl_buf_free(&b64);
	hl_guardian_free(g);
	return s;
}

/* Expect document TEXT to be refused with NEEDLE in the message. */
static void md_refused(const char *text, const char *needle)
{
	struct hl_guardian_metadata *md = (struct hl_guardian_metadata *)1;

	if (hl_guardian_metadata_parse(text, strlen(text), &md) == 0)
		fail_msg("accepted: %s", text);
	assert_null(md);
	assert_true(tu_error_has("bad guardian metadata: "));
	if (!tu_error_has(needle))
		fail_msg("for document: %.300s", text);
}

/* Each malformed document is refused with a message naming the problem. */
static void test_metadata_errors_are_clear(void **state)
{
	char *s = cert_b64(0, F->hgsdir, "MyHgsService"), *e = cert_b64(1, F->hgsdir, "MyHgsService");
	char *doc = malloc(16384);
	const char *ns = "urn:hgslab:guardian-metadata:2014-07";

	(void)state;
#define DOC(...) snprintf(doc, 16384, __VA_ARGS__)
	md_refused("", "empty");
	md_refused("hello", "malformed XML at line 1");
	md_refused("<GuardianMetadata", "malformed XML");
	md_refused("<Other xmlns='urn:hgslab:guardian-metadata:2014-07' Version='1'/>",
		   "root element is 'Other'");
	md_refused("<GuardianMetadata Version='1'><Guardian/></GuardianMetadata>",
		   "not in namespace");
	DOC("<GuardianMetadata xmlns='%s'><Guardian/></GuardianMetadata>", ns);
	md_refused(doc, "lacks attribute Version");
	DOC("<GuardianMetadata xmlns='%s' Version='2'><Guardian/></GuardianMetadata>", ns);
	md_refused(doc, "version '2' is not supported");
	DOC("<GuardianMetadata xmlns='%s' Version='1'></GuardianMetadata>", ns);
	md_refused(doc, "'Guardian' is missing");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><SigningCertificate>%s"
	    "</SigningCertificate><EncryptionCertificate>%s</EncryptionCertificate></Guardian>"
	    "</GuardianMetadata>", ns, s, e);
	md_refused(doc, "element 'Name' is missing");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name><SigningCertificate>"
	    "%s</SigningCertificate></Guardian></GuardianMetadata>", ns, s);
	md_refused(doc, "'EncryptionCertificate' is missing");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name><Name>I</Name>"
	    "</Guardian></GuardianMetadata>", ns);
	md_refused(doc, "element 'Name' appears twice");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name><Key>x</Key>"
	    "</Guardian></GuardianMetadata>", ns);
	md_refused(doc, "unknown element 'Key'");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name><SigningCertificate>"
	    "not*base64</SigningCertificate></Guardian></GuardianMetadata>", ns);
	md_refused(doc, "element 'SigningCertificate' is not base64");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name><SigningCertificate>"
	    "AAAAAAAA</SigningCertificate></Guardian></GuardianMetadata>", ns);
	md_refused(doc, "cannot read certificate der");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name><SigningCertificate>"
	    "%s</SigningCertificate><EncryptionCertificate>%s</EncryptionCertificate></Guardian>"
	    "</GuardianMetadata>", ns, s, s);
	md_refused(doc, "the same certificate");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name>H</Name></Guardian>"
	    "<Guardian><Name>I</Name></Guardian></GuardianMetadata>", ns);
	md_refused(doc, "more than one 'Guardian'");
	DOC("<GuardianMetadata xmlns='%s' Version='1'>text<Guardian/></GuardianMetadata>", ns);
	md_refused(doc, "unexpected text");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name> H</Name></Guardian>"
	    "</GuardianMetadata>", ns);
	md_refused(doc, "leading or trailing space");
	DOC("<GuardianMetadata xmlns='%s' Version='1'><Guardian><Name><b>H</b></Name></Guardian>"
	    "</GuardianMetadata>", ns);
	md_refused(doc, "must hold text only");
	/* entity expansion and external entities: refused before anything is expanded or fetched */
	DOC("<?xml version='1.0'?><!DOCTYPE GuardianMetadata [<!ENTITY a 'aaaaaaaaaa'>"
	    "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]><GuardianMetadata xmlns='%s' "
	    "Version='1'><Guardian><Name>&b;</Name></Guardian></GuardianMetadata>", ns);
	md_refused(doc, "<!DOCTYPE>");
	DOC("<?xml version='1.0'?><!DOCTYPE x SYSTEM 'file:///etc/passwd'><GuardianMetadata/>");
	md_refused(doc, "<!DOCTYPE>");
#undef DOC
	free(doc);
	free(s);
	free(e);
}

/* Every truncation and 2000 random buffers: refused, no crash. */
static void test_metadata_truncated_and_random(void **state)
{
	struct hl_guardian_metadata *md;
	struct hl_buf xml = { NULL, 0 };
	unsigned char *buf;
	const char *last;
	size_t len, i, end;

	(void)state;
	export_md(F->hgsdir, "MyHgsService", &xml);
	last = strrchr((char *)xml.data, '>');
	assert_non_null(last);
	end = (size_t)(last - (char *)xml.data);
	for (len = 0; len <= end; len++) {
		md = NULL;
		if (hl_guardian_metadata_parse(xml.data, len, &md) == 0)
			fail_msg("truncated to %zu bytes: accepted", len);
		assert_null(md);
		assert_true(tu_error_has("bad guardian metadata: "));
	}
	buf = malloc(4096);
	srand(4242);
	for (i = 0; i < 2000; i++) {
		len = (size_t)rand() % 4096;
		assert_int_equal(hl_crypto_random(buf, len ? len : 1), 0);
		if (i % 3 == 1 && len > xml.len / 2)
			memcpy(buf, xml.data, xml.len / 2);
		if (i % 3 == 2 && len > 60)
			memcpy(buf, "<GuardianMetadata xmlns='urn:hgslab:guardian-metadata:2014-07'", 60);
		md = NULL;
		assert_int_equal(hl_guardian_metadata_parse(buf, len, &md), -1);
		assert_null(md);
	}
	free(buf);
	hl_buf_free(&xml);
}

/* Self-signed metadata: refused without the flag; imported, it has no private keys. */
static void test_import_untrusted_root(void **state)
{
	char dir2[160], xmlpath[200];
	struct hl_guardian_metadata *md = NULL;
	struct hl_buf xml = { NULL, 0 };
	struct hl_guardian *g = NULL, *h = NULL;

	(void)state;
	snprintf(dir2, sizeof(dir2), "%s/importer", F->sandbox);
	export_md(F->hgsdir, "MyHgsService", &xml);
	/* the exported file holds no private key */
	assert_null(strstr((char *)xml.data, "PRIVATE"));
	snprintf(xmlpath, sizeof(xmlpath), "%s/metadata.xml", F->sandbox);
	assert_int_equal(hl_file_write(xmlpath, xml.data, xml.len, 0644), 0);
	assert_int_equal(hl_guardian_metadata_parse(xml.data, xml.len, &md), 0);
	assert_int_equal(hl_guardian_metadata_trust(md, NULL, 0), -1);
	assert_true(tu_error_has("self-signed, an untrusted root"));
	assert_true(tu_error_has("--allow-untrusted-root"));
	assert_int_equal(hl_guardian_metadata_trust(md, NULL, 1), 0);
	assert_int_equal(hl_guardian_import(dir2, "MyHgsService", md), 0);
	assert_int_equal(hl_guardian_import(dir2, "MyHgsService", md), -1);
	assert_true(tu_error_has("already exists"));
	assert_int_equal(hl_guardian_import(dir2, "Again", md), -1);
	assert_true(tu_error_has("already has encryption certificate"));
	assert_int_equal(hl_guardian_load(dir2, "MyHgsService", 0, &g), 0);
	assert_int_equal(hl_guardian_load(F->hgsdir, "MyHgsService", 0, &h), 0);
	assert_int_equal(g->kind, HL_GUARDIAN_IMPORTED);
	assert_false(g->has_private_keys);
	assert_string_equal(g->signing_thumbprint, h->signing_thumbprint);
	assert_string_equal(g->encryption_thumbprint, h->encryption_thumbprint);
	hl_guardian_free(g);
	g = NULL;
	assert_int_equal(hl_guardian_load(dir2, "MyHgsService", HL_GUARDIAN_LOAD_KEYS, &g), -1);
	assert_true(tu_error_has("no private keys"));
	hl_guardian_free(h);
	hl_guardian_metadata_free(md);
	hl_buf_free(&xml);
}

/* CA-issued metadata: trusted only through its own root. */
static void test_import_trusted_root(void **state)
{
	struct hl_cert_spec spec = { 0 };
	EVP_PKEY *ca_key = NULL, *sk = NULL, *ek = NULL, *other_key = NULL;
	X509 *ca = NULL, *sc = NULL, *ec = NULL, *other = NULL;
	struct hl_guardian_metadata *md = NULL;
	struct hl_buf xml = { NULL, 0 };
	time_t now = time(NULL);

	(void)state;
	spec.not_before = now - 60;
	spec.not_after = now + 3600;
	spec.path_len = -1;
	spec.cn = "Relecloud Root CA";
	assert_int_equal(hl_key_generate(HL_KEY_RSA2048, &ca_key), 0);
	assert_int_equal(hl_cert_issue_self_signed(&spec, ca_key, &ca), 0);
	spec.cn = "Other Root CA";
	assert_int_equal(hl_key_generate(HL_KEY_RSA2048, &other_key), 0);
	assert_int_equal(hl_cert_issue_self_signed(&spec, other_key, &other), 0);
	spec.key_usage = HL_KU_DIGITAL_SIGNATURE;
	spec.cn = "MyHgsService Signing";
	assert_int_equal(hl_key_generate(HL_KEY_RSA2048, &sk), 0);
	assert_int_equal(hl_cert_issue(&spec, sk, ca, ca_key, &sc), 0);
	spec.key_usage = HL_KU_KEY_ENCIPHERMENT;
	spec.cn = "MyHgsService Encryption";
	assert_int_equal(hl_key_generate(HL_KEY_RSA2048, &ek), 0);
	assert_int_equal(hl_cert_issue(&spec, ek, ca, ca_key, &ec), 0);
	assert_int_equal(hl_guardian_metadata_write("MyHgsService", sc, ec, &xml), 0);
	assert_int_equal(hl_guardian_metadata_parse(xml.data, xml.len, &md), 0);
	assert_int_equal(hl_guardian_metadata_trust(md, NULL, 0), -1);
	assert_true(tu_error_has("issued by 'Relecloud Root CA', which is not a trusted root"));
	assert_int_equal(hl_guardian_metadata_trust(md, other, 0), -1);
	assert_true(tu_error_has("does not chain to the trusted root"));
	assert_int_equal(hl_guardian_metadata_trust(md, ca, 0), 0);
	hl_guardian_metadata_free(md);
	hl_buf_free(&xml);
	hl_key_free(ca_key);
	hl_key_free(other_key);
	hl_key_free(sk);
	hl_key_free(ek);
	hl_cert_free(ca);
	hl_cert_free(other);
	hl_cert_free(sc);
	hl_cert_free(ec);
}

/* List is sorted; find by thumbprint; remove deletes whole. */
static void test_list_find_remove(void **state)
{
	struct hl_guardian **v = NULL, *g = NULL, *o = NULL;
	char path[256];
	size_t n = 0, i;

	(void)state;
	assert_int_equal(hl_guardian_new(F->dir, "Alpha"), 0);
	assert_int_equal(hl_guardian_list(F->dir, &v, &n), 0);
	assert_true(n >= 2);
	for (i = 1; i < n; i++)
		assert_true(strcmp(v[i - 1]->name, v[i]->name) < 0);
	for (i = 0; i < n; i++)
		hl_guardian_free(v[i]);
	free(v);
	assert_int_equal(hl_guardian_load(F->dir, "Owner", 0, &o), 0);
	assert_int_equal(hl_guardian_find(F->dir, o->signing_thumbprint, 1, HL_GUARDIAN_LOAD_KEYS,
					  &g), 0);
	assert_string_equal(g->name, "Owner");
	assert_non_null(g->signing_key);
	hl_guardian_free(g);
	g = NULL;
	assert_int_equal(hl_guardian_find(F->dir, o->signing_thumbprint, 0, 0, &g), -1);
	hl_guardian_free(o);
	assert_int_equal(hl_guardian_remove(F->dir, "Alpha"), 0);
	snprintf(path, sizeof(path), "%s/guardians/Alpha", F->dir);
	assert_int_equal(hl_file_exists(path), 0);
	assert_int_equal(hl_guardian_remove(F->dir, "Alpha"), -1);
	assert_true(tu_error_has("no guardian 'Alpha'"));
	assert_int_equal(hl_guardian_list("/nonexistent/hgslab", &v, &n), -1);
	assert_true(tu_error_has("does not exist"));
}

/* Serve the metadata document of the test (USER) at the metadata path. */
static int serve_md(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	const struct hl_buf *xml = user;

	(void)req;
	return hl_http_response_set(resp, 200, "application/xml", xml->data, xml->len);
}

/* Fetch from a base URL (with a resolve entry), a /KeyProtection URL and the full path. */
static void test_fetch_over_http(void **state)
{
	struct hl_buf xml = { NULL, 0 };
	struct hl_http_route route = { "GET", HL_GUARDIAN_METADATA_PATH, serve_md, &xml };
	struct hl_http_server_config cfg = { .address = "127.0.0.1", .port = 0, .routes = &route,
					     .n_routes = 1 };
	struct hl_guardian_metadata *md = NULL;
	struct hl_http_server *srv = NULL;
	char url[128], res[128];
	const char *resolve[2] = { res, NULL };

	(void)state;
	export_md(F->hgsdir, "MyHgsService", &xml);
	assert_int_equal(hl_http_server_start(&cfg, &srv), 0);
	snprintf(res, sizeof(res), "hgs.relecloud.com:%u:127.0.0.1", hl_http_server_port(srv));
	snprintf(url, sizeof(url), "http://hgs.relecloud.com:%u", hl_http_server_port(srv));
	assert_int_equal(hl_guardian_metadata_fetch(url, resolve, &md), 0);
	assert_string_equal(md->name, "MyHgsService");
	hl_guardian_metadata_free(md);
	md = NULL;
	snprintf(url, sizeof(url), "http://hgs.relecloud.com:%u/KeyProtection/",
		 hl_http_server_port(srv));
	assert_int_equal(hl_guardian_metadata_fetch(url, resolve, &md), 0);
	hl_guardian_metadata_free(md);
	md = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", hl_http_server_port(srv),
		 HL_GUARDIAN_METADATA_PATH);
	assert_int_equal(hl_guardian_metadata_fetch(url, NULL, &md), 0);
	hl_guardian_metadata_free(md);
	md = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nothing.xml", hl_http_server_port(srv));
	assert_int_equal(hl_guardian_metadata_fetch(url, NULL, &md), -1);
	assert_true(tu_error_has("404"));
	hl_http_server_stop(srv);
	hl_buf_free(&xml);
}

/* Assert no file under PATH (recursively) holds the TK raw, as hex (either case) or base64. */
static void scan_for_tk(const char *path, const struct hl_buf *tk, size_t *files)
{
	char hex[2 * HL_KP_TK_LEN + 1], lower[sizeof(hex)], sub[512], *text = NULL;
	struct hl_buf b64 = { NULL, 0 };
	struct dirent *e;
	struct stat st;
	size_t len, i;
	DIR *d;

	assert_int_equal(lstat(path, &st), 0);
	if (S_ISDIR(st.st_mode)) {
		d = opendir(path);
		assert_non_null(d);
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			scan_for_tk(sub, tk, files);
		}
		closedir(d);
		return;
	}
	assert_int_equal(hl_crypto_hex_encode(tk->data, tk->len, hex, sizeof(hex)), 0);
	for (i = 0; hex[i]; i++)
		lower[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
	lower[i] = '\0';
	assert_int_equal(hl_crypto_base64_encode(tk->data, tk->len, &b64), 0);
	assert_int_equal(hl_file_read(path, HL_FILE_READ_MAX, &text, &len), 0);
	if (memmem(text, len, tk->data, tk->len) || memmem(text, len, hex, strlen(hex)) ||
	    memmem(text, len, lower, strlen(lower)) || memmem(text, len, b64.data, b64.len - 1))
		fail_msg("the TK is in '%s'", path);
	free(text);
	hl_buf_free(&b64);
	(*files)++;
}

/* A KP made from the directory's guardians: the TK is in no file of the sandbox. */
static void test_kp_from_directory_leaves_no_tk(void **state)
{
	struct hl_guardian *owner = NULL, *hgs = NULL;
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 }, got = { NULL, 0 };
	struct hl_kp_guardian kg;
	struct hl_kp_owner ko;
	struct hl_kp *kp = NULL;
	char path[256];
	size_t files = 0;

	(void)state;
	assert_int_equal(hl_guardian_load(F->dir, "Owner", HL_GUARDIAN_LOAD_KEYS, &owner), 0);
	assert_int_equal(hl_guardian_load(F->hgsdir, "MyHgsService", HL_GUARDIAN_LOAD_KEYS, &hgs),
			 0);
	hl_guardian_as_owner(owner, &ko);
	hl_guardian_as_kp(hgs, &kg);
	assert_int_equal(hl_kp_create(&ko, &kg, 1, 0, &kpb, &tk), 0);
	snprintf(path, sizeof(path), "%s/vm1.kp", F->dir);
	assert_int_equal(hl_file_write(path, kpb.data, kpb.len, 0644), 0);
	assert_int_equal(hl_kp_parse(kpb.data, kpb.len, &kp), 0);
	assert_int_equal(hl_kp_verify(kp, owner->signing_thumbprint), 0);
	assert_int_equal(hl_kp_unwrap(kp, hgs->encryption_cert, hgs->encryption_key, &got), 0);
	assert_memory_equal(got.data, tk.data, tk.len);
	scan_for_tk(F->sandbox, &tk, &files);
	assert_true(files >= 10);
	hl_kp_free(kp);
	hl_buf_free(&kpb);
	hl_buf_free(&tk);
	hl_buf_free(&got);
	hl_guardian_free(owner);
	hl_guardian_free(hgs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_guardian_files_and_keys),
		cmocka_unit_test(test_names_and_duplicates),
		cmocka_unit_test(test_key_file_mode_refused),
		cmocka_unit_test(test_metadata_round_trip),
		cmocka_unit_test(test_metadata_errors_are_clear),
		cmocka_unit_test(test_metadata_truncated_and_random),
		cmocka_unit_test(test_import_untrusted_root),
		cmocka_unit_test(test_import_trusted_root),
		cmocka_unit_test(test_list_find_remove),
		cmocka_unit_test(test_fetch_over_http),
		cmocka_unit_test(test_kp_from_directory_leaves_no_tk),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
