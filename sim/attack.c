/*
 * attack.c - the attack library's registry (the family tables of
 * attack_proto.c and attack_host.c seen as one list), the helpers attacks
 * share, and the leak check run after each attack (sim/attack.h).
 */
#include "sim/attack.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "sim/search.h"
#include "tenant/guardian.h"

/* The family tables, in listing order. */
static const struct attack_def *const tables[] = { attack_proto_defs, attack_host_defs };

const struct attack_def *attack_at(size_t i)
{
	size_t t, k;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (k = 0; tables[t][k].name; k++)
			if (i-- == 0)
				return &tables[t][k];
	return NULL;
}

const struct attack_def *attack_find(const char *name)
{
	const struct attack_def *d;
	size_t i;

	for (i = 0; (d = attack_at(i)); i++)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

int attack_refused(struct attack_run *a, const char *status, const char *reason)
{
	free(a->status);
	free(a->reason);
	a->status = strdup(status);
	a->reason = reason ? strdup(reason) : NULL;
	if (!a->status || (reason && !a->reason))
		return hl_error("out of memory");
	return 1;
}

int attack_succeeded(struct attack_run *a, const char *fmt, ...)
{
	va_list ap;

	free(a->detail);
	va_start(ap, fmt);
	if (vasprintf(&a->detail, fmt, ap) < 0)
		a->detail = NULL;
	va_end(ap);
	return 0;
}

char *attack_err_line(const char *text)
{
	const char *p, *e;

	if (!text || !*text)
		return NULL;
	p = strstr(text, "error:");
	if (p)
		while (p > text && p[-1] != '\n')
			p--;
	else
		p = text;
	e = strchr(p, '\n');
	return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

int attack_vm_tk(struct lab *L, const struct lab_vm *v, struct hl_buf *tk)
{
	struct hl_guardian *g = NULL;
	const struct hl_kp_entry *e;
	struct hl_kp *kp = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (hl_file_read(v->kp, HL_KP_MAX_SIZE, &text, &len) < 0 ||
	    hl_kp_parse(text, len, &kp) < 0 ||
	    hl_guardian_load(L->tenant, v->sc->owner, HL_GUARDIAN_LOAD_KEYS, &g) < 0 ||
	    hl_kp_find(kp, g->encryption_thumbprint, &e) < 0 ||
	    hl_kp_unwrap_entry(e, g->encryption_key, tk) < 0)
		goto out;
	rc = 0;
out:
	hl_guardian_free(g);
	hl_kp_free(kp);
	free(text);
	return rc;
}

/* Search the lab (but the tenant's folder) for LEN bytes TEXT; append "WHAT in FILE" to *WHERE. */
static int leak_search(struct lab *L, const void *text, size_t len, const char *what,
		       char **where)
{
	struct sim_search S;
	char *more = NULL;
	int rc;

	if ((rc = sim_search_run(&S, L->work, text, len, L->tenant)) == 0 && S.found) {
		if (asprintf(&more, "%s%s%s in %s", *where ? *where : "", *where ? "; " : "", what,
			     S.first + strlen(L->work) + 1) < 0)
			rc = hl_error("out of memory");
		else {
			free(*where);
			*where = more;
		}
	}
	sim_search_release(&S);
	return rc;
}

#define LEAK_MIN 8   /* a shorter text is found in ciphertext by chance */

int attack_leak_check(struct lab *L, char **where)
{
	size_t i, k;
	int rc = 0;

	*where = NULL;
	for (i = 0; rc == 0 && L->s && i < L->s->n_vms && i < L->n_vms; i++) {
		const struct lab_vm *v = &L->vms[i];
		struct hl_buf tk = { NULL, 0 };
		char hex[2 * HL_KP_TK_LEN + 1], what[96];

		if (!v->sc)
			continue;
		for (k = 0; rc == 0 && k < v->sc->n_files; k++) {
			const char *t = v->sc->files[k].content;
			size_t len = strlen(t);

			while (len && t[len - 1] == '\n')
				len--;
			snprintf(what, sizeof(what), "VM %s's file %s", v->name, v->sc->files[k].name);
			if (len >= LEAK_MIN)
				rc = leak_search(L, t, len, what, where);
		}
		/* the TK: only once the KP exists (the tenant made it) */
		if (rc < 0 || hl_file_exists(v->kp) != 1)
			continue;
		if (attack_vm_tk(L, v, &tk) < 0) {
			rc = hl_error_wrap("the leak check cannot open VM %s's key protector", v->name);
			break;
		}
		for (k = 0; k < tk.len && k < HL_KP_TK_LEN; k++)
			snprintf(hex + 2 * k, 3, "%02x", tk.data[k]);
		snprintf(what, sizeof(what), "VM %s's TK", v->name);
		rc = leak_search(L, tk.data, tk.len, what, where);
		snprintf(what, sizeof(what), "VM %s's TK (hex)", v->name);
		if (rc == 0)
			rc = leak_search(L, hex, 2 * tk.len, what, where);
		/* and in uppercase, as hl_crypto_hex_encode writes it */
		for (k = 0; k < 2 * tk.len; k++)
			hex[k] = (char)toupper((unsigned char)hex[k]);
		snprintf(what, sizeof(what), "VM %s's TK (HEX)", v->name);
		if (rc == 0)
			rc = leak_search(L, hex, 2 * tk.len, what, where);
		hl_crypto_cleanse(hex, sizeof(hex));
		hl_buf_free(&tk);
	}
	if (rc < 0) {
		free(*where);
		*where = NULL;
	}
	return rc;
}
