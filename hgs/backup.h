/*
 * backup.h - backup and restore of an HGS node (Export-HgsServerState,
 * Import-HgsServerState): the whole node state in one file protected by a
 * password.
 *
 * What is in it: a consistent snapshot of hgs.db (lib/store's online
 * backup, taken while `hgs serve` may run: registrations, policies and their
 * states, trusted domains, host groups and keys, the node's certificates,
 * the KPS certificates and cut-off, the attestation and key protection
 * logs, the configuration) and the node's other files: keys/ (the private
 * keys of the attestation signer and the KPS signing and encryption
 * certificates, and their certificates), hgs.log, clock-offset.  Not in it:
 * hgs.pid and the SQLite WAL and shared-memory files (the snapshot holds
 * what they hold), the nonces issued but not yet used (memory only), and
 * any other file in the node's top folder (an export written there, say).
 *
 * The file (docs/hgs-backup.md):
 *
 *   header, 32 bytes: "HGSLABSS" | version 1 | KDF 1 (scrypt) | log2 N |
 *                     r | p | 3 zero bytes | salt (16 random bytes)
 *   AES-256-GCM of the container: IV (12) | ciphertext | tag (16)
 *
 * The key is scrypt(password, salt, N, r, p), 32 bytes; the whole header is
 * the GCM additional data, so a changed byte anywhere fails the tag.  The
 * container is one JSON object (jansson):
 *   {"Kind": "HgsServerState", "Version": 1, "Name": ..., "Domain": ...,
 *    "Exported": "2026-12-06T08:00:00Z", "Database": base64,
 *    "Files": [{"Path": "keys/kps-signing.key", "Mode": 384, "Data": base64}, ...]}
 *
 * Import checks everything before it writes a byte: the header, the tag,
 * the container's fields, every path and size; then builds the node in a
 * staging directory beside NEWDIR, opens it and checks that each key pair
 * matches its certificate, and renames it into place.  A failure leaves
 * NEWDIR as it was.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error() for a failure,
 * -2 after hl_error() for bad input (a file that is not an export, a
 * damaged or tampered one, a wrong password, a target that is not new or
 * empty), and -3 after hl_error() when the file does not authenticate
 * under the password (a wrong password, or a changed byte: GCM cannot tell
 * them apart): the CLI maps -2 and -3 to exit 2.  Passwords are given as bytes and
 * never copied outside cleansed buffers.
 */
#ifndef HGSLAB_HGS_BACKUP_H
#define HGSLAB_HGS_BACKUP_H

#include <stddef.h>

#include "lib/crypto.h"

/* The file's magic and layout. */
#define HGS_BACKUP_MAGIC "HGSLABSS"
#define HGS_BACKUP_MAGIC_LEN 8
#define HGS_BACKUP_VERSION 1
#define HGS_BACKUP_KDF_SCRYPT 1
#define HGS_BACKUP_SALT_LEN 16
#define HGS_BACKUP_HEADER_LEN 32
/* scrypt cost written at export: N = 2^15, r = 8, p = 1 (32 MiB, RFC 7914's interactive cost). */
#define HGS_BACKUP_LOG2_N 15
#define HGS_BACKUP_R 8
#define HGS_BACKUP_P 1
/* Largest cost import accepts (so a file cannot make it use more than 1 GiB). */
#define HGS_BACKUP_LOG2_N_MAX 20

/* Caps: the whole file, the database, one other member, the number of files. */
#define HGS_BACKUP_FILE_MAX ((size_t)96 * 1024 * 1024)
#define HGS_BACKUP_DB_MAX ((size_t)64 * 1024 * 1024)
#define HGS_BACKUP_MEMBER_MAX ((size_t)16 * 1024 * 1024)
#define HGS_BACKUP_FILES_MAX 64

/* Passwords: at least this many bytes at export, at most HGS_BACKUP_PASSWORD_MAX. */
#define HGS_BACKUP_PASSWORD_MIN 8
#define HGS_BACKUP_PASSWORD_MAX 1024

/*
 * Encrypt the container PT (PT_LEN bytes of JSON) with PASSWORD into OUT
 * (the whole file).  Scrypt cost LOG2_N (0: HGS_BACKUP_LOG2_N).
 */
int hgs_backup_seal(const void *pt, size_t pt_len, const char *password, size_t pw_len,
		    unsigned log2_n, struct hl_buf *out);

/*
 * Check and decrypt the file IN (IN_LEN bytes; SHOWN names it in messages)
 * with PASSWORD into OUT (the container, a secret: hl_buf_free).  -2 when
 * it is not an export, is truncated, of another version or names a cost
 * out of range; -3 when it does not authenticate: the password is wrong or
 * a byte was changed ("cannot decrypt 'SHOWN': wrong password, or the file
 * was changed or damaged").
 */
int hgs_backup_unseal(const void *in, size_t in_len, const char *shown, const char *password,
		      size_t pw_len, struct hl_buf *out);

/*
 * Export the node DIR (Export-HgsServerState) into the file OUT (written
 * whole or not at all, mode 0600), protected by PASSWORD.  -2 when DIR is
 * no node or PASSWORD is too short or long.
 */
int hgs_backup_export(const char *dir, const char *out, const char *password, size_t pw_len);

/*
 * 0 when NEWDIR may receive an imported node: its parent folder exists and
 * NEWDIR is absent or empty; else -2 with what to do ("cannot import into
 * 'NEWDIR': it is not empty; ...").  hgs_backup_import() checks it again;
 * the CLI asks it before it asks for the password.
 */
int hgs_backup_import_target(const char *newdir);

/*
 * Import the export FILE (Import-HgsServerState) into NEWDIR, which must be
 * absent or empty (its parent must exist), with PASSWORD; when LISTEN
 * ("ADDR:PORT") is not NULL, the restored node listens there.  -2 for bad
 * input, -3 for a file that does not authenticate (above); NEWDIR is
 * unchanged on every failure.
 */
int hgs_backup_import(const char *file, const char *newdir, const char *password, size_t pw_len,
		      const char *listen);

#endif
