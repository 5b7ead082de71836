/*
 * opt.c - the table-driven option parser behind opt.h.
 */
#include "lib/opt.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Find a long option by name (up to LEN characters); -1 when unknown. */
static int find_long(const struct hl_opt *spec, const char *name, size_t len)
{
	for (int i = 0; spec && spec[i].name; i++)
		if (strlen(spec[i].name) == len && strncmp(spec[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Find a short option; -1 when unknown. */
static int find_short(const struct hl_opt *spec, char c)
{
	for (int i = 0; spec && spec[i].name; i++)
		if (spec[i].short_name && spec[i].short_name == c)
			return i;
	return -1;
}

/* Store VALUE for option I. */
static int store_value(const struct hl_opt *spec, int i, const char *value, struct hl_optval *v)
{
	const struct hl_opt *opt = &spec[i];
	const char **grown;
	char *end;

	v[i].set++;
	switch (opt->type) {
	case HL_OPT_FLAG:
		return 0;
	case HL_OPT_STRING:
		v[i].str = value;
		return 0;
	case HL_OPT_INT:
		errno = 0;
		v[i].num = strtol(value, &end, 10);
		if (errno || end == value || *end)
			return hl_error("option '--%s' takes a whole number, not '%s'", opt->name, value);
		v[i].str = value;
		return 0;
	case HL_OPT_LIST:
		grown = realloc(v[i].list, (v[i].n + 1) * sizeof(*grown));
		if (!grown)
			return hl_error("out of memory");
		v[i].list = grown;
		v[i].list[v[i].n++] = value;
		return 0;
	}
	return hl_error("option '--%s' has an unknown type", opt->name);
}

int hl_opts_parse(const struct hl_opt *spec, int argc, char **argv, struct hl_opts *out)
{
	size_t nspec = 0;
	int i, only_positional = 0;

	memset(out, 0, sizeof(*out));
	while (spec && spec[nspec].name)
		nspec++;
	out->spec = spec;
	out->v = calloc(nspec + 1, sizeof(*out->v));
	out->argv = calloc((size_t)argc + 1, sizeof(*out->argv));
	if (!out->v || !out->argv) {
		hl_error("out of memory");
		goto out;
	}

	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *eq;
		int idx;

		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			out->argv[out->argc++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			out->help = 1;
			continue;
		}
		if (arg[1] == '-') {
			eq = strchr(arg + 2, '=');
			idx = find_long(spec, arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
			if (idx < 0) {
				hl_error("unknown option '%.*s'", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
				goto out;
			}
			if (eq) {
				if (spec[idx].type == HL_OPT_FLAG) {
					hl_error("option '--%s' takes no value", spec[idx].name);
					goto out;
				}
				value = eq + 1;
			}
		} else {
			if (arg[2] != '\0' || (idx = find_short(spec, arg[1])) < 0) {
				hl_error("unknown option '%s'", arg);
				goto out;
			}
		}
		if (spec[idx].type != HL_OPT_FLAG && !value) {
			if (i + 1 >= argc) {
				hl_error("option '--%s' needs a value (%s)", spec[idx].name,
					 spec[idx].metavar ? spec[idx].metavar : "VALUE");
				goto out;
			}
			value = argv[++i];
		}
		if (store_value(spec, idx, value, out->v) < 0)
			goto out;
	}
	if (!out->help) {
		for (size_t k = 0; k < nspec; k++) {
			if ((spec[k].flags & HL_OPT_REQUIRED) && !out->v[k].set) {
				hl_error("option '--%s' is required", spec[k].name);
				goto out;
			}
		}
	}
	return 0;

out:
	hl_opts_release(out);
	return -1;
}

void hl_opts_release(struct hl_opts *o)
{
	if (!o)
		return;
	if (o->v) {
		for (size_t i = 0; o->spec && o->spec[i].name; i++)
			free(o->v[i].list);
	}
	free(o->v);
	free(o->argv);
	o->v = NULL;
	o->argv = NULL;
	o->argc = 0;
}

const struct hl_optval *hl_opts_get(const struct hl_opts *o, const char *name)
{
	int idx = find_long(o->spec, name, strlen(name));

	assert(idx >= 0 && "option lookup of a name not in the command's table");
	return &o->v[idx];
}

int hl_opts_flag(const struct hl_opts *o, const char *name)
{
	return hl_opts_get(o, name)->set > 0;
}

const char *hl_opts_str(const struct hl_opts *o, const char *name, const char *dflt)
{
	const struct hl_optval *v = hl_opts_get(o, name);

	return v->set ? v->str : dflt;
}

long hl_opts_int(const struct hl_opts *o, const char *name, long dflt)
{
	const struct hl_optval *v = hl_opts_get(o, name);

	return v->set ? v->num : dflt;
}

void hl_opts_print_help(FILE *f, const struct hl_opt *spec)
{
	char left[64];

	fprintf(f, "Options:\n");
	for (int i = 0; spec && spec[i].name; i++) {
		const struct hl_opt *opt = &spec[i];

		char shortpart[8] = "    ";
		const char *meta = opt->type == HL_OPT_FLAG ? "" :
				   (opt->metavar ? opt->metavar : "VALUE");

		if (opt->short_name)
			snprintf(shortpart, sizeof(shortpart), "-%c, ", opt->short_name);
		snprintf(left, sizeof(left), "%s--%s%s%s", shortpart, opt->name, *meta ? " " : "",
			 meta);
		/* a long left column goes on its own line: the columns never run together */
		if (strlen(left) > 29)
			fprintf(f, "  %s\n  %-30s", left, "");
		else
			fprintf(f, "  %-30s", left);
		fprintf(f, " %s%s%s\n", opt->help, opt->flags & HL_OPT_REQUIRED ? " (required)" : "",
			opt->type == HL_OPT_LIST ? " (repeatable)" : "");
	}
	fprintf(f, "  %-30s %s\n", "-h, --help", "show this help");
}
