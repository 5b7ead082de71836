/*
 * names.c - the name validators of names.h.  Each kind of name has exactly
 * one rule, used by the component that stores the name (hosts/, fabric/,
 * hgs/, tenant/, vm/) and by the scenario checker, so a name a verb would
 * refuse never reaches a lab.  The rules are plain ASCII on purpose: these
 * names become file names, certificate subjects and command-line words.
 */
#include "proto/names.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "lib/err.h"

/* 1 when C is an ASCII letter or digit (isalnum() without the locale). */
static int ascii_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Check a NetBIOS computer name. */
int hl_name_computer(const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0, digits = 0;

	if (n == 0 || n >= HL_NAME_COMPUTER_SIZE)
		return hl_error("invalid %s '%s': a NetBIOS computer name has 1 to %d characters",
				what, name ? name : "", HL_NAME_COMPUTER_SIZE - 1);
	for (size_t i = 0; i < n; i++) {
		if (!ascii_alnum((unsigned char)name[i]) && name[i] != '-')
			return hl_error("invalid %s '%s': use letters, digits and '-' only, e.g. "
					"FabricHost1", what, name);
		digits += isdigit((unsigned char)name[i]) != 0;
	}
	if (name[0] == '-' || digits == n)
		return hl_error("invalid %s '%s': it must not start with '-' or be all digits", what,
				name);
	return 0;
}

/* Check a group name against AD's forbidden characters. */
int hl_name_group(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= HL_NAME_GROUP_SIZE)
		return hl_error("invalid group name '%s': it must have 1 to %d characters",
				name ? name : "", HL_NAME_GROUP_SIZE - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c > 0x7e || strchr("/\\[]:;|=,+*?<>@\"", c))
			return hl_error("invalid group name '%s': use printable ASCII without any of "
					"/\\[]:;|=,+*?<>@\" (e.g. GuardedHosts)", name);
	}
	if (name[0] == ' ' || name[n - 1] == ' ')
		return hl_error("invalid group name '%s': it must not start or end with a space", name);
	return 0;
}

/* Check the S-1-... form of a security identifier. */
int hl_name_sid(const char *sid)
{
	const char *p;
	int parts = 0;

	if (!sid || strncmp(sid, "S-1-", 4) != 0)
		goto bad;
	for (p = sid + 4;;) {
		const char *start = p;
		uintmax_t v = 0;

		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (uintmax_t)(*p - '0');
			if (v > (parts == 0 ? 0xFFFFFFFFFFFFull : 0xFFFFFFFFull) || p - start > 15)
				goto bad;
			p++;
		}
		if (p == start)
			goto bad;
		parts++;
		if (*p == '\0')
			break;
		if (*p != '-')
			goto bad;
		p++;
	}
	if (parts < 2 || parts > 16)
		goto bad;
	if (p - sid >= HL_NAME_SID_SIZE)
		return hl_error("invalid SID '%s': longer than %d characters", sid,
				HL_NAME_SID_SIZE - 1);
	return 0;
bad:
	return hl_error("invalid SID '%s': expected the S-1-5-21-... form of a security "
			"identifier, e.g. S-1-5-21-3623811015-3361044348-30300820-1013",
			sid ? sid : "");
}

/* Check an HGS service name. */
int hl_name_hgs(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= HL_NAME_HGS_SIZE)
		return hl_error("invalid HGS name '%s': it must have 1 to %d characters",
				name ? name : "", HL_NAME_HGS_SIZE - 1);
	for (size_t i = 0; i < n; i++)
		if (!ascii_alnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return hl_error("invalid HGS name '%s': use letters, digits, '.', '_' and "
					"'-' only, e.g. MyHgsService", name);
	return 0;
}

/* Check a VM name. */
int hl_name_vm(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	int ok = n > 0 && n < HL_NAME_VM_SIZE && name[0] != '.';

	for (size_t i = 0; ok && i < n; i++)
		ok = ascii_alnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' ||
		     name[i] == '-';
	if (!ok)
		return hl_error("bad VM name '%s': use 1 to %d of A-Z a-z 0-9 . _ - (not starting "
				"with '.')", name ? name : "", HL_NAME_VM_SIZE - 1);
	return 0;
}

/* Check a name of the guardian rule; KIND ("guardian", "signer") names it in messages. */
static int name_simple(const char *kind, const char *name)
{
	size_t len;

	if (!name || !*name)
		return hl_error("the %s name is empty; give one with --name", kind);
	len = strlen(name);
	if (len >= HL_NAME_GUARDIAN_SIZE)
		return hl_error("%s name '%.80s' is too long: at most %d characters", kind, name,
				HL_NAME_GUARDIAN_SIZE - 1);
	if (name[0] == '.')
		return hl_error("%s name '%s' starts with '.': use letters, digits, '.', "
				"'_' and '-' only, not first '.'", kind, name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!ascii_alnum(c) && c != '.' && c != '_' && c != '-')
			return hl_error("%s name '%s' contains '%c': use letters, digits, "
					"'.', '_' and '-' only", kind, name, isprint(c) ? c : '?');
	}
	return 0;
}

/* Check a tenant guardian name. */
int hl_name_guardian(const char *name)
{
	return name_simple("guardian", name);
}

/* Check a template signer name. */
int hl_name_signer(const char *name)
{
	return name_simple("signer", name);
}

/* Check a name HGS records. */
int hl_name_registration(const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= HL_NAME_REG_SIZE)
		return hl_error("invalid %s '%s': it must have 1 to %d characters", what,
				name ? name : "", HL_NAME_REG_SIZE - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
			return hl_error("invalid %s: it may hold printable ASCII characters only",
					what);
	if (name[0] == ' ' || name[n - 1] == ' ')
		return hl_error("invalid %s '%s': it must not start or end with a space", what,
				name);
	return 0;
}
