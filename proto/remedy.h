/*
 * remedy.h - what to do about a refusal: one plain-words sentence for each
 * AttestationStatus, each AttestationSubStatus (proto/attest.h) and each
 * reason the Key Protection Service gives for a refusal (the names of
 * hgs/kps.h hgs_kps_reason_name; proto/ cannot include hgs/, so the KPS
 * reasons are keyed by name here and tests/unit/test_remedy.c checks every
 * reason KPS has is in the table).
 *
 * The table is the one place: `hgslab run`'s human and JSON reports
 * (sim/report.c, the "remedy:" line and the "Remedy" key), `hgslab
 * diagnose` (sim/diag_fabric.c) and docs/diagnose.md (whose table
 * tests/cli/diagnose.sh compares with `hgslab diagnose --remedies`) all
 * read it.
 */
#ifndef HGSLAB_PROTO_REMEDY_H
#define HGSLAB_PROTO_REMEDY_H

#include <stdint.h>

#include "proto/attest.h"

/* What a remedy answers. */
enum hl_remedy_kind {
	HL_REMEDY_STATUS = 0,   /* an AttestationStatus */
	HL_REMEDY_SUBSTATUS,    /* an AttestationSubStatus */
	HL_REMEDY_KPS,          /* a KPS refusal reason */
};

/* One row: KIND, the name HGS or KPS prints, the sentence. */
struct hl_remedy {
	enum hl_remedy_kind kind;
	const char *name;       /* "DebugMode", "GuardianNotListed" */
	const char *remedy;     /* one sentence, no trailing full stop */
};

/* Every row, in the order of proto/attest.h and hgs/kps.h; ends with a NULL name. */
extern const struct hl_remedy hl_remedies[];

/* "AttestationStatus", "AttestationSubStatus", "KPS reason". */
const char *hl_remedy_kind_name(enum hl_remedy_kind kind);

/* The remedy of status S; NULL for Passed or an out-of-range value. */
const char *hl_remedy_status(enum hgs_status s);

/* The remedy of the sub-status BIT (exactly one HGS_SUB_* bit); NULL otherwise. */
const char *hl_remedy_substatus(uint32_t bit);

/* The remedy of the KPS reason NAME ("GuardianNotListed"); NULL for Released or an unknown name. */
const char *hl_remedy_kps(const char *name);

/*
 * The remedy of a refusal as a report states it: GOT ("refused", or an
 * AttestationStatus possibly followed by " (SubStatus, ...)"), the actual
 * SUBSTATUS list ("DebugMode, Iommu") and REASON (the component's sentence,
 * e.g. "key release refused by 'URL': GuardianNotListed: ...").  Any may be
 * NULL.  NULL when GOT is no refusal (Passed, "running", ...) or when
 * nothing names a known status, sub-status or KPS reason.  The first match
 * wins, in this order: a sub-status of SUBSTATUS, a KPS reason named in
 * REASON, a sub-status named in REASON, the status of GOT, a status named
 * in REASON.  Names match as whole words.
 */
const char *hl_remedy_find(const char *got, const char *substatus, const char *reason);

#endif
