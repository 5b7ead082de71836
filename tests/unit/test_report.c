/*
 * test_report.c - unit tests for sim/report: the format names, TAP (exact
 * lines and plan), JUnit read back with libxml2, JSON read back with
 * jansson (a step's exchanges included), the HTML page (its structure, its
 * data read back, markup in the run's strings kept from closing the script),
 * the plain and UTF-8 human form, write errors, and freeing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "hgs/kps.h"
#include "proto/remedy.h"
#include "sim/report.h"
#include "tests/unit/testutil.h"

/* Characters XML, JSON and TAP must carry unharmed. */
#define NASTY "<a & b> \"q\" 'x' Größe ✓ #1"

/* A malloc'd copy of S, or NULL. */
static char *dup_or_null(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	assert_non_null(d);
	return d;
}

/* Append a step to S with copies of the strings. */
static void add_step(struct rp_scenario *s, const char *kind, const char *title, int passed, double dur,
		     const char *expected, const char *got, const char *substatus, const char *reason,
		     const char *concept, const char *message, int line)
{
	struct rp_step *st;

	s->steps = realloc(s->steps, (size_t)(s->n_steps + 1) * sizeof(*s->steps));
	assert_non_null(s->steps);
	st = &s->steps[s->n_steps++];
	memset(st, 0, sizeof(*st));
	st->index = s->n_steps;
	st->kind = kind;
	st->title = dup_or_null(title);
	st->passed = passed;
	st->duration_s = dur;
	st->expected = dup_or_null(expected);
	st->got = dup_or_null(got);
	st->substatus = dup_or_null(substatus);
	st->reason = dup_or_null(reason);
	st->concept = dup_or_null(concept);
	st->message = dup_or_null(message);
	st->line = line;
}

/* Fill S's scenario fields. */
static void set_scenario(struct rp_scenario *s, const char *name, const char *file, const char *desc,
			 double dur, double setup, const char *error)
{
	memset(s, 0, sizeof(*s));
	s->name = dup_or_null(name);
	s->file = dup_or_null(file);
	s->description = dup_or_null(desc);
	s->duration_s = dur;
	s->setup_s = setup;
	s->error = dup_or_null(error);
}

/* Set passed from the steps and the error. */
static void finish(struct rp_scenario *s)
{
	s->passed = s->error == NULL;
	for (int i = 0; i < s->n_steps; i++)
		if (!s->steps[i].passed)
			s->passed = 0;
}

/* A passing scenario of two steps. */
static void make_passing(struct rp_scenario *s)
{
	set_scenario(s, "happy", "scenarios/happy.yaml", "everything attests", 5.3, 1.5, NULL);
	add_step(s, "register", "register FabricHost1", 1, 0.5, "Registered", "Registered", NULL, NULL,
		 "HGS records the host's TPM identity (EKpub) and its TCG log as a baseline.", NULL, 10);
	add_step(s, "attest", "attest FabricHost1", 1, 0.21, "Passed", "Passed", NULL, NULL,
		 "The host's boot measurements match the baseline, so HGS issues a health certificate.",
		 NULL, 12);
	finish(s);
}

/* A scenario of three steps, the second failing. */
static void make_failing(struct rp_scenario *s)
{
	set_scenario(s, "debug-host", "scenarios/debug.yaml", "a host booted with debugging", 14.2, 2.1,
		     NULL);
	add_step(s, "register", "register FabricHost2", 1, 0.4, "Registered", "Registered", NULL, NULL,
		 "HGS records the host's TPM identity.", NULL, 20);
	add_step(s, "attest", "attest FabricHost2", 0, 0.21, "Passed",
		 "InsecureHostConfiguration (DebugMode)", "DebugMode",
		 "boot debugging is enabled in PCR 12",
		 "HGS replays the TCG log: boot debugging was on, so Hgs_UefiDebugDisabled fails. "
		 "A host that can be debugged at boot could leak the secrets of the shielded VMs it "
		 "runs, which is exactly what guarded fabric is meant to prevent.",
		 "step 2 (attest FabricHost2) expected Passed, got InsecureHostConfiguration (DebugMode)",
		 24);
	s->steps[1].exchanges = json_pack("[{s:i, s:s, s:s, s:s, s:n, s:s}]", "Id", 4, "Host", "FabricHost2",
					  "Status", "InsecureHostConfiguration",
					  "Reason", "boot debugging is enabled in PCR 12", "Trace",
					  "Hgs", "MyHgsService");
	assert_non_null(s->steps[1].exchanges);
	add_step(s, "start", "start ShieldedVM1 on FabricHost2", 1, 1.75, "refused", "refused", NULL, NULL,
		 "Without a health certificate the KPS releases no key.", NULL, 27);
	finish(s);
}

/* A scenario whose setup failed before any step. */
static void make_setup_error(struct rp_scenario *s)
{
	set_scenario(s, "broken", "scenarios/broken.yaml", "swtpm is missing", 3.0, 0,
		     "cannot start swtpm for 'FabricHost1': not found; run make deps");
	finish(s);
}

/* Run rp_write() of FORMAT on the N scenarios V into a malloc'd string. */
static char *write_str(enum rp_format format, const struct rp_scenario *v, int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(rp_write(f, format, v, n), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Make the human form plain: ASCII marks, no colour. */
static void env_plain(void)
{
	unsetenv("LC_ALL");
	unsetenv("LC_CTYPE");
	setenv("LANG", "C", 1);
	setenv("NO_COLOR", "1", 1);
}

/* The five names parse; anything else fails naming them. */
static void test_format_parse(void **state)
{
	enum rp_format f = RP_HUMAN;

	(void)state;
	assert_int_equal(rp_format_parse("human", &f), 0);
	assert_int_equal(f, RP_HUMAN);
	assert_int_equal(rp_format_parse("tap", &f), 0);
	assert_int_equal(f, RP_TAP);
	assert_int_equal(rp_format_parse("junit", &f), 0);
	assert_int_equal(f, RP_JUNIT);
	assert_int_equal(rp_format_parse("json", &f), 0);
	assert_int_equal(f, RP_JSON);
	assert_int_equal(rp_format_parse("html", &f), 0);
	assert_int_equal(f, RP_HTML);
	hl_error_clear();
	assert_int_equal(rp_format_parse("xml", &f), -1);
	assert_int_equal(f, RP_HTML);
	assert_string_equal(hl_error_last(),
			    "unknown report format 'xml'; use human, tap, junit, json or html");
	assert_int_equal(rp_format_parse("", &f), -1);
	assert_int_equal(rp_format_parse("jsonx", &f), -1);
	assert_int_equal(rp_format_parse(NULL, &f), -1);
	assert_error_has("human, tap, junit, json or html");
}

/* TAP: version, plan over all steps, exact ok / not ok lines and the YAML block. */
static void test_tap(void **state)
{
	struct rp_scenario v[2];
	char *out;
	const char *want =
		"TAP version 13\n"
		"1..5\n"
		"ok 1 - happy: register FabricHost1\n"
		"ok 2 - happy: attest FabricHost1\n"
		"ok 3 - debug-host: register FabricHost2\n"
		"not ok 4 - debug-host: attest FabricHost2\n"
		"  ---\n"
		"  message: \"step 2 (attest FabricHost2) expected Passed, got InsecureHostConfiguration (DebugMode)\"\n"
		"  severity: fail\n"
		"  expected: \"Passed\"\n"
		"  got: \"InsecureHostConfiguration (DebugMode)\"\n"
		"  substatus: \"DebugMode\"\n"
		"  reason: \"boot debugging is enabled in PCR 12\"\n"
		"  file: \"scenarios/debug.yaml\"\n"
		"  line: 24\n"
		"  ...\n"
		"ok 5 - debug-host: start ShieldedVM1 on FabricHost2\n";

	(void)state;
	make_passing(&v[0]);
	make_failing(&v[1]);
	out = write_str(RP_TAP, v, 2);
	assert_string_equal(out, want);
	free(out);

	/* the passing scenario alone */
	out = write_str(RP_TAP, v, 1);
	assert_string_equal(out, "TAP version 13\n1..2\n"
				 "ok 1 - happy: register FabricHost1\n"
				 "ok 2 - happy: attest FabricHost1\n");
	free(out);
	rp_scenario_clear(&v[0]);
	rp_scenario_clear(&v[1]);
}

/* TAP: a setup error with no steps is one not ok line; '#' and quotes are escaped. */
static void test_tap_error_and_escaping(void **state)
{
	struct rp_scenario v[2];
	char *out;

	(void)state;
	make_passing(&v[0]);
	make_setup_error(&v[1]);
	free(v[0].steps[0].title);
	v[0].steps[0].title = strdup("register #1\nnext");
	v[0].steps[1].passed = 0;
	free(v[0].steps[1].message);
	v[0].steps[1].message = strdup("say \"hi\"\\\n");
	out = write_str(RP_TAP, v, 2);
	assert_non_null(strstr(out, "\n1..3\n"));
	assert_non_null(strstr(out, "\nok 1 - happy: register \\#1 next\n"));
	assert_non_null(strstr(out, "\nnot ok 2 - happy: attest FabricHost1\n"));
	assert_non_null(strstr(out, "  message: \"say \\\"hi\\\"\\\\\\n\"\n"));
	assert_non_null(strstr(out, "\nnot ok 3 - broken: setup\n  ---\n"
				    "  message: \"cannot start swtpm for 'FabricHost1': not found; run make deps\"\n"
				    "  severity: fail\n  file: \"scenarios/broken.yaml\"\n  ...\n"));
	free(out);

	out = write_str(RP_TAP, v, 0);
	assert_string_equal(out, "TAP version 13\n1..0\n");
	free(out);
	rp_scenario_clear(&v[0]);
	rp_scenario_clear(&v[1]);
}

/* Attribute NAME of N as a string compared to WANT. */
static void assert_attr(xmlNodePtr n, const char *name, const char *want)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);

	assert_non_null(v);
	assert_string_equal((const char *)v, want);
	xmlFree(v);
}

/* The next element sibling from N on (N included) named NAME, or NULL. */
static xmlNodePtr next_el(xmlNodePtr n, const char *name)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0)
			return n;
	return NULL;
}

/* Number of element children of N named NAME. */
static int count_el(xmlNodePtr n, const char *name)
{
	int c = 0;

	for (xmlNodePtr k = next_el(n->children, name); k; k = next_el(k->next, name))
		c++;
	return c;
}

/* JUnit: well-formed, right counts and attributes, failure and error, strings round-trip. */
static void test_junit(void **state)
{
	struct rp_scenario v[3];
	xmlDocPtr doc;
	xmlNodePtr root, suite, tc, fail;
	xmlChar *text;
	char *out;

	(void)state;
	make_passing(&v[0]);
	make_failing(&v[1]);
	make_setup_error(&v[2]);
	/* nasty strings, and a byte that is not UTF-8 and a control character */
	free(v[0].name);
	v[0].name = strdup(NASTY);
	free(v[1].steps[1].reason);
	v[1].steps[1].reason = strdup("PCR 12 \x01 bad \xff byte & <more>");
	free(v[1].steps[1].message);
	v[1].steps[1].message = strdup("expected " NASTY);
	free(v[2].error);
	v[2].error = strdup("cannot start swtpm\x1b[0m: \xfe");
	out = write_str(RP_JUNIT, v, 3);
	assert_non_null(strstr(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));

	doc = xmlReadMemory(out, (int)strlen(out), "junit.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "testsuites");
	assert_attr(root, "tests", "6");
	assert_attr(root, "failures", "1");
	assert_attr(root, "errors", "1");
	assert_attr(root, "time", "22.500");
	assert_int_equal(count_el(root, "testsuite"), 3);

	suite = next_el(root->children, "testsuite");
	assert_attr(suite, "name", NASTY);
	assert_attr(suite, "tests", "2");
	assert_attr(suite, "failures", "0");
	assert_attr(suite, "errors", "0");
	assert_attr(suite, "time", "5.300");
	assert_int_equal(count_el(suite, "testcase"), 2);
	tc = next_el(suite->children, "testcase");
	assert_attr(tc, "name", "01 register FabricHost1");
	assert_attr(tc, "classname", NASTY);
	assert_attr(tc, "time", "0.500");
	assert_int_equal(count_el(tc, "failure"), 0);

	suite = next_el(suite->next, "testsuite");
	assert_attr(suite, "name", "debug-host");
	assert_attr(suite, "tests", "3");
	assert_attr(suite, "failures", "1");
	assert_attr(suite, "errors", "0");
	tc = next_el(next_el(suite->children, "testcase")->next, "testcase");
	assert_attr(tc, "name", "02 attest FabricHost2");
	assert_attr(tc, "classname", "debug-host");
	assert_attr(tc, "time", "0.210");
	fail = next_el(tc->children, "failure");
	assert_non_null(fail);
	assert_attr(fail, "message", "expected " NASTY);
	text = xmlNodeGetContent(fail);
	assert_non_null(strstr((const char *)text, "expected: Passed\n"));
	assert_non_null(strstr((const char *)text, "got: InsecureHostConfiguration (DebugMode)\n"));
	assert_non_null(strstr((const char *)text, "reason: PCR 12 \xEF\xBF\xBD bad \xEF\xBF\xBD byte & <more>\n"));
	assert_non_null(strstr((const char *)text, "at scenarios/debug.yaml:24\n"));
	xmlFree(text);

	suite = next_el(suite->next, "testsuite");
	assert_attr(suite, "name", "broken");
	assert_attr(suite, "tests", "1");
	assert_attr(suite, "failures", "0");
	assert_attr(suite, "errors", "1");
	tc = next_el(suite->children, "testcase");
	assert_attr(tc, "name", "setup");
	assert_attr(tc, "classname", "broken");
	fail = next_el(tc->children, "error");
	assert_non_null(fail);
	assert_attr(fail, "message", "cannot start swtpm\xEF\xBF\xBD[0m: \xEF\xBF\xBD");
	assert_null(next_el(suite->next, "testsuite"));

	xmlFreeDoc(doc);
	free(out);
	for (int i = 0; i < 3; i++)
		rp_scenario_clear(&v[i]);
}

/* Member KEY of O as a string, checked against WANT (NULL: JSON null). */
static void assert_jstr(const json_t *o, const char *key, const char *want)
{
	json_t *j = json_object_get(o, key);

	assert_non_null(j);
	if (!want) {
		assert_true(json_is_null(j));
		return;
	}
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), want);
}

/* JSON: the shape of report.h, values, nulls, booleans and nasty strings. */
static void test_json(void **state)
{
	static const char *const step_keys[] = { "Index", "Kind", "Title", "Passed", "DurationSeconds",
						 "Expected", "Got", "Substatus", "Reason", "Node", "Concept",
						 "Timing", "Message", "Line", "Exchanges",
						 "Remedy" };
	struct rp_scenario v[3];
	json_error_t jerr;
	json_t *root, *sc, *steps, *st;
	char *out;

	(void)state;
	make_passing(&v[0]);
	make_failing(&v[1]);
	make_setup_error(&v[2]);
	free(v[0].steps[1].title);
	v[0].steps[1].title = strdup(NASTY);
	free(v[0].steps[1].concept);
	v[0].steps[1].concept = strdup("bad \xc3 byte");
	out = write_str(RP_JSON, v, 3);
	root = json_loads(out, 0, &jerr);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "Passed")), 1);
	assert_int_equal(json_integer_value(json_object_get(root, "Failed")), 2);
	assert_int_equal(json_array_size(json_object_get(root, "Scenarios")), 3);

	sc = json_array_get(json_object_get(root, "Scenarios"), 0);
	assert_jstr(sc, "Name", "happy");
	assert_jstr(sc, "File", "scenarios/happy.yaml");
	assert_true(json_is_true(json_object_get(sc, "Passed")));
	assert_true(json_real_value(json_object_get(sc, "DurationSeconds")) == 5.3);
	assert_jstr(sc, "Error", NULL);
	steps = json_object_get(sc, "Steps");
	assert_int_equal(json_array_size(steps), 2);
	st = json_array_get(steps, 1);
	for (size_t i = 0; i < sizeof(step_keys) / sizeof(step_keys[0]); i++)
		assert_non_null(json_object_get(st, step_keys[i]));
	assert_int_equal(json_object_size(st), sizeof(step_keys) / sizeof(step_keys[0]));
	assert_int_equal(json_integer_value(json_object_get(st, "Index")), 2);
	assert_jstr(st, "Kind", "attest");
	assert_jstr(st, "Title", NASTY);
	assert_jstr(st, "Concept", "bad \xEF\xBF\xBD byte");
	assert_jstr(st, "Substatus", NULL);
	assert_jstr(st, "Message", NULL);
	assert_jstr(st, "Timing", NULL);
	assert_int_equal(json_integer_value(json_object_get(st, "Line")), 12);
	assert_true(json_is_array(json_object_get(st, "Exchanges")));
	assert_int_equal(json_array_size(json_object_get(st, "Exchanges")), 0);
	assert_jstr(st, "Remedy", NULL);          /* Passed: nothing to do */

	sc = json_array_get(json_object_get(root, "Scenarios"), 1);
	assert_true(json_is_false(json_object_get(sc, "Passed")));
	st = json_array_get(json_object_get(sc, "Steps"), 1);
	assert_true(json_is_false(json_object_get(st, "Passed")));
	assert_true(json_real_value(json_object_get(st, "DurationSeconds")) == 0.21);
	assert_jstr(st, "Expected", "Passed");
	assert_jstr(st, "Got", "InsecureHostConfiguration (DebugMode)");
	assert_jstr(st, "Substatus", "DebugMode");
	assert_jstr(st, "Reason", "boot debugging is enabled in PCR 12");
	assert_int_equal(json_array_size(json_object_get(st, "Exchanges")), 1);
	assert_true(json_equal(json_object_get(st, "Exchanges"), v[1].steps[1].exchanges));
	assert_jstr(st, "Remedy", hl_remedy_substatus(HGS_SUB_DEBUG_MODE));
	st = json_array_get(json_object_get(sc, "Steps"), 2);
	assert_jstr(st, "Got", "refused");
	assert_jstr(st, "Remedy", NULL);          /* a refusal that names no known cause */

	sc = json_array_get(json_object_get(root, "Scenarios"), 2);
	assert_jstr(sc, "Error", "cannot start swtpm for 'FabricHost1': not found; run make deps");
	assert_int_equal(json_array_size(json_object_get(sc, "Steps")), 0);
	assert_true(json_is_false(json_object_get(sc, "Passed")));

	json_decref(root);
	free(out);
	for (int i = 0; i < 3; i++)
		rp_scenario_clear(&v[i]);
}

/* A string of the run that tries to end the data's script element and run its own. */
#define HOSTILE "</script><img src=x onerror=\"alert(1)\"><!--<script>x</SCRIPT >&amp; ✓"

/* How many times NEEDLE occurs in HAY. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * HTML: one self-contained page (doctype, CSP with the scripts' hashes,
 * inline style and scripts, no src / href / link), the run's JSON in one script element that reads back
 * as the JSON report's document, and a hostile string in it stays data: no
 * '<' of the run reaches the page, the only script ends are the page's own.
 */
static void test_html(void **state)
{
	static const char doctype[] = "<!DOCTYPE html>\n<html lang=\"en\">\n";
	static const char data_open[] = "<script type=\"application/json\" id=\"hgslab-report-data\">";
	struct rp_scenario v[3];
	json_error_t jerr;
	json_t *data, *want;
	char *out, *json;
	const char *p, *end;

	(void)state;
	make_passing(&v[0]);
	make_failing(&v[1]);
	make_setup_error(&v[2]);
	free(v[0].steps[1].title);
	v[0].steps[1].title = strdup(HOSTILE);
	free(v[1].description);
	v[1].description = strdup(HOSTILE);
	assert_int_equal(json_object_set_new(json_array_get(v[1].steps[1].exchanges, 0), "Reason",
					     json_string(HOSTILE)), 0);
	out = write_str(RP_HTML, v, 3);

	assert_true(!strncmp(out, doctype, strlen(doctype)));
	assert_non_null(strstr(out, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'"));
	/* the policy lets only the two scripts run, by their hashes (the browser test sees them run) */
	assert_non_null(strstr(out, "; script-src 'sha256-"));
	assert_int_equal(count_of(out, "'sha256-"), 2);
	assert_int_equal(count_of(out, "'unsafe-inline'"), 1);
	assert_non_null(strstr(out, "style-src 'unsafe-inline'"));
	assert_non_null(strstr(out, "<meta charset=\"utf-8\">"));
	assert_true(strlen(out) > 20 && !strcmp(out + strlen(out) - 16, "</body>\n</html>\n"));
	/* self-contained: the style and both scripts inline, nothing loaded */
	assert_int_equal(count_of(out, "<style>"), 1);
	assert_non_null(strstr(out, "HgslabSeq"));              /* web/seq.js */
	assert_non_null(strstr(out, "hgslab-report-data"));     /* web/report.js reads it */
	/* three script elements (data, seq.js, report.js), three ends, whatever the run said */
	assert_int_equal(count_of(out, "<script"), 3);
	assert_int_equal(count_of(out, "</script>"), 3);
	assert_null(strstr(out, "</SCRIPT"));
	assert_null(strstr(out, "<img"));
	assert_null(strstr(out, "<!--"));
	assert_int_equal(count_of(out, data_open), 1);
	p = strstr(out, data_open) + strlen(data_open);
	end = strstr(p, "</script>");
	assert_non_null(end);
	/* the data holds no markup character; the page around it loads nothing */
	assert_null(memchr(p, '<', (size_t)(end - p)));
	assert_null(memchr(p, '>', (size_t)(end - p)));
	json = strndup(p, (size_t)(end - p));
	assert_non_null(json);
	memmove((char *)p, end, strlen(end) + 1);
	assert_null(strstr(out, " src="));
	assert_null(strstr(out, " href="));
	assert_null(strstr(out, "<link"));

	/* the data reads back as the JSON report's document, hostile strings intact */
	data = json_loads(json, 0, &jerr);
	assert_non_null(data);
	want = rp_json(v, 3);
	assert_non_null(want);
	assert_true(json_equal(data, want));
	assert_jstr(json_array_get(json_object_get(json_array_get(json_object_get(data, "Scenarios"), 0),
						   "Steps"), 1), "Title", HOSTILE);
	assert_jstr(json_array_get(json_object_get(data, "Scenarios"), 1), "Description", HOSTILE);

	json_decref(want);
	json_decref(data);
	free(json);
	free(out);
	for (int i = 0; i < 3; i++)
		rp_scenario_clear(&v[i]);
}

/* Whether text T has the line L (whole line). */
static int has_line(const char *t, const char *l)
{
	size_t n = strlen(l);

	for (const char *p = t; (p = strstr(p, l)); p++)
		if ((p == t || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Stream the human form of the N scenarios V into a malloc'd string. */
static char *human_str(const struct rp_scenario *v, int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	for (int i = 0; i < n; i++) {
		rp_human_begin(f, &v[i]);
		rp_human_setup(f, &v[i]);
		for (int k = 0; k < v[i].n_steps; k++)
			rp_human_step(f, &v[i].steps[k]);
		rp_human_end(f, &v[i]);
	}
	assert_int_equal(rp_write(f, RP_HUMAN, v, n), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Plain human form: ASCII marks, no escape codes, aligned durations, wrapped concept, summary. */
static void test_human_plain(void **state)
{
	struct rp_scenario v[3];
	char *out, *line, *save = NULL, want[128];
	int longest = 0;

	(void)state;
	env_plain();
	make_passing(&v[0]);
	make_failing(&v[1]);
	make_setup_error(&v[2]);
	out = human_str(v, 3);
	assert_null(strchr(out, '\033'));
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		assert_true(*p < 0x80);
	assert_true(has_line(out, "== debug-host - a host booted with debugging"));
	assert_true(has_line(out, "  fabric up in 2.1 s"));
	snprintf(want, sizeof(want), "%-94s%s", "  ok    1 register FabricHost2 -> Registered", "0.40 s");
	assert_true(has_line(out, want));
	assert_non_null(strstr(out, "\n  FAIL  2 attest FabricHost2 -> InsecureHostConfiguration (DebugMode) "));
	/* the concept and the message wrap at 100 columns under the title */
	assert_non_null(strstr(out, "\n          HGS replays the TCG log: boot debugging was on, so "
				    "Hgs_UefiDebugDisabled fails. A host\n"
				    "          that can be debugged at boot could leak the secrets of the "
				    "shielded VMs it runs, which is\n"
				    "          exactly what guarded fabric is meant to prevent.\n"
				    "          line 24: step 2 (attest FabricHost2) expected Passed, got "
				    "InsecureHostConfiguration\n"
				    "          (DebugMode)\n"
				    "          remedy: Turn boot debugging off (bcdedit /debug off in the real "
				    "world; profile debug=off\n"
				    "          here) and reboot the host.\n"
				    "  ok    3 start ShieldedVM1"));
	assert_true(has_line(out, "debug-host: 2 of 3 steps passed in 14.2 s (fabric up 2.1 s)"));
	assert_true(has_line(out, "happy: 2 of 2 steps passed in 5.3 s (fabric up 1.5 s)"));
	assert_true(has_line(out, "  ERROR: cannot start swtpm for 'FabricHost1': not found; run make deps"));
	assert_true(has_line(out, "broken: setup failed after 3.0 s"));
	assert_null(strstr(out, "fabric up in 0.0 s"));
	assert_true(has_line(out, "scenario    steps  result      time"));
	assert_true(has_line(out, "happy         2/2  passed     5.3 s"));
	assert_true(has_line(out, "debug-host    2/3  FAILED    14.2 s"));
	assert_true(has_line(out, "broken        0/0  ERROR      3.0 s"));
	assert_true(has_line(out, "3 scenarios: 1 passed, 2 failed"));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if ((int)strlen(line) > longest)
			longest = (int)strlen(line);
	assert_int_equal(longest, 100);
	free(out);
	for (int i = 0; i < 3; i++)
		rp_scenario_clear(&v[i]);
}

/* A UTF-8 locale gives the marks ✓ and ✗ (still no colour off a terminal). */
static void test_human_utf8(void **state)
{
	struct rp_scenario v;
	char *out;

	(void)state;
	unsetenv("LC_ALL");
	unsetenv("LC_CTYPE");
	setenv("LANG", "en_US.UTF-8", 1);
	unsetenv("NO_COLOR");
	make_failing(&v);
	out = human_str(&v, 1);
	assert_null(strchr(out, '\033'));
	assert_true(has_line(out, "\xE2\x96\xB6 debug-host \xE2\x80\x94 a host booted with debugging"));
	assert_non_null(strstr(out, "\n  \xE2\x9C\x93  1 register FabricHost2 -> Registered "));
	assert_non_null(strstr(out, "\n  \xE2\x9C\x97  2 attest FabricHost2 -> "));
	assert_non_null(strstr(out, "\n       HGS replays the TCG log"));
	assert_true(has_line(out, "1 scenario: 0 passed, 1 failed"));
	free(out);

	/* LC_ALL wins over LANG */
	setenv("LC_ALL", "C", 1);
	out = human_str(&v, 1);
	assert_null(strstr(out, "\xE2\x9C\x93"));
	assert_non_null(strstr(out, "\n  FAIL  2 attest"));
	free(out);
	unsetenv("LC_ALL");
	rp_scenario_clear(&v);
}

/* Every format reports a full disk and a stream it cannot write as -1 with a message. */
static void test_write_errors(void **state)
{
	static const enum rp_format formats[] = { RP_HUMAN, RP_TAP, RP_JUNIT, RP_JSON, RP_HTML };
	struct rp_scenario v[2];
	FILE *f;

	(void)state;
	env_plain();
	make_passing(&v[0]);
	make_failing(&v[1]);
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		f = fopen("/dev/full", "w");
		assert_non_null(f);
		hl_error_clear();
		assert_int_equal(rp_write(f, formats[i], v, 2), -1);
		assert_error_has("cannot write the ");
		assert_error_has("No space left on device");
		fclose(f);

		f = fopen("/dev/null", "r");
		assert_non_null(f);
		hl_error_clear();
		assert_int_equal(rp_write(f, formats[i], v, 2), -1);
		assert_error_has("cannot write the ");
		fclose(f);
	}
	/* streamed lines that failed earlier are reported by the closing rp_write() */
	f = fopen("/dev/null", "r");
	assert_non_null(f);
	rp_human_step(f, &v[1].steps[1]);
	assert_int_equal(rp_write(f, RP_HUMAN, NULL, 0), -1);
	fclose(f);
	rp_scenario_clear(&v[0]);
	rp_scenario_clear(&v[1]);
}

/*
 * Every refusal ends with its remedy line, the same sentence as the JSON's
 * Remedy: a KPS refusal (by its reason code), an expected refusal that
 * passed, an unreachable HGS; a VM that runs has none.
 */
static void test_remedy_line(void **state)
{
	struct rp_scenario v;
	char *out, want[512];
	json_t *root, *steps;

	(void)state;
	env_plain();
	set_scenario(&v, "kp", "scenarios/kp.yaml", "a key protector of another fabric", 3.0, 1.0, NULL);
	add_step(&v, "start", "start VM1 on FabricHost1", 1, 0.3, "refused", "refused", NULL,
		 "key release refused by 'http://hgs.relecloud.com:1/KeyProtection/v1/release': "
		 "GuardianNotListed: the key protector names no guardian of this HGS", NULL, NULL, 5);
	add_step(&v, "attest", "attest FabricHost1", 0, 0.2, "Passed", "TransientError", NULL,
		 "cannot reach 'http://hgs.relecloud.com:1': connection refused", NULL, NULL, 6);
	add_step(&v, "start", "start VM1 on FabricHost1", 1, 0.3, "running", "running", NULL,
		 "workload: ok", NULL, NULL, 7);
	finish(&v);
	out = human_str(&v, 1);
	snprintf(want, sizeof(want), "          remedy: %.60s", hl_remedy_kps("GuardianNotListed"));
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "          remedy: %.60s", hl_remedy_status(HGS_STATUS_TRANSIENT_ERROR));
	assert_non_null(strstr(out, want));
	assert_int_equal(strstr(strstr(out, "remedy: HGS did not"), "remedy:") - out,
			 strstr(out, "remedy: HGS did not") - out);   /* two remedy lines, not three */
	assert_null(strstr(strstr(out, "remedy: HGS did not") + 1, "remedy:"));
	free(out);
	out = write_str(RP_JSON, &v, 1);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	steps = json_object_get(json_array_get(json_object_get(root, "Scenarios"), 0), "Steps");
	assert_jstr(json_array_get(steps, 0), "Remedy", hl_remedy_kps("GuardianNotListed"));
	assert_jstr(json_array_get(steps, 1), "Remedy", hl_remedy_status(HGS_STATUS_TRANSIENT_ERROR));
	assert_jstr(json_array_get(steps, 2), "Remedy", NULL);
	json_decref(root);
	free(out);
	rp_scenario_clear(&v);
}

/* rp_scenario_clear frees everything (ASan / valgrind see leaks), zeroes, and takes NULL. */
static void test_clear(void **state)
{
	struct rp_scenario s;

	(void)state;
	rp_scenario_clear(NULL);
	make_failing(&s);
	rp_scenario_clear(&s);
	assert_null(s.steps);
	assert_null(s.name);
	assert_int_equal(s.n_steps, 0);
	rp_scenario_clear(&s);
	make_setup_error(&s);
	rp_scenario_clear(&s);
	assert_null(s.error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_tap_error_and_escaping),
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_human_plain),
		cmocka_unit_test(test_human_utf8),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_remedy_line),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
