/*
 * directory.h - the fabric's Active Directory, simulated: one domain
 * (fabrikam.com) with its computer accounts and global security groups.
 * Its domain controller, which signs short-lived membership tickets, is
 * fabric/dc.h.
 *
 * In the real guarded fabric (AD mode, "admin-trusted attestation") a
 * guarded host is a computer account of the fabric domain and a member of a
 * global security group; the HGS domain (relecloud.com) trusts the fabric
 * domain one way, and HGS passes a host when the Kerberos ticket the host
 * authenticates with carries (in its PAC) the SID of a group registered with
 * Add-HgsAttestationHostGroup.  hgslab keeps that shape with open parts:
 *
 *   directory     `hgslab fabric new/add-group/add-computer/...` on a fabric
 *                 directory (this module); SIDs are real-looking: the domain
 *                 SID is S-1-5-21-x-y-z (random), an account's SID is the
 *                 domain SID plus its RID (from FABRIC_RID_FIRST up; Domain
 *                 Computers is the built-in RID 515 and every computer
 *                 belongs to it through its primary group, as in AD)
 *   DC            `hgslab fabric serve` (fabric/dc.h): it issues a
 *                 membership ticket (proto/ad_ticket.h) to a computer that
 *                 proves possession of its machine key over a DC nonce
 *   trust         `hgslab fabric export-trust` writes what the HGS domain
 *                 needs to trust the fabric domain (proto/ad_trust.h);
 *                 `hgslab hgs add-trusted-domain` takes it
 *
 * The exact formats are in docs/attestation-protocol.md, "AD mode".
 *
 * Layout of a fabric directory (0700), a served directory (lib/served.h):
 *   fabric.db               SQLite store (lib/store): the domain row,
 *                           principals (computers and groups), memberships
 *   keys/dc-signing.key     the DC's ticket signing key, RSA 2048, PKCS#8, 0600
 *   keys/dc-signing.crt     its self-signed certificate, PEM, 0644
 *   dc.log                  log of `fabric serve`
 *   dc.pid                  pid of the running `fabric serve`, if any
 *   clock-offset            optional lab clock offset, seconds, read at every
 *                           use (lib/labclock.h, as for an HGS node)
 *
 * Threads: a struct fabric may be used by several threads (the DC's HTTP
 * server runs one per connection): every function here that touches the
 * store takes the fabric's lock.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success; destructors are NULL-safe.
 */
#ifndef HGSLAB_FABRIC_DIRECTORY_H
#define HGSLAB_FABRIC_DIRECTORY_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/ad_ticket.h"
#include "proto/ad_trust.h"
#include "lib/crypto.h"
#include "lib/dnsname.h"
#include "lib/store.h"

#define FABRIC_DB_FILE "fabric.db"
#define FABRIC_LOG_FILE "dc.log"
#define FABRIC_PID_FILE "dc.pid"
#define FABRIC_DC_KEY_FILE "keys/dc-signing.key"
#define FABRIC_DC_CERT_FILE "keys/dc-signing.crt"

/* Ticket lifetime: default 10 minutes, from 1 minute to 10 hours (Kerberos' default). */
#define FABRIC_TICKET_LIFETIME_S_DEFAULT 600
#define FABRIC_TICKET_LIFETIME_S_MIN 60
#define FABRIC_TICKET_LIFETIME_S_MAX 36000

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
	char domain[HL_DNSNAME_MAX];      /* "fabrikam.com" */
	char domain_sid[AD_SID_MAX];      /* "S-1-5-21-x-y-z" */
	char dc_name[AD_DC_NAME_MAX];     /* "DC01" */
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
 * existing non-empty DIR is refused; DIR's parent folder must exist (-2 when
 * it does not; nothing is made).
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
 * What a ticket for computer NAME (found without regard to case) says now,
 * as the directory knows it, like a PAC: 1 with *OUT holding the domain, its
 * SID, the DC's FQDN, the computer's canonical name, SID and machine key,
 * and its groups with their SIDs (Domain Computers first); 0 when there is
 * no such computer.  The DC adds the ticket id and times and signs it.
 */
int fabric_computer_ticket(struct fabric *f, const char *name, struct ad_ticket **out);

/* The trust document of F's domain (`fabric export-trust`, proto/ad_trust.h). */
int fabric_trust_export(struct fabric *f, json_t **out);

#endif
