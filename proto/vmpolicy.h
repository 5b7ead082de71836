/*
 * vmpolicy.h - the VM policy statement: the tenant's signed word on a
 * shielded VM's security policy, so that a guarded host cannot downgrade a
 * "shielded" VM to "encryption-supported" (a serial console) by editing
 * the VM's config.json.  The tenant's shield-vm (tenant/vm.c) makes it and
 * puts it in the VM's bundle as policy.sig; a guarded host checks it before
 * it starts the VM or attaches to its console (hosts/vm.c) and uses the
 * SIGNED policy, never the local field.  docs/shielded-vm.md ("The signed
 * policy") is the format's reference; in short, a statement is
 *
 *   {"format":"hgslab-vm-policy","version":1,"alg":"PS256",
 *    "body":"<base64 of the body's JSON bytes>",
 *    "signature":"<base64 RSASSA-PSS SHA-256 over those bytes>"}
 *
 * (the key protector's envelope, hl_kp_envelope_read / _write) with the body
 *
 *   {"kp_id":"<32 lowercase hex: the VM's key protector's id>",
 *    "vm":"<VM name>","policy":"shielded" | "encryption-supported",
 *    "created":"2026-11-28T17:21:05Z"}
 *
 * signed by the key protector's OWNER (its signing key): a host checks the
 * signature with the owner signing certificate the VM's key protector
 * carries, so only who owns the VM's key protector can say its policy.
 * A VM provisioned from shielding data (hosts/provision.h) has no such
 * statement: the .pdk's own signed body carries the policy and the key
 * protector, signed by the same owner, and the host keeps the .pdk itself
 * as the VM's policy.sig.  hl_vmpolicy_check() reads either form.
 *
 * Depends only on lib/err, lib/crypto, lib/json, proto/keyprotector (the
 * envelope, the owner's certificate), proto/names (the VM name) and
 * proto/pdk (the policy names, hl_pdk_policy_check); no file I/O.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs cleared
 * on entry and set only on success; destructors NULL-safe.  Every byte of a
 * statement is outside input: a malformed one is refused with a message
 * naming the field, never a crash.
 */
#ifndef HGSLAB_PROTO_VMPOLICY_H
#define HGSLAB_PROTO_VMPOLICY_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "proto/names.h"
#include "proto/pdk.h"

#define HL_VMPOLICY_FORMAT "hgslab-vm-policy"
#define HL_VMPOLICY_VERSION 1
/* Largest statement accepted (16 KiB: a 3072-bit signature takes 512 base64 bytes). */
#define HL_VMPOLICY_MAX_SIZE ((size_t)16 << 10)
/* A policy name and its NUL ("encryption-supported" is the longest). */
#define HL_VMPOLICY_SIZE 24
/* Largest policy.sig hl_vmpolicy_check() reads: a statement, or a .pdk (4 MiB). */
#define HL_VMPOLICY_FILE_MAX HL_PDK_MAX_SIZE

/*
 * A parsed statement.  Read-only for callers; release with
 * hl_vmpolicy_free().  Invariants after hl_vmpolicy_parse(): kp_id is 32
 * lowercase hex digits, vm a valid VM name (hl_name_vm), policy "shielded"
 * or "encryption-supported", created an RFC 3339 UTC time.  Parsing does
 * NOT check the signature: call hl_vmpolicy_verify() before trusting it.
 */
struct hl_vmpolicy {
	int version;
	char kp_id[HL_KP_ID_SIZE];
	char vm[HL_NAME_VM_SIZE];
	char policy[HL_VMPOLICY_SIZE];
	char created[HL_JSON_TIME_SIZE];
	struct hl_buf body;                 /* the signed body bytes */
	struct hl_buf signature;
};

/*
 * Make a statement that VM (a valid VM name), shielded with the key
 * protector KP_ID, has POLICY, made at CREATED and signed with the KP
 * owner's signing KEY (RSA), into OUT (the file's bytes, not secret).
 */
int hl_vmpolicy_create(const char *kp_id, const char *vm, const char *policy, time_t created,
		       EVP_PKEY *key, struct hl_buf *out);

/*
 * Parse LEN bytes of a statement strictly (at most HL_VMPOLICY_MAX_SIZE,
 * the envelope through hl_kp_envelope_read, exactly the four body
 * members).  Another version gives "VM policy statement version N is not
 * supported ..."; other errors start with "bad VM policy statement: ".
 */
int hl_vmpolicy_parse(const void *data, size_t len, struct hl_vmpolicy **out);

/* Free P; NULL-safe. */
void hl_vmpolicy_free(struct hl_vmpolicy *p);

/*
 * Verify P for VM VM shielded with the parsed key protector KP: KP's own
 * owner signature (hl_kp_verify), then P's signature over its body with
 * KP's owner signing certificate, then P's kp_id equal to KP's id and P's
 * vm equal to VM.  A statement altered, signed by anyone but KP's owner,
 * made for another key protector or for another VM is refused with a
 * message that says which.
 */
int hl_vmpolicy_verify(const struct hl_vmpolicy *p, const struct hl_kp *kp, const char *vm);

/*
 * The policy the tenant signed for VM, shielded with the parsed key
 * protector KP, from the LEN bytes of the VM's policy.sig, into POLICY.
 * The file is either a VM policy statement (hl_vmpolicy_parse, then
 * hl_vmpolicy_verify) or, when its "format" is "hgslab-pdk", the shielding
 * data the VM was provisioned from (hl_pdk_parse; KP's own signature;
 * hl_pdk_verify pinned to KP's owner signing certificate; its key
 * protector's id KP's).  Every refusal names "the policy statement of VM
 * 'VM'" and why.
 */
int hl_vmpolicy_check(const void *data, size_t len, const struct hl_kp *kp, const char *vm,
		      char policy[HL_VMPOLICY_SIZE]);

#endif
