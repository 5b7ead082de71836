/*
 * hgs_client.h - a guarded host's client of the HGS attestation service
 * (the HGS client of "Set-HgsClientConfiguration"): it learns who the HGS
 * is, and attests in TPM mode or host-key mode, over HTTP (lib/http) with
 * the lab's resolve list.  docs/attestation-protocol.md specifies the wire
 * exchange; this module only speaks it.
 *
 * TPM mode, one call (hosts_hgs_attest_tpm) does what a host needs:
 *   1. unless the caller knows the AK is bound (*ak_bound set), the
 *      activation exchange: POST /Attestation/v1/tpm/activate with the EK
 *      and the AK; HGS answers "bound" (this AK is already pinned to the
 *      EK) or a credential (MakeCredential for the AK's name and the
 *      registered EK), which the TPM opens with TPM2_ActivateCredential;
 *      POST /Attestation/v1/tpm/activate/complete with the secret pins the
 *      AK to the EK for good;
 *   2. POST /Attestation/v1/nonce;
 *   3. TPM2_Quote of the PCRs over the nonce, TPM2_Certify of the transport
 *      key by the AK over the same nonce (hosts/tpm_host.h);
 *   4. POST /Attestation/v1/tpm/attest with quote, certify, AK, transport
 *      key and TCG log; HGS replays the log, evaluates its policies and
 *      answers with the decision.
 * A refusal at any step (unregistered EK, an AK other than the pinned one,
 * InsecureHostConfiguration...) is a decision, returned with 0: the caller
 * reads out->status.  -1 means no decision was obtained (HGS unreachable, a
 * reply that is not the protocol, a TPM failure), with the error message.
 *
 * URLs.  BASE is the attestation URL the host is configured with, either
 * "http://hgs.relecloud.com:8080" or "http://hgs.relecloud.com:8080/Attestation"
 * (the real client's form; a trailing '/' is allowed): routes are appended
 * as "/Attestation/v1/...".  RESOLVE maps lab names to loopback addresses
 * (lib/http.h), e.g. "hgs.relecloud.com:8080:127.0.0.2".
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs are
 * cleared on entry (pass a zeroed or released struct: what it held is not
 * freed) and hold nothing to free after -1; the release functions are
 * NULL-safe and leave the struct zeroed, ready for reuse.  Nothing here keeps
 * state between calls: whether the AK is bound is the caller's to remember.
 */
#ifndef HGSLAB_HOSTS_HGS_CLIENT_H
#define HGSLAB_HOSTS_HGS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "hosts/keycache.h"
#include "hosts/tpm_host.h"
#include "lib/crypto.h"
#include "lib/tpm.h"

/* The HGS node that answered a request: its X-Hgs-Node header and address. */
struct hosts_hgs_peer {
	char node[64];                    /* "HGS02"; "" when the reply did not say */
	char address[64];                 /* "127.0.0.2"; "" unknown */
};

/*
 * Where the HGS is and how to reach it.  A cluster's name resolves to
 * every node ("hgs.relecloud.com:8080:127.0.0.1,127.0.0.2,127.0.0.3"):
 * lib/http tries the addresses in turn, so a dead node is passed over.
 */
struct hosts_hgs_conn {
	const char *url;                  /* attestation base URL (above) */
	const char *const *resolve;       /* NULL-terminated resolve list, or NULL */
	long timeout_ms;                  /* per request; 0 = lib/http's default */
	struct hosts_hgs_peer *peer;      /* set: the node of each reply is written there */
};

/* At most this many sub-status names are kept from a decision. */
#define HOSTS_HGS_SUBSTATUS_MAX 16

/*
 * An attestation decision as HGS gave it (docs/attestation-protocol.md
 * "Decision").  passed is status == "Passed"; health_cert_* and not_after
 * are set only then.
 */
struct hosts_hgs_decision {
	int passed;
	char status[32];                  /* AttestationStatus: "Passed", "TpmError", ... */
	char mode[16];                    /* "tpm", "ad", "hostkey" */
	char node[64];                    /* the HGS name that decided */
	char substatus[HOSTS_HGS_SUBSTATUS_MAX][48]; /* AttestationSubStatus names */
	size_t n_substatus;
	char substatus_text[512];         /* the same joined: "DebugMode, Iommu" ("" none) */
	char reason[512];                 /* HGS's sentence; "" when Passed */
	struct hl_buf health_cert_der;    /* the health certificate, DER */
	char *health_cert_pem;            /* the same, PEM (malloc'd) */
	time_t not_after;                 /* its expiry (node clock), 0 when none */
	char not_after_text[32];          /* "2026-11-29T01:48:59Z" as sent */
	char *json;                       /* the decision object as received (malloc'd) */
	long long log_id;                 /* "LogId": its entry in the attestation log, 0 none */
	struct hosts_keycache_policy caching; /* KeyMaterialCaching, PolicyGeneration */
};

/* Free D's buffers and zero it; NULL-safe. */
void hosts_hgs_decision_release(struct hosts_hgs_decision *d);

/* What GET /Attestation/v1/info says. */
struct hosts_hgs_info {
	int protocol;                     /* 1 */
	char name[64];                    /* "MyHgsService" */
	char domain[64];                  /* "relecloud.com" */
	char mode[16];                    /* trust mode: "tpm", "ad", "hostkey" */
	char operation_mode[32];          /* "TrustTpm", "TrustActiveDirectory", "TrustHostKey" */
	char *signer_cert_pem;            /* attestation signer certificate (malloc'd) */
	char signer_thumbprint[65];
	int healthcert_validity_h;
	int nonce_lifetime_s;
	time_t time;                      /* the node clock when it answered */
};

/* Free INFO's buffers and zero it; NULL-safe. */
void hosts_hgs_info_release(struct hosts_hgs_info *info);

/* GET /Attestation/v1/info into *OUT (to learn the node's trust mode). */
int hosts_hgs_get_info(const struct hosts_hgs_conn *c, struct hosts_hgs_info *out);

/*
 * POST /Attestation/v1/nonce for HOST (may be NULL; diagnostics only): a
 * fresh single-use nonce into OUT (32 bytes).
 */
int hosts_hgs_get_nonce(const struct hosts_hgs_conn *c, const char *host, struct hl_buf *out);

/* The TPM identity and evidence of a host, for TPM mode. */
struct hosts_hgs_tpm {
	const char *host;                 /* the name HGS registered (add-tpm-host --name) */
	struct hl_tpm *tpm;               /* connected to the host's TPM */
	const struct hosts_ek *ek;        /* hosts_tpm_read_ek() */
	const struct hosts_tpm_key *ak;   /* attestation key (hosts_tpm_create_ak) */
	const struct hosts_tpm_key *tk;   /* transport key (hosts_tpm_create_transport_key) */
	const void *tcglog;               /* the TCG log of the boot replayed into the PCRs */
	size_t tcglog_len;
	uint32_t pcr_mask;                /* PCRs to quote; 0 = HOSTS_QUOTE_PCRS */
};

/*
 * Credential activation only: prove T->ak lives beside T->ek and have HGS
 * pin it.  *OUT is Passed when the AK is bound (now or earlier), otherwise
 * HGS's refusal (UnauthorizedHost for an unregistered EK, an EK certificate
 * that does not chain to the vendor CA, or another AK than the pinned one).
 */
int hosts_hgs_activate(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
		       struct hosts_hgs_decision *out);

/*
 * Attest in TPM mode (steps 1-4 above) into *OUT.  AK_BOUND (may be NULL)
 * is in/out: when it points to non-zero the activation is skipped; it is set
 * to 1 once the AK is known to be bound.  An attestation refused because
 * the AK was never activated (e.g. HGS lost the pin) is retried once after
 * an activation.
 */
int hosts_hgs_attest_tpm(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
			 int *ak_bound, struct hosts_hgs_decision *out);

/*
 * Attest in host-key mode (Add-HgsAttestationHostKey) into *OUT: a nonce,
 * then a signature with HOST_KEY (the host's private machine key, RSA or
 * P-256) over nonce || DER(TRANSPORT_KEY), POST /Attestation/v1/hostkey/attest.
 * TRANSPORT_KEY is the RSA public key the health certificate will bind
 * (hosts_tpm_key_pem of the TPM transport key, loaded with hl_key_pub_from_pem).
 */
int hosts_hgs_attest_hostkey(const struct hosts_hgs_conn *c, const char *host,
			     EVP_PKEY *host_key, EVP_PKEY *transport_key,
			     struct hosts_hgs_decision *out);

#endif
