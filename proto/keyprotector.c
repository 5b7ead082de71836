/*
 * keyprotector.c - the key protector format (see keyprotector.h and
 * docs/key-protector.md): creating a KP for an owner and its guardians,
 * parsing one strictly, checking the owner's signature, unwrapping the TK,
 * and re-signing after grant or revoke.  The tenant (tenant/cmd_tenant.c)
 * and the Key Protection Service (hgs/kps.c) both go through this file, so
 * the two sides can never disagree on the format.
 *
 * JSON is jansson (through lib/json), crypto is OpenSSL (through lib/crypto).
 * The TK only ever lives in hl_buf buffers that are cleansed when freed, and
 * nothing here touches the file system.
 */
#include "proto/keyprotector.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/json.h"

/* Largest certificate (DER bytes) accepted inside a KP. */
#define KP_CERT_DER_MAX 16384
/* Largest signature accepted (RSA 4096 would be 512 bytes). */
#define KP_SIG_MAX 1024

/*
 * One guardian entry while a KP is being written: everything borrowed from
 * the caller (a parsed KP, a guardian, a fresh wrap).
 */
struct kp_wentry {
	const char *name;
	const char *signing_thumbprint;
	const char *encryption_thumbprint;
	const struct hl_buf *cert_der;      /* the encryption certificate */
	const unsigned char *wrapped;
	size_t wrapped_len;
};

/* What goes into a body besides its entries (the owner's encryption certificate is entry 0's). */
struct kp_head {
	const char *id;
	const char *created;
	const char *owner_name;
	const struct hl_buf *owner_signing_der;
};

/* ---- small checks ---- */

/* 0 when NAME is a valid guardian name for a KP (WHAT names it in the message). */
static int name_check(const char *name, const char *what)
{
	size_t len, i;
	json_t *utf8;

	if (!name || !*name)
		return hl_error("%s is empty: a guardian needs a name", what);
	len = strlen(name);
	utf8 = json_string(name);
	if (!utf8)
		return hl_error("%s is not valid UTF-8", what);
	json_decref(utf8);
	if (len > HL_KP_NAME_MAX)
		return hl_error("%s is %zu bytes long: at most %d are allowed", what, len,
				HL_KP_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return hl_error("%s contains control character 0x%02x", what, c);
	}
	if (name[0] == ' ' || name[len - 1] == ' ')
		return hl_error("%s '%s' has a leading or trailing space", what, name);
	return 0;
}

/* 0 when S is exactly 64 uppercase hex digits. */
static int thumbprint_check(const char *s, const char *what)
{
	size_t i;

	if (strlen(s) != HL_SHA256_HEX_SIZE - 1)
		return hl_error("%s must be %d hex digits, got %zu characters", what,
				HL_SHA256_HEX_SIZE - 1, strlen(s));
	for (i = 0; s[i]; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'A' && s[i] <= 'F'))
			return hl_error("%s must be uppercase hex, found '%c' at %zu", what,
					isprint((unsigned char)s[i]) ? s[i] : '?', i);
	return 0;
}

/* 1 when thumbprints A and B are equal ignoring case. */
static int thumb_eq(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

/* 0 when KEY is RSA 2048 or 3072 (WHAT names it). */
static int rsa_key_check(const EVP_PKEY *key, const char *what)
{
	enum hl_key_type t;

	if (hl_key_type_of(key, &t) < 0)
		return hl_error_wrap("%s", what);
	if (t != HL_KEY_RSA2048 && t != HL_KEY_RSA3072)
		return hl_error("%s is %s: key protectors need RSA 2048 or 3072 keys", what,
				hl_key_type_name(t));
	return 0;
}

/* 0 when CERT holds an RSA 2048/3072 public key (WHAT names it). */
static int cert_rsa_check(const X509 *cert, const char *what)
{
	EVP_PKEY *pub = NULL;
	int rc;

	if (!cert)
		return hl_error("%s is missing", what);
	if (hl_cert_pubkey(cert, &pub) < 0)
		return hl_error_wrap("%s", what);
	rc = rsa_key_check(pub, what);
	hl_key_free(pub);
	return rc;
}

/* 0 when private KEY belongs to CERT (WHAT names the pair). */
static int key_matches_cert(EVP_PKEY *key, const X509 *cert, const char *what)
{
	EVP_PKEY *pub = NULL;
	int eq;

	if (!key)
		return hl_error("%s: the private key is missing", what);
	if (hl_cert_pubkey(cert, &pub) < 0)
		return hl_error_wrap("%s", what);
	eq = hl_key_pub_equal(key, pub);
	hl_key_free(pub);
	if (!eq)
		return hl_error("%s: the private key does not match the certificate", what);
	return 0;
}

/* 0 when CERT is inside its validity period now (WHAT names it). */
static int cert_time_check(const X509 *cert, const char *what)
{
	time_t nb, na, now = time(NULL);
	char when[32];
	struct tm tm;

	if (hl_cert_validity(cert, &nb, &na) < 0)
		return hl_error_wrap("%s", what);
	if (now < nb || now > na) {
		time_t t = now < nb ? nb : na;

		if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
			snprintf(when, sizeof(when), "@%lld", (long long)t);
		return hl_error("%s %s %s; renew it, or give --allow-expired to use it anyway",
				what, now < nb ? "is not valid before" : "expired on", when);
	}
	return 0;
}

/* Check the public side of guardian G before wrapping to it. */
static int guardian_check(const struct hl_kp_guardian *g, unsigned flags)
{
	char what[HL_KP_NAME_MAX + 64];

	if (!g)
		return hl_error("no guardian given");
	if (name_check(g->name, "the guardian name") < 0)
		return -1;
	if (!g->signing_cert || !g->encryption_cert)
		return hl_error("guardian '%s' lacks its signing or encryption certificate",
				g->name);
	snprintf(what, sizeof(what), "guardian '%s''s encryption certificate", g->name);
	if (cert_rsa_check(g->encryption_cert, what) < 0)
		return -1;
	if (!(flags & HL_KP_ALLOW_EXPIRED)) {
		if (cert_time_check(g->encryption_cert, what) < 0)
			return -1;
		snprintf(what, sizeof(what), "guardian '%s''s signing certificate", g->name);
		if (cert_time_check(g->signing_cert, what) < 0)
			return -1;
	}
	return 0;
}

/* Check the owner: name, RSA keys, keys matching their certificates. */
static int owner_check(const struct hl_kp_owner *o)
{
	if (!o)
		return hl_error("no owner guardian given");
	if (name_check(o->name, "the owner's name") < 0)
		return -1;
	if (!o->signing_cert || !o->encryption_cert)
		return hl_error("owner '%s' lacks its signing or encryption certificate", o->name);
	if (!o->signing_key || !o->encryption_key)
		return hl_error("owner '%s' has no private keys here: only a guardian made with "
				"`tenant new-guardian` can own a key protector", o->name);
	if (rsa_key_check(o->signing_key, "the owner's signing key") < 0 ||
	    rsa_key_check(o->encryption_key, "the owner's encryption key") < 0)
		return -1;
	if (key_matches_cert(o->signing_key, o->signing_cert, "owner signing key") < 0 ||
	    key_matches_cert(o->encryption_key, o->encryption_cert, "owner encryption key") < 0)
		return hl_error_wrap("owner '%s'", o->name);
	return 0;
}

/* Wrap TK to CERT's public key into OUT. */
static int wrap_tk(const struct hl_buf *tk, X509 *cert, const char *name, struct hl_buf *out)
{
	EVP_PKEY *pub = NULL;
	int rc;

	if (hl_cert_pubkey(cert, &pub) < 0)
		return hl_error_wrap("cannot wrap the transport key to guardian '%s'", name);
	rc = hl_crypto_oaep_wrap(pub, HL_KP_OAEP_LABEL, HL_KP_OAEP_LABEL_LEN, tk->data, tk->len,
				 out);
	hl_key_free(pub);
	if (rc < 0)
		return hl_error_wrap("cannot wrap the transport key to guardian '%s'", name);
	return 0;
}

/* ---- writing ---- */

/* Add member KEY = DER as base64 to object O. */
static int set_der(json_t *o, const char *key, const struct hl_buf *der)
{
	return hl_json_set_base64(o, key, der->data, der->len);
}

/* The body object of HEAD and the N ENTRIES, or NULL after hl_error(). */
static json_t *kp_body_build(const struct kp_head *head, const struct kp_wentry *entries,
			     size_t n)
{
	json_t *body = json_object(), *owner = json_object(), *arr = json_array(), *e;
	int bad = !body || !owner || !arr;
	size_t i;

	/* json_*_set_new() takes the value even when it fails, so nothing leaks */
	bad = bad || json_object_set_new(owner, "name", json_string(head->owner_name)) < 0 ||
	      set_der(owner, "signing_cert", head->owner_signing_der) < 0;
	for (i = 0; i < n && !bad; i++) {
		e = json_object();
		bad = !e || json_array_append_new(arr, e) < 0 ||
		      json_object_set_new(e, "name", json_string(entries[i].name)) < 0 ||
		      json_object_set_new(e, "signing_thumbprint",
					  json_string(entries[i].signing_thumbprint)) < 0 ||
		      json_object_set_new(e, "encryption_thumbprint",
					  json_string(entries[i].encryption_thumbprint)) < 0 ||
		      set_der(e, "encryption_cert", entries[i].cert_der) < 0 ||
		      hl_json_set_base64(e, "wrapped_tk", entries[i].wrapped,
					 entries[i].wrapped_len) < 0;
	}
	bad = bad || json_object_set_new(body, "id", json_string(head->id)) < 0 ||
	      json_object_set_new(body, "created", json_string(head->created)) < 0 ||
	      json_object_set(body, "owner", owner) < 0 || json_object_set(body, "guardians", arr) < 0;
	json_decref(owner);
	json_decref(arr);
	if (bad) {
		json_decref(body);
		hl_error("cannot build the key protector: out of memory");
		return NULL;
	}
	return body;
}

/* Sign BODY_TEXT with KEY (PS256) into the envelope FORMAT / VERSION, bytes in OUT. */
int hl_kp_envelope_write(const char *format, int version, const char *body_text, EVP_PKEY *key,
			 const char *what, struct hl_buf *out)
{
	struct hl_buf sig = { NULL, 0 };
	char *file_text = NULL;
	json_t *file = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (hl_crypto_sign(key, HL_SIG_RSA_PSS, body_text, strlen(body_text), &sig) < 0) {
		hl_error_wrap("cannot sign %s with the owner's signing key", what);
		goto out;
	}
	file = json_pack("{s:s, s:i, s:s}", "format", format, "version", version, "alg",
			 HL_KP_ALG);
	if (!file) {
		hl_error("cannot build %s: out of memory", what);
		goto out;
	}
	if (hl_json_set_base64(file, "body", body_text, strlen(body_text)) < 0 ||
	    hl_json_set_base64(file, "signature", sig.data, sig.len) < 0 ||
	    hl_json_dump_pretty(file, &file_text) < 0)
		goto out;
	out->data = (unsigned char *)file_text;
	out->len = strlen(file_text);
	rc = 0;
out:
	hl_buf_free(&sig);
	json_decref(file);
	return rc;
}

/*
 * Build the body of HEAD and the N ENTRIES, sign it with SIGNING_KEY and
 * write the whole file into OUT.
 */
static int kp_write(const struct kp_head *head, const struct kp_wentry *entries, size_t n,
		    EVP_PKEY *signing_key, struct hl_buf *out)
{
	char *body_text = NULL;
	json_t *body = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (n == 0 || n > HL_KP_MAX_GUARDIANS) {
		hl_error("a key protector lists 1 to %d guardians, not %zu", HL_KP_MAX_GUARDIANS, n);
		goto out;
	}
	body = kp_body_build(head, entries, n);
	if (!body || hl_json_dump(body, &body_text) < 0)
		goto out;
	rc = hl_kp_envelope_write(HL_KP_FORMAT, HL_KP_VERSION, body_text, signing_key,
				  "the key protector", out);
out:
	free(body_text);
	json_decref(body);
	return rc;
}

/* ---- create ---- */

/* Fill ID with a fresh random id (32 lowercase hex). */
static int new_id(char id[HL_KP_ID_SIZE])
{
	unsigned char raw[16];
	size_t i;

	if (hl_crypto_random(raw, sizeof(raw)) < 0 ||
	    hl_crypto_hex_encode(raw, sizeof(raw), id, HL_KP_ID_SIZE) < 0)
		return -1;
	for (i = 0; id[i]; i++)
		id[i] = (char)tolower((unsigned char)id[i]);
	return 0;
}

/* Create a KP: fresh TK, wrapped to the owner and each guardian, signed. */
int hl_kp_create(const struct hl_kp_owner *owner, const struct hl_kp_guardian *guardians,
		 size_t n_guardians, unsigned flags, struct hl_buf *kp, struct hl_buf *tk)
{
	char id[HL_KP_ID_SIZE], created[32];
	char (*thumbs)[2][HL_SHA256_HEX_SIZE] = NULL;
	struct hl_buf key = { NULL, 0 }, *wraps = NULL, *ders = NULL, sder = { NULL, 0 };
	X509 **certs = NULL;
	struct kp_wentry *ents = NULL;
	struct kp_head head;
	size_t n = n_guardians + 1, i, j;
	time_t now = time(NULL);
	struct tm tm;
	int rc = -1;

	kp->data = NULL;
	kp->len = 0;
	if (tk) {
		tk->data = NULL;
		tk->len = 0;
	}
	if (owner_check(owner) < 0)
		return hl_error_wrap("cannot create a key protector");
	if (n > HL_KP_MAX_GUARDIANS)
		return hl_error("cannot create a key protector for %zu guardians: at most %d, the "
				"owner included", n, HL_KP_MAX_GUARDIANS);
	for (i = 0; i < n_guardians; i++)
		if (guardian_check(&guardians[i], flags) < 0)
			return hl_error_wrap("cannot create a key protector");
	if (!(flags & HL_KP_ALLOW_EXPIRED) &&
	    (cert_time_check(owner->signing_cert, "the owner's signing certificate") < 0 ||
	     cert_time_check(owner->encryption_cert, "the owner's encryption certificate") < 0))
		return hl_error_wrap("cannot create a key protector");

	thumbs = calloc(n, sizeof(*thumbs));
	wraps = calloc(n, sizeof(*wraps));
	ders = calloc(n, sizeof(*ders));
	certs = calloc(n, sizeof(*certs));
	ents = calloc(n, sizeof(*ents));
	if (!thumbs || !wraps || !ders || !certs || !ents) {
		hl_error("cannot create a key protector: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *name = i ? guardians[i - 1].name : owner->name;
		X509 *sc = i ? guardians[i - 1].signing_cert : owner->signing_cert;
		X509 *ec = i ? guardians[i - 1].encryption_cert : owner->encryption_cert;

		if (hl_cert_thumbprint(sc, thumbs[i][0]) < 0 ||
		    hl_cert_thumbprint(ec, thumbs[i][1]) < 0 || hl_cert_to_der(ec, &ders[i]) < 0)
			goto out;
		certs[i] = ec;
		ents[i].name = name;
		ents[i].signing_thumbprint = thumbs[i][0];
		ents[i].encryption_thumbprint = thumbs[i][1];
		ents[i].cert_der = &ders[i];
		for (j = 0; j < i; j++) {
			if (strcmp(ents[j].name, name) == 0) {
				hl_error("cannot create a key protector: guardian '%s' is given twice "
					 "(the owner is always included)", name);
				goto out;
			}
			if (strcmp(ents[j].encryption_thumbprint, thumbs[i][1]) == 0) {
				hl_error("cannot create a key protector: guardians '%s' and '%s' have "
					 "the same encryption certificate %s", ents[j].name, name,
					 thumbs[i][1]);
				goto out;
			}
		}
	}

	if (new_id(id) < 0)
		goto out;
	if (!gmtime_r(&now, &tm) || !strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		hl_error("cannot create a key protector: cannot format the time");
		goto out;
	}
	key.data = malloc(HL_KP_TK_LEN + 1);
	if (!key.data) {
		hl_error("cannot create a key protector: out of memory");
		goto out;
	}
	key.len = HL_KP_TK_LEN;
	key.data[HL_KP_TK_LEN] = '\0';
	if (hl_crypto_random(key.data, key.len) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (wrap_tk(&key, certs[i], ents[i].name, &wraps[i]) < 0)
			goto out;
		ents[i].wrapped = wraps[i].data;
		ents[i].wrapped_len = wraps[i].len;
	}
	head.id = id;
	head.created = created;
	head.owner_name = owner->name;
	if (hl_cert_to_der(owner->signing_cert, &sder) < 0)
		goto out;
	head.owner_signing_der = &sder;
	if (kp_write(&head, ents, n, owner->signing_key, kp) < 0)
		goto out;
	if (tk) {
		*tk = key;
		key.data = NULL;
		key.len = 0;
	}
	rc = 0;
out:
	hl_buf_free(&key);
	for (i = 0; wraps && ders && i < n; i++) {
		hl_buf_free(&wraps[i]);
		hl_buf_free(&ders[i]);
	}
	hl_buf_free(&sder);
	free(wraps);
	free(ders);
	free(certs);
	free(ents);
	free(thumbs);
	return rc;
}

/* ---- parse ---- */

/*
 * Decoding a certificate costs OpenSSL 3 ~0.2 ms (its key goes through the
 * provider decoders), more than the rest of a parse, and a KPS sees the same
 * owners again and again.  Owner signing certificates are therefore kept in
 * a small process-wide cache keyed by the SHA-256 of their DER: a hit hands
 * out a new reference to the same (read-only) X509.  Guarded by a mutex;
 * the least recently used entry is replaced when it is full.
 */
#define KP_CERT_CACHE_SIZE 32

static struct {
	unsigned char md[HL_SHA256_LEN];
	X509 *cert;
	unsigned long used;
} cert_cache[KP_CERT_CACHE_SIZE];
static unsigned long cert_cache_tick;
static pthread_mutex_t cert_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The certificate of DER (whose SHA-256 is MD) into *OUT, from the cache when there. */
static int cert_from_der_cached(const struct hl_buf *der, const unsigned char md[HL_SHA256_LEN],
				X509 **out)
{
	size_t i, victim = 0;
	X509 *cert = NULL, *old = NULL;

	*out = NULL;
	pthread_mutex_lock(&cert_cache_lock);
	for (i = 0; i < KP_CERT_CACHE_SIZE; i++) {
		if (cert_cache[i].cert && memcmp(cert_cache[i].md, md, HL_SHA256_LEN) == 0 &&
		    X509_up_ref(cert_cache[i].cert) == 1) {
			cert_cache[i].used = ++cert_cache_tick;
			*out = cert_cache[i].cert;
			break;
		}
	}
	pthread_mutex_unlock(&cert_cache_lock);
	if (*out)
		return 0;
	if (hl_cert_from_der(der->data, der->len, &cert) < 0)
		return -1;
	pthread_mutex_lock(&cert_cache_lock);
	for (i = 1; i < KP_CERT_CACHE_SIZE; i++)
		if (cert_cache[i].used < cert_cache[victim].used)
			victim = i;
	if (X509_up_ref(cert) == 1) {
		old = cert_cache[victim].cert;
		memcpy(cert_cache[victim].md, md, HL_SHA256_LEN);
		cert_cache[victim].cert = cert;
		cert_cache[victim].used = ++cert_cache_tick;
	}
	pthread_mutex_unlock(&cert_cache_lock);
	X509_free(old);
	*out = cert;
	return 0;
}

/* Copy string member NAME of O (at most SIZE-1 bytes) into BUF. */
static int get_str_into(const json_t *o, const char *name, char *buf, size_t size,
			const char *what)
{
	const char *s;

	if (hl_json_get_string(o, name, &s) < 0)
		return hl_error_wrap("%s", what);
	if (strlen(s) >= size)
		return hl_error("%s: field '%s' is too long (%zu bytes)", what, name, strlen(s));
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

/*
 * Read base64 DER certificate member NAME of O into DER and its thumbprint
 * into THUMB (SHA-256 of the DER, uppercase hex); not decoded.
 */
static int get_der(const json_t *o, const char *name, const char *what, struct hl_buf *der,
		   unsigned char md[HL_SHA256_LEN], char thumb[HL_SHA256_HEX_SIZE])
{
	unsigned char *data = NULL;
	size_t len = 0;

	der->data = NULL;
	der->len = 0;
	if (hl_json_get_base64(o, name, &data, &len) < 0)
		return hl_error_wrap("%s", what);
	if (len < 16 || len > KP_CERT_DER_MAX || data[0] != 0x30) {
		free(data);
		return hl_error("%s: field '%s' is not a DER certificate (%zu bytes)", what, name,
				len);
	}
	if (hl_crypto_sha256(data, len, md) < 0 ||
	    hl_crypto_hex_encode(md, HL_SHA256_LEN, thumb, HL_SHA256_HEX_SIZE) < 0) {
		free(data);
		return -1;
	}
	der->data = data;
	der->len = len;
	return 0;
}

/* 0 when S is 32 lowercase hex digits. */
static int id_check(const char *s)
{
	if (!hl_crypto_hex_is(s, HL_KP_ID_SIZE - 1, 0))
		return hl_error("field 'id' must be 32 lowercase hex digits");
	return 0;
}

/* Parse guardian entry I (JSON object O) into E. */
static int parse_entry(const json_t *o, size_t i, struct hl_kp_entry *e)
{
	static const char *const members[] = { "name", "signing_thumbprint",
					       "encryption_thumbprint", "encryption_cert",
					       "wrapped_tk" };
	char what[64], thumb[HL_SHA256_HEX_SIZE];
	unsigned char *wrapped = NULL, md[HL_SHA256_LEN];
	size_t wrapped_len = 0;

	snprintf(what, sizeof(what), "guardians[%zu]", i);
	if (hl_json_members_exact(o, members, 5, what) < 0)
		return -1;
	if (get_str_into(o, "name", e->name, sizeof(e->name), what) < 0 ||
	    name_check(e->name, "the guardian name") < 0)
		return hl_error_wrap("%s", what);
	if (get_str_into(o, "signing_thumbprint", e->signing_thumbprint,
			 sizeof(e->signing_thumbprint), what) < 0 ||
	    get_str_into(o, "encryption_thumbprint", e->encryption_thumbprint,
			 sizeof(e->encryption_thumbprint), what) < 0)
		return -1;
	if (thumbprint_check(e->signing_thumbprint, "field 'signing_thumbprint'") < 0 ||
	    thumbprint_check(e->encryption_thumbprint, "field 'encryption_thumbprint'") < 0)
		return hl_error_wrap("%s ('%s')", what, e->name);
	if (get_der(o, "encryption_cert", what, &e->encryption_cert_der, md, thumb) < 0)
		return -1;
	if (strcmp(thumb, e->encryption_thumbprint) != 0)
		return hl_error("%s ('%s'): field 'encryption_thumbprint' %s does not match its "
				"encryption certificate (%s)", what, e->name,
				e->encryption_thumbprint, thumb);
	if (hl_json_get_base64(o, "wrapped_tk", &wrapped, &wrapped_len) < 0)
		return hl_error_wrap("%s ('%s')", what, e->name);
	if (wrapped_len != 256 && wrapped_len != 384) {
		free(wrapped);
		return hl_error("%s ('%s'): field 'wrapped_tk' is %zu bytes, not an RSA 2048 or "
				"3072 ciphertext", what, e->name, wrapped_len);
	}
	e->wrapped_tk.data = wrapped;
	e->wrapped_tk.len = wrapped_len;
	return 0;
}

/* Parse the body bytes of KP (already in kp->body) into KP's fields. */
static int parse_body(struct hl_kp *kp)
{
	static const char *const members[] = { "id", "created", "owner", "guardians" };
	static const char *const owner_members[] = { "name", "signing_cert" };
	unsigned char smd[HL_SHA256_LEN];
	char sthumb[HL_SHA256_HEX_SIZE];
	json_t *body = NULL, *owner, *arr;
	size_t i, j, n;
	int rc = -1;

	if (hl_json_parse(kp->body.data, kp->body.len, HL_KP_MAX_SIZE, &body) < 0) {
		hl_error_wrap("the signed body");
		goto out;
	}
	if (hl_json_members_exact(body, members, 4, "the signed body") < 0)
		goto out;
	if (get_str_into(body, "id", kp->id, sizeof(kp->id), "the signed body") < 0 ||
	    id_check(kp->id) < 0)
		goto out;
	if (get_str_into(body, "created", kp->created, sizeof(kp->created), "the signed body") < 0 ||
	    hl_json_time_check(kp->created, "created") < 0)
		goto out;
	owner = json_object_get(body, "owner");
	if (hl_json_members_exact(owner, owner_members, 2, "field 'owner'") < 0)
		goto out;
	if (get_str_into(owner, "name", kp->owner_name, sizeof(kp->owner_name), "field 'owner'") < 0 ||
	    name_check(kp->owner_name, "the owner's name") < 0)
		goto out;
	if (get_der(owner, "signing_cert", "field 'owner'", &kp->owner_signing_cert_der, smd,
		    sthumb) < 0)
		goto out;
	if (cert_from_der_cached(&kp->owner_signing_cert_der, smd, &kp->owner_signing_cert) < 0) {
		hl_error_wrap("field 'owner': field 'signing_cert'");
		goto out;
	}
	if (cert_rsa_check(kp->owner_signing_cert, "the owner's signing certificate") < 0)
		goto out;
	memcpy(kp->owner_signing_thumbprint, sthumb, sizeof(sthumb));

	if (hl_json_get_array(body, "guardians", &arr) < 0)
		goto out;
	n = json_array_size(arr);
	if (n == 0 || n > HL_KP_MAX_GUARDIANS) {
		hl_error("field 'guardians' lists %zu guardians: 1 to %d are allowed", n,
			 HL_KP_MAX_GUARDIANS);
		goto out;
	}
	kp->entries = calloc(n, sizeof(*kp->entries));
	if (!kp->entries) {
		hl_error("out of memory");
		goto out;
	}
	kp->n_entries = n;
	for (i = 0; i < n; i++) {
		if (parse_entry(json_array_get(arr, i), i, &kp->entries[i]) < 0)
			goto out;
		for (j = 0; j < i; j++) {
			if (strcmp(kp->entries[j].name, kp->entries[i].name) == 0) {
				hl_error("guardian '%s' is listed twice", kp->entries[i].name);
				goto out;
			}
			if (strcmp(kp->entries[j].encryption_thumbprint,
				   kp->entries[i].encryption_thumbprint) == 0) {
				hl_error("encryption certificate %s is listed twice",
					 kp->entries[i].encryption_thumbprint);
				goto out;
			}
		}
	}
	if (strcmp(kp->entries[0].name, kp->owner_name) != 0 ||
	    strcmp(kp->entries[0].signing_thumbprint, sthumb) != 0) {
		hl_error("guardians[0] ('%s', signing certificate %s) is not the owner '%s' (%s): "
			 "the owner must come first", kp->entries[0].name,
			 kp->entries[0].signing_thumbprint, kp->owner_name, sthumb);
		goto out;
	}
	memcpy(kp->owner_encryption_thumbprint, kp->entries[0].encryption_thumbprint,
	       HL_SHA256_HEX_SIZE);
	rc = 0;
out:
	json_decref(body);
	return rc;
}

/* Read a signed envelope: format, version, members, alg, body and signature. */
int hl_kp_envelope_read(const void *data, size_t len, size_t max, const char *format,
			int version, const char *noun, struct hl_buf *body, struct hl_buf *sig,
			int *version_err)
{
	static const char *const members[] = { "format", "version", "alg", "body", "signature" };
	unsigned char *b = NULL, *g = NULL;
	size_t b_len = 0, g_len = 0;
	json_t *root = NULL, *v;
	json_int_t got;
	const char *s;
	char what[64];
	int rc = -1;

	body->data = sig->data = NULL;
	body->len = sig->len = 0;
	*version_err = 0;
	if (!data || len == 0) {
		hl_error("the file is empty");
		goto out;
	}
	if (len > max) {
		hl_error("%zu bytes is larger than the %zu allowed", len, max);
		goto out;
	}
	if (hl_json_parse(data, len, max, &root) < 0)
		goto out;
	if (!json_is_object(root)) {
		hl_error("not a JSON object");
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), format) != 0) {
		hl_error("field 'format' must be \"%s\": this is not an hgslab %s", format, noun);
		goto out;
	}
	if (hl_json_get_int(root, "version", &got) < 0)
		goto out;
	if (got != version) {
		hl_error("%s version %lld is not supported; this hgslab reads version %d", noun,
			 (long long)got, version);
		*version_err = 1;
		goto out;
	}
	snprintf(what, sizeof(what), "the %s", noun);
	if (hl_json_members_exact(root, members, 5, what) < 0)
		goto out;
	if (hl_json_get_string(root, "alg", &s) < 0)
		goto out;
	if (strcmp(s, HL_KP_ALG) != 0) {
		hl_error("field 'alg' is \"%.32s\": only \"%s\" is supported", s, HL_KP_ALG);
		goto out;
	}
	if (hl_json_get_base64(root, "body", &b, &b_len) < 0 ||
	    hl_json_get_base64(root, "signature", &g, &g_len) < 0)
		goto out;
	if (g_len == 0 || g_len > KP_SIG_MAX) {
		hl_error("field 'signature' is %zu bytes: not an RSA signature", g_len);
		goto out;
	}
	body->data = b;
	body->len = b_len;
	sig->data = g;
	sig->len = g_len;
	b = g = NULL;
	rc = 0;
out:
	free(b);
	free(g);
	json_decref(root);
	return rc;
}

/* Parse a KP file strictly. */
int hl_kp_parse(const void *data, size_t len, struct hl_kp **out)
{
	struct hl_buf body = { NULL, 0 }, sig = { NULL, 0 };
	struct hl_kp *kp = NULL;
	int rc = -1, version_err = 0;

	*out = NULL;
	if (hl_kp_envelope_read(data, len, HL_KP_MAX_SIZE, HL_KP_FORMAT, HL_KP_VERSION,
				"key protector", &body, &sig, &version_err) < 0)
		goto out;
	kp = calloc(1, sizeof(*kp));
	if (!kp) {
		hl_error("out of memory");
		goto out;
	}
	kp->version = HL_KP_VERSION;
	kp->body = body;
	kp->signature = sig;
	body.data = sig.data = NULL;
	if (parse_body(kp) < 0)
		goto out;
	*out = kp;
	kp = NULL;
	rc = 0;
out:
	if (rc < 0 && !version_err)
		hl_error_wrap("bad key protector");
	hl_buf_free(&body);
	hl_buf_free(&sig);
	hl_kp_free(kp);
	return rc;
}

/* Free a parsed KP. */
void hl_kp_free(struct hl_kp *kp)
{
	size_t i;

	if (!kp)
		return;
	for (i = 0; i < kp->n_entries; i++) {
		hl_buf_free(&kp->entries[i].encryption_cert_der);
		hl_buf_free(&kp->entries[i].wrapped_tk);
	}
	free(kp->entries);
	hl_cert_free(kp->owner_signing_cert);
	hl_buf_free(&kp->owner_signing_cert_der);
	hl_buf_free(&kp->body);
	hl_buf_free(&kp->signature);
	free(kp);
}

/* ---- verify, find, unwrap ---- */

/* Check the owner's signature, optionally pinning the owner. */
int hl_kp_verify(const struct hl_kp *kp, const char *pin_signing_thumbprint)
{
	EVP_PKEY *pub = NULL;
	int rc;

	if (!kp)
		return hl_error("no key protector given");
	if (pin_signing_thumbprint && !thumb_eq(pin_signing_thumbprint, kp->owner_signing_thumbprint))
		return hl_error("key protector %s is signed by owner '%s' (signing certificate %s), "
				"not by the expected owner (signing certificate %s); it was made or "
				"re-signed by someone else", kp->id, kp->owner_name,
				kp->owner_signing_thumbprint, pin_signing_thumbprint);
	if (hl_cert_pubkey(kp->owner_signing_cert, &pub) < 0)
		return hl_error_wrap("cannot verify key protector %s", kp->id);
	rc = hl_crypto_verify(pub, HL_SIG_RSA_PSS, kp->body.data, kp->body.len, kp->signature.data,
			      kp->signature.len);
	hl_key_free(pub);
	if (rc < 0)
		return hl_error("key protector %s: the owner's signature does not verify: the file "
				"was altered or damaged after owner '%s' signed it", kp->id,
				kp->owner_name);
	return 0;
}

/* Entry by encryption thumbprint. */
int hl_kp_find(const struct hl_kp *kp, const char *thumbprint, const struct hl_kp_entry **out)
{
	size_t i;

	*out = NULL;
	if (!kp || !thumbprint)
		return hl_error("no key protector or thumbprint given");
	for (i = 0; i < kp->n_entries; i++) {
		if (thumb_eq(kp->entries[i].encryption_thumbprint, thumbprint)) {
			*out = &kp->entries[i];
			return 0;
		}
	}
	return hl_error("key protector %s does not list a guardian with encryption certificate "
			"%s; the owner can grant access with `tenant grant-key-protector-access`",
			kp->id, thumbprint);
}

/* Entry by name. */
int hl_kp_find_name(const struct hl_kp *kp, const char *name, const struct hl_kp_entry **out)
{
	size_t i;

	*out = NULL;
	if (!kp || !name)
		return hl_error("no key protector or guardian name given");
	for (i = 0; i < kp->n_entries; i++) {
		if (strcmp(kp->entries[i].name, name) == 0) {
			*out = &kp->entries[i];
			return 0;
		}
	}
	return hl_error("key protector %s does not list a guardian named '%s'", kp->id, name);
}

/* Unwrap one entry's TK with the guardian's private key. */
int hl_kp_unwrap_entry(const struct hl_kp_entry *entry, EVP_PKEY *key, struct hl_buf *tk)
{
	struct hl_buf b = { NULL, 0 };

	tk->data = NULL;
	tk->len = 0;
	if (!entry || !key)
		return hl_error("cannot unwrap the transport key: no entry or key given");
	if (hl_crypto_oaep_unwrap(key, HL_KP_OAEP_LABEL, HL_KP_OAEP_LABEL_LEN, entry->wrapped_tk.data,
				  entry->wrapped_tk.len, &b) < 0)
		return hl_error_wrap("cannot unwrap the transport key for guardian '%s'",
				     entry->name);
	if (b.len != HL_KP_TK_LEN) {
		hl_buf_free(&b);
		return hl_error("cannot unwrap the transport key for guardian '%s': it is not %d "
				"bytes long", entry->name, HL_KP_TK_LEN);
	}
	*tk = b;
	return 0;
}

/* Find the entry for ENCRYPTION_CERT and unwrap it with KEY. */
int hl_kp_unwrap(const struct hl_kp *kp, X509 *encryption_cert, EVP_PKEY *key, struct hl_buf *tk)
{
	char thumb[HL_SHA256_HEX_SIZE];
	const struct hl_kp_entry *e;

	tk->data = NULL;
	tk->len = 0;
	if (!encryption_cert)
		return hl_error("cannot unwrap the transport key: no encryption certificate given");
	if (hl_cert_thumbprint(encryption_cert, thumb) < 0 || hl_kp_find(kp, thumb, &e) < 0)
		return -1;
	return hl_kp_unwrap_entry(e, key, tk);
}

/* ---- grant, revoke ---- */

/* Checks shared by grant and revoke: OWNER's keys, and KP signed by OWNER. */
static int owner_of(const struct hl_kp *kp, const struct hl_kp_owner *owner)
{
	char thumb[HL_SHA256_HEX_SIZE];

	if (!kp)
		return hl_error("no key protector given");
	if (owner_check(owner) < 0 || hl_cert_thumbprint(owner->signing_cert, thumb) < 0)
		return -1;
	if (hl_kp_verify(kp, thumb) < 0)
		return -1;
	if (hl_cert_thumbprint(owner->encryption_cert, thumb) < 0)
		return -1;
	if (strcmp(thumb, kp->entries[0].encryption_thumbprint) != 0)
		return hl_error("key protector %s wraps to another encryption certificate of owner "
				"'%s' (%s) than the one given (%s)", kp->id, kp->owner_name,
				kp->entries[0].encryption_thumbprint, thumb);
	return 0;
}

/* Fill W from parsed entry E. */
static void wentry_from(struct kp_wentry *w, const struct hl_kp_entry *e)
{
	w->name = e->name;
	w->signing_thumbprint = e->signing_thumbprint;
	w->encryption_thumbprint = e->encryption_thumbprint;
	w->cert_der = &e->encryption_cert_der;
	w->wrapped = e->wrapped_tk.data;
	w->wrapped_len = e->wrapped_tk.len;
}

/* The head of parsed KP. */
static void head_from(struct kp_head *h, const struct hl_kp *kp)
{
	h->id = kp->id;
	h->created = kp->created;
	h->owner_name = kp->owner_name;
	h->owner_signing_der = &kp->owner_signing_cert_der;
}

/* Grant GUARDIAN access and re-sign. */
int hl_kp_grant(const struct hl_kp *kp, const struct hl_kp_owner *owner,
		const struct hl_kp_guardian *guardian, unsigned flags, struct hl_buf *out)
{
	char sthumb[HL_SHA256_HEX_SIZE], ethumb[HL_SHA256_HEX_SIZE];
	struct hl_buf tk = { NULL, 0 }, wrapped = { NULL, 0 }, der = { NULL, 0 };
	struct kp_wentry *ents = NULL;
	struct kp_head head;
	size_t i;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (owner_of(kp, owner) < 0 || guardian_check(guardian, flags) < 0)
		goto out;
	if (hl_cert_thumbprint(guardian->signing_cert, sthumb) < 0 ||
	    hl_cert_thumbprint(guardian->encryption_cert, ethumb) < 0 ||
	    hl_cert_to_der(guardian->encryption_cert, &der) < 0)
		goto out;
	for (i = 0; i < kp->n_entries; i++) {
		if (strcmp(kp->entries[i].name, guardian->name) == 0 ||
		    strcmp(kp->entries[i].encryption_thumbprint, ethumb) == 0) {
			hl_error("guardian '%s' already has access (as '%s', encryption certificate "
				 "%s)", guardian->name, kp->entries[i].name,
				 kp->entries[i].encryption_thumbprint);
			goto out;
		}
	}
	if (kp->n_entries + 1 > HL_KP_MAX_GUARDIANS) {
		hl_error("the key protector already lists %d guardians, the most allowed",
			 HL_KP_MAX_GUARDIANS);
		goto out;
	}
	if (hl_kp_unwrap_entry(&kp->entries[0], owner->encryption_key, &tk) < 0 ||
	    wrap_tk(&tk, guardian->encryption_cert, guardian->name, &wrapped) < 0)
		goto out;
	ents = calloc(kp->n_entries + 1, sizeof(*ents));
	if (!ents) {
		hl_error("out of memory");
		goto out;
	}
	for (i = 0; i < kp->n_entries; i++)
		wentry_from(&ents[i], &kp->entries[i]);
	ents[i].name = guardian->name;
	ents[i].signing_thumbprint = sthumb;
	ents[i].encryption_thumbprint = ethumb;
	ents[i].cert_der = &der;
	ents[i].wrapped = wrapped.data;
	ents[i].wrapped_len = wrapped.len;
	head_from(&head, kp);
	if (kp_write(&head, ents, kp->n_entries + 1, owner->signing_key, out) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot grant guardian '%s' access to key protector %s",
			      guardian && guardian->name ? guardian->name : "?", kp ? kp->id : "?");
	hl_buf_free(&tk);
	hl_buf_free(&wrapped);
	hl_buf_free(&der);
	free(ents);
	return rc;
}

/* Revoke the guardian with encryption THUMBPRINT and re-sign. */
int hl_kp_revoke(const struct hl_kp *kp, const struct hl_kp_owner *owner, const char *thumbprint,
		 struct hl_buf *out)
{
	const struct hl_kp_entry *victim = NULL;
	struct kp_wentry *ents = NULL;
	struct kp_head head;
	size_t i, n = 0;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (owner_of(kp, owner) < 0 || hl_kp_find(kp, thumbprint, &victim) < 0)
		goto out;
	if (victim == &kp->entries[0]) {
		hl_error("'%s' is the owner: the owner cannot be revoked (make a new key protector "
			 "for another owner instead)", victim->name);
		goto out;
	}
	ents = calloc(kp->n_entries, sizeof(*ents));
	if (!ents) {
		hl_error("out of memory");
		goto out;
	}
	for (i = 0; i < kp->n_entries; i++)
		if (&kp->entries[i] != victim)
			wentry_from(&ents[n++], &kp->entries[i]);
	head_from(&head, kp);
	if (kp_write(&head, ents, n, owner->signing_key, out) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot revoke access to key protector %s", kp ? kp->id : "?");
	free(ents);
	return rc;
}

/* ---- fingerprint ---- */

/* SHA-256 over the domain string, its NUL and the TK, as hex. */
int hl_kp_tk_fingerprint(const void *tk, size_t len, char out[HL_SHA256_HEX_SIZE])
{
	unsigned char buf[sizeof(HL_KP_TK_FP_DOMAIN) + 64], md[HL_SHA256_LEN];
	int rc;

	out[0] = '\0';
	if (!tk || len == 0 || len > 64)
		return hl_error("cannot fingerprint a transport key of %zu bytes", len);
	memcpy(buf, HL_KP_TK_FP_DOMAIN, sizeof(HL_KP_TK_FP_DOMAIN));
	memcpy(buf + sizeof(HL_KP_TK_FP_DOMAIN), tk, len);
	rc = hl_crypto_sha256(buf, sizeof(HL_KP_TK_FP_DOMAIN) + len, md);
	hl_crypto_cleanse(buf, sizeof(buf));
	if (rc == 0)
		rc = hl_crypto_hex_encode(md, sizeof(md), out, HL_SHA256_HEX_SIZE);
	hl_crypto_cleanse(md, sizeof(md));
	return rc;
}
