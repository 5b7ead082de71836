/*
 * opt.h - one option table drives parsing, usage and help.
 *
 * A command declares a NULL-name-terminated array of struct hl_opt; the same
 * array parses argv (--name VALUE, --name=VALUE, -x VALUE, flags, repeatable
 * lists, "--" ends options), prints the options block of --help, and checks
 * required options.  -h/--help is always understood.
 */
#ifndef HGSLAB_LIB_OPT_H
#define HGSLAB_LIB_OPT_H

#include <stdio.h>

#include "lib/err.h"

enum hl_opt_type {
	HL_OPT_FLAG,   /* no value; set or not */
	HL_OPT_STRING, /* one value; the last one given wins */
	HL_OPT_INT,    /* one integer value */
	HL_OPT_LIST,   /* repeatable; every value kept in order */
};

#define HL_OPT_REQUIRED 0x1u

struct hl_opt {
	const char *name;       /* long name without dashes; NULL ends the table */
	char short_name;        /* 0 when there is none */
	enum hl_opt_type type;
	const char *metavar;    /* shown in help, e.g. "DIR" */
	const char *help;       /* one line */
	unsigned flags;         /* HL_OPT_REQUIRED */
};

/* The value of one option after parsing; index i matches table entry i. */
struct hl_optval {
	int set;            /* how many times it was given */
	const char *str;    /* HL_OPT_STRING / HL_OPT_INT: the last value */
	long num;           /* HL_OPT_INT: the parsed value */
	const char **list;  /* HL_OPT_LIST: all values (malloc'd array) */
	size_t n;           /* HL_OPT_LIST: how many */
};

/* The result of a parse: values per option plus the positional arguments. */
struct hl_opts {
	const struct hl_opt *spec;
	struct hl_optval *v;
	int argc;           /* positional arguments, options removed */
	char **argv;        /* malloc'd array of pointers into the caller's argv */
	int help;           /* -h/--help was given */
};

/* Parse ARGV (argv[0] is not skipped: pass the arguments only). */
int hl_opts_parse(const struct hl_opt *spec, int argc, char **argv, struct hl_opts *out);

/* Free what hl_opts_parse allocated. */
void hl_opts_release(struct hl_opts *o);

/* Lookups by long name; asserting that the name is in the table. */
int hl_opts_flag(const struct hl_opts *o, const char *name);
const char *hl_opts_str(const struct hl_opts *o, const char *name, const char *dflt);
long hl_opts_int(const struct hl_opts *o, const char *name, long dflt);
const struct hl_optval *hl_opts_get(const struct hl_opts *o, const char *name);

/* Print the options block of a help text for SPEC. */
void hl_opts_print_help(FILE *f, const struct hl_opt *spec);

#endif
