/*
 * template.h - reading a template disk file (e.g. `ws2016.tdisk`): its
 * footer and trailer (proto/vsc_tdisk.h), the volume signature catalog in
 * it (proto/vsc.h), and the SHA-256 of its image read in pieces.  The
 * tenant (save-volume-signature-catalog, new-volume-id-qualifier,
 * test-shielding-data-applicability, protect-template-disk --populate-from)
 * and the guarded host (new-shielded-vm's pre-check) both open templates
 * here, so the two read the same bytes the same way.  docs/templates.md
 * describes the file.
 *
 * Only the trailer is loaded (at most HL_TDISK_TRAILER_MAX bytes); the image
 * is streamed when hashed.  A template is outside input: every malformed
 * byte is an error with a message naming the file, never a crash.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry, set only on success; destructors NULL-safe.
 */
#ifndef HGSLAB_VM_TEMPLATE_H
#define HGSLAB_VM_TEMPLATE_H

#include <stdint.h>

#include "lib/crypto.h"
#include "proto/vsc.h"
#include "proto/vsc_tdisk.h"

/* An opened protected template.  vsc is parsed from the trailer, NOT verified. */
struct vm_template {
	char *path;
	struct hl_tdisk_layout layout;
	struct hl_vsc *vsc;
};

/*
 * Open PATH as a protected template: read its last 512 bytes and its
 * trailer, check them (hl_tdisk_footer_parse, hl_tdisk_trailer_check) and
 * parse the VSC (hl_vsc_parse).  Errors start with "'PATH': ", e.g. "'t.img':
 * not a protected template disk: ...".
 */
int vm_template_open(const char *path, struct vm_template **out);

/*
 * Check T as a guarded host or a guest would: its VSC's signature
 * (hl_vsc_verify), then the SHA-256 of its image (read again from T's file)
 * against the VSC (hl_vsc_check_image): "template 'NAME' changed after it
 * was signed: ...".
 */
int vm_template_verify(const struct vm_template *t);

/* Free T; NULL-safe. */
void vm_template_free(struct vm_template *t);

/*
 * The size of the regular file PATH into *FILE_BYTES, and 1 when it ends in
 * a template footer's magic (it claims to be protected), 0 when it does not
 * (a plain image); -1 when it cannot be read.
 */
int vm_template_probe(const char *path, uint64_t *file_bytes);

/*
 * SHA-256 of the first BYTES bytes of file PATH, read in pieces, into MD;
 * a file shorter than BYTES is an error.  When COPY_FD is not -1 the same
 * bytes are also written to it (protect-template-disk copies the image it
 * signs in the same pass).
 */
int vm_template_hash_image(const char *path, uint64_t bytes, int copy_fd,
			   unsigned char md[HL_SHA256_LEN]);

#endif
