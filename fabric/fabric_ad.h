/*
 * fabric_ad.h - the fabric's Active Directory, simulated: one domain
 * (fabrikam.com) with its computer accounts, global security groups and a
 * domain controller (DC) that signs short-lived membership tickets.
 *
 * In the real guarded fabric (AD mode, "admin-trusted attestation") a
 * guarded host is a computer account of the fabric domain and a member of a
 * global security group; the HGS domain (relecloud.com) trusts the fabric
 * domain one way, and HGS passes a host when the Kerberos ticket the host
 * authenticates with carries (in its PAC) the SID of a group registered with
 * Add-HgsAttestationHostGroup.  hgslab keeps that shape with open parts:
 *
 *   directory     `hgslab fabric new/add-group/add-computer/...` on a fabric
 *                 directory (below); SIDs are real-looking: the domain SID is
 *                 S-1-5-21-x-y-z (random), an account's SID is the domain SID
 *                 plus its RID (from FABRIC_RID_FIRST up; Domain Computers is
 *                 the built-in RID 515 and every computer belongs to it
 *                 through its primary group, as in AD)
 *   DC            `hgslab fabric serve`: HTTP on the DC's loopback address
 *                 (routes below); it issues a membership ticket to a computer
 *                 that proves possession of its machine key over a DC nonce
 *   ticket        a JWT (JWS compact serialization, RFC 7515 / 7519) signed
 *                 PS256 by the DC key; the claims name the domain and its
 *                 SID, the computer and its SID, the SIDs of its groups at
 *                 issue time (like a PAC: later membership changes show in
 *                 the next ticket, not this one), the machine public key and
 *                 its SHA-256 fingerprint, and the validity (default 10 min)
 *   trust         `hgslab fabric export-trust` writes what the HGS domain
 *                 needs to trust the fabric domain (name, SID, DC
 *                 certificate); `hgslab hgs add-trusted-domain` takes it
 *
 * The exact formats are in docs/attestation-protocol.md, "AD mode".
 *
 * Layout of a fabric directory (0700):
 *   fabric.db               SQLite store (lib/store): the domain row,
 *                           principals (computers and groups), memberships
 *   keys/dc-signing.key     the DC's ticket signing key, RSA 2048, PKCS#8, 0600
 *   keys/dc-signing.crt     its self-signed certificate, PEM, 0644
 *   dc.log                  log of `fabric serve`
 *   dc.pid                  pid of the running `fabric serve`, if any
 *   clock-offset            optional lab clock offset, seconds, read at every
 *                           use (the same file and format as an HGS node's)
 *
 * Threads: a struct fabric may be used by several threads (the DC's HTTP
 * server runs one per connection): every function here that touches the
 * store takes the fabric's lock.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success; destructors are NULL-safe.
 */
#ifndef HGSLAB_FABRIC_FABRIC_AD_H
#define HGSLAB_FABRIC_FABRIC_AD_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "lib/dnsname.h"
#include "lib/log.h"
#include "lib/store.h"

#define FABRIC_DB_FILE "fabric.db"
#define FABRIC_LOG_FILE "dc.log"
#define FABRIC_PID_FILE "dc.pid"
#define FABRIC_DC_KEY_FILE "keys/dc-signing.key"
#define FABRIC_DC_CERT_FILE "keys/dc-signing.crt"

/* A DNS domain name, NUL included (lib/dnsname.h). */
#define FABRIC_DOMAIN_MAX HL_DNSNAME_MAX
/* A SID in text form, NUL included. */
#define FABRIC_SID_MAX 80
/* Computer names are NetBIOS names: 1..15 characters of [A-Za-z0-9-]. */
#define FABRIC_COMPUTER_MAX 16
/* Group names: 1..63 printable ASCII characters, none of "/\[]:;|=,+*?<>@". */
#define FABRIC_GROUP_MAX 64
/* The DC's host name (NetBIOS), e.g. DC01; its FQDN is DC01.fabrikam.com. */
#define FABRIC_DC_NAME_MAX 16
#define FABRIC_FQDN_MAX (FABRIC_DC_NAME_MAX + FABRIC_DOMAIN_MAX)

/* Ticket lifetime: default 10 minutes, from 1 minute to 10 hours (Kerberos' default). */
#define FABRIC_TICKET_LIFETIME_S_DEFAULT 600
#define FABRIC_TICKET_LIFETIME_S_MIN 60
#define FABRIC_TICKET_LIFETIME_S_MAX 36000
/* Clock skew tolerated on ticket times (Kerberos' default 5 minutes). */
#define FABRIC_CLOCK_SKEW_S 300
/* DC nonces (lib/nonce, HL_NONCE_LEN bytes): single use, valid this long on the DC clock. */
#define FABRIC_NONCE_LIFETIME_S 300
/* Outstanding DC nonces kept; issuing one more drops the oldest. */
#define FABRIC_NONCE_TABLE_SIZE 1024
/* Largest ticket accepted, bytes of its compact serialization. */
#define FABRIC_TICKET_MAX 16384

/* RIDs: the built-in Domain Computers group, and the first RID given to new accounts. */
#define FABRIC_RID_DOMAIN_COMPUTERS 515
#define FABRIC_RID_FIRST 1103
#define FABRIC_DOMAIN_COMPUTERS "Domain Computers"

/*
 * An open fabric directory.  Invariants: dir is absolute; store is open at
 * the current schema; the domain fields never change after `fabric new`;
 * dc_cert is always loaded, dc_key only with FABRIC_OPEN_KEYS.
 */
struct fabric {
	char *dir;
	struct hl_store *store;           /* guarded by lock */
	pthread_mutex_t lock;
	char domain[FABRIC_DOMAIN_MAX];   /* "fabrikam.com" */
	char domain_sid[FABRIC_SID_MAX];  /* "S-1-5-21-x-y-z" */
	char dc_name[FABRIC_DC_NAME_MAX]; /* "DC01" */
	char listen_addr[16];             /* the DC's IPv4 address */
	unsigned short listen_port;       /* 0 = an ephemeral port chosen at serve */
	int ticket_lifetime_s;
	time_t created;
	X509 *dc_cert;
	char dc_thumbprint[HL_SHA256_HEX_SIZE];
	EVP_PKEY *dc_key;                 /* FABRIC_OPEN_KEYS only */
};

/* What `fabric new` asks for. */
struct fabric_new_params {
	const char *dir;
	const char *domain;               /* "fabrikam.com" */
	const char *listen;               /* "ADDR:PORT" of the DC */
	const char *dc_name;              /* NULL = "DC01" */
	int ticket_lifetime_s;            /* 0 = FABRIC_TICKET_LIFETIME_S_DEFAULT */
};

/*
 * Create a fabric directory: the store with the domain (a fresh random
 * domain SID) and the built-in Domain Computers group, the DC signing key
 * and its self-signed certificate.  Built in a temporary directory beside
 * DIR and renamed into place, so a failure leaves nothing behind.  An
 * existing non-empty DIR is refused.
 */
int fabric_create(const struct fabric_new_params *p);

enum {
	FABRIC_OPEN_KEYS = 1u << 0,       /* load the DC signing key */
};

/* Open the fabric directory DIR with FLAGS into *OUT. */
int fabric_open(const char *dir, unsigned flags, struct fabric **out);

/* Close F and free it; NULL-safe. */
void fabric_close(struct fabric *f);

/* The DC clock: system time + DIR/clock-offset seconds. */
int fabric_now(struct fabric *f, time_t *out);

/* Check a computer name (NetBIOS rules); -1 with a message saying what is allowed. */
int fabric_check_computer_name(const char *name);
/* Check a group name. */
int fabric_check_group_name(const char *name);
/* 1 when SID is DOMAIN_SID plus exactly one RID, 0 otherwise (never an error). */
int fabric_sid_in_domain(const char *sid, const char *domain_sid);

/* ---- the directory ---- */

/* New-ADGroup -GroupScope Global -GroupCategory Security. */
int fabric_group_add(struct fabric *f, const char *name, const char *description);

/*
 * A computer account NAME whose machine key is KEY's public half (RSA 2048,
 * RSA 3072 or P-256).  Names are unique without regard to case; a key may
 * belong to one computer only.
 */
int fabric_computer_add(struct fabric *f, const char *name, EVP_PKEY *key);

/*
 * Add-ADGroupMember / Remove-ADGroupMember: computer COMPUTER in global group
 * GROUP.  1 when the membership changed, 0 when it already was so, -1 on
 * error (unknown group or computer; Domain Computers, whose membership is
 * every computer's primary group, cannot change).
 */
int fabric_member_add(struct fabric *f, const char *group, const char *computer);
int fabric_member_remove(struct fabric *f, const char *group, const char *computer);

/*
 * Get-ADGroup: the groups (only NAME when not NULL; unknown NAME is an
 * error) as a JSON array of {"Name", "SamAccountName", "Sid", "GroupScope":
 * "Global", "GroupCategory": "Security", "Description", "Members": [names],
 * "Added"}.
 */
int fabric_group_list(struct fabric *f, const char *name, json_t **out);

/*
 * Get-ADComputer: the computers as a JSON array of {"Name",
 * "SamAccountName": "FABRICHOST1$", "DNSHostName", "Sid", "KeyType",
 * "KeyFingerprint", "MemberOf": [names], "Added"}.
 */
int fabric_computer_list(struct fabric *f, const char *name, json_t **out);

/* Get-ADDomain: {"Name", "DomainSid", "DomainController", "Listen", ...}. */
int fabric_domain_json(struct fabric *f, json_t **out);

/*
 * The trust document (`fabric export-trust`):
 *   {"format": "hgslab-fabric-trust", "version": 1, "domain": "fabrikam.com",
 *    "domain_sid": "S-1-5-21-...", "domain_controller": "DC01.fabrikam.com",
 *    "dc_certificate": "<PEM>", "dc_thumbprint": "<SHA-256 hex>"}
 */
int fabric_trust_export(struct fabric *f, json_t **out);

/* ---- trust (what the trusting side keeps) ---- */

struct fabric_trust {
	char domain[FABRIC_DOMAIN_MAX];
	char domain_sid[FABRIC_SID_MAX];
	char dc[FABRIC_FQDN_MAX];         /* "DC01.fabrikam.com" */
	X509 *dc_cert;
	char dc_thumbprint[HL_SHA256_HEX_SIZE];
};

/*
 * Parse and check a trust document (members beyond the ones above are
 * ignored): the domain and SID are well formed, the certificate parses, is
 * self-signed and holds an RSA key, and its thumbprint matches.
 */
int fabric_trust_parse(const void *buf, size_t len, struct fabric_trust **out);
void fabric_trust_free(struct fabric_trust *t);

/* ---- membership tickets ---- */

struct fabric_ticket_group {
	char name[FABRIC_GROUP_MAX];
	char sid[FABRIC_SID_MAX];
};

/* What a ticket says. */
struct fabric_ticket {
	char id[33];                          /* jti: 16 random bytes as hex */
	char domain[FABRIC_DOMAIN_MAX];       /* iss */
	char domain_sid[FABRIC_SID_MAX];
	char dc[FABRIC_FQDN_MAX];             /* the DC that issued it */
	char computer[FABRIC_COMPUTER_MAX];
	char computer_sid[FABRIC_SID_MAX];    /* sub */
	struct fabric_ticket_group *groups;   /* Domain Computers first */
	size_t n_groups;
	size_t n_filtered;                    /* group SIDs dropped by SID filtering (verify) */
	EVP_PKEY *machine_key;                /* public */
	char machine_key_fp[HL_SHA256_HEX_SIZE];
	char x5t[64];                         /* header x5t#S256 (base64url) */
	time_t issued, not_before, expires;   /* iat, nbf, exp */
};

void fabric_ticket_free(struct fabric_ticket *t);

/*
 * Issue a ticket for COMPUTER at the DC clock: *JWS gets the compact
 * serialization (malloc'd, NUL-terminated) and *INFO (may be NULL) what it
 * says.  F must be open with FABRIC_OPEN_KEYS.  An unknown computer is an
 * error naming it.
 */
int fabric_ticket_issue(struct fabric *f, const char *computer, char **jws,
			struct fabric_ticket **info);

/*
 * Read ticket JWS (LEN bytes) WITHOUT checking its signature: its form,
 * header (alg PS256) and claims.  For clients showing what they hold (klist)
 * and for a verifier to learn which domain to check it against.  Every
 * malformation gives -1 with a message naming it.
 */
int fabric_ticket_decode(const char *jws, size_t len, struct fabric_ticket **out);

/*
 * Verify ticket JWS against TRUST at time NOW: decoded as above, signed by
 * TRUST's DC key (header x5t#S256 names it, the PS256 signature verifies),
 * issued for TRUST's domain and domain SID, the DC certificate valid at NOW,
 * the computer SID in the domain; group SIDs outside the domain are dropped
 * (SID filtering, counted in n_filtered).  Ticket times are NOT checked here:
 * see fabric_ticket_check_time().
 */
int fabric_ticket_verify(const char *jws, size_t len, const struct fabric_trust *trust,
			 time_t now, struct fabric_ticket **out);

/*
 * Check T's validity at NOW with FABRIC_CLOCK_SKEW_S tolerance: -1 with
 * "the ticket expired at ... " or "... is not valid before ..." otherwise.
 */
int fabric_ticket_check_time(const struct fabric_ticket *t, time_t now);

/*
 * The bytes a computer signs to ask the DC for a ticket:
 *   "hgslab-fabric-ticket-request-v1" NUL COMPUTER NUL NONCE
 * signed with the machine key (RSA-PSS for RSA keys, ECDSA for P-256).
 */
int fabric_ticket_request_message(const char *computer, const unsigned char *nonce, size_t len,
				  struct hl_buf *out);

/* ---- the domain controller ---- */

struct fabric_dc;

/*
 * Serve the DC's routes for F (open with FABRIC_OPEN_KEYS; it must outlive
 * the server) on ADDR:PORT (port 0: an ephemeral port) in background
 * threads:
 *   GET  /Fabric/v1/info     the domain, its SID, the DC certificate
 *   GET|POST /Fabric/v1/nonce  a fresh single-use DC nonce
 *   POST /Fabric/v1/ticket   {"computer", "nonce", "signature"} -> a ticket
 */
int fabric_dc_start(struct fabric *f, const char *addr, unsigned short port,
		    struct fabric_dc **out);

/* The port the DC listens on. */
unsigned short fabric_dc_port(const struct fabric_dc *dc);

/* Stop the DC, waiting for running handlers; NULL-safe. */
void fabric_dc_stop(struct fabric_dc *dc);

/* The pid of the `fabric serve` running on DIR (DIR/dc.pid and a liveness check), or 0. */
long fabric_serving_pid(const char *dir);

/*
 * `hgslab fabric serve`: open DIR, log to DIR/dc.log at LEVEL, serve on the
 * DC's address (LISTEN "ADDR:PORT" overrides it), write DIR/dc.pid, print
 *   fabric: DC for fabrikam.com serving on http://127.0.0.3:8088
 * on stdout, run until SIGTERM or SIGINT, stop cleanly and return 0.
 */
int fabric_serve(const char *dir, const char *listen, enum hl_log_level level);

#endif
