/*
 * report.h - what `hgslab run` says about the scenarios it ran, in five
 * forms: human (one line per step as it happens, a closing summary), TAP,
 * JUnit XML, JSON and HTML (written once everything ran).
 *
 * The runner (sim/run.c) fills one struct rp_scenario per file and one
 * struct rp_step per step; this module only formats them.  The human form
 * is streamed: rp_human_step() is called as each step ends, progress of a
 * long step goes to stderr through rp_progress() (only on a terminal, so
 * logs stay clean), and rp_human_summary() closes.  TAP, JUnit, JSON and
 * HTML are produced from the whole run by rp_write().
 *
 * Human line, one per step:
 *   "  ✓  3 attest FabricHost2 -> InsecureHostConfiguration (DebugMode)   0.21 s"
 *   "       HGS replays the TCG log: boot debugging was on, so Hgs_UefiDebugDisabled fails."
 * The mark is "ok"/"FAIL" when the locale is not UTF-8 (the first set of
 * LC_ALL, LC_CTYPE, LANG); colour only on a terminal without NO_COLOR; a
 * failed step adds "line N: expected X, got Y: reason" lines.
 *
 * TAP (version 13): "1..N" over all steps of all scenarios, "ok N - name:
 * step" / "not ok N - ..." with a YAML diagnostic block (expected, got,
 * reason, file:line) for failures.  JUnit: <testsuites> with one
 * <testsuite name=SCENARIO> per file, one <testcase> per step (classname
 * the scenario, time in seconds), <failure message=...> when it failed,
 * <error> for a setup error; written with libxml2's xmlTextWriter so
 * escaping is the library's.  JSON (rp_json()): {"Scenarios": [{"Name", "File",
 * "Description", "Passed", "DurationSeconds", "SetupSeconds", "Error", "Steps":
 * [{"Index", "Kind", "Title", "Passed", "DurationSeconds", "Expected", "Got",
 * "Substatus", "Reason", "Concept", "Timing", "Message", "Line", "Exchanges"}]}],
 * "Passed", "Failed"} with jansson; "Exchanges" is the array of the HGS
 * log entries the step caused (struct rp_step, exchanges).
 *
 * HTML (sim/report_html.c): one self-contained page, no external asset: the
 * JSON document above inline in a <script type="application/json">, drawn by
 * web/report.js with web/seq.js (the sequence diagram of each exchange, the
 * dashboard's renderer too) and styled by web/report.css, all three inlined
 * from the binary (sim/web.h); its Content-Security-Policy allows no request
 * and runs only those two scripts.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_SIM_REPORT_H
#define HGSLAB_SIM_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "lib/err.h"

enum rp_format { RP_HUMAN, RP_TAP, RP_JUNIT, RP_JSON, RP_HTML };

/* "human", "tap", "junit", "json", "html" -> *OUT; -1 (hl_error naming the valid ones) otherwise. */
int rp_format_parse(const char *s, enum rp_format *out);

struct rp_step {
	int index;              /* 1-based within its scenario */
	const char *kind;       /* "attest" */
	char *title;            /* "attest FabricHost2" */
	int passed;             /* 1 when the outcome met the expectation */
	double duration_s;
	char *expected;         /* "InsecureHostConfiguration (DebugMode)" or NULL */
	char *got;              /* "InsecureHostConfiguration (DebugMode)" */
	char *substatus;        /* actual sub-statuses joined with ", ", or NULL */
	char *reason;           /* HGS's / the component's reason sentence, or NULL */
	char *node;             /* attest / start of an HGS cluster: the node that answered,
				 * "HGS02 (127.X.Y.2)", or NULL */
	char *concept;          /* plain words: what was checked and why it said what it said */
	char *timing;           /* a VM boot's step: where its time went, e.g. "QEMU start to the
				 * guest agent 2.9 s, provisioning 1.7 s", or NULL */
	char *message;          /* on failure: which step, expected what, what happened */
	int line;               /* the step's line in the file */
	/*
	 * The exchanges the step caused: a JSON array (owned) of the entries the
	 * HGS nodes' attestation and key protection logs gained while it played
	 * (hgs/db.h: {"Id", "Host", "Status" or "Result", "Reason", "Trace", ...},
	 * plus "Hgs", the node's name), oldest first; NULL when none.
	 */
	json_t *exchanges;
};

struct rp_scenario {
	char *name;
	char *file;
	char *description;
	int passed;             /* every step passed and no setup error */
	double duration_s;      /* wall time, setup and teardown included */
	double setup_s;         /* bringing the fabric up */
	char *error;            /* a setup / teardown error, or NULL */
	int n_steps;
	struct rp_step *steps;  /* n_steps, in order */
};

/* Free the strings and steps of S (not S itself); NULL-safe. */
void rp_scenario_clear(struct rp_scenario *s);

/* The streamed human form, on OUT. */
void rp_human_begin(FILE *out, const struct rp_scenario *s);        /* "▶ name — description" */
void rp_human_setup(FILE *out, const struct rp_scenario *s);        /* "  fabric up in 2.1 s" */
void rp_human_step(FILE *out, const struct rp_step *st);
void rp_human_end(FILE *out, const struct rp_scenario *s);          /* per-scenario verdict line */
void rp_human_summary(FILE *out, const struct rp_scenario *v, int n); /* closing summary of all */

/*
 * Progress of a long step on stderr, rewritten in place ("\r  … shield
 * ShieldedVM1: provisioning boot 3.2 s"); nothing when stderr is not a
 * terminal.  rp_progress_done() clears the line.
 */
void rp_progress(const char *fmt, ...) HL_PRINTF(1, 2);
void rp_progress_done(void);

/* Write the N scenarios V in FORMAT (TAP, JUnit, JSON, HTML; HUMAN writes the summary) to OUT. */
int rp_write(FILE *out, enum rp_format format, const struct rp_scenario *v, int n);

/* The JSON report's document of the N scenarios V (new reference), NULL when out of memory. */
json_t *rp_json(const struct rp_scenario *v, int n);

/* The HTML report of the N scenarios V on OUT (sim/report_html.c); rp_write() checks the writes. */
int rp_html_write(FILE *out, const struct rp_scenario *v, int n);

#endif
