/*
 * output.c - the printers of output.h: JSON, tables and lists.
 */
#include "cmd/output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

#define OUT_MAX_COLS 16

int hl_out_json(const json_t *v)
{
	char *s = NULL;

	if (hl_json_dump_pretty(v, &s) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	fputs(s, stdout);
	free(s);
	return HL_EXIT_OK;
}

const char *hl_out_text(const json_t *v, char *buf, size_t size)
{
	size_t used = 0, i;
	json_t *e;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, size, "%.2f", json_real_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "True" : "False";
	if (json_is_array(v)) {
		buf[0] = '\0';
		json_array_foreach(v, i, e) {
			if (json_is_string(e) && used < size)
				used += (size_t)snprintf(buf + used, size - used, "%s%s",
							 used ? ", " : "", json_string_value(e));
		}
		return buf;
	}
	return "";
}

void hl_out_table(const json_t *rows, const char *const *cols)
{
	size_t widths[OUT_MAX_COLS] = { 0 }, ncols = 0, i;
	char buf[1024];
	json_t *row;

	for (; cols[ncols] && ncols < OUT_MAX_COLS; ncols++)
		widths[ncols] = strlen(cols[ncols]);
	json_array_foreach(rows, i, row) {
		for (size_t c = 0; c < ncols; c++) {
			size_t w = strlen(hl_out_text(json_object_get(row, cols[c]), buf, sizeof(buf)));

			if (w > widths[c])
				widths[c] = w;
		}
	}
	for (size_t c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? (int)widths[c] : 0, cols[c], c + 1 < ncols ? " " : "\n");
	for (size_t c = 0; c < ncols; c++) {
		for (size_t k = 0; k < strlen(cols[c]); k++)
			putchar('-');
		printf("%*s%s", c + 1 < ncols ? (int)(widths[c] - strlen(cols[c])) : 0, "",
		       c + 1 < ncols ? " " : "\n");
	}
	json_array_foreach(rows, i, row) {
		for (size_t c = 0; c < ncols; c++) {
			const char *t = hl_out_text(json_object_get(row, cols[c]), buf, sizeof(buf));

			if (c + 1 < ncols)
				printf("%-*s ", (int)widths[c], t);
			else
				printf("%s\n", t);
		}
	}
}

void hl_out_list(const json_t *o)
{
	const char *key;
	size_t width = 0;
	char buf[2048];
	json_t *v;

	json_object_foreach((json_t *)o, key, v)
		if (strlen(key) > width)
			width = strlen(key);
	printf("\n");
	json_object_foreach((json_t *)o, key, v)
		printf("%-*s : %s\n", (int)width, key, hl_out_text(v, buf, sizeof(buf)));
	printf("\n");
}

int hl_out_rows(const struct hl_cmd_ctx *ctx, const json_t *rows, const char *const *cols,
		const char *none)
{
	if (hl_opts_flag(&ctx->opts, "json"))
		return hl_out_json(rows);
	if (json_array_size(rows) == 0)
		printf("%s\n", none);
	else
		hl_out_table(rows, cols);
	return HL_EXIT_OK;
}

int hl_out_object(const struct hl_cmd_ctx *ctx, const json_t *o)
{
	if (hl_opts_flag(&ctx->opts, "json"))
		return hl_out_json(o);
	hl_out_list(o);
	return HL_EXIT_OK;
}
