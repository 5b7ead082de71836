/*
 * seal.c - the disk key in the vTPM, over tpm2-tss ESYS and the device TCTI.
 *
 * Scheme (guest/README.md, "The disk key in the vTPM"): an ECC P-256
 * restricted-decrypt storage primary is created in the owner hierarchy (the
 * same key every time: it is derived from the vTPM's owner seed), a salted
 * HMAC session is started against it with AES-128-CFB parameter encryption,
 * and in that session the key is drawn (TPM2_GetRandom, response encrypted),
 * sealed (TPM2_Create of a KEYEDHASH data object, sensitive data encrypted)
 * and read back (TPM2_Unseal, response encrypted).  The sealed object is made
 * persistent at SEAL_HANDLE with TPM2_EvictControl, so it lives in the vTPM's
 * NV state, which the host keeps encrypted with the VM's transport key.
 *
 * The agent is the vTPM's only user, so it talks to /dev/tpm0 directly: the
 * kernel's resource manager (/dev/tpmrm0) would wrap every command in context
 * loads and saves of the primary and the session, three times the round
 * trips to swtpm.  Without it the agent flushes its transient objects and the
 * session itself (seal_close); the VM powers off after any failure anyway.
 */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti_device.h>

#include "guest/agent.h"

struct seal {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR primary;   /* the storage primary (transient) */
	ESYS_TR session;   /* salted HMAC session with parameter encryption */
};

/* An error message for a TPM call. */
static int tpm_err(const char *what, TSS2_RC rc)
{
	return agent_err("%s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
}

/* True when RC is the TPM's "no object at this handle" (TPM_RC_HANDLE). */
static int rc_is_no_handle(TSS2_RC rc)
{
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
	       (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HANDLE;
}

/* The storage primary's template: ECC P-256, AES-128-CFB, restricted decrypt. */
static const TPM2B_PUBLIC primary_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
				    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
				    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme = { .scheme = TPM2_ALG_NULL },
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = { .scheme = TPM2_ALG_NULL },
		},
	},
};

/* Set the session's parameter-encryption flags for the next command. */
static int session_flags(struct seal *s, TPMA_SESSION flags)
{
	TSS2_RC rc = Esys_TRSess_SetAttributes(s->esys, s->session,
					       TPMA_SESSION_CONTINUESESSION | flags, 0xff);

	return rc ? tpm_err("cannot set the vTPM session's attributes", rc) : 0;
}

/* Open the vTPM, create the storage primary, start the encrypted session. */
int seal_open(struct seal **out, const char *dev)
{
	TPM2B_SENSITIVE_CREATE nosens = { 0 };
	TPM2B_DATA noinfo = { 0 };
	TPML_PCR_SELECTION nopcr = { 0 };
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
	struct seal *s;
	size_t size = 0;
	TSS2_RC rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return agent_err("out of memory");
	s->primary = s->session = ESYS_TR_NONE;
	rc = Tss2_Tcti_Device_Init(NULL, &size, NULL);
	if (rc == 0 && !(s->tcti = calloc(1, size)))
		rc = TSS2_BASE_RC_MEMORY;
	if (rc == 0)
		rc = Tss2_Tcti_Device_Init(s->tcti, &size, dev);
	if (rc) {
		tpm_err("cannot open the vTPM", rc);
		goto fail;
	}
	rc = Esys_Initialize(&s->esys, s->tcti, NULL);
	if (rc) {
		tpm_err("cannot talk to the vTPM", rc);
		goto fail;
	}
	rc = Esys_CreatePrimary(s->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				&nosens, &primary_template, &noinfo, &nopcr, &s->primary,
				NULL, NULL, NULL, NULL);
	if (rc) {
		tpm_err("cannot create the vTPM's storage primary key", rc);
		goto fail;
	}
	rc = Esys_StartAuthSession(s->esys, s->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &s->session);
	if (rc) {
		tpm_err("cannot start an encrypted session with the vTPM", rc);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	seal_close(s);
	return -1;
}

/* TPM2_GetRandom in the encrypted session, looped until LEN bytes. */
int seal_random(struct seal *s, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		TPM2B_DIGEST *r = NULL;
		TSS2_RC rc;

		if (session_flags(s, TPMA_SESSION_ENCRYPT) < 0)
			return -1;
		rc = Esys_GetRandom(s->esys, s->session, ESYS_TR_NONE, ESYS_TR_NONE,
				    (UINT16)(len - got), &r);
		if (rc)
			return tpm_err("cannot draw the disk key from the vTPM (TPM2_GetRandom)", rc);
		if (r->size == 0 || r->size > len - got) {
			unsigned int n = r->size;

			Esys_Free(r);
			return agent_err("the vTPM returned %u random bytes for %zu asked", n, len - got);
		}
		memcpy(buf + got, r->buffer, r->size);
		got += r->size;
		explicit_bzero(r, sizeof(*r));
		Esys_Free(r);
	}
	return 0;
}

/* Evict the sealed key at SEAL_HANDLE; nothing there is fine. */
int seal_forget(struct seal *s)
{
	ESYS_TR old = ESYS_TR_NONE, gone = ESYS_TR_NONE;
	TSS2_RC rc;

	rc = Esys_TR_FromTPMPublic(s->esys, SEAL_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &old);
	if (rc_is_no_handle(rc))
		return 0;
	if (rc)
		return tpm_err("cannot look at the vTPM's persistent handle 0x81000100", rc);
	rc = Esys_EvictControl(s->esys, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       SEAL_HANDLE, &gone);
	if (rc) {
		Esys_TR_Close(s->esys, &old);
		return tpm_err("cannot remove the old disk key at 0x81000100", rc);
	}
	return 0;
}

/* Create the sealed object, persist it at SEAL_HANDLE, and read it back. */
int seal_store(struct seal *s, const uint8_t *key, size_t len)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
			.parameters.keyedHashDetail.scheme = { .scheme = TPM2_ALG_NULL },
		},
	};
	TPM2B_DATA noinfo = { 0 };
	TPML_PCR_SELECTION nopcr = { 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR loaded = ESYS_TR_NONE, persistent = ESYS_TR_NONE;
	uint8_t check[SEAL_MAX_LEN];
	size_t got = 0;
	TSS2_RC rc;
	int ret = -1;

	if (len == 0 || len > sizeof(sens.sensitive.data.buffer) || len > sizeof(check))
		return agent_err("a %zu-byte disk key cannot be sealed", len);
	memcpy(sens.sensitive.data.buffer, key, len);
	sens.sensitive.data.size = (UINT16)len;
	if (session_flags(s, TPMA_SESSION_DECRYPT) < 0)
		goto cleanup;
	rc = Esys_Create(s->esys, s->primary, s->session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
			 &noinfo, &nopcr, &priv, &pub, NULL, NULL, NULL);
	if (rc) {
		tpm_err("cannot seal the disk key in the vTPM (TPM2_Create)", rc);
		goto cleanup;
	}
	if (session_flags(s, 0) < 0)
		goto cleanup;
	rc = Esys_Load(s->esys, s->primary, s->session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &loaded);
	if (rc) {
		tpm_err("cannot load the sealed disk key (TPM2_Load)", rc);
		goto cleanup;
	}
	if (seal_forget(s) < 0)
		goto cleanup;
	rc = Esys_EvictControl(s->esys, ESYS_TR_RH_OWNER, loaded, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, SEAL_HANDLE, &persistent);
	if (rc) {
		tpm_err("cannot persist the sealed disk key at 0x81000100 (TPM2_EvictControl)", rc);
		goto cleanup;
	}
	/* Read it back: provisioning succeeds only when a run will unseal it. */
	if (seal_load(s, check, sizeof(check), &got) < 0)
		goto cleanup;
	if (got != len || memcmp(check, key, len) != 0) {
		agent_err("the vTPM gave back another key than the one sealed");
		goto cleanup;
	}
	ret = 0;
cleanup:
	explicit_bzero(&sens, sizeof(sens));
	explicit_bzero(check, sizeof(check));
	if (loaded != ESYS_TR_NONE)
		Esys_FlushContext(s->esys, loaded);
	if (persistent != ESYS_TR_NONE)
		Esys_TR_Close(s->esys, &persistent);
	Esys_Free(priv);
	Esys_Free(pub);
	return ret;
}

/* Unseal the persistent key after checking it is a sealed data object. */
int seal_load(struct seal *s, uint8_t *key, size_t cap, size_t *len)
{
	ESYS_TR obj = ESYS_TR_NONE;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_SENSITIVE_DATA *data = NULL;
	TSS2_RC rc;
	int ret = -1;

	rc = Esys_TR_FromTPMPublic(s->esys, SEAL_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &obj);
	if (rc_is_no_handle(rc))
		return agent_err("cannot unseal the disk key: the vTPM does not hold it (was this VM provisioned?)");
	if (rc)
		return tpm_err("cannot unseal the disk key: cannot read the vTPM's handle 0x81000100", rc);
	rc = Esys_ReadPublic(s->esys, obj, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
	if (rc) {
		tpm_err("cannot unseal the disk key: cannot read the object at 0x81000100", rc);
		goto cleanup;
	}
	if (pub->publicArea.type != TPM2_ALG_KEYEDHASH ||
	    !(pub->publicArea.objectAttributes & TPMA_OBJECT_FIXEDTPM)) {
		agent_err("cannot unseal the disk key: the object at 0x81000100 is not a sealed disk key");
		goto cleanup;
	}
	if (session_flags(s, TPMA_SESSION_ENCRYPT) < 0)
		goto cleanup;
	rc = Esys_Unseal(s->esys, obj, s->session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (rc) {
		tpm_err("cannot unseal the disk key (TPM2_Unseal)", rc);
		goto cleanup;
	}
	if (data->size != AGENT_KEY_LEN && data->size != AGENT_LEGACY_KEY_LEN) {
		agent_err("cannot unseal the disk key: the vTPM holds %u bytes, not a %d-byte key",
			  data->size, AGENT_KEY_LEN);
		goto cleanup;
	}
	if (data->size > cap) {
		agent_err("cannot unseal the disk key: %u bytes do not fit in %zu", data->size, cap);
		goto cleanup;
	}
	memcpy(key, data->buffer, data->size);
	*len = data->size;
	ret = 0;
cleanup:
	if (data) {
		explicit_bzero(data, sizeof(*data));
		Esys_Free(data);
	}
	Esys_Free(pub);
	if (obj != ESYS_TR_NONE)
		Esys_TR_Close(s->esys, &obj);
	return ret;
}

/* Flush the session and the primary, close ESYS and the TCTI; NULL-safe. */
void seal_close(struct seal *s)
{
	if (!s)
		return;
	if (s->esys) {
		if (s->session != ESYS_TR_NONE)
			Esys_FlushContext(s->esys, s->session);
		if (s->primary != ESYS_TR_NONE)
			Esys_FlushContext(s->esys, s->primary);
		Esys_Finalize(&s->esys);
	}
	if (s->tcti) {
		Tss2_Tcti_Finalize(s->tcti);
		free(s->tcti);
	}
	free(s);
}
