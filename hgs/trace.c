/*
 * trace.c - the trace of one exchange (trace.h): a fixed array of steps the
 * attestation handlers (hgs/serve.c, attest_*.c, policy.c) and the key
 * release (hgs/kps.c) append to as they decide, written once as JSON with
 * jansson when the attempt is recorded (hgs/attest_log.c, kps.c), and
 * printed for people by `hgs get-attestation-log --trace ID` and
 * `get-key-protection-log --trace ID` (cmd/cmdutil.c).
 */
#include "hgs/trace.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum step_kind { STEP_MESSAGE, STEP_CHECK };

/* One step; strings are printable ASCII, cut to their caps. */
struct step {
	unsigned char kind;                 /* enum step_kind */
	unsigned char from;                 /* enum hgs_trace_party */
	unsigned char verdict;              /* enum hgs_trace_verdict (checks) */
	const char *check;                  /* a string constant (checks), else NULL */
	char label[HGS_TRACE_LABEL_MAX];
	char detail[HGS_TRACE_DETAIL_MAX];  /* "" when none */
};

/* Invariant: n <= HGS_TRACE_MAX_STEPS; dropped counts steps replaced when full. */
struct hgs_trace {
	enum hgs_trace_kind kind;
	size_t n;
	size_t dropped;
	struct step steps[HGS_TRACE_MAX_STEPS];
};

static const char *const verdict_names[] = { "Pass", "Fail", "Skip", "Info" };

/* A new empty trace. */
struct hgs_trace *hgs_trace_new(enum hgs_trace_kind kind)
{
	struct hgs_trace *t = malloc(sizeof(*t));

	if (!t)
		return NULL;
	t->kind = kind;
	t->n = 0;
	t->dropped = 0;
	return t;
}

/* Free a trace. */
void hgs_trace_free(struct hgs_trace *t)
{
	free(t);
}

/* How many steps a trace holds. */
size_t hgs_trace_steps(const struct hgs_trace *t)
{
	return t ? t->n : 0;
}

/*
 * Keep BUF (SIZE bytes, NUL-terminated, possibly cut by vsnprintf when N,
 * the length it wanted, is SIZE or more) printable ASCII, ending in "..."
 * when cut.
 */
static void tidy(char *buf, size_t size, int n)
{
	for (unsigned char *p = (unsigned char *)buf; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

/* Format FMT with AP into BUF (SIZE bytes), tidied. */
static void format(char *buf, size_t size, const char *fmt, va_list ap) HL_PRINTF(3, 0);
static void format(char *buf, size_t size, const char *fmt, va_list ap)
{
	tidy(buf, size, vsnprintf(buf, size, fmt, ap));
}

/* The slot of the next step: a free one, or the last one when full (counted as dropped). */
static struct step *next_step(struct hgs_trace *t)
{
	if (t->n < HGS_TRACE_MAX_STEPS)
		return &t->steps[t->n++];
	t->dropped++;
	return &t->steps[HGS_TRACE_MAX_STEPS - 1];
}

/* Append a message. */
void hgs_trace_message(struct hgs_trace *t, enum hgs_trace_party from, const char *fmt, ...)
{
	struct step *s;
	va_list ap;

	if (!t)
		return;
	s = next_step(t);
	s->kind = STEP_MESSAGE;
	s->from = (unsigned char)from;
	s->verdict = HGS_TRACE_INFO;
	s->check = NULL;
	s->detail[0] = '\0';
	va_start(ap, fmt);
	format(s->label, sizeof(s->label), fmt, ap);
	va_end(ap);
}

/* Append text to the label of step INDEX. */
void hgs_trace_amend(struct hgs_trace *t, size_t index, const char *fmt, ...)
{
	struct step *s;
	size_t used;
	va_list ap;

	if (!t || index >= t->n)
		return;
	s = &t->steps[index];
	used = strlen(s->label);
	if (used + 1 >= sizeof(s->label))
		return;
	va_start(ap, fmt);
	format(s->label + used, sizeof(s->label) - used, fmt, ap);
	va_end(ap);
}

/* Fill S as a check; the detail formatted from FMT and AP (FMT NULL: none). */
static void set_check(struct step *s, const char *check, enum hgs_trace_verdict verdict,
		      const char *label, const char *fmt, va_list ap) HL_PRINTF(5, 0);
static void set_check(struct step *s, const char *check, enum hgs_trace_verdict verdict,
		      const char *label, const char *fmt, va_list ap)
{
	s->kind = STEP_CHECK;
	s->from = HGS_TRACE_NODE;
	s->verdict = (unsigned char)verdict;
	s->check = check;
	tidy(s->label, sizeof(s->label), snprintf(s->label, sizeof(s->label), "%s", label));
	if (fmt)
		format(s->detail, sizeof(s->detail), fmt, ap);
	else
		s->detail[0] = '\0';
}

/* Append a check. */
void hgs_trace_check(struct hgs_trace *t, const char *check, enum hgs_trace_verdict verdict,
		     const char *label, const char *detail_fmt, ...)
{
	va_list ap;

	if (!t)
		return;
	va_start(ap, detail_fmt);
	set_check(next_step(t), check, verdict, label, detail_fmt, ap);
	va_end(ap);
}

/* Append a check decided by an attestation result. */
void hgs_trace_result(struct hgs_trace *t, const char *check, const char *label,
		      const struct hgs_result *res, const char *pass_fmt, ...)
{
	va_list ap;

	if (!t)
		return;
	if (res->status != HGS_STATUS_PASSED) {
		hgs_trace_check(t, check, HGS_TRACE_FAIL, label, "%s", res->reason);
		return;
	}
	va_start(ap, pass_fmt);
	set_check(next_step(t), check, HGS_TRACE_PASS, label, pass_fmt, ap);
	va_end(ap);
}

/* Append the answer to an attestation. */
void hgs_trace_answer(struct hgs_trace *t, int http_status, const struct hgs_result *res)
{
	char sub[HGS_REASON_MAX], http[16] = "";
	struct step *s;
	size_t last;

	if (!t)
		return;
	hgs_substatus_format(res->substatus, sub, sizeof(sub));
	if (http_status != 200)
		snprintf(http, sizeof(http), "%d ", http_status);
	hgs_trace_message(t, HGS_TRACE_NODE, "%s%s%s%s%s", http, hgs_status_name(res->status),
			  sub[0] ? " (" : "", sub, sub[0] ? ")" : "");
	last = t->n - 1;
	s = &t->steps[last];
	tidy(s->detail, sizeof(s->detail),
	     snprintf(s->detail, sizeof(s->detail), "%s", res->reason));
}

/* The participant names of a trace. */
static const char *party_name(const struct hgs_trace *t, unsigned party)
{
	if (party == HGS_TRACE_HOST)
		return "Host";
	return t->kind == HGS_TRACE_KEY_RELEASE ? "KPS" : "HGS";
}

/* Step S as a JSON object, or NULL when out of memory. */
static json_t *step_json(const struct hgs_trace *t, const struct step *s)
{
	const char *from = party_name(t, s->from);
	const char *to = s->kind == STEP_CHECK ? from : party_name(t, !s->from);
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s}", "From", from, "To", to, "Kind",
		      s->kind == STEP_CHECK ? "Check" : "Message", "Label", s->label);
	if (!o)
		return NULL;
	if (s->kind == STEP_CHECK &&
	    (json_object_set_new(o, "Check", json_string(s->check ? s->check : "")) < 0 ||
	     json_object_set_new(o, "Verdict", json_string(verdict_names[s->verdict & 3])) < 0))
		goto fail;
	if (s->detail[0] && json_object_set_new(o, "Detail", json_string(s->detail)) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* The trace as compact JSON text. */
int hgs_trace_json(const struct hgs_trace *t, char **out)
{
	json_t *o = NULL, *steps, *s;
	int rc = -1;

	*out = NULL;
	if (!t)
		return hl_error("no trace to write");
	o = json_pack("{s:s, s:[s, s], s:[]}", "Kind",
		      t->kind == HGS_TRACE_KEY_RELEASE ? "KeyRelease" : "Attestation",
		      "Participants", "Host", party_name(t, HGS_TRACE_NODE), "Steps");
	if (!o)
		goto oom;
	steps = json_object_get(o, "Steps");
	for (size_t i = 0; i < t->n; i++)
		if (!(s = step_json(t, &t->steps[i])) || json_array_append_new(steps, s) < 0)
			goto oom;
	if (t->dropped &&
	    json_object_set_new(o, "StepsDropped", json_integer((json_int_t)t->dropped)) < 0)
		goto oom;
	if (!(*out = json_dumps(o, JSON_COMPACT)))
		goto oom;
	rc = 0;
	goto out;
oom:
	hl_error("cannot write an exchange trace: out of memory");
out:
	json_decref(o);
	return rc;
}

/* The mark of a check's verdict. */
static const char *mark(const char *verdict)
{
	if (strcmp(verdict, "Pass") == 0)
		return "\u2713";           /* ✓ */
	if (strcmp(verdict, "Fail") == 0)
		return "\u2717";           /* ✗ */
	if (strcmp(verdict, "Skip") == 0)
		return "\u2013";           /* – */
	return "\u00b7";                   /* · */
}

/* String member NAME of O, or "" (a trace read back may lack any member). */
static const char *str(const json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : "";
}

/* Print a trace for people. */
void hgs_trace_print(FILE *f, const json_t *trace)
{
	const json_t *steps = json_object_get(trace, "Steps"), *s;
	size_t i, width = 0;

	if (!json_is_object(trace) || !json_is_array(steps)) {
		fprintf(f, "(no trace: the entry was recorded before traces were kept)\n");
		return;
	}
	json_array_foreach(steps, i, s)
		if (strcmp(str(s, "Kind"), "Check") == 0 && strlen(str(s, "Check")) > width)
			width = strlen(str(s, "Check"));
	json_array_foreach(steps, i, s) {
		if (strcmp(str(s, "Kind"), "Check") == 0)
			fprintf(f, "  %s %-*s  %s\n", mark(str(s, "Verdict")), (int)width,
				str(s, "Check"), str(s, "Label"));
		else
			fprintf(f, "%s \u2192 %s: %s\n", str(s, "From"), str(s, "To"),
				str(s, "Label"));
		if (str(s, "Detail")[0])
			fprintf(f, "      %s\n", str(s, "Detail"));
	}
	if (json_integer_value(json_object_get(trace, "StepsDropped")) > 0)
		fprintf(f, "  (%lld more steps were not kept)\n",
			(long long)json_integer_value(json_object_get(trace, "StepsDropped")));
}
