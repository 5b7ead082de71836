/*
 * tpm.c - TPM 2.0 access over tpm2-tss ESYS (see tpm.h for the contract).
 *
 * The guarded-host side of hgslab (measured boot, attestation, key unwrap)
 * talks to its swtpm through this module: connect and disconnect, tss2 error
 * messages in one format, transient-object housekeeping (there is no resource
 * manager), and the basic operations later code builds on: random bytes,
 * SHA-256 PCR read and extend.  Everything goes through ESYS; no TPM command
 * is marshalled here.  Also what both ends of TPM attestation need to read a
 * TPM public area: its OpenSSL key (over lib/crypto) and algorithm names.
 */
#include "lib/tpm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "lib/crypto.h"

/*
 * TPM2_TRANSIENT_FIRST, spelled so that it is unsigned: the tss2 macro shifts
 * a promoted int into its sign bit, which UBSan rejects.
 */
#define TRANSIENT_FIRST ((TPM2_HANDLE)TPM2_HT_TRANSIENT << TPM2_HR_SHIFT)

/* Bytes asked of TPM2_GetRandom per call (a TPM returns at most one digest). */
#define RANDOM_CHUNK 32

struct hl_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

int hl_tpm_error(TSS2_RC rc, const char *call)
{
	const char *hint = "";

	if (rc == TPM2_RC_OBJECT_MEMORY)
		hint = "; flush transient objects when done with them (there is no resource manager)";
	else if (rc == TPM2_RC_SESSION_MEMORY)
		hint = "; flush sessions when done with them (there is no resource manager)";
	return hl_error("tpm: %s failed: %s%s", call, Tss2_RC_Decode(rc), hint);
}

int hl_tpm_connect(const char *tcti_conf, struct hl_tpm **out)
{
	struct hl_tpm *t;
	TSS2_RC rc;

	*out = NULL;
	if (!tcti_conf || !tcti_conf[0])
		return hl_error("tpm: cannot connect: no TCTI configuration given");
	t = calloc(1, sizeof(*t));
	if (!t)
		return hl_error("tpm: cannot connect to '%s': out of memory", tcti_conf);
	rc = Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		hl_error("tpm: cannot connect to '%s': Tss2_TctiLdr_Initialize failed: %s; "
			 "check that swtpm is running there", tcti_conf, Tss2_RC_Decode(rc));
		goto fail;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hl_tpm_error(rc, "Esys_Initialize");
		hl_error_wrap("tpm: cannot connect to '%s'", tcti_conf);
		goto fail;
	}
	*out = t;
	return 0;

fail:
	hl_tpm_disconnect(t);
	return -1;
}

void hl_tpm_disconnect(struct hl_tpm *t)
{
	if (!t)
		return;
	if (t->esys)
		Esys_Finalize(&t->esys);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

ESYS_CONTEXT *hl_tpm_esys(struct hl_tpm *t)
{
	return t->esys;
}

/* The handles of all loaded transient objects: *out (free it) and *count. */
static int transient_handles(struct hl_tpm *t, TPM2_HANDLE **out, size_t *count)
{
	TPMS_CAPABILITY_DATA *data = NULL;
	TPMI_YES_NO more = TPM2_YES;
	TPM2_HANDLE next = TRANSIENT_FIRST, *list = NULL, *grown;
	size_t n = 0;
	UINT32 i;
	TSS2_RC rc;

	*out = NULL;
	*count = 0;
	while (more) {
		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_HANDLES, next, TPM2_MAX_CAP_HANDLES, &more, &data);
		if (rc != TSS2_RC_SUCCESS) {
			free(list);
			return hl_tpm_error(rc, "Esys_GetCapability(handles)");
		}
		if (data->data.handles.count == 0) {
			Esys_Free(data);
			break;
		}
		grown = realloc(list, (n + data->data.handles.count) * sizeof(*list));
		if (!grown) {
			Esys_Free(data);
			free(list);
			return hl_error("tpm: cannot list transient objects: out of memory");
		}
		list = grown;
		for (i = 0; i < data->data.handles.count; i++) {
			TPM2_HANDLE h = data->data.handles.handle[i];

			if ((h >> TPM2_HR_SHIFT) == TPM2_HT_TRANSIENT)
				list[n++] = h;
			next = h + 1;
		}
		Esys_Free(data);
		data = NULL;
	}
	*out = list;
	*count = n;
	return 0;
}

int hl_tpm_transient_count(struct hl_tpm *t)
{
	TPM2_HANDLE *list;
	size_t n;

	if (transient_handles(t, &list, &n) < 0)
		return -1;
	free(list);
	return (int)n;
}

int hl_tpm_flush_transients(struct hl_tpm *t)
{
	TPM2_HANDLE *list;
	ESYS_TR tr;
	TSS2_RC rc;
	size_t n, i;
	int ret = -1;

	if (transient_handles(t, &list, &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		rc = Esys_TR_FromTPMPublic(t->esys, list[i], ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, &tr);
		if (rc != TSS2_RC_SUCCESS) {
			hl_tpm_error(rc, "Esys_TR_FromTPMPublic");
			goto cleanup;
		}
		rc = Esys_FlushContext(t->esys, tr);
		if (rc != TSS2_RC_SUCCESS) {
			Esys_TR_Close(t->esys, &tr);
			hl_tpm_error(rc, "Esys_FlushContext");
			goto cleanup;
		}
	}
	ret = (int)n;

cleanup:
	if (ret < 0)
		hl_error_wrap("tpm: cannot flush transient object 0x%08x", list[i]);
	free(list);
	return ret;
}

int hl_tpm_random(struct hl_tpm *t, void *buf, size_t len)
{
	TPM2B_DIGEST *d = NULL;
	unsigned char *p = buf;
	size_t want;
	TSS2_RC rc;

	while (len > 0) {
		want = len < RANDOM_CHUNK ? len : RANDOM_CHUNK;
		rc = Esys_GetRandom(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    (UINT16)want, &d);
		if (rc != TSS2_RC_SUCCESS)
			return hl_tpm_error(rc, "Esys_GetRandom");
		if (d->size == 0 || d->size > want) {
			unsigned size = d->size;

			Esys_Free(d);
			return hl_error("tpm: Esys_GetRandom returned %u bytes when %zu were asked; "
					"the TPM is misbehaving", size, want);
		}
		memcpy(p, d->buffer, d->size);
		p += d->size;
		len -= d->size;
		memset(d->buffer, 0, d->size);
		Esys_Free(d);
		d = NULL;
	}
	return 0;
}

int hl_tpm_pcr_read(struct hl_tpm *t, uint32_t mask,
		    uint8_t values[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN])
{
	TPML_PCR_SELECTION sel, *got_sel = NULL;
	TPML_DIGEST *got = NULL;
	uint32_t left, before;
	UINT32 counter, s, k;
	unsigned pcr;
	TSS2_RC rc;

	if (mask >> HL_TPM_PCR_COUNT)
		return hl_error("tpm: cannot read PCRs 0x%08x: PCRs go from 0 to %d", mask,
				HL_TPM_PCR_COUNT - 1);
	left = mask;
	while (left) {
		memset(&sel, 0, sizeof(sel));
		sel.count = 1;
		sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
		sel.pcrSelections[0].sizeofSelect = 3;
		for (pcr = 0; pcr < HL_TPM_PCR_COUNT; pcr++)
			if (left & (1u << pcr))
				sel.pcrSelections[0].pcrSelect[pcr / 8] |= (BYTE)(1u << (pcr % 8));
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
				   &counter, &got_sel, &got);
		if (rc != TSS2_RC_SUCCESS)
			return hl_tpm_error(rc, "Esys_PCR_Read");
		/* the digests come in selection order: bank by bank, PCR by PCR */
		before = left;
		k = 0;
		for (s = 0; s < got_sel->count; s++) {
			const TPMS_PCR_SELECTION *ps = &got_sel->pcrSelections[s];

			for (pcr = 0; pcr < HL_TPM_PCR_COUNT && pcr / 8 < ps->sizeofSelect; pcr++) {
				if (!(ps->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
					continue;
				if (k >= got->count)
					break;
				if (ps->hash == TPM2_ALG_SHA256 && (left & (1u << pcr)) &&
				    got->digests[k].size == HL_TPM_SHA256_LEN) {
					memcpy(values[pcr], got->digests[k].buffer, HL_TPM_SHA256_LEN);
					left &= ~(1u << pcr);
				}
				k++;
			}
		}
		Esys_Free(got_sel);
		Esys_Free(got);
		got_sel = NULL;
		got = NULL;
		if (left == before)
			return hl_error("tpm: TPM2_PCR_Read returned none of PCRs 0x%06x in the "
					"sha256 bank; is that bank allocated?", left);
	}
	return 0;
}

int hl_tpm_pcr_extend(struct hl_tpm *t, unsigned pcr, const uint8_t digest[HL_TPM_SHA256_LEN])
{
	TPML_DIGEST_VALUES v;
	TSS2_RC rc;
	char what[48];

	if (pcr >= HL_TPM_PCR_COUNT)
		return hl_error("tpm: cannot extend PCR %u: PCRs go from 0 to %d", pcr,
				HL_TPM_PCR_COUNT - 1);
	memset(&v, 0, sizeof(v));
	v.count = 1;
	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(v.digests[0].digest.sha256, digest, HL_TPM_SHA256_LEN);
	rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			     ESYS_TR_NONE, &v);
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(what, sizeof(what), "Esys_PCR_Extend(PCR %u)", pcr);
		return hl_tpm_error(rc, what);
	}
	return 0;
}

/* A readable name for TPM algorithm ALG (messages only). */
const char *hl_tpm_alg_name(TPM2_ALG_ID alg)
{
	switch (alg) {
	case TPM2_ALG_RSA: return "rsa";
	case TPM2_ALG_ECC: return "ecc";
	case TPM2_ALG_SHA1: return "sha1";
	case TPM2_ALG_SHA256: return "sha256";
	case TPM2_ALG_SHA384: return "sha384";
	case TPM2_ALG_SHA512: return "sha512";
	case TPM2_ALG_RSASSA: return "rsassa";
	case TPM2_ALG_RSAPSS: return "rsapss";
	case TPM2_ALG_ECDSA: return "ecdsa";
	case TPM2_ALG_OAEP: return "oaep";
	case TPM2_ALG_RSAES: return "rsaes";
	case TPM2_ALG_NULL: return "null";
	default: return "unknown";
	}
}

/* The OpenSSL public key of public area P. */
int hl_tpm_public_key(const TPMT_PUBLIC *p, EVP_PKEY **out)
{
	const TPMS_RSA_PARMS *rsa = &p->parameters.rsaDetail;
	const TPMS_ECC_PARMS *ecc = &p->parameters.eccDetail;

	switch (p->type) {
	case TPM2_ALG_RSA:
		if (rsa->keyBits != 2048 && rsa->keyBits != 3072)
			return hl_error("tpm public area holds a %u-bit rsa key; only rsa 2048 and "
					"3072 are supported", rsa->keyBits);
		if (p->unique.rsa.size != rsa->keyBits / 8)
			return hl_error("tpm public area is inconsistent: a %u-bit rsa key with a "
					"%u-byte modulus", rsa->keyBits, p->unique.rsa.size);
		return hl_key_rsa_from_n_e(p->unique.rsa.buffer, p->unique.rsa.size,
					   rsa->exponent, out);
	case TPM2_ALG_ECC:
		if (ecc->curveID != TPM2_ECC_NIST_P256)
			return hl_error("tpm public area holds an ecc key on curve 0x%04x; only "
					"nist p-256 is supported", ecc->curveID);
		return hl_key_ec_p256_from_xy(p->unique.ecc.x.buffer, p->unique.ecc.x.size,
					      p->unique.ecc.y.buffer, p->unique.ecc.y.size, out);
	default:
		return hl_error("tpm public area has type 0x%04x (%s); only rsa and ecc keys "
				"are supported", p->type, hl_tpm_alg_name(p->type));
	}
}
