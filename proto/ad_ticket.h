/*
 * ad_ticket.h - the membership ticket of AD mode and the request for one:
 * the formats the fabric DC, the guarded host and HGS all speak.
 *
 * In the real guarded fabric HGS passes a host when the Kerberos ticket it
 * authenticates with carries (in its PAC) the SID of a registered group.
 * hgslab's ticket is a JWT (JWS compact serialization, RFC 7515 / 7519,
 * base64url without padding) signed PS256 by the DC key:
 *
 *   header  {"alg": "PS256", "typ": "JWT", "x5t#S256": "<base64url SHA-256 of
 *            the DC certificate's DER>"}
 *   claims  {"jti", "iss": domain, "domain_sid", "dc": DC FQDN, "sub":
 *            computer SID, "computer", "iat", "nbf", "exp", "groups": [{"name",
 *            "sid"}] (Domain Computers first), "machine_key_sha256",
 *            "machine_key": base64 DER SubjectPublicKeyInfo}
 *
 * The groups are those at issue time, like a PAC: a later membership change
 * shows in the next ticket, not this one.  The DC writes tickets
 * (ad_ticket_encode, called by fabric/dc.c with the DC key); a host reads
 * what it holds (ad_ticket_decode); HGS verifies a ticket against the trust
 * of its domain (ad_ticket_verify, proto/ad_trust.h) and its times
 * (ad_ticket_check_time).  A computer asks the DC for a ticket by signing
 * ad_ticket_request_message() with its machine key.
 * docs/attestation-protocol.md, "AD mode", has the exchanges.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success; ad_ticket_free() is NULL-safe.
 */
#ifndef HGSLAB_PROTO_AD_TICKET_H
#define HGSLAB_PROTO_AD_TICKET_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/ad_trust.h"
#include "lib/crypto.h"
#include "lib/dnsname.h"

/* Clock skew tolerated on ticket times (Kerberos' default 5 minutes). */
#define AD_CLOCK_SKEW_S 300
/* Largest ticket accepted, bytes of its compact serialization. */
#define AD_TICKET_MAX 16384

/* One group a ticket lists. */
struct ad_ticket_group {
	char name[HL_NAME_GROUP_SIZE];
	char sid[AD_SID_MAX];
};

/* What a ticket says. */
struct ad_ticket {
	char id[33];                          /* jti: 16 random bytes as hex */
	char domain[HL_DNSNAME_MAX];          /* iss */
	char domain_sid[AD_SID_MAX];
	char dc[AD_FQDN_MAX];                 /* the DC that issued it */
	char computer[HL_NAME_COMPUTER_SIZE];
	char computer_sid[AD_SID_MAX];        /* sub */
	struct ad_ticket_group *groups;       /* Domain Computers first */
	size_t n_groups;
	size_t n_filtered;                    /* group SIDs dropped by SID filtering (verify) */
	EVP_PKEY *machine_key;                /* public */
	char machine_key_fp[HL_SHA256_HEX_SIZE];
	char x5t[64];                         /* header x5t#S256 (base64url) */
	time_t issued, not_before, expires;   /* iat, nbf, exp */
};

/* Free T; NULL-safe. */
void ad_ticket_free(struct ad_ticket *t);

/*
 * Write ticket T (id, domain, domain_sid, dc, computer, computer_sid,
 * groups, machine_key and the three times; the other members are not read)
 * signed PS256 with DC_KEY, whose certificate DC_CERT the header names:
 * *JWS gets the compact serialization (malloc'd, NUL-terminated).
 */
int ad_ticket_encode(const struct ad_ticket *t, EVP_PKEY *dc_key, X509 *dc_cert, char **jws);

/*
 * Read ticket JWS (LEN bytes) WITHOUT checking its signature: its form,
 * header (alg PS256) and claims.  For clients showing what they hold (klist)
 * and for a verifier to learn which domain to check it against.  Every
 * malformation gives -1 with a message naming it.
 */
int ad_ticket_decode(const char *jws, size_t len, struct ad_ticket **out);

/*
 * Verify ticket JWS against TRUST at time NOW: decoded as above, signed by
 * TRUST's DC key (header x5t#S256 names it, the PS256 signature verifies),
 * issued for TRUST's domain and domain SID, the DC certificate valid at NOW,
 * the computer SID in the domain; group SIDs outside the domain are dropped
 * (SID filtering, counted in n_filtered).  Ticket times are NOT checked here:
 * see ad_ticket_check_time().
 */
int ad_ticket_verify(const char *jws, size_t len, const struct ad_trust *trust, time_t now,
		     struct ad_ticket **out);

/*
 * Check T's validity at NOW with AD_CLOCK_SKEW_S tolerance: -1 with
 * "the ticket expired at ... " or "... is not valid before ..." otherwise.
 */
int ad_ticket_check_time(const struct ad_ticket *t, time_t now);

/* 1 when SID is DOMAIN_SID plus exactly one RID, 0 otherwise (never an error). */
int ad_sid_in_domain(const char *sid, const char *domain_sid);

/*
 * The bytes a computer signs to ask the DC for a ticket:
 *   "hgslab-fabric-ticket-request-v1" NUL COMPUTER NUL NONCE
 * signed with the machine key (RSA-PSS for RSA keys, ECDSA for P-256).
 */
int ad_ticket_request_message(const char *computer, const unsigned char *nonce, size_t len,
			      struct hl_buf *out);

#endif
