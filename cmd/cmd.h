/*
 * cmd.h - the hgslab command table and the exit codes.
 *
 * hgslab is invoked as `hgslab AREA [VERB] [options] [args]`.  The whole
 * command surface is one explicit table (sim/table.c): an area either runs
 * directly (run, demo, up, ...) or holds a table of verbs (hgs, host, tenant,
 * bench).  Each entry carries its own option table (lib/opt.h), which drives
 * parsing, usage and --help.
 *
 * How to add a command:
 *  1. write `int cmd_<area>_<verb>(struct hl_cmd_ctx *ctx)` in
 *     <component>/cmd_<area>.c (or sim/cmd_<name>.c for lab-wide areas),
 *     with a `static const struct hl_opt` table next to it, and declare both in
 *     sim/commands.h;
 *  2. add one line to the area's verb table in sim/table.c.
 * The dispatcher prints help, rejects unknown options (exit 2), and after the
 * command flushes stdout so a full disk is not silent.
 */
#ifndef HGSLAB_CMD_CMD_H
#define HGSLAB_CMD_CMD_H

#include "lib/opt.h"

/*
 * Exit codes: one documented, append-only enum (README "Exit codes").
 */
enum hl_exit {
	HL_EXIT_OK = 0,          /* success; every expectation held */
	HL_EXIT_FAILURE = 1,     /* the operation failed (message on stderr) */
	HL_EXIT_USAGE = 2,       /* bad command line or bad input file (nothing started) */
	HL_EXIT_NOT_BUILT = 3,   /* the command exists in the table but is not built yet */
	HL_EXIT_REFUSED = 4,     /* a guarded-fabric check said no (attestation, key release, start) */
	HL_EXIT_MISSING_DEP = 5, /* a required program or package is missing; run `make deps` */
	HL_EXIT_EXPECTATION = 6, /* a scenario ran but an expectation did not hold */
	HL_EXIT_INTERRUPTED = 130, /* stopped by SIGINT (128 + signal number for others) */
};

struct hl_cmd;

/* What a command function receives. */
struct hl_cmd_ctx {
	const struct hl_cmd *cmd;   /* the table entry being run */
	const char *path;           /* "hgs add-tpm-host", for messages */
	struct hl_opts opts;        /* parsed options and positional arguments */
};

struct hl_cmd {
	const char *name;
	const char *summary;          /* one line, shown in the parent's list */
	const char *args;             /* positional synopsis, e.g. "FILE..." or NULL */
	const char *description;      /* longer help text, or NULL */
	const struct hl_opt *opts;    /* option table, or NULL */
	int (*run)(struct hl_cmd_ctx *ctx);
	const struct hl_cmd *verbs;   /* NULL-name-terminated, for areas with verbs */
	const char *later;            /* set when not built yet: what brings it */
};

/* The top-level table (sim/table.c). */
extern const struct hl_cmd hl_areas[];

/* Run the command line; returns the process exit code. */
int hl_cmd_main(int argc, char **argv);

/* The exit code of a run stopped by signal SIGNO (128 + SIGNO), or HL_EXIT_FAILURE when SIGNO is 0. */
int hl_cmd_exit_code(int signo);

/* Report a failure of the current command: "hgslab: error: MESSAGE". */
int hl_cmd_fail(int code, const char *fmt, ...) HL_PRINTF(2, 3);

#endif
