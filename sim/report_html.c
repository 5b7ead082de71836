/*
 * report_html.c - the HTML form of the run report (report.h): one
 * self-contained page a CI job keeps as an artifact and a person opens or
 * prints.  Nothing is fetched: the style (web/report.css), the sequence
 * diagram renderer the dashboard uses too (web/seq.js) and the page's script
 * (web/report.js) are inlined from the binary (sim/web.h), and the run itself
 * is the JSON report's document (rp_json()) inside a
 * <script type="application/json">, from which report.js builds the page
 * with DOM calls (text, never markup).  A Content-Security-Policy allows no
 * request at all, and no script but those two (by their SHA-256): markup
 * that got into the page could not run.
 *
 * Every string of the run is untrusted (a reason sentence comes from a
 * component, a title from a scenario file): in the JSON text '<', '>' and
 * '&' can only stand inside strings, so they are written as \u escapes and
 * no data can end the script element ("</script>", "<!--").
 */
#include "sim/report.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "sim/web.h"

/* The page up to the policy's script sources. */
static const char html_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	"style-src 'unsafe-inline'; img-src data:; script-src";

/* From the script sources to the style. */
static const char html_style[] =
	"\">\n"
	"<meta name=\"generator\" content=\"hgslab run --report html\">\n"
	"<title>hgslab run report</title>\n"
	"<style>\n";

/* From the style to the data. */
static const char html_body[] =
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<main id=\"report\"><noscript><p>This report draws its scenarios, steps and sequence "
	"diagrams with JavaScript; allow scripts for this file.  The run's data is the JSON in the "
	"element hgslab-report-data.</p></noscript></main>\n"
	"<script type=\"application/json\" id=\"hgslab-report-data\">";

/* Write the JSON text S on OUT with '<', '>' and '&' as \u escapes (they stand only in strings). */
static void put_json_in_script(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("\\u003c", out); break;
		case '>': fputs("\\u003e", out); break;
		case '&': fputs("\\u0026", out); break;
		default: fputc(*s, out);
		}
	}
}

/* The embedded web file NAME, to go inside the element TAG ("script"); NULL after hl_error(). */
static const struct web_asset *asset(const char *name, const char *tag)
{
	const struct web_asset *a = web_asset_find(name);

	if (!a) {
		hl_error("cannot write the HTML report: the binary has no web/%s", name);
		return NULL;
	}
	/* our own file; an end tag in it would cut the page */
	for (const char *p = (const char *)a->data; (p = strstr(p, "</")); p++)
		if (!strncasecmp(p + 2, tag, strlen(tag))) {
			hl_error("cannot write the HTML report: web/%s holds '</%s'", name, tag);
			return NULL;
		}
	return a;
}

/* Write " 'sha256-BASE64'", the policy source that lets the inline script A run, on OUT. */
static int put_script_hash(FILE *out, const struct web_asset *a)
{
	unsigned char md[HL_SHA256_LEN];
	struct hl_buf b64 = { 0 };

	if (hl_crypto_sha256(a->data, a->len, md) < 0 ||
	    hl_crypto_base64_encode(md, sizeof(md), &b64) < 0)
		return hl_error_wrap("cannot write the HTML report");
	fprintf(out, " 'sha256-%s'", (const char *)b64.data);
	hl_buf_free(&b64);
	return 0;
}

/* The HTML report of the N scenarios V on OUT. */
int rp_html_write(FILE *out, const struct rp_scenario *v, int n)
{
	const struct web_asset *css, *seq, *page;
	json_t *root = NULL;
	char *text = NULL;
	int rc = -1;

	if (!(css = asset("report.css", "style")) || !(seq = asset("seq.js", "script")) ||
	    !(page = asset("report.js", "script")))
		return -1;
	if (!(root = rp_json(v, n)) ||
	    !(text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)))) {
		hl_error("cannot write the HTML report: out of memory");
		goto out;
	}
	fputs(html_head, out);
	if (put_script_hash(out, seq) < 0 || put_script_hash(out, page) < 0)
		goto out;
	fputs(html_style, out);
	fwrite(css->data, 1, css->len, out);
	fputs(html_body, out);
	put_json_in_script(out, text);
	/* each script's text is exactly the file, as its hash in the policy says */
	fputs("</script>\n<script>", out);
	fwrite(seq->data, 1, seq->len, out);
	fputs("</script>\n<script>", out);
	fwrite(page->data, 1, page->len, out);
	fputs("</script>\n</body>\n</html>\n", out);
	rc = 0;
out:
	free(text);
	json_decref(root);
	return rc;
}
