/*
 * attack.h - the attack library: named attacks a scenario plays with the
 * `attack:` step (docs/attacks.md, scenarios/attacks/), for regression and
 * for teaching.
 *
 * An attack is played against a running lab (sim/lab.h) by the runner's
 * own code: it does what the attacker would (replays a request, swaps a
 * key, plants a symbolic link in a bundle, trickles a request...), then
 * says whether the fabric refused it, with the refusal's STATUS (the
 * documented name: an attestation status, "HTTP 400", "exit 2", ...) and
 * its REASON (the error line).  The step passes when the outcome is the one
 * expected (by default "refused") with the attack's documented status, and
 * its reason holds the step's `reason:` text when one is given.  After
 * every attack the step also checks that nothing of the tenant's is in any
 * lab file outside the tenant's own folder: no VM file content, no TK (raw
 * or hex).
 *
 * Attacks are defined in tables (one per family: attack_proto.c for the
 * protocol, attack_host.c for the host and its processes), which
 * attack_find and attack_at see as one list.
 */
#ifndef HGSLAB_SIM_ATTACK_H
#define HGSLAB_SIM_ATTACK_H

#include <stddef.h>

#include "sim/lab.h"
#include "sim/scenario.h"

/* What an attack needs before it can be played (the runner checks; the scenario arranges it). */
enum attack_needs {
	ATTACK_NEEDS_HOST = 1 << 0,       /* step host: (a host of the lab) */
	ATTACK_NEEDS_VM = 1 << 1,         /* step vm: a tenant VM, shielded by an earlier step */
	ATTACK_NEEDS_BY = 1 << 2,         /* step by: a second host (the attacker's) */
};

/* One play of an attack: its inputs, and what it fills. */
struct attack_run {
	struct lab *L;
	const struct sc_step *st;   /* st->host, st->vm, st->by (NULL when not given) */
	char *status;               /* malloc'd: the refusal's status, as documented */
	char *reason;               /* malloc'd: the refusal's reason (an error line), or NULL */
	char *detail;               /* malloc'd: what was tried, in a few words, or NULL */
};

/*
 * An attack.  PLAY returns 1 when the fabric refused it (STATUS and REASON
 * set), 0 when the attack succeeded (DETAIL says what it got), -1 when it
 * could not be played (hl_error set: the lab is broken, not the defence).
 * PLAY leaves the lab as it found it (whatever it planted is removed, a
 * component it stopped is running again), so attacks can share a fabric.
 */
struct attack_def {
	const char *name;         /* "nonce-replay": lowercase, digits and '-' */
	const char *family;       /* "attestation", "kps", "key protector", "bundle", ... */
	const char *title;        /* what the attacker does, one sentence */
	const char *status;       /* the documented refusal status */
	const char *concept;      /* why it is refused, in plain words, one or two sentences */
	unsigned needs;           /* enum attack_needs */
	int (*play)(struct attack_run *a);
};

/* The tables (NULL-name ended), one per family file. */
extern const struct attack_def attack_proto_defs[];
extern const struct attack_def attack_host_defs[];

/* The attack named NAME, or NULL. */
const struct attack_def *attack_find(const char *name);

/* The I-th attack of the library (0-based), NULL past the end. */
const struct attack_def *attack_at(size_t i);

/* Set A's status and reason (copies); returns 1 (a refusal), or -1 out of memory. */
int attack_refused(struct attack_run *a, const char *status, const char *reason);

/* Set A's detail (a copy, formatted); returns 0 (the attack succeeded). */
int attack_succeeded(struct attack_run *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first line of TEXT that holds "error:" (or its first line), malloc'd, NULL when empty. */
char *attack_err_line(const char *text);

/*
 * The TK of tenant VM V (its key protector made), opened with its owner's
 * keys in the tenant's folder, into TK (a secret: hl_buf_free cleanses it).
 */
struct hl_buf;
int attack_vm_tk(struct lab *L, const struct lab_vm *v, struct hl_buf *tk);

/*
 * The leak check run after every attack: each tenant VM's file contents (of
 * at least 8 bytes) and its TK (opened from its key protector with the
 * owner's keys in the tenant's folder, raw and as hex in either case)
 * searched in every file of the lab but the tenant's own folder.  0 with *WHERE NULL when
 * nothing was found, 0 with *WHERE (malloc'd: what was found where) when
 * something was, -1 when the search could not be done.
 */
int attack_leak_check(struct lab *L, char **where);

#endif
