/*
 * scenario.c - scenario files (sim/scenario.h).
 *
 * Two passes.  First libyaml's event parser builds a small tree of maps,
 * lists and texts, each with its 1-based position; YAML syntax errors,
 * duplicate keys, aliases and too-deep nesting stop it there.  Then the
 * validator walks the tree into struct scenario: it checks every key against
 * the keys of its map, every type, name and enumeration, resolves every
 * cross-reference (hosts, VMs, HGS, guardians, groups, policies) and fills
 * the defaults.  Every error reads "FILE:LINE:COL: what is wrong", with a
 * "did you mean" (lib/suggest.h) for a near miss.
 */
#include "sim/scenario.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "hgs/policy.h"
#include "hosts/profile.h"
#include "lib/dnsname.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/suggest.h"
#include "proto/attest.h"
#include "proto/fsk.h"
#include "proto/names.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "sim/attack.h"
#include "sim/vmm.h"
#include "tenant/vm.h"

#define SC_FILE_MAX ((size_t)1024 * 1024)
#define SC_DEPTH_MAX 32
#define SC_NAME_MAX 63
#define SC_FILE_NAME_MAX 255
#define SC_SCAN_MIN 6            /* a shorter secret_scan text matches by chance */

enum node_type { N_TEXT, N_LIST, N_MAP };

/*
 * One YAML node.  A map keeps its pairs in KIDS, key i at 2i (always an
 * N_TEXT) and its value at 2i + 1; keys are unique.  TEXT never holds a NUL.
 */
struct node {
	enum node_type type;
	struct sc_pos pos;
	int plain;              /* N_TEXT written without quotes */
	char *text;             /* N_TEXT */
	size_t n;               /* N_LIST items, N_MAP pairs */
	size_t cap;             /* allocated entries of KIDS */
	struct node **kids;
};

/* The state of one parse. */
struct ctx {
	const char *path;
	const char *text;
	size_t len;
	yaml_parser_t parser;
	struct scenario *s;
	/* names for cross-references, pointing into S */
	const char **hgs_names;
	size_t n_hgs_names;
	const char **host_names;
	const char **vm_names;
	const char **template_names;
	const char **shielding_names;
	const char **spec_names;
	const char **cloud_names;
	/* every VM a step may name: tenant.vms, then the deployed ones */
	const char **vm_ref_names;
	size_t n_vm_refs;
	size_t *deploy_first;    /* the step index of each deployed VM's first deploy */
};

static const char *const trust_names[] = { "tpm", "ad", "hostkey", NULL };
static const char *const store_names[] = { "sqlite", "postgresql", NULL };
static const char *const accel_names[] = { "auto", "tcg", "kvm", NULL };
static const char *const policy_names[] = { "shielded", "encryption-supported", NULL };
static const char *const fabric_trust_names[] = { "one-way", "two-way", NULL };

static const char *const step_names[SC_STEP_COUNT + 1] = {
	"register", "unregister", "attest", "shield", "start", "stop", "connect",
	"offline_read", "set_trust", "enable_policy", "disable_policy", "reboot_host",
	"clock", "kill", "protect_template", "alter_template", "deploy", "secret_scan", "attack",
	"key_caching", "backup_hgs", "restore_hgs", NULL,
};

/* Arguments a step kind takes (A_*), and which it requires. */
enum {
	A_HOST = 1 << 0,
	A_VM = 1 << 1,
	A_MODE = 1 << 2,
	A_BASELINE = 1 << 3,
	A_SUBSTATUS = 1 << 4,   /* substatus and reason */
	A_NAME = 1 << 5,
	A_PROFILE = 1 << 6,
	A_OFFSET = 1 << 7,
	A_COMPONENT = 1 << 8,
	A_RESTART = 1 << 9,
	A_TEMPLATE = 1 << 10,
	A_SHIELDING = 1 << 11,
	A_SPECIALIZATION = 1 << 12,
	A_CLOUD = 1 << 13,
	A_PLACED_ON = 1 << 14,
	A_SKIPPED = 1 << 15,    /* a list */
	A_TEXT = 1 << 16,
	A_ATTACK = 1 << 17,     /* "kind": an attack of the library (sim/attack.h) */
	A_BY = 1 << 18,         /* a second host: the attacker's */
	A_ALLOW = 1 << 19,      /* key_caching: true | false */
};

struct step_def {
	unsigned args;
	unsigned required;
	const char *shorthand;          /* `kind: VALUE` means { shorthand: VALUE } */
	const char *const *expect;      /* allowed expect words, first = default; NULL: statuses */
};

static const char *const expect_ok[] = { "ok", NULL };
static const char *const expect_shield[] = { "shielded", "failed", NULL };
static const char *const expect_start[] = { "running", "refused", NULL };
static const char *const expect_connect[] = { "allowed", "refused", NULL };
static const char *const expect_offline[] = { "unreadable", "readable", NULL };
static const char *const expect_disable[] = { "ok", "refused", NULL };
static const char *const expect_deploy[] = { "running", "refused", NULL };
static const char *const expect_scan[] = { "absent", "present", NULL };
static const char *const expect_attack[] = { "refused", "succeeded", NULL };

static const struct step_def step_defs[SC_STEP_COUNT] = {
	[SC_STEP_REGISTER] = { A_HOST | A_MODE | A_BASELINE, A_HOST, NULL, expect_ok },
	[SC_STEP_UNREGISTER] = { A_HOST | A_MODE, A_HOST, NULL, expect_ok },
	[SC_STEP_ATTEST] = { A_HOST | A_SUBSTATUS, A_HOST, NULL, NULL },
	[SC_STEP_SHIELD] = { A_VM, A_VM, NULL, expect_shield },
	/* host: required for a tenant VM (checked with the VM), optional for a deployed one */
	[SC_STEP_START] = { A_VM | A_HOST | A_SUBSTATUS, A_VM, NULL, expect_start },
	[SC_STEP_STOP] = { A_VM | A_HOST, A_VM, NULL, expect_ok },
	[SC_STEP_CONNECT] = { A_VM | A_HOST, A_VM, NULL, expect_connect },
	[SC_STEP_OFFLINE_READ] = { A_VM, A_VM, NULL, expect_offline },
	[SC_STEP_SET_TRUST] = { A_MODE, A_MODE, "mode", expect_ok },
	[SC_STEP_ENABLE_POLICY] = { A_NAME, A_NAME, "name", expect_ok },
	[SC_STEP_DISABLE_POLICY] = { A_NAME, A_NAME, "name", expect_disable },
	[SC_STEP_REBOOT_HOST] = { A_HOST | A_PROFILE, A_HOST, NULL, expect_ok },
	[SC_STEP_CLOCK] = { A_OFFSET, A_OFFSET, "offset", expect_ok },
	[SC_STEP_KILL] = { A_COMPONENT | A_RESTART, A_COMPONENT, NULL, expect_ok },
	[SC_STEP_PROTECT_TEMPLATE] = { A_TEMPLATE, A_TEMPLATE, "template", expect_ok },
	[SC_STEP_ALTER_TEMPLATE] = { A_TEMPLATE, A_TEMPLATE, "template", expect_ok },
	[SC_STEP_DEPLOY] = { A_VM | A_SUBSTATUS | A_TEMPLATE | A_SHIELDING | A_SPECIALIZATION |
			     A_CLOUD | A_PLACED_ON | A_SKIPPED,
			     A_VM | A_TEMPLATE | A_SHIELDING | A_CLOUD, NULL, expect_deploy },
	[SC_STEP_SECRET_SCAN] = { A_TEXT, A_TEXT, "text", expect_scan },
	[SC_STEP_ATTACK] = { A_ATTACK | A_HOST | A_VM | A_BY | A_SUBSTATUS, A_ATTACK, "kind",
			     expect_attack },
	[SC_STEP_KEY_CACHING] = { A_ALLOW, A_ALLOW, "allow", expect_ok },
	[SC_STEP_BACKUP_HGS] = { 0, 0, NULL, expect_ok },
	[SC_STEP_RESTORE_HGS] = { 0, 0, NULL, expect_ok },
};

/* The argument keys, in the order of the A_* bits. */
static const char *const arg_keys[] = {
	"host", "vm", "mode", "baseline", "substatus", "name", "profile", "offset", "component",
	"restart", "template", "shielding_data", "specialization", "cloud", "placed_on",
	"skipped", "text", "kind", "by", "allow",
};
#define N_ARG_KEYS (sizeof(arg_keys) / sizeof(arg_keys[0]))

/* ---- errors ---- */

/* Set "PATH:LINE:COL: message"; returns -1. */
static int err_at(const struct ctx *c, struct sc_pos pos, const char *fmt, ...) HL_PRINTF(3, 4);

static int err_at(const struct ctx *c, struct sc_pos pos, const char *fmt, ...)
{
	char msg[HL_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hl_error("%s:%d:%d: %s", c->path, pos.line, pos.col, msg);
}

/* Out of memory, with the file's name. */
static int err_oom(const struct ctx *c)
{
	return hl_error("%s: out of memory reading the scenario", c->path);
}

/* CHOICES (NULL-terminated, at most N when N > 0) as "a, b, c" into BUF. */
static const char *choice_list(const char *const *choices, size_t n, char *buf, size_t size)
{
	size_t used = 0, i;

	buf[0] = '\0';
	for (i = 0; (n ? i < n : choices[i] != NULL) && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", choices[i]);
	return buf;
}

/* ---- the node tree ---- */

/* The 1-based position of a libyaml mark. */
static struct sc_pos mark_pos(yaml_mark_t m)
{
	struct sc_pos p;

	p.line = m.line + 1 > INT32_MAX ? INT32_MAX : (int)(m.line + 1);
	p.col = m.column + 1 > INT32_MAX ? INT32_MAX : (int)(m.column + 1);
	return p;
}

/* The 1-based position of byte OFFSET of the text (columns count characters). */
static struct sc_pos offset_pos(const struct ctx *c, size_t offset)
{
	struct sc_pos p = { 1, 1 };
	size_t i;

	if (offset > c->len)
		offset = c->len;
	for (i = 0; i < offset; i++) {
		unsigned char ch = (unsigned char)c->text[i];

		if (ch == '\n') {
			p.line++;
			p.col = 1;
		} else if ((ch & 0xc0) != 0x80) {
			p.col++;
		}
	}
	return p;
}

/* The byte at POS of the text, or NUL when POS is outside it. */
static char char_at(const struct ctx *c, struct sc_pos pos)
{
	size_t i = 0;
	int line = 1, col = 1;

	for (; i < c->len && line < pos.line; i++)
		if (c->text[i] == '\n')
			line++;
	for (; i < c->len && c->text[i] != '\n'; i++) {
		if (((unsigned char)c->text[i] & 0xc0) == 0x80)
			continue;
		if (col++ == pos.col)
			return c->text[i];
	}
	return '\0';
}

/* A hint for a libyaml PROBLEM at POS ("" when none). */
static const char *yaml_hint(const struct ctx *c, const char *problem, struct sc_pos pos)
{
	if (char_at(c, pos) == '\t')
		return "; tabs cannot indent YAML, use spaces";
	if (strstr(problem, "mapping values are not allowed"))
		return "; check the indentation, or quote a text that holds ': '";
	if (strstr(problem, "did not find expected key") ||
	    strstr(problem, "did not find expected '-'"))
		return "; check the indentation";
	return "";
}

/* Report the parser's error (syntax, encoding, memory). */
static int yaml_fail(struct ctx *c)
{
	const yaml_parser_t *p = &c->parser;
	const char *problem = p->problem ? p->problem : "syntax error";
	struct sc_pos pos = mark_pos(p->problem_mark);

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return err_oom(c);
	case YAML_READER_ERROR:
		if (p->problem_value != -1)
			return err_at(c, offset_pos(c, p->problem_offset),
				      "not a valid UTF-8 text file: %s (0x%x)", problem,
				      (unsigned)p->problem_value);
		return err_at(c, offset_pos(c, p->problem_offset),
			      "not a valid UTF-8 text file: %s", problem);
	default:
		break;
	}
	if (p->context)
		return err_at(c, pos, "bad YAML: %s (%s at line %d, column %d)%s", problem,
			      p->context, mark_pos(p->context_mark).line,
			      mark_pos(p->context_mark).col, yaml_hint(c, problem, pos));
	return err_at(c, pos, "bad YAML: %s%s", problem, yaml_hint(c, problem, pos));
}

/* Free N and everything under it; NULL-safe. */
static void node_free(struct node *n)
{
	size_t i, k;

	if (!n)
		return;
	k = n->type == N_MAP ? 2 * n->n : n->n;
	for (i = 0; i < k; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

/* Make room for K more entries in N's KIDS; -1 when out of memory. */
static int node_grow(struct node *n, size_t k)
{
	size_t used = n->type == N_MAP ? 2 * n->n : n->n, cap;
	struct node **kids;

	if (used + k <= n->cap)
		return 0;
	cap = n->cap ? 2 * n->cap : 8;
	kids = realloc(n->kids, cap * sizeof(*kids));
	if (!kids)
		return -1;
	n->kids = kids;
	n->cap = cap;
	return 0;
}

/* 1 when N is an empty value (nothing, ~ or null, unquoted). */
static int is_null(const struct node *n)
{
	return n->type == N_TEXT && n->plain &&
	       (n->text[0] == '\0' || strcmp(n->text, "~") == 0 || strcasecmp(n->text, "null") == 0);
}

/* What N is, for messages. */
static const char *kind_name(const struct node *n)
{
	if (n->type == N_MAP)
		return "a map";
	if (n->type == N_LIST)
		return "a list";
	return is_null(n) ? "empty" : "a text";
}

static int build(struct ctx *c, const yaml_event_t *ev, int depth, struct node **out);

/* Read the entries of list or map N up to its end event. */
static int build_entries(struct ctx *c, struct node *n, int depth)
{
	yaml_event_type_t end = n->type == N_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	yaml_event_t ev;
	struct node *key = NULL, *val = NULL;
	size_t i;

	for (;;) {
		if (!yaml_parser_parse(&c->parser, &ev))
			return yaml_fail(c);
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (build(c, &ev, depth + 1, &key) < 0) {
			yaml_event_delete(&ev);
			return -1;
		}
		yaml_event_delete(&ev);
		if (n->type == N_LIST) {
			if (node_grow(n, 1) < 0)
				goto oom;
			n->kids[n->n++] = key;
			key = NULL;
			continue;
		}
		if (key->type != N_TEXT) {
			err_at(c, key->pos, "a key must be a word, not %s", kind_name(key));
			goto fail;
		}
		for (i = 0; i < n->n; i++) {
			const struct node *k = n->kids[2 * i];

			if (strcmp(k->text, key->text) == 0) {
				err_at(c, key->pos, "duplicate key '%s' (first at line %d, column %d)",
				       key->text, k->pos.line, k->pos.col);
				goto fail;
			}
		}
		if (!yaml_parser_parse(&c->parser, &ev)) {
			yaml_fail(c);
			goto fail;
		}
		if (build(c, &ev, depth + 1, &val) < 0) {
			yaml_event_delete(&ev);
			goto fail;
		}
		yaml_event_delete(&ev);
		if (node_grow(n, 2) < 0)
			goto oom;
		n->kids[2 * n->n] = key;
		n->kids[2 * n->n + 1] = val;
		n->n++;
		key = val = NULL;
	}
oom:
	err_oom(c);
fail:
	node_free(key);
	node_free(val);
	return -1;
}

/* Build the node that starts with event EV into *OUT. */
static int build(struct ctx *c, const yaml_event_t *ev, int depth, struct node **out)
{
	struct sc_pos pos = mark_pos(ev->start_mark);
	struct node *n;

	*out = NULL;
	if (depth > SC_DEPTH_MAX)
		return err_at(c, pos, "the file nests more than %d levels deep", SC_DEPTH_MAX);
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return err_at(c, pos, "aliases ('*%.64s') are not supported in a scenario; write the "
			      "value out", (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		break;
	default:
		return err_at(c, pos, "bad YAML: unexpected element");
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_oom(c);
	n->pos = pos;
	if (ev->type == YAML_SCALAR_EVENT) {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;

		n->type = N_TEXT;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (memchr(v, '\0', len)) {
			free(n);
			return err_at(c, pos, "a text holds a NUL character");
		}
		n->text = strndup(v, len);
		if (!n->text) {
			free(n);
			return err_oom(c);
		}
		*out = n;
		return 0;
	}
	n->type = ev->type == YAML_MAPPING_START_EVENT ? N_MAP : N_LIST;
	if (build_entries(c, n, depth) < 0) {
		node_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

/* Parse the whole text into one tree *ROOT (the single document). */
static int parse_tree(struct ctx *c, struct node **root)
{
	yaml_event_t ev;
	struct node *n = NULL;
	int ret = -1;

	*root = NULL;
	/* stream start */
	if (!yaml_parser_parse(&c->parser, &ev))
		return yaml_fail(c);
	yaml_event_delete(&ev);
	if (!yaml_parser_parse(&c->parser, &ev))
		return yaml_fail(c);
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return err_at(c, offset_pos(c, 0),
			      "the scenario is empty; it starts with 'version: 1', then name, "
			      "description, hgs, hosts and steps");
	}
	yaml_event_delete(&ev);         /* document start */
	if (!yaml_parser_parse(&c->parser, &ev))
		return yaml_fail(c);
	if (build(c, &ev, 0, &n) < 0) {
		yaml_event_delete(&ev);
		return -1;
	}
	yaml_event_delete(&ev);
	if (!yaml_parser_parse(&c->parser, &ev)) {    /* document end */
		yaml_fail(c);
		goto out;
	}
	yaml_event_delete(&ev);
	if (!yaml_parser_parse(&c->parser, &ev)) {
		yaml_fail(c);
		goto out;
	}
	if (ev.type != YAML_STREAM_END_EVENT) {
		err_at(c, mark_pos(ev.start_mark),
		       "a second YAML document ('---'); a scenario file holds exactly one");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	*root = n;
	n = NULL;
	ret = 0;
out:
	node_free(n);
	return ret;
}

/* ---- reading the tree ---- */

/* The value of KEY in map M, or NULL; *KPOS gets the key's position when found. */
static const struct node *map_get(const struct node *m, const char *key, struct sc_pos *kpos)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->kids[2 * i]->text, key) == 0) {
			if (kpos)
				*kpos = m->kids[2 * i]->pos;
			return m->kids[2 * i + 1];
		}
	}
	return NULL;
}

/* Every key of map M must be one of KEYS (N of them); WHAT names M. */
static int check_keys(struct ctx *c, const struct node *m, const char *what,
		      const char *const *keys, size_t n)
{
	char valid[512];
	size_t i, j;

	for (i = 0; i < m->n; i++) {
		const struct node *k = m->kids[2 * i];
		const char *hint;

		for (j = 0; j < n; j++)
			if (strcmp(k->text, keys[j]) == 0)
				break;
		if (j < n)
			continue;
		hint = hl_suggest_n(k->text, keys, n);
		if (hint)
			return err_at(c, k->pos, "unknown key '%.64s' in %s; did you mean '%s'?",
				      k->text, what, hint);
		return err_at(c, k->pos, "unknown key '%.64s' in %s (valid keys: %s)", k->text, what,
			      choice_list(keys, n, valid, sizeof(valid)));
	}
	return 0;
}

/* Names of the node types, as expected. */
static const char *const type_names[] = { "a text", "a list", "a map" };

/* V (LABEL in WHAT) must be of type T and not empty. */
static int want(struct ctx *c, const struct node *v, enum node_type t, const char *label,
		const char *what)
{
	if (is_null(v))
		return err_at(c, v->pos, "%s in %s is empty; it must be %s", label, what,
			      type_names[t]);
	if (v->type != t)
		return err_at(c, v->pos, "%s in %s must be %s, not %s", label, what, type_names[t],
			      kind_name(v));
	if (t == N_TEXT && v->text[0] == '\0')
		return err_at(c, v->pos, "%s in %s is empty", label, what);
	return 0;
}

/*
 * The value of KEY in map M, checked to be of type T, into *OUT; *OUT is
 * NULL when KEY is absent (an error when REQUIRED).
 */
static int get(struct ctx *c, const struct node *m, const char *key, enum node_type t,
	       int required, const char *what, const struct node **out)
{
	const struct node *v = map_get(m, key, NULL);
	char label[80];

	*out = NULL;
	if (!v) {
		if (required)
			return err_at(c, m->pos, "missing '%s' in %s", key, what);
		return 0;
	}
	snprintf(label, sizeof(label), "'%s'", key);
	if (want(c, v, t, label, what) < 0)
		return -1;
	*out = v;
	return 0;
}

/* A copy of S into *OUT. */
static int dup_text(struct ctx *c, const char *s, char **out)
{
	*out = strdup(s);
	return *out ? 0 : err_oom(c);
}

/* 1 when S is 1-63 characters of [A-Za-z0-9._-] (scenario names and keywords). */
static int valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > SC_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * V must be a valid name; KIND says of what ("host name").  The names a lab
 * hands to a verb go through the verb's own validator (proto/names.h), so a
 * scenario that passes --check never fails at bring-up on a name; the
 * scenario's own names (scenario, keyword) have the rule of valid_name().
 */
static int check_name(struct ctx *c, const struct node *v, const char *kind)
{
	int rc;

	if (!strcmp(kind, "host name"))
		rc = hl_name_computer(kind, v->text);
	else if (!strcmp(kind, "HGS name"))
		rc = hl_name_hgs(v->text);
	else if (!strcmp(kind, "VM name"))
		rc = hl_name_vm(v->text);
	else if (!strcmp(kind, "group name"))
		rc = hl_name_group(v->text);
	else if (!strcmp(kind, "guardian name"))
		rc = hl_name_guardian(v->text);
	else if (!strcmp(kind, "cloud name"))
		rc = vmm_name_cloud(v->text);
	else if (valid_name(v->text))
		return 0;
	else
		return err_at(c, v->pos, "bad %s '%.64s%s': use 1-%d characters of A-Z a-z 0-9 . _ -",
			      kind, v->text, strlen(v->text) > 64 ? "..." : "", SC_NAME_MAX);
	return rc < 0 ? err_at(c, v->pos, "%s", hl_error_last()) : 0;
}

/* 1 when S is a DNS domain name the verbs accept (lib/dnsname.h). */
static int valid_domain(const char *s)
{
	return hl_dnsname_check(s) == 0;
}

/* The text of V as one of CHOICES (NULL-terminated) into *OUT; LABEL names the value. */
static int get_enum(struct ctx *c, const struct node *v, const char *what, const char *label,
		    const char *const *choices, int *out)
{
	char valid[512];
	const char *hint;
	int i;

	*out = 0;
	for (i = 0; choices[i]; i++) {
		if (strcmp(v->text, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	hint = hl_suggest(v->text, choices);
	if (hint)
		return err_at(c, v->pos, "%s: unknown %s '%.64s'; did you mean '%s'?", what, label,
			      v->text, hint);
	return err_at(c, v->pos, "%s: unknown %s '%.64s' (use %s)", what, label, v->text,
		      choice_list(choices, 0, valid, sizeof(valid)));
}

/* V must name one of NAMES (N); otherwise "WHAT: no KIND 'V' in WHERE". */
static int check_ref(struct ctx *c, const struct node *v, const char *what, const char *kind,
		     const char *where, const char *const *names, size_t n)
{
	const char *hint;
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && strcmp(v->text, names[i]) == 0)
			return 0;
	hint = hl_suggest_n(v->text, names, n);
	if (hint)
		return err_at(c, v->pos, "%s: no %s '%.64s' in %s; did you mean '%s'?", what, kind,
			      v->text, where, hint);
	return err_at(c, v->pos, "%s: no %s '%.64s' in %s", what, kind, v->text, where);
}

/* A switch word (on/off, yes/no, true/false) of V into *ON. */
static int get_bool(struct ctx *c, const struct node *v, const char *what, const char *key,
		    int *on)
{
	static const char *const yes[] = { "on", "yes", "true" };
	static const char *const no[] = { "off", "no", "false" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(v->text, yes[i]) == 0) {
			*on = 1;
			return 0;
		}
		if (strcasecmp(v->text, no[i]) == 0) {
			*on = 0;
			return 0;
		}
	}
	return err_at(c, v->pos, "%s: bad value '%.64s' for '%s': use on or off (yes/no, true/false)",
		      what, v->text, key);
}

/* A small whole number of V into *OUT. */
static int get_int(struct ctx *c, const struct node *v, const char *what, const char *key,
		   int *out)
{
	const char *s = v->text;
	long val = 0;

	if (*s == '+')
		s++;
	if (!*s || strlen(s) > 6 || strspn(s, "0123456789") != strlen(s))
		return err_at(c, v->pos, "%s: '%s' must be a whole number, not '%.64s'", what, key,
			      v->text);
	val = strtol(s, NULL, 10);
	*out = (int)val;
	return 0;
}

/*
 * The list KEY of map M into OUT (empty when absent).  Items are texts,
 * unique, at most SC_MAX_LIST; NAMES: each must also be a valid name.  KIND
 * names one item ("group").  *LNODE (may be NULL) gets the list node.
 */
static int get_list(struct ctx *c, const struct node *m, const char *key, const char *what,
		    const char *kind, int names, struct sc_list *out, const struct node **lnode)
{
	const struct node *l;
	char label[96];
	size_t i, j;

	if (lnode)
		*lnode = NULL;
	if (get(c, m, key, N_LIST, 0, what, &l) < 0)
		return -1;
	if (!l)
		return 0;
	if (lnode)
		*lnode = l;
	for (i = 0; i < l->n; i++) {
		const struct node *it = l->kids[i];

		snprintf(label, sizeof(label), "item %zu of '%s'", i + 1, key);
		if (want(c, it, N_TEXT, label, what) < 0)
			return -1;
		if (i >= SC_MAX_LIST)
			return err_at(c, it->pos, "%s: too many items in '%s' (at most %d)", what, key,
				      SC_MAX_LIST);
		if (names) {
			char k[64];

			snprintf(k, sizeof(k), "%s name", kind);
			if (check_name(c, it, k) < 0)
				return -1;
		}
		for (j = 0; j < out->n; j++)
			if (strcmp(out->v[j], it->text) == 0)
				return err_at(c, it->pos,
					      "%s: duplicate %s '%.64s' in '%s' (first at line %d, "
					      "column %d)", what, kind, it->text, key,
					      out->pos[j].line, out->pos[j].col);
		if (dup_text(c, it->text, &out->v[out->n]) < 0)
			return -1;
		out->pos[out->n++] = it->pos;
	}
	return 0;
}

/* ---- sections ---- */

/* A boot profile V (SPEC text or map) into a canonical *SPEC and *OVERRIDES. */
static int load_profile(struct ctx *c, const struct node *v, const char *what, char **spec,
			int *overrides)
{
	const char *keys[64];
	struct hl_profile p, base;
	const struct node *b;
	size_t nk = 0, i;

	*spec = NULL;
	if (v->type == N_TEXT && !is_null(v)) {
		if (hl_profile_parse(v->text, &p) < 0)
			return err_at(c, v->pos, "%s: %s", what, hl_error_last());
	} else if (v->type == N_MAP) {
		keys[nk++] = "base";
		for (i = 0; hl_profile_keys[i] && nk < sizeof(keys) / sizeof(keys[0]); i++)
			keys[nk++] = hl_profile_keys[i];
		if (check_keys(c, v, "the profile", keys, nk) < 0)
			return -1;
		if (get(c, v, "base", N_TEXT, 0, "the profile", &b) < 0)
			return -1;
		if (hl_profile_init(&p, b ? b->text : "baseline") < 0)
			return err_at(c, b->pos, "%s: %s", what, hl_error_last());
		for (i = 0; i < v->n; i++) {
			const struct node *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
			char label[80];

			if (strcmp(k->text, "base") == 0)
				continue;
			snprintf(label, sizeof(label), "'%s'", k->text);
			if (want(c, val, N_TEXT, label, "the profile") < 0)
				return -1;
			if (hl_profile_set(&p, k->text, val->text) < 0)
				return err_at(c, val->pos, "%s: %s", what, hl_error_last());
		}
	} else {
		return err_at(c, v->pos,
			      "'profile' in %s must be a SPEC text (baseline,debug=on) or a map "
			      "({ base: baseline, debug: on }), not %s", what, kind_name(v));
	}
	if (hl_profile_init(&base, p.base) < 0 || hl_profile_to_spec(&p, spec) < 0)
		return err_at(c, v->pos, "%s: %s", what, hl_error_last());
	*overrides = !hl_profile_equal(&p, &base);
	return 0;
}

/* One HGS map V (WHAT names it) into H. */
static int load_hgs(struct ctx *c, const struct node *v, const char *what, struct sc_hgs *h)
{
	static const char *const keys[] = { "name", "domain", "nodes", "trust", "store" };
	const struct node *n;
	int t;

	h->pos = v->pos;
	h->nodes = 1;
	h->trust = SC_TRUST_TPM;
	if (check_keys(c, v, what, keys, 5) < 0)
		return -1;
	if (get(c, v, "name", N_TEXT, 1, what, &n) < 0 || check_name(c, n, "HGS name") < 0 ||
	    dup_text(c, n->text, &h->name) < 0)
		return -1;
	if (get(c, v, "domain", N_TEXT, 1, what, &n) < 0)
		return -1;
	if (!valid_domain(n->text))
		return err_at(c, n->pos, "%s: bad domain '%.64s': use a DNS name like relecloud.com",
			      what, n->text);
	if (dup_text(c, n->text, &h->domain) < 0)
		return -1;
	if (get(c, v, "nodes", N_TEXT, 0, what, &n) < 0)
		return -1;
	if (n) {
		if (get_int(c, n, what, "nodes", &h->nodes) < 0)
			return -1;
		if (h->nodes < 1 || h->nodes > SC_MAX_NODES)
			return err_at(c, n->pos, "%s: nodes: %d: an HGS has 1 to %d nodes (Microsoft "
				      "advises 3)", what, h->nodes, SC_MAX_NODES);
	}
	if (get(c, v, "trust", N_TEXT, 0, what, &n) < 0)
		return -1;
	if (n) {
		if (get_enum(c, n, what, "trust mode", trust_names, &t) < 0)
			return -1;
		h->trust = (enum sc_trust)t;
		if (h->trust == SC_TRUST_AD && !c->s->fabric.present)
			return err_at(c, n->pos, "%s: trust 'ad' needs a fabric: section (the fabric's "
				      "AD domain, its trust and groups); add one", what);
	}
	if (get(c, v, "store", N_TEXT, 0, what, &n) < 0)
		return -1;
	if (n) {
		if (get_enum(c, n, what, "store", store_names, &h->store_pg) < 0)
			return -1;
		if (h->store_pg && strcmp(what, "hgs") != 0)
			return err_at(c, n->pos, "%s: store: postgresql: only the scenario's hgs: may "
				      "keep its state in the lab's PostgreSQL server", what);
	}
	return 0;
}

/* fabric: (optional). */
static int load_fabric(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "domain", "trust", "groups" };
	struct sc_fabric *f = &c->s->fabric;
	const struct node *v, *n;
	int t;

	if (get(c, root, "fabric", N_MAP, 0, "the scenario", &v) < 0)
		return -1;
	if (!v)
		return 0;
	f->present = 1;
	f->pos = v->pos;
	if (check_keys(c, v, "fabric", keys, 3) < 0)
		return -1;
	if (get(c, v, "domain", N_TEXT, 1, "fabric", &n) < 0)
		return -1;
	if (!valid_domain(n->text))
		return err_at(c, n->pos, "fabric: bad domain '%.64s': use a DNS name like "
			      "fabrikam.com", n->text);
	if (dup_text(c, n->text, &f->domain) < 0)
		return -1;
	if (get(c, v, "trust", N_TEXT, 0, "fabric", &n) < 0)
		return -1;
	if (n) {
		if (get_enum(c, n, "fabric", "trust", fabric_trust_names, &t) < 0)
			return -1;
		f->two_way = t == 1;
	}
	return get_list(c, v, "groups", "fabric", "group", 1, &f->groups, NULL);
}

/* hgs: and other_hgs:, and the list of HGS names. */
static int load_all_hgs(struct ctx *c, const struct node *root)
{
	struct scenario *s = c->s;
	const struct node *v, *l;
	char what[48];
	size_t i, j;

	if (get(c, root, "hgs", N_MAP, 1, "the scenario", &v) < 0 ||
	    load_hgs(c, v, "hgs", &s->hgs) < 0)
		return -1;
	if (get(c, root, "other_hgs", N_LIST, 0, "the scenario", &l) < 0)
		return -1;
	if (l && l->n) {
		s->other_hgs = calloc(l->n, sizeof(*s->other_hgs));
		if (!s->other_hgs)
			return err_oom(c);
		s->n_other_hgs = l->n;
	}
	c->hgs_names = calloc(1 + (l ? l->n : 0), sizeof(*c->hgs_names));
	if (!c->hgs_names)
		return err_oom(c);
	c->hgs_names[c->n_hgs_names++] = s->hgs.name;
	for (i = 0; l && i < l->n; i++) {
		struct sc_hgs *h = &s->other_hgs[i];
		const struct sc_hgs *first = &s->hgs;

		snprintf(what, sizeof(what), "other_hgs item %zu", i + 1);
		if (want(c, l->kids[i], N_MAP, what, "the scenario") < 0 ||
		    load_hgs(c, l->kids[i], what, h) < 0)
			return -1;
		for (j = 0; j <= i; j++) {
			if (j > 0)
				first = &s->other_hgs[j - 1];
			if (strcmp(first->name, h->name) == 0)
				return err_at(c, map_get(l->kids[i], "name", NULL)->pos,
					      "%s: duplicate HGS name '%s' (first at line %d, column "
					      "%d)", what, h->name, first->pos.line, first->pos.col);
		}
		c->hgs_names[c->n_hgs_names++] = h->name;
	}
	/* every node has an address of the lab's HGS range (sim/lab.h) */
	for (i = 0, j = (size_t)s->hgs.nodes; i < s->n_other_hgs; i++)
		if ((j += (size_t)s->other_hgs[i].nodes) > SC_MAX_ALL_NODES)
			return err_at(c, s->other_hgs[i].pos, "other_hgs item %zu: the HGS of a "
				      "scenario have at most %d nodes together, not %zu", i + 1,
				      SC_MAX_ALL_NODES, j);
	return 0;
}

/* hosts: at least one. */
/*
 * The name of copy K (0-based) of a host entry whose name PATTERN has a run
 * of '#' (FabricHost####: FabricHost0001, FabricHost0002...) into BUF; a
 * name without '#' is itself (a count of 1).
 */
static void host_name_of(const char *pattern, size_t k, char *buf, size_t size)
{
	const char *hash = strchr(pattern, '#');
	size_t width;

	if (!hash) {
		snprintf(buf, size, "%s", pattern);
		return;
	}
	width = strspn(hash, "#");
	snprintf(buf, size, "%.*s%0*zu%s", (int)(hash - pattern), pattern, (int)width, k + 1,
		 hash + width);
}

/*
 * The count of host entry V (WHAT names it): 1 without count:, else
 * 1..SC_MAX_HOSTS; a count needs a name with one run of '#' wide enough.
 */
static int host_count(struct ctx *c, const struct node *v, const char *what, size_t *out)
{
	const struct node *n, *name = map_get(v, "name", NULL);
	const char *hash;
	int count, rest;
	size_t width, digits;

	*out = 1;
	if (get(c, v, "count", N_TEXT, 0, what, &n) < 0)
		return -1;
	hash = name && name->type == N_TEXT ? strchr(name->text, '#') : NULL;
	if (!n) {
		if (hash)
			return err_at(c, name->pos, "%s: host name '%s' has a '#' pattern but no "
				      "count: add count: N, or name one host", what, name->text);
		return 0;
	}
	if (get_int(c, n, what, "count", &count) < 0)
		return -1;
	if (count < 1 || count > SC_MAX_HOSTS)
		return err_at(c, n->pos, "%s: count: %d: a host entry stands for 1 to %d hosts", what,
			      count, SC_MAX_HOSTS);
	if (!name || name->type != N_TEXT || !hash || strchr(hash + strspn(hash, "#"), '#'))
		return err_at(c, name ? name->pos : n->pos, "%s: with count: the name is a pattern "
			      "with one run of '#' for the number, e.g. FabricHost### (FabricHost001, "
			      "FabricHost002...)", what);
	width = strspn(hash, "#");
	for (digits = 0, rest = count; rest > 0; rest /= 10)
		digits++;
	if (width < digits)
		return err_at(c, name->pos, "%s: '%s' has %zu '#' but count %d needs %zu digits",
			      what, name->text, width, count, digits);
	*out = (size_t)count;
	return 0;
}

/* hosts: at least one; an entry with count: N stands for N hosts named by its pattern. */
static int load_hosts(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "name", "groups", "profile", "hgs", "count" };
	struct scenario *s = c->s;
	const struct node *l, *v, *n, *gl;
	char what[96], name[SC_NAME_MAX + 16];
	size_t i, j, k, at = 0, total = 0, count;

	if (get(c, root, "hosts", N_LIST, 1, "the scenario", &l) < 0)
		return -1;
	if (l->n == 0)
		return err_at(c, l->pos, "'hosts' in the scenario is empty; add at least one host");
	for (i = 0; i < l->n; i++) {
		snprintf(what, sizeof(what), "hosts item %zu", i + 1);
		if (want(c, l->kids[i], N_MAP, what, "the scenario") < 0 ||
		    host_count(c, l->kids[i], what, &count) < 0)
			return -1;
		total += count;
		if (total > SC_MAX_HOSTS)
			return err_at(c, l->kids[i]->pos, "%s: more than %d hosts in the scenario (the "
				      "lab's addresses)", what, SC_MAX_HOSTS);
	}
	s->hosts = calloc(total, sizeof(*s->hosts));
	c->host_names = calloc(total, sizeof(*c->host_names));
	if (!s->hosts || !c->host_names)
		return err_oom(c);
	for (i = 0; i < l->n; i++) {
		v = l->kids[i];
		snprintf(what, sizeof(what), "hosts item %zu", i + 1);
		if (get(c, v, "name", N_TEXT, 1, what, &n) < 0 || host_count(c, v, what, &count) < 0)
			return -1;
		for (k = 0; k < count; k++, at++) {
			struct sc_host *h = &s->hosts[at];
			const struct node *pn = n;
			struct node named;

			h->pos = v->pos;
			s->n_hosts = at + 1;
			host_name_of(n->text, k, name, sizeof(name));
			named = *n;
			named.text = name;
			pn = &named;
			if (check_name(c, pn, "host name") < 0)
				return -1;
			for (j = 0; j < at; j++)
				if (strcmp(s->hosts[j].name, name) == 0)
					return err_at(c, n->pos, "duplicate host name '%s' (first at "
						      "line %d, column %d)", name, s->hosts[j].pos.line,
						      s->hosts[j].pos.col);
			if (dup_text(c, name, &h->name) < 0)
				return -1;
			c->host_names[at] = h->name;
			snprintf(what, sizeof(what), "host '%s'", h->name);
			if (check_keys(c, v, what, keys, 5) < 0)
				return -1;
			if (get_list(c, v, "groups", what, "group", 1, &h->groups, &gl) < 0)
				return -1;
			for (j = 0; j < h->groups.n; j++) {
				if (!s->fabric.present)
					return err_at(c, gl->kids[j]->pos, "%s: groups are fabric groups, "
						      "but the scenario has no fabric: section", what);
				if (check_ref(c, gl->kids[j], what, "group", "fabric.groups",
					      (const char *const *)s->fabric.groups.v,
					      s->fabric.groups.n) < 0)
					return -1;
			}
			n = map_get(v, "profile", NULL);
			if (n) {
				if (load_profile(c, n, what, &h->profile, &h->has_overrides) < 0)
					return -1;
			} else if (dup_text(c, "baseline", &h->profile) < 0) {
				return -1;
			}
			if (get(c, v, "hgs", N_TEXT, 0, what, &n) < 0)
				return -1;
			if (n && check_ref(c, n, what, "HGS", "hgs or other_hgs", c->hgs_names,
					   c->n_hgs_names) < 0)
				return -1;
			if (dup_text(c, n ? n->text : s->hgs.name, &h->hgs) < 0)
				return -1;
			n = map_get(v, "name", NULL);
		}
	}
	return 0;
}

/* 1 when S can be a file name in a VM: no '/', not "." or "..". */
static int valid_file_name(const char *s)
{
	return s[0] && strlen(s) <= SC_FILE_NAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* 1 when S is a disk size: digits, optionally followed by K, M or G. */
static int valid_size(const char *s)
{
	size_t d = strspn(s, "0123456789");

	if (d == 0 || d > 12)
		return 0;
	return s[d] == '\0' || (strchr("KkMmGg", s[d]) && s[d + 1] == '\0');
}

/* One VM map V (item I) into VM. */
static int load_vm(struct ctx *c, const struct node *v, size_t i, struct sc_vm *vm)
{
	static const char *const keys[] = { "name", "owner", "guardians", "policy", "files",
					    "disk_size" };
	struct scenario *s = c->s;
	const struct node *n, *gl, *f;
	char what[96];
	size_t j;
	int t;

	snprintf(what, sizeof(what), "tenant.vms item %zu", i + 1);
	if (want(c, v, N_MAP, what, "tenant") < 0)
		return -1;
	vm->pos = v->pos;
	if (get(c, v, "name", N_TEXT, 1, what, &n) < 0 || check_name(c, n, "VM name") < 0)
		return -1;
	for (j = 0; j < i; j++)
		if (strcmp(s->vms[j].name, n->text) == 0)
			return err_at(c, n->pos, "duplicate VM name '%s' (first at line %d, column %d)",
				      n->text, s->vms[j].pos.line, s->vms[j].pos.col);
	if (dup_text(c, n->text, &vm->name) < 0)
		return -1;
	c->vm_names[i] = vm->name;
	snprintf(what, sizeof(what), "vm '%s'", vm->name);
	if (check_keys(c, v, what, keys, 6) < 0)
		return -1;
	if (get(c, v, "owner", N_TEXT, 1, what, &n) < 0 ||
	    check_ref(c, n, what, "guardian", "tenant.guardians",
		      (const char *const *)s->tenant_guardians.v, s->tenant_guardians.n) < 0 ||
	    dup_text(c, n->text, &vm->owner) < 0)
		return -1;
	if (!map_get(v, "guardians", NULL))
		return err_at(c, v->pos, "missing 'guardians' in %s: list the HGS that may run it, "
			      "e.g. guardians: [%s]", what, s->hgs.name);
	if (get_list(c, v, "guardians", what, "guardian", 1, &vm->guardians, &gl) < 0)
		return -1;
	if (vm->guardians.n == 0)
		return err_at(c, gl->pos, "%s: 'guardians' is empty: list the HGS that may run it, "
			      "e.g. guardians: [%s]", what, s->hgs.name);
	for (j = 0; j < vm->guardians.n; j++)
		if (check_ref(c, gl->kids[j], what, "HGS", "hgs or other_hgs", c->hgs_names,
			      c->n_hgs_names) < 0)
			return -1;
	if (get(c, v, "policy", N_TEXT, 0, what, &n) < 0)
		return -1;
	if (n) {
		if (get_enum(c, n, what, "policy", policy_names, &t) < 0)
			return -1;
		vm->policy = (enum sc_vm_policy)t;
	}
	if (get(c, v, "files", N_MAP, 0, what, &f) < 0)
		return -1;
	for (j = 0; f && j < f->n; j++) {
		const struct node *k = f->kids[2 * j], *val = f->kids[2 * j + 1];
		char label[96];

		if (!valid_file_name(k->text))
			return err_at(c, k->pos, "%s: bad file name '%.64s': no '/', not '.' or '..'",
				      what, k->text);
		if (j >= SC_MAX_LIST)
			return err_at(c, k->pos, "%s: too many files (at most %d)", what, SC_MAX_LIST);
		snprintf(label, sizeof(label), "file '%.64s'", k->text);
		if (val->type != N_TEXT)
			return err_at(c, val->pos, "%s in %s must be a text (its content), not %s",
				      label, what, kind_name(val));
		if (dup_text(c, k->text, &vm->files[j].name) < 0)
			return -1;
		vm->n_files = j + 1;
		if (dup_text(c, is_null(val) ? "" : val->text, &vm->files[j].content) < 0)
			return -1;
	}
	if (get(c, v, "disk_size", N_TEXT, 0, what, &n) < 0)
		return -1;
	if (n) {
		if (!valid_size(n->text))
			return err_at(c, n->pos, "%s: bad disk_size '%.64s': give e.g. 16M or 1G", what,
				      n->text);
		if (dup_text(c, n->text, &vm->disk_size) < 0)
			return -1;
	}
	return 0;
}

/* tenant: (optional). */
static int load_tenant(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "guardians", "vms" };
	struct scenario *s = c->s;
	const struct node *t, *l;
	size_t i;

	if (get(c, root, "tenant", N_MAP, 0, "the scenario", &t) < 0)
		return -1;
	if (!t)
		return 0;
	if (check_keys(c, t, "tenant", keys, 2) < 0 ||
	    get_list(c, t, "guardians", "tenant", "guardian", 1, &s->tenant_guardians, NULL) < 0)
		return -1;
	if (get(c, t, "vms", N_LIST, 0, "tenant", &l) < 0)
		return -1;
	if (!l || l->n == 0)
		return 0;
	s->vms = calloc(l->n, sizeof(*s->vms));
	c->vm_names = calloc(l->n, sizeof(*c->vm_names));
	if (!s->vms || !c->vm_names)
		return err_oom(c);
	s->n_vms = l->n;
	for (i = 0; i < l->n; i++)
		if (load_vm(c, l->kids[i], i, &s->vms[i]) < 0)
			return -1;
	return 0;
}

/*
 * Section KEY of the scenario (a list or map of type T) into *OUT, NULL when
 * absent or empty; else its N entries as N zeroed items of SIZE bytes into
 * *ITEMS (setting *COUNT) and room for their names into *NAMES.
 */
static int section(struct ctx *c, const struct node *root, const char *key, enum node_type t,
		   size_t size, void **items, size_t *count, const char ***names,
		   const struct node **out)
{
	if (get(c, root, key, t, 0, "the scenario", out) < 0)
		return -1;
	if (!*out || (*out)->n == 0) {
		*out = NULL;
		return 0;
	}
	*items = calloc((*out)->n, size);
	*names = calloc((*out)->n, sizeof(**names));
	if (!*items || !*names)
		return err_oom(c);
	*count = (*out)->n;
	return 0;
}

/* V (of KIND, e.g. "template") must be a name not yet among the first I of NAMES (POS theirs). */
static int unique_name(struct ctx *c, const struct node *v, const char *kind, const char **names,
		       const struct sc_pos *pos, size_t i, size_t stride)
{
	size_t j;

	if (check_name(c, v, kind) < 0)
		return -1;
	for (j = 0; j < i; j++) {
		const struct sc_pos *p = (const struct sc_pos *)((const char *)pos + j * stride);

		if (strcmp(names[j], v->text) == 0)
			return err_at(c, v->pos, "duplicate %s '%s' (first at line %d, column %d)",
				      kind, v->text, p->line, p->col);
	}
	return 0;
}

/*
 * Item I of list section L (KEY, e.g. "templates"): a map with the keys
 * KEYS (N) and a unique name, of KIND ("template"), into *NAME and NAMES[I];
 * the names before it are NAMES, their positions at FIRST, STRIDE bytes
 * apart.  WHAT (SIZE) gets "KIND 'NAME'" for the item's messages.
 */
static int section_item(struct ctx *c, const struct node *l, size_t i, const char *key,
			const char *kind, const char *const *keys, size_t n, const char **names,
			const struct sc_pos *first, size_t stride, char **name, char *what,
			size_t size)
{
	const struct node *v = l->kids[i], *nm;
	char label[64];

	snprintf(what, size, "%s item %zu", key, i + 1);
	snprintf(label, sizeof(label), "%s name", kind);
	if (want(c, v, N_MAP, what, "the scenario") < 0 ||
	    get(c, v, "name", N_TEXT, 1, what, &nm) < 0 ||
	    unique_name(c, nm, label, names, first, i, stride) < 0 || dup_text(c, nm->text, name) < 0)
		return -1;
	names[i] = *name;
	snprintf(what, size, "%s '%s'", kind, *name);
	return check_keys(c, v, what, keys, n);
}

/* The map of files FILES (WHAT's) into F / *N: path: content; TEMPLATE: paths with '/'. */
static int load_files(struct ctx *c, const struct node *files, const char *what, int template,
		      struct sc_file *f, size_t *n)
{
	size_t j;

	for (j = 0; files && j < files->n; j++) {
		const struct node *k = files->kids[2 * j], *val = files->kids[2 * j + 1];
		struct hl_vm_file vf = { k->text, "" };
		char label[96];

		if (template ? (hl_vm_file_check(&vf) < 0 || hl_fsk_path_check(k->text) < 0 ||
				strchr(k->text, '='))
			     : hl_pdk_file_name_check(k->text, "file") < 0) {
			hl_error_clear();
			return err_at(c, k->pos, template ?
				      "%s: bad file path '%.64s': a relative path without '..', '.' "
				      "or '=' parts" :
				      "%s: bad file name '%.64s': 1 to 64 of A-Z a-z 0-9 . _ -, not "
				      "starting with '.'", what, k->text);
		}
		if (j >= SC_MAX_LIST)
			return err_at(c, k->pos, "%s: too many files (at most %d)", what, SC_MAX_LIST);
		snprintf(label, sizeof(label), "file '%.64s'", k->text);
		if (val->type != N_TEXT)
			return err_at(c, val->pos, "%s in %s must be a text (its content), not %s",
				      label, what, kind_name(val));
		if (!template && strlen(val->text) > HL_PDK_FILE_MAX)
			return err_at(c, val->pos, "%s in %s is longer than %zu bytes", label, what,
				      HL_PDK_FILE_MAX);
		if (dup_text(c, k->text, &f[j].name) < 0)
			return -1;
		*n = j + 1;
		if (dup_text(c, is_null(val) ? "" : val->text, &f[j].content) < 0)
			return -1;
	}
	return 0;
}

/* templates: (optional). */
static int load_templates(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "name", "template_name", "version", "signer", "files",
					    "disk_size" };
	struct scenario *s = c->s;
	const struct node *l, *v, *n, *f;
	struct hl_vsc_version ver;
	char what[96];
	size_t i;

	if (section(c, root, "templates", N_LIST, sizeof(*s->templates), (void **)&s->templates,
		    &s->n_templates, &c->template_names, &l) < 0)
		return -1;
	for (i = 0; i < s->n_templates; i++) {
		struct sc_template *t = &s->templates[i];

		v = l->kids[i];
		t->protect_step = -1;
		t->pos = v->pos;
		if (section_item(c, l, i, "templates", "template", keys, 6, c->template_names,
				 &s->templates[0].pos, sizeof(*t), &t->name, what, sizeof(what)) < 0)
			return -1;
		if (get(c, v, "template_name", N_TEXT, 0, what, &n) < 0)
			return -1;
		if (n && hl_vsc_name_check(n->text) < 0)
			return err_at(c, n->pos, "%s: %s", what, hl_error_last());
		if (dup_text(c, n ? n->text : t->name, &t->template_name) < 0)
			return -1;
		if (get(c, v, "version", N_TEXT, 1, what, &n) < 0)
			return -1;
		if (hl_vsc_version_parse(n->text, &ver) < 0)
			return err_at(c, n->pos, "%s: %s", what, hl_error_last());
		if (dup_text(c, n->text, &t->version) < 0)
			return -1;
		if (get(c, v, "signer", N_TEXT, 1, what, &n) < 0)
			return -1;
		if (hl_name_signer(n->text) < 0)
			return err_at(c, n->pos, "%s: %s", what, hl_error_last());
		if (dup_text(c, n->text, &t->signer) < 0)
			return -1;
		if (get(c, v, "files", N_MAP, 0, what, &f) < 0 ||
		    load_files(c, f, what, 1, t->files, &t->n_files) < 0)
			return -1;
		if (get(c, v, "disk_size", N_TEXT, 0, what, &n) < 0)
			return -1;
		if (n) {
			if (!valid_size(n->text))
				return err_at(c, n->pos, "%s: bad disk_size '%.64s': give e.g. 16M or 1G",
					      what, n->text);
			if (dup_text(c, n->text, &t->disk_size) < 0)
				return -1;
		}
	}
	return 0;
}

/* One qualifier V (item J) of shielding data WHAT into Q. */
static int load_qualifier(struct ctx *c, const struct node *v, const char *what,
			  struct sc_qualifier *q)
{
	static const char *const keys[] = { "template", "version_rule" };
	static const char *const rules[] = { "equals", "greater-than", "greater-than-or-equals",
					     NULL };
	const struct node *t = v, *r = NULL;
	int k = 0;

	if (v->type == N_MAP) {
		if (check_keys(c, v, "the qualifier", keys, 2) < 0 ||
		    get(c, v, "template", N_TEXT, 1, what, &t) < 0 ||
		    get(c, v, "version_rule", N_TEXT, 0, what, &r) < 0)
			return -1;
	} else if (v->type != N_TEXT || is_null(v)) {
		return err_at(c, v->pos, "%s: a qualifier is a template's name or a map { template, "
			      "version_rule }, not %s", what, kind_name(v));
	}
	if (check_ref(c, t, what, "template", "templates", c->template_names,
		      c->s->n_templates) < 0)
		return -1;
	if (r && get_enum(c, r, what, "version_rule", rules, &k) < 0)
		return -1;
	if (dup_text(c, t->text, &q->template) < 0 || dup_text(c, rules[k], &q->rule) < 0)
		return -1;
	return 0;
}

/* shielding_data: (optional). */
static int load_shielding(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "name", "owner", "guardians", "qualifiers",
					    "answer_file", "other_files", "policy" };
	static const char *const answer_keys[] = { "name", "content" };
	struct scenario *s = c->s;
	const struct node *l, *v, *n, *ql, *gl, *a;
	char what[96];
	size_t i, j;
	int t;

	if (section(c, root, "shielding_data", N_LIST, sizeof(*s->shielding),
		    (void **)&s->shielding, &s->n_shielding, &c->shielding_names, &l) < 0)
		return -1;
	for (i = 0; i < s->n_shielding; i++) {
		struct sc_shielding *d = &s->shielding[i];

		v = l->kids[i];
		d->pos = v->pos;
		if (section_item(c, l, i, "shielding_data", "shielding data", keys, 7,
				 c->shielding_names, &s->shielding[0].pos, sizeof(*d), &d->name, what,
				 sizeof(what)) < 0)
			return -1;
		if (get(c, v, "owner", N_TEXT, 1, what, &n) < 0 ||
		    check_ref(c, n, what, "guardian", "tenant.guardians",
			      (const char *const *)s->tenant_guardians.v, s->tenant_guardians.n) < 0 ||
		    dup_text(c, n->text, &d->owner) < 0)
			return -1;
		if (get_list(c, v, "guardians", what, "guardian", 1, &d->guardians, &gl) < 0)
			return -1;
		for (j = 0; j < d->guardians.n; j++)
			if (check_ref(c, gl->kids[j], what, "HGS", "hgs or other_hgs", c->hgs_names,
				      c->n_hgs_names) < 0)
				return -1;
		if (get(c, v, "qualifiers", N_LIST, 1, what, &ql) < 0)
			return -1;
		for (j = 0; j < ql->n; j++) {
			if (j >= SC_MAX_LIST)
				return err_at(c, ql->kids[j]->pos, "%s: too many qualifiers (at most "
					      "%d)", what, SC_MAX_LIST);
			if (load_qualifier(c, ql->kids[j], what, &d->qualifiers[j]) < 0)
				return -1;
			d->n_qualifiers = j + 1;
		}
		if (get(c, v, "answer_file", N_MAP, 0, what, &a) < 0)
			return -1;
		if (a) {
			if (check_keys(c, a, "the answer file", answer_keys, 2) < 0 ||
			    get(c, a, "name", N_TEXT, 1, "the answer file", &n) < 0)
				return -1;
			if (hl_pdk_file_name_check(n->text, "answer file") < 0)
				return err_at(c, n->pos, "%s: %s", what, hl_error_last());
			if (dup_text(c, n->text, &d->answer_name) < 0 ||
			    get(c, a, "content", N_TEXT, 1, "the answer file", &n) < 0)
				return -1;
			if (strlen(n->text) > HL_PDK_FILE_MAX)
				return err_at(c, n->pos, "%s: the answer file is longer than %zu bytes",
					      what, HL_PDK_FILE_MAX);
			if (dup_text(c, n->text, &d->answer_content) < 0)
				return -1;
		}
		if (get(c, v, "other_files", N_MAP, 0, what, &n) < 0 ||
		    load_files(c, n, what, 0, d->other, &d->n_other) < 0)
			return -1;
		if (get(c, v, "policy", N_TEXT, 0, what, &n) < 0)
			return -1;
		if (n) {
			if (get_enum(c, n, what, "policy", policy_names, &t) < 0)
				return -1;
			d->policy = (enum sc_vm_policy)t;
		}
	}
	return 0;
}

/* specialization: (optional), NAME: { "@Key@": value }. */
static int load_specializations(struct ctx *c, const struct node *root)
{
	struct scenario *s = c->s;
	const struct node *m;
	char what[96];
	size_t i, j;

	if (section(c, root, "specialization", N_MAP, sizeof(*s->specializations),
		    (void **)&s->specializations, &s->n_specializations, &c->spec_names, &m) < 0)
		return -1;
	for (i = 0; i < s->n_specializations; i++) {
		struct sc_specialization *sp = &s->specializations[i];
		const struct node *k = m->kids[2 * i], *vals = m->kids[2 * i + 1];

		sp->pos = k->pos;
		if (check_name(c, k, "specialization name") < 0 || dup_text(c, k->text, &sp->name) < 0)
			return -1;
		c->spec_names[i] = sp->name;
		snprintf(what, sizeof(what), "specialization '%s'", sp->name);
		if (want(c, vals, N_MAP, "the values", what) < 0)
			return -1;
		for (j = 0; j < vals->n; j++) {
			const struct node *key = vals->kids[2 * j], *val = vals->kids[2 * j + 1];

			if (j >= SC_MAX_LIST)
				return err_at(c, key->pos, "%s: too many values (at most %d)", what,
					      SC_MAX_LIST);
			if (hl_fsk_key_check(key->text) < 0)
				return err_at(c, key->pos, "%s: %s", what, hl_error_last());
			if (val->type != N_TEXT)
				return err_at(c, val->pos, "value '%.64s' in %s must be a text, not %s",
					      key->text, what, kind_name(val));
			if (hl_fsk_value_check(key->text, is_null(val) ? "" : val->text) < 0)
				return err_at(c, val->pos, "%s: %s", what, hl_error_last());
			if (dup_text(c, key->text, &sp->values[j].name) < 0)
				return -1;
			sp->n_values = j + 1;
			if (dup_text(c, is_null(val) ? "" : val->text, &sp->values[j].content) < 0)
				return -1;
		}
	}
	return 0;
}

/* clouds: (optional). */
static int load_clouds(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "name", "hosts" };
	struct scenario *s = c->s;
	const struct node *l, *v, *hl;
	char what[96];
	size_t i, j;

	if (section(c, root, "clouds", N_LIST, sizeof(*s->clouds), (void **)&s->clouds,
		    &s->n_clouds, &c->cloud_names, &l) < 0)
		return -1;
	for (i = 0; i < s->n_clouds; i++) {
		struct sc_cloud *cl = &s->clouds[i];

		v = l->kids[i];
		cl->pos = v->pos;
		if (section_item(c, l, i, "clouds", "cloud", keys, 2, c->cloud_names,
				 &s->clouds[0].pos, sizeof(*cl), &cl->name, what, sizeof(what)) < 0)
			return -1;
		if (!map_get(v, "hosts", NULL))
			return err_at(c, v->pos, "missing 'hosts' in %s: list the guarded hosts that "
				      "may run its VMs, e.g. hosts: [%s]", what, s->hosts[0].name);
		if (get_list(c, v, "hosts", what, "host", 0, &cl->hosts, &hl) < 0)
			return -1;
		if (cl->hosts.n == 0)
			return err_at(c, hl->pos, "%s: 'hosts' is empty: list the guarded hosts that "
				      "may run its VMs, e.g. hosts: [%s]", what, s->hosts[0].name);
		for (j = 0; j < cl->hosts.n; j++)
			if (check_ref(c, hl->kids[j], what, "host", "hosts", c->host_names,
				      s->n_hosts) < 0)
				return -1;
	}
	return 0;
}

/* The text of step item V's argument KEY of kind KIND (a map's or the shorthand text), or NULL. */
static const char *peek_arg(const struct node *v, const char *kind, const char *key)
{
	const struct node *a;

	if (v->type != N_MAP || !(a = map_get(v, kind, NULL)))
		return NULL;
	if (a->type == N_TEXT && !is_null(a))
		return a->text;
	if (a->type == N_MAP && (a = map_get(a, key, NULL)) && a->type == N_TEXT)
		return a->text;
	return NULL;
}

/*
 * Before the steps are read: the VMs deploy steps make (a later step may
 * name them) and the first protect_template step of each template.
 */
static int prepass_steps(struct ctx *c, const struct node *root)
{
	struct scenario *s = c->s;
	const struct node *l = map_get(root, "steps", NULL);
	size_t i, j;

	c->vm_ref_names = calloc(s->n_vms + (l && l->type == N_LIST ? l->n : 0) + 1,
				 sizeof(*c->vm_ref_names));
	c->deploy_first = calloc((l && l->type == N_LIST ? l->n : 0) + 1, sizeof(*c->deploy_first));
	if (!c->vm_ref_names || !c->deploy_first)
		return err_oom(c);
	for (i = 0; i < s->n_vms; i++)
		c->vm_ref_names[c->n_vm_refs++] = s->vms[i].name;
	if (!l || l->type != N_LIST)
		return 0;
	s->deployed = calloc(l->n + 1, sizeof(*s->deployed));
	if (!s->deployed)
		return err_oom(c);
	for (i = 0; i < l->n; i++) {
		const char *vm = peek_arg(l->kids[i], "deploy", "vm");
		const char *t = peek_arg(l->kids[i], "protect_template", "template");

		for (j = 0; t && j < s->n_templates; j++)
			if (!strcmp(s->templates[j].name, t) && s->templates[j].protect_step < 0)
				s->templates[j].protect_step = (int)i;
		if (!vm || scenario_vm(s, vm))
			continue;
		for (j = 0; j < s->n_deployed; j++)
			if (!strcmp(s->deployed[j], vm))
				break;
		if (j < s->n_deployed)
			continue;
		if (dup_text(c, vm, &s->deployed[s->n_deployed]) < 0)
			return -1;
		c->deploy_first[s->n_deployed] = i;
		c->vm_ref_names[c->n_vm_refs++] = s->deployed[s->n_deployed++];
	}
	return 0;
}

/* A clock offset "[+-]N[smhd]" of V into *SECONDS. */
static int get_offset(struct ctx *c, const struct node *v, const char *what, long long *seconds)
{
	const char *s = v->text;
	long long sign = 1, n, unit;
	size_t d;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	d = strspn(s, "0123456789");
	if (d == 0 || d > 9 || !s[d] || !strchr("smhd", s[d]) || s[d + 1])
		return err_at(c, v->pos, "%s: bad offset '%.64s': use [+-]N followed by s, m, h or "
			      "d, e.g. +9h", what, v->text);
	n = strtoll(s, NULL, 10);
	unit = s[d] == 's' ? 1 : s[d] == 'm' ? 60 : s[d] == 'h' ? 3600 : 86400;
	*seconds = sign * n * unit;
	return 0;
}

/* 1-based node I of HGS name text "HGS0I" (I <= MAX), else 0. */
static int node_number(const char *text, int max)
{
	char buf[16];

	for (int i = 1; i <= max; i++) {
		snprintf(buf, sizeof(buf), SC_NODE_NAME_FMT, i);
		if (strcmp(text, buf) == 0)
			return i;
	}
	return 0;
}

int scenario_component_hgs(const struct scenario *s, const char *comp, const struct sc_hgs **hgs)
{
	const char *rest, *colon;
	char name[128];

	*hgs = NULL;
	if (strcmp(comp, "hgs") == 0) {
		*hgs = &s->hgs;
		return 0;
	}
	if (strncmp(comp, "hgs:", 4) != 0)
		return -1;
	rest = comp + 4;
	if ((*hgs = scenario_hgs(s, rest)))
		return 0;
	if ((colon = strchr(rest, ':'))) {
		snprintf(name, sizeof(name), "%.*s", (int)(colon - rest), rest);
		*hgs = scenario_hgs(s, name);
		rest = colon + 1;
	} else {
		*hgs = &s->hgs;
	}
	if (*hgs) {
		int i = node_number(rest, (*hgs)->nodes);

		if (i > 0)
			return i;
	}
	*hgs = NULL;
	return -1;
}

/*
 * A kill component of V ("hgs", "hgs:NAME", "hgs:HGS02", "hgs:NAME:HGS02",
 * "dc", "host:NAME"), checked.
 */
static int check_component(struct ctx *c, const struct node *v, const char *what)
{
	const struct scenario *s = c->s;
	const struct sc_hgs *g;
	const char **choices;
	const char *hint = NULL;
	char *buf;
	size_t n = 2 + c->n_hgs_names + (size_t)s->hgs.nodes + s->n_hosts, i, k = 0, sz = 0;
	int ret;

	if (strcmp(v->text, "dc") == 0 || scenario_component_hgs(s, v->text, &g) >= 0)
		return 0;
	for (i = 0; i < s->n_hosts; i++)
		if (strncmp(v->text, "host:", 5) == 0 && strcmp(v->text + 5, s->hosts[i].name) == 0)
			return 0;
	/* the choices as written, for a suggestion */
	for (i = 0; i < c->n_hgs_names; i++)
		sz += 5 + strlen(c->hgs_names[i]);
	sz += (size_t)s->hgs.nodes * 16;
	for (i = 0; i < s->n_hosts; i++)
		sz += 6 + strlen(s->hosts[i].name);
	choices = calloc(n, sizeof(*choices));
	buf = malloc(sz + 1);
	if (!choices || !buf) {
		free(choices);
		free(buf);
		return err_oom(c);
	}
	choices[k++] = "hgs";
	choices[k++] = "dc";
	sz = 0;
	for (i = 0; i < c->n_hgs_names; i++) {
		choices[k++] = buf + sz;
		sz += (size_t)sprintf(buf + sz, "hgs:%s", c->hgs_names[i]) + 1;
	}
	for (i = 1; i <= (size_t)s->hgs.nodes; i++) {
		choices[k++] = buf + sz;
		sz += (size_t)sprintf(buf + sz, "hgs:" SC_NODE_NAME_FMT, (int)i) + 1;
	}
	for (i = 0; i < s->n_hosts; i++) {
		choices[k++] = buf + sz;
		sz += (size_t)sprintf(buf + sz, "host:%s", s->hosts[i].name) + 1;
	}
	hint = hl_suggest_n(v->text, choices, n);
	if (hint)
		ret = err_at(c, v->pos, "%s: unknown component '%.64s'; did you mean '%s'?", what,
			     v->text, hint);
	else
		ret = err_at(c, v->pos, "%s: unknown component '%.64s': use hgs, hgs:NAME, "
			     "hgs:NODE (HGS01 to HGS0%d), dc or host:NAME with an HGS, node or host "
			     "of the scenario", what, v->text, s->hgs.nodes);
	free(choices);
	free(buf);
	return ret;
}

/* The arguments of one step: a map, or the shorthand text for the kind's one key. */
struct step_args {
	const struct node *map;
	const struct node *text;
	const char *text_key;
};

/* The argument KEY, or NULL. */
static const struct node *arg(const struct step_args *a, const char *key, struct sc_pos *kpos)
{
	if (a->text)
		return strcmp(key, a->text_key) == 0 ? a->text : NULL;
	return map_get(a->map, key, kpos);
}

/* The text argument KEY (REQUIRED or not) into *OUT (NULL when absent). */
static int arg_text(struct ctx *c, const struct step_args *a, const struct node *v,
		    const char *key, int required, const char *what, const struct node **out)
{
	if (a->text) {
		*out = arg(a, key, NULL);
		if (!*out && required)
			return err_at(c, v->pos, "missing '%s' in %s", key, what);
		return 0;
	}
	return get(c, a->map, key, N_TEXT, required, what, out);
}

/* Fill the expect word of step ST from its argument (or the default). */
static int load_expect(struct ctx *c, const struct step_args *a, const struct step_def *d,
		       const char *what, size_t idx, struct sc_step *st)
{
	const char *status[HGS_STATUS_COUNT + 1];
	const char *const *words = d->expect;
	const struct node *e;
	const char *def;
	int i;

	if (!words) {
		for (i = 0; i < HGS_STATUS_COUNT; i++)
			status[i] = hgs_status_name((enum hgs_status)i);
		status[HGS_STATUS_COUNT] = NULL;
		words = status;
	}
	def = words[0];
	if (st->kind == SC_STEP_CONNECT) {
		const struct sc_vm *vm = scenario_vm(c->s, st->vm);
		const struct sc_step *dep = vm ? NULL : scenario_deploy_of(c->s, st->vm, idx);
		const struct sc_shielding *sd = dep ? scenario_shielding(c->s, dep->shielding_data)
						    : NULL;

		def = (vm && vm->policy == SC_VM_ENCRYPTION_SUPPORTED) ||
		      (sd && sd->policy == SC_VM_ENCRYPTION_SUPPORTED) ? "allowed" : "refused";
	}
	if (arg_text(c, a, NULL, "expect", 0, what, &e) < 0)
		return -1;
	if (e) {
		if (get_enum(c, e, what, words == status ? "AttestationStatus" : "expect", words,
			     &i) < 0)
			return -1;
		def = words[i];
	}
	return dup_text(c, def, &st->expect);
}

/* The valid keys of step kind K into KEYS (size >= N_ARG_KEYS + 4); returns the count. */
static size_t step_keys(enum sc_step_kind k, const char **keys)
{
	size_t n = 0, i;

	for (i = 0; i < N_ARG_KEYS; i++)
		if (step_defs[k].args & (1u << i))
			keys[n++] = arg_keys[i];
	if (step_defs[k].args & A_SUBSTATUS)
		keys[n++] = "reason";
	keys[n++] = "expect";
	keys[n++] = "explain";
	return n;
}

/* The index of deployed VM NAME in S->deployed, or -1. */
static int deployed_index(const struct scenario *s, const char *name)
{
	size_t i;

	for (i = 0; name && i < s->n_deployed; i++)
		if (!strcmp(s->deployed[i], name))
			return (int)i;
	return -1;
}

/* The VM V of step ST (number I + 1): a tenant VM, or a VM deployed before (not for shield). */
static int check_step_vm(struct ctx *c, const struct node *v, const char *what, size_t i,
			 struct sc_step *st)
{
	struct scenario *s = c->s;
	int d;

	if (st->kind == SC_STEP_DEPLOY) {
		const struct sc_vm *tv;

		if (check_name(c, v, "VM name") < 0)
			return -1;
		if ((tv = scenario_vm(s, v->text)))
			return err_at(c, v->pos, "%s: VM '%s' is a tenant VM (line %d); a deploy makes "
				      "a new VM from a template: give it another name", what, v->text,
				      tv->pos.line);
		return 0;
	}
	if (st->kind == SC_STEP_SHIELD || !s->n_deployed)
		return check_ref(c, v, what, "vm", "tenant.vms", c->vm_names, s->n_vms);
	if (check_ref(c, v, what, "vm", "tenant.vms or the deploy steps", c->vm_ref_names,
		      c->n_vm_refs) < 0)
		return -1;
	if ((d = deployed_index(s, v->text)) >= 0 && c->deploy_first[d] > i)
		return err_at(c, v->pos, "%s: VM '%s' is deployed only at step %zu; move this step "
			      "after it", what, v->text, c->deploy_first[d] + 1);
	return 0;
}

/*
 * Template T (node V) must be protected before step I (0-based): at bring-up
 * or by an earlier protect_template step.  SD: the shielding data that
 * trusts T, when that is why the step needs it.
 */
static int check_protected(struct ctx *c, const struct node *v, const char *what, size_t i,
			   const char *t, const char *sd)
{
	const struct sc_template *tp = scenario_template(c->s, t);

	if (!tp || tp->protect_step < 0 || (size_t)tp->protect_step < i)
		return 0;
	if (sd)
		return err_at(c, v->pos, "%s: shielding data '%s' trusts template '%s', which is "
			      "protected only at step %d (protect_template); move this step after it",
			      what, sd, t, tp->protect_step + 1);
	return err_at(c, v->pos, "%s: template '%s' is protected only at step %d "
		      "(protect_template); move this step after it", what, t, tp->protect_step + 1);
}

/* What a deploy step says beyond its names: its hosts and templates fit. */
static int check_deploy(struct ctx *c, const struct step_args *a, const char *what, size_t i,
			struct sc_step *st)
{
	const struct sc_cloud *cl = scenario_cloud(c->s, st->cloud);
	const struct sc_shielding *sd = scenario_shielding(c->s, st->shielding_data);
	const struct node *n, *l;
	char where[96];
	size_t j;

	snprintf(where, sizeof(where), "cloud '%s'", cl->name);
	if (check_protected(c, map_get(a->map, "template", NULL), what, i, st->template, NULL) < 0)
		return -1;
	for (j = 0; j < sd->n_qualifiers; j++)
		if (check_protected(c, map_get(a->map, "shielding_data", NULL), what, i,
				    sd->qualifiers[j].template, sd->name) < 0)
			return -1;
	if ((n = map_get(a->map, "placed_on", NULL))) {
		if (strcmp(st->expect, "refused") == 0)
			return err_at(c, n->pos, "%s: 'placed_on' given, but expect is refused, which "
				      "places the VM nowhere; expect running or drop it", what);
		if (check_ref(c, n, what, "host", where, (const char *const *)cl->hosts.v,
			      cl->hosts.n) < 0)
			return -1;
	}
	if (get_list(c, a->map, "skipped", what, "host", 0, &st->skipped, &l) < 0)
		return -1;
	st->has_skipped = l != NULL;
	for (j = 0; l && j < st->skipped.n; j++) {
		if (check_ref(c, l->kids[j], what, "host", where, (const char *const *)cl->hosts.v,
			      cl->hosts.n) < 0)
			return -1;
		if (st->placed_on && strcmp(st->placed_on, st->skipped.v[j]) == 0)
			return err_at(c, l->kids[j]->pos, "%s: host '%s' is both placed_on and "
				      "skipped", what, st->placed_on);
	}
	return 0;
}

/* The arguments of step ST (number I + 1) from A (V is the step's value). */
static int load_step_args(struct ctx *c, const struct step_args *a, const struct node *v,
			  const char *what, size_t idx, struct sc_step *st)
{
	const struct step_def *d = &step_defs[st->kind];
	struct scenario *s = c->s;
	const struct node *n, *l;
	struct sc_pos kpos;
	size_t i;
	int t;

	for (i = 0; i < N_ARG_KEYS; i++) {
		unsigned bit = 1u << i;
		const char *key = arg_keys[i];

		if (!(d->args & bit) || bit == A_SUBSTATUS || bit == A_PROFILE || bit == A_SKIPPED)
			continue;
		if (arg_text(c, a, v, key, (d->required & bit) != 0, what, &n) < 0)
			return -1;
		if (!n) {
			if (bit == A_RESTART)
				st->restart = 1;
			continue;
		}
		switch (bit) {
		case A_HOST:
			if (check_ref(c, n, what, "host", "hosts", c->host_names, s->n_hosts) < 0 ||
			    dup_text(c, n->text, &st->host) < 0)
				return -1;
			break;
		case A_VM:
			if (check_step_vm(c, n, what, idx, st) < 0 || dup_text(c, n->text, &st->vm) < 0)
				return -1;
			break;
		case A_MODE:
			if (get_enum(c, n, what, "trust mode", trust_names, &t) < 0)
				return -1;
			st->mode = (enum sc_trust)t;
			st->has_mode = 1;
			if (st->mode == SC_TRUST_AD && !s->fabric.present)
				return err_at(c, n->pos, "%s: trust 'ad' needs a fabric: section (the "
					      "fabric's AD domain, its trust and groups); add one",
					      what);
			break;
		case A_BASELINE:
			if (get_bool(c, n, what, key, &st->baseline) < 0)
				return -1;
			break;
		case A_NAME: {
			const char *names[64];
			size_t k = 0;

			for (k = 0; hgs_policy_defs[k].name && k < 63; k++)
				names[k] = hgs_policy_defs[k].name;
			names[k] = NULL;
			if (check_ref(c, n, what, "policy", "the Hgs_* policies", names, k) < 0 ||
			    dup_text(c, n->text, &st->name) < 0)
				return -1;
			break;
		}
		case A_OFFSET:
			if (get_offset(c, n, what, &st->offset_s) < 0)
				return -1;
			break;
		case A_COMPONENT:
			if (check_component(c, n, what) < 0 || dup_text(c, n->text, &st->component) < 0)
				return -1;
			break;
		case A_RESTART:
			if (get_bool(c, n, what, key, &st->restart) < 0)
				return -1;
			break;
		case A_ALLOW:
			if (get_bool(c, n, what, key, &st->allow) < 0)
				return -1;
			break;
		case A_TEMPLATE:
			if (check_ref(c, n, what, "template", "templates", c->template_names,
				      s->n_templates) < 0 ||
			    (st->kind == SC_STEP_ALTER_TEMPLATE &&
			     check_protected(c, n, what, idx, n->text, NULL) < 0) ||
			    dup_text(c, n->text, &st->template) < 0)
				return -1;
			break;
		case A_SHIELDING:
			if (check_ref(c, n, what, "shielding data", "shielding_data",
				      c->shielding_names, s->n_shielding) < 0 ||
			    dup_text(c, n->text, &st->shielding_data) < 0)
				return -1;
			break;
		case A_SPECIALIZATION:
			if (check_ref(c, n, what, "specialization", "specialization", c->spec_names,
				      s->n_specializations) < 0 ||
			    dup_text(c, n->text, &st->specialization) < 0)
				return -1;
			break;
		case A_CLOUD:
			if (check_ref(c, n, what, "cloud", "clouds", c->cloud_names, s->n_clouds) < 0 ||
			    dup_text(c, n->text, &st->cloud) < 0)
				return -1;
			break;
		case A_PLACED_ON:
			if (dup_text(c, n->text, &st->placed_on) < 0)
				return -1;
			break;
		case A_ATTACK: {
			const char *names[128];
			const struct attack_def *ad;
			size_t k;

			for (k = 0; k < 127 && (ad = attack_at(k)); k++)
				names[k] = ad->name;
			names[k] = NULL;
			if (check_ref(c, n, what, "attack", "the attack library (hgslab attack list)",
				      names, k) < 0 ||
			    dup_text(c, n->text, &st->attack) < 0)
				return -1;
			break;
		}
		case A_BY:
			if (check_ref(c, n, what, "host", "hosts", c->host_names, s->n_hosts) < 0 ||
			    dup_text(c, n->text, &st->by) < 0)
				return -1;
			break;
		case A_TEXT:
			if (strlen(n->text) < SC_SCAN_MIN)
				return err_at(c, n->pos, "%s: the text '%s' is shorter than %d "
					      "characters: it would match by chance", what, n->text,
					      SC_SCAN_MIN);
			if (dup_text(c, n->text, &st->text) < 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (st->kind == SC_STEP_ATTACK) {
		const struct attack_def *ad = attack_find(st->attack);
		static const struct { unsigned bit; const char *key, *what; } need[] = {
			{ ATTACK_NEEDS_HOST, "host", "the host it attacks" },
			{ ATTACK_NEEDS_VM, "vm", "a shielded tenant VM" },
			{ ATTACK_NEEDS_BY, "by", "the attacker's host" },
		};
		const char *have[] = { st->host, st->vm, st->by };

		for (i = 0; i < 3; i++)
			if ((ad->needs & need[i].bit) && !have[i])
				return err_at(c, a->map ? a->map->pos : v->pos, "missing '%s' in %s: "
					      "attack '%s' needs %s", need[i].key, what, ad->name,
					      need[i].what);
	}
	/* a tenant VM has no placement: start and connect need the host */
	if ((st->kind == SC_STEP_START || st->kind == SC_STEP_CONNECT) && !st->host &&
	    scenario_vm(s, st->vm))
		return err_at(c, a->map->pos, "missing 'host' in %s", what);
	if ((d->args & A_PROFILE) && (n = map_get(a->map, "profile", NULL)) != NULL &&
	    load_profile(c, n, what, &st->profile, &t) < 0)
		return -1;
	if (load_expect(c, a, d, what, idx, st) < 0)
		return -1;
	if (st->kind == SC_STEP_DEPLOY && check_deploy(c, a, what, idx, st) < 0)
		return -1;
	if (!(d->args & A_SUBSTATUS))
		return 0;
	if (get_list(c, a->map, "substatus", what, "sub-status", 0, &st->substatus, &l) < 0)
		return -1;
	for (i = 0; i < st->substatus.n; i++) {
		const char *subs[HGS_SUB_COUNT + 1];
		int k;

		for (k = 0; k < HGS_SUB_COUNT; k++)
			subs[k] = hgs_substatus_name(1u << k);
		subs[HGS_SUB_COUNT] = NULL;
		if (get_enum(c, l->kids[i], what, "AttestationSubStatus", subs, &k) < 0)
			return -1;
	}
	if (get(c, a->map, "reason", N_TEXT, 0, what, &n) < 0 ||
	    (n && dup_text(c, n->text, &st->reason) < 0))
		return -1;
	/* a deploy's reasons are those of the hosts it skipped, also when it runs */
	if ((st->substatus.n || st->reason) && st->kind != SC_STEP_DEPLOY &&
	    (strcmp(st->expect, "Passed") == 0 || strcmp(st->expect, "running") == 0)) {
		map_get(a->map, st->substatus.n ? "substatus" : "reason", &kpos);
		return err_at(c, kpos, "%s: '%s' given, but expect is %s, which has none; expect a "
			      "failure or drop it", what, st->substatus.n ? "substatus" : "reason",
			      st->expect);
	}
	return 0;
}

/* One step (list item V, number I + 1) into ST. */
static int load_step(struct ctx *c, const struct node *v, size_t i, struct sc_step *st)
{
	const struct node *kind = NULL, *val = NULL, *ex = NULL, *ex2 = NULL;
	const char *keys[N_ARG_KEYS + 4];
	struct step_args a = { NULL, NULL, NULL };
	const struct step_def *d;
	char what[64], valid[512];
	size_t j, nk;
	int k;

	st->baseline = -1;
	if (v->type != N_MAP || v->n == 0)
		return err_at(c, v->pos, "step %zu must be a map with one key, its kind (e.g. "
			      "'- attest: { host: FabricHost1 }'), not %s", i + 1,
			      v->type == N_MAP ? "an empty map" : kind_name(v));
	for (j = 0; j < v->n; j++) {
		const struct node *key = v->kids[2 * j];

		if (strcmp(key->text, "explain") == 0) {
			ex = v->kids[2 * j + 1];
			continue;
		}
		if (kind)
			return err_at(c, key->pos, "step %zu has two kinds, '%s' and '%.64s'; put each "
				      "in its own list item", i + 1, kind->text, key->text);
		kind = key;
		val = v->kids[2 * j + 1];
	}
	if (!kind)
		return err_at(c, v->pos, "step %zu has no kind; use one of %s", i + 1,
			      choice_list(step_names, 0, valid, sizeof(valid)));
	st->pos = kind->pos;
	snprintf(what, sizeof(what), "step %zu", i + 1);
	if (get_enum(c, kind, what, "step kind", step_names, &k) < 0)
		return -1;
	st->kind = (enum sc_step_kind)k;
	d = &step_defs[k];
	snprintf(what, sizeof(what), "step %zu (%s)", i + 1, step_names[k]);
	if (val->type == N_MAP) {
		a.map = val;
		nk = step_keys(st->kind, keys);
		if (check_keys(c, val, what, keys, nk) < 0)
			return -1;
		ex2 = map_get(val, "explain", NULL);
	} else if (val->type == N_TEXT && !is_null(val) && d->shorthand) {
		a.text = val;
		a.text_key = d->shorthand;
	} else if (d->shorthand) {
		return err_at(c, val->pos, "%s must be a map ({ %s: ... }) or just the %s, not %s",
			      what, d->shorthand, d->shorthand, kind_name(val));
	} else {
		return err_at(c, val->pos, "%s must be a map of its arguments (e.g. { %s: ... }), "
			      "not %s", what, d->required & A_VM ? "vm" : d->required & A_HOST ?
			      "host" : "component", kind_name(val));
	}
	if (ex && ex2)
		return err_at(c, ex2->pos, "%s: 'explain' given twice (beside and inside the step)",
			      what);
	if (ex2)
		ex = ex2;
	if (ex) {
		if (want(c, ex, N_TEXT, "'explain'", what) < 0 || dup_text(c, ex->text, &st->explain) < 0)
			return -1;
	}
	return load_step_args(c, &a, val, what, i, st);
}

/* steps: at least one. */
static int load_steps(struct ctx *c, const struct node *root)
{
	struct scenario *s = c->s;
	const struct node *l;
	size_t i;

	if (get(c, root, "steps", N_LIST, 1, "the scenario", &l) < 0)
		return -1;
	if (l->n == 0)
		return err_at(c, l->pos, "'steps' in the scenario is empty; add at least one step");
	s->steps = calloc(l->n, sizeof(*s->steps));
	if (!s->steps)
		return err_oom(c);
	s->n_steps = l->n;
	for (i = 0; i < l->n; i++) {
		if (load_step(c, l->kids[i], i, &s->steps[i]) < 0)
			return -1;
		if (s->steps[i].kind == SC_STEP_RESTORE_HGS) {
			size_t j;

			for (j = 0; j < i && s->steps[j].kind != SC_STEP_BACKUP_HGS; j++)
				;
			if (j == i)
				return err_at(c, s->steps[i].pos, "step %zu (restore_hgs): no "
					      "backup_hgs step comes before it; back HGS up first",
					      i + 1);
			if (s->hgs.store_pg)
				return err_at(c, s->steps[i].pos, "step %zu (restore_hgs): the HGS "
					      "keeps its state in PostgreSQL, which losing the nodes "
					      "does not lose; restore_hgs needs store: sqlite", i + 1);
		}
	}
	return 0;
}

/* The whole scenario from the tree ROOT. */
static int load_root(struct ctx *c, const struct node *root)
{
	static const char *const keys[] = { "version", "name", "description", "keywords", "lab",
					    "hgs", "other_hgs", "fabric", "hosts", "tenant",
					    "templates", "shielding_data", "specialization", "clouds",
					    "steps" };
	struct scenario *s = c->s;
	const struct node *n, *lab;
	int t;

	if (root->type != N_MAP)
		return err_at(c, root->pos, "a scenario must be a map (version: 1, name:, "
			      "description:, hgs:, hosts:, steps:), not %s", kind_name(root));
	if (check_keys(c, root, "the scenario", keys, sizeof(keys) / sizeof(keys[0])) < 0)
		return -1;
	if (get(c, root, "version", N_TEXT, 1, "the scenario", &n) < 0)
		return -1;
	if (strcmp(n->text, "1") != 0)
		return err_at(c, n->pos, "unsupported scenario version '%.64s'; this hgslab reads "
			      "version 1", n->text);
	s->version = 1;
	if (get(c, root, "name", N_TEXT, 1, "the scenario", &n) < 0 ||
	    check_name(c, n, "scenario name") < 0 || dup_text(c, n->text, &s->name) < 0)
		return -1;
	if (get(c, root, "description", N_TEXT, 1, "the scenario", &n) < 0 ||
	    dup_text(c, n->text, &s->description) < 0)
		return -1;
	if (get_list(c, root, "keywords", "the scenario", "keyword", 1, &s->keywords, NULL) < 0)
		return -1;
	if (get(c, root, "lab", N_MAP, 0, "the scenario", &lab) < 0)
		return -1;
	if (lab) {
		static const char *const lab_keys[] = { "accel" };

		if (check_keys(c, lab, "lab", lab_keys, 1) < 0 ||
		    get(c, lab, "accel", N_TEXT, 0, "lab", &n) < 0)
			return -1;
		if (n) {
			if (get_enum(c, n, "lab", "accel", accel_names, &t) < 0)
				return -1;
			s->accel = (enum sc_accel)t;
		}
	}
	if (load_fabric(c, root) < 0 || load_all_hgs(c, root) < 0 || load_hosts(c, root) < 0 ||
	    load_tenant(c, root) < 0 || load_templates(c, root) < 0 ||
	    load_shielding(c, root) < 0 || load_specializations(c, root) < 0 ||
	    load_clouds(c, root) < 0 || prepass_steps(c, root) < 0 || load_steps(c, root) < 0)
		return -1;
	return 0;
}

/* ---- public ---- */

int scenario_parse(const char *path, const char *text, size_t len, struct scenario **out)
{
	struct ctx c;
	struct node *root = NULL;
	int ret = -1;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.path = path ? path : "<scenario>";
	c.text = text ? text : "";
	c.len = text ? len : 0;
	c.s = calloc(1, sizeof(*c.s));
	if (!c.s)
		return err_oom(&c);
	if (!yaml_parser_initialize(&c.parser)) {
		free(c.s);
		return err_oom(&c);
	}
	yaml_parser_set_input_string(&c.parser, (const unsigned char *)c.text, c.len);
	yaml_parser_set_encoding(&c.parser, YAML_UTF8_ENCODING);
	if (parse_tree(&c, &root) < 0)
		goto out;
	if (dup_text(&c, c.path, &c.s->path) < 0 || load_root(&c, root) < 0)
		goto out;
	*out = c.s;
	c.s = NULL;
	ret = 0;
out:
	yaml_parser_delete(&c.parser);
	node_free(root);
	free(c.hgs_names);
	free(c.host_names);
	free(c.vm_names);
	free(c.template_names);
	free(c.shielding_names);
	free(c.spec_names);
	free(c.cloud_names);
	free(c.vm_ref_names);
	free(c.deploy_first);
	scenario_free(c.s);
	return ret;
}

int scenario_load(const char *path, struct scenario **out)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (hl_file_read(path, SC_FILE_MAX, &text, &len) < 0)
		return -1;
	ret = scenario_parse(path, text, len, out);
	free(text);
	return ret;
}

/* Free the strings of L. */
static void list_release(struct sc_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

/* Free the N files F. */
static void files_release(struct sc_file *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].content);
	}
}

/* Free the strings of H. */
static void hgs_release(struct sc_hgs *h)
{
	free(h->name);
	free(h->domain);
}

void scenario_free(struct scenario *s)
{
	size_t i, j;

	if (!s)
		return;
	free(s->path);
	free(s->name);
	free(s->description);
	list_release(&s->keywords);
	hgs_release(&s->hgs);
	for (i = 0; i < s->n_other_hgs; i++)
		hgs_release(&s->other_hgs[i]);
	free(s->other_hgs);
	free(s->fabric.domain);
	list_release(&s->fabric.groups);
	for (i = 0; i < s->n_hosts; i++) {
		free(s->hosts[i].name);
		list_release(&s->hosts[i].groups);
		free(s->hosts[i].profile);
		free(s->hosts[i].hgs);
	}
	free(s->hosts);
	list_release(&s->tenant_guardians);
	for (i = 0; i < s->n_vms; i++) {
		struct sc_vm *vm = &s->vms[i];

		free(vm->name);
		free(vm->owner);
		list_release(&vm->guardians);
		files_release(vm->files, vm->n_files);
		free(vm->disk_size);
	}
	free(s->vms);
	for (i = 0; i < s->n_templates; i++) {
		struct sc_template *t = &s->templates[i];

		free(t->name);
		free(t->template_name);
		free(t->version);
		free(t->signer);
		files_release(t->files, t->n_files);
		free(t->disk_size);
	}
	free(s->templates);
	for (i = 0; i < s->n_shielding; i++) {
		struct sc_shielding *d = &s->shielding[i];

		free(d->name);
		free(d->owner);
		list_release(&d->guardians);
		for (j = 0; j < d->n_qualifiers; j++) {
			free(d->qualifiers[j].template);
			free(d->qualifiers[j].rule);
		}
		free(d->answer_name);
		free(d->answer_content);
		files_release(d->other, d->n_other);
	}
	free(s->shielding);
	for (i = 0; i < s->n_specializations; i++) {
		free(s->specializations[i].name);
		files_release(s->specializations[i].values, s->specializations[i].n_values);
	}
	free(s->specializations);
	for (i = 0; i < s->n_clouds; i++) {
		free(s->clouds[i].name);
		list_release(&s->clouds[i].hosts);
	}
	free(s->clouds);
	for (i = 0; i < s->n_deployed; i++)
		free(s->deployed[i]);
	free(s->deployed);
	for (i = 0; i < s->n_steps; i++) {
		struct sc_step *st = &s->steps[i];

		free(st->host);
		free(st->vm);
		free(st->name);
		free(st->profile);
		free(st->component);
		free(st->template);
		free(st->shielding_data);
		free(st->specialization);
		free(st->cloud);
		free(st->placed_on);
		list_release(&st->skipped);
		free(st->text);
		free(st->attack);
		free(st->by);
		free(st->expect);
		list_release(&st->substatus);
		free(st->reason);
		free(st->explain);
	}
	free(s->steps);
	free(s);
}

const struct sc_host *scenario_host(const struct scenario *s, const char *name)
{
	size_t i;

	for (i = 0; s && name && i < s->n_hosts; i++)
		if (s->hosts[i].name && strcmp(s->hosts[i].name, name) == 0)
			return &s->hosts[i];
	return NULL;
}

const struct sc_vm *scenario_vm(const struct scenario *s, const char *name)
{
	size_t i;

	for (i = 0; s && name && i < s->n_vms; i++)
		if (s->vms[i].name && strcmp(s->vms[i].name, name) == 0)
			return &s->vms[i];
	return NULL;
}

const struct sc_hgs *scenario_hgs(const struct scenario *s, const char *name)
{
	size_t i;

	if (!s || !name)
		return NULL;
	if (s->hgs.name && strcmp(s->hgs.name, name) == 0)
		return &s->hgs;
	for (i = 0; i < s->n_other_hgs; i++)
		if (s->other_hgs[i].name && strcmp(s->other_hgs[i].name, name) == 0)
			return &s->other_hgs[i];
	return NULL;
}

/* The element named NAME of the N elements at BASE, STRIDE bytes apart, whose name is first. */
static const void *find_named(const void *base, size_t n, size_t stride, const char *name)
{
	size_t i;

	for (i = 0; base && name && i < n; i++) {
		const char *const *p = (const char *const *)((const char *)base + i * stride);

		if (*p && strcmp(*p, name) == 0)
			return p;
	}
	return NULL;
}

const struct sc_template *scenario_template(const struct scenario *s, const char *name)
{
	return s ? find_named(s->templates, s->n_templates, sizeof(*s->templates), name) : NULL;
}

const struct sc_shielding *scenario_shielding(const struct scenario *s, const char *name)
{
	return s ? find_named(s->shielding, s->n_shielding, sizeof(*s->shielding), name) : NULL;
}

const struct sc_specialization *scenario_specialization(const struct scenario *s,
							const char *name)
{
	return s ? find_named(s->specializations, s->n_specializations,
			      sizeof(*s->specializations), name) : NULL;
}

const struct sc_cloud *scenario_cloud(const struct scenario *s, const char *name)
{
	return s ? find_named(s->clouds, s->n_clouds, sizeof(*s->clouds), name) : NULL;
}

const struct sc_step *scenario_deploy_of(const struct scenario *s, const char *name,
					 size_t before)
{
	const struct sc_step *found = NULL;
	size_t i;

	for (i = 0; s && name && i < before && i < s->n_steps; i++)
		if (s->steps[i].kind == SC_STEP_DEPLOY && s->steps[i].vm &&
		    strcmp(s->steps[i].vm, name) == 0)
			found = &s->steps[i];
	return found;
}

const char *sc_step_name(enum sc_step_kind k)
{
	return (unsigned)k < SC_STEP_COUNT ? step_names[k] : NULL;
}

const char *sc_trust_name(enum sc_trust t)
{
	return (unsigned)t < 3 ? trust_names[t] : NULL;
}

int scenario_matches(const struct scenario *s, const char *k)
{
	size_t i;

	if (!s || !k || !*k)
		return 0;
	for (i = 0; i < s->keywords.n; i++)
		if (strcasecmp(s->keywords.v[i], k) == 0)
			return 1;
	return s->name && strcasestr(s->name, k) != NULL;
}
