/*
 * trace.h - the trace of one exchange with the HGS node: what the host sent,
 * each check HGS or KPS made with its verdict, and the answer, in the order
 * they happened.  Every attestation attempt and every key release records
 * its trace with its log entry (hgs/db.h, the `trace` field of
 * hgs_attest_log_entry and hgs_kps_log_entry); the dashboard's sequence
 * diagrams (web/seq.js), the run report and `hgs get-attestation-log
 * --trace ID` read it back.
 *
 * The JSON a trace is written as (docs/attestation-protocol.md "Exchange
 * traces"):
 *   {"Kind": "Attestation" | "KeyRelease",
 *    "Participants": ["Host", "HGS"]  (a key release: ["Host", "KPS"]),
 *    "Steps": [{"From", "To", "Kind": "Message" | "Check", "Label",
 *               "Check" (checks only), "Verdict" (checks only: "Pass",
 *               "Fail", "Skip" or "Info"), "Detail" (when there is one)}],
 *    "StepsDropped": N  (only when more than HGS_TRACE_MAX_STEPS were added)}
 *
 * Building is cheap on purpose (it runs inside every attestation): a trace
 * lives in its caller's storage (a local of the request handler: no
 * allocation), steps go into a fixed array of fixed-size strings,
 * printf-formatted and cut to their caps (HGS_TRACE_LABEL_MAX,
 * HGS_TRACE_DETAIL_MAX, ending in "..."), every byte outside printable
 * ASCII replaced by '?' (so any text - an untrusted certificate name, an
 * error message - stays valid JSON), and the JSON is written once, at the
 * end (hgs_trace_json).  When a trace is full, each further step replaces
 * the last one (the answer always ends a trace) and is counted in
 * StepsDropped.
 *
 * Never put a secret in a trace: no TK, no private key, no nonce in full
 * (HGS_TRACE_NONCE_SHOWN bytes at most), only thumbprints and fingerprints
 * of keys, shortened.
 *
 * Every function but hgs_trace_init accepts a NULL trace and then does
 * nothing: a route that keeps no trace passes NULL and decides the same
 * way.  A trace belongs to one request thread; nothing here locks.
 */
#ifndef HGSLAB_HGS_TRACE_H
#define HGSLAB_HGS_TRACE_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/err.h"
#include "proto/attest.h"

#define HGS_TRACE_MAX_STEPS 64
#define HGS_TRACE_LABEL_MAX 160     /* bytes, NUL included */
#define HGS_TRACE_DETAIL_MAX 288    /* bytes, NUL included: under 300 characters */
#define HGS_TRACE_NONCE_SHOWN 4     /* leading nonce bytes a trace may show */
#define HGS_TRACE_THUMB_SHOWN 16    /* hex digits of a thumbprint or fingerprint shown */

enum hgs_trace_kind {
	HGS_TRACE_ATTESTATION,      /* participants Host, HGS */
	HGS_TRACE_KEY_RELEASE,      /* participants Host, KPS */
};

/* Who sends a message: the host, or the node (HGS or KPS, by the trace's kind). */
enum hgs_trace_party {
	HGS_TRACE_HOST,
	HGS_TRACE_NODE,
};

enum hgs_trace_verdict {
	HGS_TRACE_PASS,
	HGS_TRACE_FAIL,
	HGS_TRACE_SKIP,             /* not evaluated: disabled, or not applicable */
	HGS_TRACE_INFO,             /* a fact, not a check that could fail */
};

/* One step (private: use the functions below). */
struct hgs_trace_step {
	unsigned char kind;                     /* message or check */
	unsigned char from;                     /* enum hgs_trace_party */
	unsigned char verdict;                  /* enum hgs_trace_verdict (checks) */
	const char *check;                      /* a string constant (checks), else NULL */
	char label[HGS_TRACE_LABEL_MAX];        /* printable ASCII */
	char detail[HGS_TRACE_DETAIL_MAX];      /* printable ASCII, "" when none */
};

/*
 * A trace (members private).  Invariant: n <= HGS_TRACE_MAX_STEPS; dropped
 * counts the steps replaced because it was full.  About 30 KB: a local of
 * a request handler, initialized with hgs_trace_init; nothing to free.
 */
struct hgs_trace {
	enum hgs_trace_kind kind;
	size_t n;
	size_t dropped;
	struct hgs_trace_step steps[HGS_TRACE_MAX_STEPS];
};

/* Make T an empty trace of KIND. */
void hgs_trace_init(struct hgs_trace *t, enum hgs_trace_kind kind);

/* The number of steps T holds (0 for NULL). */
size_t hgs_trace_steps(const struct hgs_trace *t);

/* Keep only the first N steps of T (what a step count hgs_trace_steps gave held). */
void hgs_trace_truncate(struct hgs_trace *t, size_t n);

/* Append a message from FROM to the other party, its label formatted. */
void hgs_trace_message(struct hgs_trace *t, enum hgs_trace_party from, const char *fmt, ...)
	HL_PRINTF(3, 4);

/*
 * Append to the label of step INDEX (a message added before) the formatted
 * text: how a handler says what the request carried once it has read it.
 * Nothing happens when there is no such step.
 */
void hgs_trace_amend(struct hgs_trace *t, size_t index, const char *fmt, ...) HL_PRINTF(3, 4);

/*
 * Append a check made by the node: CHECK its name (a string constant of
 * printable ASCII, an identifier: it is kept by pointer and written as it
 * is), LABEL what it checks in a few words
 * (copied), VERDICT, and a formatted detail (DETAIL_FMT NULL: none).
 */
void hgs_trace_check(struct hgs_trace *t, const char *check, enum hgs_trace_verdict verdict,
		     const char *label, const char *detail_fmt, ...) HL_PRINTF(5, 6);

/*
 * A check decided by an attestation result: Pass when RES is Passed (with
 * the formatted detail), else Fail with RES's reason as the detail.
 */
void hgs_trace_result(struct hgs_trace *t, const char *check, const char *label,
		      const struct hgs_result *res, const char *pass_fmt, ...) HL_PRINTF(5, 6);

/*
 * The answer to the host, from the node: "STATUS (SUBSTATUS...)" for an
 * attestation result RES, with its reason as the detail; HTTP_STATUS other
 * than 200 is put before it.
 */
void hgs_trace_answer(struct hgs_trace *t, int http_status, const struct hgs_result *res);

/* The trace as compact JSON text (the shape above) into *OUT (free()); -1 on out of memory. */
int hgs_trace_json(const struct hgs_trace *t, char **out);

/*
 * Print a trace read back from a log (TRACE: the "Trace" object of an entry;
 * null or not an object prints one line saying the entry has none) for a
 * person: one line a step, checks marked ✓ (Pass), ✗ (Fail), – (Skip) or
 * · (Info), messages as "FROM → TO", details indented below.
 */
void hgs_trace_print(FILE *f, const json_t *trace);

#endif
