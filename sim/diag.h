/*
 * diag.h - `hgslab diagnose`: the lab's self-checks of this machine (shared
 * with `hgslab demo`), and the diagnostics of a running fabric in the
 * spirit of Get-HgsTrace -RunDiagnostics (sim/diag_fabric.c, with the
 * baseline difference of sim/diag_baseline.c).
 *
 * Machine checks have a name, a verdict (ok, warn, fail) and a detail
 * sentence; a failed check says what to do.  Checks that start parts
 * (swtpm) stop them before returning.
 *
 * Fabric diagnostics give a tree: one component per HGS node and per host,
 * each with its checks, each check Pass, Warning or Fail with a detail and,
 * when not Pass, a remedy (proto/remedy.h where a status names the cause).
 * They only read: the node's store and files, the host's directory, and one
 * GET of each HGS's /Attestation/v1/info.  docs/diagnose.md documents them.
 */
#ifndef HGSLAB_SIM_DIAG_H
#define HGSLAB_SIM_DIAG_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "hgs/policy.h"
#include "proto/tcglog.h"

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

/* ---- a running fabric ---- */

/* One HGS node to diagnose: its directory, and how to reach it when known. */
struct hl_diag_hgs {
	const char *dir;
	const char *url;          /* "http://hgs.relecloud.com:8080" or NULL */
	const char *resolve;      /* "hgs.relecloud.com:8080:127.0.0.2" or NULL */
};

/* One host to diagnose and the HGS (index into the nodes) it attests to, -1 when unknown. */
struct hl_diag_host {
	const char *dir;
	int hgs;
};

/* What to diagnose. */
struct hl_diag_fabric {
	struct hl_diag_hgs *hgs;
	size_t n_hgs;
	struct hl_diag_host *hosts;
	size_t n_hosts;
	const char *dc_dir;       /* the fabric DC's directory, or NULL */
};

/*
 * The fabric of the `up` lab in WORK (WORK/lab.json) into *OUT; the strings
 * point into *LAB, which the caller json_decref()s after OUT's last use
 * (and frees OUT's arrays with hl_diag_fabric_release).
 */
int hl_diag_fabric_from_lab(const char *work, json_t **lab, struct hl_diag_fabric *out);

/* Free the arrays of F (not the strings); NULL-safe. */
void hl_diag_fabric_release(struct hl_diag_fabric *f);

/*
 * 0 when DIR is an HGS node directory (KIND "hgs") or a host directory
 * (KIND "host"); -1 naming DIR and what it is not.
 */
int hl_diag_check_dir(const char *dir, const char *kind);

/*
 * Diagnose F into *TREE: {"Components": [{"Kind": "HGS"|"Host"|"DC", "Name",
 * "Dir", "Verdict", "Checks": [{"Name", "Verdict", "Detail", "Remedy",
 * "Evidence"?}]}], "Verdict", "Failed", "Warnings"}; verdicts are "Pass",
 * "Warning", "Fail" (a component's is its worst check's).  Returns the
 * number of failed checks, -1 on an internal error.
 */
int hl_diag_fabric_run(const struct hl_diag_fabric *f, json_t **tree);

/* Print TREE (hl_diag_fabric_run's) as an indented tree on OUT. */
void hl_diag_fabric_print(FILE *out, const json_t *tree);

/* ---- the baseline difference (sim/diag_baseline.c) ---- */

/*
 * Compare the events of HOST's and BASE's logs in the PCRs of the mask PCRS
 * (bit n: PCR n), per PCR on their SHA-256 digests; append one sentence per
 * difference to LINES (NULL: count only), e.g. "PCR 0 differs: event 7
 * EV_EFI_PLATFORM_FIRMWARE_BLOB changed: a firmware update; register a new
 * baseline" (event numbers are HOST's, or BASE's for a removed event).
 * Returns the number of differing events, -1 on an error.
 */
long hl_diag_tcglog_diff(const struct hl_tcglog *host, const struct hl_tcglog *base, uint32_t pcrs,
			 json_t *lines);

/* The registered baseline nearest a host's log. */
struct hl_diag_nearest {
	const char *name;         /* the baseline's name (borrowed); NULL when none is registered */
	long differing;           /* events that differ, -1 when none is registered */
	json_t *lines;            /* the differences (hl_diag_tcglog_diff), owned; NULL when none */
};

/*
 * The baseline of BASELINES[0..N) with the fewest events differing from
 * HOST in the PCRs of PCRS, and its differences, into *OUT
 * (json_decref(out->lines) after use).  -1 when a baseline does not parse.
 */
int hl_diag_baseline_nearest(const struct hl_tcglog *host, const struct hgs_baseline *baselines,
			     size_t n, uint32_t pcrs, struct hl_diag_nearest *out);

#endif
