/*
 * cmd_attack.c - `hgslab attack list` and `hgslab attack show`: the attack
 * library (sim/attack.h) a scenario plays with its `attack:` step, for a
 * teacher choosing what to show and for scripts (--json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/commands.h"
#include "cmd/output.h"
#include "sim/attack.h"

const struct hl_opt cmd_attack_list_opts[] = {
	{ "family", 0, HL_OPT_STRING, "F", "only the attacks of family F (e.g. bundle, hgs, kps)", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON: an array of attacks", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

const struct hl_opt cmd_attack_show_opts[] = {
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* One attack as a JSON object (PascalCase, as the other --json outputs). */
static json_t *attack_json(const struct attack_def *d)
{
	json_t *needs = json_array();

	if (needs && (d->needs & ATTACK_NEEDS_HOST))
		json_array_append_new(needs, json_string("host"));
	if (needs && (d->needs & ATTACK_NEEDS_VM))
		json_array_append_new(needs, json_string("vm"));
	if (needs && (d->needs & ATTACK_NEEDS_BY))
		json_array_append_new(needs, json_string("by"));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "Name", d->name, "Family", d->family,
			 "Attack", d->title, "Refusal", d->status, "Concept", d->concept, "Needs",
			 needs ? needs : json_array());
}

/* Print V as indented JSON; the exit code. */
static int print_json(json_t *v)
{
	char *s = v ? json_dumps(v, JSON_INDENT(2)) : NULL;

	json_decref(v);
	if (!s)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	printf("%s\n", s);
	free(s);
	return HL_EXIT_OK;
}

/* attack list. */
int cmd_attack_list(struct hl_cmd_ctx *ctx)
{
	const char *family = hl_opts_str(&ctx->opts, "family", NULL);
	const struct attack_def *d;
	json_t *arr = NULL;
	size_t i, n = 0;

	if (hl_opts_flag(&ctx->opts, "json") && !(arr = json_array()))
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	for (i = 0; (d = attack_at(i)); i++) {
		if (family && strcmp(family, d->family) != 0)
			continue;
		n++;
		if (arr)
			json_array_append_new(arr, attack_json(d));
		else
			printf("%-28s %-16s %s\n", d->name, d->family, d->status);
	}
	if (family && n == 0) {
		json_decref(arr);
		return hl_cmd_fail(HL_EXIT_USAGE, "no attack of family '%s': `hgslab attack list` "
				   "shows the families", family);
	}
	if (arr)
		return print_json(arr);
	printf("%zu attacks; `hgslab attack show NAME` explains one; a scenario plays one with "
	       "`- attack: { kind: NAME, ... }` (docs/attacks.md)\n", n);
	return HL_EXIT_OK;
}

/* attack show NAME. */
int cmd_attack_show(struct hl_cmd_ctx *ctx)
{
	const char *name = ctx->opts.argc > 0 ? ctx->opts.argv[0] : NULL;
	const struct attack_def *d;

	if (!name || ctx->opts.argc != 1)
		return hl_cmd_fail(HL_EXIT_USAGE, "give one attack name (`hgslab attack list` shows "
				   "them)");
	if (!(d = attack_find(name)))
		return hl_cmd_fail(HL_EXIT_USAGE, "no attack '%s' in the library: `hgslab attack "
				   "list` shows them", name);
	if (hl_opts_flag(&ctx->opts, "json"))
		return print_json(attack_json(d));
	printf("%s (%s)\n  attack:  the attacker %s\n  refusal: %s\n  concept: %s\n  needs:  %s%s%s%s\n",
	       d->name, d->family, d->title, d->status, d->concept,
	       d->needs ? "" : " nothing but the lab", (d->needs & ATTACK_NEEDS_HOST) ? " host:" : "",
	       (d->needs & ATTACK_NEEDS_VM) ? " vm: (shielded)" : "",
	       (d->needs & ATTACK_NEEDS_BY) ? " by: (a second host)" : "");
	return HL_EXIT_OK;
}
