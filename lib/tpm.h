/*
 * tpm.h - TPM 2.0 access over tpm2-tss ESYS (host TPMs are swtpm, see swtpm.h).
 *
 * hl_tpm_connect() loads a TCTI from its configuration string (normally
 * hl_swtpm_tcti(): "swtpm:host=127.0.0.1,port=P") and opens an ESYS context
 * on it.  TPM2_Startup is not sent: swtpm's startup-clear flag did it.
 *
 * There is no resource manager between hgslab and swtpm, so transient objects
 * stay loaded until flushed and the TPM has only a few slots (3 on swtpm):
 * code that creates or loads objects flushes them (Esys_FlushContext) when
 * done, or calls hl_tpm_flush_transients(); otherwise the next load fails with
 * TPM_RC_OBJECT_MEMORY (0x902).
 *
 * Errors from tss2 are decoded with Tss2_RC_Decode, e.g.
 *   tpm: Esys_CreatePrimary failed: tpm:warn(2.0): out of memory for object contexts
 * Code that calls ESYS directly reports failures with hl_tpm_error() so that
 * every TPM message reads the same.  TPM structures are marshalled with
 * libtss2-mu, never by hand.
 *
 * Calls block until the TPM answers (ESYS synchronous calls have no timeout);
 * swtpm is local, so a hung call means a hung swtpm.  A struct hl_tpm belongs
 * to one thread at a time.
 */
#ifndef HGSLAB_LIB_TPM_H
#define HGSLAB_LIB_TPM_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include <tss2/tss2_esys.h>

#include "lib/err.h"

/* PCRs in a PC Client TPM's banks. */
#define HL_TPM_PCR_COUNT 24

/* Size of a SHA-256 PCR value. */
#define HL_TPM_SHA256_LEN 32

struct hl_tpm;

/* Connect to the TPM behind TCTI_CONF ("swtpm:host=H,port=P"). */
int hl_tpm_connect(const char *tcti_conf, struct hl_tpm **out);

/* Finalize the ESYS context and the TCTI.  NULL-safe. */
void hl_tpm_disconnect(struct hl_tpm *t);

/* The ESYS context, for operations this module does not wrap. */
ESYS_CONTEXT *hl_tpm_esys(struct hl_tpm *t);

/*
 * Set "tpm: CALL failed: <Tss2_RC_Decode(RC)>" (plus a hint for well-known
 * codes such as 0x902) and return -1.
 */
int hl_tpm_error(TSS2_RC rc, const char *call);

/* The number of transient objects loaded in the TPM (>= 0), or -1. */
int hl_tpm_transient_count(struct hl_tpm *t);

/*
 * Flush every transient object loaded in the TPM; returns how many (>= 0).
 * ESYS_TRs the caller still holds for those objects become stale: close them
 * with Esys_TR_Close.
 */
int hl_tpm_flush_transients(struct hl_tpm *t);

/* Fill BUF with LEN random bytes from the TPM (TPM2_GetRandom). */
int hl_tpm_random(struct hl_tpm *t, void *buf, size_t len);

/*
 * Read the SHA-256 bank for the PCRs set in MASK (bit n = PCR n) into
 * VALUES[n]; other entries are left alone.
 */
int hl_tpm_pcr_read(struct hl_tpm *t, uint32_t mask,
		    uint8_t values[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN]);

/* Extend PCR (0..23) in the SHA-256 bank with DIGEST (TPM2_PCR_Extend). */
int hl_tpm_pcr_extend(struct hl_tpm *t, unsigned pcr, const uint8_t digest[HL_TPM_SHA256_LEN]);

/* A readable name for TPM algorithm ALG, for messages ("rsa", "sha256"; "unknown"). */
const char *hl_tpm_alg_name(TPM2_ALG_ID alg);

/*
 * The OpenSSL public key of TPM public area P into *OUT: an RSA 2048 or 3072
 * key whose modulus has its stated size, or an ECC NIST P-256 key; any other
 * key is refused with a message naming what it is.  Both sides use it: the
 * guarded host for its own keys, the HGS for the keys a host presents.
 */
int hl_tpm_public_key(const TPMT_PUBLIC *p, EVP_PKEY **out);

#endif
