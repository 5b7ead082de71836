/*
 * vsc_tdisk.h - the trailer of a protected template disk: where a template
 * file (e.g. `ws2016.tdisk`) keeps its volume signature catalog (proto/vsc.h)
 * behind the image it signs (docs/templates.md, "Template disk").
 *
 *   [image: N bytes, N a non-zero multiple of 4096]
 *   [VSC: its DER bytes]
 *   [zeros up to the next multiple of 512]
 *   [footer, the last 512 bytes:
 *      magic "HGSLAB-TDISK-V1\0" (16 bytes),
 *      image_bytes, vsc_offset, vsc_length (little-endian u64 each),
 *      zeros to the end]
 *
 * vsc_offset is always image_bytes: the trailer starts right after the
 * image, and protecting a template again replaces the whole trailer.  The
 * image is plaintext and holds no secret.
 *
 * Readers take two steps so that they need not load the image: parse the
 * file's last 512 bytes (hl_tdisk_footer_parse) to learn where the trailer
 * is, then check the trailer's bytes (hl_tdisk_trailer_check) to get the
 * VSC.  The guest agent reads a template device this way; the tenant and the
 * host read files (vm/template.h).  No file I/O here.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs cleared
 * on entry and set only on success; any byte may be hostile: a footer or
 * trailer that does not fit exactly is refused, never read past.
 */
#ifndef HGSLAB_PROTO_VSC_TDISK_H
#define HGSLAB_PROTO_VSC_TDISK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/crypto.h"
#include "proto/vsc.h"

/* The footer's magic, its NUL included (16 bytes). */
#define HL_TDISK_MAGIC "HGSLAB-TDISK-V1"
#define HL_TDISK_MAGIC_LEN 16
/* The footer is the last 512 bytes; the VSC is padded to a multiple of 512. */
#define HL_TDISK_FOOTER_SIZE 512
/* Largest trailer: the largest VSC, its padding and the footer. */
#define HL_TDISK_TRAILER_MAX (HL_VSC_MAX_SIZE + 2 * HL_TDISK_FOOTER_SIZE)

/* Where the parts of a protected template file are. */
struct hl_tdisk_layout {
	uint64_t image_bytes;    /* the image: bytes [0, image_bytes); the trailer starts here */
	uint64_t vsc_offset;     /* == image_bytes */
	uint64_t vsc_length;
	uint64_t file_bytes;     /* the whole file, trailer included */
	uint64_t trailer_bytes;  /* file_bytes - image_bytes */
};

/*
 * 1 when the LEN bytes at TAIL (a file's last bytes) end in a footer's
 * magic at the right place (LEN >= 512 and the magic at TAIL + LEN - 512),
 * 0 otherwise: the file claims to be a protected template.
 */
int hl_tdisk_has_footer(const void *tail, size_t len);

/*
 * Parse the footer in the last 512 of the LEN bytes at TAIL, the end of a
 * file of FILE_BYTES bytes, into *OUT, checking that it describes exactly
 * that file: magic, image_bytes a non-zero multiple of 4096 (at most
 * HL_VSC_DISK_MAX), vsc_offset == image_bytes, vsc_length 1 to
 * HL_VSC_MAX_SIZE, the padded VSC and the footer ending at FILE_BYTES,
 * zeros after the fields.  A file without the magic gives "not a protected
 * template disk: ...".
 */
int hl_tdisk_footer_parse(const void *tail, size_t len, uint64_t file_bytes,
			  struct hl_tdisk_layout *out);

/*
 * Check the LEN bytes at TRAILER, the file's bytes from layout->image_bytes
 * to its end (LEN == layout->trailer_bytes), against LAYOUT: padding all
 * zero, the footer as parsed.  *VSC gets a pointer to the VSC's bytes inside
 * TRAILER (layout->vsc_length of them).
 */
int hl_tdisk_trailer_check(const void *trailer, size_t len, const struct hl_tdisk_layout *layout,
			   const unsigned char **vsc);

/*
 * Write the trailer that follows an image of IMAGE_BYTES bytes (a non-zero
 * multiple of 4096) and carries VSC (VSC_LEN bytes, 1 to HL_VSC_MAX_SIZE)
 * into OUT: the VSC, the zero padding and the footer.
 */
int hl_tdisk_trailer_build(uint64_t image_bytes, const void *vsc, size_t vsc_len,
			   struct hl_buf *out);

#endif
