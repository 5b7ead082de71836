/*
 * diag.h - the lab's self-checks, shared by `hgslab diagnose` and `hgslab demo`.
 *
 * Each check has a name, a verdict (ok, warn, fail) and a detail sentence; a
 * failed check says what to do.  Checks that start parts (swtpm) stop them
 * before returning.
 */
#ifndef HGSLAB_SIM_DIAG_H
#define HGSLAB_SIM_DIAG_H

#include <jansson.h>

enum hl_diag_verdict { HL_DIAG_OK, HL_DIAG_WARN, HL_DIAG_FAIL };

/* Run every check; append {Name, Verdict, Detail} objects to RESULTS.
 * PROGRESS, when set, gets one human line per check as it finishes.
 * Returns the number of failed checks. */
int hl_diag_run(json_t *results, int progress);

/* "ok", "warn" or "fail". */
const char *hl_diag_verdict_name(enum hl_diag_verdict v);

/* Append one result to RESULTS and print it when PROGRESS is set. */
void hl_diag_add(json_t *results, int progress, const char *name, enum hl_diag_verdict v,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The live round trips (sim/diag_live.c); returns the number of failures. */
int hl_diag_live(json_t *results, int progress);

/* Start a real swtpm and drive it with tpm2-tss (sim/diag_tpm.c). */
int hl_diag_tpm(json_t *results, int progress);

#endif
