/*
 * kps.c - the Key Protection Service of an HGS node (kps.h): the guardian
 * metadata route (libxml2's writer), the key release route and its
 * decision (health certificate through hgs/healthcert, key protector
 * through lib/keyprotector, the TK re-wrapped with lib/crypto's RSA-OAEP to
 * the key the health certificate binds), the key protection log with each
 * release's trace (hgs/trace.h: one step per check made), and the
 * rotation of the KPS certificates (node_keys rows through hgs/db, key files
 * in the node's keys/ directory).  The admin verbs are hgs/cmd_hgs_kps.c.
 */
#include "hgs/kps.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/xmlwriter.h>
#include <openssl/bio.h>
#include <openssl/x509.h>

#include "hgs/db.h"
#include "hgs/db_kpsconfig.h"
#include "hgs/healthcert.h"
#include "hgs/trace.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/served.h"
#include "proto/names.h"

/* Validity of generated KPS certificates: backdated a day, valid ten years (as init's). */
#define KPS_CERT_BACKDATE_S (24L * 3600)
#define KPS_CERT_LIFETIME_S (10L * 365 * 24 * 3600)

static const char *const reason_names[HGS_KPS_REASON_COUNT] = {
	[HGS_KPS_RELEASED] = "Released",
	[HGS_KPS_MALFORMED_REQUEST] = "MalformedRequest",
	[HGS_KPS_MALFORMED_KEY_PROTECTOR] = "MalformedKeyProtector",
	[HGS_KPS_MALFORMED_HEALTH_CERTIFICATE] = "MalformedHealthCertificate",
	[HGS_KPS_NO_HEALTH_CERTIFICATE] = "NoHealthCertificate",
	[HGS_KPS_NOT_A_HEALTH_CERTIFICATE] = "NotAHealthCertificate",
	[HGS_KPS_UNTRUSTED_HEALTH_CERTIFICATE] = "UntrustedHealthCertificate",
	[HGS_KPS_HOST_FAILED_ATTESTATION] = "HostFailedAttestation",
	[HGS_KPS_HEALTH_CERTIFICATE_EXPIRED] = "HealthCertificateExpired",
	[HGS_KPS_HEALTH_CERTIFICATE_NOT_YET_VALID] = "HealthCertificateNotYetValid",
	[HGS_KPS_ISSUED_BEFORE_CUTOFF] = "HealthCertificateIssuedBeforeCutoff",
	[HGS_KPS_OWNER_SIGNATURE_INVALID] = "OwnerSignatureInvalid",
	[HGS_KPS_GUARDIAN_NOT_LISTED] = "GuardianNotListed",
	[HGS_KPS_ENCRYPTION_CERTIFICATE_DISABLED] = "EncryptionCertificateDisabled",
	[HGS_KPS_UNWRAP_FAILED] = "KeyProtectorUnwrapFailed",
	[HGS_KPS_INTERNAL_ERROR] = "InternalError",
};

/* The name of a reason. */
const char *hgs_kps_reason_name(enum hgs_kps_reason r)
{
	return (unsigned)r < HGS_KPS_REASON_COUNT ? reason_names[r] : NULL;
}

/* The HTTP status a reason is answered with. */
int hgs_kps_reason_http_status(enum hgs_kps_reason r)
{
	switch (r) {
	case HGS_KPS_RELEASED:
		return 200;
	case HGS_KPS_MALFORMED_REQUEST:
	case HGS_KPS_MALFORMED_KEY_PROTECTOR:
	case HGS_KPS_MALFORMED_HEALTH_CERTIFICATE:
		return 400;
	case HGS_KPS_INTERNAL_ERROR:
	case HGS_KPS_REASON_COUNT:
		return 500;
	default:
		return 403;
	}
}

/* The log's Result column for a reason. */
static const char *result_name(enum hgs_kps_reason r)
{
	switch (hgs_kps_reason_http_status(r)) {
	case 200:
		return "Released";
	case 400:
		return "BadRequest";
	case 403:
		return "Refused";
	default:
		return "Error";
	}
}

/* Free what an outcome holds. */
void hgs_kps_outcome_release(struct hgs_kps_outcome *out)
{
	if (!out)
		return;
	hl_buf_free(&out->wrapped_tk);
}

/* Set OUT's decision to REASON with a formatted message. */
static void decide(struct hgs_kps_outcome *out, enum hgs_kps_reason reason, const char *fmt, ...)
	HL_PRINTF(3, 4);
static void decide(struct hgs_kps_outcome *out, enum hgs_kps_reason reason, const char *fmt, ...)
{
	va_list ap;

	out->reason = reason;
	out->http_status = hgs_kps_reason_http_status(reason);
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

/* Append the answer to OUT's request to trace T. */
static void trace_answer(struct hgs_trace *t, const struct hgs_kps_outcome *out)
{
	if (out->reason == HGS_KPS_RELEASED)
		hgs_trace_message(t, HGS_TRACE_NODE, "200 Released: the TK wrapped to the host's "
				  "transport key (RSA-OAEP-SHA256)");
	else
		hgs_trace_message(t, HGS_TRACE_NODE, "%d %s", out->http_status,
				  hgs_kps_reason_name(out->reason));
}

/*
 * Record OUT in the key protection log (committed before the answer, whose
 * LogId is OUT->log_id) and hgs.log, with trace T (may be NULL), to which
 * the answer is appended first.
 */
static int record(struct hgs_node *node, const char *remote, struct hgs_kps_outcome *out,
		  struct hgs_trace *t)
{
	struct hgs_kps_log_entry e = { 0 };
	char *json = NULL;
	int rc;

	if (hgs_node_now(node, &e.time) < 0)
		return -1;
	trace_answer(t, out);
	/* the decision is recorded even when its trace cannot be written */
	if (t && hgs_trace_json(t, &json) < 0) {
		hl_log_warn("%s", hl_error_last());
		hl_error_clear();
	}
	e.trace = json;
	e.host = out->host[0] ? out->host : NULL;
	e.key_protector = out->kp_id[0] ? out->kp_id : NULL;
	e.owner = out->owner[0] ? out->owner : NULL;
	e.result = result_name(out->reason);
	e.reason = out->reason == HGS_KPS_RELEASED ? "" : hgs_kps_reason_name(out->reason);
	e.message = out->message;
	e.http_status = out->http_status;
	e.remote = remote;
	e.health_certificate = out->healthcert_thumbprint[0] ? out->healthcert_thumbprint : NULL;
	e.encryption_certificate = out->encryption_thumbprint[0] ? out->encryption_thumbprint
								 : NULL;
	hl_log_info("key release: host '%s' key protector %s (owner '%s') from %s: %s%s%s",
		    e.host ? e.host : "-", e.key_protector ? e.key_protector : "-",
		    e.owner ? e.owner : "-", remote ? remote : "-", e.result,
		    out->message[0] ? ": " : "", out->message);
	rc = hgs_db_kps_log_add(node, &e, &out->log_id);
	free(json);
	return rc;
}

/* Read a certificate given as PEM text or DER. */
static int cert_decode(const void *data, size_t len, X509 **out)
{
	const char *p = data;
	size_t i = 0;

	*out = NULL;
	while (i < len && isspace((unsigned char)p[i]))
		i++;
	if (len - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0)
		return hl_cert_from_pem(data, len, out);
	return hl_cert_from_der(data, len, out);
}

/*
 * Decoded inputs, kept by the SHA-256 of their bytes.  A host presents the
 * same health certificate for every VM it starts and a VM's KP comes back
 * at each start, and decoding is most of what a release costs beyond the
 * RSA work: OpenSSL 3 decodes a certificate's public key through its
 * provider decoders (~0.15 ms each for the health certificate and the KP's
 * owner certificate), and a KP is JSON with base64 inside base64.  The
 * decoded objects are immutable and the key covers every input byte, so
 * the same bytes get the same object.  Nothing a decision rests on is
 * cached: signatures are verified, validity, cut-off and KPS certificates
 * read, at every release.  Invariant: each used slot holds one reference
 * to its object; guarded by input_cache_lock.
 */
#define INPUT_CACHE_MAX 32

/* A parsed KP shared by the releases that present the same bytes. */
struct kp_ref {
	struct hl_kp *kp;
	int refs;                               /* guarded by input_cache_lock */
};

enum { CACHED_CERT, CACHED_KP };

static struct {
	int kind;
	unsigned char hash[HL_SHA256_LEN];
	void *obj;                              /* X509 * or struct kp_ref * */
} input_cache[INPUT_CACHE_MAX];
static size_t input_cache_n, input_cache_next;
static pthread_mutex_t input_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* Drop one reference to a cached object of KIND (with input_cache_lock held). */
static void cached_put_locked(int kind, void *obj)
{
	struct kp_ref *r = obj;

	if (kind == CACHED_CERT) {
		hl_cert_free(obj);
	} else if (r && --r->refs == 0) {
		hl_kp_free(r->kp);
		free(r);
	}
}

/* A new reference to the cached object of KIND for HASH, or NULL. */
static void *cached_get(int kind, const unsigned char hash[HL_SHA256_LEN])
{
	void *obj = NULL;

	pthread_mutex_lock(&input_cache_lock);
	for (size_t i = 0; i < input_cache_n; i++) {
		if (input_cache[i].kind != kind ||
		    memcmp(input_cache[i].hash, hash, HL_SHA256_LEN) != 0)
			continue;
		if (kind == CACHED_KP)
			((struct kp_ref *)input_cache[i].obj)->refs++;
		else if (X509_up_ref(input_cache[i].obj) != 1)
			break;
		obj = input_cache[i].obj;
		break;
	}
	pthread_mutex_unlock(&input_cache_lock);
	return obj;
}

/* Keep a reference to OBJ of KIND for HASH (replacing the oldest entry when full). */
static void cached_add(int kind, const unsigned char hash[HL_SHA256_LEN], void *obj)
{
	size_t slot;

	pthread_mutex_lock(&input_cache_lock);
	for (size_t i = 0; i < input_cache_n; i++) {
		/* another thread decoded the same bytes meanwhile */
		if (input_cache[i].kind == kind &&
		    memcmp(input_cache[i].hash, hash, HL_SHA256_LEN) == 0)
			goto out;
	}
	if (kind == CACHED_KP)
		((struct kp_ref *)obj)->refs++;
	else if (X509_up_ref(obj) != 1)
		goto out;
	if (input_cache_n < INPUT_CACHE_MAX) {
		slot = input_cache_n++;
	} else {
		slot = input_cache_next;
		input_cache_next = (input_cache_next + 1) % INPUT_CACHE_MAX;
		cached_put_locked(input_cache[slot].kind, input_cache[slot].obj);
	}
	input_cache[slot].kind = kind;
	memcpy(input_cache[slot].hash, hash, HL_SHA256_LEN);
	input_cache[slot].obj = obj;
out:
	pthread_mutex_unlock(&input_cache_lock);
}

/* Release a KP reference from kp_parse_cached; NULL-safe. */
static void kp_ref_put(struct kp_ref *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&input_cache_lock);
	cached_put_locked(CACHED_KP, r);
	pthread_mutex_unlock(&input_cache_lock);
}

/* hl_kp_parse through the cache: a reference to the parsed KP of DATA in *OUT. */
static int kp_parse_cached(const void *data, size_t len, struct kp_ref **out)
{
	unsigned char hash[HL_SHA256_LEN];
	struct kp_ref *r;

	*out = NULL;
	if (hl_crypto_sha256(data, len, hash) < 0)
		return -1;
	if ((*out = cached_get(CACHED_KP, hash)))
		return 0;
	if (!(r = calloc(1, sizeof(*r))))
		return hl_error("out of memory");
	if (hl_kp_parse(data, len, &r->kp) < 0) {
		free(r);
		return -1;
	}
	r->refs = 1;
	cached_add(CACHED_KP, hash, r);
	*out = r;
	return 0;
}

/* cert_decode through the cache: a new reference in *OUT. */
static int cert_decode_cached(const void *data, size_t len, X509 **out)
{
	unsigned char hash[HL_SHA256_LEN];

	*out = NULL;
	if (hl_crypto_sha256(data, len, hash) < 0)
		return -1;
	if ((*out = cached_get(CACHED_CERT, hash)))
		return 0;
	if (cert_decode(data, len, out) < 0)
		return -1;
	cached_add(CACHED_CERT, hash, *out);
	return 0;
}

/*
 * The KP of a request comes as base64 text inside the JSON body, and
 * decoding it (strictly, lib/crypto) cost a release as much as all its
 * store work.  The bytes a text decoded to are kept by the SHA-256 of the
 * text, so the same text gives the same bytes without decoding again; text
 * that does not decode is never kept, and everything done with the bytes
 * (parsing, the owner's signature) happens as for decoded ones.  A ring of
 * B64_MEMO_SIZE entries, each at most B64_MEMO_MAX_BYTES; guarded by
 * b64_memo_lock.
 */
#define B64_MEMO_SIZE 8
#define B64_MEMO_MAX_BYTES ((size_t)1 << 20)

static struct {
	unsigned char hash[HL_SHA256_LEN];
	unsigned char *bytes;                   /* NULL: empty slot */
	size_t len;
} b64_memo[B64_MEMO_SIZE];
static size_t b64_memo_next;
static pthread_mutex_t b64_memo_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Decode string member NAME of BODY as hl_json_get_base64() does, into a
 * malloc'd *OUT of *LEN bytes, through the memo.
 */
static int b64_decode_memo(const json_t *body, const char *name, unsigned char **out,
			   size_t *len)
{
	const json_t *v = json_object_get(body, name);
	unsigned char hash[HL_SHA256_LEN], *copy;
	size_t slot;

	*out = NULL;
	*len = 0;
	if (!json_is_string(v))
		return hl_json_get_base64(body, name, out, len);
	if (hl_crypto_sha256(json_string_value(v), json_string_length(v), hash) < 0)
		return -1;
	pthread_mutex_lock(&b64_memo_lock);
	for (size_t i = 0; i < B64_MEMO_SIZE; i++) {
		if (!b64_memo[i].bytes || memcmp(b64_memo[i].hash, hash, HL_SHA256_LEN) != 0)
			continue;
		if ((*out = malloc(b64_memo[i].len + 1))) {
			memcpy(*out, b64_memo[i].bytes, b64_memo[i].len);
			(*out)[b64_memo[i].len] = 0;
			*len = b64_memo[i].len;
		}
		break;
	}
	pthread_mutex_unlock(&b64_memo_lock);
	if (*out)
		return 0;
	if (hl_json_get_base64(body, name, out, len) < 0)
		return -1;
	if (*len > B64_MEMO_MAX_BYTES || !(copy = malloc(*len ? *len : 1)))
		return 0;
	memcpy(copy, *out, *len);
	pthread_mutex_lock(&b64_memo_lock);
	slot = b64_memo_next;
	b64_memo_next = (b64_memo_next + 1) % B64_MEMO_SIZE;
	free(b64_memo[slot].bytes);
	memcpy(b64_memo[slot].hash, hash, HL_SHA256_LEN);
	b64_memo[slot].bytes = copy;
	b64_memo[slot].len = *len;
	pthread_mutex_unlock(&b64_memo_lock);
	return 0;
}

/* Format T on the node clock for messages. */
static const char *when(time_t t, char buf[32])
{
	hl_labclock_format(t, buf, 32);
	return buf;
}

/*
 * The fingerprint of CERT's subject public key, as hl_key_fingerprint
 * computes it (SHA-256 of the DER SubjectPublicKeyInfo), taken from the
 * certificate's own encoding: OpenSSL 3's key encoder costs a quarter of a
 * release.
 */
static int spki_fingerprint(X509 *cert, char out[HL_SHA256_HEX_SIZE])
{
	unsigned char *der = NULL, md[HL_SHA256_LEN];
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der), rc;

	if (len <= 0)
		return hl_error("cannot encode the public key of a health certificate");
	rc = hl_crypto_sha256(der, (size_t)len, md) < 0 ||
	     hl_crypto_hex_encode(md, sizeof(md), out, HL_SHA256_HEX_SIZE) < 0 ? -1 : 0;
	OPENSSL_free(der);
	return rc;
}

/*
 * The steps of a trace for what hgs_healthcert_verify() checks, in its
 * order; a refusal fails one of them (hc_stage), the earlier ones passed.
 */
static const struct {
	const char *check, *label;
} hc_steps[] = {
	{ "HealthCertificate", "an HGS health certificate is presented" },
	{ "AttestationSigner", "it is signed by this HGS's attestation signer" },
	{ "AttestationStatus", "it records a Passed attestation" },
	{ "Validity", "it is valid now (HGS clock)" },
};
#define HC_STEPS (sizeof(hc_steps) / sizeof(hc_steps[0]))
#define CUTOFF_LABEL "it was issued after the cut-off"
#define TK_LABEL "it binds an RSA transport key"

/* The step of hc_steps a refusal fails. */
static size_t hc_stage(enum hgs_healthcert_refusal r)
{
	switch (r) {
	case HGS_HC_NOT_HEALTHCERT:
		return 0;
	case HGS_HC_UNTRUSTED:
	case HGS_HC_OTHER_HGS:
		return 1;
	case HGS_HC_NOT_PASSED:
		return 2;
	default:
		return 3;
	}
}

/*
 * Append to T the steps of hc_steps before FAILED (HC_STEPS: all) as passed,
 * saying what INFO holds, then step FAILED as failed with OUT's message.
 */
static void trace_healthcert(struct hgs_trace *t, size_t failed, struct hgs_node *node,
			     const struct hgs_healthcert_info *info,
			     const struct hgs_kps_outcome *out)
{
	char t1[32];

	for (size_t i = 0; t && i < failed && i < HC_STEPS; i++) {
		switch (i) {
		case 0:
			hgs_trace_check(t, hc_steps[i].check, HGS_TRACE_PASS, hc_steps[i].label,
					"issued to '%s', thumbprint %.*s...", out->host,
					HGS_TRACE_THUMB_SHOWN, out->healthcert_thumbprint);
			break;
		case 1:
			hgs_trace_check(t, hc_steps[i].check, HGS_TRACE_PASS, hc_steps[i].label,
					"%s's signer %.*s...", node->config.name,
					HGS_TRACE_THUMB_SHOWN, node->signer_thumbprint);
			break;
		case 2:
			hgs_trace_check(t, hc_steps[i].check, HGS_TRACE_PASS, hc_steps[i].label,
					"Passed (%s mode)", hgs_mode_name(info->mode));
			break;
		default:
			hgs_trace_check(t, hc_steps[i].check, HGS_TRACE_PASS, hc_steps[i].label,
					"valid until %s", when(info->not_after, t1));
			break;
		}
	}
	if (failed < HC_STEPS)
		hgs_trace_check(t, hc_steps[failed].check, HGS_TRACE_FAIL, hc_steps[failed].label,
				"%s", out->message);
}

/*
 * Check health certificate CERT for NODE; on success *KEY gets the public
 * key it binds.  0 when it passes, 1 when refused (OUT decided), -1 on an
 * internal error.  hgs_healthcert_verify() decides whether the certificate
 * is good; its verdict picks the reason.  Each check is a step of trace T.
 */
static int check_healthcert(struct hgs_node *node, X509 *cert, struct hgs_kps_outcome *out,
			    EVP_PKEY **key, struct hgs_trace *t)
{
	struct hgs_healthcert_info info;
	struct hgs_healthcert_verdict v;
	char t1[32], t2[32], sub[HGS_REASON_MAX];
	enum hl_key_type kt;
	time_t cutoff;
	int has_cutoff;

	*key = NULL;
	if (hl_cert_thumbprint(cert, out->healthcert_thumbprint) < 0)
		return -1;
	if (hl_cert_subject_cn(cert, out->host, sizeof(out->host)) < 0) {
		hl_error_clear();
		out->host[0] = '\0';
	}
	/* the CN of a certificate not yet checked goes to the log: printable ASCII only */
	for (char *p = out->host; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	if (hgs_healthcert_verify(node, cert, &info, &v) < 0) {
		switch (v.refusal) {
		case HGS_HC_NOT_HEALTHCERT:
			decide(out, HGS_KPS_NOT_A_HEALTH_CERTIFICATE, "the certificate presented "
			       "(CN '%s') is not an HGS health certificate: %s; attest with this HGS "
			       "to get one", out->host, v.detail);
			break;
		case HGS_HC_UNTRUSTED:
		case HGS_HC_OTHER_HGS:
			/* the chain check's own words; for another HGS's name, the whole refusal */
			decide(out, HGS_KPS_UNTRUSTED_HEALTH_CERTIFICATE, "the health certificate "
			       "of '%s' was not issued by this HGS (%s's attestation signer): %s; "
			       "the host must attest with this HGS", out->host, node->config.name,
			       v.refusal == HGS_HC_UNTRUSTED ? v.detail : hl_error_last());
			break;
		case HGS_HC_NOT_PASSED:
			hgs_substatus_format(info.substatus, sub, sizeof(sub));
			decide(out, HGS_KPS_HOST_FAILED_ATTESTATION, "the health certificate of '%s' "
			       "records attestation status %s%s%s%s: the host failed attestation, "
			       "and keys are released only to hosts that passed",
			       out->host, hgs_status_name(info.status), sub[0] ? " (" : "", sub,
			       sub[0] ? ")" : "");
			break;
		case HGS_HC_NOT_YET_VALID:
			out->healthcert_not_after = info.not_after;
			decide(out, HGS_KPS_HEALTH_CERTIFICATE_NOT_YET_VALID, "the health certificate "
			       "of '%s' is not valid before %s (HGS clock %s); check the clocks of "
			       "host and HGS", out->host, when(info.not_before, t1), when(v.at, t2));
			break;
		case HGS_HC_EXPIRED:
			out->healthcert_not_after = info.not_after;
			decide(out, HGS_KPS_HEALTH_CERTIFICATE_EXPIRED, "the health certificate of "
			       "'%s' expired at %s (HGS clock %s); the host must attest again for a "
			       "fresh one", out->host, when(info.not_after, t1), when(v.at, t2));
			break;
		default:
			return -1;
		}
		hl_error_clear();
		trace_healthcert(t, hc_stage(v.refusal), node, &info, out);
		return 1;
	}
	trace_healthcert(t, HC_STEPS, node, &info, out);
	out->healthcert_not_after = info.not_after;
	if (hgs_db_kps_cutoff_get(node, &has_cutoff, &cutoff) < 0)
		return -1;
	if (has_cutoff && info.not_before < cutoff) {
		decide(out, HGS_KPS_ISSUED_BEFORE_CUTOFF, "the health certificate of '%s' was "
		       "issued at %s, before %s: this HGS denies health certificates issued before "
		       "then (set-key-protection-attestation-signer-certificate-policy); the host "
		       "must attest again for a fresh one", out->host, when(info.not_before, t1),
		       when(cutoff, t2));
		hgs_trace_check(t, "IssuedAfterCutoff", HGS_TRACE_FAIL, CUTOFF_LABEL, "%s",
				out->message);
		return 1;
	}
	if (has_cutoff)
		hgs_trace_check(t, "IssuedAfterCutoff", HGS_TRACE_PASS, CUTOFF_LABEL,
				"issued %s, cut-off %s", when(info.not_before, t1), when(cutoff, t2));
	else
		hgs_trace_check(t, "IssuedAfterCutoff", HGS_TRACE_SKIP, CUTOFF_LABEL,
				"no cut-off is set on this HGS");
	if (hl_cert_pubkey(cert, key) < 0)
		return -1;
	if (hl_key_type_of(*key, &kt) < 0 || (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072)) {
		hl_error_clear();
		hl_key_free(*key);
		*key = NULL;
		decide(out, HGS_KPS_NOT_A_HEALTH_CERTIFICATE, "the health certificate of '%s' binds "
		       "a key that is not RSA 2048 or 3072, so no key can be wrapped to it",
		       out->host);
		hgs_trace_check(t, "TransportKey", HGS_TRACE_FAIL, TK_LABEL, "%s", out->message);
		return 1;
	}
	if (spki_fingerprint(cert, out->transport_key_fingerprint) < 0) {
		hl_key_free(*key);
		*key = NULL;
		return -1;
	}
	hgs_trace_check(t, "TransportKey", HGS_TRACE_PASS, TK_LABEL, "the host's TPM-resident "
			"key, SHA-256 %.*s...", HGS_TRACE_THUMB_SHOWN, out->transport_key_fingerprint);
	return 0;
}

/*
 * Private keys of KPS encryption certificates, loaded once: decoding a PEM
 * RSA key costs OpenSSL 3 about a millisecond, more than the unwrap itself.
 * Keyed by certificate thumbprint alone: a thumbprint names one public key,
 * and a key is cached only after it was checked against that certificate,
 * so the entry is right for any node holding the certificate.  Whether the
 * certificate is still enabled is read from the store at every release.
 * Invariant: key_cache[0..key_cache_n) hold a reference each; guarded by
 * key_cache_lock.
 */
#define KEY_CACHE_MAX 16
static struct {
	char thumbprint[HL_SHA256_HEX_SIZE];
	EVP_PKEY *key;
} key_cache[KEY_CACHE_MAX];
static size_t key_cache_n, key_cache_next;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* A new reference to the cached key of THUMBPRINT, or NULL. */
static EVP_PKEY *key_cache_get(const char *thumbprint)
{
	EVP_PKEY *key = NULL;

	pthread_mutex_lock(&key_cache_lock);
	for (size_t i = 0; i < key_cache_n; i++) {
		if (strcmp(key_cache[i].thumbprint, thumbprint) == 0 &&
		    EVP_PKEY_up_ref(key_cache[i].key) == 1) {
			key = key_cache[i].key;
			break;
		}
	}
	pthread_mutex_unlock(&key_cache_lock);
	return key;
}

/* Keep a reference to KEY for THUMBPRINT (replacing the oldest entry when full). */
static void key_cache_put(const char *thumbprint, EVP_PKEY *key)
{
	size_t slot;

	if (EVP_PKEY_up_ref(key) != 1)
		return;
	pthread_mutex_lock(&key_cache_lock);
	if (key_cache_n < KEY_CACHE_MAX) {
		slot = key_cache_n++;
	} else {
		slot = key_cache_next;
		key_cache_next = (key_cache_next + 1) % KEY_CACHE_MAX;
		hl_key_free(key_cache[slot].key);
	}
	snprintf(key_cache[slot].thumbprint, sizeof(key_cache[slot].thumbprint), "%s", thumbprint);
	key_cache[slot].key = key;
	pthread_mutex_unlock(&key_cache_lock);
}

/* The private key of KPS certificate C (cached), checked against the certificate. */
static int load_kps_key(struct hgs_node *node, const struct hgs_kps_cert *c, EVP_PKEY **out)
{
	char path[PATH_MAX];
	EVP_PKEY *key = NULL, *pub = NULL;
	X509 *cert = NULL;
	int rc = -1;

	*out = key_cache_get(c->thumbprint);
	if (*out)
		return 0;
	if (hl_served_path(node->dir, c->key_file, path, sizeof(path)) < 0 ||
	    hl_key_priv_load_file(path, &key) < 0 ||
	    hl_cert_from_pem(c->cert_pem, strlen(c->cert_pem), &cert) < 0 ||
	    hl_cert_pubkey(cert, &pub) < 0) {
		hl_error_wrap("cannot load the KPS encryption key %s", c->thumbprint);
		goto out;
	}
	if (!hl_key_pub_equal(key, pub)) {
		hl_error("the KPS encryption key '%s' does not match its certificate %s; the node "
			 "directory is damaged", path, c->thumbprint);
		goto out;
	}
	key_cache_put(c->thumbprint, key);
	*out = key;
	key = NULL;
	rc = 0;
out:
	hl_key_free(key);
	hl_key_free(pub);
	hl_cert_free(cert);
	return rc;
}

#define GUARDIAN_LABEL "the key protector lists this HGS's guardian (an enabled encryption " \
	"certificate)"

/*
 * Find the entry of KP wrapped to an enabled KPS encryption certificate of
 * NODE: 0 found (*ENTRY, *CERT set), 1 refused (OUT decided), -1 error.
 * The verdict is step "GuardianListed" of trace T.
 */
static int find_entry(struct hgs_node *node, const struct hl_kp *kp, struct hgs_kps_outcome *out,
		      const struct hl_kp_entry **entry, struct hgs_kps_cert **cert,
		      struct hgs_trace *t)
{
	char disabled[HL_SHA256_HEX_SIZE] = "", primary[HL_SHA256_HEX_SIZE] = "";
	struct hgs_kps_cert *c = NULL;
	X509 *pc = NULL;
	int r;

	*entry = NULL;
	*cert = NULL;
	for (size_t i = 0; i < kp->n_entries; i++) {
		r = hgs_db_kps_cert_get(node, kp->entries[i].encryption_thumbprint, &c);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (c->role == HGS_KEY_KPS_ENCRYPTION && c->enabled) {
			*entry = &kp->entries[i];
			*cert = c;
			hgs_trace_check(t, "GuardianListed", HGS_TRACE_PASS, GUARDIAN_LABEL,
					"guardian %zu of %zu: '%s', wrapped to encryption certificate "
					"%.*s...", i + 1, kp->n_entries, node->config.name,
					HGS_TRACE_THUMB_SHOWN, c->thumbprint);
			return 0;
		}
		if (c->role == HGS_KEY_KPS_ENCRYPTION && !disabled[0])
			snprintf(disabled, sizeof(disabled), "%s", c->thumbprint);
		hgs_kps_cert_free(c);
		c = NULL;
	}
	if (disabled[0]) {
		decide(out, HGS_KPS_ENCRYPTION_CERTIFICATE_DISABLED, "key protector %s lists this "
		       "HGS only under its encryption certificate %s, which is disabled here: KPs "
		       "wrapped to it are no longer released; an administrator can enable it with "
		       "`hgslab hgs set-key-protection-certificate --thumbprint %s --enable`, or the "
		       "owner can grant the current guardian metadata access", kp->id, disabled,
		       disabled);
		hgs_trace_check(t, "GuardianListed", HGS_TRACE_FAIL, GUARDIAN_LABEL, "%s",
				out->message);
		return 1;
	}
	if (hgs_node_keypair(node, HGS_KEY_KPS_ENCRYPTION, &pc, NULL) < 0 ||
	    hl_cert_thumbprint(pc, primary) < 0) {
		hl_cert_free(pc);
		return -1;
	}
	hl_cert_free(pc);
	decide(out, HGS_KPS_GUARDIAN_NOT_LISTED, "key protector %s (owner '%s') does not list "
	       "this HGS's guardian '%s': its guardians are wrapped to other encryption "
	       "certificates than this HGS's (primary %s); the owner never granted this HGS "
	       "access or revoked it, and can grant it with `hgslab tenant "
	       "grant-key-protector-access`", kp->id, kp->owner_name, node->config.name, primary);
	hgs_trace_check(t, "GuardianListed", HGS_TRACE_FAIL, GUARDIAN_LABEL, "%s", out->message);
	return 1;
}

/* Fill OUT's KP id and owner from KP bytes that parse, for the log only (nothing is trusted). */
static void note_kp(const struct hgs_kps_request *req, struct hgs_kps_outcome *out)
{
	struct kp_ref *kr = NULL;

	if (kp_parse_cached(req->key_protector, req->key_protector_len, &kr) < 0) {
		hl_error_clear();
		return;
	}
	snprintf(out->kp_id, sizeof(out->kp_id), "%s", kr->kp->id);
	snprintf(out->owner, sizeof(out->owner), "%s", kr->kp->owner_name);
	kp_ref_put(kr);
}

#define KP_LABEL "the key protector parses"
#define OWNER_LABEL "the owner's signature over the key protector verifies"
#define UNWRAP_LABEL "the TK unwraps with this HGS's KPS encryption key"

/*
 * The decision itself: 0 decided (OUT says how), -1 internal error; each
 * check made is a step of trace T.  No recording here.  The health certificate comes first: a host without a
 * valid one learns that first, whatever its KP, and the KP of a host that
 * is not healthy is never opened.
 */
static int decide_release(struct hgs_node *node, const struct hgs_kps_request *req,
			  struct hgs_kps_outcome *out, struct hgs_trace *t)
{
	const struct hl_kp_entry *entry = NULL;
	struct hgs_kps_cert *kc = NULL;
	struct kp_ref *kr = NULL;
	const struct hl_kp *kp;
	struct hl_buf tk = { 0 };
	EVP_PKEY *transport = NULL, *kps_key = NULL;
	X509 *cert = NULL;
	int rc = -1, r;

	if (!req->key_protector || req->key_protector_len == 0) {
		decide(out, HGS_KPS_MALFORMED_REQUEST, "the request carries no key protector: send "
		       "the KP file in 'key_protector'");
		hgs_trace_check(t, "Request", HGS_TRACE_FAIL, "the request is well-formed", "%s",
				out->message);
		return 0;
	}
	/* 1. the health certificate */
	if (!req->health_certificate || req->health_certificate_len == 0) {
		note_kp(req, out);
		decide(out, HGS_KPS_NO_HEALTH_CERTIFICATE, "no health certificate was presented: "
		       "keys are released only to hosts that passed attestation with this HGS; "
		       "attest first and send the health certificate");
		hgs_trace_check(t, hc_steps[0].check, HGS_TRACE_FAIL, hc_steps[0].label, "%s",
				out->message);
		return 0;
	}
	if (cert_decode_cached(req->health_certificate, req->health_certificate_len, &cert) < 0) {
		decide(out, HGS_KPS_MALFORMED_HEALTH_CERTIFICATE, "the health certificate is not a "
		       "readable certificate (PEM or base64 DER): %s", hl_error_last());
		hl_error_clear();
		note_kp(req, out);
		hgs_trace_check(t, hc_steps[0].check, HGS_TRACE_FAIL, hc_steps[0].label, "%s",
				out->message);
		return 0;
	}
	r = check_healthcert(node, cert, out, &transport, t);
	if (r != 0) {
		if (r > 0)
			note_kp(req, out);
		rc = r > 0 ? 0 : -1;
		goto out;
	}
	/* 2. the key protector: its syntax, then the owner's signature */
	if (kp_parse_cached(req->key_protector, req->key_protector_len, &kr) < 0) {
		decide(out, HGS_KPS_MALFORMED_KEY_PROTECTOR, "%s", hl_error_last());
		hl_error_clear();
		hgs_trace_check(t, "KeyProtector", HGS_TRACE_FAIL, KP_LABEL, "%s", out->message);
		rc = 0;
		goto out;
	}
	kp = kr->kp;
	snprintf(out->kp_id, sizeof(out->kp_id), "%s", kp->id);
	snprintf(out->owner, sizeof(out->owner), "%s", kp->owner_name);
	hgs_trace_check(t, "KeyProtector", HGS_TRACE_PASS, KP_LABEL, "key protector %s, owner '%s', "
			"%zu guardian%s", kp->id, kp->owner_name, kp->n_entries,
			kp->n_entries == 1 ? "" : "s");
	if (hl_kp_verify(kp, NULL) < 0) {
		decide(out, HGS_KPS_OWNER_SIGNATURE_INVALID, "%s", hl_error_last());
		hl_error_clear();
		hgs_trace_check(t, "OwnerSignature", HGS_TRACE_FAIL, OWNER_LABEL, "%s",
				out->message);
		rc = 0;
		goto out;
	}
	hgs_trace_check(t, "OwnerSignature", HGS_TRACE_PASS, OWNER_LABEL, "owner signing "
			"certificate %.*s...", HGS_TRACE_THUMB_SHOWN, kp->owner_signing_thumbprint);
	/* 3. an entry wrapped to one of this HGS's enabled encryption certificates */
	r = find_entry(node, kp, out, &entry, &kc, t);
	if (r != 0) {
		rc = r > 0 ? 0 : -1;
		goto out;
	}
	snprintf(out->encryption_thumbprint, sizeof(out->encryption_thumbprint), "%s",
		 kc->thumbprint);
	/* 4. unwrap, then wrap to the transport key the health certificate binds */
	if (load_kps_key(node, kc, &kps_key) < 0)
		goto out;
	if (hl_kp_unwrap_entry(entry, kps_key, &tk) < 0) {
		decide(out, HGS_KPS_UNWRAP_FAILED, "the TK in key protector %s does not unwrap with "
		       "this HGS's encryption certificate %s: %s; the owner signed an entry that "
		       "does not open, so the key protector must be made again", kp->id,
		       kc->thumbprint, hl_error_last());
		hl_error_clear();
		hgs_trace_check(t, "TkUnwrap", HGS_TRACE_FAIL, UNWRAP_LABEL, "%s", out->message);
		rc = 0;
		goto out;
	}
	hgs_trace_check(t, "TkUnwrap", HGS_TRACE_PASS, UNWRAP_LABEL, "with the private key of "
			"encryption certificate %.*s... (the TK stays in KPS memory)",
			HGS_TRACE_THUMB_SHOWN, kc->thumbprint);
	if (hl_crypto_oaep_wrap(transport, HGS_KPS_TK_LABEL, HGS_KPS_TK_LABEL_LEN, tk.data, tk.len,
				&out->wrapped_tk) < 0) {
		hl_error_wrap("cannot wrap the TK to the transport key of '%s'", out->host);
		goto out;
	}
	hgs_trace_check(t, "TkRewrap", HGS_TRACE_PASS, "the TK is wrapped to the host's transport "
			"key", "RSA-OAEP-SHA256, label %s, to transport key %.*s... from the health "
			"certificate", HGS_KPS_TK_LABEL, HGS_TRACE_THUMB_SHOWN,
			out->transport_key_fingerprint);
	decide(out, HGS_KPS_RELEASED, "%s", "");
	rc = 0;
out:
	hl_buf_free(&tk);
	hl_key_free(kps_key);
	hl_key_free(transport);
	hl_cert_free(cert);
	hgs_kps_cert_free(kc);
	kp_ref_put(kr);
	return rc;
}

/* Decide and record a release request. */
int hgs_kps_release(struct hgs_node *node, const struct hgs_kps_request *req,
		    struct hgs_kps_outcome *out)
{
	struct hgs_trace trace, *t = &trace;
	char saved[HL_ERROR_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	hgs_trace_init(t, HGS_TRACE_KEY_RELEASE);
	hgs_trace_message(t, HGS_TRACE_HOST, "POST %s: key protector (%zu bytes), %s",
			  HGS_KPS_RELEASE_PATH, req->key_protector_len,
			  req->health_certificate_len ? "health certificate" : "no health certificate");
	if (!node->signer_cert) {
		rc = hl_error("cannot release keys: the attestation signer is not loaded (open the "
			      "node with HGS_NODE_OPEN_KEYS)");
	} else {
		rc = decide_release(node, req, out, t);
	}
	if (rc < 0) {
		hl_buf_free(&out->wrapped_tk);
		decide(out, HGS_KPS_INTERNAL_ERROR, "HGS failed: %s; retry later", hl_error_last());
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		if (record(node, req->remote, out, t) < 0)
			hl_log_error("%s", hl_error_last());
		hl_error("%s", saved);
		rc = -1;
	} else if (record(node, req->remote, out, t) < 0) {
		/* a release that cannot be recorded does not happen */
		hl_buf_free(&out->wrapped_tk);
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		decide(out, HGS_KPS_INTERNAL_ERROR, "HGS failed: %s; retry later", saved);
		hl_log_error("%s", saved);
		hl_error("%s", saved);
		rc = -1;
	}
	return rc;
}

/* ---- routes ---- */

void hgs_kps_caching_fields(struct hgs_node *node, json_t *o)
{
	char gen[HGS_POLICY_GENERATION_SIZE];
	struct hgs_kps_config cfg;

	if (hgs_db_kps_config_get(node, &cfg) < 0 ||
	    (cfg.allow_caching && hgs_db_policy_generation(node, &cfg, gen) < 0)) {
		hl_log_warn("answer without the key material caching fields: %s", hl_error_last());
		hl_error_clear();
		return;
	}
	json_object_set_new(o, "KeyMaterialCaching", json_boolean(cfg.allow_caching));
	if (cfg.allow_caching)
		json_object_set_new(o, "PolicyGeneration", json_string(gen));
}

/* Answer OUT: the released TK, or {"error", "reason"} with the outcome's status. */
static int reply_outcome(struct hgs_node *node, const struct hgs_kps_outcome *out,
			 struct hl_http_response *resp)
{
	json_t *o = NULL;
	int rc = -1;

	if (out->reason == HGS_KPS_RELEASED) {
		o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "released", 1,
			      "key_protector", out->kp_id, "owner", out->owner, "host", out->host,
			      "node", node->config.name, "wrapping", "RSA-OAEP-SHA256",
			      "oaep_label", HGS_KPS_TK_LABEL, "transport_key",
			      out->transport_key_fingerprint, "health_certificate",
			      out->healthcert_thumbprint);
		if (o && (json_object_set_new(o, "encryption_certificate",
					      json_string(out->encryption_thumbprint)) < 0 ||
			  hl_json_set_base64(o, "wrapped_tk", out->wrapped_tk.data,
					     out->wrapped_tk.len) < 0)) {
			json_decref(o);
			o = NULL;
		}
		if (o)
			hgs_kps_caching_fields(node, o);
	} else {
		o = json_pack("{s:s, s:s, s:s?, s:s?}", "error", out->message, "reason",
			      hgs_kps_reason_name(out->reason), "key_protector",
			      out->kp_id[0] ? out->kp_id : NULL, "host",
			      out->host[0] ? out->host : NULL);
	}
	/* which node answered, and the log entry of this exchange (docs/hgs-cluster.md) */
	if (o && (json_object_set_new(o, "Node", json_string(node->node_name)) < 0 ||
		  (out->log_id && json_object_set_new(o, "LogId", json_integer(out->log_id)) < 0))) {
		json_decref(o);
		o = NULL;
	}
	if (!o)
		return hl_error("out of memory");
	rc = hl_http_response_json(resp, out->http_status, o);
	json_decref(o);
	return rc;
}

/* A request refused before hgs_kps_release: record it and answer 400. */
static int reject(struct hgs_request *req, struct hl_http_response *resp,
		  enum hgs_kps_reason reason, const char *msg)
{
	struct hgs_trace trace, *t = &trace;
	struct hgs_kps_outcome out;

	memset(&out, 0, sizeof(out));
	hgs_trace_init(t, HGS_TRACE_KEY_RELEASE);
	decide(&out, reason, "%s", msg);
	hgs_trace_message(t, HGS_TRACE_HOST, "POST %s", HGS_KPS_RELEASE_PATH);
	hgs_trace_check(t, "Request", HGS_TRACE_FAIL, "the request is well-formed", "%s", msg);
	if (record(req->node, req->http->remote, &out, t) < 0)
		hl_log_warn("%s", hl_error_last());
	return reply_outcome(req->node, &out, resp);
}

/* POST /KeyProtection/v1/release. */
static int route_release(struct hgs_request *req, struct hl_http_response *resp)
{
	struct hgs_kps_request kr = { 0 };
	struct hgs_kps_outcome out;
	unsigned char *kp_bytes = NULL, *der = NULL;
	char *kp_text = NULL, msg[HGS_REASON_MAX];
	size_t kp_len = 0, der_len = 0;
	json_t *kp = json_object_get(req->body, "key_protector");
	json_t *hc = json_object_get(req->body, "health_certificate");
	int rc;

	memset(&out, 0, sizeof(out));
	kr.remote = req->http->remote;
	if (!kp || json_is_null(kp)) {
		rc = reject(req, resp, HGS_KPS_MALFORMED_REQUEST, "field 'key_protector' is missing: "
			    "send the KP file, as base64 or as its JSON object");
		goto out;
	}
	if (json_is_string(kp)) {
		if (b64_decode_memo(req->body, "key_protector", &kp_bytes, &kp_len) < 0) {
			snprintf(msg, sizeof(msg), "%s", hl_error_last());
			hl_error_clear();
			rc = reject(req, resp, HGS_KPS_MALFORMED_REQUEST, msg);
			goto out;
		}
		kr.key_protector = kp_bytes;
		kr.key_protector_len = kp_len;
	} else if (json_is_object(kp)) {
		if (hl_json_dump(kp, &kp_text) < 0) {
			rc = -1;
			goto out;
		}
		kr.key_protector = kp_text;
		kr.key_protector_len = strlen(kp_text);
	} else {
		rc = reject(req, resp, HGS_KPS_MALFORMED_REQUEST, "field 'key_protector' must be "
			    "the KP file as a base64 string or its JSON object");
		goto out;
	}
	if (hc && !json_is_null(hc)) {
		if (!json_is_string(hc)) {
			rc = reject(req, resp, HGS_KPS_MALFORMED_REQUEST, "field 'health_certificate' "
				    "must be a string: PEM, or base64 DER");
			goto out;
		}
		if (strncmp(json_string_value(hc), "-----BEGIN", 10) == 0) {
			kr.health_certificate = json_string_value(hc);
			kr.health_certificate_len = json_string_length(hc);
		} else if (json_string_length(hc) > 0) {
			if (hl_json_get_base64(req->body, "health_certificate", &der, &der_len) < 0) {
				snprintf(msg, sizeof(msg), "the health certificate is neither PEM nor "
					 "base64 DER: %s", hl_error_last());
				hl_error_clear();
				rc = reject(req, resp, HGS_KPS_MALFORMED_HEALTH_CERTIFICATE, msg);
				goto out;
			}
			kr.health_certificate = der;
			kr.health_certificate_len = der_len;
		}
	}
	if (hgs_kps_release(req->node, &kr, &out) < 0) {
		rc = hl_http_response_error(resp, 500, "%s", out.message);
		goto out;
	}
	rc = reply_outcome(req->node, &out, resp);
out:
	hgs_kps_outcome_release(&out);
	free(kp_bytes);
	free(kp_text);
	free(der);
	return rc;
}

/* GET the guardian metadata. */
static int route_metadata(struct hgs_request *req, struct hl_http_response *resp)
{
	struct hl_buf xml = { 0 };
	int rc;

	if (hgs_kps_metadata(req->node, &xml) < 0)
		return hl_http_response_error(resp, 500, "%s", hl_error_last());
	rc = hl_http_response_set(resp, 200, "application/xml", xml.data, xml.len);
	hl_buf_free(&xml);
	return rc;
}

const struct hgs_route hgs_kps_routes[] = {
	{ "GET", HGS_KPS_METADATA_PATH, HGS_ROUTE_ANY_MODE, route_metadata },
	{ "POST", HGS_KPS_RELEASE_PATH, HGS_ROUTE_ANY_MODE, route_release },
	{ NULL, NULL, 0, NULL },
};

/* ---- guardian metadata ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* Initialise libxml2 once, before any thread uses it. */
static void xml_init(void)
{
	xmlInitParser();
}

/* CERT's DER as base64 into OUT. */
static int cert_base64(const X509 *cert, struct hl_buf *out)
{
	struct hl_buf der = { 0 };
	int rc = hl_cert_to_der(cert, &der);

	if (rc == 0)
		rc = hl_crypto_base64_encode(der.data, der.len, out);
	hl_buf_free(&der);
	return rc;
}

/* The guardian metadata document. */
int hgs_kps_metadata(struct hgs_node *node, struct hl_buf *out)
{
	struct hl_buf sig = { 0 }, enc = { 0 };
	X509 *sc = NULL, *ec = NULL;
	xmlBufferPtr buf = NULL;
	xmlTextWriterPtr w = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	pthread_once(&xml_once, xml_init);
	if (hgs_node_keypair(node, HGS_KEY_KPS_SIGNING, &sc, NULL) < 0 ||
	    hgs_node_keypair(node, HGS_KEY_KPS_ENCRYPTION, &ec, NULL) < 0 ||
	    cert_base64(sc, &sig) < 0 || cert_base64(ec, &enc) < 0)
		goto out;
	if (!(buf = xmlBufferCreate()) || !(w = xmlNewTextWriterMemory(buf, 0))) {
		hl_error("cannot write the guardian metadata: out of memory");
		goto out;
	}
	if (xmlTextWriterSetIndent(w, 1) < 0 ||
	    xmlTextWriterSetIndentString(w, BAD_CAST "  ") < 0 ||
	    xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
	    xmlTextWriterStartElement(w, BAD_CAST "GuardianMetadata") < 0 ||
	    xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns",
					BAD_CAST "urn:hgslab:guardian-metadata:2014-07") < 0 ||
	    xmlTextWriterWriteAttribute(w, BAD_CAST "Version", BAD_CAST "1") < 0 ||
	    xmlTextWriterStartElement(w, BAD_CAST "Guardian") < 0 ||
	    xmlTextWriterWriteElement(w, BAD_CAST "Name", BAD_CAST node->config.name) < 0 ||
	    xmlTextWriterWriteElement(w, BAD_CAST "SigningCertificate", sig.data) < 0 ||
	    xmlTextWriterWriteElement(w, BAD_CAST "EncryptionCertificate", enc.data) < 0 ||
	    xmlTextWriterEndDocument(w) < 0) {
		hl_error("cannot write the guardian metadata: libxml2 failed");
		goto out;
	}
	xmlFreeTextWriter(w);
	w = NULL;
	if (!(out->data = malloc((size_t)xmlBufferLength(buf) + 1))) {
		hl_error("cannot write the guardian metadata: out of memory");
		goto out;
	}
	out->len = (size_t)xmlBufferLength(buf);
	memcpy(out->data, xmlBufferContent(buf), out->len);
	out->data[out->len] = '\0';
	rc = 0;
out:
	if (w)
		xmlFreeTextWriter(w);
	if (buf)
		xmlBufferFree(buf);
	hl_buf_free(&sig);
	hl_buf_free(&enc);
	hl_cert_free(sc);
	hl_cert_free(ec);
	return rc;
}

/* ---- certificate rotation ---- */

/* The CertificateType of a KPS role. */
const char *hgs_kps_cert_type_name(enum hgs_key_role role)
{
	switch (role) {
	case HGS_KEY_KPS_SIGNING:
		return "Signing";
	case HGS_KEY_KPS_ENCRYPTION:
		return "Encryption";
	default:
		return NULL;
	}
}

/* Parse a certificate type. */
int hgs_kps_cert_type_parse(const char *text, enum hgs_key_role *role)
{
	if (text && strcasecmp(text, "signing") == 0) {
		*role = HGS_KEY_KPS_SIGNING;
		return 0;
	}
	if (text && strcasecmp(text, "encryption") == 0) {
		*role = HGS_KEY_KPS_ENCRYPTION;
		return 0;
	}
	return hl_error("invalid certificate type '%s': use signing or encryption",
			text ? text : "");
}

/*
 * Write KEY (private) and CERT of ROLE into NODE's keys/ directory and add
 * the certificate; a failure leaves no file behind.
 */
static int cert_store(struct hgs_node *node, enum hgs_key_role role, EVP_PKEY *key, X509 *cert,
		      int primary, char thumb[HL_SHA256_HEX_SIZE])
{
	struct hl_buf key_pem = { 0 }, crt_pem = { 0 };
	char rel_key[96], rel_crt[96], key_path[PATH_MAX], crt_path[PATH_MAX];
	int rc = -1, wrote_key = 0, wrote_crt = 0, r;
	time_t now;

	thumb[0] = '\0';
	if (hl_cert_thumbprint(cert, thumb) < 0 || hl_key_priv_to_pem(key, &key_pem) < 0 ||
	    hl_cert_to_pem(cert, &crt_pem) < 0 || hgs_node_now(node, &now) < 0)
		goto out;
	snprintf(rel_key, sizeof(rel_key), "%s/%s-%.16s.key", HGS_KEYS_DIR, hgs_key_role_name(role),
		 thumb);
	snprintf(rel_crt, sizeof(rel_crt), "%s/%s-%.16s.crt", HGS_KEYS_DIR, hgs_key_role_name(role),
		 thumb);
	if (hl_served_path(node->dir, rel_key, key_path, sizeof(key_path)) < 0 ||
	    hl_served_path(node->dir, rel_crt, crt_path, sizeof(crt_path)) < 0)
		goto out;
	r = hl_file_exists(key_path);
	if (r != 0) {
		if (r > 0)
			hl_error("the certificate with thumbprint %s is already one of this HGS's "
				 "keys ('%s' exists); list them with `hgslab hgs "
				 "get-key-protection-certificate`", thumb, key_path);
		goto out;
	}
	if (hl_file_write_private(key_path, key_pem.data, key_pem.len) < 0)
		goto out;
	wrote_key = 1;
	if (hl_file_write(crt_path, crt_pem.data, crt_pem.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	wrote_crt = 1;
	if (hgs_db_kps_cert_add(node, role, thumb, (const char *)crt_pem.data, rel_key, primary,
				now) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		if (wrote_key)
			unlink(key_path);
		if (wrote_crt)
			unlink(crt_path);
		thumb[0] = '\0';
	}
	hl_buf_free(&key_pem);
	hl_buf_free(&crt_pem);
	return rc;
}

/* Generate and add a KPS key pair. */
int hgs_kps_cert_generate(struct hgs_node *node, enum hgs_key_role role, int primary,
			  char thumb[HL_SHA256_HEX_SIZE])
{
	struct hl_cert_spec spec = { 0 };
	char cn[HL_NAME_HGS_SIZE + 64], stamp[32];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	time_t now;
	int rc = -1;

	thumb[0] = '\0';
	if (!hgs_kps_cert_type_name(role))
		return hl_error("invalid key protection certificate role %d", (int)role);
	if (hgs_node_now(node, &now) < 0)
		return -1;
	hl_labclock_format(now, stamp, sizeof(stamp));
	snprintf(cn, sizeof(cn), "%s KPS %s %s", node->config.name, hgs_kps_cert_type_name(role),
		 stamp);
	spec.cn = cn;
	spec.org = node->config.domain;
	spec.not_before = now - KPS_CERT_BACKDATE_S;
	spec.not_after = now + KPS_CERT_LIFETIME_S;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = role == HGS_KEY_KPS_SIGNING
			 ? HL_KU_DIGITAL_SIGNATURE | HL_KU_KEY_CERT_SIGN
			 : HL_KU_KEY_ENCIPHERMENT | HL_KU_DATA_ENCIPHERMENT | HL_KU_KEY_CERT_SIGN;
	if (hl_key_generate(HL_KEY_RSA2048, &key) < 0 ||
	    hl_cert_issue_self_signed(&spec, key, &cert) < 0) {
		hl_error_wrap("cannot create a KPS %s key pair", hgs_key_role_name(role));
		goto out;
	}
	rc = cert_store(node, role, key, cert, primary, thumb);
out:
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/* Check and add a given KPS key pair. */
int hgs_kps_cert_import(struct hgs_node *node, enum hgs_key_role role, const char *key_pem,
			size_t key_len, const char *cert_pem, size_t cert_len, int primary,
			char thumb[HL_SHA256_HEX_SIZE])
{
	EVP_PKEY *key = NULL, *pub = NULL;
	enum hl_key_type kt;
	X509 *cert = NULL;
	time_t now, nb, na;
	char t1[32], t2[32], t3[32];
	int rc = -1;

	thumb[0] = '\0';
	if (!hgs_kps_cert_type_name(role))
		return hl_error("invalid key protection certificate role %d", (int)role);
	if (hl_key_priv_from_pem(key_pem, key_len, &key) < 0) {
		hl_error_wrap("the key is not a readable PEM private key");
		goto out;
	}
	if (hl_cert_from_pem(cert_pem, cert_len, &cert) < 0) {
		hl_error_wrap("the certificate is not a readable PEM certificate");
		goto out;
	}
	if (hl_key_type_of(key, &kt) < 0 || (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072)) {
		hl_error("a key protection certificate needs an RSA 2048 or 3072 key (key protectors "
			 "wrap and sign with RSA); generate one with --generate");
		goto out;
	}
	if (hl_cert_pubkey(cert, &pub) < 0)
		goto out;
	if (!hl_key_pub_equal(key, pub)) {
		hl_error("the key does not belong to the certificate: their public keys differ");
		goto out;
	}
	if (hl_cert_validity(cert, &nb, &na) < 0 || hgs_node_now(node, &now) < 0)
		goto out;
	if (now < nb || now > na) {
		hl_error("the certificate is not valid now (valid from %s to %s, HGS clock %s); give "
			 "a current certificate", when(nb, t1), when(na, t2), when(now, t3));
		goto out;
	}
	rc = cert_store(node, role, key, cert, primary, thumb);
out:
	hl_key_free(key);
	hl_key_free(pub);
	hl_cert_free(cert);
	return rc;
}

/* Unlink NODE's file REL unless it is outside keys/; a failure is only logged. */
static void unlink_key_file(struct hgs_node *node, const char *rel)
{
	char path[PATH_MAX];

	if (strncmp(rel, HGS_KEYS_DIR "/", sizeof(HGS_KEYS_DIR)) != 0 || strstr(rel, ".."))
		return;
	if (hl_served_path(node->dir, rel, path, sizeof(path)) < 0) {
		hl_log_warn("%s", hl_error_last());
		return;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		hl_log_warn("cannot remove '%s': %s", path, strerror(errno));
}

/* Remove a KPS certificate and its files. */
int hgs_kps_cert_remove(struct hgs_node *node, const char *thumbprint)
{
	char *key_file = NULL, crt[PATH_MAX];
	size_t n;

	if (hgs_db_kps_cert_remove(node, thumbprint, &key_file) < 0)
		return -1;
	unlink_key_file(node, key_file);
	n = strlen(key_file);
	if (n > 4 && strcmp(key_file + n - 4, ".key") == 0 && n < sizeof(crt)) {
		snprintf(crt, sizeof(crt), "%.*s.crt", (int)(n - 4), key_file);
		unlink_key_file(node, crt);
	}
	free(key_file);
	return 0;
}

/* Get-HgsKeyProtectionCertificate as JSON. */
int hgs_kps_cert_list(struct hgs_node *node, int role, json_t **out)
{
	struct hgs_kps_cert **v = NULL;
	char subject[512], nb_s[32], na_s[32], added[32];
	json_t *arr = NULL, *o;
	X509 *cert = NULL;
	time_t nb, na;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if (hgs_db_kps_cert_list(node, &v, &n) < 0)
		return -1;
	if (!(arr = json_array())) {
		hl_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (role >= 0 && (int)v[i]->role != role)
			continue;
		if (hl_cert_from_pem(v[i]->cert_pem, strlen(v[i]->cert_pem), &cert) < 0 ||
		    hgs_cert_subject(cert, subject, sizeof(subject)) < 0 ||
		    hl_cert_validity(cert, &nb, &na) < 0) {
			hl_error_wrap("the key protection certificate %s in the store is damaged",
				      v[i]->thumbprint);
			goto out;
		}
		hl_cert_free(cert);
		cert = NULL;
		o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s}", "CertificateType",
			      hgs_kps_cert_type_name(v[i]->role), "Thumbprint", v[i]->thumbprint,
			      "Subject", subject, "IsPrimary", v[i]->primary, "IsEnabled",
			      v[i]->enabled, "NotBefore", when(nb, nb_s), "NotAfter", when(na, na_s),
			      "Added", when(v[i]->added, added));
		if (!o || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
		}
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	hl_cert_free(cert);
	json_decref(arr);
	hgs_kps_certs_free(v, n);
	return rc;
}
