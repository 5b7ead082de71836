/*
 * cmd.c - the dispatcher: walks the command table in sim/table.c, prints help
 * and usage at every level, parses options with the command's own table and
 * runs the command.  Usage errors exit HL_EXIT_USAGE (2).
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

/* Print the list of entries in TABLE, one line each, names padded to 30 or the longest. */
static void print_entries(FILE *f, const struct hl_cmd *table)
{
	enum { WIDTH = 34 };

	/* a name too long for the column goes on its own line: name and summary never run together */
	for (const struct hl_cmd *c = table; c->name; c++)
		if ((int)strlen(c->name) >= WIDTH)
			fprintf(f, "  %s\n  %-*s %s%s\n", c->name, WIDTH, "", c->summary,
				c->later ? " (not built yet)" : "");
		else
			fprintf(f, "  %-*s %s%s\n", WIDTH, c->name, c->summary,
				c->later ? " (not built yet)" : "");
}

/* Top-level usage. */
static void print_main_help(FILE *f)
{
	fprintf(f,
		"usage: hgslab AREA [VERB] [options] [arguments]\n"
		"\n"
		"hgslab is a guarded fabric in a box: Host Guardian Service, guarded hosts with\n"
		"swtpm TPMs, shielded QEMU VMs and tenant tooling on one Linux machine.\n"
		"\n"
		"Areas:\n");
	print_entries(f, hl_areas);
	fprintf(f,
		"\n"
		"Options:\n"
		"  -h, --help                     show this help (also after any area or verb)\n"
		"  --version                      same as `hgslab version`\n"
		"\n"
		"Run `hgslab AREA --help` for the verbs of an area.\n");
}

/* Help of one command (an area with verbs or a leaf). */
static void print_cmd_help(FILE *f, const char *path, const struct hl_cmd *c)
{
	if (c->verbs) {
		fprintf(f, "usage: hgslab %s VERB [options]\n\n%s\n", path, c->summary);
		if (c->description)
			fprintf(f, "\n%s\n", c->description);
		fprintf(f, "\nVerbs:\n");
		print_entries(f, c->verbs);
		fprintf(f, "\nRun `hgslab %s VERB --help` for the options of a verb.\n", path);
		return;
	}
	fprintf(f, "usage: hgslab %s%s%s%s\n\n%s\n", path, c->opts ? " [options]" : "",
		c->args ? " " : "", c->args ? c->args : "", c->summary);
	if (c->description)
		fprintf(f, "\n%s\n", c->description);
	if (c->later)
		fprintf(f, "\nNot built yet: %s.\n", c->later);
	fprintf(f, "\n");
	hl_opts_print_help(f, c->opts);
}

/* Find NAME in TABLE. */
static const struct hl_cmd *find_cmd(const struct hl_cmd *table, const char *name)
{
	for (const struct hl_cmd *c = table; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Print a usage error, a pointer to help, and return HL_EXIT_USAGE. */
static int usage_error(const char *path, const char *fmt, ...) HL_PRINTF(2, 3);
static int usage_error(const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hgslab: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: hgslab %s%s ...\nRun `hgslab %s%s--help` for help.\n",
		path, *path ? "" : "AREA [VERB] [options]", path, *path ? " " : "");
	return HL_EXIT_USAGE;
}

int hl_cmd_exit_code(int signo)
{
	return signo ? 128 + signo : HL_EXIT_FAILURE;
}

int hl_cmd_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hgslab: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return code;
}

/* Check that stdout reached its destination (a full disk must not be silent). */
static int finish_stdout(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "hgslab: error: cannot write the output: %s\n", strerror(errno));
		return code == HL_EXIT_OK ? HL_EXIT_FAILURE : code;
	}
	return code;
}

/* Parse the leaf command's options and run it. */
static int run_leaf(const struct hl_cmd *c, const char *path, int argc, char **argv)
{
	struct hl_cmd_ctx ctx = { .cmd = c, .path = path };
	int code;

	if (hl_opts_parse(c->opts, argc, argv, &ctx.opts) < 0)
		return usage_error(path, "%s", hl_error_last());
	if (ctx.opts.help) {
		print_cmd_help(stdout, path, c);
		hl_opts_release(&ctx.opts);
		return finish_stdout(HL_EXIT_OK);
	}
	if (!c->run) {
		hl_opts_release(&ctx.opts);
		return hl_cmd_fail(HL_EXIT_NOT_BUILT, "'hgslab %s' is not built yet: %s", path,
				   c->later ? c->later : "it has no implementation");
	}
	if (!c->args && ctx.opts.argc > 0) {
		code = usage_error(path, "unexpected argument '%s'", ctx.opts.argv[0]);
		hl_opts_release(&ctx.opts);
		return code;
	}
	code = c->run(&ctx);
	hl_opts_release(&ctx.opts);
	return finish_stdout(code);
}

int hl_cmd_main(int argc, char **argv)
{
	const struct hl_cmd *area, *verb;
	char path[128];

	if (argc < 2) {
		print_main_help(stderr);
		return HL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_main_help(stdout);
		return finish_stdout(HL_EXIT_OK);
	}
	if (strcmp(argv[1], "--version") == 0)
		argv[1] = "version";
	area = find_cmd(hl_areas, argv[1]);
	if (!area)
		return usage_error("", "unknown area '%s'", argv[1]);
	if (!area->verbs)
		return run_leaf(area, area->name, argc - 2, argv + 2);

	if (argc < 3) {
		print_cmd_help(stderr, area->name, area);
		return HL_EXIT_USAGE;
	}
	if (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
		print_cmd_help(stdout, area->name, area);
		return finish_stdout(HL_EXIT_OK);
	}
	verb = find_cmd(area->verbs, argv[2]);
	if (!verb)
		return usage_error(area->name, "unknown verb '%s' for '%s'", argv[2], area->name);
	snprintf(path, sizeof(path), "%s %s", area->name, verb->name);
	return run_leaf(verb, path, argc - 3, argv + 3);
}
