/*
 * names.h - one validator per kind of name the fabric's parts exchange: the
 * NetBIOS computer name of a guarded host (and of the fabric DC), an AD
 * group name, an AD security identifier (SID), the HGS service name, a VM
 * name, a tenant guardian name and a template signer name.  (DNS domain names are lib/dnsname.h.)
 *
 * Every verb that takes such a name and the scenario checker (sim/scenario.c)
 * call the same function here, so `hgslab run --check` refuses exactly the
 * names the verbs refuse.  Each returns 0, or -1 with a message (lib/err.h)
 * that names the kind, quotes the name and says the rule, e.g.
 * "invalid host name 'Fabric_Host.1': use letters, digits and '-' only, e.g.
 * FabricHost1".
 *
 * The *_SIZE constants are buffer sizes: the longest valid name plus its NUL.
 */
#ifndef HGSLAB_PROTO_NAMES_H
#define HGSLAB_PROTO_NAMES_H

#define HL_NAME_COMPUTER_SIZE 16   /* NetBIOS: at most 15 characters */
#define HL_NAME_GROUP_SIZE 64
#define HL_NAME_HGS_SIZE 41
#define HL_NAME_VM_SIZE 65
#define HL_NAME_GUARDIAN_SIZE 65
#define HL_NAME_REG_SIZE 64       /* a host name becomes a certificate CN: X.509 caps it at 64 */
#define HL_NAME_SID_SIZE 80       /* the SID buffers of tickets, trusts and the directory */

/*
 * A NetBIOS computer name: 1 to 15 letters, digits and '-', not starting
 * with '-' and not all digits.  WHAT names it in the message ("host name",
 * "computer name").
 */
int hl_name_computer(const char *what, const char *name);

/* An AD group name: 1 to 63 printable ASCII characters without /\[]:;|=,+*?<>@" and no edge spaces. */
int hl_name_group(const char *name);

/*
 * A security identifier "S-1-A-S1-..." (2 to 16 parts, authority 48-bit,
 * sub-authorities 32-bit) of at most HL_NAME_SID_SIZE - 1 characters.
 */
int hl_name_sid(const char *sid);

/* An HGS service name (MyHgsService): 1 to 40 letters, digits, '.', '_' and '-'. */
int hl_name_hgs(const char *name);

/* A VM name: 1 to 64 letters, digits, '.', '_' and '-', not starting with '.'. */
int hl_name_vm(const char *name);

/*
 * A name HGS records: a registration (TPM host, policy, host group, host
 * key) or the host named in an attestation or a platform identifier: 1 to 63
 * printable ASCII characters, no leading or trailing space.  WHAT names it
 * in the message ("TPM host name").
 */
int hl_name_registration(const char *what, const char *name);

/* A tenant guardian name: 1 to 64 letters, digits, '.', '_' and '-', not starting with '.'. */
int hl_name_guardian(const char *name);

/* A template signer name (tenant new-template-signer): the guardian name's rule. */
int hl_name_signer(const char *name);

#endif
