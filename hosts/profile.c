/*
 * profile.c - boot profiles of guarded hosts: the named "baseline" profile,
 * the SPEC parser with its overrides, the canonical SPEC and JSON forms, and
 * the deterministic CI policy document (see profile.h for the contract).
 *
 * `host new --profile SPEC` parses a SPEC and stores the JSON form in the host
 * directory; hosts/measured_boot turns a profile into the host's measured boot.
 * One table (settings[]) drives parsing, printing, JSON and the error
 * messages, so adding a setting is one line here plus its field.
 */
#include "hosts/profile.h"

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/suggest.h"
#include "proto/attest.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum setting_kind {
	KIND_SWITCH,    /* int field, 0 or 1 */
	KIND_NAME,      /* char[HL_PROFILE_NAME_MAX + 1] field */
};

/* One setting of a profile. */
struct setting {
	const char *key;
	enum setting_kind kind;
	size_t offset;          /* of the field in struct hl_profile */
	const char *on, *off;   /* canonical words of a switch */
};

#define SWITCH(k, f, on, off) { k, KIND_SWITCH, offsetof(struct hl_profile, f), on, off }
#define NAME(k, f) { k, KIND_NAME, offsetof(struct hl_profile, f), NULL, NULL }

static const struct setting settings[] = {
	SWITCH("debug", debug, "on", "off"),
	SWITCH("secure_boot", secure_boot, "on", "off"),
	SWITCH("iommu", iommu, "on", "off"),
	SWITCH("hvci", hvci, "on", "off"),
	SWITCH("vsm", vsm, "on", "off"),
	NAME("ci_policy", ci_policy),
	NAME("firmware", firmware),
	SWITCH("resumed", resumed, "yes", "no"),
	SWITCH("pagefile_encryption", pagefile_encryption, "on", "off"),
	SWITCH("hibernation", hibernation, "on", "off"),
	SWITCH("dumps", dumps, "on", "off"),
	SWITCH("dump_encryption", dump_encryption, "on", "off"),
	NAME("dump_key", dump_key),
	SWITCH("bitlocker", bitlocker, "on", "off"),
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

const char *const hl_profile_keys[] = {
	"debug", "secure_boot", "iommu", "hvci", "vsm", "ci_policy", "firmware", "resumed",
	"pagefile_encryption", "hibernation", "dumps", "dump_encryption", "dump_key", "bitlocker",
	NULL,
};
_Static_assert(sizeof(hl_profile_keys) / sizeof(hl_profile_keys[0]) == N_SETTINGS + 1,
	       "hl_profile_keys must list every setting");

/* The named profiles; "baseline" is a healthy guarded host. */
static const struct hl_profile named_profiles[] = {
	{
		.base = "baseline",
		.debug = 0,
		.secure_boot = 1,
		.iommu = 1,
		.hvci = 1,
		.vsm = 1,
		.ci_policy = "HgsLabDefault",
		.firmware = "HGSLAB-UEFI-1.0.0",
		.resumed = 0,
		.pagefile_encryption = 1,
		.hibernation = 0,
		.dumps = 0,
		.dump_encryption = 1,
		.dump_key = "HgsLabDumpKey",
		.bitlocker = 1,
	},
};

#define N_PROFILES (sizeof(named_profiles) / sizeof(named_profiles[0]))

/* Write "; did you mean 'X'?" for the closest of CHOICES to WORD into BUF (or ""). */
static void did_you_mean(const char *word, const char *const *choices, size_t n, char *buf,
			 size_t size)
{
	const char *pick = hl_suggest_n(word, choices, n);

	buf[0] = '\0';
	if (pick)
		snprintf(buf, size, "; did you mean '%s'?", pick);
}

/* The setting named KEY, or NULL. */
static const struct setting *setting_find(const char *key)
{
	size_t i;

	for (i = 0; i < N_SETTINGS; i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

/* Error for an unknown setting KEY, with a suggestion and the valid keys. */
static int unknown_key(const char *key)
{
	const char *keys[N_SETTINGS];
	char hint[96], valid[512];
	size_t i, used = 0;

	for (i = 0; i < N_SETTINGS; i++)
		keys[i] = settings[i].key;
	did_you_mean(key, keys, N_SETTINGS, hint, sizeof(hint));
	valid[0] = '\0';
	for (i = 0; i < N_SETTINGS && used < sizeof(valid); i++)
		used += (size_t)snprintf(valid + used, sizeof(valid) - used, "%s%s", i ? ", " : "",
					 settings[i].key);
	return hl_error("unknown profile setting '%s'%s (valid settings: %s)", key, hint, valid);
}

/* 1 when S is a valid name or version: 1-63 characters of [A-Za-z0-9._+-]. */
static int valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > HL_PROFILE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

/* Parse a switch word into *ON; -1 when it is not one. */
static int parse_switch(const char *value, int *on)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(value, yes[i]) == 0) {
			*on = 1;
			return 0;
		}
		if (strcmp(value, no[i]) == 0) {
			*on = 0;
			return 0;
		}
	}
	return -1;
}

int hl_profile_init(struct hl_profile *p, const char *name)
{
	const char *names[N_PROFILES];
	char hint[96];
	size_t i;

	for (i = 0; i < N_PROFILES; i++) {
		names[i] = named_profiles[i].base;
		if (name && strcmp(name, named_profiles[i].base) == 0) {
			*p = named_profiles[i];
			return 0;
		}
	}
	did_you_mean(name ? name : "", names, N_PROFILES, hint, sizeof(hint));
	return hl_error("unknown boot profile '%s'%s (valid profiles: baseline)", name ? name : "",
			hint);
}

int hl_profile_set(struct hl_profile *p, const char *key, const char *value)
{
	const struct setting *s;
	int on;

	if (!key || !value)
		return hl_error("cannot set a profile setting: no key or value given");
	s = setting_find(key);
	if (!s)
		return unknown_key(key);
	if (s->kind == KIND_SWITCH) {
		if (parse_switch(value, &on) < 0)
			return hl_error("bad value '%s' for profile setting '%s'; use %s or %s", value,
					key, s->on, s->off);
		*(int *)((char *)p + s->offset) = on;
		return 0;
	}
	if (!valid_name(value))
		return hl_error("bad value '%s' for profile setting '%s': use 1-%d characters of "
				"A-Z a-z 0-9 . _ + -", value, key, HL_PROFILE_NAME_MAX);
	snprintf((char *)p + s->offset, HL_PROFILE_NAME_MAX + 1, "%s", value);
	return 0;
}

/* Strip blanks from both ends of S in place; returns S. */
static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

int hl_profile_parse(const char *spec, struct hl_profile *out)
{
	struct hl_profile p;
	char *copy = NULL, *item, *save = NULL, *eq, *first;
	unsigned seen = 0;
	int ret = -1;
	size_t n;

	if (!spec)
		return hl_error("no boot profile given; use a SPEC like 'baseline,debug=on'");
	copy = strdup(spec);
	if (!copy)
		return hl_error("cannot parse boot profile '%s': out of memory", spec);
	n = strlen(copy);
	if (n == 0 || copy[n - 1] == ',' || copy[0] == ',' || strstr(copy, ",,")) {
		hl_error("bad boot profile '%s': an empty setting; write 'baseline' or "
			 "'baseline,KEY=VALUE,...'", spec);
		goto out;
	}
	first = trim(strtok_r(copy, ",", &save));
	if (!strchr(first, '=')) {
		if (hl_profile_init(&p, first) < 0)
			goto out;
		item = strtok_r(NULL, ",", &save);
	} else {
		if (hl_profile_init(&p, "baseline") < 0)
			goto out;
		item = first;
	}
	for (; item; item = strtok_r(NULL, ",", &save)) {
		const struct setting *s;
		size_t idx;

		item = trim(item);
		eq = strchr(item, '=');
		if (!eq) {
			hl_error("bad boot profile '%s': setting '%s' has no value; write KEY=VALUE "
				 "(a named profile may only come first)", spec, item);
			goto out;
		}
		*eq = '\0';
		item = trim(item);
		s = setting_find(item);
		if (!s) {
			unknown_key(item);
			goto out;
		}
		idx = (size_t)(s - settings);
		if (seen & (1u << idx)) {
			hl_error("bad boot profile '%s': setting '%s' is given twice", spec, item);
			goto out;
		}
		seen |= 1u << idx;
		if (hl_profile_set(&p, item, trim(eq + 1)) < 0)
			goto out;
	}
	*out = p;
	ret = 0;
out:
	free(copy);
	return ret;
}

/* The named profile P is based on (P's base is always a known one). */
static const struct hl_profile *base_of(const struct hl_profile *p)
{
	size_t i;

	for (i = 0; i < N_PROFILES; i++)
		if (strcmp(p->base, named_profiles[i].base) == 0)
			return &named_profiles[i];
	return NULL;
}

/* Setting S of P as text: "on", "HgsLabDefault". */
static const char *setting_text(const struct hl_profile *p, const struct setting *s)
{
	if (s->kind == KIND_SWITCH)
		return *(const int *)((const char *)p + s->offset) ? s->on : s->off;
	return (const char *)p + s->offset;
}

int hl_profile_to_spec(const struct hl_profile *p, char **out)
{
	const struct hl_profile *base = base_of(p);
	char buf[1024];
	size_t used, i;

	*out = NULL;
	if (!base)
		return hl_error("cannot print boot profile: unknown base profile '%s'", p->base);
	used = (size_t)snprintf(buf, sizeof(buf), "%s", p->base);
	for (i = 0; i < N_SETTINGS && used < sizeof(buf); i++) {
		const char *mine = setting_text(p, &settings[i]);

		if (strcmp(mine, setting_text(base, &settings[i])) == 0)
			continue;
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, ",%s=%s", settings[i].key,
					 mine);
	}
	if (used >= sizeof(buf))
		return hl_error("cannot print boot profile: too long");
	*out = strdup(buf);
	if (!*out)
		return hl_error("cannot print boot profile: out of memory");
	return 0;
}

int hl_profile_equal(const struct hl_profile *a, const struct hl_profile *b)
{
	size_t i;

	if (strcmp(a->base, b->base) != 0)
		return 0;
	for (i = 0; i < N_SETTINGS; i++)
		if (strcmp(setting_text(a, &settings[i]), setting_text(b, &settings[i])) != 0)
			return 0;
	return 1;
}

int hl_profile_to_json(const struct hl_profile *p, json_t **out)
{
	json_t *j;
	size_t i;
	int ok;

	*out = NULL;
	j = json_object();
	ok = j && json_object_set_new(j, "base", json_string(p->base)) == 0;
	for (i = 0; ok && i < N_SETTINGS; i++)
		ok = json_object_set_new(j, settings[i].key,
					 json_string(setting_text(p, &settings[i]))) == 0;
	if (!ok) {
		json_decref(j);
		return hl_error("cannot write boot profile as JSON: out of memory");
	}
	*out = j;
	return 0;
}

int hl_profile_from_json(const json_t *j, struct hl_profile *out)
{
	struct hl_profile p;
	const char *base, *key;
	json_t *v;

	if (!json_is_object(j))
		return hl_error("bad boot profile: expected a JSON object like "
				"{\"base\": \"baseline\", \"debug\": \"on\"}");
	if (hl_json_get_string_opt(j, "base", "baseline", &base) < 0)
		return hl_error_wrap("bad boot profile");
	if (hl_profile_init(&p, base) < 0)
		return -1;
	json_object_foreach((json_t *)j, key, v) {
		const struct setting *s;

		if (strcmp(key, "base") == 0)
			continue;
		s = setting_find(key);
		if (!s)
			return unknown_key(key);
		if (s->kind == KIND_SWITCH && json_is_boolean(v)) {
			*(int *)((char *)&p + s->offset) = json_is_true(v);
			continue;
		}
		if (!json_is_string(v))
			return hl_error("bad boot profile: setting '%s' must be %s", key,
					s->kind == KIND_SWITCH ? "a string (on or off) or a boolean" :
					"a string");
		if (hl_profile_set(&p, key, json_string_value(v)) < 0)
			return -1;
	}
	*out = p;
	return 0;
}

/* The CI policy document of NAME as JSON, with POLICY_ID; NULL when out of memory. */
static json_t *ci_policy_json(const char *name, const char *policy_id)
{
	static const struct {
		const char *id, *action, *signer, *scope;
	} rules[] = {
		{ "ID_SIGNER_WINDOWS", "allow", "Microsoft Windows Production PCA 2011", "kernel,user" },
		{ "ID_SIGNER_HGSLAB", "allow", "hgslab Guarded Host Components", "kernel,user" },
		{ "ID_SIGNER_WHQL", "allow", "Microsoft Windows Third Party Component CA 2012",
		  "kernel" },
		{ "ID_DENY_UNSIGNED", "deny", "*", "kernel" },
	};
	json_t *doc, *arr, *o;
	size_t i;
	int ok;

	doc = json_pack("{s:s, s:s, s:s, s:s, s:[s, s, s], s:[]}", "format", HGS_CI_POLICY_FORMAT,
			"name", name, "policy_id", policy_id, "version", "10.0.0.0", "options",
			"Enabled:Unsigned System Integrity Policy", "Enabled:UMCI",
			"Required:Enforce Store Applications", "rules");
	arr = doc ? json_object_get(doc, "rules") : NULL;
	ok = arr != NULL;
	for (i = 0; ok && i < sizeof(rules) / sizeof(rules[0]); i++) {
		o = json_pack("{s:s, s:s, s:s, s:s}", "id", rules[i].id, "action", rules[i].action,
			      "signer", rules[i].signer, "scope", rules[i].scope);
		ok = o && json_array_append_new(arr, o) == 0;
	}
	if (!ok) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int hl_profile_ci_policy_document(const char *name, char **out, size_t *len)
{
	uint8_t id[32];
	char policy_id[40], *text = NULL, *buf;
	json_t *doc = NULL;
	size_t n;
	int ret = -1;

	*out = NULL;
	*len = 0;
	if (!name || !valid_name(name))
		return hl_error("cannot make CI policy '%s': a policy name is 1-%d characters of "
				"A-Z a-z 0-9 . _ + -", name ? name : "", HL_PROFILE_NAME_MAX);
	/* a stable PolicyID GUID derived from the name */
	if (hl_crypto_sha256(name, strlen(name), id) < 0)
		return -1;
	snprintf(policy_id, sizeof(policy_id),
		 "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", id[0],
		 id[1], id[2], id[3], id[4], id[5], (id[6] & 0x0f) | 0x40, id[7],
		 (id[8] & 0x3f) | 0x80, id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
	doc = ci_policy_json(name, policy_id);
	text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	n = text ? strlen(text) : 0;
	buf = text ? malloc(n + 2) : NULL;
	if (!buf) {
		hl_error("cannot make CI policy '%s': out of memory", name);
		goto out;
	}
	memcpy(buf, text, n);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	*out = buf;
	*len = n + 1;
	ret = 0;
out:
	free(text);
	json_decref(doc);
	return ret;
}

int hl_profile_ci_policy_sha256(const char *name, uint8_t out[32])
{
	char *doc;
	size_t len;
	int ret;

	if (hl_profile_ci_policy_document(name, &doc, &len) < 0)
		return -1;
	ret = hl_crypto_sha256(doc, len, out);
	free(doc);
	return ret;
}

int hl_profile_dump_key_sha256(const char *name, uint8_t out[32])
{
	char buf[128];
	int n;

	if (!name || !valid_name(name))
		return hl_error("cannot name dump encryption key '%s': use 1-%d characters of "
				"A-Z a-z 0-9 . _ + -", name ? name : "", HL_PROFILE_NAME_MAX);
	n = snprintf(buf, sizeof(buf), "hgslab dump encryption public key: %s", name);
	return hl_crypto_sha256(buf, (size_t)n, out);
}
