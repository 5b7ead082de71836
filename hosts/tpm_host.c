/*
 * tpm_host.c - a guarded host's TPM operations for attestation and key
 * release (see tpm_host.h).
 *
 * The host agent (`hgslab host run`) uses this module to export its platform
 * identifier (EK public key + EK certificate), create its attestation and
 * transport keys, answer HGS's credential-activation challenge, quote its
 * PCRs, have the AK certify the TK, replay the measured boot and, later,
 * decrypt what key protection wrapped to the TK.  Everything is an ESYS call
 * on lib/tpm's context; TPM structures cross the module boundary marshalled
 * by libtss2-mu.  There is no resource manager: each function flushes every
 * transient object and session it created before returning, and releases the
 * ESYS handles of persistent ones.
 */
#include "hosts/tpm_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* NV bytes read per TPM2_NV_Read (at or below any PC Client TPM's NV buffer). */
#define NV_CHUNK 512

/* Largest EK certificate read from NV. */
#define NV_CERT_MAX 4096

/* Times a quote is retried when the PCRs change between the quote and the read. */
#define QUOTE_ATTEMPTS 3

/* Largest key file hosts_tpm_key_load reads. */
#define KEY_FILE_MAX (sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE))

/* PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the default EK template. */
static const uint8_t ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5,
	0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b,
	0x33, 0x14, 0x69, 0xaa,
};

/* ---- templates ---- */

/* An RSA-2048 template with name algorithm SHA-256 and attributes ATTRS. */
static void rsa_template(TPM2B_PUBLIC *t, TPMA_OBJECT attrs)
{
	memset(t, 0, sizeof(*t));
	t->publicArea.type = TPM2_ALG_RSA;
	t->publicArea.nameAlg = TPM2_ALG_SHA256;
	t->publicArea.objectAttributes = attrs;
	t->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	t->publicArea.parameters.rsaDetail.keyBits = 2048;
	t->publicArea.parameters.rsaDetail.exponent = 0;
}

/* The TCG default RSA-2048 EK template (EK credential profile, template L-1). */
static void ek_template(TPM2B_PUBLIC *t)
{
	rsa_template(t, TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
		     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT);
	t->publicArea.authPolicy.size = sizeof(ek_policy);
	memcpy(t->publicArea.authPolicy.buffer, ek_policy, sizeof(ek_policy));
	t->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
	t->publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128;
	t->publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	t->publicArea.unique.rsa.size = 256;    /* 256 zero bytes */
}

/* The TCG RSA-2048 SRK template (TPM v2.0 Provisioning Guidance). */
static void srk_template(TPM2B_PUBLIC *t)
{
	rsa_template(t, TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		     TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT);
	t->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
	t->publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128;
	t->publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	t->publicArea.unique.rsa.size = 256;
}

/* The attestation key: restricted RSASSA-SHA-256 signing key. */
static void ak_template(TPM2B_PUBLIC *t)
{
	rsa_template(t, TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		     TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT);
	t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
	t->publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
}

/* The transport key: unrestricted decrypt-only key, OAEP-SHA-256 only. */
static void tk_template(TPM2B_PUBLIC *t)
{
	rsa_template(t, TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		     TPMA_OBJECT_NODA | TPMA_OBJECT_DECRYPT);
	t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_OAEP;
	t->publicArea.parameters.rsaDetail.scheme.details.oaep.hashAlg = TPM2_ALG_SHA256;
}

/* ---- helpers ---- */

/* Reset B to {NULL, 0} without freeing (for outputs cleared on entry). */
static void buf_clear(struct hl_buf *b)
{
	b->data = NULL;
	b->len = 0;
}

/* 1 when RC says a handle does not exist (TPM_RC_HANDLE), else 0. */
static int rc_no_handle(TSS2_RC rc)
{
	return (rc & TPM2_RC_FMT1) && (rc & 0x3f) == (TPM2_RC_HANDLE & 0x3f) &&
	       (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
}

/*
 * Flush the transient object or session *H, if any, and forget it.  RET is
 * the caller's result so far: a failed flush turns success into failure (the
 * object would stay loaded) and is only logged after an earlier failure.
 */
static int flush(struct hl_tpm *t, ESYS_TR *h, int ret)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	TSS2_RC rc;

	if (*h == ESYS_TR_NONE)
		return ret;
	rc = Esys_FlushContext(e, *h);
	if (rc != TSS2_RC_SUCCESS)
		Esys_TR_Close(e, h);
	*h = ESYS_TR_NONE;
	if (rc == TSS2_RC_SUCCESS)
		return ret;
	if (ret == 0)
		return hl_tpm_error(rc, "Esys_FlushContext");
	hl_log_warn("tpm: cannot flush a transient object after an error: %s",
		    Tss2_RC_Decode(rc));
	return ret;
}

/* Release the ESYS handle *H of a persistent object or NV index, if any. */
static void tr_close(struct hl_tpm *t, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE)
		Esys_TR_Close(hl_tpm_esys(t), h);
	*h = ESYS_TR_NONE;
}

/* Marshal PUB (TPM2B_PUBLIC) into B. */
static int public_marshal(const TPM2B_PUBLIC *pub, struct hl_buf *b)
{
	uint8_t tmp[sizeof(TPM2B_PUBLIC)];
	size_t len = 0;
	TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, tmp, sizeof(tmp), &len);

	if (rc != TSS2_RC_SUCCESS)
		return hl_error("cannot marshal TPM2B_PUBLIC: %s", Tss2_RC_Decode(rc));
	return hl_buf_set(b, tmp, len);
}

/* Unmarshal K's blobs into PUB and PRIV; WHAT names the key in messages. */
static int key_unmarshal(const struct hosts_tpm_key *k, const char *what, TPM2B_PUBLIC *pub,
			 TPM2B_PRIVATE *priv)
{
	size_t off = 0;
	TSS2_RC rc;

	/* tss2-mu refuses to unmarshal a TPM2B_PUBLIC into a non-zero size field */
	memset(pub, 0, sizeof(*pub));
	if (priv)
		memset(priv, 0, sizeof(*priv));
	if (!k || !k->pub.data || !k->priv.data)
		return hl_error("no %s given", what);
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(k->pub.data, k->pub.len, &off, pub);
	if (rc != TSS2_RC_SUCCESS || off != k->pub.len)
		return hl_error("%s public blob of %zu bytes is not a TPM2B_PUBLIC", what,
				k->pub.len);
	if (!priv)
		return 0;
	off = 0;
	rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(k->priv.data, k->priv.len, &off, priv);
	if (rc != TSS2_RC_SUCCESS || off != k->priv.len)
		return hl_error("%s private blob of %zu bytes is not a TPM2B_PRIVATE", what,
				k->priv.len);
	return 0;
}

/* Open the SRK into *OUT (close with tr_close), creating and persisting it if absent. */
static int srk_open(struct hl_tpm *t, ESYS_TR *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	ESYS_TR prim = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret = -1;

	*out = ESYS_TR_NONE;
	rc = Esys_TR_FromTPMPublic(e, HOSTS_SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   out);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	*out = ESYS_TR_NONE;
	if (!rc_no_handle(rc))
		return hl_tpm_error(rc, "Esys_TR_FromTPMPublic(srk)");
	hl_log_info("tpm: no srk at 0x%08x; creating and persisting one", HOSTS_SRK_HANDLE);
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	srk_template(&tmpl);
	rc = Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				&sens, &tmpl, &outside, &pcrs, &prim, NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_CreatePrimary(srk)");
		goto out;
	}
	rc = Esys_EvictControl(e, ESYS_TR_RH_OWNER, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, HOSTS_SRK_HANDLE, out);
	if (rc != TSS2_RC_SUCCESS) {
		*out = ESYS_TR_NONE;
		hl_tpm_error(rc, "Esys_EvictControl(srk)");
		goto out;
	}
	ret = 0;
out:
	ret = flush(t, &prim, ret);
	if (ret < 0)
		tr_close(t, out);
	return ret;
}

/* Load K (WHAT names it) under SRK into *OUT (flush it when done). */
static int key_load(struct hl_tpm *t, ESYS_TR srk, const struct hosts_tpm_key *k,
		    const char *what, ESYS_TR *out)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TSS2_RC rc;

	*out = ESYS_TR_NONE;
	if (key_unmarshal(k, what, &pub, &priv) < 0)
		return -1;
	rc = Esys_Load(hl_tpm_esys(t), srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv,
		       &pub, out);
	hl_crypto_cleanse(&priv, sizeof(priv));
	if (rc != TSS2_RC_SUCCESS) {
		*out = ESYS_TR_NONE;
		hl_tpm_error(rc, "Esys_Load");
		return hl_error_wrap("cannot load %s (was it created in this tpm?)", what);
	}
	return 0;
}

/*
 * 1 when A is a key of the default EK template T: same type, name algorithm,
 * attributes, policy and parameters (the unique field, the key itself,
 * differs: A holds the modulus, T zeros).
 */
static int ek_template_matches(const TPMT_PUBLIC *a, const TPMT_PUBLIC *t)
{
	const TPMS_RSA_PARMS *ar = &a->parameters.rsaDetail, *tr = &t->parameters.rsaDetail;

	return a->type == t->type && a->nameAlg == t->nameAlg &&
	       a->objectAttributes == t->objectAttributes &&
	       a->authPolicy.size == t->authPolicy.size &&
	       memcmp(a->authPolicy.buffer, t->authPolicy.buffer, t->authPolicy.size) == 0 &&
	       ar->symmetric.algorithm == tr->symmetric.algorithm &&
	       ar->symmetric.keyBits.aes == tr->symmetric.keyBits.aes &&
	       ar->symmetric.mode.aes == tr->symmetric.mode.aes &&
	       ar->scheme.scheme == tr->scheme.scheme && ar->keyBits == tr->keyBits &&
	       (ar->exponent == 0 || ar->exponent == 65537);
}

/*
 * The EK persisted at HOSTS_EK_HANDLE into *OUT (close it with tr_close) and
 * its public area into *PUB (may be NULL): 0 when there, 1 when the handle
 * is empty or holds another key than one of the default template, -1 on error.
 */
static int ek_persistent(struct hl_tpm *t, const TPM2B_PUBLIC *tmpl, ESYS_TR *out,
			 TPM2B_PUBLIC **pub)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	TPM2B_PUBLIC *p = NULL;
	TSS2_RC rc;

	*out = ESYS_TR_NONE;
	rc = Esys_TR_FromTPMPublic(e, HOSTS_EK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   out);
	if (rc != TSS2_RC_SUCCESS) {
		*out = ESYS_TR_NONE;
		return rc_no_handle(rc) ? 1 : hl_tpm_error(rc, "Esys_TR_FromTPMPublic(ek)");
	}
	rc = Esys_ReadPublic(e, *out, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &p, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		tr_close(t, out);
		return hl_tpm_error(rc, "Esys_ReadPublic(ek)");
	}
	if (!ek_template_matches(&p->publicArea, &tmpl->publicArea)) {
		Esys_Free(p);
		tr_close(t, out);
		return 1;
	}
	if (pub)
		*pub = p;
	else
		Esys_Free(p);
	return 0;
}

/*
 * The EK into *OUT and its public area into *PUB (may be NULL): the one
 * persisted at HOSTS_EK_HANDLE when it is of the default template (no key
 * generation), else recreated as a primary.  *TRANSIENT says which: 1 for a
 * primary (flush it when done), 0 for the persistent one (tr_close it).
 */
static int ek_create(struct hl_tpm *t, ESYS_TR *out, TPM2B_PUBLIC **pub, int *transient)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TSS2_RC rc;
	int r;

	*out = ESYS_TR_NONE;
	*transient = 0;
	ek_template(&tmpl);
	if ((r = ek_persistent(t, &tmpl, out, pub)) <= 0)
		return r;
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	rc = Esys_CreatePrimary(hl_tpm_esys(t), ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, out, pub,
				NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		*out = ESYS_TR_NONE;
		return hl_tpm_error(rc, "Esys_CreatePrimary(ek)");
	}
	*transient = 1;
	return 0;
}

/* Release the EK handle *H that ek_create gave (TRANSIENT as it said); RET as flush(). */
static int ek_release(struct hl_tpm *t, ESYS_TR *h, int transient, int ret)
{
	if (transient)
		return flush(t, h, ret);
	tr_close(t, h);
	return ret;
}

/*
 * Read NV index INDEX whole into OUT: 0 when read, 1 when the index does not
 * exist, -1 on error.
 */
static int nv_read(struct hl_tpm *t, TPM2_HANDLE index, struct hl_buf *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	TPM2B_NV_PUBLIC *nvpub = NULL;
	TPM2B_MAX_NV_BUFFER *data = NULL;
	ESYS_TR nv = ESYS_TR_NONE, auth;
	uint8_t *bytes = NULL;
	uint16_t size, off = 0, want;
	TPMA_NV attrs;
	TSS2_RC rc;
	int ret = -1;

	buf_clear(out);
	rc = Esys_TR_FromTPMPublic(e, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (rc != TSS2_RC_SUCCESS) {
		if (rc_no_handle(rc))
			return 1;
		return hl_tpm_error(rc, "Esys_TR_FromTPMPublic(nv)");
	}
	rc = Esys_NV_ReadPublic(e, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvpub, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_NV_ReadPublic");
		goto out;
	}
	size = nvpub->nvPublic.dataSize;
	attrs = nvpub->nvPublic.attributes;
	if (size == 0 || size > NV_CERT_MAX) {
		hl_error("tpm nv index 0x%08x holds %u bytes; expected 1 to %d", index, size,
			 NV_CERT_MAX);
		goto out;
	}
	if (attrs & TPMA_NV_AUTHREAD)
		auth = nv;
	else if (attrs & TPMA_NV_OWNERREAD)
		auth = ESYS_TR_RH_OWNER;
	else {
		hl_error("tpm nv index 0x%08x is readable neither with its own nor with owner "
			 "authorisation (attributes 0x%08x)", index, (unsigned)attrs);
		goto out;
	}
	bytes = malloc(size + 1u);
	if (!bytes) {
		hl_error("cannot read tpm nv index 0x%08x: out of memory", index);
		goto out;
	}
	while (off < size) {
		want = size - off < NV_CHUNK ? size - off : NV_CHUNK;
		rc = Esys_NV_Read(e, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, want,
				  off, &data);
		if (rc != TSS2_RC_SUCCESS) {
			hl_tpm_error(rc, "Esys_NV_Read");
			goto out;
		}
		if (data->size != want) {
			hl_error("tpm nv index 0x%08x: asked %u bytes at %u, got %u", index, want,
				 off, data->size);
			goto out;
		}
		memcpy(bytes + off, data->buffer, want);
		off += want;
		Esys_Free(data);
		data = NULL;
	}
	bytes[size] = '\0';
	out->data = bytes;
	out->len = size;
	bytes = NULL;
	ret = 0;
out:
	if (ret < 0)
		hl_error_wrap("cannot read tpm nv index 0x%08x", index);
	free(bytes);
	Esys_Free(data);
	Esys_Free(nvpub);
	tr_close(t, &nv);
	return ret;
}

/* Check NONCE fits a TPM2B_DATA (1..64 bytes) and copy it into *OUT. */
static int nonce_data(const void *nonce, size_t len, const char *what, TPM2B_DATA *out)
{
	memset(out, 0, sizeof(*out));
	if (!nonce || len == 0 || len > sizeof(TPMU_HA))
		return hl_error("cannot %s: the nonce must be 1 to %zu bytes, not %zu", what,
				sizeof(TPMU_HA), len);
	out->size = (UINT16)len;
	memcpy(out->buffer, nonce, len);
	return 0;
}

/* Copy the TPMS_ATTEST bytes of A and the marshalled signature S into ATTEST and SIG. */
static int attest_out(const TPM2B_ATTEST *a, const TPMT_SIGNATURE *s, struct hl_buf *attest,
		      struct hl_buf *sig)
{
	uint8_t tmp[sizeof(TPMT_SIGNATURE)];
	size_t len = 0;
	TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(s, tmp, sizeof(tmp), &len);

	if (rc != TSS2_RC_SUCCESS)
		return hl_error("cannot marshal TPMT_SIGNATURE: %s", Tss2_RC_Decode(rc));
	if (hl_buf_set(attest, a->attestationData, a->size) < 0)
		return -1;
	if (hl_buf_set(sig, tmp, len) < 0) {
		hl_buf_free(attest);
		return -1;
	}
	return 0;
}

/* ---- EK ---- */

int hosts_tpm_read_ek(struct hl_tpm *t, struct hosts_ek **out)
{
	struct hosts_ek *ek = NULL;
	struct hl_buf der = { NULL, 0 };
	TPM2B_PUBLIC *pub = NULL;
	EVP_PKEY *cert_key = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	char cn[128];
	int r, transient = 0, ret = -1;

	*out = NULL;
	ek = calloc(1, sizeof(*ek));
	if (!ek)
		return hl_error("cannot read the ek: out of memory");
	if (ek_create(t, &h, &pub, &transient) < 0 || ek_release(t, &h, transient, 0) < 0)
		goto out;
	if (hl_tpm_public_key(&pub->publicArea, &ek->pub) < 0 || public_marshal(pub, &ek->tpm_public) < 0)
		goto out;
	r = nv_read(t, HOSTS_EK_CERT_NV_INDEX, &der);
	if (r < 0)
		goto out;
	if (r == 0) {
		if (hl_cert_from_der(der.data, der.len, &ek->cert) < 0) {
			hl_error_wrap("ek certificate in nv index 0x%08x", HOSTS_EK_CERT_NV_INDEX);
			goto out;
		}
		if (hl_cert_pubkey(ek->cert, &cert_key) < 0)
			goto out;
		if (!hl_key_pub_equal(cert_key, ek->pub)) {
			if (hl_cert_subject_cn(ek->cert, cn, sizeof(cn)) < 0)
				snprintf(cn, sizeof(cn), "?");
			hl_error("the ek certificate in nv ('%s') is for another key than the ek "
				 "the default template gives; this tpm's endorsement identity is "
				 "inconsistent", cn);
			goto out;
		}
	}
	*out = ek;
	ek = NULL;
	ret = 0;
out:
	ret = ek_release(t, &h, transient, ret);
	if (ret < 0)
		hl_error_wrap("cannot read the tpm's endorsement key");
	hl_buf_free(&der);
	hl_key_free(cert_key);
	Esys_Free(pub);
	hosts_ek_free(ek);
	return ret;
}

void hosts_ek_free(struct hosts_ek *ek)
{
	if (!ek)
		return;
	hl_key_free(ek->pub);
	hl_cert_free(ek->cert);
	hl_buf_free(&ek->tpm_public);
	free(ek);
}

int hosts_ek_save(const struct hosts_ek *ek, const char *pub_path, const char *cert_path)
{
	struct hl_buf der = { NULL, 0 };
	int ret = -1;

	if (!ek->cert)
		return hl_error("cannot save the ek to '%s': it has no certificate", cert_path);
	if (hl_file_write(pub_path, ek->tpm_public.data, ek->tpm_public.len,
			  HL_FILE_MODE_PUBLIC) < 0 ||
	    hl_cert_to_der(ek->cert, &der) < 0 ||
	    hl_file_write(cert_path, der.data, der.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	ret = 0;
out:
	hl_buf_free(&der);
	return ret;
}

int hosts_ek_load(const char *pub_path, const char *cert_path, struct hosts_ek **out)
{
	struct hosts_ek *ek = NULL;
	EVP_PKEY *cert_key = NULL;
	TPM2B_PUBLIC pub;
	char *pub_data = NULL, *cert_data = NULL;
	size_t pub_len = 0, cert_len = 0, off = 0;
	int ret = -1;

	*out = NULL;
	memset(&pub, 0, sizeof(pub));
	if (!(ek = calloc(1, sizeof(*ek))))
		return hl_error("cannot load the ek: out of memory");
	if (hl_file_read(pub_path, sizeof(TPM2B_PUBLIC), &pub_data, &pub_len) < 0 ||
	    hl_file_read(cert_path, NV_CERT_MAX, &cert_data, &cert_len) < 0)
		goto out;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal((uint8_t *)pub_data, pub_len, &off, &pub) !=
	    TSS2_RC_SUCCESS || off != pub_len) {
		hl_error("'%s' is not an ek public area (TPM2B_PUBLIC)", pub_path);
		goto out;
	}
	if (hl_tpm_public_key(&pub.publicArea, &ek->pub) < 0 ||
	    hl_buf_set(&ek->tpm_public, pub_data, pub_len) < 0 ||
	    hl_cert_from_der(cert_data, cert_len, &ek->cert) < 0 ||
	    hl_cert_pubkey(ek->cert, &cert_key) < 0)
		goto out;
	if (!hl_key_pub_equal(cert_key, ek->pub)) {
		hl_error("the ek certificate '%s' is for another key than '%s'", cert_path,
			 pub_path);
		goto out;
	}
	*out = ek;
	ek = NULL;
	ret = 0;
out:
	if (ret < 0)
		hl_error_wrap("cannot load the ek");
	hl_key_free(cert_key);
	hosts_ek_free(ek);
	free(pub_data);
	free(cert_data);
	return ret;
}

int hosts_ek_pem(const struct hosts_ek *ek, struct hl_buf *pub_pem, struct hl_buf *cert_pem)
{
	buf_clear(pub_pem);
	if (cert_pem)
		buf_clear(cert_pem);
	if (hl_key_pub_to_pem(ek->pub, pub_pem) < 0)
		return -1;
	if (cert_pem && ek->cert && hl_cert_to_pem(ek->cert, cert_pem) < 0) {
		hl_buf_free(pub_pem);
		return -1;
	}
	return 0;
}

/* ---- AK and TK ---- */

/* Create a key from TMPL under the SRK into OUT; WHAT names it. */
static int create_key(struct hl_tpm *t, const TPM2B_PUBLIC *tmpl, const char *what,
		      struct hosts_tpm_key *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	uint8_t tmp[sizeof(TPM2B_PRIVATE)];
	struct hosts_tpm_key k = { { NULL, 0 }, { NULL, 0 } };
	ESYS_TR srk = ESYS_TR_NONE;
	size_t len = 0;
	TSS2_RC rc;
	int ret = -1;

	buf_clear(&out->pub);
	buf_clear(&out->priv);
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	if (srk_open(t, &srk) < 0)
		goto out;
	rc = Esys_Create(e, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl,
			 &outside, &pcrs, &priv, &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_Create");
		goto out;
	}
	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, tmp, sizeof(tmp), &len);
	if (rc != TSS2_RC_SUCCESS) {
		hl_error("cannot marshal TPM2B_PRIVATE: %s", Tss2_RC_Decode(rc));
		goto out;
	}
	if (public_marshal(pub, &k.pub) < 0 || hl_buf_set(&k.priv, tmp, len) < 0)
		goto out;
	*out = k;
	buf_clear(&k.pub);
	buf_clear(&k.priv);
	ret = 0;
out:
	if (ret < 0)
		hl_error_wrap("cannot create the %s", what);
	hosts_tpm_key_release(&k);
	tr_close(t, &srk);
	Esys_Free(priv);
	Esys_Free(pub);
	return ret;
}

int hosts_tpm_create_ak(struct hl_tpm *t, struct hosts_tpm_key *out)
{
	TPM2B_PUBLIC tmpl;

	ak_template(&tmpl);
	return create_key(t, &tmpl, "attestation key", out);
}

int hosts_tpm_create_transport_key(struct hl_tpm *t, struct hosts_tpm_key *out)
{
	TPM2B_PUBLIC tmpl;

	tk_template(&tmpl);
	return create_key(t, &tmpl, "transport key", out);
}

void hosts_tpm_key_release(struct hosts_tpm_key *k)
{
	if (!k)
		return;
	hl_buf_free(&k->pub);
	hl_buf_free(&k->priv);
}

int hosts_tpm_key_save(const struct hosts_tpm_key *k, const char *path)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	uint8_t *cat;
	int ret;

	if (key_unmarshal(k, "tpm key", &pub, &priv) < 0)
		return hl_error_wrap("cannot save tpm key to '%s'", path);
	hl_crypto_cleanse(&priv, sizeof(priv));
	cat = malloc(k->pub.len + k->priv.len);
	if (!cat)
		return hl_error("cannot save tpm key to '%s': out of memory", path);
	memcpy(cat, k->pub.data, k->pub.len);
	memcpy(cat + k->pub.len, k->priv.data, k->priv.len);
	ret = hl_file_write_private(path, cat, k->pub.len + k->priv.len);
	free(cat);
	return ret;
}

int hosts_tpm_key_load(const char *path, struct hosts_tpm_key *out)
{
	struct hosts_tpm_key k = { { NULL, 0 }, { NULL, 0 } };
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	char *data = NULL;
	size_t len = 0, off = 0, mid;
	int ret = -1;

	buf_clear(&out->pub);
	buf_clear(&out->priv);
	memset(&pub, 0, sizeof(pub));
	memset(&priv, 0, sizeof(priv));
	if (hl_file_read(path, KEY_FILE_MAX, &data, &len) < 0)
		return -1;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal((uint8_t *)data, len, &off, &pub) != TSS2_RC_SUCCESS) {
		hl_error("'%s' is not a tpm key file: it does not start with a TPM2B_PUBLIC", path);
		goto out;
	}
	mid = off;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal((uint8_t *)data, len, &off, &priv) != TSS2_RC_SUCCESS ||
	    off != len) {
		hl_error("'%s' is not a tpm key file: its TPM2B_PUBLIC is not followed by exactly "
			 "one TPM2B_PRIVATE", path);
		goto out;
	}
	if (hl_buf_set(&k.pub, data, mid) < 0 || hl_buf_set(&k.priv, data + mid, len - mid) < 0)
		goto out;
	*out = k;
	buf_clear(&k.pub);
	buf_clear(&k.priv);
	ret = 0;
out:
	hl_crypto_cleanse(&priv, sizeof(priv));
	hosts_tpm_key_release(&k);
	if (data)
		hl_crypto_cleanse(data, len);
	free(data);
	return ret;
}

int hosts_tpm_key_pem(const struct hosts_tpm_key *k, struct hl_buf *out)
{
	TPM2B_PUBLIC pub;
	EVP_PKEY *key = NULL;
	int ret;

	buf_clear(out);
	if (key_unmarshal(k, "tpm key", &pub, NULL) < 0 || hl_tpm_public_key(&pub.publicArea, &key) < 0)
		return -1;
	ret = hl_key_pub_to_pem(key, out);
	hl_key_free(key);
	return ret;
}

/* ---- credential activation ---- */

int hosts_tpm_activate_credential(struct hl_tpm *t, const struct hosts_tpm_key *ak,
				  const void *id_object, size_t id_len, const void *enc_secret,
				  size_t enc_len, struct hl_buf *secret)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	ESYS_TR srk = ESYS_TR_NONE, ak_h = ESYS_TR_NONE, ek_h = ESYS_TR_NONE;
	ESYS_TR sess = ESYS_TR_NONE;
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_ID_OBJECT idobj;
	TPM2B_ENCRYPTED_SECRET es;
	TPM2B_NONCE empty_nonce = { .size = 0 };
	TPM2B_DIGEST empty_digest = { .size = 0 };
	TPM2B_DIGEST *cert = NULL;
	size_t off = 0;
	TSS2_RC rc;
	int ek_transient = 0, ret = -1;

	buf_clear(secret);
	memset(&idobj, 0, sizeof(idobj));
	memset(&es, 0, sizeof(es));
	if (!id_object || Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(id_object, id_len, &off, &idobj) !=
	    TSS2_RC_SUCCESS || off != id_len)
		return hl_error("cannot activate credential: the credential blob of %zu bytes is "
				"not a TPM2B_ID_OBJECT", id_len);
	off = 0;
	if (!enc_secret || Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_secret, enc_len, &off,
								    &es) != TSS2_RC_SUCCESS ||
	    off != enc_len)
		return hl_error("cannot activate credential: the encrypted secret of %zu bytes is "
				"not a TPM2B_ENCRYPTED_SECRET", enc_len);
	if (srk_open(t, &srk) < 0 || key_load(t, srk, ak, "attestation key", &ak_h) < 0 ||
	    ek_create(t, &ek_h, NULL, &ek_transient) < 0)
		goto out;

	/* the EK's policy: PolicySecret(TPM_RH_ENDORSEMENT) */
	rc = Esys_StartAuthSession(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &sess);
	if (rc != TSS2_RC_SUCCESS) {
		sess = ESYS_TR_NONE;
		hl_tpm_error(rc, "Esys_StartAuthSession");
		goto out;
	}
	rc = Esys_TRSess_SetAttributes(e, sess, TPMA_SESSION_CONTINUESESSION,
				       TPMA_SESSION_CONTINUESESSION);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_PolicySecret(e, ESYS_TR_RH_ENDORSEMENT, sess, ESYS_TR_PASSWORD,
				       ESYS_TR_NONE, ESYS_TR_NONE, &empty_nonce, &empty_digest,
				       &empty_nonce, 0, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_PolicySecret(endorsement)");
		goto out;
	}
	rc = Esys_ActivateCredential(e, ak_h, ek_h, ESYS_TR_PASSWORD, sess, ESYS_TR_NONE, &idobj,
				     &es, &cert);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_ActivateCredential");
		hl_error_wrap("the credential was not made for this tpm's ek and attestation key");
		goto out;
	}
	if (hl_buf_set(secret, cert->buffer, cert->size) < 0)
		goto out;
	ret = 0;
out:
	if (cert) {
		hl_crypto_cleanse(cert, sizeof(*cert));
		Esys_Free(cert);
	}
	ret = flush(t, &sess, ret);
	ret = ek_release(t, &ek_h, ek_transient, ret);
	ret = flush(t, &ak_h, ret);
	tr_close(t, &srk);
	if (ret < 0)
		hl_error_wrap("cannot activate credential");
	return ret;
}

/* ---- quote and certify ---- */

/* 1 when ATTEST's pcrDigest is SHA-256 of the PCRS in MASK, 0 when not, -1 on error. */
static int quote_matches(const TPM2B_ATTEST *attest, uint32_t mask,
			 uint8_t pcrs[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN])
{
	uint8_t cat[HL_TPM_PCR_COUNT * HL_TPM_SHA256_LEN], digest[HL_SHA256_LEN];
	TPMS_ATTEST a;
	size_t off = 0, n = 0;
	unsigned pcr;
	TSS2_RC rc;

	memset(&a, 0, sizeof(a));
	rc = Tss2_MU_TPMS_ATTEST_Unmarshal(attest->attestationData, attest->size, &off, &a);
	if (rc != TSS2_RC_SUCCESS || a.type != TPM2_ST_ATTEST_QUOTE)
		return hl_error("the tpm returned a quote that is not a TPMS_ATTEST quote");
	for (pcr = 0; pcr < HL_TPM_PCR_COUNT; pcr++) {
		if (!(mask & (1u << pcr)))
			continue;
		memcpy(cat + n, pcrs[pcr], HL_TPM_SHA256_LEN);
		n += HL_TPM_SHA256_LEN;
	}
	if (hl_crypto_sha256(cat, n, digest) < 0)
		return -1;
	return a.attested.quote.pcrDigest.size == HL_SHA256_LEN &&
	       memcmp(a.attested.quote.pcrDigest.buffer, digest, HL_SHA256_LEN) == 0;
}

int hosts_tpm_quote(struct hl_tpm *t, const struct hosts_tpm_key *ak, uint32_t mask,
		    const void *nonce, size_t nonce_len, struct hosts_tpm_quote *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	ESYS_TR srk = ESYS_TR_NONE, ak_h = ESYS_TR_NONE;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel;
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_DATA qual;
	unsigned pcr, attempt;
	TSS2_RC rc;
	int m, ret = -1;

	memset(out, 0, sizeof(*out));
	if (!mask || (mask >> HL_TPM_PCR_COUNT))
		return hl_error("cannot quote pcrs 0x%08x: select some of pcrs 0 to %d", mask,
				HL_TPM_PCR_COUNT - 1);
	if (nonce_data(nonce, nonce_len, "quote", &qual) < 0)
		return -1;
	memset(&sel, 0, sizeof(sel));
	sel.count = 1;
	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	for (pcr = 0; pcr < HL_TPM_PCR_COUNT; pcr++)
		if (mask & (1u << pcr))
			sel.pcrSelections[0].pcrSelect[pcr / 8] |= (BYTE)(1u << (pcr % 8));
	if (srk_open(t, &srk) < 0 || key_load(t, srk, ak, "attestation key", &ak_h) < 0)
		goto out;
	for (attempt = 0; attempt < QUOTE_ATTEMPTS; attempt++) {
		Esys_Free(quoted);
		Esys_Free(sig);
		quoted = NULL;
		sig = NULL;
		rc = Esys_Quote(e, ak_h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qual,
				&scheme, &sel, &quoted, &sig);
		if (rc != TSS2_RC_SUCCESS) {
			hl_tpm_error(rc, "Esys_Quote");
			goto out;
		}
		memset(out->pcrs, 0, sizeof(out->pcrs));
		if (hl_tpm_pcr_read(t, mask, out->pcrs) < 0)
			goto out;
		m = quote_matches(quoted, mask, out->pcrs);
		if (m < 0)
			goto out;
		if (m)
			break;
		hl_log_debug("tpm: pcrs changed while quoting; quoting again");
	}
	if (attempt == QUOTE_ATTEMPTS) {
		hl_error("the pcrs kept changing while quoting (%d attempts); stop extending "
			 "them and quote again", QUOTE_ATTEMPTS);
		goto out;
	}
	if (attest_out(quoted, sig, &out->attest, &out->sig) < 0)
		goto out;
	out->pcr_mask = mask;
	ret = 0;
out:
	Esys_Free(quoted);
	Esys_Free(sig);
	ret = flush(t, &ak_h, ret);
	tr_close(t, &srk);
	if (ret < 0) {
		hl_error_wrap("cannot quote pcrs");
		hosts_tpm_quote_release(out);
		memset(out, 0, sizeof(*out));
	}
	return ret;
}

void hosts_tpm_quote_release(struct hosts_tpm_quote *q)
{
	if (!q)
		return;
	hl_buf_free(&q->attest);
	hl_buf_free(&q->sig);
}

int hosts_tpm_certify(struct hl_tpm *t, const struct hosts_tpm_key *ak,
		      const struct hosts_tpm_key *key, const void *nonce, size_t nonce_len,
		      struct hl_buf *attest, struct hl_buf *sig)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	ESYS_TR srk = ESYS_TR_NONE, ak_h = ESYS_TR_NONE, key_h = ESYS_TR_NONE;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *info = NULL;
	TPMT_SIGNATURE *s = NULL;
	TPM2B_DATA qual;
	TSS2_RC rc;
	int ret = -1;

	buf_clear(attest);
	buf_clear(sig);
	if (nonce_data(nonce, nonce_len, "certify", &qual) < 0)
		return -1;
	if (srk_open(t, &srk) < 0 || key_load(t, srk, key, "certified key", &key_h) < 0 ||
	    key_load(t, srk, ak, "attestation key", &ak_h) < 0)
		goto out;
	rc = Esys_Certify(e, key_h, ak_h, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE, &qual,
			  &scheme, &info, &s);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_Certify");
		goto out;
	}
	if (attest_out(info, s, attest, sig) < 0)
		goto out;
	ret = 0;
out:
	Esys_Free(info);
	Esys_Free(s);
	ret = flush(t, &ak_h, ret);
	ret = flush(t, &key_h, ret);
	tr_close(t, &srk);
	if (ret < 0) {
		hl_error_wrap("cannot certify key");
		hl_buf_free(attest);
		hl_buf_free(sig);
	}
	return ret;
}

/* ---- transport key decryption ---- */

int hosts_tpm_rsa_decrypt(struct hl_tpm *t, const struct hosts_tpm_key *key, const void *label,
			  size_t label_len, const void *in, size_t len, struct hl_buf *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	ESYS_TR srk = ESYS_TR_NONE, key_h = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
			     .mode.aes = TPM2_ALG_CFB };
	TPMT_RSA_DECRYPT scheme = { .scheme = TPM2_ALG_OAEP,
				    .details.oaep.hashAlg = TPM2_ALG_SHA256 };
	TPM2B_PUBLIC_KEY_RSA cipher;
	TPM2B_PUBLIC_KEY_RSA *msg = NULL;
	TPM2B_DATA lab;
	TSS2_RC rc;
	int ret = -1;

	buf_clear(out);
	if (!in || len == 0 || len > sizeof(cipher.buffer))
		return hl_error("cannot decrypt with the transport key: %zu bytes of ciphertext",
				len);
	if (label_len > sizeof(lab.buffer) || (label_len && !label))
		return hl_error("cannot decrypt with the transport key: label of %zu bytes (at most "
				"%zu)", label_len, sizeof(lab.buffer));
	memset(&lab, 0, sizeof(lab));
	if (label_len)
		memcpy(lab.buffer, label, label_len);
	lab.size = (UINT16)label_len;
	if (label_len && lab.buffer[label_len - 1] != 0) {
		/* the TPM refuses a label without its terminating zero (TPM_RC_VALUE) */
		if (label_len == sizeof(lab.buffer))
			return hl_error("cannot decrypt with the transport key: label of %zu bytes "
					"leaves no room for its terminating zero", label_len);
		lab.buffer[lab.size++] = 0;
	}
	cipher.size = (UINT16)len;
	memcpy(cipher.buffer, in, len);
	if (srk_open(t, &srk) < 0 || key_load(t, srk, key, "transport key", &key_h) < 0)
		goto out;

	/* an HMAC session salted with the SRK encrypts the response (the plaintext) */
	rc = Esys_StartAuthSession(e, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &sess);
	if (rc != TSS2_RC_SUCCESS) {
		sess = ESYS_TR_NONE;
		hl_tpm_error(rc, "Esys_StartAuthSession(salted)");
		goto out;
	}
	rc = Esys_TRSess_SetAttributes(e, sess, TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_ENCRYPT,
				       0xff);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_TRSess_SetAttributes");
		goto out;
	}
	rc = Esys_RSA_Decrypt(e, key_h, sess, ESYS_TR_NONE, ESYS_TR_NONE, &cipher, &scheme, &lab,
			      &msg);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_RSA_Decrypt");
		hl_error_wrap("wrong key or label, or altered ciphertext");
		goto out;
	}
	if (hl_buf_set(out, msg->buffer, msg->size) < 0)
		goto out;
	ret = 0;
out:
	if (msg) {
		hl_crypto_cleanse(msg, sizeof(*msg));
		Esys_Free(msg);
	}
	ret = flush(t, &sess, ret);
	ret = flush(t, &key_h, ret);
	tr_close(t, &srk);
	if (ret < 0)
		hl_error_wrap("cannot decrypt with the transport key");
	return ret;
}

/* ---- sealing to the PCRs ---- */

/* The SHA-256 bank selection of the PCRs in MASK. */
static void pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i))
			sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
}

/*
 * Start a session of TYPE into *OUT: a trial or policy session (unsalted),
 * or, for TPM2_SE_HMAC, one salted with SRK; a policy or HMAC session gets
 * ATTRS (encrypt / decrypt) and continueSession.
 */
static int session_start(struct hl_tpm *t, ESYS_TR srk, TPM2_SE type, TPMA_SESSION attrs,
			 ESYS_TR *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	TPMT_SYM_DEF aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
			     .mode.aes = TPM2_ALG_CFB };
	TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	TSS2_RC rc;

	rc = Esys_StartAuthSession(e, type == TPM2_SE_HMAC ? srk : ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, type,
				   type == TPM2_SE_HMAC ? &aes : &none, TPM2_ALG_SHA256, out);
	if (rc != TSS2_RC_SUCCESS) {
		*out = ESYS_TR_NONE;
		return hl_tpm_error(rc, "Esys_StartAuthSession");
	}
	if (type == TPM2_SE_TRIAL)
		return 0;
	/* kept open after the command, so that flush() ends it either way */
	rc = Esys_TRSess_SetAttributes(e, *out, TPMA_SESSION_CONTINUESESSION | attrs, 0xff);
	return rc == TSS2_RC_SUCCESS ? 0 : hl_tpm_error(rc, "Esys_TRSess_SetAttributes");
}

/* TPM2_PolicyPCR over MASK's PCRs as they are now, in session SESS. */
static int policy_pcr(struct hl_tpm *t, ESYS_TR sess, uint32_t mask)
{
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST none = { .size = 0 };
	TSS2_RC rc;

	pcr_selection(mask, &sel);
	rc = Esys_PolicyPCR(hl_tpm_esys(t), sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &none,
			    &sel);
	return rc == TSS2_RC_SUCCESS ? 0 : hl_tpm_error(rc, "Esys_PolicyPCR");
}

int hosts_tpm_seal(struct hl_tpm *t, uint32_t mask, const void *data, size_t len,
		   struct hosts_tpm_key *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	ESYS_TR srk = ESYS_TR_NONE, trial = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION none;
	TPM2B_DIGEST *policy = NULL;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	uint8_t tmp[sizeof(TPM2B_PRIVATE)];
	struct hosts_tpm_key k = { { NULL, 0 }, { NULL, 0 } };
	size_t plen = 0;
	TSS2_RC rc;
	int ret = -1;

	buf_clear(&out->pub);
	buf_clear(&out->priv);
	if (!data || len == 0 || len > HOSTS_TPM_SEAL_MAX)
		return hl_error("cannot seal %zu bytes: 1 to %d fit a sealed object", len,
				HOSTS_TPM_SEAL_MAX);
	if (!mask || (mask >> 24))
		return hl_error("cannot seal to PCR mask 0x%08x: give PCRs 0-23", (unsigned)mask);
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&none, 0, sizeof(none));
	memset(&tmpl, 0, sizeof(tmpl));
	/* the policy: PolicyPCR over the PCRs as they are now */
	if (session_start(t, ESYS_TR_NONE, TPM2_SE_TRIAL, 0, &trial) < 0 ||
	    policy_pcr(t, trial, mask) < 0)
		goto out;
	rc = Esys_PolicyGetDigest(e, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &policy);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_PolicyGetDigest");
		goto out;
	}
	ret = flush(t, &trial, 0);
	if (ret < 0)
		goto out;
	ret = -1;
	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   TPMA_OBJECT_NODA;
	tmpl.publicArea.authPolicy = *policy;
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	sens.sensitive.data.size = (UINT16)len;
	memcpy(sens.sensitive.data.buffer, data, len);
	/* the SRK's session encrypts the secret on its way in */
	if (srk_open(t, &srk) < 0 ||
	    session_start(t, srk, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &sess) < 0)
		goto out;
	rc = Esys_Create(e, srk, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &none,
			 &priv, &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_Create(sealed data)");
		goto out;
	}
	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, tmp, sizeof(tmp), &plen);
	if (rc != TSS2_RC_SUCCESS) {
		hl_error("cannot marshal TPM2B_PRIVATE: %s", Tss2_RC_Decode(rc));
		goto out;
	}
	if (public_marshal(pub, &k.pub) < 0 || hl_buf_set(&k.priv, tmp, plen) < 0)
		goto out;
	*out = k;
	buf_clear(&k.pub);
	buf_clear(&k.priv);
	ret = 0;
out:
	hl_crypto_cleanse(&sens, sizeof(sens));
	hosts_tpm_key_release(&k);
	ret = flush(t, &trial, ret);
	ret = flush(t, &sess, ret);
	tr_close(t, &srk);
	Esys_Free(policy);
	Esys_Free(priv);
	Esys_Free(pub);
	if (ret < 0)
		hl_error_wrap("cannot seal to the TPM");
	return ret;
}

/* 1 when RC is the TPM's TPM_RC_POLICY_FAIL (a policy session that does not satisfy it). */
static int rc_policy_fail(TSS2_RC rc)
{
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
	       (rc & 0x3f) == (TPM2_RC_POLICY_FAIL & 0x3f);
}

int hosts_tpm_unseal(struct hl_tpm *t, const struct hosts_tpm_key *sealed, uint32_t mask,
		     struct hl_buf *out)
{
	ESYS_CONTEXT *e = hl_tpm_esys(t);
	ESYS_TR srk = ESYS_TR_NONE, obj = ESYS_TR_NONE, pol = ESYS_TR_NONE, enc = ESYS_TR_NONE;
	TPM2B_SENSITIVE_DATA *data = NULL;
	TSS2_RC rc;
	int ret = -1;

	buf_clear(out);
	if (srk_open(t, &srk) < 0 || key_load(t, srk, sealed, "sealed data", &obj) < 0 ||
	    session_start(t, ESYS_TR_NONE, TPM2_SE_POLICY, 0, &pol) < 0 ||
	    policy_pcr(t, pol, mask) < 0 ||
	    session_start(t, srk, TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT, &enc) < 0)
		goto out;
	rc = Esys_Unseal(e, obj, pol, enc, ESYS_TR_NONE, &data);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_Unseal");
		if (rc_policy_fail(rc)) {
			hl_error_wrap("the PCRs it is sealed to have other values now");
			ret = HOSTS_TPM_POLICY_FAIL;
		}
		goto out;
	}
	if (hl_buf_set(out, data->buffer, data->size) < 0)
		goto out;
	ret = 0;
out:
	if (data) {
		hl_crypto_cleanse(data, sizeof(*data));
		Esys_Free(data);
	}
	ret = flush(t, &enc, ret);
	ret = flush(t, &pol, ret);
	ret = flush(t, &obj, ret);
	tr_close(t, &srk);
	if (ret < 0)
		hl_error_wrap("cannot unseal from the TPM");
	return ret;
}

/* ---- measured boot replay ---- */

int hosts_tpm_extend(struct hl_tpm *t, const struct hosts_pcr_extend *ext, size_t n)
{
	TPML_DIGEST_VALUES v;
	TSS2_RC rc;
	size_t i;

	for (i = 0; i < n; i++) {
		if (ext[i].pcr >= HL_TPM_PCR_COUNT)
			return hl_error("cannot replay event %zu: pcr %u does not exist (0 to %d)", i,
					ext[i].pcr, HL_TPM_PCR_COUNT - 1);
		memset(&v, 0, sizeof(v));
		v.count = 2;
		v.digests[0].hashAlg = TPM2_ALG_SHA1;
		memcpy(v.digests[0].digest.sha1, ext[i].sha1, HL_SHA1_LEN);
		v.digests[1].hashAlg = TPM2_ALG_SHA256;
		memcpy(v.digests[1].digest.sha256, ext[i].sha256, HL_SHA256_LEN);
		rc = Esys_PCR_Extend(hl_tpm_esys(t), ESYS_TR_PCR0 + ext[i].pcr, ESYS_TR_PASSWORD,
				     ESYS_TR_NONE, ESYS_TR_NONE, &v);
		if (rc != TSS2_RC_SUCCESS) {
			hl_tpm_error(rc, "Esys_PCR_Extend");
			return hl_error_wrap("cannot replay event %zu into pcr %u", i, ext[i].pcr);
		}
	}
	return 0;
}
