/*
 * pdk.h - shielding data (a `.pdk` file, New-ShieldingDataFile): which
 * fabrics may provision the tenant's VMs (a fresh key protector for the
 * owner and the listed guardians), which template disks they trust (volume
 * ID qualifiers, proto/vsc_viq.h), the VMs' security policy, and the
 * tenant's secrets (the answer file and other files) encrypted until a
 * guarded host that KPS trusts provisions a VM.  The tenant writes it
 * (tenant/shielding.c); the guarded host checks it and unwraps its key
 * protector; the guest agent verifies it and decrypts the secrets.
 * docs/templates.md is the format's reference; in short, a .pdk is
 *
 *   {"format":"hgslab-pdk","version":1,"alg":"PS256",
 *    "body":"<base64 of the body's JSON bytes>",
 *    "signature":"<base64 RSASSA-PSS SHA-256 over those bytes>"}
 *
 * (the key protector's envelope, hl_kp_envelope_read / _write) with the body
 *
 *   {"id":"<32 lowercase hex: the key protector's id>",
 *    "created":"2026-11-28T17:21:05Z","owner":"<owner guardian name>",
 *    "policy":"shielded" | "encryption-supported",
 *    "key_protector":"<base64 of a key protector file (proto/keyprotector.h)>",
 *    "qualifiers":[<volume ID qualifier objects>, ...],
 *    "secrets":{"alg":"A256GCM","nonce":"<base64, 12 bytes>",
 *               "ciphertext":"<base64 of AES-256-GCM ciphertext || 16-byte tag>"}}
 *
 * The key protector is made fresh for each .pdk; its transport key (TK)
 * becomes the TK of every VM provisioned from this .pdk (the vTPM state key,
 * and each VM's key-protector.kp is a copy of this KP).  The signature is
 * made with the KP owner's signing key, so the .pdk's signer IS its KP's
 * owner: hl_pdk_verify() checks the KP's own signature, then the .pdk's with
 * the KP's owner signing certificate.
 *
 * The secrets key is HKDF-SHA256(TK, salt = the id's 32 ASCII bytes,
 * info = "hgslab-pdk-secrets-v1"), 32 bytes (hl_pdk_secrets_key); the
 * ciphertext authenticates the id's 32 ASCII bytes as AAD.  The plaintext is
 *
 *   {"answer_file":{"name":"unattend.txt","content":"<UTF-8 text>"} | null,
 *    "other_files":{"NAME":"<base64 of the file>", ...}}
 *
 * A host hands only the secrets key, never the TK, to the guest.  Nothing
 * here prints, logs or writes the secrets: they live in hl_buf buffers that
 * are cleansed when freed.
 *
 * Depends only on lib/err, lib/crypto, lib/json, proto/keyprotector and
 * proto/vsc*: the guest agent compiles it.  No file I/O.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs cleared
 * on entry and set only on success; destructors NULL-safe.  Every byte of a
 * .pdk is outside input: malformed ones are refused with a message naming
 * the field, never a crash.
 */
#ifndef HGSLAB_PROTO_PDK_H
#define HGSLAB_PROTO_PDK_H

#include <stddef.h>
#include <time.h>

#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"

#define HL_PDK_FORMAT "hgslab-pdk"
#define HL_PDK_VERSION 1
#define HL_PDK_ALG "PS256"
/* Largest .pdk accepted (4 MiB). */
#define HL_PDK_MAX_SIZE ((size_t)4 << 20)
/* Largest plaintext secrets JSON (256 KiB). */
#define HL_PDK_SECRETS_MAX ((size_t)256 << 10)
/* Largest answer file and other file (64 KiB each). */
#define HL_PDK_FILE_MAX ((size_t)64 << 10)
/* Most volume ID qualifiers and other files one .pdk holds. */
#define HL_PDK_MAX_QUALIFIERS 32
#define HL_PDK_MAX_OTHER_FILES 32
/* A secret file's name: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'; plus NUL. */
#define HL_PDK_FILE_NAME_SIZE 65
/* HKDF info of the secrets key. */
#define HL_PDK_SECRETS_INFO "hgslab-pdk-secrets-v1"
#define HL_PDK_SECRETS_KEY_LEN 32
/* The two VM policies (as vm/bundle.h knows them). */
#define HL_PDK_POLICY_SHIELDED "shielded"
#define HL_PDK_POLICY_ENCRYPTION_SUPPORTED "encryption-supported"
#define HL_PDK_POLICY_SIZE 24

/* One secret file: its name and bytes (the answer file's are UTF-8 text). */
struct hl_pdk_file {
	char name[HL_PDK_FILE_NAME_SIZE];
	struct hl_buf content;
};

/*
 * The secrets of a .pdk.  Release a decrypted one with hl_pdk_secrets_free
 * (which cleanses every content); for hl_pdk_create the caller fills one
 * with borrowed buffers.
 */
struct hl_pdk_secrets {
	int has_answer_file;
	struct hl_pdk_file answer_file;
	struct hl_pdk_file *other_files;
	size_t n_other_files;
};

/* What hl_pdk_create() puts in a .pdk. */
struct hl_pdk_spec {
	const struct hl_kp_owner *owner;          /* with private keys */
	const struct hl_kp_guardian *guardians;   /* besides the owner, e.g. imported HGSes */
	size_t n_guardians;
	unsigned kp_flags;                        /* HL_KP_ALLOW_EXPIRED */
	const char *policy;                       /* HL_PDK_POLICY_* */
	const struct hl_viq *qualifiers;          /* 1 to HL_PDK_MAX_QUALIFIERS */
	size_t n_qualifiers;
	const struct hl_pdk_secrets *secrets;     /* may be NULL: no secrets */
	time_t created;
};

/*
 * Create a .pdk for SPEC into OUT (the file's bytes, not secret): a fresh
 * KP (hl_kp_create) for the owner and guardians, the secrets encrypted
 * under the key derived from its TK, the body signed by the owner.
 * Refuses an unknown policy, no qualifier or too many, a bad or duplicate
 * file name, an answer file that is not UTF-8 text, a file over
 * HL_PDK_FILE_MAX and secrets over HL_PDK_SECRETS_MAX.  *TK, when TK is not
 * NULL, gets the TK (secret: hl_buf_free).
 */
int hl_pdk_create(const struct hl_pdk_spec *spec, struct hl_buf *out, struct hl_buf *tk);

/*
 * A parsed .pdk.  Read-only for callers; release with hl_pdk_free().
 * Invariants after hl_pdk_parse(): every field checked as documented; kp is
 * the parsed key protector (kp_bytes its file, to hand to KPS or to copy as
 * a VM's key-protector.kp), kp->id equals id and kp->owner_name equals
 * owner; 1 <= n_qualifiers <= HL_PDK_MAX_QUALIFIERS.  Parsing does NOT
 * check a signature: call hl_pdk_verify() before trusting anything in it.
 */
struct hl_pdk {
	int version;
	char id[HL_KP_ID_SIZE];
	char created[HL_JSON_TIME_SIZE];
	char owner[HL_KP_NAME_MAX + 1];
	char policy[HL_PDK_POLICY_SIZE];
	struct hl_kp *kp;
	struct hl_buf kp_bytes;
	struct hl_viq *qualifiers;
	size_t n_qualifiers;
	struct hl_buf secrets_nonce;        /* 12 bytes */
	struct hl_buf secrets_ciphertext;   /* ciphertext || tag */
	struct hl_buf body;                 /* the signed body bytes */
	struct hl_buf signature;
};

/*
 * Parse LEN bytes of a .pdk strictly (at most HL_PDK_MAX_SIZE; the
 * envelope through hl_kp_envelope_read).  Another version gives "shielding
 * data file version N is not supported ..."; other errors start with "bad
 * shielding data file: ".
 */
int hl_pdk_parse(const void *data, size_t len, struct hl_pdk **out);

/* Free PDK; NULL-safe. */
void hl_pdk_free(struct hl_pdk *pdk);

/*
 * Verify PDK: its key protector's owner signature (hl_kp_verify, pinned to
 * PIN_OWNER_SIGNING_THUMBPRINT when not NULL), then the .pdk's signature
 * over its body with that owner's signing certificate.  A .pdk re-signed by
 * anyone but its KP's owner, or altered, is refused.
 */
int hl_pdk_verify(const struct hl_pdk *pdk, const char *pin_owner_signing_thumbprint);

/*
 * The secrets key of the .pdk with id PDK_ID from its TK (TK_LEN bytes):
 * HKDF-SHA256(TK, salt = PDK_ID's bytes, info = HL_PDK_SECRETS_INFO) into KEY
 * (secret: cleanse it).  This is what a host hands the guest.
 */
int hl_pdk_secrets_key(const void *tk, size_t tk_len, const char *pdk_id,
		       unsigned char key[HL_PDK_SECRETS_KEY_LEN]);

/*
 * Decrypt PDK's secrets with the secrets KEY and parse them strictly into
 * *OUT (release with hl_pdk_secrets_free).  A wrong key or an altered
 * ciphertext gives "... authentication failed" and nothing.
 */
int hl_pdk_decrypt(const struct hl_pdk *pdk, const unsigned char key[HL_PDK_SECRETS_KEY_LEN],
		   struct hl_pdk_secrets **out);

/* Derive the secrets key from TK (TK_LEN bytes) and decrypt, as hl_pdk_decrypt. */
int hl_pdk_decrypt_tk(const struct hl_pdk *pdk, const void *tk, size_t tk_len,
		      struct hl_pdk_secrets **out);

/* Cleanse and free decrypted secrets; NULL-safe. */
void hl_pdk_secrets_free(struct hl_pdk_secrets *s);

/*
 * 0 when the template of VSC (verified by the caller: hl_vsc_verify and,
 * for a whole template, hl_vsc_check_image) matches one of PDK's
 * qualifiers, whose index goes into *WHICH (may be NULL); else -1 with
 * every qualifier's reason: "template 'T' 1.0.0.0 fits none of the 2
 * volume ID qualifiers of shielding data ID: [1] ...; [2] ...".
 */
int hl_pdk_match_template(const struct hl_pdk *pdk, const struct hl_vsc *vsc, size_t *which);

/* 0 when NAME is a valid secret file name (see HL_PDK_FILE_NAME_SIZE); WHAT names it. */
int hl_pdk_file_name_check(const char *name, const char *what);

/* 0 when POLICY is "shielded" or "encryption-supported". */
int hl_pdk_policy_check(const char *policy);

#endif
