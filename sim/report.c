/*
 * report.c - the forms of what `hgslab run` says (report.h): the streamed
 * human form (one line per step, a verdict per scenario, a closing table),
 * progress of a long step on stderr, and TAP 13, JUnit XML (libxml2's
 * xmlTextWriter) and JSON (jansson) written once from the whole run; the
 * HTML form (sim/report_html.c) carries the same JSON document.
 *
 * The human form decides its looks from OUT and the environment: colour only
 * when OUT is a terminal and NO_COLOR is unset; the marks ✓ / ✗ and the
 * other non-ASCII glyphs only when the locale (LC_ALL, else LC_CTYPE, else
 * LANG) is UTF-8, "ok" / "FAIL" otherwise.  Lines are at most 100 columns
 * (fewer on a narrower terminal); the concept and failure text are wrapped.
 *
 * Strings handed to libxml2 and jansson are first made valid UTF-8 (and, for
 * XML, free of characters XML 1.0 forbids), so a reason sentence with a stray
 * byte still gives a well-formed document.
 */
#include "sim/report.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/xmlwriter.h>

#include "proto/remedy.h"

/* Widest human line, in columns. */
#define RP_WIDTH_MAX 100
/* Narrowest terminal width taken into account. */
#define RP_WIDTH_MIN 40

#define RP_BOLD  "\033[1m"
#define RP_GREEN "\033[1;32m"
#define RP_RED   "\033[1;31m"
#define RP_DIM   "\033[2m"
#define RP_RESET "\033[0m"

/* How the human form looks on one stream. */
struct rp_style {
	int color;              /* ANSI colours and bold */
	int utf8;               /* ✓ ✗ ▶ — instead of ok FAIL == - */
	int width;              /* line width in columns */
};

static const char *const format_names[] = {
	[RP_HUMAN] = "human", [RP_TAP] = "tap", [RP_JUNIT] = "junit", [RP_JSON] = "json",
	[RP_HTML] = "html",
};

/* Names of the formats in messages. */
static const char *const format_titles[] = {
	[RP_HUMAN] = "human", [RP_TAP] = "TAP", [RP_JUNIT] = "JUnit", [RP_JSON] = "JSON",
	[RP_HTML] = "HTML",
};

/* 1 while a progress line is shown on stderr. */
static int progress_shown;

int rp_format_parse(const char *s, enum rp_format *out)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (s && strcmp(s, format_names[i]) == 0) {
			*out = (enum rp_format)i;
			return 0;
		}
	}
	return hl_error("unknown report format '%s'; use human, tap, junit, json or html", s ? s : "");
}

void rp_scenario_clear(struct rp_scenario *s)
{
	if (!s)
		return;
	for (int i = 0; s->steps && i < s->n_steps; i++) {
		struct rp_step *st = &s->steps[i];

		free(st->title);
		free(st->expected);
		free(st->got);
		free(st->substatus);
		free(st->reason);
		free(st->node);
		free(st->concept);
		free(st->timing);
		free(st->message);
		json_decref(st->exchanges);
	}
	free(s->steps);
	free(s->name);
	free(s->file);
	free(s->description);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

/* ---- text helpers ---- */

/* S, or "" for NULL. */
static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Display columns of the LEN bytes at S: one per UTF-8 character. */
static int u8_cols_n(const char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* Display columns of string S (NULL: 0). */
static int u8_cols(const char *s)
{
	return s ? u8_cols_n(s, strlen(s)) : 0;
}

/* Length of the valid UTF-8 character at S (N bytes left), 0 when invalid; *CP gets it. */
static size_t u8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len;
	unsigned long c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2, c = s[0] & 0x1F, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3, c = s[0] & 0x0F, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/*
 * A malloc'd copy of S that is valid UTF-8, bad bytes replaced by U+FFFD;
 * with XML set, characters XML 1.0 forbids (controls other than tab, newline
 * and carriage return, U+FFFE, U+FFFF) are replaced too.  NULL when out of
 * memory.
 */
static char *u8_clean(const char *s, int xml)
{
	static const char repl[] = "\xEF\xBF\xBD";
	size_t n = strlen(s), o = 0;
	char *d = malloc(n * 3 + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i < n;) {
		unsigned long cp = 0;
		size_t len = u8_char((const unsigned char *)s + i, n - i, &cp);
		int bad = len == 0 ||
			  (xml && ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
				   cp == 0xFFFE || cp == 0xFFFF));

		if (bad) {
			memcpy(d + o, repl, 3);
			o += 3;
			i += len ? len : 1;
		} else {
			memcpy(d + o, s + i, len);
			o += len;
			i += len;
		}
	}
	d[o] = '\0';
	return d;
}

/* Seconds as "%.*f" with a '.' whatever the locale. */
static void fmt_seconds(char *buf, size_t size, int prec, double s)
{
	if (!isfinite(s) || s < 0)
		s = 0;
	snprintf(buf, size, "%.*f", prec, s);
	for (char *p = buf; *p; p++)
		if (*p == ',')
			*p = '.';
}

/* The line "expected X, got Y (substatus): reason" of a failed step, malloc'd. */
static char *step_detail(const struct rp_step *st)
{
	char *s = NULL;
	int rc;

	if (st->expected)
		rc = asprintf(&s, "expected %s, got %s%s%s%s%s%s", st->expected, st->got ? st->got : "nothing",
			      st->substatus ? " (" : "", nz(st->substatus), st->substatus ? ")" : "",
			      st->reason ? ": " : "", nz(st->reason));
	else
		rc = asprintf(&s, "got %s%s%s", st->got ? st->got : "nothing", st->reason ? ": " : "",
			      nz(st->reason));
	return rc < 0 ? NULL : s;
}

/* The name of the extra case that carries a scenario's error. */
static const char *error_case_name(const struct rp_scenario *s)
{
	return s->n_steps == 0 ? "setup" : "error";
}

/* Steps of S that passed. */
static int steps_passed(const struct rp_scenario *s)
{
	int n = 0;

	for (int i = 0; i < s->n_steps; i++)
		n += s->steps[i].passed != 0;
	return n;
}

/* ---- human form ---- */

/* 1 when the locale of the environment (LC_ALL, LC_CTYPE, LANG) is UTF-8. */
static int locale_utf8(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return strcasestr(v, "UTF-8") || strcasestr(v, "UTF8");
	}
	return 0;
}

/* Columns of the terminal on FD, 0 when unknown. */
static int term_cols(int fd)
{
	struct winsize ws;

	if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return 0;
	return ws.ws_col;
}

/* The looks of the human form on OUT. */
static struct rp_style style_of(FILE *out)
{
	struct rp_style st = { 0, 0, RP_WIDTH_MAX };
	int fd = fileno(out), tty = fd >= 0 && isatty(fd), cols;

	st.color = tty && !getenv("NO_COLOR");
	st.utf8 = locale_utf8();
	if (tty && (cols = term_cols(fd)) > RP_WIDTH_MIN && cols - 1 < RP_WIDTH_MAX)
		st.width = cols - 1;
	return st;
}

/* SEQ when colour is on, else "". */
static const char *col(const struct rp_style *st, const char *seq)
{
	return st->color ? seq : "";
}

/* Columns of the mark field ("✓" or "FAIL"). */
static int mark_cols(const struct rp_style *st)
{
	return st->utf8 ? 1 : 4;
}

/* The column where a step's title, concept and message start. */
static int step_indent(const struct rp_style *st)
{
	return 2 + mark_cols(st) + 1 + 2 + 1;
}

/*
 * Print TEXT on OUT word-wrapped to the style's width, every line indented by
 * INDENT spaces and wrapped in the colour SEQ; newlines in TEXT break lines.
 */
static void put_wrapped(FILE *out, const struct rp_style *st, int indent, const char *seq,
			const char *text)
{
	const char *p = text, *on = col(st, seq), *off = *on ? col(st, RP_RESET) : "";

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t plen = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p, *end = p + plen;
		int cur = -1;

		while (q < end) {
			const char *w;
			int wc;

			while (q < end && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q == end)
				break;
			w = q;
			while (q < end && *q != ' ' && *q != '\t' && *q != '\r')
				q++;
			wc = u8_cols_n(w, (size_t)(q - w));
			if (cur >= 0 && cur + 1 + wc > st->width) {
				fprintf(out, "%s\n", off);
				cur = -1;
			}
			if (cur < 0) {
				fprintf(out, "%*s%s", indent, "", on);
				cur = indent;
			} else {
				fputc(' ', out);
				cur++;
			}
			fwrite(w, 1, (size_t)(q - w), out);
			cur += wc;
		}
		if (cur >= 0)
			fprintf(out, "%s\n", off);
		p = eol ? eol + 1 : end;
	}
}

void rp_human_begin(FILE *out, const struct rp_scenario *s)
{
	struct rp_style st = style_of(out);

	rp_progress_done();
	fprintf(out, "%s%s %s", col(&st, RP_BOLD), st.utf8 ? "\xE2\x96\xB6" : "==", nz(s->name));
	if (s->description && *s->description)
		fprintf(out, " %s %s", st.utf8 ? "\xE2\x80\x94" : "-", s->description);
	fprintf(out, "%s\n", col(&st, RP_RESET));
}

void rp_human_setup(FILE *out, const struct rp_scenario *s)
{
	struct rp_style st = style_of(out);
	char t[32];

	rp_progress_done();
	if (s->error)               /* rp_human_end() shows the error */
		return;
	fmt_seconds(t, sizeof(t), 1, s->setup_s);
	fprintf(out, "  %sfabric up in %s s%s\n", col(&st, RP_DIM), t, col(&st, RP_RESET));
}

void rp_human_step(FILE *out, const struct rp_step *step)
{
	struct rp_style st = style_of(out);
	char idx[16], dur[32];
	int used, pad;

	rp_progress_done();
	snprintf(idx, sizeof(idx), "%2d", step->index);
	fmt_seconds(dur, sizeof(dur) - 2, 2, step->duration_s);
	strcat(dur, " s");
	if (st.utf8)
		fprintf(out, "  %s%s%s ", col(&st, step->passed ? RP_GREEN : RP_RED),
			step->passed ? "\xE2\x9C\x93" : "\xE2\x9C\x97", col(&st, RP_RESET));
	else
		fprintf(out, "  %s%-4s%s ", col(&st, step->passed ? RP_GREEN : RP_RED),
			step->passed ? "ok" : "FAIL", col(&st, RP_RESET));
	fprintf(out, "%s %s", idx, nz(step->title));
	used = 2 + mark_cols(&st) + 1 + (int)strlen(idx) + 1 + u8_cols(step->title);
	if (step->got) {
		fprintf(out, " -> %s", step->got);
		used += 4 + u8_cols(step->got);
	}
	if (step->node) {
		fprintf(out, " [%s]", step->node);
		used += 3 + u8_cols(step->node);
	}
	pad = st.width - used - (int)strlen(dur);
	fprintf(out, "%*s%s%s%s\n", pad < 2 ? 2 : pad, "", col(&st, RP_DIM), dur, col(&st, RP_RESET));
	if (step->concept && *step->concept)
		put_wrapped(out, &st, step_indent(&st), "", step->concept);
	if (step->timing && *step->timing) {
		char *line = NULL;

		if (asprintf(&line, "time: %s", step->timing) >= 0) {
			put_wrapped(out, &st, step_indent(&st), RP_DIM, line);
			free(line);
		}
	}
	if (!step->passed) {
		int has_msg = step->message && *step->message;
		char *detail = has_msg ? NULL : step_detail(step), *text = NULL;
		const char *what = has_msg ? step->message : detail ? detail : "failed";

		if (step->line > 0 && asprintf(&text, "line %d: %s", step->line, what) < 0)
			text = NULL;
		put_wrapped(out, &st, step_indent(&st), RP_RED, text ? text : what);
		free(text);
		free(detail);
	}
	/* every refusal ends with what to do about it (proto/remedy.h) */
	{
		const char *remedy = hl_remedy_find(step->got, step->substatus, step->reason);
		char *line = NULL;

		if (remedy && asprintf(&line, "remedy: %s.", remedy) >= 0) {
			put_wrapped(out, &st, step_indent(&st), "", line);
			free(line);
		}
	}
}

void rp_human_end(FILE *out, const struct rp_scenario *s)
{
	struct rp_style st = style_of(out);
	char t[32], up[32];

	rp_progress_done();
	fmt_seconds(t, sizeof(t), 1, s->duration_s);
	fmt_seconds(up, sizeof(up), 1, s->setup_s);
	if (s->error) {
		char *text = NULL;

		if (asprintf(&text, "ERROR: %s", s->error) < 0)
			text = NULL;
		put_wrapped(out, &st, 2, RP_RED, text ? text : s->error);
		free(text);
	}
	fprintf(out, "%s", col(&st, s->passed ? RP_GREEN : RP_RED));
	if (s->error && s->n_steps == 0)
		fprintf(out, "%s: setup failed after %s s", nz(s->name), t);
	else
		fprintf(out, "%s: %d of %d steps passed in %s s (fabric up %s s)%s", nz(s->name),
			steps_passed(s), s->n_steps, t, up, s->error ? ", then an error" : "");
	fprintf(out, "%s\n\n", col(&st, RP_RESET));
}

void rp_human_summary(FILE *out, const struct rp_scenario *v, int n)
{
	struct rp_style st = style_of(out);
	int wname = (int)strlen("scenario"), wsteps = (int)strlen("steps"), npass = 0;
	char buf[64];

	rp_progress_done();
	for (int i = 0; i < n; i++) {
		int w = u8_cols(v[i].name);

		if (w > wname)
			wname = w;
		snprintf(buf, sizeof(buf), "%d/%d", steps_passed(&v[i]), v[i].n_steps);
		if ((int)strlen(buf) > wsteps)
			wsteps = (int)strlen(buf);
		npass += v[i].passed != 0;
	}
	if (n > 1) {
		fprintf(out, "%-*s  %*s  %-6s  %8s\n", wname, "scenario", wsteps, "steps", "result", "time");
		for (int i = 0; i < n; i++) {
			const struct rp_scenario *s = &v[i];
			const char *result = s->passed ? "passed" : s->error ? "ERROR" : "FAILED";
			char t[32];

			snprintf(buf, sizeof(buf), "%d/%d", steps_passed(s), s->n_steps);
			fmt_seconds(t, sizeof(t) - 2, 1, s->duration_s);
			strcat(t, " s");
			fprintf(out, "%s%*s  %*s  %s%-6s%s  %8s\n", nz(s->name),
				wname - u8_cols(s->name), "", wsteps, buf,
				col(&st, s->passed ? RP_GREEN : RP_RED), result, col(&st, RP_RESET), t);
		}
	}
	fprintf(out, "%s%d scenario%s: %d passed, %d failed%s\n",
		col(&st, npass == n ? RP_GREEN : RP_RED), n, n == 1 ? "" : "s", npass, n - npass,
		col(&st, RP_RESET));
}

/* ---- progress ---- */

void rp_progress(const char *fmt, ...)
{
	char buf[512];
	int max, cols = 0;
	size_t i;
	va_list ap;

	if (!isatty(STDERR_FILENO))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	max = term_cols(STDERR_FILENO);
	max = max > 1 ? max - 1 : 79;
	for (i = 0; buf[i]; i++) {
		if (((unsigned char)buf[i] & 0xC0) != 0x80 && ++cols > max)
			break;
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	}
	buf[i] = '\0';
	fprintf(stderr, "\r\033[K%s", buf);
	fflush(stderr);
	progress_shown = 1;
}

void rp_progress_done(void)
{
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_shown = 0;
}

/* ---- TAP ---- */

/* Print S on OUT as a TAP description: newlines as spaces, '#' escaped. */
static void tap_desc(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '#' || *s == '\\')
			fputc('\\', out);
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
	}
}

/* Print "  KEY: VALUE" of a YAML diagnostic, VALUE as a double-quoted scalar. */
static void tap_yaml(FILE *out, const char *key, const char *value)
{
	fprintf(out, "  %s: \"", key);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20 || *p == 0x7F)
				fprintf(out, "\\x%02X", *p);
			else
				fputc(*p, out);
		}
	}
	fputs("\"\n", out);
}

/* The TAP 13 form of the N scenarios V. */
static int tap_write(FILE *out, const struct rp_scenario *v, int n)
{
	int total = 0, num = 0;

	for (int i = 0; i < n; i++)
		total += v[i].n_steps + (v[i].error != NULL);
	fprintf(out, "TAP version 13\n1..%d\n", total);
	for (int i = 0; i < n; i++) {
		const struct rp_scenario *s = &v[i];

		for (int k = 0; k < s->n_steps; k++) {
			const struct rp_step *st = &s->steps[k];
			char *detail;

			fprintf(out, "%s %d - ", st->passed ? "ok" : "not ok", ++num);
			tap_desc(out, nz(s->name));
			fputs(": ", out);
			tap_desc(out, nz(st->title));
			fputc('\n', out);
			if (st->passed)
				continue;
			detail = step_detail(st);
			fputs("  ---\n", out);
			tap_yaml(out, "message", st->message ? st->message : detail ? detail : "failed");
			fputs("  severity: fail\n", out);
			if (st->expected)
				tap_yaml(out, "expected", st->expected);
			if (st->got)
				tap_yaml(out, "got", st->got);
			if (st->substatus)
				tap_yaml(out, "substatus", st->substatus);
			if (st->reason)
				tap_yaml(out, "reason", st->reason);
			if (s->file)
				tap_yaml(out, "file", s->file);
			if (st->line > 0)
				fprintf(out, "  line: %d\n", st->line);
			fputs("  ...\n", out);
			free(detail);
		}
		if (s->error) {
			fprintf(out, "not ok %d - ", ++num);
			tap_desc(out, nz(s->name));
			fprintf(out, ": %s\n  ---\n", error_case_name(s));
			tap_yaml(out, "message", s->error);
			fputs("  severity: fail\n", out);
			if (s->file)
				tap_yaml(out, "file", s->file);
			fputs("  ...\n", out);
		}
	}
	return 0;
}

/* ---- JUnit ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* Initialise libxml2 once. */
static void xml_init(void)
{
	xmlInitParser();
}

/* Write attribute NAME = VALUE (made XML-safe); <0 on failure. */
static int xml_attr(xmlTextWriterPtr w, const char *name, const char *value)
{
	char *c = u8_clean(nz(value), 1);
	int rc = c ? xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST c) : -1;

	free(c);
	return rc;
}

/* Write attribute NAME = an integer; <0 on failure. */
static int xml_attr_int(xmlTextWriterPtr w, const char *name, int value)
{
	char b[16];

	snprintf(b, sizeof(b), "%d", value);
	return xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST b);
}

/* Write attribute time = seconds with three decimals; <0 on failure. */
static int xml_attr_time(xmlTextWriterPtr w, double s)
{
	char b[32];

	fmt_seconds(b, sizeof(b), 3, s);
	return xmlTextWriterWriteAttribute(w, BAD_CAST "time", BAD_CAST b);
}

/* Write the text TEXT (made XML-safe); <0 on failure. */
static int xml_text(xmlTextWriterPtr w, const char *text)
{
	char *c = u8_clean(text, 1);
	int rc = c ? xmlTextWriterWriteString(w, BAD_CAST c) : -1;

	free(c);
	return rc;
}

/* The <failure> body of a failed step, malloc'd. */
static char *junit_body(const struct rp_scenario *s, const struct rp_step *st)
{
	char *b = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&b, &len);

	if (!f)
		return NULL;
	if (st->message)
		fprintf(f, "%s\n", st->message);
	if (st->expected)
		fprintf(f, "expected: %s\n", st->expected);
	fprintf(f, "got: %s\n", st->got ? st->got : "nothing");
	if (st->substatus)
		fprintf(f, "substatus: %s\n", st->substatus);
	if (st->reason)
		fprintf(f, "reason: %s\n", st->reason);
	if (st->concept)
		fprintf(f, "concept: %s\n", st->concept);
	fprintf(f, "at %s:%d\n", s->file ? s->file : nz(s->name), st->line);
	if (fclose(f) != 0) {
		free(b);
		return NULL;
	}
	return b;
}

/* One <testcase> of step ST of S; <0 on failure. */
static int junit_step(xmlTextWriterPtr w, const struct rp_scenario *s, const struct rp_step *st)
{
	char *name = NULL, *msg = NULL, *body = NULL;
	int rc = -1;

	if (asprintf(&name, "%02d %s", st->index, nz(st->title)) < 0) {
		name = NULL;
		goto out;
	}
	if (xmlTextWriterStartElement(w, BAD_CAST "testcase") < 0 || xml_attr(w, "name", name) < 0 ||
	    xml_attr(w, "classname", s->name) < 0 || xml_attr_time(w, st->duration_s) < 0)
		goto out;
	if (!st->passed) {
		msg = st->message ? NULL : step_detail(st);
		body = junit_body(s, st);
		if ((!st->message && !msg) || !body)
			goto out;
		if (xmlTextWriterStartElement(w, BAD_CAST "failure") < 0 ||
		    xml_attr(w, "message", st->message ? st->message : msg) < 0 ||
		    xml_attr(w, "type", "expectation") < 0 || xml_text(w, body) < 0 ||
		    xmlTextWriterEndElement(w) < 0)
			goto out;
	}
	rc = xmlTextWriterEndElement(w);
out:
	free(name);
	free(msg);
	free(body);
	return rc < 0 ? -1 : 0;
}

/* One <testsuite> of S; <0 on failure. */
static int junit_suite(xmlTextWriterPtr w, const struct rp_scenario *s)
{
	int failed = s->n_steps - steps_passed(s), has_err = s->error != NULL;

	if (xmlTextWriterStartElement(w, BAD_CAST "testsuite") < 0 || xml_attr(w, "name", s->name) < 0 ||
	    xml_attr_int(w, "tests", s->n_steps + has_err) < 0 || xml_attr_int(w, "failures", failed) < 0 ||
	    xml_attr_int(w, "errors", has_err) < 0 || xml_attr_time(w, s->duration_s) < 0)
		return -1;
	for (int k = 0; k < s->n_steps; k++)
		if (junit_step(w, s, &s->steps[k]) < 0)
			return -1;
	if (has_err) {
		if (xmlTextWriterStartElement(w, BAD_CAST "testcase") < 0 ||
		    xml_attr(w, "name", error_case_name(s)) < 0 || xml_attr(w, "classname", s->name) < 0 ||
		    xml_attr_time(w, s->n_steps == 0 ? s->duration_s : 0) < 0 ||
		    xmlTextWriterStartElement(w, BAD_CAST "error") < 0 ||
		    xml_attr(w, "message", s->error) < 0 ||
		    xml_attr(w, "type", error_case_name(s)) < 0 || xml_text(w, s->error) < 0 ||
		    xmlTextWriterEndElement(w) < 0 || xmlTextWriterEndElement(w) < 0)
			return -1;
	}
	return xmlTextWriterEndElement(w) < 0 ? -1 : 0;
}

/* The JUnit XML form of the N scenarios V. */
static int junit_write(FILE *out, const struct rp_scenario *v, int n)
{
	xmlBufferPtr buf = NULL;
	xmlTextWriterPtr w = NULL;
	int tests = 0, failures = 0, errors = 0, rc = -1;
	double time = 0;

	pthread_once(&xml_once, xml_init);
	for (int i = 0; i < n; i++) {
		tests += v[i].n_steps + (v[i].error != NULL);
		failures += v[i].n_steps - steps_passed(&v[i]);
		errors += v[i].error != NULL;
		time += isfinite(v[i].duration_s) && v[i].duration_s > 0 ? v[i].duration_s : 0;
	}
	if (!(buf = xmlBufferCreate()) || !(w = xmlNewTextWriterMemory(buf, 0))) {
		hl_error("cannot write the JUnit report: out of memory");
		goto out;
	}
	if (xmlTextWriterSetIndent(w, 1) < 0 || xmlTextWriterSetIndentString(w, BAD_CAST "  ") < 0 ||
	    xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
	    xmlTextWriterStartElement(w, BAD_CAST "testsuites") < 0 || xml_attr(w, "name", "hgslab") < 0 ||
	    xml_attr_int(w, "tests", tests) < 0 || xml_attr_int(w, "failures", failures) < 0 ||
	    xml_attr_int(w, "errors", errors) < 0 || xml_attr_time(w, time) < 0)
		goto fail;
	for (int i = 0; i < n; i++)
		if (junit_suite(w, &v[i]) < 0)
			goto fail;
	if (xmlTextWriterEndDocument(w) < 0)
		goto fail;
	xmlFreeTextWriter(w);
	w = NULL;
	fwrite(xmlBufferContent(buf), 1, (size_t)xmlBufferLength(buf), out);
	rc = 0;
	goto out;
fail:
	hl_error("cannot write the JUnit report: libxml2 failed (out of memory?)");
out:
	if (w)
		xmlFreeTextWriter(w);
	if (buf)
		xmlBufferFree(buf);
	return rc;
}

/* ---- JSON ---- */

/* S as a JSON string (made valid UTF-8), JSON null for NULL; NULL when out of memory. */
static json_t *jstr(const char *s)
{
	json_t *j;
	char *c;

	if (!s)
		return json_null();
	if ((j = json_string(s)))
		return j;
	if (!(c = u8_clean(s, 0)))
		return NULL;
	j = json_string(c);
	free(c);
	return j;
}

/* Seconds as a JSON number rounded to the millisecond. */
static json_t *jsec(double s)
{
	if (!isfinite(s) || s < 0)
		s = 0;
	return json_real((double)(long long)(s * 1000 + 0.5) / 1000);
}

/* The JSON object of step ST, NULL when out of memory. */
static json_t *json_step(const struct rp_step *st)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= json_object_set_new(o, "Index", json_integer(st->index));
	bad |= json_object_set_new(o, "Kind", jstr(st->kind));
	bad |= json_object_set_new(o, "Title", jstr(st->title));
	bad |= json_object_set_new(o, "Passed", json_boolean(st->passed));
	bad |= json_object_set_new(o, "DurationSeconds", jsec(st->duration_s));
	bad |= json_object_set_new(o, "Expected", jstr(st->expected));
	bad |= json_object_set_new(o, "Got", jstr(st->got));
	bad |= json_object_set_new(o, "Substatus", jstr(st->substatus));
	bad |= json_object_set_new(o, "Reason", jstr(st->reason));
	bad |= json_object_set_new(o, "Node", jstr(st->node));
	bad |= json_object_set_new(o, "Concept", jstr(st->concept));
	bad |= json_object_set_new(o, "Timing", jstr(st->timing));
	bad |= json_object_set_new(o, "Message", jstr(st->message));
	bad |= json_object_set_new(o, "Line", json_integer(st->line));
	bad |= json_object_set_new(o, "Exchanges",
				   st->exchanges ? json_incref(st->exchanges) : json_array());
	bad |= json_object_set_new(o, "Remedy", jstr(hl_remedy_find(st->got, st->substatus, st->reason)));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The JSON object of scenario S, NULL when out of memory. */
static json_t *json_scenario(const struct rp_scenario *s)
{
	json_t *o = json_object(), *steps = json_array();
	int bad = !o || !steps;

	for (int k = 0; !bad && k < s->n_steps; k++)
		bad |= json_array_append_new(steps, json_step(&s->steps[k]));
	if (!bad) {
		bad |= json_object_set_new(o, "Name", jstr(s->name));
		bad |= json_object_set_new(o, "File", jstr(s->file));
		bad |= json_object_set_new(o, "Description", jstr(s->description));
		bad |= json_object_set_new(o, "Passed", json_boolean(s->passed));
		bad |= json_object_set_new(o, "DurationSeconds", jsec(s->duration_s));
		bad |= json_object_set_new(o, "SetupSeconds", jsec(s->setup_s));
		bad |= json_object_set_new(o, "Error", jstr(s->error));
		bad |= json_object_set_new(o, "Steps", steps);
		steps = NULL;
	}
	json_decref(steps);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The JSON report's document of the N scenarios V. */
json_t *rp_json(const struct rp_scenario *v, int n)
{
	json_t *root = json_object(), *arr = json_array();
	int bad = !root || !arr, npass = 0;

	for (int i = 0; !bad && i < n; i++) {
		bad |= json_array_append_new(arr, json_scenario(&v[i]));
		npass += v[i].passed != 0;
	}
	if (!bad) {
		bad |= json_object_set_new(root, "Scenarios", arr);
		arr = NULL;
		bad |= json_object_set_new(root, "Passed", json_integer(npass));
		bad |= json_object_set_new(root, "Failed", json_integer(n - npass));
	}
	json_decref(arr);
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* The JSON form of the N scenarios V. */
static int json_write(FILE *out, const struct rp_scenario *v, int n)
{
	json_t *root = rp_json(v, n);

	if (!root)
		return hl_error("cannot write the JSON report: out of memory");
	/* jansson stops at the first failed write; rp_write() reports it through ferror() */
	json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	fputc('\n', out);
	json_decref(root);
	return 0;
}

/* ---- all formats ---- */

int rp_write(FILE *out, enum rp_format format, const struct rp_scenario *v, int n)
{
	int rc;

	assert(out && n >= 0 && (v || n == 0));
	switch (format) {
	case RP_HUMAN:
		rp_human_summary(out, v, n);
		rc = 0;
		break;
	case RP_TAP:
		rc = tap_write(out, v, n);
		break;
	case RP_JUNIT:
		rc = junit_write(out, v, n);
		break;
	case RP_JSON:
		rc = json_write(out, v, n);
		break;
	case RP_HTML:
		rc = rp_html_write(out, v, n);
		break;
	default:
		return hl_error("cannot write the report: unknown format %d", (int)format);
	}
	if (rc < 0)
		return -1;
	if (fflush(out) != 0)
		return hl_error_errno("cannot write the %s report", format_titles[format]);
	if (ferror(out))
		return hl_error("cannot write the %s report: a write to the output failed",
				format_titles[format]);
	return 0;
}
