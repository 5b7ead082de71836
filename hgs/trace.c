/*
 * trace.c - the trace of one exchange (trace.h): a fixed array of steps the
 * attestation handlers (hgs/serve.c, attest_*.c, policy.c) and the key
 * release (hgs/kps.c) append to as they decide, written once as JSON when
 * the attempt is recorded (hgs/attest_log.c, kps.c), and
 * printed for people by `hgs get-attestation-log --trace ID` and
 * `get-key-protection-log --trace ID` (cmd/cmdutil.c).
 */
#include "hgs/trace.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum step_kind { STEP_MESSAGE, STEP_CHECK };

static const char *const verdict_names[] = { "Pass", "Fail", "Skip", "Info" };

/* Make an empty trace (only the counters: steps are written as they are added). */
void hgs_trace_init(struct hgs_trace *t, enum hgs_trace_kind kind)
{
	t->kind = kind;
	t->n = 0;
	t->dropped = 0;
}

/* How many steps a trace holds. */
size_t hgs_trace_steps(const struct hgs_trace *t)
{
	return t ? t->n : 0;
}

/* Keep only the first N steps of T (a dropped step was the last one: gone too). */
void hgs_trace_truncate(struct hgs_trace *t, size_t n)
{
	if (t && n < t->n) {
		t->n = n;
		t->dropped = 0;
	}
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

/* Copy TEXT into BUF (SIZE bytes), tidied: what snprintf "%s" gives, without its cost. */
static void copy(char *buf, size_t size, const char *text)
{
	size_t n = strlen(text), kept = n < size ? n : size - 1;

	memcpy(buf, text, kept);
	buf[kept] = '\0';
	tidy(buf, size, n > INT_MAX ? INT_MAX : (int)n);
}

/* Format FMT with AP into BUF (SIZE bytes), tidied. */
static void format(char *buf, size_t size, const char *fmt, va_list ap) HL_PRINTF(3, 0);
static void format(char *buf, size_t size, const char *fmt, va_list ap)
{
	tidy(buf, size, vsnprintf(buf, size, fmt, ap));
}

/* The slot of the next step: a free one, or the last one when full (counted as dropped). */
static struct hgs_trace_step *next_step(struct hgs_trace *t)
{
	if (t->n < HGS_TRACE_MAX_STEPS)
		return &t->steps[t->n++];
	t->dropped++;
	return &t->steps[HGS_TRACE_MAX_STEPS - 1];
}

/* Append a message. */
void hgs_trace_message(struct hgs_trace *t, enum hgs_trace_party from, const char *fmt, ...)
{
	struct hgs_trace_step *s;
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
	struct hgs_trace_step *s;
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
static void set_check(struct hgs_trace_step *s, const char *check, enum hgs_trace_verdict verdict,
		      const char *label, const char *fmt, va_list ap) HL_PRINTF(5, 0);
static void set_check(struct hgs_trace_step *s, const char *check, enum hgs_trace_verdict verdict,
		      const char *label, const char *fmt, va_list ap)
{
	s->kind = STEP_CHECK;
	s->from = HGS_TRACE_NODE;
	s->verdict = (unsigned char)verdict;
	s->check = check;
	copy(s->label, sizeof(s->label), label);
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
	struct hgs_trace_step *s;
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
	copy(s->detail, sizeof(s->detail), res->reason);
}

/* The participant names of a trace. */
static const char *party_name(const struct hgs_trace *t, unsigned party)
{
	if (party == HGS_TRACE_HOST)
		return "Host";
	return t->kind == HGS_TRACE_KEY_RELEASE ? "KPS" : "HGS";
}

/*
 * The JSON writer.  A trace is written straight into one buffer instead of
 * through a jansson tree and json_dumps(): jansson walks every character
 * of every key and string through its UTF-8 decoder and allocates per
 * member, which made writing a 28-step trace cost about 80 us, a tenth of
 * the HGS CPU of a whole TPM attestation (`hgslab bench attest`); this
 * writer costs a few microseconds.  It can be this simple because what it
 * writes is fixed: constant keys, and strings that are printable ASCII
 * (tidy() makes every label and detail so; check and party names are
 * printable constants), where JSON escapes only '"' and '\\' (any other
 * byte would be escaped as \u00XX).  Readers parse it with jansson
 * (hgs/db.c lists it; test_trace checks that it parses back exactly).
 */
struct writer {
	char *buf;
	size_t used, size;
};

/* Append the LEN bytes of P (room was reserved). */
static void put(struct writer *w, const char *p, size_t len)
{
	memcpy(w->buf + w->used, p, len);
	w->used += len;
}

/* Append string literal LIT. */
#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* Append "KEY":"VALUE" (with a leading comma unless FIRST), VALUE escaped. */
static void put_member(struct writer *w, int first, const char *key, const char *value)
{
	static const char hex[] = "0123456789abcdef";

	if (!first)
		PUT_LIT(w, ",");
	PUT_LIT(w, "\"");
	put(w, key, strlen(key));
	PUT_LIT(w, "\":\"");
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p == '"' || *p == '\\') {
			w->buf[w->used++] = '\\';
			w->buf[w->used++] = (char)*p;
		} else if (*p < 0x20 || *p > 0x7e) {
			PUT_LIT(w, "\\u00");
			w->buf[w->used++] = hex[*p >> 4];
			w->buf[w->used++] = hex[*p & 15];
		} else {
			w->buf[w->used++] = (char)*p;
		}
	}
	PUT_LIT(w, "\"");
}

/* The most bytes put_member() writes for KEY and VALUE. */
static size_t member_max(const char *key, const char *value)
{
	return strlen(key) + 6 * strlen(value) + 6;
}

/* The trace as compact JSON text. */
int hgs_trace_json(const struct hgs_trace *t, char **out)
{
	struct writer w = { NULL, 0, 128 };
	char dropped[48];

	*out = NULL;
	if (!t)
		return hl_error("no trace to write");
	for (size_t i = 0; i < t->n; i++) {
		const struct hgs_trace_step *s = &t->steps[i];

		w.size += 96 + member_max("Label", s->label) + member_max("Detail", s->detail) +
			  (s->check ? member_max("Check", s->check) : 0);
	}
	if (!(w.buf = malloc(w.size)))
		return hl_error("cannot write an exchange trace: out of memory");
	PUT_LIT(&w, "{");
	put_member(&w, 1, "Kind", t->kind == HGS_TRACE_KEY_RELEASE ? "KeyRelease" : "Attestation");
	PUT_LIT(&w, ",\"Participants\":[\"Host\",\"");
	put(&w, party_name(t, HGS_TRACE_NODE), strlen(party_name(t, HGS_TRACE_NODE)));
	PUT_LIT(&w, "\"],\"Steps\":[");
	for (size_t i = 0; i < t->n; i++) {
		const struct hgs_trace_step *s = &t->steps[i];
		const char *from = party_name(t, s->from);

		if (i)
			PUT_LIT(&w, ",");
		PUT_LIT(&w, "{");
		put_member(&w, 1, "From", from);
		put_member(&w, 0, "To", s->kind == STEP_CHECK ? from : party_name(t, !s->from));
		put_member(&w, 0, "Kind", s->kind == STEP_CHECK ? "Check" : "Message");
		put_member(&w, 0, "Label", s->label);
		if (s->kind == STEP_CHECK) {
			put_member(&w, 0, "Check", s->check ? s->check : "");
			put_member(&w, 0, "Verdict", verdict_names[s->verdict & 3]);
		}
		if (s->detail[0])
			put_member(&w, 0, "Detail", s->detail);
		PUT_LIT(&w, "}");
	}
	PUT_LIT(&w, "]");
	if (t->dropped)
		put(&w, dropped, (size_t)snprintf(dropped, sizeof(dropped), ",\"StepsDropped\":%zu",
						  t->dropped));
	put(&w, "}", sizeof("}"));   /* with its NUL */
	*out = w.buf;
	return 0;
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
