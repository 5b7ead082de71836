/*
 * ad_client.h - the guarded host's side of AD-mode attestation: get a
 * membership ticket from the fabric DC with the machine key (what a
 * domain-joined Windows host's Kerberos client does), then attest to HGS
 * with it.  The host agent (`hgslab host run`) and `hgslab fabric
 * get-ticket` call these; docs/attestation-protocol.md "AD mode" has the
 * exchanges.
 *
 *   char *ticket = NULL;
 *   struct ad_attest_result res;
 *   if (ad_client_get_ticket("http://dc01.fabrikam.com:8088", &http, "FabricHost1",
 *                            machine_key, &ticket, NULL) < 0) ...
 *   if (ad_client_attest("http://hgs.relecloud.com:8080/Attestation", &http,
 *                        "FabricHost1", ticket, machine_key, transport_key, &res) < 0) ...
 *   if (res.result.status == HGS_STATUS_PASSED) ... res.health_cert ...
 *   ad_attest_result_release(&res);
 *
 * HTTP options (timeouts, the lab's resolve list mapping dc01.fabrikam.com
 * and hgs.relecloud.com to loopback addresses) are lib/http's.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().  A refusal by
 * HGS (any AttestationStatus other than Passed) is a result, not an error;
 * a refusal by the DC (no ticket) is an error carrying the DC's message.
 */
#ifndef HGSLAB_HOSTS_AD_CLIENT_H
#define HGSLAB_HOSTS_AD_CLIENT_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/ad_ticket.h"
#include "proto/attest.h"
#include "lib/http.h"

/*
 * Ask the DC at DC_URL (its base URL, e.g. http://dc01.fabrikam.com:8088)
 * for a ticket for COMPUTER: a DC nonce (POST /Fabric/v1/nonce), then POST
 * /Fabric/v1/ticket signed with MACHINE_KEY (private).  *TICKET gets the
 * ticket (malloc'd compact JWS), *INFO (may be NULL) what it says (read
 * without verifying: the host does not need to trust the DC key for that).
 */
int ad_client_get_ticket(const char *dc_url, const struct hl_http_opts *opts,
			 const char *computer, EVP_PKEY *machine_key, char **ticket,
			 struct ad_ticket **info);

/* The decision HGS returned. */
struct ad_attest_result {
	struct hgs_result result;          /* AttestationStatus, sub-status, reason */
	char node[64];                     /* the HGS that decided, as it named itself */
	X509 *health_cert;                 /* Passed only: binds the transport key */
	time_t not_after;                  /* its expiry, 0 when none */
};

/*
 * Attest HOST to the HGS whose Attestation URL is ATTESTATION_URL (as
 * Set-HgsClientConfiguration takes it, e.g.
 * http://hgs.relecloud.com:8080/Attestation; "/Attestation" is appended when
 * missing): an HGS nonce (POST .../v1/nonce), then POST .../v1/ad/attest with
 * TICKET, TRANSPORT_KEY's public half (RSA 2048/3072) and the MACHINE_KEY
 * signature over nonce || DER(transport key).  *OUT gets the decision; on
 * Passed, a health certificate that binds TRANSPORT_KEY (checked).  A 4xx/5xx
 * answer is an error with HGS's message.
 */
int ad_client_attest(const char *attestation_url, const struct hl_http_opts *opts,
		     const char *host, const char *ticket, EVP_PKEY *machine_key,
		     EVP_PKEY *transport_key, struct ad_attest_result *out);

/* Free what OUT holds and clear it; NULL-safe. */
void ad_attest_result_release(struct ad_attest_result *r);

#endif
