/*
 * test_platform_id.c - the platform identifier (proto/platform_id): the one
 * writer produces byte for byte what `host get-platform-identifier` wrote
 * before it existed (a golden document made with the old code from a fixed
 * EK key and certificate), the one reader reads back what the writer wrote,
 * and every malformed field is refused with its message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/platform_id.h"
#include "tests/unit/testutil.h"

/* A fixed P-256 EK: its public key, a self-signed certificate for it, and another key. */
static const char ek_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEt3rzstcnLY+3CEyHv/4CHnLY8B+7\n"
	"WlxWX0EYWTiXglYgVSSH3rQM2O3NGZ5a5QVthxOBR+JVJZgCui8NzL0JNg==\n"
	"-----END PUBLIC KEY-----\n";
static const char ek_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBiDCCAS+gAwIBAgIUeTqFl0jhSwEeAsjxauqFDKwF5W8wCgYIKoZIzj0EAwIw\n"
	"GTEXMBUGA1UEAwwORUsgRmFicmljSG9zdDEwIBcNMjYxMjA2MDA0NjM2WhgPMjEy\n"
	"NjExMTIwMDQ2MzZaMBkxFzAVBgNVBAMMDkVLIEZhYnJpY0hvc3QxMFkwEwYHKoZI\n"
	"zj0CAQYIKoZIzj0DAQcDQgAEt3rzstcnLY+3CEyHv/4CHnLY8B+7WlxWX0EYWTiX\n"
	"glYgVSSH3rQM2O3NGZ5a5QVthxOBR+JVJZgCui8NzL0JNqNTMFEwHQYDVR0OBBYE\n"
	"FOujenTzh2lhWwG1Q67LVvYQ/X0jMB8GA1UdIwQYMBaAFOujenTzh2lhWwG1Q67L\n"
	"VvYQ/X0jMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgSF9DO7B0\n"
	"GZRiWsY2KmC2UILjaPoc4jIxcJvFG7fBs8MCIHbVvtC98Me01iNrC/zM86/u/bq+\n"
	"g+L+5vO0lMRBeZOm\n"
	"-----END CERTIFICATE-----\n";
static const char other_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhcIHD0YnjnZF/atsBCCkzfpO6UA2\n"
	"NFPvtVUd2uzGosWQ6MHcLXElaiKD50unAtsZhLnXIOaHz5AWy3KXeDGfOQ==\n"
	"-----END PUBLIC KEY-----\n";
/* Some TPM2B_PUBLIC bytes. */
static const unsigned char ek_tpm_public[] = { 0x00, 0x3a, 0x00, 0x01, 0x00, 0x0b, 0xff, 0x10 };

/*
 * What cmd/cmd_host.c's platform_identifier() wrote for that EK before
 * proto/platform_id existed (json_object members in this order, dumped by
 * hl_json_dump_pretty).
 */
static const char golden[] =
	"{\n"
	"  \"format\": \"hgslab-platform-identifier\",\n"
	"  \"version\": 1,\n"
	"  \"host\": \"FabricHost1\",\n"
	"  \"ek_public\": \"-----BEGIN PUBLIC KEY-----\\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEt3rzstcnLY+3CEyHv/4CHnLY8B+7\\n"
	"WlxWX0EYWTiXglYgVSSH3rQM2O3NGZ5a5QVthxOBR+JVJZgCui8NzL0JNg==\\n"
	"-----END PUBLIC KEY-----\\n"
	"\",\n"
	"  \"ek_certificate\": \"-----BEGIN CERTIFICATE-----\\n"
	"MIIBiDCCAS+gAwIBAgIUeTqFl0jhSwEeAsjxauqFDKwF5W8wCgYIKoZIzj0EAwIw\\n"
	"GTEXMBUGA1UEAwwORUsgRmFicmljSG9zdDEwIBcNMjYxMjA2MDA0NjM2WhgPMjEy\\n"
	"NjExMTIwMDQ2MzZaMBkxFzAVBgNVBAMMDkVLIEZhYnJpY0hvc3QxMFkwEwYHKoZI\\n"
	"zj0CAQYIKoZIzj0DAQcDQgAEt3rzstcnLY+3CEyHv/4CHnLY8B+7WlxWX0EYWTiX\\n"
	"glYgVSSH3rQM2O3NGZ5a5QVthxOBR+JVJZgCui8NzL0JNqNTMFEwHQYDVR0OBBYE\\n"
	"FOujenTzh2lhWwG1Q67LVvYQ/X0jMB8GA1UdIwQYMBaAFOujenTzh2lhWwG1Q67L\\n"
	"VvYQ/X0jMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgSF9DO7B0\\n"
	"GZRiWsY2KmC2UILjaPoc4jIxcJvFG7fBs8MCIHbVvtC98Me01iNrC/zM86/u/bq+\\n"
	"g+L+5vO0lMRBeZOm\\n"
	"-----END CERTIFICATE-----\\n"
	"\",\n"
	"  \"ek_fingerprint\": \"00430C8CDBA50D082904D9516621CCD3047785E479E8899759D1ACEE43D367BB\",\n"
	"  \"ek_tpm_public\": \"ADoAAQAL/xA=\"\n"
	"}\n";

static EVP_PKEY *ek, *other;
static X509 *ek_cert;

/* Read the fixed keys and certificate. */
static int group_setup(void **state)
{
	(void)state;
	if (hl_key_pub_from_pem(ek_pem, strlen(ek_pem), &ek) < 0 ||
	    hl_key_pub_from_pem(other_pem, strlen(other_pem), &other) < 0 ||
	    hl_cert_from_pem(ek_cert_pem, strlen(ek_cert_pem), &ek_cert) < 0)
		return -1;
	return 0;
}

/* Free them. */
static int group_teardown(void **state)
{
	(void)state;
	hl_key_free(ek);
	hl_key_free(other);
	hl_cert_free(ek_cert);
	return 0;
}

/* The writer gives the old writer's document, byte for byte. */
static void test_write_matches_old_writer(void **state)
{
	char *text = NULL;

	(void)state;
	assert_ok(hgs_platform_id_write("FabricHost1", ek, ek_cert, ek_tpm_public,
					sizeof(ek_tpm_public), &text));
	assert_string_equal(text, golden);
	free(text);
}

/* What the writer writes, the reader reads: with and without a certificate. */
static void test_round_trip(void **state)
{
	struct hgs_platform_id *id = NULL;
	char fp[HL_SHA256_HEX_SIZE], *text = NULL;
	json_t *doc = NULL;

	(void)state;
	assert_ok(hl_key_fingerprint(ek, fp));
	assert_ok(hgs_platform_id_parse(golden, strlen(golden), &id));
	assert_string_equal(id->host, "FabricHost1");
	assert_true(hl_key_pub_equal(id->ek, ek));
	assert_non_null(id->ek_cert);
	assert_int_equal(X509_cmp(id->ek_cert, ek_cert), 0);
	assert_string_equal(id->ek_fingerprint, fp);
	assert_string_equal(id->json, golden);
	hgs_platform_id_free(id);
	id = NULL;

	/* a TPM without an EK certificate, and no TPM2B_PUBLIC: null and absent */
	assert_ok(hgs_platform_id_write("NoCertHost", ek, NULL, NULL, 0, &text));
	assert_ok(hl_json_parse(text, strlen(text), 0, &doc));
	assert_true(json_is_null(json_object_get(doc, "ek_certificate")));
	assert_null(json_object_get(doc, "ek_tpm_public"));
	assert_string_equal(json_string_value(json_object_get(doc, "ek_fingerprint")), fp);
	json_decref(doc);
	assert_ok(hgs_platform_id_parse(text, strlen(text), &id));
	assert_string_equal(id->host, "NoCertHost");
	assert_null(id->ek_cert);
	assert_true(hl_key_pub_equal(id->ek, ek));
	hgs_platform_id_free(id);
	free(text);

	/* ek_certificate may be absent; unknown members are kept as given */
	assert_ok(hl_json_parse(golden, strlen(golden), 0, &doc));
	json_object_del(doc, "ek_certificate");
	json_object_set_new(doc, "x_vendor", json_string("kept"));
	assert_ok(hl_json_dump(doc, &text));
	json_decref(doc);
	assert_ok(hgs_platform_id_parse(text, strlen(text), &id));
	assert_null(id->ek_cert);
	assert_non_null(strstr(id->json, "\"x_vendor\":\"kept\""));
	hgs_platform_id_free(id);
	free(text);
	hgs_platform_id_free(NULL);
}

/* Parse TEXT, expect a refusal whose message contains NEEDLE and no output. */
static void expect_refused(const char *text, const char *needle)
{
	struct hgs_platform_id *id = (struct hgs_platform_id *)&id;

	if (hgs_platform_id_parse(text, strlen(text), &id) != -1)
		fail_msg("'%s' was accepted", text);
	assert_null(id);
	assert_error_has(needle);
}

/* The golden document with member NAME set to VALUE (consumed; NULL deletes it), refused with NEEDLE. */
static void expect_field_refused(const char *name, json_t *value, const char *needle)
{
	json_t *doc = NULL;
	char *text = NULL;

	assert_ok(hl_json_parse(golden, strlen(golden), 0, &doc));
	if (value)
		json_object_set_new(doc, name, value);
	else
		json_object_del(doc, name);
	assert_ok(hl_json_dump(doc, &text));
	json_decref(doc);
	expect_refused(text, needle);
	free(text);
}

/* Every malformed field is refused with a message naming it. */
static void test_malformed(void **state)
{
	char long_name[80];

	(void)state;
	expect_refused("\x01\x02", "bad JSON at line 1");
	expect_refused("[1, 2]", "expected a JSON object");
	expect_refused("{}", "field 'format' is missing");
	expect_field_refused("format", NULL, "field 'format' is missing");
	expect_field_refused("format", json_integer(1), "field 'format' must be a string");
	expect_field_refused("format", json_string("hgslab-guardian"),
			     "field 'format' is 'hgslab-guardian', expected "
			     "'hgslab-platform-identifier'");
	expect_field_refused("version", NULL, "field 'version' is missing");
	expect_field_refused("version", json_string("1"), "field 'version' must be");
	expect_field_refused("version", json_integer(2), "platform identifier version 2 is not "
			     "supported; this hgslab reads version 1");
	expect_field_refused("host", NULL, "field 'host' is missing");
	expect_field_refused("host", json_null(), "field 'host' must be a string");
	expect_field_refused("host", json_string(""), "invalid host name in field 'host' '': it "
			     "must have 1 to 63 characters");
	memset(long_name, 'h', 64);
	long_name[64] = '\0';
	expect_field_refused("host", json_string(long_name), "it must have 1 to 63 characters");
	expect_field_refused("host", json_string("Fabric\tHost1"), "invalid host name in field "
			     "'host': it may hold printable ASCII characters only");
	expect_field_refused("host", json_string(" FabricHost1"), "invalid host name in field "
			     "'host' ' FabricHost1': it must not start or end with a space");
	expect_field_refused("ek_public", NULL, "field 'ek_public' is missing");
	expect_field_refused("ek_public", json_string("-----BEGIN PUBLIC KEY-----\nAAAA\n"
						      "-----END PUBLIC KEY-----\n"),
			     "field 'ek_public': ");
	expect_field_refused("ek_public", json_string(ek_cert_pem), "field 'ek_public': ");
	expect_field_refused("ek_certificate", json_integer(7),
			     "field 'ek_certificate' must be a string");
	expect_field_refused("ek_certificate", json_string("junk"), "field 'ek_certificate': ");
	expect_field_refused("ek_public", json_string(other_pem),
			     "field 'ek_certificate' certifies another key than 'ek_public'; "
			     "export the platform identifier again from the host");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_matches_old_writer),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
