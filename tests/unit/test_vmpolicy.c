/*
 * test_vmpolicy.c - unit tests for proto/vmpolicy (the tenant's signed VM
 * policy statement): a round trip (create, parse, verify against the VM's
 * key protector) for both policies, the writer's refusals, a statement
 * signed by another key than the key protector's owner (either policy), one
 * for another key protector or another VM, a key protector whose own
 * signature fails, a flipped byte anywhere in the file, every truncation,
 * and every malformed field of the envelope and the body (each body signed
 * properly, so the parser, not the signature, refuses it).  And
 * hl_vmpolicy_check, a VM's policy.sig in either form: a statement, or the
 * .pdk of a provisioned VM (its policy; refused when it holds another key
 * protector, is signed by another owner, or is truncated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "proto/pdk.h"
#include "proto/vmpolicy.h"
#include "proto/vsc_viq.h"
#include "tests/unit/testutil.h"

/* The KP owner (signing and encryption keys) and another tenant, Mallory, made once. */
static EVP_PKEY *owner_skey, *owner_ekey, *mallory_skey, *mallory_ekey;
static X509 *owner_scert, *owner_ecert, *mallory_scert, *mallory_ecert;
/* The owner's key protector: its file and parsed form. */
static struct hl_buf kp_bytes;
static struct hl_kp *kp;
/* A good statement (vm1, shielded, by the owner). */
static struct hl_buf good;

#define CREATED 1795000000   /* 2026-11-18T11:06:40Z */

static int group_setup(void **state)
{
	struct hl_kp_owner o;

	(void)state;
	if (hl_key_generate(HL_KEY_RSA2048, &owner_skey) < 0 ||
	    tu_self_signed(owner_skey, "Owner", &owner_scert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &owner_ekey) < 0 ||
	    tu_self_signed(owner_ekey, "Owner", &owner_ecert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &mallory_skey) < 0 ||
	    tu_self_signed(mallory_skey, "Mallory", &mallory_scert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &mallory_ekey) < 0 ||
	    tu_self_signed(mallory_ekey, "Mallory", &mallory_ecert) < 0)
		return -1;
	o = (struct hl_kp_owner){ "Owner", owner_scert, owner_skey, owner_ecert, owner_ekey };
	if (hl_kp_create(&o, NULL, 0, 0, &kp_bytes, NULL) < 0 ||
	    hl_kp_parse(kp_bytes.data, kp_bytes.len, &kp) < 0 ||
	    hl_vmpolicy_create(kp->id, "vm1", "shielded", CREATED, owner_skey, &good) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hl_buf_free(&good);
	hl_kp_free(kp);
	hl_buf_free(&kp_bytes);
	hl_key_free(owner_skey);
	hl_key_free(owner_ekey);
	hl_key_free(mallory_skey);
	hl_key_free(mallory_ekey);
	hl_cert_free(owner_scert);
	hl_cert_free(owner_ecert);
	hl_cert_free(mallory_scert);
	hl_cert_free(mallory_ecert);
	return 0;
}

/* Parse and verify LEN bytes DATA for VM against the owner's KP; the parse's and the verify's results. */
static int check(const void *data, size_t len, const char *vm)
{
	struct hl_vmpolicy *p = NULL;
	int rc;

	if (hl_vmpolicy_parse(data, len, &p) < 0) {
		assert_null(p);
		return -1;
	}
	rc = hl_vmpolicy_verify(p, kp, vm);
	hl_vmpolicy_free(p);
	return rc;
}

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
	static const char *const policies[] = { "shielded", "encryption-supported" };
	struct hl_vmpolicy *p = NULL;
	struct hl_buf b = { NULL, 0 };
	json_t *file = NULL, *body = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_ok(hl_vmpolicy_create(kp->id, "web-01.a_b", policies[i], CREATED, owner_skey,
					     &b));
		assert_ok(hl_vmpolicy_parse(b.data, b.len, &p));
		assert_int_equal(p->version, HL_VMPOLICY_VERSION);
		assert_string_equal(p->kp_id, kp->id);
		assert_string_equal(p->vm, "web-01.a_b");
		assert_string_equal(p->policy, policies[i]);
		assert_string_equal(p->created, "2026-11-18T11:06:40Z");
		assert_ok(hl_vmpolicy_verify(p, kp, "web-01.a_b"));
		/* the file is the documented envelope around the documented body */
		assert_ok(hl_json_parse(b.data, b.len, 0, &file));
		assert_string_equal(json_string_value(json_object_get(file, "format")),
				    "hgslab-vm-policy");
		assert_int_equal(json_integer_value(json_object_get(file, "version")), 1);
		assert_string_equal(json_string_value(json_object_get(file, "alg")), "PS256");
		assert_ok(hl_json_parse(p->body.data, p->body.len, 0, &body));
		assert_int_equal(json_object_size(body), 4);
		assert_string_equal(json_string_value(json_object_get(body, "policy")), policies[i]);
		json_decref(body);
		json_decref(file);
		hl_vmpolicy_free(p);
		p = NULL;
		hl_buf_free(&b);
	}
	/* the group's statement, and the free functions take NULL */
	assert_ok(check(good.data, good.len, "vm1"));
	hl_vmpolicy_free(NULL);
}

static void test_create_refuses(void **state)
{
	struct hl_buf b = { NULL, 0 };

	(void)state;
	assert_int_equal(hl_vmpolicy_create(kp->id, "vm1", "open", CREATED, owner_skey, &b), -1);
	assert_error_has("bad policy 'open'");
	assert_int_equal(hl_vmpolicy_create(kp->id, "../vm1", "shielded", CREATED, owner_skey, &b),
			 -1);
	assert_error_has("bad VM name");
	assert_int_equal(hl_vmpolicy_create("0123", "vm1", "shielded", CREATED, owner_skey, &b),
			 -1);
	assert_error_has("bad key protector id");
	assert_int_equal(hl_vmpolicy_create(NULL, "vm1", "shielded", CREATED, owner_skey, &b), -1);
	assert_error_has("bad key protector id");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

/* ---- who signed it, and what it is for ---- */

static void test_wrong_signer(void **state)
{
	struct hl_buf b = { NULL, 0 };

	(void)state;
	/* another key signs the owner's words: refused, whichever policy it says */
	assert_ok(hl_vmpolicy_create(kp->id, "vm1", "encryption-supported", CREATED, mallory_skey,
				     &b));
	assert_int_equal(check(b.data, b.len, "vm1"), -1);
	assert_error_has("does not verify with the signing certificate of its key protector's "
			 "owner 'Owner'");
	hl_buf_free(&b);
	assert_ok(hl_vmpolicy_create(kp->id, "vm1", "shielded", CREATED, mallory_skey, &b));
	assert_int_equal(check(b.data, b.len, "vm1"), -1);
	assert_error_has("does not verify");
	hl_buf_free(&b);
}

static void test_wrong_kp_or_vm(void **state)
{
	struct hl_buf b = { NULL, 0 };
	struct hl_vmpolicy *p = NULL;
	char other[HL_KP_ID_SIZE];

	(void)state;
	snprintf(other, sizeof(other), "%s", kp->id);
	other[5] = other[5] == 'a' ? 'b' : 'a';
	assert_ok(hl_vmpolicy_create(other, "vm1", "shielded", CREATED, owner_skey, &b));
	assert_int_equal(check(b.data, b.len, "vm1"), -1);
	assert_error_has("is for key protector");
	hl_buf_free(&b);
	/* the statement of vm2 does not speak for vm1 */
	assert_ok(hl_vmpolicy_create(kp->id, "vm2", "encryption-supported", CREATED, owner_skey,
				     &b));
	assert_int_equal(check(b.data, b.len, "vm1"), -1);
	assert_error_has("the policy statement of VM 'vm1' is for VM 'vm2'");
	assert_ok(check(b.data, b.len, "vm2"));
	hl_buf_free(&b);
	/* nothing given */
	assert_ok(hl_vmpolicy_parse(good.data, good.len, &p));
	assert_int_equal(hl_vmpolicy_verify(p, NULL, "vm1"), -1);
	assert_int_equal(hl_vmpolicy_verify(NULL, kp, "vm1"), -1);
	assert_int_equal(hl_vmpolicy_verify(p, kp, NULL), -1);
	hl_vmpolicy_free(p);
}

static void test_kp_tampered(void **state)
{
	struct hl_kp *bad = NULL;
	json_t *file = NULL;
	char *text = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;

	(void)state;
	/* the KP's own signature flipped: the statement cannot be checked against it */
	assert_ok(hl_json_parse(kp_bytes.data, kp_bytes.len, 0, &file));
	assert_ok(hl_json_get_base64(file, "signature", &sig, &sig_len));
	sig[0] ^= 1;
	assert_ok(hl_json_set_base64(file, "signature", sig, sig_len));
	assert_ok(hl_json_dump(file, &text));
	assert_ok(hl_kp_parse(text, strlen(text), &bad));
	{
		struct hl_vmpolicy *p = NULL;

		assert_ok(hl_vmpolicy_parse(good.data, good.len, &p));
		assert_int_equal(hl_vmpolicy_verify(p, bad, "vm1"), -1);
		assert_error_has("the policy statement of VM 'vm1' cannot be checked");
		hl_vmpolicy_free(p);
	}
	hl_kp_free(bad);
	free(text);
	free(sig);
	json_decref(file);
}

/* ---- damaged files ---- */

static void test_flipped_and_truncated(void **state)
{
	unsigned char *copy = malloc(good.len);
	size_t i;

	(void)state;
	assert_non_null(copy);
	for (i = 0; i < good.len; i++) {
		memcpy(copy, good.data, good.len);
		copy[i] ^= 0x01;
		if (check(copy, good.len, "vm1") == 0) {
			/* a flip JSON does not see (e.g. in insignificant whitespace) changes nothing */
			struct hl_vmpolicy *p = NULL;

			assert_ok(hl_vmpolicy_parse(copy, good.len, &p));
			assert_string_equal(p->policy, "shielded");
			hl_vmpolicy_free(p);
		}
	}
	for (i = 0; i < good.len; i++) {
		/* an exact-size copy, so ASan sees an over-read */
		unsigned char *t = malloc(i ? i : 1);

		assert_non_null(t);
		memcpy(t, good.data, i);
		if (check(t, i, "vm1") == 0 && i < good.len - 1)
			fail_msg("a statement cut to %zu of %zu bytes verified", i, good.len);
		free(t);
	}
	assert_int_equal(check(good.data, 0, "vm1"), -1);
	assert_error_has("empty");
	free(copy);
}

/* An envelope FORMAT/VERSION around BODY_TEXT signed by the owner; NULL FORMAT: the statement's. */
static void envelope(const char *format, int version, const char *body_text, struct hl_buf *out)
{
	assert_ok(hl_kp_envelope_write(format ? format : HL_VMPOLICY_FORMAT, version, body_text,
				       owner_skey, "a test statement", out));
}

/* A body signed by the owner must be refused by the parser with TEXT. */
static void body_refused(const char *body_text, const char *text)
{
	struct hl_vmpolicy *p = NULL;
	struct hl_buf b = { NULL, 0 };

	envelope(NULL, 1, body_text, &b);
	if (hl_vmpolicy_parse(b.data, b.len, &p) == 0)
		fail_msg("body %s was accepted", body_text);
	assert_null(p);
	assert_error_has("bad VM policy statement");
	assert_error_has(text);
	hl_buf_free(&b);
}

/* A body with member NAME set to the JSON VALUE (NULL: removed), the others good. */
static const char *body_with(const char *name, const char *value)
{
	static char buf[1024];
	json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "kp_id", kp->id, "vm", "vm1", "policy",
				 "shielded", "created", "2026-11-18T11:06:40Z");
	char *text = NULL;

	assert_non_null(body);
	if (value) {
		json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);

		assert_non_null(v);
		json_object_set_new(body, name, v);
	} else {
		json_object_del(body, name);
	}
	assert_ok(hl_json_dump(body, &text));
	snprintf(buf, sizeof(buf), "%s", text);
	free(text);
	json_decref(body);
	return buf;
}

static void test_malformed_body(void **state)
{
	static const char *const members[] = { "kp_id", "vm", "policy", "created" };
	char longer[HL_KP_ID_SIZE + 8];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		body_refused(body_with(members[i], NULL), members[i]);
		body_refused(body_with(members[i], "7"), members[i]);
		body_refused(body_with(members[i], "null"), members[i]);
		body_refused(body_with(members[i], "\"\""), members[i]);
	}
	body_refused(body_with("extra", "1"), "extra");
	body_refused(body_with("kp_id", "\"0123456789ABCDEF0123456789ABCDEF\""), "kp_id");
	body_refused(body_with("kp_id", "\"0123456789abcdef0123456789abcde\""), "kp_id");
	snprintf(longer, sizeof(longer), "\"%s0\"", kp->id);
	body_refused(body_with("kp_id", longer), "kp_id");
	body_refused(body_with("vm", "\"../vm1\""), "vm");
	body_refused(body_with("vm", "\".hidden\""), "vm");
	body_refused(body_with("policy", "\"Shielded\""), "policy");
	body_refused(body_with("policy", "\"open\""), "policy");
	body_refused(body_with("created", "\"yesterday\""), "created");
	body_refused(body_with("created", "\"2026-11-18 10:13:20\""), "created");
	body_refused("[]", "the signed body");
	body_refused("not json", "the signed body");
	body_refused("", "the signed body");
}

static void test_malformed_envelope(void **state)
{
	struct hl_vmpolicy *p = NULL;
	struct hl_buf b = { NULL, 0 };
	json_t *file = NULL;
	char *text = NULL, *big;

	(void)state;
	/* another format: a key protector, a .pdk-like envelope */
	assert_int_equal(hl_vmpolicy_parse(kp_bytes.data, kp_bytes.len, &p), -1);
	assert_error_has("not an hgslab VM policy statement");
	envelope("hgslab-pdk", 1, body_with("vm", "\"vm1\""), &b);
	assert_int_equal(hl_vmpolicy_parse(b.data, b.len, &p), -1);
	assert_error_has("not an hgslab VM policy statement");
	hl_buf_free(&b);
	/* another version is named as such */
	envelope(NULL, 2, body_with("vm", "\"vm1\""), &b);
	assert_int_equal(hl_vmpolicy_parse(b.data, b.len, &p), -1);
	assert_error_has("VM policy statement version 2 is not supported");
	hl_buf_free(&b);
	/* an extra outer member, another alg, a signature that is not base64 */
	assert_ok(hl_json_parse(good.data, good.len, 0, &file));
	json_object_set_new(file, "policy", json_string("encryption-supported"));
	assert_ok(hl_json_dump(file, &text));
	assert_int_equal(hl_vmpolicy_parse(text, strlen(text), &p), -1);
	assert_error_has("bad VM policy statement");
	free(text);
	json_object_del(file, "policy");
	json_object_set_new(file, "alg", json_string("RS256"));
	assert_ok(hl_json_dump(file, &text));
	assert_int_equal(hl_vmpolicy_parse(text, strlen(text), &p), -1);
	assert_error_has("alg");
	free(text);
	json_object_set_new(file, "alg", json_string("PS256"));
	json_object_set_new(file, "signature", json_string("!!!"));
	assert_ok(hl_json_dump(file, &text));
	assert_int_equal(hl_vmpolicy_parse(text, strlen(text), &p), -1);
	assert_error_has("signature");
	free(text);
	json_decref(file);
	/* larger than HL_VMPOLICY_MAX_SIZE */
	big = calloc(1, HL_VMPOLICY_MAX_SIZE + 2);
	assert_non_null(big);
	memset(big, ' ', HL_VMPOLICY_MAX_SIZE + 1);
	memcpy(big, good.data, good.len);
	assert_int_equal(hl_vmpolicy_parse(big, HL_VMPOLICY_MAX_SIZE + 1, &p), -1);
	assert_error_has("larger than");
	free(big);
	assert_null(p);
}

/* ---- a VM's policy.sig, either form ---- */

/* A .pdk by owner O with POLICY into OUT (its own fresh key protector). */
static void make_pdk(const struct hl_kp_owner *o, const char *policy, struct hl_buf *out)
{
	struct hl_pdk_spec spec;
	struct hl_viq q;

	memset(&q, 0, sizeof(q));
	snprintf(q.name, sizeof(q.name), "WindowsServer2016");
	assert_ok(hl_vsc_version_parse("1.0.0.0", &q.disk_version));
	q.rule = HL_VIQ_EQUALS;
	assert_ok(hl_cert_thumbprint(owner_scert, q.signer_thumbprint));
	memset(&spec, 0, sizeof(spec));
	spec.owner = o;
	spec.policy = policy;
	spec.qualifiers = &q;
	spec.n_qualifiers = 1;
	spec.created = CREATED;
	assert_ok(hl_pdk_create(&spec, out, NULL));
}

static void test_check_forms(void **state)
{
	struct hl_kp_owner o = { "Owner", owner_scert, owner_skey, owner_ecert, owner_ekey };
	struct hl_kp_owner m = { "Owner", mallory_scert, mallory_skey, mallory_ecert, mallory_ekey };
	struct hl_buf pdk = { NULL, 0 }, other = { NULL, 0 };
	struct hl_pdk *parsed = NULL;
	char policy[HL_VMPOLICY_SIZE];

	(void)state;
	/* a statement */
	assert_ok(hl_vmpolicy_check(good.data, good.len, kp, "vm1", policy));
	assert_string_equal(policy, "shielded");
	assert_int_equal(hl_vmpolicy_check(good.data, good.len, kp, "vm2", policy), -1);
	assert_error_has("is for VM 'vm1'");
	assert_string_equal(policy, "");
	/* a .pdk: its policy, for any VM made from it, against its own key protector */
	make_pdk(&o, "encryption-supported", &pdk);
	assert_ok(hl_pdk_parse(pdk.data, pdk.len, &parsed));
	assert_ok(hl_vmpolicy_check(pdk.data, pdk.len, parsed->kp, "web01", policy));
	assert_string_equal(policy, "encryption-supported");
	assert_ok(hl_vmpolicy_check(pdk.data, pdk.len, parsed->kp, "web02", policy));
	/* the same owner's .pdk does not speak for another key protector */
	assert_int_equal(hl_vmpolicy_check(pdk.data, pdk.len, kp, "web01", policy), -1);
	assert_error_has("the policy statement of VM 'web01' (its shielding data) is for key "
			 "protector");
	/* a .pdk made whole by another tenant (same owner name) for a VM whose KP is the owner's */
	make_pdk(&m, "encryption-supported", &other);
	assert_int_equal(hl_vmpolicy_check(other.data, other.len, parsed->kp, "web01", policy), -1);
	assert_error_has("(its shielding data) does not verify");
	/* a truncated .pdk, garbage, nothing */
	assert_int_equal(hl_vmpolicy_check(pdk.data, pdk.len / 2, parsed->kp, "web01", policy), -1);
	assert_error_has("the policy statement of VM 'web01' is unreadable");
	assert_int_equal(hl_vmpolicy_check("{\"format\":7}", 12, kp, "vm1", policy), -1);
	assert_error_has("is unreadable");
	assert_int_equal(hl_vmpolicy_check(NULL, 0, kp, "vm1", policy), -1);
	assert_int_equal(hl_vmpolicy_check(good.data, good.len, NULL, "vm1", policy), -1);
	hl_pdk_free(parsed);
	hl_buf_free(&pdk);
	hl_buf_free(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_create_refuses),
		cmocka_unit_test(test_wrong_signer),
		cmocka_unit_test(test_wrong_kp_or_vm),
		cmocka_unit_test(test_kp_tampered),
		cmocka_unit_test(test_flipped_and_truncated),
		cmocka_unit_test(test_malformed_body),
		cmocka_unit_test(test_malformed_envelope),
		cmocka_unit_test(test_check_forms),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
