/*
 * fuzz_fsk.c - libFuzzer target: the specialization data a tenant hands a
 * host (.fsk, proto/fsk.h), the substitution of its values into a
 * template's answer file, and the template's .hgslab/generalized.json.
 *
 * The input is  FSK FZ_SEP TEXT FZ_SEP GENERALIZED  (fuzzutil.h): the .fsk
 * is parsed; when it parses, its values are substituted into TEXT and it
 * is written again with hl_fsk_make, which must read back with the same
 * values (abort otherwise); GENERALIZED goes through
 * hl_fsk_generalized_parse, and a list that parses must be written and
 * read back the same.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "proto/fsk.h"
#include "tests/fuzz/fuzzutil.h"

/* F written and read back must hold the same values. */
static void fsk_roundtrip(const struct hl_fsk *f)
{
	struct hl_buf buf = { 0 };
	struct hl_fsk *g = NULL;

	if (hl_fsk_make(f->values, f->n, &buf) < 0 || hl_fsk_parse(buf.data, buf.len, &g) < 0 ||
	    g->n != f->n)
		fz_fail("a .fsk read does not write and read back");
	for (size_t i = 0; i < f->n; i++) {
		const char *v = hl_fsk_get(g, f->values[i].key);

		if (!v || strcmp(v, f->values[i].value) != 0)
			fz_fail("a .fsk value changed in a write and read back");
	}
	hl_fsk_free(g);
	hl_buf_free(&buf);
}

/* The generalized list FILES (N paths) written and read back must be the same. */
static void generalized_roundtrip(char **files, size_t n)
{
	struct hl_buf buf = { 0 };
	char **again = NULL;
	size_t m = 0;

	if (hl_fsk_generalized_make((const char *const *)files, n, &buf) < 0 ||
	    hl_fsk_generalized_parse(buf.data, buf.len, &again, &m) < 0 || m != n)
		fz_fail("a generalized.json read does not write and read back");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(files[i], again[i]) != 0)
			fz_fail("a generalized.json path changed in a write and read back");
		free(again[i]);
	}
	free(again);
	hl_buf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	const uint8_t *fsk, *text, *gen;
	size_t fsk_len, text_len, gen_len, replaced, n = 0;
	struct hl_buf out = { 0 };
	struct hl_fsk *f = NULL;
	char **files = NULL;

	fz_part(&in, &fsk, &fsk_len);
	fz_part(&in, &text, &text_len);
	fz_part(&in, &gen, &gen_len);
	hl_fsk_has_placeholder(text, text_len);
	if (hl_fsk_parse(fsk, fsk_len, &f) == 0) {
		if (hl_fsk_substitute(f, text, text_len, &out, &replaced) == 0)
			hl_buf_free(&out);
		fsk_roundtrip(f);
		hl_fsk_free(f);
	}
	if (hl_fsk_generalized_parse(gen, gen_len, &files, &n) == 0) {
		generalized_roundtrip(files, n);
		for (size_t i = 0; i < n; i++)
			free(files[i]);
		free(files);
	}
	hl_error_clear();
	return 0;
}
