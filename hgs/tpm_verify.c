/*
 * tpm_verify.c - the HGS half of TPM attestation, in software (see
 * tpm_verify.h): parse TPM public areas into OpenSSL keys (lib/tpm) and TPM names,
 * check the attributes of attestation and transport keys, compute
 * TPM2_MakeCredential for credential activation, and verify quotes and
 * TPM2_Certify results.
 *
 * The attestation service (hgs/attest_tpm) calls this for each step of
 * DESIGN.md flow 3; the guarded host's side is hosts/tpm_host.  TPM
 * structures are marshalled and unmarshalled with libtss2-mu only; every
 * cryptographic operation is OpenSSL's (lib/crypto, EVP_KDF "KBKDF" for
 * KDFa, EVP_MAC "HMAC", EVP_aes_128_cfb128).  Parsed structures must marshal
 * back to the exact bytes received, so what is checked is what was signed.
 * EK certificates are checked against the TPM vendor CA bundle with
 * lib/crypto's hl_cert_verify_bundle.
 */
#include "hgs/tpm_verify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "lib/err.h"
#include "lib/tpm.h"

/* Size of the seed MakeCredential draws: the EK nameAlg's digest (SHA-256). */
#define SEED_LEN 32

/* AES-128 key for the credential's inner wrapper (default EK template). */
#define SYM_KEY_LEN 16

/* ---- helpers ---- */

/* The first queued OpenSSL error as text in BUF (and the queue emptied). */
static const char *ossl_why(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, size);
	else
		snprintf(buf, size, "no detail from openssl");
	ERR_clear_error();
	return buf;
}

/* lib/crypto's digest for TPM hash algorithm ALG; -1 (no message) when unsupported. */
static int tpm_digest_alg(TPMI_ALG_HASH alg, enum hl_digest *out)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		*out = HL_DIGEST_SHA1;
		return 0;
	case TPM2_ALG_SHA256:
		*out = HL_DIGEST_SHA256;
		return 0;
	case TPM2_ALG_SHA384:
		*out = HL_DIGEST_SHA384;
		return 0;
	default:
		return -1;
	}
}

/* ---- public areas, keys and names ---- */

/* The TPM name of public area P: nameAlg || H(nameAlg, TPMT_PUBLIC marshalled). */
static int tpm_name(const TPMT_PUBLIC *p, TPM2B_NAME *out)
{
	uint8_t area[sizeof(TPMT_PUBLIC)];
	size_t area_len = 0, off = 0;
	enum hl_digest alg;
	TSS2_RC rc;
	int n;

	if (tpm_digest_alg(p->nameAlg, &alg) < 0)
		return hl_error("tpm public area has name algorithm 0x%04x (%s); only sha1, "
				"sha256 and sha384 are supported", p->nameAlg,
				hl_tpm_alg_name(p->nameAlg));
	rc = Tss2_MU_TPMT_PUBLIC_Marshal(p, area, sizeof(area), &area_len);
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_MU_UINT16_Marshal(p->nameAlg, out->name, sizeof(out->name), &off);
	if (rc != TSS2_RC_SUCCESS)
		return hl_error("cannot compute tpm name: marshalling failed: %s",
				Tss2_RC_Decode(rc));
	n = hl_crypto_digest(alg, area, area_len, out->name + off);
	if (n < 0)
		return -1;
	out->size = (UINT16)(off + (size_t)n);
	return 0;
}

/*
 * ---- parsed public areas, remembered by their bytes ----
 *
 * Building an OpenSSL key from a public area costs OpenSSL 3 a good part of
 * a verification, and a host sends the same AK and transport key at every
 * attestation.  A public area that parsed is remembered with its bytes (the
 * key: parsing is a function of them alone, so a hit gives exactly what a
 * parse would) and its public key, shared by reference (an EVP_PKEY is
 * read-only once built).  Refused input is never remembered.  A table of
 * KEY_MEMO_SIZE slots indexed by a hash of the bytes (a key replaces the one
 * in its slot): a lookup costs the same with a thousand hosts' AKs and
 * transport keys as with ten; guarded by key_memo_lock.
 */
#define KEY_MEMO_SIZE 4096

struct key_memo {
	uint8_t bytes[sizeof(TPM2B_PUBLIC)];
	size_t len;                       /* 0: empty slot */
	struct hgs_tpm_key key;           /* pub, name and a reference to pkey */
};

static struct key_memo key_memo[KEY_MEMO_SIZE];
static pthread_mutex_t key_memo_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of BUF (LEN bytes; FNV-1a). */
static struct key_memo *key_memo_slot(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return &key_memo[h % KEY_MEMO_SIZE];
}

/* A copy of the remembered parse of BUF (LEN bytes) into *OUT: 1, or 0 when none. */
static int key_memo_find(const void *buf, size_t len, struct hgs_tpm_key **out)
{
	struct hgs_tpm_key *k = NULL;
	struct key_memo *m;

	*out = NULL;
	if (len > sizeof(key_memo[0].bytes))
		return 0;
	m = key_memo_slot(buf, len);
	pthread_mutex_lock(&key_memo_lock);
	if (m->len == len && memcmp(m->bytes, buf, len) == 0) {
		if ((k = malloc(sizeof(*k))) && EVP_PKEY_up_ref(m->key.pkey) == 1) {
			*k = m->key;
			hl_verifier_up_ref(k->vr);
		} else {
			free(k);
			k = NULL;
		}
	}
	pthread_mutex_unlock(&key_memo_lock);
	*out = k;
	return k != NULL;
}

/* Remember K, parsed from BUF (LEN bytes). */
static void key_memo_keep(const void *buf, size_t len, const struct hgs_tpm_key *k)
{
	struct key_memo *m;

	if (len > sizeof(key_memo[0].bytes) || EVP_PKEY_up_ref(k->pkey) != 1)
		return;
	m = key_memo_slot(buf, len);
	pthread_mutex_lock(&key_memo_lock);
	if (m->len) {
		hl_key_free(m->key.pkey);
		hl_verifier_free(m->key.vr);
	}
	memcpy(m->bytes, buf, len);
	m->len = len;
	m->key = *k;
	hl_verifier_up_ref(k->vr);
	pthread_mutex_unlock(&key_memo_lock);
}

static void key_sig_scheme(const TPMT_PUBLIC *p, TPM2_ALG_ID *scheme, TPM2_ALG_ID *hash);

/* The lib scheme of a TPM signing scheme with SHA-256 (what verify_signature accepts), else DEFAULT. */
static enum hl_sig_scheme lib_scheme(TPM2_ALG_ID scheme, TPM2_ALG_ID hash)
{
	if (hash != TPM2_ALG_SHA256)
		return HL_SIG_DEFAULT;
	switch (scheme) {
	case TPM2_ALG_RSASSA:
		return HL_SIG_RSA_PKCS1;
	case TPM2_ALG_RSAPSS:
		return HL_SIG_RSA_PSS;
	case TPM2_ALG_ECDSA:
		return HL_SIG_ECDSA;
	default:
		return HL_SIG_DEFAULT;
	}
}

/* K's prepared check when K signs under a scheme verify_signature accepts (else vr stays NULL). */
static void key_verifier(struct hgs_tpm_key *k)
{
	TPM2_ALG_ID scheme, hash;
	enum hl_sig_scheme s;

	key_sig_scheme(&k->pub.publicArea, &scheme, &hash);
	s = lib_scheme(scheme, hash);
	if (s != HL_SIG_DEFAULT && hl_verifier_new(k->pkey, s, &k->vr) < 0)
		hl_error_clear();   /* each check then sets its own up */
}

int hgs_tpm_key_parse(const void *buf, size_t len, struct hgs_tpm_key **out)
{
	struct hgs_tpm_key *k = NULL;
	uint8_t again[sizeof(TPM2B_PUBLIC)];
	size_t off = 0, again_len = 0;
	TSS2_RC rc;
	int ret = -1;

	*out = NULL;
	if (!buf || len == 0)
		return hl_error("tpm public area is empty; expected a marshalled TPM2B_PUBLIC");
	if (key_memo_find(buf, len, out))
		return 0;
	k = calloc(1, sizeof(*k));
	if (!k)
		return hl_error("cannot parse tpm public area: out of memory");
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &k->pub);
	if (rc != TSS2_RC_SUCCESS) {
		hl_error("tpm public area of %zu bytes is not a valid TPM2B_PUBLIC: %s", len,
			 Tss2_RC_Decode(rc));
		goto out;
	}
	if (off != len) {
		hl_error("tpm public area has %zu trailing bytes after its TPM2B_PUBLIC",
			 len - off);
		goto out;
	}
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&k->pub, again, sizeof(again), &again_len);
	if (rc != TSS2_RC_SUCCESS || again_len != len || memcmp(again, buf, len) != 0) {
		hl_error("tpm public area is not canonically encoded (its size field does not "
			 "match its content)");
		goto out;
	}
	if (hl_tpm_public_key(&k->pub.publicArea, &k->pkey) < 0 ||
	    tpm_name(&k->pub.publicArea, &k->name) < 0) {
		hl_error_wrap("tpm public area");
		goto out;
	}
	key_verifier(k);
	key_memo_keep(buf, len, k);
	*out = k;
	k = NULL;
	ret = 0;
out:
	hgs_tpm_key_free(k);
	return ret;
}

void hgs_tpm_key_free(struct hgs_tpm_key *k)
{
	if (!k)
		return;
	hl_verifier_free(k->vr);
	hl_key_free(k->pkey);
	free(k);
}

int hgs_tpm_key_pem(const struct hgs_tpm_key *k, struct hl_buf *out)
{
	return hl_key_pub_to_pem(k->pkey, out);
}

/* The signing scheme and its hash fixed in public area P (TPM2_ALG_NULL when none). */
static void key_sig_scheme(const TPMT_PUBLIC *p, TPM2_ALG_ID *scheme, TPM2_ALG_ID *hash)
{
	*scheme = *hash = TPM2_ALG_NULL;
	if (p->type == TPM2_ALG_RSA) {
		*scheme = p->parameters.rsaDetail.scheme.scheme;
		*hash = p->parameters.rsaDetail.scheme.details.anySig.hashAlg;
	} else if (p->type == TPM2_ALG_ECC) {
		*scheme = p->parameters.eccDetail.scheme.scheme;
		*hash = p->parameters.eccDetail.scheme.details.anySig.hashAlg;
	}
}

int hgs_tpm_key_check_ak(const struct hgs_tpm_key *k, const char *what)
{
	TPMA_OBJECT a = k->pub.publicArea.objectAttributes;
	TPM2_ALG_ID type = k->pub.publicArea.type, scheme, hash;

	key_sig_scheme(&k->pub.publicArea, &scheme, &hash);

	if (!what)
		what = "attestation key";
	if (!(a & TPMA_OBJECT_SIGN_ENCRYPT) || (a & TPMA_OBJECT_DECRYPT))
		return hl_error("%s is not a signing-only key (attributes 0x%08x); an attestation "
				"key must sign and not decrypt", what, (unsigned)a);
	if (!(a & TPMA_OBJECT_RESTRICTED))
		return hl_error("%s is not restricted (attributes 0x%08x): the TPM would sign "
				"any data with it, so its quotes prove nothing; create the AK "
				"as a restricted signing key", what, (unsigned)a);
	if (!(a & TPMA_OBJECT_FIXEDTPM))
		return hl_error("%s is not fixedTPM (attributes 0x%08x): it may exist outside "
				"the TPM", what, (unsigned)a);
	if (!(a & TPMA_OBJECT_SENSITIVEDATAORIGIN))
		return hl_error("%s was not generated by the TPM (sensitiveDataOrigin clear, "
				"attributes 0x%08x)", what, (unsigned)a);
	if (!((type == TPM2_ALG_RSA && (scheme == TPM2_ALG_RSASSA || scheme == TPM2_ALG_RSAPSS)) ||
	      (type == TPM2_ALG_ECC && scheme == TPM2_ALG_ECDSA)))
		return hl_error("%s has signing scheme %s for a %s key; hgslab accepts rsassa or "
				"rsapss (rsa) and ecdsa (ecc)", what, hl_tpm_alg_name(scheme),
				hl_tpm_alg_name(type));
	if (hash != TPM2_ALG_SHA256)
		return hl_error("%s signs with %s; hgslab accepts sha256 only", what,
				hl_tpm_alg_name(hash));
	return 0;
}

int hgs_tpm_key_check_transport(const struct hgs_tpm_key *k, const char *what)
{
	const TPMT_PUBLIC *p = &k->pub.publicArea;
	TPMA_OBJECT a = p->objectAttributes;
	const TPMT_RSA_SCHEME *s = &p->parameters.rsaDetail.scheme;
	static const struct {
		TPMA_OBJECT bit;
		int want;
		const char *why;
	} rules[] = {
		{ TPMA_OBJECT_FIXEDTPM, 1, "is not fixedTPM: it may exist outside the TPM" },
		{ TPMA_OBJECT_FIXEDPARENT, 1, "is not fixedParent: it may be duplicated" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, 1, "was not generated by the TPM "
		  "(sensitiveDataOrigin clear): its private key may be known outside it" },
		{ TPMA_OBJECT_DECRYPT, 1, "is not a decryption key" },
		{ TPMA_OBJECT_SIGN_ENCRYPT, 0, "is also a signing key" },
		{ TPMA_OBJECT_RESTRICTED, 0, "is restricted: TPM2_RSA_Decrypt cannot use it" },
	};
	size_t i;

	if (!what)
		what = "transport key";
	if (p->type != TPM2_ALG_RSA)
		return hl_error("%s is a %s key; it must be rsa so that key protection can wrap "
				"to it with rsa-oaep", what, hl_tpm_alg_name(p->type));
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!!(a & rules[i].bit) != rules[i].want)
			return hl_error("%s %s (attributes 0x%08x)", what, rules[i].why,
					(unsigned)a);
	if (s->scheme != TPM2_ALG_NULL &&
	    !(s->scheme == TPM2_ALG_OAEP && s->details.oaep.hashAlg == TPM2_ALG_SHA256))
		return hl_error("%s is fixed to scheme %s/%s; it must allow rsa-oaep with sha256",
				what, hl_tpm_alg_name(s->scheme),
				hl_tpm_alg_name(s->details.anySig.hashAlg));
	return 0;
}

/* ---- KDFa and MakeCredential ---- */

int hgs_tpm_kdfa_sha256(const void *key, size_t key_len, const char *label,
			const void *context, size_t context_len, void *out, size_t out_len)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[7], *p = params;
	char why[256];
	int ret = -1;

	if (!key_len || !out_len || !label)
		return hl_error("cannot derive tpm kdfa key: empty key, label or output");
	ERR_clear_error();
	kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!ctx) {
		hl_error("cannot derive tpm kdfa key: openssl has no kbkdf: %s",
			 ossl_why(why, sizeof(why)));
		goto out;
	}
	/* counter mode, 32-bit counter first, label || 0x00 || context || [L]32 (defaults) */
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label,
						  strlen(label));
	if (context_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)context,
							  context_len);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) != 1) {
		hl_error("cannot derive tpm kdfa key '%s': %s", label, ossl_why(why, sizeof(why)));
		goto out;
	}
	ret = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

/* AES-128-CFB (full-block feedback, zero IV) of LEN bytes IN into OUT. */
static int aes128_cfb_encrypt(const uint8_t key[SYM_KEY_LEN], const uint8_t *in, size_t len,
			      uint8_t *out)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ret = -1;
	char why[256];

	ERR_clear_error();
	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_128_cfb128(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len) {
		hl_error("cannot encrypt credential with aes-128-cfb: %s",
			 ossl_why(why, sizeof(why)));
		goto out;
	}
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* HMAC-SHA-256 with KEY over A || B into OUT. */
static int hmac_sha256(const uint8_t *key, size_t key_len, const void *a, size_t a_len,
		       const void *b, size_t b_len, uint8_t out[HL_SHA256_LEN])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t n = 0;
	char why[256];
	int ret = -1;

	ERR_clear_error();
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (!ctx || EVP_MAC_init(ctx, key, key_len, params) != 1 ||
	    EVP_MAC_update(ctx, a, a_len) != 1 || EVP_MAC_update(ctx, b, b_len) != 1 ||
	    EVP_MAC_final(ctx, out, &n, HL_SHA256_LEN) != 1 || n != HL_SHA256_LEN) {
		hl_error("cannot compute credential hmac: %s", ossl_why(why, sizeof(why)));
		goto out;
	}
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ret;
}

/* Check that NAME (NAME_LEN bytes) is alg id || digest of that algorithm. */
static int check_name(const void *name, size_t name_len)
{
	TPM2_ALG_ID alg = 0;
	enum hl_digest d;
	size_t off = 0;

	if (!name || Tss2_MU_UINT16_Unmarshal(name, name_len, &off, &alg) != TSS2_RC_SUCCESS)
		return hl_error("tpm name of %zu bytes is too short", name_len);
	if (tpm_digest_alg(alg, &d) < 0 || name_len != off + hl_crypto_digest_len(d))
		return hl_error("tpm name of %zu bytes is not a name algorithm (sha1, sha256, "
				"sha384) followed by its digest", name_len);
	return 0;
}

int hgs_tpm_make_credential_name(EVP_PKEY *ek, const void *name, size_t name_len,
				 const void *secret, size_t secret_len, struct hl_buf *id_object,
				 struct hl_buf *enc_secret)
{
	uint8_t seed[SEED_LEN], sym[SYM_KEY_LEN], hkey[HL_SHA256_LEN], hmac[HL_SHA256_LEN];
	uint8_t plain[sizeof(TPM2B_DIGEST)], enc[sizeof(TPM2B_DIGEST)];
	uint8_t id_out[sizeof(TPM2B_ID_OBJECT)], es_out[sizeof(TPM2B_ENCRYPTED_SECRET)];
	size_t plain_len = 0, id_len = 0, es_len = 0, off = 0;
	struct hl_buf wrapped = { NULL, 0 }, id = { NULL, 0 };
	TPM2B_DIGEST cred, outer;
	TPM2B_ID_OBJECT idobj;
	TPM2B_ENCRYPTED_SECRET es;
	enum hl_key_type type;
	TSS2_RC rc;
	int ret = -1;

	id_object->data = enc_secret->data = NULL;
	id_object->len = enc_secret->len = 0;
	memset(&cred, 0, sizeof(cred));
	memset(&idobj, 0, sizeof(idobj));
	if (!secret || secret_len == 0 || secret_len > HGS_TPM_CREDENTIAL_MAX)
		return hl_error("cannot make credential: the secret must be 1 to %d bytes, not %zu",
				HGS_TPM_CREDENTIAL_MAX, secret_len);
	if (check_name(name, name_len) < 0)
		return hl_error_wrap("cannot make credential");
	if (!ek || hl_key_type_of(ek, &type) < 0 || type != HL_KEY_RSA2048)
		return hl_error("cannot make credential: the endorsement key must be rsa-2048 "
				"(default ek template)");

	/* the seed, wrapped to the EK */
	if (hl_crypto_random(seed, sizeof(seed)) < 0 ||
	    hl_crypto_oaep_wrap(ek, HGS_TPM_IDENTITY_LABEL, sizeof(HGS_TPM_IDENTITY_LABEL), seed,
				sizeof(seed), &wrapped) < 0)
		goto fail;
	if (wrapped.len > sizeof(es.secret)) {
		hl_error("wrapped seed of %zu bytes does not fit a TPM2B_ENCRYPTED_SECRET",
			 wrapped.len);
		goto fail;
	}

	/* encIdentity = AES-128-CFB(KDFa(seed, "STORAGE", name), TPM2B_DIGEST(secret)) */
	cred.size = (UINT16)secret_len;
	memcpy(cred.buffer, secret, secret_len);
	rc = Tss2_MU_TPM2B_DIGEST_Marshal(&cred, plain, sizeof(plain), &plain_len);
	if (rc != TSS2_RC_SUCCESS) {
		hl_error("cannot marshal credential: %s", Tss2_RC_Decode(rc));
		goto fail;
	}
	if (hgs_tpm_kdfa_sha256(seed, sizeof(seed), "STORAGE", name, name_len, sym,
				sizeof(sym)) < 0 ||
	    aes128_cfb_encrypt(sym, plain, plain_len, enc) < 0)
		goto fail;

	/* outerHMAC = HMAC(KDFa(seed, "INTEGRITY"), encIdentity || name) */
	if (hgs_tpm_kdfa_sha256(seed, sizeof(seed), "INTEGRITY", NULL, 0, hkey,
				sizeof(hkey)) < 0 ||
	    hmac_sha256(hkey, sizeof(hkey), enc, plain_len, name, name_len, hmac) < 0)
		goto fail;

	/* TPMS_ID_OBJECT = TPM2B_DIGEST(outerHMAC) || encIdentity, as a TPM2B_ID_OBJECT */
	outer.size = sizeof(hmac);
	memcpy(outer.buffer, hmac, sizeof(hmac));
	rc = Tss2_MU_TPM2B_DIGEST_Marshal(&outer, idobj.credential, sizeof(idobj.credential),
					  &off);
	if (rc != TSS2_RC_SUCCESS || off + plain_len > sizeof(idobj.credential)) {
		hl_error("cannot marshal credential hmac: %s", Tss2_RC_Decode(rc));
		goto fail;
	}
	memcpy(idobj.credential + off, enc, plain_len);
	idobj.size = (UINT16)(off + plain_len);
	es.size = (UINT16)wrapped.len;
	memcpy(es.secret, wrapped.data, wrapped.len);
	rc = Tss2_MU_TPM2B_ID_OBJECT_Marshal(&idobj, id_out, sizeof(id_out), &id_len);
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&es, es_out, sizeof(es_out), &es_len);
	if (rc != TSS2_RC_SUCCESS) {
		hl_error("cannot marshal credential blob: %s", Tss2_RC_Decode(rc));
		goto fail;
	}
	if (hl_buf_set(&id, id_out, id_len) < 0 || hl_buf_set(enc_secret, es_out, es_len) < 0)
		goto fail;
	*id_object = id;
	id.data = NULL;
	ret = 0;
	goto out;
fail:
	hl_error_wrap("cannot make credential");
out:
	hl_buf_free(&id);
	hl_buf_free(&wrapped);
	hl_crypto_cleanse(seed, sizeof(seed));
	hl_crypto_cleanse(sym, sizeof(sym));
	hl_crypto_cleanse(hkey, sizeof(hkey));
	hl_crypto_cleanse(plain, sizeof(plain));
	hl_crypto_cleanse(&cred, sizeof(cred));
	return ret;
}

int hgs_tpm_make_credential(EVP_PKEY *ek, const struct hgs_tpm_key *ak, const void *secret,
			    size_t secret_len, struct hl_buf *id_object, struct hl_buf *enc_secret)
{
	id_object->data = enc_secret->data = NULL;
	id_object->len = enc_secret->len = 0;
	if (hgs_tpm_key_check_ak(ak, NULL) < 0)
		return hl_error_wrap("cannot make credential");
	return hgs_tpm_make_credential_name(ek, ak->name.name, ak->name.size, secret, secret_len,
					    id_object, enc_secret);
}

/* ---- quotes and certify ---- */

/* Verify SIG (a marshalled TPMT_SIGNATURE) by AK over MSG; WHAT names it. */
static int verify_signature(const struct hgs_tpm_key *ak, const void *msg, size_t msg_len,
			    const void *sig, size_t sig_len, const char *what)
{
	struct hl_buf der = { NULL, 0 };
	uint8_t again[sizeof(TPMT_SIGNATURE)];
	size_t off = 0, again_len = 0;
	TPM2_ALG_ID scheme, hash;
	TPMT_SIGNATURE s;
	TSS2_RC rc;
	int ret = -1;

	key_sig_scheme(&ak->pub.publicArea, &scheme, &hash);
	memset(&s, 0, sizeof(s));
	if (!sig || sig_len == 0)
		return hl_error("%s signature is empty; expected a marshalled TPMT_SIGNATURE", what);
	rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_len, &off, &s);
	if (rc != TSS2_RC_SUCCESS)
		return hl_error("%s signature of %zu bytes is not a valid TPMT_SIGNATURE: %s", what,
				sig_len, Tss2_RC_Decode(rc));
	if (off != sig_len)
		return hl_error("%s signature has %zu trailing bytes", what, sig_len - off);
	rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&s, again, sizeof(again), &again_len);
	if (rc != TSS2_RC_SUCCESS || again_len != sig_len || memcmp(again, sig, sig_len) != 0)
		return hl_error("%s signature is not canonically encoded", what);
	if (s.sigAlg != scheme)
		return hl_error("%s is signed with %s but the attestation key's scheme is %s", what,
				hl_tpm_alg_name(s.sigAlg), hl_tpm_alg_name(scheme));
	switch (s.sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		if (s.signature.rsassa.hash != TPM2_ALG_SHA256)
			return hl_error("%s is signed with %s; hgslab accepts sha256 only", what,
					hl_tpm_alg_name(s.signature.rsassa.hash));
		ret = ak->vr ? hl_verifier_check(ak->vr, msg, msg_len, s.signature.rsassa.sig.buffer,
						 s.signature.rsassa.sig.size)
			     : hl_crypto_verify(ak->pkey, lib_scheme(s.sigAlg, TPM2_ALG_SHA256), msg,
						msg_len, s.signature.rsassa.sig.buffer,
						s.signature.rsassa.sig.size);
		break;
	case TPM2_ALG_ECDSA:
		if (s.signature.ecdsa.hash != TPM2_ALG_SHA256)
			return hl_error("%s is signed with %s; hgslab accepts sha256 only", what,
					hl_tpm_alg_name(s.signature.ecdsa.hash));
		if (hl_crypto_ecdsa_sig_from_rs(s.signature.ecdsa.signatureR.buffer,
						s.signature.ecdsa.signatureR.size,
						s.signature.ecdsa.signatureS.buffer,
						s.signature.ecdsa.signatureS.size, &der) < 0)
			return hl_error_wrap("%s signature", what);
		ret = ak->vr ? hl_verifier_check(ak->vr, msg, msg_len, der.data, der.len)
			     : hl_crypto_verify(ak->pkey, HL_SIG_ECDSA, msg, msg_len, der.data, der.len);
		hl_buf_free(&der);
		break;
	default:
		return hl_error("%s is signed with unsupported scheme 0x%04x", what, s.sigAlg);
	}
	if (ret < 0)
		return hl_error_wrap("%s was not signed by this attestation key", what);
	return 0;
}

/*
 * Parse ATTEST (TPMS_ATTEST bytes) into *OUT, check AK, the signature SIG,
 * the magic, TYPE and the nonce; WHAT names the structure in messages.
 */
static int attest_check(const struct hgs_tpm_key *ak, const void *attest, size_t attest_len,
			const void *sig, size_t sig_len, const void *nonce, size_t nonce_len,
			TPM2_ST type, const char *what, TPMS_ATTEST *out)
{
	uint8_t again[sizeof(TPMS_ATTEST)];
	size_t off = 0, again_len = 0;
	TSS2_RC rc;

	memset(out, 0, sizeof(*out));
	if (!ak)
		return hl_error("cannot verify %s: no attestation key given", what);
	if (!nonce || nonce_len == 0 || nonce_len > HGS_TPM_NONCE_MAX)
		return hl_error("cannot verify %s: the nonce must be 1 to %d bytes, not %zu", what,
				HGS_TPM_NONCE_MAX, nonce_len);
	if (!attest || attest_len == 0)
		return hl_error("%s is empty; expected the TPMS_ATTEST the TPM signed", what);
	rc = Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &off, out);
	if (rc != TSS2_RC_SUCCESS)
		return hl_error("%s of %zu bytes is not a valid TPMS_ATTEST: %s", what, attest_len,
				Tss2_RC_Decode(rc));
	if (off != attest_len)
		return hl_error("%s has %zu trailing bytes after its TPMS_ATTEST", what,
				attest_len - off);
	rc = Tss2_MU_TPMS_ATTEST_Marshal(out, again, sizeof(again), &again_len);
	if (rc != TSS2_RC_SUCCESS || again_len != attest_len ||
	    memcmp(again, attest, attest_len) != 0)
		return hl_error("%s is not canonically encoded", what);
	if (hgs_tpm_key_check_ak(ak, NULL) < 0)
		return hl_error_wrap("cannot verify %s", what);
	if (verify_signature(ak, attest, attest_len, sig, sig_len, what) < 0)
		return -1;
	if (out->magic != TPM2_GENERATED_VALUE)
		return hl_error("%s does not carry TPM_GENERATED_VALUE (magic 0x%08x); it was not "
				"produced by a TPM", what, out->magic);
	if (out->type != type)
		return hl_error("%s has type 0x%04x, not 0x%04x", what, out->type, type);
	if (out->extraData.size != nonce_len ||
	    !hl_crypto_ct_equal(out->extraData.buffer, nonce, nonce_len))
		return hl_error("%s does not carry the expected nonce: it was made for another "
				"request (a replay?); ask for a fresh nonce and attest again", what);
	return 0;
}

int hgs_tpm_verify_quote(const struct hgs_tpm_key *ak, const void *attest, size_t attest_len,
			 const void *sig, size_t sig_len, const void *nonce, size_t nonce_len,
			 struct hgs_tpm_quote *out)
{
	const TPMS_QUOTE_INFO *q;
	const TPMS_PCR_SELECTION *ps;
	TPMS_ATTEST a;
	uint32_t mask = 0;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (attest_check(ak, attest, attest_len, sig, sig_len, nonce, nonce_len,
			 TPM2_ST_ATTEST_QUOTE, "quote", &a) < 0)
		return -1;
	q = &a.attested.quote;
	if (q->pcrSelect.count != 1 || q->pcrSelect.pcrSelections[0].hash != TPM2_ALG_SHA256)
		return hl_error("quote selects %u pcr banks; hgslab attests exactly one, sha256",
				q->pcrSelect.count);
	ps = &q->pcrSelect.pcrSelections[0];
	for (i = 0; i < ps->sizeofSelect; i++) {
		if (i >= 3 && ps->pcrSelect[i])
			return hl_error("quote selects pcrs above 23; a pc client tpm has 24");
		if (i < 3)
			mask |= (uint32_t)ps->pcrSelect[i] << (8 * i);
	}
	if (!mask)
		return hl_error("quote selects no pcrs");
	if (q->pcrDigest.size != HL_SHA256_LEN)
		return hl_error("quote pcr digest is %u bytes, not a sha256 digest",
				q->pcrDigest.size);
	out->pcr_mask = mask;
	memcpy(out->pcr_digest, q->pcrDigest.buffer, HL_SHA256_LEN);
	out->clock = a.clockInfo.clock;
	out->reset_count = a.clockInfo.resetCount;
	out->restart_count = a.clockInfo.restartCount;
	out->safe = a.clockInfo.safe == TPM2_YES;
	out->firmware_version = a.firmwareVersion;
	return 0;
}

int hgs_tpm_pcr_digest(uint32_t mask, const uint8_t values[24][HL_SHA256_LEN],
		       uint8_t out[HL_SHA256_LEN])
{
	uint8_t cat[24 * HL_SHA256_LEN];
	size_t n = 0;
	unsigned pcr;

	if (mask >> 24)
		return hl_error("cannot compute pcr digest: pcrs go from 0 to 23 (mask 0x%08x)",
				mask);
	for (pcr = 0; pcr < 24; pcr++) {
		if (!(mask & (1u << pcr)))
			continue;
		memcpy(cat + n, values[pcr], HL_SHA256_LEN);
		n += HL_SHA256_LEN;
	}
	return hl_crypto_sha256(cat, n, out);
}

int hgs_tpm_verify_certify(const struct hgs_tpm_key *ak, const struct hgs_tpm_key *key,
			   const void *attest, size_t attest_len, const void *sig, size_t sig_len,
			   const void *nonce, size_t nonce_len)
{
	const TPM2B_NAME *name;
	TPMS_ATTEST a;

	if (!key)
		return hl_error("cannot verify certify: no certified key given");
	if (attest_check(ak, attest, attest_len, sig, sig_len, nonce, nonce_len,
			 TPM2_ST_ATTEST_CERTIFY, "certify", &a) < 0)
		return -1;
	name = &a.attested.certify.name;
	if (name->size != key->name.size || memcmp(name->name, key->name.name, name->size) != 0)
		return hl_error("certify is about another key: the certified name does not match "
				"the transport key's public area");
	if (hgs_tpm_key_check_transport(key, NULL) < 0)
		return hl_error_wrap("certified key refused");
	return 0;
}

/* ---- the TPM vendor CA ---- */

/* The certificates of vendor CA bundle PEM into *CERTS / *N. */
static int vendor_ca_read(const char *pem, X509 ***certs, size_t *n)
{
	if (hl_cert_bundle_from_pem(pem, strlen(pem), certs, n) < 0)
		return hl_error("no PEM certificate found (expected '-----BEGIN CERTIFICATE-----')");
	return 0;
}

/* Check that a TPM vendor CA bundle holds certificates. */
int hgs_vendor_ca_check(const char *pem)
{
	X509 **certs = NULL;
	size_t n = 0;

	if (!pem || vendor_ca_read(pem, &certs, &n) < 0)
		return -1;
	hl_cert_array_free(certs, n);
	return 0;
}

/* Verify an EK certificate against the vendor CA bundle. */
int hgs_vendor_ca_verify(const char *bundle, X509 *cert, time_t at)
{
	X509 **certs = NULL;
	size_t n = 0;
	int rc;

	if (vendor_ca_read(bundle, &certs, &n) < 0)
		return hl_error_wrap("the TPM vendor CA bundle is unreadable");
	rc = hl_cert_verify_bundle(cert, certs, n, at);
	hl_cert_array_free(certs, n);
	return rc;
}
