/*
 * cmdutil.h - steps the command files of every component share (cmd/cmd_*.c):
 * the option entries every verb table ends with, reading a verb's input
 * files and public keys, turning a failed call into the command's exit code,
 * and the one-object output shapes; and for the hgs verbs, opening the node
 * of --dir and listing one of its logs.  Each helper
 * reports its failure on stderr through hl_cmd_fail() and returns the exit
 * code, so a verb can `return` or `goto out` with it: HL_EXIT_USAGE for an
 * input file that is missing, unreadable or of the wrong kind (README "Exit
 * codes"), HL_EXIT_FAILURE for the rest.
 */
#ifndef HGSLAB_CMD_CMDUTIL_H
#define HGSLAB_CMD_CMDUTIL_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cmd/cmd.h"

struct hgs_node;

/* The --json entry of a verb's option table. */
#define HL_CMD_OPT_JSON { "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 }
/* The entry that ends every option table. */
#define HL_CMD_OPT_END { NULL, 0, 0, NULL, NULL, 0 }
/* The --guest option's help: where the guest is found when the option is not given
 * (vm/launch.h vm_launch_guest_dir). */
#define HL_GUEST_HELP "the guest (vmlinuz, initramfs.cpio); default $HGSLAB_GUEST_DIR, else the " \
	"checkout's build/guest, or share/hgslab/guest beside an installed hgslab"

/*
 * HL_EXIT_OK when RC is not negative; else report the current error
 * message as it is ("hgslab: error: MESSAGE") and return CODE.
 */
int hl_cmd_check(int rc, int code);

/*
 * The exit code of a component call that returned RC, where -2 means the
 * input was refused (tenant/template.h, tenant/shielding.h): HL_EXIT_USAGE
 * then, HL_EXIT_FAILURE for -1, each with the current message;
 * HL_EXIT_OK when RC is not negative.
 */
int hl_cmd_code_of(int rc);

/*
 * Read input file PATH (at most MAX bytes; WHAT names it, e.g. "host key")
 * into *BUF / *LEN (LEN may be NULL); an exit code, HL_EXIT_USAGE with
 * "cannot read the WHAT: ..." when it cannot be read.
 */
int hl_cmd_read_file(const char *path, const char *what, size_t max, char **buf, size_t *len);

/*
 * The check of an input file's kind for hl_cmd_read_input(): 0 when the
 * LEN bytes BUF are one, else -1 with the message saying what is wrong.
 */
typedef int hl_cmd_kind_fn(const char *buf, size_t len);

/*
 * The one rule for a verb's input file PATH given with option OPT (e.g.
 * "--key-protector", or "FILE" for a positional one): read it (at most MAX
 * bytes) and, when KIND is not NULL, check that it is a WHAT (e.g. "key
 * protector") before anything is started.  A missing or unreadable file
 * and one of another kind are both bad input: HL_EXIT_USAGE with "cannot
 * read the WHAT (OPT): ..." or "'PATH' (OPT) is not a WHAT: ...".  BUF may
 * be NULL to check only; else *BUF / *LEN (LEN may be NULL) get the bytes.
 * An exit code.
 */
int hl_cmd_read_input(const char *opt, const char *path, const char *what, size_t max,
		      hl_cmd_kind_fn *kind, char **buf, size_t *len);

/* hl_cmd_kind_fn of a key protector (proto/keyprotector.h). */
int hl_cmd_kind_kp(const char *buf, size_t len);

/*
 * The same rule for an input folder PATH of option OPT: HL_EXIT_USAGE with
 * "cannot read OPT 'PATH': ..." when it is missing or "OPT 'PATH' is not a
 * folder"; an exit code.
 */
int hl_cmd_input_dir(const char *opt, const char *path);

/*
 * Read a public key from file PATH into *OUT: a PEM public key or a PEM
 * certificate, of a supported key type.  A private key is refused with a
 * hint to export its public half, followed by NOTE when not NULL (e.g.
 * "the machine key stays on the host").  An exit code: HL_EXIT_USAGE with
 * "cannot read the WHAT: ..." or "invalid WHAT 'PATH': ..."; *OUT is set
 * only on success.
 */
int hl_cmd_read_public_key(const char *path, const char *what, const char *note, EVP_PKEY **out);

/* One "NAME=VALUE" item of a repeatable option, split. */
struct hl_cmd_pair {
	char *name;
	char *value;
};

/*
 * Split each item of list option V ("NAME=VALUE") at its first '=' into a
 * new array *PAIRS of V->n pairs (copies; hl_cmd_pairs_free).  An item
 * without '=' or with an empty NAME is refused: HL_EXIT_USAGE with "bad
 * OPT 'ITEM': give FORM" (OPT e.g. "--file", FORM e.g. "NAME=CONTENT").
 * An exit code.
 */
int hl_cmd_split_pairs(const struct hl_optval *v, const char *opt, const char *form,
		       struct hl_cmd_pair **pairs);

/* Free N pairs and their array; NULL-safe. */
void hl_cmd_pairs_free(struct hl_cmd_pair *pairs, size_t n);

/* Parse a size ("16M", "1G", "512K" or bytes) into *OUT; 0, or -1 when it is not one. */
int hl_cmd_parse_size(const char *s, size_t *out);

/* Add member KEY = string V (or null when V is NULL) to object O. */
void hl_cmd_set_str(json_t *o, const char *key, const char *v);

/*
 * The rows of a listing call that returned RC: when RC is not negative, ROWS
 * as hl_out_rows() prints them (NONE when empty), else the current error
 * message with HL_EXIT_FAILURE.  An exit code.
 */
int hl_cmd_out_rows(const struct hl_cmd_ctx *ctx, int rc, const json_t *rows,
		    const char *const *cols, const char *none);

/*
 * The first object of array ROWS whose string member KEY is VALUE, as a new
 * one-row array for hl_cmd_out_one(), or NULL when there is none.
 */
json_t *hl_cmd_find_row(const json_t *rows, const char *key, const char *value);

/*
 * The one-row array ROW as its object (--json) or as a table of COLS; an
 * exit code.  For the verbs that add or change one thing and show it.
 */
int hl_cmd_out_one(const struct hl_cmd_ctx *ctx, const json_t *row, const char *const *cols);

/* Open the HGS node of --dir into *NODE (close it with hgs_node_close); an exit code. */
int hl_cmd_hgs_open(const struct hl_cmd_ctx *ctx, struct hgs_node **node);

/* How an HGS log is listed: the last LAST entries (0: all), of HOST only when not NULL. */
typedef int hl_cmd_hgs_log_fn(struct hgs_node *node, const char *host, long last, json_t **out);

/*
 * An `hgs get-*-log` verb: check --last (HL_EXIT_USAGE "invalid --last N:
 * give a positive number" when negative), open the node of --dir, list the
 * log with LIST for --host and --last, and print its COLS (NONE when empty).
 * With --trace ID, print instead the entry whose Id is ID: the whole entry
 * (--json) or a heading and its trace's steps (hgs_trace_print); exit 1
 * when the log holds no such entry.  An exit code.
 */
int hl_cmd_hgs_log(const struct hl_cmd_ctx *ctx, hl_cmd_hgs_log_fn *list, const char *const *cols,
		   const char *none);

/* A file the scenario library always holds (the default demo): how it is recognised. */
#define HL_CMD_SCENARIO_PROBE "article-walkthrough.yaml"

/*
 * The scenario library folder into BUF: $HGSLAB_SCENARIOS, else the source
 * tree's scenarios/ above this binary, else an installed hgslab's
 * PREFIX/share/hgslab/scenarios (lib/selfpath: the folder that holds
 * HL_CMD_SCENARIO_PROBE), else ./scenarios.  -1 when /proc/self/exe cannot
 * be read.
 */
int hl_cmd_scenario_dir(char *buf, size_t size);

#endif
