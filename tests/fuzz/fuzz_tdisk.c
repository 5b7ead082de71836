/*
 * fuzz_tdisk.c - libFuzzer target: the footer and trailer of a protected
 * template disk (proto/vsc_tdisk.h), read from the end of a file by the
 * tenant, the host and the guest agent, then the VSC it carries.
 *
 * The first input byte picks the file's size: even, the rest of the input
 * is the whole file; odd, the next 8 bytes (little-endian) are the file's
 * size and the rest its last bytes (a real trailer follows a large image).
 * A footer that parses and a trailer that checks must be what
 * hl_tdisk_trailer_build writes for the same image size and VSC, byte for
 * byte (abort otherwise: reader and writer disagree).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/endian.h"
#include "lib/err.h"
#include "proto/vsc.h"
#include "proto/vsc_tdisk.h"
#include "tests/fuzz/fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct hl_tdisk_layout layout;
	struct hl_buf again = { 0 };
	struct hl_vsc *vsc = NULL;
	const unsigned char *vsc_bytes;
	const uint8_t *trailer;
	uint64_t file_bytes;

	if (fz_byte(&in) & 1) {
		if (in.n < 8)
			return 0;
		file_bytes = hl_get_le64(in.p);
		in.p += 8;
		in.n -= 8;
	} else {
		file_bytes = in.n;
	}
	hl_tdisk_has_footer(in.p, in.n);
	if (hl_tdisk_footer_parse(in.p, in.n, file_bytes, &layout) < 0 ||
	    layout.trailer_bytes > in.n)
		goto out;
	trailer = in.p + in.n - layout.trailer_bytes;
	if (hl_tdisk_trailer_check(trailer, layout.trailer_bytes, &layout, &vsc_bytes) < 0)
		goto out;
	if (hl_tdisk_trailer_build(layout.image_bytes, vsc_bytes, layout.vsc_length, &again) < 0 ||
	    again.len != layout.trailer_bytes || memcmp(again.data, trailer, again.len) != 0)
		fz_fail("a template trailer read is not the one the writer makes");
	if (hl_vsc_parse(vsc_bytes, layout.vsc_length, &vsc) == 0)
		hl_vsc_verify(vsc);
out:
	hl_vsc_free(vsc);
	hl_buf_free(&again);
	hl_error_clear();
	return 0;
}
