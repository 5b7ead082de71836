/*
 * attest_tpm.c - TPM-trusted attestation (attest_tpm.h): the routes of
 * credential activation (which pins a host's AK to its registered EK) and of
 * TPM attestation (quote, TCG log replay, certified transport key, Hgs_*
 * policies).  TPM structures are parsed and verified by hgs/tpm_verify, the
 * log by lib/tcglog, the policies by hgs/policy; every decision goes through
 * hgs_attest_finish(), which records it and issues the health certificate.
 */
#include "hgs/attest_tpm.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hgs/db.h"
#include "hgs/nonce.h"
#include "hgs/policy.h"
#include "hgs/tpm_verify.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proto/names.h"
#include "proto/tcglog.h"
#include "proto/wbcl.h"

/* A decoded base64 field of the request. */
struct field {
	unsigned char *data;
	size_t len;
};

/* Read base64 field NAME of OBJ into F. */
static int get_field(const json_t *obj, const char *name, struct field *f)
{
	return hl_json_get_base64(obj, name, &f->data, &f->len);
}

/* Free F's bytes. */
static void field_free(struct field *f)
{
	free(f->data);
	f->data = NULL;
	f->len = 0;
}

/* K's TPM name in uppercase hex into BUF. */
static int key_name_hex(const struct hgs_tpm_key *k, char buf[HGS_TPM_NAME_HEX_MAX])
{
	return hl_crypto_hex_encode(k->name.name, k->name.size, buf, HGS_TPM_NAME_HEX_MAX);
}

/* "PCR 1, 2 and 9" style list of the PCRs in MASK into BUF. */
static void pcr_list(uint32_t mask, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < 24 && off < size; i++) {
		if (!(mask & (1u << i)))
			continue;
		off += (size_t)snprintf(buf + off, size - off, "%s%u", off ? ", " : "", i);
	}
}

/*
 * Check the EK certificate of registered host H against the TPM vendor CA
 * bundle BUNDLE (the node's, NULL when none is configured) at node clock
 * NOW, unless H was added with --force: 1 when fine, 0 when refused (RES
 * set), -1 on an internal error.
 */
static int check_ek_cert(const struct hgs_tpm_host *h, const char *bundle, time_t now,
			 struct hgs_result *res)
{
	char issuer[128] = "(no CN)";

	if (h->forced)
		return 1;
	if (!h->ek_cert) {
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the TPM host '%s' has no EK certificate and was not added with "
				"--force, so its TPM cannot be trusted", h->name);
		return 0;
	}
	if (hl_cert_issuer_cn(h->ek_cert, issuer, sizeof(issuer)) < 0)
		hl_error_clear();
	if (!bundle) {
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"no TPM vendor CA is configured on this HGS, so the EK certificate of "
				"'%s' (issued by '%s') cannot be checked; run `hgslab hgs set-server "
				"--tpm-vendor-ca FILE`", h->name, issuer);
		return 0;
	}
	if (hgs_vendor_ca_verify(bundle, h->ek_cert, now) < 0) {
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the EK certificate of '%s' (issued by '%s') does not chain to this "
				"HGS's TPM vendor CA (%s): the TPM is not from a trusted vendor; "
				"configure its vendor's CA with `hgslab hgs set-server --tpm-vendor-ca "
				"FILE`, or re-add the host with --force", h->name, issuer,
				hl_error_last());
		hl_error_clear();
		return 0;
	}
	return 1;
}

/*
 * check_ek_cert() with the node's current vendor CA bundle and clock (for
 * activation, where H comes from hgs_db_tpm_host_find_ek).
 */
static int check_ek_cert_now(struct hgs_node *node, const struct hgs_tpm_host *h,
			     struct hgs_result *res)
{
	char *bundle = NULL;
	time_t now;
	int rc = -1;

	if (h->forced)
		return 1;
	if (hgs_node_now(node, &now) < 0 || hgs_db_vendor_ca_get(node, &bundle) < 0)
		goto out;
	rc = check_ek_cert(h, bundle, now, res);
out:
	free(bundle);
	return rc;
}

/*
 * ---- the accepted-registration cache of /tpm/attest ----
 *
 * Parsing a stored EK (public key and certificate) and the vendor CA bundle
 * and verifying the chain cost OpenSSL 3.0 about a millisecond per
 * attestation, for an answer that only changes when the stored bytes or the
 * validity state of a certificate do.  So an acceptance is remembered by
 * what it depends on: a verdict key, the SHA-256 of the host's stored
 * ek_public, ek_certificate and forced flag and, unless forced, of the vendor
 * CA bundle as read for this attestation, is kept with the node clock range
 * in which no certificate involved (the EK certificate, every bundle
 * certificate) changes validity state (hl_cert_validity_stable).  An
 * attestation whose key is known and whose clock is in the range is
 * accepted as the full check would accept it; anything else (an unknown key,
 * a clock outside the range, a refusal) takes the full check, whose
 * refusals are never remembered.  The key is content, not a node or a
 * version: a registration or vendor CA changed by any process or thread
 * gives another key at the next attestation, and a verdict is true of
 * whichever node holds the same bytes.  ek_verdicts is a fixed table guarded
 * by ek_verdicts_lock (hgs serve runs a thread per connection).
 */

/*
 * Remembered acceptances: a table of EK_VERDICTS slots indexed by the key's
 * first bytes (a verdict replaces the one in its slot), so a lookup costs
 * the same with a thousand registered hosts as with ten, and a fabric of a
 * few thousand hosts attesting in turn keeps its verdicts (a ring of 256
 * evicted each host's before it came back: `bench fabric --hosts 1000`).
 */
#define EK_VERDICTS 4096

struct ek_verdict {
	unsigned char key[HL_SHA256_LEN];
	time_t from, until;   /* node clock range, inclusive */
	int set;
};

static struct ek_verdict ek_verdicts[EK_VERDICTS];
static pthread_mutex_t ek_verdicts_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of KEY (a SHA-256: its first bytes are as good as any hash). */
static struct ek_verdict *ek_verdict_slot(const unsigned char key[HL_SHA256_LEN])
{
	uint32_t h = (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 |
		     (uint32_t)key[3] << 24;

	return &ek_verdicts[h % EK_VERDICTS];
}

/* 1 when KEY was accepted for a range holding NOW, else 0. */
static int ek_verdict_find(const unsigned char key[HL_SHA256_LEN], time_t now)
{
	const struct ek_verdict *v;
	int found;

	pthread_mutex_lock(&ek_verdicts_lock);
	v = ek_verdict_slot(key);
	found = v->set && v->from <= now && now <= v->until &&
		memcmp(v->key, key, HL_SHA256_LEN) == 0;
	pthread_mutex_unlock(&ek_verdicts_lock);
	return found;
}

/* Remember that KEY is accepted from FROM to UNTIL (node clock). */
static void ek_verdict_keep(const unsigned char key[HL_SHA256_LEN], time_t from, time_t until)
{
	struct ek_verdict *v;

	pthread_mutex_lock(&ek_verdicts_lock);
	v = ek_verdict_slot(key);
	memcpy(v->key, key, HL_SHA256_LEN);
	v->from = from;
	v->until = until;
	v->set = 1;
	pthread_mutex_unlock(&ek_verdicts_lock);
}

/*
 * Registrations as check_registration last accepted them, for the next
 * attestation of the same host: the table is indexed like ek_verdicts, by
 * a hash of the name, and an entry serves while its node's stamp
 * (hgs_node_stamp) is the one it was read under: any change of a
 * registration, an AK pin or the vendor CA changes the stamp.
 */
#define REG_MEMOS 4096

struct reg_memo {
	unsigned long long node;          /* the node's serial; 0: empty */
	long long version;                /* its stamp when read */
	unsigned gen;
	char name[HL_NAME_REG_SIZE];
	int forced, pinned;
	unsigned char key[HL_SHA256_LEN]; /* its verdict key (ek_verdict_key) */
	char ek_fingerprint[HL_SHA256_HEX_SIZE];
	char ak_name[HGS_TPM_NAME_HEX_MAX];
};

static struct reg_memo reg_memos[REG_MEMOS];
static pthread_mutex_t reg_memos_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of host NAME (FNV-1a). */
static struct reg_memo *reg_memo_slot(const char *name)
{
	uint32_t h = 2166136261u;

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &reg_memos[h % REG_MEMOS];
}

/* Copy NAME's entry read under NODE's stamp VERSION, GEN into *OUT: 1 found, else 0. */
static int reg_memo_find(const struct hgs_node *node, const char *name, long long version,
			 unsigned gen, struct reg_memo *out)
{
	const struct reg_memo *m;
	int found;

	if (strlen(name) >= sizeof(m->name))
		return 0;
	pthread_mutex_lock(&reg_memos_lock);
	m = reg_memo_slot(name);
	found = m->node == node->serial && m->version == version && m->gen == gen &&
		strcmp(m->name, name) == 0;
	if (found)
		*out = *m;
	pthread_mutex_unlock(&reg_memos_lock);
	return found;
}

/* Keep registration R of NAME, with verdict key KEY, read under NODE's stamp VERSION, GEN. */
static void reg_memo_keep(const struct hgs_node *node, const char *name, long long version,
			  unsigned gen, const struct hgs_tpm_reg *r,
			  const unsigned char key[HL_SHA256_LEN])
{
	struct reg_memo *m;

	if (strlen(name) >= sizeof(m->name))
		return;
	pthread_mutex_lock(&reg_memos_lock);
	m = reg_memo_slot(name);
	m->node = node->serial;
	m->version = version;
	m->gen = gen;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->forced = r->forced;
	m->pinned = r->pinned;
	memcpy(m->key, key, HL_SHA256_LEN);
	memcpy(m->ek_fingerprint, r->ek_fingerprint, sizeof(m->ek_fingerprint));
	memcpy(m->ak_name, r->ak_name, sizeof(m->ak_name));
	pthread_mutex_unlock(&reg_memos_lock);
}

/* What the "Registration" and "EkCertificate" steps of a trace check. */
#define REG_LABEL "the host is registered with this HGS (by its TPM's EK)"
#define EK_LABEL "the EK certificate chains to the TPM vendor CA"

/* Parse R, registered as NAME, as hgs_db_tpm_host_find_name does into *OUT. */
static int tpm_reg_parse(const char *name, const struct hgs_tpm_reg *r, struct hgs_tpm_host **out)
{
	struct hgs_tpm_host *h;

	*out = NULL;
	if (!(h = calloc(1, sizeof(*h))))
		return hl_error("out of memory");
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->host, sizeof(h->host), "%s", r->host);
	snprintf(h->ek_fingerprint, sizeof(h->ek_fingerprint), "%s", r->ek_fingerprint);
	h->forced = r->forced;
	if (hl_key_pub_from_der(r->ek_public.data, r->ek_public.len, &h->ek) < 0 ||
	    (r->ek_cert.len && hl_cert_from_der(r->ek_cert.data, r->ek_cert.len, &h->ek_cert) < 0)) {
		hl_error_wrap("the TPM host '%s' in the store is damaged", name);
		hgs_tpm_host_free(h);
		return -1;
	}
	*out = h;
	return 0;
}

/* The verdict key of registration R checked against BUNDLE (unused when forced). */
static int ek_verdict_key(const struct hgs_tpm_reg *r, const char *bundle,
			  unsigned char key[HL_SHA256_LEN])
{
	unsigned char parts[1 + 3 * HL_SHA256_LEN];

	memset(parts, 0, sizeof(parts));
	parts[0] = r->forced ? 'F' : 'C';
	if (hl_crypto_sha256(r->ek_public.data, r->ek_public.len, parts + 1) < 0 ||
	    hl_crypto_sha256(r->ek_cert.data, r->ek_cert.len, parts + 1 + HL_SHA256_LEN) < 0 ||
	    (!r->forced &&
	     hl_crypto_sha256(bundle, strlen(bundle), parts + 1 + 2 * HL_SHA256_LEN) < 0))
		return -1;
	return hl_crypto_sha256(parts, sizeof(parts), key);
}

/*
 * The range of node clock around NOW in which H's acceptance against BUNDLE
 * holds (see above); -1 (no message) when it cannot be told, and then the
 * acceptance is not remembered.
 */
static int ek_verdict_range(const struct hgs_tpm_host *h, const char *bundle, time_t now,
			    time_t *from, time_t *until)
{
	X509 **certs = NULL, **all = NULL;
	size_t n = 0;
	int rc = -1;

	if (h->forced) {
		*from = (time_t)LLONG_MIN;
		*until = (time_t)LLONG_MAX;
		return 0;
	}
	if (hl_cert_bundle_from_pem(bundle, strlen(bundle), &certs, &n) < 0 ||
	    !(all = calloc(n + 1, sizeof(*all))))
		goto out;
	memcpy(all, certs, n * sizeof(*all));
	all[n] = h->ek_cert;
	rc = hl_cert_validity_stable(all, n + 1, now, from, until);
out:
	if (rc < 0)
		hl_error_clear();
	free(all);
	hl_cert_array_free(certs, n);
	return rc;
}

/* The "Registration" step of a registered host (and "EkCertificate" skipped when FORCED). */
static void trace_registered(struct hgs_trace *t, const char *ek_fingerprint, int forced)
{
	hgs_trace_check(t, "Registration", HGS_TRACE_PASS, REG_LABEL, "EK SHA-256 %.*s...",
			HGS_TRACE_THUMB_SHOWN, ek_fingerprint);
	if (forced)
		hgs_trace_check(t, "EkCertificate", HGS_TRACE_SKIP, EK_LABEL, "the host was added "
				"with --force: its EK is trusted as registered");
}

/* The "EkCertificate" step of an acceptance remembered in ek_verdicts. */
static void trace_ek_remembered(struct hgs_trace *t)
{
	hgs_trace_check(t, "EkCertificate", HGS_TRACE_PASS, EK_LABEL, "the same certificate and "
			"vendor CA were accepted before and no validity changed since");
}

/*
 * check_registration from memo M, without reading the store: 1 accepted
 * (the same steps in trace T as the full check gives), 0 when the
 * acceptance is no longer remembered (the full check decides), -1 error.
 */
static int reg_memo_decide(struct hgs_node *node, const struct reg_memo *m,
			   struct hgs_trace *t)
{
	time_t now = 0;

	if (!m->forced && hgs_node_now(node, &now) < 0)
		return -1;
	if (!ek_verdict_find(m->key, now))
		return 0;
	trace_registered(t, m->ek_fingerprint, m->forced);
	if (!m->forced)
		trace_ek_remembered(t);
	return 1;
}

/*
 * The registration and EK certificate check of /tpm/attest for host NAME,
 * as hgs_db_tpm_host_find_name() then check_ek_cert_now() would decide it,
 * answered from ek_verdicts when it can be: 1 accepted (*PINNED and AK_NAME
 * then say which AK is pinned to NAME, as hgs_db_tpm_ak_pin_get would), 0
 * refused (RES set), -1 on an internal error.  Each decision is a step of
 * trace T ("Registration", "EkCertificate").
 */
static int check_registration(struct hgs_node *node, const char *name, int *pinned,
			      char ak_name[HGS_TPM_NAME_HEX_MAX], struct hgs_result *res,
			      struct hgs_trace *t)
{
	struct hgs_tpm_reg reg;
	struct hgs_tpm_host *h = NULL;
	struct reg_memo m;
	unsigned char key[HL_SHA256_LEN];
	const char *bundle = NULL;
	time_t now = 0, from, until;
	long long version;
	unsigned gen;
	int rc = -1, r, cacheable;

	if (hgs_node_stamp(node, &version, &gen) < 0)
		return -1;
	if (reg_memo_find(node, name, version, gen, &m)) {
		r = reg_memo_decide(node, &m, t);
		if (r != 0) {
			if (r == 1) {
				*pinned = m.pinned;
				memcpy(ak_name, m.ak_name, HGS_TPM_NAME_HEX_MAX);
			}
			return r;
		}
	}
	r = hgs_db_tpm_reg_read(node, name, &reg);
	if (r <= 0) {
		if (r == 0) {
			hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
					"no TPM host named '%s' is registered with this HGS; run "
					"`hgslab hgs add-tpm-host --name %s --platform-identifier FILE` "
					"with the host's platform identifier", name, name);
			hgs_trace_result(t, "Registration", REG_LABEL, res, NULL);
		}
		return r;
	}
	trace_registered(t, reg.ek_fingerprint, reg.forced);
	/* only a forced host or a certificate with a vendor CA can be accepted */
	cacheable = reg.forced;
	if (!reg.forced && reg.ek_cert.len) {
		if (hgs_node_now(node, &now) < 0)
			goto out;
		bundle = reg.bundle;
		cacheable = bundle != NULL;
	}
	if (cacheable) {
		if (ek_verdict_key(&reg, bundle, key) < 0)
			goto out;
		if (ek_verdict_find(key, now)) {
			if (!reg.forced)
				trace_ek_remembered(t);
			reg_memo_keep(node, name, version, gen, &reg, key);
			rc = 1;
			goto out;
		}
	}
	if (tpm_reg_parse(name, &reg, &h) < 0)
		goto out;
	rc = check_ek_cert(h, bundle, now, res);
	if (rc == 1 && cacheable && ek_verdict_range(h, bundle, now, &from, &until) == 0) {
		ek_verdict_keep(key, from, until);
		reg_memo_keep(node, name, version, gen, &reg, key);
	}
	if (rc >= 0 && !reg.forced)
		hgs_trace_result(t, "EkCertificate", EK_LABEL, res, NULL);
out:
	if (rc == 1) {
		*pinned = reg.pinned;
		memcpy(ak_name, reg.ak_name, HGS_TPM_NAME_HEX_MAX);
	}
	hgs_tpm_host_free(h);
	hgs_tpm_reg_release(&reg);
	return rc;
}

/* Set RES to the refusal of an AK other than the one pinned to HOST. */
static void refuse_swapped_ak(struct hgs_result *res, const char *host, const char *pinned,
			      const char *presented)
{
	hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
			"the attestation key presented for '%s' (name %.16s...) is not the one "
			"its TPM proved by credential activation (name %.16s...): the AK-to-EK "
			"binding proven once is pinned; if the host's TPM was cleared, remove "
			"and re-add the host (`hgslab hgs remove-tpm-host` / `add-tpm-host`)",
			host, presented, pinned);
}

/* Reply 200 with object O (taken; NULL: out of memory). */
static int reply_object(struct hl_http_response *resp, json_t *o)
{
	int rc;

	if (!o)
		return hl_error("out of memory");
	rc = hl_http_response_json(resp, 200, o);
	json_decref(o);
	return rc;
}

/* Reply {"activation": "bound", ...} for HOST's pinned AK NAME. */
static int reply_bound(struct hl_http_response *resp, const char *host, const char *name)
{
	return reply_object(resp, json_pack("{s:s, s:s, s:s}", "activation", "bound", "host", host,
					    "ak_name", name));
}

/*
 * Make a credential for AK with H's registered EK, keep the challenge and
 * reply with it.
 */
static int issue_challenge(struct hgs_request *req, const struct hgs_tpm_host *h,
			   const struct hgs_tpm_key *ak, const char *ak_name,
			   const struct field *ak_pub, struct hl_http_response *resp)
{
	unsigned char secret[HGS_TPM_CHALLENGE_SECRET_LEN], id[16];
	struct hl_buf id_object = { 0 }, enc_secret = { 0 };
	struct hgs_tpm_challenge ch;
	json_t *o = NULL;
	char when[32];
	time_t now;
	int rc = -1;

	memset(&ch, 0, sizeof(ch));
	if (hgs_node_now(req->node, &now) < 0 || hl_crypto_random(secret, sizeof(secret)) < 0 ||
	    hl_crypto_random(id, sizeof(id)) < 0 ||
	    hl_crypto_hex_encode(id, sizeof(id), ch.id, sizeof(ch.id)) < 0 ||
	    hl_crypto_sha256(secret, sizeof(secret), ch.secret_sha256) < 0)
		goto out;
	if (hgs_tpm_make_credential(h->ek, ak, secret, sizeof(secret), &id_object,
				    &enc_secret) < 0) {
		hl_error_wrap("cannot make the activation credential for TPM host '%s'", h->name);
		goto out;
	}
	snprintf(ch.host, sizeof(ch.host), "%s", h->name);
	snprintf(ch.ek_fingerprint, sizeof(ch.ek_fingerprint), "%s", h->ek_fingerprint);
	snprintf(ch.ak_name, sizeof(ch.ak_name), "%s", ak_name);
	ch.ak_public.data = ak_pub->data;
	ch.ak_public.len = ak_pub->len;
	ch.expires = now + HGS_TPM_CHALLENGE_LIFETIME_S;
	if (hgs_db_tpm_challenge_add(req->node, &ch, now) < 0)
		goto out;
	hl_labclock_format(ch.expires, when, sizeof(when));
	if (!(o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "activation", "challenge", "host",
			    h->name, "challenge", ch.id, "ak_name", ak_name, "expires", when,
			    "expires_unix", (json_int_t)ch.expires)) ||
	    hl_json_set_base64(o, "id_object", id_object.data, id_object.len) < 0 ||
	    hl_json_set_base64(o, "encrypted_secret", enc_secret.data, enc_secret.len) < 0) {
		hl_error("out of memory");
		goto out;
	}
	rc = hl_http_response_json(resp, 200, o);
out:
	hl_crypto_cleanse(secret, sizeof(secret));
	hl_crypto_cleanse(ch.secret_sha256, sizeof(ch.secret_sha256));
	json_decref(o);
	hl_buf_free(&id_object);
	hl_buf_free(&enc_secret);
	return rc;
}

/* POST /Attestation/v1/tpm/activate: challenge an AK for a registered EK. */
static int route_activate(struct hgs_request *req, struct hl_http_response *resp)
{
	struct hgs_tpm_host *h = NULL;
	struct hgs_tpm_ak_pin *pin = NULL;
	struct hgs_tpm_key *ak = NULL;
	struct field ak_pub = { 0 };
	EVP_PKEY *ek = NULL;
	enum hl_key_type kt;
	char fp[HL_SHA256_HEX_SIZE], name[HGS_TPM_NAME_HEX_MAX];
	struct hgs_result res;
	const char *host, *ek_pem, *check = "Registration", *label = REG_LABEL;
	int rc = -1, r;

	/* 1. the request */
	if (hl_json_get_string(req->body, "host", &host) < 0 ||
	    hl_name_registration("host name", host) < 0 ||
	    hl_json_get_string(req->body, "ek_public", &ek_pem) < 0 ||
	    get_field(req->body, "ak", &ak_pub) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	if (hl_key_pub_from_pem(ek_pem, strlen(ek_pem), &ek) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "field 'ek_public': %s", hl_error_last());
		goto out;
	}
	hgs_trace_amend(req->trace, 0, ": host '%s': EK public key, AK (credential activation)",
			host);
	/* 2. the registration, by EK */
	if (hl_key_fingerprint(ek, fp) < 0)
		goto out;
	r = hgs_db_tpm_host_find_ek(req->node, fp, &h);
	if (r < 0)
		goto out;
	if (!r) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the host's TPM (EK SHA-256 %.16s...) is not registered with this HGS; "
				"run `hgslab hgs add-tpm-host --name %s --platform-identifier FILE` with "
				"the host's platform identifier", fp, host);
		goto decided;
	}
	if (strcmp(h->name, host) != 0) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the TPM presented by '%s' (EK SHA-256 %.16s...) is registered for "
				"host '%s'", host, fp, h->name);
		goto decided;
	}
	check = "EkCertificate";
	label = EK_LABEL;
	r = check_ek_cert_now(req->node, h, &res);
	if (r <= 0) {
		if (r < 0)
			goto out;
		goto decided;
	}
	if (hl_key_type_of(h->ek, &kt) < 0)
		goto out;
	if (kt != HL_KEY_RSA2048) {
		hgs_result_fail(&res, HGS_STATUS_TPM_ERROR, 0,
				"the EK registered for '%s' is a %s key; credential activation here "
				"needs the RSA-2048 EK of the TCG default template", host,
				hl_key_type_name(kt));
		goto decided;
	}
	/* 3. the AK */
	check = "AkAttributes";
	label = "the AK is a TPM-generated restricted signing key";
	if (hgs_tpm_key_parse(ak_pub.data, ak_pub.len, &ak) < 0 ||
	    hgs_tpm_key_check_ak(ak, "the attestation key") < 0) {
		hgs_result_fail(&res, HGS_STATUS_TPM_ERROR, 0, "the AK of '%s' cannot be used: %s",
				host, hl_error_last());
		hl_error_clear();
		goto decided;
	}
	if (key_name_hex(ak, name) < 0)
		goto out;
	/* 4. pinned already? */
	check = "AkPinned";
	label = "no other AK is pinned to the EK";
	r = hgs_db_tpm_ak_pin_get(req->node, h->name, &pin);
	if (r < 0)
		goto out;
	if (r) {
		if (strcmp(pin->ak_name, name) == 0) {
			rc = reply_bound(resp, h->name, name);
			goto out;
		}
		refuse_swapped_ak(&res, host, pin->ak_name, name);
		goto decided;
	}
	/* 5. the challenge */
	rc = issue_challenge(req, h, ak, name, &ak_pub, resp);
	goto out;
decided:
	hgs_trace_result(req->trace, check, label, &res, NULL);
	rc = hgs_attest_finish(req, host, &res, NULL, resp);
out:
	field_free(&ak_pub);
	hgs_tpm_key_free(ak);
	hgs_tpm_ak_pin_free(pin);
	hgs_tpm_host_free(h);
	hl_key_free(ek);
	return rc;
}

/* POST /Attestation/v1/tpm/activate/complete: check the secret, pin the AK. */
static int route_activate_complete(struct hgs_request *req, struct hl_http_response *resp)
{
	struct hgs_tpm_challenge *ch = NULL;
	struct hgs_tpm_ak_pin pin;
	struct field secret = { 0 };
	unsigned char digest[HL_SHA256_LEN];
	struct hgs_result res;
	const char *host, *id, *check = "Challenge";
	time_t now;
	int rc = -1, r;

	memset(&pin, 0, sizeof(pin));
	if (hl_json_get_string(req->body, "host", &host) < 0 ||
	    hl_name_registration("host name", host) < 0 ||
	    hl_json_get_string(req->body, "challenge", &id) < 0 ||
	    get_field(req->body, "secret", &secret) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	if (strlen(id) != HGS_TPM_CHALLENGE_ID_SIZE - 1) {
		rc = hgs_attest_reject(req, resp, 400, "field 'challenge' must be the %d hex "
				       "characters /tpm/activate gave", HGS_TPM_CHALLENGE_ID_SIZE - 1);
		goto out;
	}
	hgs_trace_amend(req->trace, 0, ": host '%s': the secret of challenge %.8s...", host, id);
	r = hgs_db_tpm_challenge_take(req->node, id, &ch);
	if (r < 0)
		goto out;
	if (!r) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the activation challenge '%s' is unknown or was already answered; "
				"start the activation again", id);
		goto decided;
	}
	if (strcmp(ch->host, host) != 0) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the activation challenge '%s' was made for host '%s', not '%s'", id,
				ch->host, host);
		goto decided;
	}
	if (hgs_node_now(req->node, &now) < 0)
		goto out;
	if (now > ch->expires) {
		hgs_result_fail(&res, HGS_STATUS_TRANSIENT_ERROR, 0,
				"the activation challenge expired %lld s ago; start the activation "
				"again", (long long)(now - ch->expires));
		goto decided;
	}
	check = "ActivationSecret";
	if (hl_crypto_sha256(secret.data, secret.len, digest) < 0)
		goto out;
	if (!hl_crypto_ct_equal(digest, ch->secret_sha256, sizeof(digest))) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the answer to the credential activation challenge of '%s' is wrong: "
				"its attestation key was not proven to live in the TPM whose EK is "
				"registered for it", host);
		goto decided;
	}
	snprintf(pin.host, sizeof(pin.host), "%s", ch->host);
	snprintf(pin.ek_fingerprint, sizeof(pin.ek_fingerprint), "%s", ch->ek_fingerprint);
	snprintf(pin.ak_name, sizeof(pin.ak_name), "%s", ch->ak_name);
	pin.ak_public = ch->ak_public;
	pin.pinned = now;
	check = "AkPinned";
	r = hgs_db_tpm_ak_pin_set(req->node, &pin);
	if (r < 0)
		goto out;
	if (!r) {
		struct hgs_tpm_ak_pin *cur = NULL;

		if (hgs_db_tpm_ak_pin_get(req->node, host, &cur) < 0)
			goto out;
		refuse_swapped_ak(&res, host, cur ? cur->ak_name : "?", ch->ak_name);
		hgs_tpm_ak_pin_free(cur);
		goto decided;
	}
	hl_log_info("tpm host '%s': attestation key %.16s... pinned to its EK by credential "
		    "activation", host, ch->ak_name);
	rc = reply_bound(resp, host, ch->ak_name);
	goto out;
decided:
	hgs_trace_result(req->trace, check, "credential activation: the TPM holding the registered EK "
			 "answered the challenge for this AK", &res, NULL);
	rc = hgs_attest_finish(req, host, &res, NULL, resp);
out:
	if (secret.data)
		hl_crypto_cleanse(secret.data, secret.len);
	field_free(&secret);
	hgs_tpm_challenge_free(ch);
	return rc;
}

/*
 * ---- the TCG logs read, remembered by their digest ----
 *
 * A host attests with the log of its current boot every time, and parsing
 * it, checking its must-hash events and replaying it cost OpenSSL a tenth of
 * an attestation (and carrying it, base64 inside the JSON body, as much
 * again in JSON parsing).  Those steps depend on the log's bytes alone (not
 * on the quote, the registration or the policies), so a log that passed them
 * is remembered by the SHA-256 of its bytes, and a host may then send only
 * that digest ("tcglog_sha256"; a node that does not keep the log answers
 * "tcglog_wanted" and the host sends it whole), with its parse, its replay
 * and its boot configuration
 * (hl_wbcl_read, what the policies read of it), shared read-only by
 * reference count; every step that depends on anything else (the quoted
 * PCRs, the policies) runs at every attestation.  Logs that fail are never
 * remembered (one whose boot configuration cannot be read is, without it:
 * the evaluation reads it again and refuses).  A fixed ring of
 * LOG_MEMO_SIZE entries, the oldest replaced; guarded by log_memo_lock.
 */
#define LOG_MEMO_SIZE 32

/* A log that parsed, passed the data checks and replayed. */
struct log_memo {
	unsigned char key[HL_SHA256_LEN];     /* SHA-256 of the log's bytes */
	size_t len;                           /* the log's length in bytes */
	struct hl_tcglog *log;
	struct hl_tcglog_pcrs *pcrs;
	struct hl_wbcl_config config;         /* valid when config_ok */
	int config_ok;
	int refs;                             /* the ring's one and each user's */
};

static struct log_memo *log_memo[LOG_MEMO_SIZE];
static size_t log_memo_next;
static pthread_mutex_t log_memo_lock = PTHREAD_MUTEX_INITIALIZER;

/* Drop a reference to M; NULL-safe. */
static void log_memo_put(struct log_memo *m)
{
	int last;

	if (!m)
		return;
	pthread_mutex_lock(&log_memo_lock);
	last = --m->refs == 0;
	pthread_mutex_unlock(&log_memo_lock);
	if (!last)
		return;
	hl_tcglog_pcrs_free(m->pcrs);
	hl_tcglog_free(m->log);
	free(m);
}

/* A new reference to the remembered log with KEY, or NULL. */
static struct log_memo *log_memo_get(const unsigned char key[HL_SHA256_LEN])
{
	struct log_memo *found = NULL;

	pthread_mutex_lock(&log_memo_lock);
	for (size_t i = 0; i < LOG_MEMO_SIZE && !found; i++) {
		if (log_memo[i] && memcmp(log_memo[i]->key, key, HL_SHA256_LEN) == 0) {
			found = log_memo[i];
			found->refs++;
		}
	}
	pthread_mutex_unlock(&log_memo_lock);
	return found;
}

/*
 * Remember LOG of LEN bytes and PCRS (taken) with KEY; a new reference to
 * the entry, or NULL (both freed).
 */
static struct log_memo *log_memo_add(const unsigned char key[HL_SHA256_LEN], size_t len,
				     struct hl_tcglog *log, struct hl_tcglog_pcrs *pcrs)
{
	struct log_memo *m = calloc(1, sizeof(*m)), *old;

	if (!m) {
		hl_tcglog_pcrs_free(pcrs);
		hl_tcglog_free(log);
		hl_error("out of memory");
		return NULL;
	}
	memcpy(m->key, key, HL_SHA256_LEN);
	m->len = len;
	m->log = log;
	m->pcrs = pcrs;
	m->config_ok = hl_wbcl_read(log, &m->config) == 0;
	if (!m->config_ok)
		hl_error_clear();
	m->refs = 2;
	pthread_mutex_lock(&log_memo_lock);
	old = log_memo[log_memo_next];
	log_memo[log_memo_next] = m;
	log_memo_next = (log_memo_next + 1) % LOG_MEMO_SIZE;
	pthread_mutex_unlock(&log_memo_lock);
	log_memo_put(old);
	return m;
}

/*
 * The fields of an attestation request.  LOG_KEY is the SHA-256 of the TCG
 * log's bytes (sent as "tcglog_sha256", or of the "tcglog" sent), KNOWN a
 * reference to the remembered log with that digest (NULL: TCGLOG holds the
 * bytes sent, or LOG_WANTED says only the digest came and this node does
 * not keep that log), TCGLOG_LEN the log's length in bytes.
 */
struct attest_req {
	const char *host;
	struct field nonce, ak, quote, quote_sig, tcglog, tk, certify, certify_sig;
	unsigned char log_key[HL_SHA256_LEN];
	struct log_memo *known;
	int log_wanted;
	size_t tcglog_len;
};

/* Free R's buffers and its reference to a remembered log. */
static void attest_req_free(struct attest_req *r)
{
	field_free(&r->nonce);
	field_free(&r->ak);
	field_free(&r->quote);
	field_free(&r->quote_sig);
	field_free(&r->tcglog);
	field_free(&r->tk);
	field_free(&r->certify);
	field_free(&r->certify_sig);
	log_memo_put(r->known);
	r->known = NULL;
}

/*
 * Read the TCG log of BODY into R: field "tcglog" (base64 of the log),
 * remembered (R->known) or kept in R->tcglog; or field "tcglog_sha256" (the
 * SHA-256 of the log's bytes in hex), remembered or not (R->log_wanted).
 */
static int attest_req_log(const json_t *body, struct attest_req *r)
{
	const json_t *digest = json_object_get(body, "tcglog_sha256");
	struct hl_buf raw = { NULL, 0 };

	if (digest) {
		if (json_object_get(body, "tcglog"))
			return hl_error("give either 'tcglog' or 'tcglog_sha256', not both");
		if (!json_is_string(digest) ||
		    hl_crypto_hex_decode(json_string_value(digest), &raw) < 0 ||
		    raw.len != HL_SHA256_LEN) {
			hl_buf_free(&raw);
			return hl_error("'tcglog_sha256' must be the SHA-256 of the TCG log, 64 hex "
					"digits");
		}
		memcpy(r->log_key, raw.data, HL_SHA256_LEN);
		hl_buf_free(&raw);
		if ((r->known = log_memo_get(r->log_key)))
			r->tcglog_len = r->known->len;
		else
			r->log_wanted = 1;
		return 0;
	}
	if (get_field(body, "tcglog", &r->tcglog) < 0 ||
	    hl_crypto_sha256(r->tcglog.data, r->tcglog.len, r->log_key) < 0)
		return -1;
	r->tcglog_len = r->tcglog.len;
	r->known = log_memo_get(r->log_key);
	return 0;
}

/* Read the attestation request's fields from BODY into R. */
static int attest_req_read(const json_t *body, struct attest_req *r)
{
	if (hl_json_get_string(body, "host", &r->host) < 0 ||
	    hl_name_registration("host name", r->host) < 0 ||
	    get_field(body, "nonce", &r->nonce) < 0 || get_field(body, "ak", &r->ak) < 0 ||
	    get_field(body, "quote", &r->quote) < 0 ||
	    get_field(body, "quote_signature", &r->quote_sig) < 0 ||
	    attest_req_log(body, r) < 0 ||
	    get_field(body, "transport_key", &r->tk) < 0 ||
	    get_field(body, "certify", &r->certify) < 0 ||
	    get_field(body, "certify_signature", &r->certify_sig) < 0)
		return -1;
	return 0;
}

/* What the "TcgLogReplay" and "TcgLogMatchesQuote" steps of a trace check. */
#define LOG_LABEL "the TCG log parses, its event data match their digests, it replays"
#define MATCH_LABEL "the TCG log's replay matches the PCR digest the TPM quoted"

/*
 * Read the TCG log of R: remembered already (R->known, the reference
 * handed over), or its bytes parse, have a SHA-256 bank, its must-hash
 * events are intact and it replays (then it is remembered by R->log_key).
 * 1 with *OUT (a reference to the remembered log), 0 when refused (RES
 * set), -1 on an internal error.
 */
static int read_log(struct attest_req *r, struct log_memo **out, struct hgs_result *res)
{
	const struct field *raw = &r->tcglog;
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;

	*out = NULL;
	if (r->known) {
		*out = r->known;
		r->known = NULL;
		return 1;
	}
	if (hl_tcglog_parse(raw->data, raw->len, &log) < 0) {
		hgs_result_fail(res, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
				HGS_SUB_TCG_LOG_VERIFICATION, "the TCG log cannot be read: %s",
				hl_error_last());
		goto refused;
	}
	if (hl_tcglog_require_sha256(log) < 0 || hl_tcglog_require_data_ok(log) < 0) {
		hgs_result_fail(res, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
				HGS_SUB_TCG_LOG_VERIFICATION, "%s", hl_error_last());
		goto refused;
	}
	if (hl_tcglog_replay(log, &pcrs) < 0 || !hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256)) {
		hgs_result_fail(res, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
				HGS_SUB_TCG_LOG_VERIFICATION, "the TCG log cannot be replayed: %s",
				pcrs ? "its SHA-256 bank is missing" : hl_error_last());
		goto refused;
	}
	*out = log_memo_add(r->log_key, raw->len, log, pcrs);
	return *out ? 1 : -1;
refused:
	hl_error_clear();
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	return 0;
}

/*
 * Check the TCG log against the verified quote Q: read_log() accepts it,
 * it extends only quoted PCRs and replays to Q's pcrDigest.  1 when genuine
 * (*OUT set: the log and its replay, release with log_memo_put), 0 when
 * refused (RES set), -1 on an internal error.  Steps "TcgLogReplay" and
 * "TcgLogMatchesQuote" of trace T.
 */
static int check_log(struct attest_req *r, const struct hgs_tpm_quote *q,
		     struct log_memo **out, struct hgs_result *res, struct hgs_trace *t)
{
	struct log_memo *m = NULL;
	const struct hl_tcglog_bank *bank;
	uint8_t values[24][HL_SHA256_LEN], digest[HL_SHA256_LEN];
	char list[128];
	uint32_t extra;
	int rc;

	*out = NULL;
	rc = read_log(r, &m, res);
	if (rc == 0)
		hgs_trace_result(t, "TcgLogReplay", LOG_LABEL, res, NULL);
	if (rc <= 0)
		return rc;
	hgs_trace_check(t, "TcgLogReplay", HGS_TRACE_PASS, LOG_LABEL, "%zu events, %zu bytes, "
			"SHA-256 bank", m->log->nevents, m->len);
	rc = 0;
	bank = hl_tcglog_pcrs_bank(m->pcrs, HL_TCGLOG_ALG_SHA256);
	extra = bank->extended & ~q->pcr_mask;
	if (extra) {
		pcr_list(extra, list, sizeof(list));
		hgs_result_fail(res, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
				HGS_SUB_TCG_LOG_VERIFICATION, "the TCG log extends PCR %s, which the "
				"quote does not cover, so those events cannot be verified", list);
		goto refused;
	}
	for (unsigned i = 0; i < 24; i++)
		memcpy(values[i], bank->pcr[i], HL_SHA256_LEN);
	if (hgs_tpm_pcr_digest(q->pcr_mask, values, digest) < 0) {
		rc = -1;
		goto refused;
	}
	if (!hl_crypto_ct_equal(digest, q->pcr_digest, sizeof(digest))) {
		pcr_list(q->pcr_mask, list, sizeof(list));
		hgs_result_fail(res, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
				HGS_SUB_TCG_LOG_VERIFICATION, "the TCG log does not replay to the "
				"quoted PCRs (SHA-256 PCR %s): the log is not the one of the boot "
				"the TPM measured", list);
		goto refused;
	}
	pcr_list(q->pcr_mask, list, sizeof(list));
	hgs_trace_check(t, "TcgLogMatchesQuote", HGS_TRACE_PASS, MATCH_LABEL, "the replay of "
			"SHA-256 PCR %s gives the quoted PCR digest", list);
	*out = m;
	return 1;
refused:
	if (rc == 0) {
		hgs_trace_result(t, "TcgLogMatchesQuote", MATCH_LABEL, res, NULL);
		hl_error_clear();
	}
	log_memo_put(m);
	return rc;
}

/*
 * Answer a request that gave only the digest of a TCG log this node does
 * not keep: {"tcglog_wanted": true, ...}, no decision, nothing recorded.
 */
static int reply_log_wanted(struct hgs_request *req, struct hl_http_response *resp,
			    const char *host)
{
	return reply_object(resp, json_pack("{s:b, s:s, s:s, s:s, s:s}", "tcglog_wanted", 1,
					    "host", host, "node", req->node->config.name, "Node",
					    req->node->node_name, "reason", "this HGS node keeps no "
					    "TCG log with that SHA-256: send the log itself "
					    "('tcglog') with the same nonce"));
}

/* POST /Attestation/v1/tpm/attest. */
static int route_attest(struct hgs_request *req, struct hl_http_response *resp)
{
	struct attest_req r;
	struct hgs_tpm_key *ak = NULL, *tk = NULL;
	struct hgs_policy_set *ps = NULL;
	struct log_memo *log = NULL;
	struct hgs_tpm_quote q;
	struct hgs_result res;
	char name[HGS_TPM_NAME_HEX_MAX], pinned_ak[HGS_TPM_NAME_HEX_MAX], list[128];
	EVP_PKEY *transport = NULL;
	int rc = -1, found, pinned = 0;

	memset(&r, 0, sizeof(r));
	memset(&q, 0, sizeof(q));
	/* 1. the request */
	if (attest_req_read(req->body, &r) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	if (r.log_wanted) {
		/* no decision yet (the nonce stays unused): the host sends the log itself */
		rc = reply_log_wanted(req, resp, r.host);
		goto out;
	}
	hgs_trace_amend(req->trace, 0, ": host '%s': AK, quote over the nonce, TCG log (%zu bytes), "
			"transport key certified by the AK", r.host, r.tcglog_len);
	/* 2. the nonce, before anything else: used up with the log entry whatever follows */
	if (hgs_nonce_check(req->node, req->trace, r.nonce.data, r.nonce.len, &res, &req->nonce) < 0)
		goto out;
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 3. the registration and the EK certificate */
	found = check_registration(req->node, r.host, &pinned, pinned_ak, &res, req->trace);
	if (found <= 0) {
		if (found < 0)
			goto out;
		goto decided;
	}
	/* 4. the AK must be the one pinned to the EK */
	if (hgs_tpm_key_parse(r.ak.data, r.ak.len, &ak) < 0) {
		hgs_result_fail(&res, HGS_STATUS_TPM_ERROR, 0, "the AK of '%s' cannot be read: %s",
				r.host, hl_error_last());
		hl_error_clear();
	} else if (key_name_hex(ak, name) < 0) {
		goto out;
	} else if (!pinned) {
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the attestation key of '%s' was never proven by credential "
				"activation; the host must activate it first "
				"(POST /Attestation/v1/tpm/activate)", r.host);
	} else if (strcmp(pinned_ak, name) != 0) {
		refuse_swapped_ak(&res, r.host, pinned_ak, name);
	}
	hgs_trace_result(req->trace, "AkPinned", "the AK is the one credential activation pinned "
			 "to the EK", &res, "AK name %.*s...", HGS_TRACE_THUMB_SHOWN, name);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 5. the quote and the certified transport key */
	if (hgs_tpm_verify_quote(ak, r.quote.data, r.quote.len, r.quote_sig.data, r.quote_sig.len,
				 r.nonce.data, r.nonce.len, &q) < 0) {
		hgs_result_fail(&res, HGS_STATUS_TPM_ERROR, 0, "the TPM quote of '%s' does not "
				"verify: %s", r.host, hl_error_last());
		hl_error_clear();
	}
	hgs_trace_result(req->trace, "QuoteSignature", "the quote is signed by the pinned AK over "
			 "the nonce", &res, "TPMS_ATTEST of %zu bytes, SHA-256 signature", r.quote.len);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	pcr_list(q.pcr_mask, list, sizeof(list));
	if ((q.pcr_mask & HGS_TPM_REQUIRED_PCRS) != HGS_TPM_REQUIRED_PCRS)
		hgs_result_fail(&res, HGS_STATUS_TPM_ERROR, 0, "the TPM quote of '%s' covers "
				"SHA-256 PCR %s; HGS needs at least PCRs 0-7 and 11-14", r.host, list);
	hgs_trace_result(req->trace, "QuotePcrSelection", "the quote covers PCRs 0-7 and 11-14",
			 &res, "quoted SHA-256 PCR %s", list);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	if (hgs_tpm_key_parse(r.tk.data, r.tk.len, &tk) < 0 ||
	    hgs_tpm_verify_certify(ak, tk, r.certify.data, r.certify.len, r.certify_sig.data,
				   r.certify_sig.len, r.nonce.data, r.nonce.len) < 0) {
		hgs_result_fail(&res, HGS_STATUS_TPM_ERROR, 0, "the transport key of '%s' is not "
				"proven to be TPM-resident: %s", r.host, hl_error_last());
		hl_error_clear();
	}
	hgs_trace_result(req->trace, "TransportKey", "the transport key is TPM-resident, certified "
			 "by the AK over the nonce", &res, NULL);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 6. the TCG log, trusted only through its replay to the quote */
	found = check_log(&r, &q, &log, &res, req->trace);
	if (found <= 0) {
		if (found < 0)
			goto out;
		goto decided;
	}
	/* 7. baselines, CI policies and every enabled Hgs_* policy */
	if (hgs_db_policy_set_load(req->node, &ps) < 0)
		goto out;
	ps->in.log = log->log;
	ps->in.replayed = hl_tcglog_pcrs_bank(log->pcrs, HL_TCGLOG_ALG_SHA256);
	ps->in.config = log->config_ok ? &log->config : NULL;
	ps->in.trace = req->trace;
	if (hgs_policy_evaluate(&ps->in, &res) < 0) {
		hl_log_error("tpm attestation of '%s': %s", r.host, hl_error_last());
		hgs_result_fail(&res, HGS_STATUS_TRANSIENT_ERROR, 0, "HGS could not evaluate its "
				"attestation policies: %s", hl_error_last());
		hl_error_clear();
	}
	transport = tk->pkey;
decided:
	rc = hgs_attest_finish(req, r.host ? r.host : req->host, &res, transport, resp);
out:
	attest_req_free(&r);
	hgs_policy_set_free(ps);
	log_memo_put(log);
	hgs_tpm_key_free(ak);
	hgs_tpm_key_free(tk);
	return rc;
}

const struct hgs_route hgs_tpm_routes[] = {
	{ "POST", "/Attestation/v1/tpm/activate", HGS_MODE_TPM, route_activate },
	{ "POST", "/Attestation/v1/tpm/activate/complete", HGS_MODE_TPM, route_activate_complete },
	{ "POST", "/Attestation/v1/tpm/attest", HGS_MODE_TPM, route_attest },
	{ NULL, NULL, 0, NULL },
};
