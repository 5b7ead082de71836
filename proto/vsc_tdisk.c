/*
 * vsc_tdisk.c - the trailer of a protected template disk (see vsc_tdisk.h):
 * the 512-byte footer that says where the image ends and the VSC is, the
 * checks that it fits the file exactly, and the writer of a whole trailer.
 * Integers are little-endian through lib/endian.h; nothing touches files.
 */
#include "proto/vsc_tdisk.h"

#include <stdlib.h>
#include <string.h>

#include "lib/endian.h"
#include "lib/err.h"

/* Offsets of the footer's fields; everything from FOOT_END on is zero. */
#define FOOT_IMAGE 16
#define FOOT_VSC_OFF 24
#define FOOT_VSC_LEN 32
#define FOOT_END 40

/* N rounded up to a multiple of 512. */
static uint64_t round512(uint64_t n)
{
	return (n + HL_TDISK_FOOTER_SIZE - 1) / HL_TDISK_FOOTER_SIZE * HL_TDISK_FOOTER_SIZE;
}

/* 1 when the footer's magic is where a footer would be. */
int hl_tdisk_has_footer(const void *tail, size_t len)
{
	if (!tail || len < HL_TDISK_FOOTER_SIZE)
		return 0;
	return memcmp((const unsigned char *)tail + len - HL_TDISK_FOOTER_SIZE, HL_TDISK_MAGIC,
		      HL_TDISK_MAGIC_LEN) == 0;
}

/* Parse and check the footer against the file's size. */
int hl_tdisk_footer_parse(const void *tail, size_t len, uint64_t file_bytes,
			  struct hl_tdisk_layout *out)
{
	const unsigned char *f;
	struct hl_tdisk_layout l;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!tail || len < HL_TDISK_FOOTER_SIZE || file_bytes < HL_TDISK_FOOTER_SIZE)
		return hl_error("not a protected template disk: %llu bytes is too small to hold an "
				"image and its signature", (unsigned long long)file_bytes);
	if (!hl_tdisk_has_footer(tail, len))
		return hl_error("not a protected template disk: its last 512 bytes are not an %s "
				"footer (protect it with `hgslab tenant protect-template-disk`)",
				HL_TDISK_MAGIC);
	f = (const unsigned char *)tail + len - HL_TDISK_FOOTER_SIZE;
	l.image_bytes = hl_get_le64(f + FOOT_IMAGE);
	l.vsc_offset = hl_get_le64(f + FOOT_VSC_OFF);
	l.vsc_length = hl_get_le64(f + FOOT_VSC_LEN);
	l.file_bytes = file_bytes;
	for (i = FOOT_END; i < HL_TDISK_FOOTER_SIZE; i++)
		if (f[i])
			return hl_error("bad template disk footer: byte %zu is not zero", i);
	if (l.image_bytes == 0 || l.image_bytes % HL_VSC_DISK_ALIGN ||
	    l.image_bytes > HL_VSC_DISK_MAX)
		return hl_error("bad template disk footer: image_bytes %llu is not a non-zero "
				"multiple of %d (at most %llu)", (unsigned long long)l.image_bytes,
				HL_VSC_DISK_ALIGN, (unsigned long long)HL_VSC_DISK_MAX);
	if (l.vsc_offset != l.image_bytes)
		return hl_error("bad template disk footer: vsc_offset %llu is not image_bytes %llu",
				(unsigned long long)l.vsc_offset,
				(unsigned long long)l.image_bytes);
	if (l.vsc_length == 0 || l.vsc_length > HL_VSC_MAX_SIZE)
		return hl_error("bad template disk footer: vsc_length %llu is not 1 to %zu",
				(unsigned long long)l.vsc_length, HL_VSC_MAX_SIZE);
	if (round512(l.vsc_offset + l.vsc_length) + HL_TDISK_FOOTER_SIZE != file_bytes)
		return hl_error("bad template disk footer: an image of %llu bytes and a signature "
				"catalog of %llu make a file of %llu bytes, not %llu (the file was "
				"cut or grown)", (unsigned long long)l.image_bytes,
				(unsigned long long)l.vsc_length,
				(unsigned long long)(round512(l.vsc_offset + l.vsc_length) +
						     HL_TDISK_FOOTER_SIZE),
				(unsigned long long)file_bytes);
	l.trailer_bytes = file_bytes - l.image_bytes;
	*out = l;
	return 0;
}

/* Check the trailer's padding and footer; point *VSC at its VSC. */
int hl_tdisk_trailer_check(const void *trailer, size_t len, const struct hl_tdisk_layout *layout,
			   const unsigned char **vsc)
{
	const unsigned char *t = trailer;
	struct hl_tdisk_layout again;
	size_t i, pad_end;

	*vsc = NULL;
	if (!trailer || !layout || len != layout->trailer_bytes ||
	    len > HL_TDISK_TRAILER_MAX || len < layout->vsc_length + HL_TDISK_FOOTER_SIZE)
		return hl_error("bad template disk trailer: %zu bytes where the footer says %llu",
				len, layout ? (unsigned long long)layout->trailer_bytes : 0ULL);
	if (hl_tdisk_footer_parse(t, len, layout->file_bytes, &again) < 0)
		return -1;
	if (memcmp(&again, layout, sizeof(again)) != 0)
		return hl_error("bad template disk trailer: its footer changed while it was read");
	pad_end = len - HL_TDISK_FOOTER_SIZE;
	for (i = (size_t)layout->vsc_length; i < pad_end; i++)
		if (t[i])
			return hl_error("bad template disk trailer: padding byte %zu after the "
					"signature catalog is not zero", i - (size_t)layout->vsc_length);
	*vsc = t;
	return 0;
}

/* The trailer for an image of IMAGE_BYTES and VSC. */
int hl_tdisk_trailer_build(uint64_t image_bytes, const void *vsc, size_t vsc_len,
			   struct hl_buf *out)
{
	size_t len;
	unsigned char *p, *f;

	out->data = NULL;
	out->len = 0;
	if (image_bytes == 0 || image_bytes % HL_VSC_DISK_ALIGN || image_bytes > HL_VSC_DISK_MAX)
		return hl_error("cannot protect a template image of %llu bytes: it must be a "
				"non-zero multiple of %d, at most %llu",
				(unsigned long long)image_bytes, HL_VSC_DISK_ALIGN,
				(unsigned long long)HL_VSC_DISK_MAX);
	if (!vsc || vsc_len == 0 || vsc_len > HL_VSC_MAX_SIZE)
		return hl_error("cannot protect a template with a signature catalog of %zu bytes",
				vsc_len);
	len = (size_t)round512(vsc_len) + HL_TDISK_FOOTER_SIZE;
	p = calloc(1, len + 1);
	if (!p)
		return hl_error("out of memory");
	memcpy(p, vsc, vsc_len);
	f = p + len - HL_TDISK_FOOTER_SIZE;
	memcpy(f, HL_TDISK_MAGIC, HL_TDISK_MAGIC_LEN);
	hl_put_le64(f + FOOT_IMAGE, image_bytes);
	hl_put_le64(f + FOOT_VSC_OFF, image_bytes);
	hl_put_le64(f + FOOT_VSC_LEN, vsc_len);
	out->data = p;
	out->len = len;
	return 0;
}
