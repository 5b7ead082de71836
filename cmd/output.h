/*
 * output.h - how every hgslab command prints data: JSON for scripts
 * (--json), and for people the two shapes PowerShell gives cmdlet output, a
 * table (Format-Table) for lists of objects and "Name : Value" lines
 * (Format-List) for one object.  Commands build a jansson value once and
 * hand it here, so the human and the JSON output always say the same thing.
 */
#ifndef HGSLAB_CMD_OUTPUT_H
#define HGSLAB_CMD_OUTPUT_H

#include <jansson.h>
#include <stddef.h>

#include "cmd/cmd.h"

/* Print V as indented JSON on stdout; an exit code. */
int hl_out_json(const json_t *v);

/*
 * The text of one value as a cell: strings as they are, integers and reals,
 * booleans as True / False, arrays of strings joined with ", ", anything
 * else empty.  Formats into BUF when needed.
 */
const char *hl_out_text(const json_t *v, char *buf, size_t size);

/*
 * Print array ROWS of objects as a table of the NULL-terminated column keys
 * COLS (at most 16): a header, a dashed rule, one aligned line per row.
 */
void hl_out_table(const json_t *rows, const char *const *cols);

/* Print object O as Format-List: "Name : Value", names padded to one width. */
void hl_out_list(const json_t *o);

/* ROWS as JSON (--json) or as a table of COLS, or the line NONE when empty; an exit code. */
int hl_out_rows(const struct hl_cmd_ctx *ctx, const json_t *rows, const char *const *cols,
		const char *none);

/* O as JSON (--json) or as a Format-List; an exit code. */
int hl_out_object(const struct hl_cmd_ctx *ctx, const json_t *o);

#endif
