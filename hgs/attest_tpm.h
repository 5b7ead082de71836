/*
 * attest_tpm.h - TPM-trusted attestation (TrustTpm mode): the HGS routes a
 * guarded host with a TPM 2.0 uses, checked in software with
 * hgs/tpm_verify (HGS has no TPM of its own).  docs/attestation-protocol.md
 * "TPM mode" is the wire specification; hosts/hgs_client.h the client.
 *
 *   POST /Attestation/v1/tpm/activate           credential activation, step 1
 *   POST /Attestation/v1/tpm/activate/complete  credential activation, step 2
 *   POST /Attestation/v1/tpm/attest             quote + TCG log + certified TK
 *
 * Activation proves that an attestation key (AK) lives in the same TPM as
 * the EK registered with `hgslab hgs add-tpm-host`: HGS finds the host by
 * its EK, re-checks the EK certificate against the TPM vendor CA (unless the
 * host was added with --force), checks the AK's attributes and sends
 * MakeCredential(registered EK, AK name, fresh secret); only that TPM can
 * open it with TPM2_ActivateCredential, and the host answers with the
 * secret.  HGS then pins the AK to the host for good (table tpm_ak_pins):
 * another AK for the same EK, in a later activation or attestation, is
 * refused with UnauthorizedHost.  Removing the host removes the pin.
 *
 * Attestation checks, in order, stopping at the first refusal: the body
 * (400), the nonce (hgs/nonce.h), the registration and the EK certificate
 * (UnauthorizedHost), the AK against the pinned one (UnauthorizedHost), the
 * quote and the transport key's TPM2_Certify (TpmError), the TCG log: it
 * parses, has a SHA-256 bank, every must-hash event is intact, extends only
 * quoted PCRs and replays to the quote's pcrDigest (all
 * InsecureHostConfiguration + TcgLogVerification), then every Hgs_* policy
 * (hgs_policy_evaluate against the registered baselines and CI policies).
 * Passed issues a health certificate binding the certified transport key.
 *
 * Caches (attest_tpm.c, "the accepted-registration cache"): /tpm/attest
 * reads the host's registration row and the vendor CA bundle at every
 * attestation, but parses the EK and verifies its certificate chain only
 * when that exact content (ek_public, ek_certificate, the --force flag, the
 * bundle) has not been accepted before for a node clock range in which no
 * certificate involved changes validity state.  Entries are keyed by the
 * SHA-256 of that content, so a change by any process or thread (CLI admin
 * verbs writing hgs.db while serve runs) is seen at the next attestation;
 * only acceptances are kept (256, the oldest replaced), under their own
 * mutex.  The TCG log replay made to match the quote is handed to the
 * policy evaluation, which remembers replayed baselines (policy.h).
 */
#ifndef HGSLAB_HGS_ATTEST_TPM_H
#define HGSLAB_HGS_ATTEST_TPM_H

#include "hgs/serve.h"

/* How long an activation challenge may be answered, seconds. */
#define HGS_TPM_CHALLENGE_LIFETIME_S 300

/* The secret HGS protects with MakeCredential: 32 random bytes. */
#define HGS_TPM_CHALLENGE_SECRET_LEN 32

/*
 * The SHA-256 PCRs every quote must cover: 0-7 (firmware, boot path,
 * Secure Boot: what the TPM baselines match) and 11-14 (the boot
 * configuration the Hgs_* policies read).  Equal to hosts/tpm_host.h's
 * HOSTS_QUOTE_PCRS.  A log that extends any PCR the quote omits is refused.
 */
#define HGS_TPM_REQUIRED_PCRS 0x000078ffu

extern const struct hgs_route hgs_tpm_routes[];

#endif
