/*
 * test_http.c - unit tests for lib/http: a real server on loopback with a
 * route table, exercised by the real client (and by raw libcurl and raw
 * sockets where the client cannot produce the case: chunked uploads, idle and
 * half-sent connections at stop), the server's worker pool and the client's
 * kept connections, and slow clients: a request that trickles in is cut at
 * the deadline for a whole request while a handler slower than it is not,
 * and one client address holds no more than its share of the connections.
 * Every test stops and frees its servers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "tests/unit/testutil.h"

#define MAX_BODY 1024

static atomic_int handler_calls;

/* GET /ping: "pong" as text/plain. */
static int h_ping(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	(void)req;
	(void)user;
	atomic_fetch_add(&handler_calls, 1);
	return hl_http_response_set(resp, 200, "text/plain", "pong", 4);
}

/* POST /echo: the body back with the request's content type. */
static int h_echo(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	const char *ctype = hl_http_request_header(req, "content-type");

	(void)user;
	atomic_fetch_add(&handler_calls, 1);
	return hl_http_response_set(resp, 200, ctype ? ctype : "", req->body, req->body_len);
}

/* POST /json: parse the body, require "nonce", answer 400 on bad input. */
static int h_json(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	const char *nonce;
	json_t *in = NULL, *reply;
	int rc;

	(void)user;
	atomic_fetch_add(&handler_calls, 1);
	if (hl_json_parse(req->body, req->body_len, MAX_BODY, &in) < 0 ||
	    hl_json_get_string(in, "nonce", &nonce) < 0) {
		json_decref(in);
		return hl_http_response_error(resp, 400, "bad request: %s", hl_error_last());
	}
	reply = json_pack("{s:s, s:I}", "nonce", nonce, "bytes", (json_int_t)req->body_len);
	rc = hl_http_response_json(resp, 200, reply);
	json_decref(reply);
	json_decref(in);
	return rc;
}

/* GET /info: query argument "nonce", Host and User-Agent headers, the peer. */
static int h_info(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	const char *nonce = hl_http_request_query(req, "nonce");
	const char *host = hl_http_request_header(req, "HOST");
	const char *ua = hl_http_request_header(req, "user-agent");
	json_t *reply;
	int rc;

	(void)user;
	atomic_fetch_add(&handler_calls, 1);
	reply = json_pack("{s:s?, s:s?, s:s?, s:s, s:s}", "nonce", nonce, "host", host, "ua", ua,
			  "remote", req->remote, "path", req->path);
	rc = hl_http_response_json(resp, 200, reply);
	json_decref(reply);
	return rc;
}

/* GET /fail: a handler error becomes 500 with its message. */
static int h_fail(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	(void)req;
	(void)user;
	atomic_fetch_add(&handler_calls, 1);
	hl_http_response_set(resp, 200, "text/plain", "discarded", 9);
	return hl_error("cannot record the attestation: database is locked");
}

/* Any method on /any, and the prefix route: the method and path as text. */
static int h_method(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	char text[256];

	(void)user;
	atomic_fetch_add(&handler_calls, 1);
	snprintf(text, sizeof(text), "%s %s", req->method, req->path);
	return hl_http_response_set(resp, 200, "text/plain", text, strlen(text));
}

/* GET /slow: answers after 400 ms. */
static int h_slow(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct timespec ts = { 0, 400 * 1000 * 1000 };

	(void)req;
	(void)user;
	nanosleep(&ts, NULL);
	return hl_http_response_set(resp, 200, "text/plain", "late", 4);
}

/* GET /slower: answers after 1.5 s, longer than the slow-client tests' request deadline. */
static int h_slower(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct timespec ts = { 1, 500 * 1000 * 1000 };

	(void)req;
	(void)user;
	nanosleep(&ts, NULL);
	return hl_http_response_set(resp, 200, "text/plain", "later", 5);
}

/* GET /big: 10000 bytes. */
static int h_big(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	char buf[10000];

	(void)req;
	(void)user;
	memset(buf, 'b', sizeof(buf));
	return hl_http_response_set(resp, 200, "text/plain", buf, sizeof(buf));
}

/* A stream's state: calls so far; whether it ends after three ticks. */
struct tick_stream {
	int calls;
	int ticks;
	int forever;
};

static atomic_int streams_freed;

/* Stream function: "tick N\n" on every other call (nothing in between), three ticks or forever. */
static long tick_next(void *user, char *buf, size_t max)
{
	struct tick_stream *t = user;

	if (t->calls++ % 2)
		return 0;
	if (!t->forever && t->ticks == 3)
		return -1;
	return snprintf(buf, max, "tick %d\n", ++t->ticks);
}

static void tick_free(void *user)
{
	free(user);
	atomic_fetch_add(&streams_freed, 1);
}

/* GET /stream and /forever: a streamed answer (text/event-stream). */
static int h_stream(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct tick_stream *t = calloc(1, sizeof(*t));

	(void)user;
	if (!t)
		return hl_error("out of memory");
	t->forever = !strcmp(req->path, "/forever");
	snprintf(resp->content_type, sizeof(resp->content_type), "text/event-stream");
	resp->stream = tick_next;
	resp->stream_user = t;
	resp->stream_free = tick_free;
	return 0;
}

static const struct hl_http_route routes[] = {
	{ "GET", "/stream", h_stream, NULL },
	{ "GET", "/forever", h_stream, NULL },
	{ "GET", "/ping", h_ping, NULL },
	{ "POST", "/echo", h_echo, NULL },
	{ "POST", "/json", h_json, NULL },
	{ "PUT", "/json", h_json, NULL },
	{ "GET", "/info", h_info, NULL },
	{ "GET", "/fail", h_fail, NULL },
	{ NULL, "/any", h_method, NULL },
	{ "GET", "/Attestation/*", h_method, NULL },
	{ "GET", "/slow", h_slow, NULL },
	{ "GET", "/slower", h_slower, NULL },
	{ "GET", "/big", h_big, NULL },
};

struct fixture {
	struct hl_http_server *srv;
	char base[64];
};

/* Start a server with ROUTES on ADDRESS, port 0. */
static struct hl_http_server *server_start(const char *address)
{
	struct hl_http_server_config cfg = {
		.address = address,
		.port = 0,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]),
		.max_body = MAX_BODY,
	};
	struct hl_http_server *srv = NULL;

	if (hl_http_server_start(&cfg, &srv) < 0)
		fail_msg("server start: %s", hl_error_last());
	assert_non_null(srv);
	assert_int_not_equal(hl_http_server_port(srv), 0);
	return srv;
}

/* Per-test server on 127.0.0.1 with an ephemeral port. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->srv = server_start("127.0.0.1");
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", hl_http_server_port(f->srv));
	atomic_store(&handler_calls, 0);
	*state = f;
	return 0;
}

/* Stop and free the per-test server. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	hl_http_server_stop(f->srv);
	free(f);
	return 0;
}

/* BASE + PATH into a static buffer (one at a time). */
static const char *url(const struct fixture *f, const char *path)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s%s", f->base, path);
	return buf;
}

/* The string member NAME of the JSON reply body, parsed into *HOLD. */
static const char *reply_field(const struct hl_http_reply *r, const char *name, json_t **hold)
{
	const char *s;

	if (hl_json_parse(r->body, r->body_len, 0, hold) < 0)
		fail_msg("reply is not JSON: %s", hl_error_last());
	if (hl_json_get_string(*hold, name, &s) < 0)
		fail_msg("reply: %s", hl_error_last());
	return s;
}

/* GET and POST round trips, a JSON body in and out, binary bodies intact. */
static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	const char *doc = "{\"nonce\": \"q83v\"}";
	unsigned char bin[300];
	struct hl_http_reply r;
	json_t *hold = NULL;
	json_int_t bytes;
	size_t i;

	assert_int_equal(hl_http_get(url(f, "/ping"), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "pong");
	assert_string_equal(r.content_type, "text/plain");
	assert_int_equal(hl_http_reply_check("x", &r), 0);
	hl_http_reply_release(&r);
	assert_null(r.body);

	assert_int_equal(hl_http_post(url(f, "/json"), "application/json", doc, strlen(doc), NULL,
				      &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(reply_field(&r, "nonce", &hold), "q83v");
	assert_int_equal(hl_json_get_int(hold, "bytes", &bytes), 0);
	assert_int_equal(bytes, strlen(doc));
	json_decref(hold);
	hl_http_reply_release(&r);

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)i;
	assert_int_equal(hl_http_post(url(f, "/echo"), "application/octet-stream", bin,
				      sizeof(bin), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, sizeof(bin));
	assert_memory_equal(r.body, bin, sizeof(bin));
	assert_string_equal(r.content_type, "application/octet-stream");
	hl_http_reply_release(&r);

	assert_int_equal(hl_http_post(url(f, "/echo"), "text/plain", NULL, 0, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	assert_string_equal(r.body, "");
	hl_http_reply_release(&r);
	assert_int_equal(atomic_load(&handler_calls), 4);
}

/* Query arguments (decoded), headers in any case and the peer reach handlers. */
static void test_request_fields(void **state)
{
	struct fixture *f = *state;
	struct hl_http_reply r;
	json_t *hold = NULL, *hold2 = NULL, *hold3 = NULL, *hold4 = NULL;

	assert_int_equal(hl_http_get(url(f, "/info?nonce=q%20x&other=1"), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(reply_field(&r, "nonce", &hold), "q x");
	assert_string_equal(reply_field(&r, "ua", &hold2), "hgslab");
	assert_string_equal(reply_field(&r, "path", &hold3), "/info");
	assert_true(strncmp(reply_field(&r, "remote", &hold4), "127.0.0.1:", 10) == 0);
	json_decref(hold);
	json_decref(hold2);
	json_decref(hold3);
	json_decref(hold4);
	hl_http_reply_release(&r);
}

/* A path ending in '*' matches by prefix; a NULL method matches any method. */
static void test_prefix_and_any(void **state)
{
	struct fixture *f = *state;
	struct hl_http_reply r;

	assert_int_equal(hl_http_get(url(f, "/Attestation/v2/nonce"), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "GET /Attestation/v2/nonce");
	hl_http_reply_release(&r);
	assert_int_equal(hl_http_get(url(f, "/Attestation"), NULL, &r), 0);
	assert_int_equal(r.status, 404);
	hl_http_reply_release(&r);
	assert_int_equal(hl_http_post(url(f, "/any"), "text/plain", "x", 1, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "POST /any");
	hl_http_reply_release(&r);
}

/* Unknown paths get 404 and wrong methods 405, as JSON errors, without a handler call. */
static void test_404_405(void **state)
{
	struct fixture *f = *state;
	struct hl_http_reply r;
	json_t *hold = NULL;
	char expect[256];

	assert_int_equal(hl_http_get(url(f, "/nope"), NULL, &r), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(reply_field(&r, "error", &hold), "no resource at '/nope' on this server");
	json_decref(hold);
	assert_int_equal(hl_http_reply_check(url(f, "/nope"), &r), -1);
	snprintf(expect, sizeof(expect), "'%s/nope' answered 404: no resource at '/nope' on this server",
		 f->base);
	assert_string_equal(hl_error_last(), expect);
	hl_http_reply_release(&r);

	assert_int_equal(hl_http_post(url(f, "/ping"), "text/plain", "x", 1, NULL, &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(reply_field(&r, "error", &hold),
			    "method 'POST' is not allowed for '/ping'; allowed: GET");
	json_decref(hold);
	hl_http_reply_release(&r);

	assert_int_equal(hl_http_get(url(f, "/json"), NULL, &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(reply_field(&r, "error", &hold),
			    "method 'GET' is not allowed for '/json'; allowed: POST, PUT");
	json_decref(hold);
	hl_http_reply_release(&r);
	assert_int_equal(atomic_load(&handler_calls), 0);
}

/* A failing handler gives 500 with its message; what it put in the response is dropped. */
static void test_handler_error(void **state)
{
	struct fixture *f = *state;
	struct hl_http_reply r;
	json_t *hold = NULL;

	assert_int_equal(hl_http_get(url(f, "/fail"), NULL, &r), 0);
	assert_int_equal(r.status, 500);
	assert_string_equal(reply_field(&r, "error", &hold),
			    "cannot record the attestation: database is locked");
	json_decref(hold);
	hl_http_reply_release(&r);
}

/* Feeds a chunked upload of *left bytes of 'x' to libcurl. */
static size_t chunk_read(char *buf, size_t size, size_t nmemb, void *user)
{
	size_t *left = user, n = size * nmemb;

	if (n > *left)
		n = *left;
	if (n > 700)
		n = 700;
	memset(buf, 'x', n);
	*left -= n;
	return n;
}

/* Discards a reply body for raw libcurl requests. */
static size_t discard(char *data, size_t size, size_t nmemb, void *user)
{
	(void)data;
	(void)user;
	return size * nmemb;
}

/* Status of a chunked POST of LEN bytes to URL, sent with raw libcurl. */
static long chunked_post(const char *u, size_t len)
{
	struct curl_slist *headers = NULL;
	long status = 0;
	CURL *h;

	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	h = curl_easy_init();
	assert_non_null(h);
	headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
	headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
	curl_easy_setopt(h, CURLOPT_URL, u);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, chunk_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	return status;
}

/* Bodies over max_body get 413 without the handler; max_body itself is fine. */
static void test_oversized(void **state)
{
	struct fixture *f = *state;
	size_t big = 4 << 20;
	struct hl_http_reply r;
	json_t *hold = NULL;
	char *buf;

	buf = malloc(big);
	assert_non_null(buf);
	memset(buf, 'a', big);
	assert_int_equal(hl_http_post(url(f, "/echo"), "text/plain", buf, MAX_BODY + 1, NULL, &r), 0);
	assert_int_equal(r.status, 413);
	assert_string_equal(reply_field(&r, "error", &hold),
			    "request body is over the limit of 1024 bytes");
	json_decref(hold);
	hl_http_reply_release(&r);
	/* large enough for libcurl to send "Expect: 100-continue" */
	assert_int_equal(hl_http_post(url(f, "/echo"), "text/plain", buf, big, NULL, &r), 0);
	assert_int_equal(r.status, 413);
	hl_http_reply_release(&r);
	assert_int_equal(atomic_load(&handler_calls), 0);

	/* no declared length: the body is counted as it arrives */
	assert_int_equal(chunked_post(url(f, "/echo"), MAX_BODY + 1), 413);
	assert_int_equal(chunked_post(url(f, "/echo"), 10 * MAX_BODY), 413);
	assert_int_equal(atomic_load(&handler_calls), 0);
	assert_int_equal(chunked_post(url(f, "/echo"), MAX_BODY), 200);
	assert_int_equal(atomic_load(&handler_calls), 1);

	assert_int_equal(hl_http_post(url(f, "/echo"), "text/plain", buf, MAX_BODY, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, MAX_BODY);
	hl_http_reply_release(&r);
	assert_int_equal(atomic_load(&handler_calls), 2);
	free(buf);
}

/* Random bytes to a JSON route get 400 with a clear message; the server lives on. */
static void test_random_json(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "{\"nonce\": 1}", "{\"nonce\": \"a\"", "[]", "\"x\"",
					   "{\"nonce\": \"a\"} trailing" };
	unsigned char body[MAX_BODY];
	struct hl_http_reply r;
	uint32_t x = 88172645u;
	json_t *hold = NULL;
	size_t i, n, len;

	for (n = 0; n < 60; n++) {
		len = 1 + (n * 37) % MAX_BODY;
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			body[i] = (unsigned char)x;
		}
		assert_int_equal(hl_http_post(url(f, "/json"), "application/json", body, len, NULL,
					      &r), 0);
		assert_int_equal(r.status, 400);
		assert_non_null(strstr(reply_field(&r, "error", &hold), "bad request: "));
		json_decref(hold);
		hl_http_reply_release(&r);
	}
	for (n = 0; n < sizeof(bad) / sizeof(bad[0]); n++) {
		assert_int_equal(hl_http_post(url(f, "/json"), "application/json", bad[n],
					      strlen(bad[n]), NULL, &r), 0);
		assert_int_equal(r.status, 400);
		hl_http_reply_release(&r);
	}
	assert_int_equal(hl_http_post(url(f, "/json"), "application/json", "{\"nonce\": 1}", 12,
				      NULL, &r), 0);
	assert_string_equal(reply_field(&r, "error", &hold),
			    "bad request: field 'nonce' must be a string, got an integer");
	json_decref(hold);
	hl_http_reply_release(&r);
	assert_int_equal(hl_http_post(url(f, "/json"), "application/json", "{\"a\":\xff}", 7, NULL,
				      &r), 0);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(reply_field(&r, "error", &hold), "bad request: bad JSON at line 1"));
	json_decref(hold);
	hl_http_reply_release(&r);
	assert_int_equal(hl_http_get(url(f, "/ping"), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	hl_http_reply_release(&r);
}

/* The resolve list maps hgs.relecloud.com to the server's loopback address. */
static void test_resolve(void **state)
{
	struct hl_http_server *srv;
	struct hl_http_reply r;
	json_t *hold = NULL;
	char u[128], entry[128], host[64];
	const char *resolve[] = { entry, NULL };
	struct hl_http_opts opts = { .timeout_ms = 3000, .resolve = resolve };
	const char *bad_entries[] = { "hgs.relecloud.com", NULL };
	unsigned port;

	(void)state;
	srv = server_start("127.0.0.2");
	port = hl_http_server_port(srv);
	snprintf(u, sizeof(u), "http://hgs.relecloud.com:%u/info", port);
	snprintf(entry, sizeof(entry), "hgs.relecloud.com:%u:127.0.0.2", port);
	snprintf(host, sizeof(host), "hgs.relecloud.com:%u", port);
	assert_int_equal(hl_http_get(u, &opts, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(reply_field(&r, "host", &hold), host);
	json_decref(hold);
	hl_http_reply_release(&r);

	/* the server listens on 127.0.0.2 only */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/info", port);
	assert_int_equal(hl_http_get(u, &opts, &r), -1);
	assert_error_has("connection refused");

	/* a name mapped to an address where nothing listens */
	snprintf(u, sizeof(u), "http://hgs.relecloud.com:%u/info", port);
	snprintf(entry, sizeof(entry), "hgs.relecloud.com:%u:127.0.0.3", port);
	assert_int_equal(hl_http_get(u, &opts, &r), -1);
	assert_null(r.body);
	assert_error_has("cannot reach 'http://hgs.relecloud.com:");
	assert_error_has("connection refused");

	opts.resolve = bad_entries;
	assert_int_equal(hl_http_get(u, &opts, &r), -1);
	assert_error_has("invalid resolve entry 'hgs.relecloud.com'");
	hl_http_server_stop(srv);
}

/* A closed port, a bad URL, a timeout and an oversized reply are clear errors. */
static void test_client_errors(void **state)
{
	struct fixture *f = *state;
	struct hl_http_opts opts = { .timeout_ms = 100, .max_reply = 1000 };
	struct hl_http_reply r;
	char u[128], expect[256];

	snprintf(u, sizeof(u), "http://127.0.0.1:%u/Attestation/x", tu_closed_port());
	assert_int_equal(hl_http_get(u, NULL, &r), -1);
	assert_null(r.body);
	snprintf(expect, sizeof(expect), "cannot reach '%s': connection refused; ", u);
	assert_true(strncmp(hl_error_last(), expect, strlen(expect)) == 0);

	assert_int_equal(hl_http_get("gopher://127.0.0.1/x", NULL, &r), -1);
	assert_error_has("invalid URL 'gopher://127.0.0.1/x'");

	assert_int_equal(hl_http_get(url(f, "/slow"), &opts, &r), -1);
	assert_error_has("within 100 ms");

	assert_int_equal(hl_http_get(url(f, "/big"), &opts, &r), -1);
	assert_error_has("is over the limit of 1000 bytes");
	opts.max_reply = 10000;
	opts.timeout_ms = 0;
	assert_int_equal(hl_http_get(url(f, "/big"), &opts, &r), 0);
	assert_int_equal(r.body_len, 10000);
	hl_http_reply_release(&r);
	hl_http_reply_release(NULL);
}

/* Binding a port in use and a bad address fail with clear messages. */
static void test_start_errors(void **state)
{
	struct fixture *f = *state;
	struct hl_http_server_config cfg = { .address = "127.0.0.1",
					     .port = hl_http_server_port(f->srv),
					     .routes = routes, .n_routes = 1 };
	struct hl_http_server *srv = (struct hl_http_server *)1;
	char expect[128];

	assert_int_equal(hl_http_server_start(&cfg, &srv), -1);
	assert_null(srv);
	snprintf(expect, sizeof(expect), "cannot listen on 127.0.0.1:%u: address already in use",
		 cfg.port);
	assert_true(strncmp(hl_error_last(), expect, strlen(expect)) == 0);
	cfg.address = "hgs.relecloud.com";
	assert_int_equal(hl_http_server_start(&cfg, &srv), -1);
	assert_string_equal(hl_error_last(), "invalid listen address 'hgs.relecloud.com': "
			    "expected an IPv4 address such as 127.0.0.2");
	cfg.address = "192.0.2.1";
	cfg.port = 0;
	assert_int_equal(hl_http_server_start(&cfg, &srv), -1);
	assert_error_has("cannot listen on 192.0.2.1:0: ");
	hl_http_server_stop(NULL);
}

/* Start and stop with no traffic; the port can be bound again at once. */
static void test_stop_idle(void **state)
{
	struct hl_http_server_config cfg = { .address = "127.0.0.1", .routes = routes,
					     .n_routes = 1 };
	struct hl_http_server *srv;
	int i;

	(void)state;
	srv = server_start("127.0.0.1");
	cfg.port = hl_http_server_port(srv);
	hl_http_server_stop(srv);
	for (i = 0; i < 3; i++) {
		if (hl_http_server_start(&cfg, &srv) < 0)
			fail_msg("restart: %s", hl_error_last());
		assert_int_equal(hl_http_server_port(srv), cfg.port);
		hl_http_server_stop(srv);
	}
}

/* A TCP connection to 127.0.0.1:PORT that has sent TEXT. */
static int raw_connect(unsigned short port, const char *text)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/*
 * After requests, with one keep-alive connection idle and one stuck halfway
 * through its headers, stop returns promptly and the port refuses connections.
 */
static void test_stop_after_requests(void **state)
{
	struct hl_http_server *srv;
	struct hl_http_reply r;
	char u[128], buf[512];
	unsigned short port;
	int idle, half, i;
	double t0;

	(void)state;
	srv = server_start("127.0.0.1");
	port = hl_http_server_port(srv);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/ping", port);
	for (i = 0; i < 5; i++) {
		assert_int_equal(hl_http_get(u, NULL, &r), 0);
		hl_http_reply_release(&r);
	}
	idle = raw_connect(port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(read(idle, buf, sizeof(buf)) > 0);
	half = raw_connect(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Len");
	t0 = hl_clock_s();
	hl_http_server_stop(srv);
	assert_true(hl_clock_s() - t0 < 2.0);
	close(idle);
	close(half);
	assert_int_equal(hl_http_get(u, NULL, &r), -1);
	assert_error_has("connection refused");
}

/* A streamed answer: its pieces in order, its content type, its free called once. */
static void test_stream(void **state)
{
	struct fixture *f = *state;
	struct hl_http_reply r;

	atomic_store(&streams_freed, 0);
	assert_int_equal(hl_http_get(url(f, "/stream"), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/event-stream");
	assert_string_equal(r.body, "tick 1\ntick 2\ntick 3\n");
	hl_http_reply_release(&r);
	for (int i = 0; i < 50 && atomic_load(&streams_freed) < 1; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&streams_freed), 1);
}

/*
 * A stream that never ends outlives the deadline for a whole request (it is
 * an answer), and stopping the server ends it cleanly (the last chunk) and
 * promptly, its free called once.
 */
static void test_stream_stop(void **state)
{
	struct hl_http_server_config cfg = { .address = "127.0.0.1", .routes = routes,
					     .n_routes = sizeof(routes) / sizeof(routes[0]),
					     .request_timeout_s = 1 };
	struct hl_http_server *srv = NULL;
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	double t0;
	int fd;

	(void)state;
	atomic_store(&streams_freed, 0);
	if (hl_http_server_start(&cfg, &srv) < 0)
		fail_msg("server start: %s", hl_error_last());
	fd = raw_connect(hl_http_server_port(srv), "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
	t0 = hl_clock_s();
	/* 2.5 s of ticks: past the 1 s request deadline, the answer still flows */
	while (hl_clock_s() - t0 < 2.5 && got < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 100) == 1) {
			n = read(fd, buf + got, sizeof(buf) - 1 - got);
			assert_true(n > 0);
			got += (size_t)n;
		}
	}
	buf[got] = '\0';
	assert_non_null(strstr(buf, "text/event-stream"));
	assert_non_null(strstr(buf, "tick 4\n"));
	t0 = hl_clock_s();
	hl_http_server_stop(srv);
	assert_true(hl_clock_s() - t0 < 2.0);
	got = 0;
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0 && got < sizeof(buf) - 1)
		got += (size_t)n;
	buf[got] = '\0';
	/* the chunked answer's end, then the connection's */
	assert_non_null(strstr(buf, "0\r\n\r\n"));
	close(fd);
	assert_int_equal(atomic_load(&streams_freed), 1);
}

/* Client thread for test_concurrent: 20 JSON round trips. */
static void *concurrent_client(void *arg)
{
	const char *u = arg;
	struct hl_http_reply r;
	char doc[64];
	intptr_t ok = 0;
	int i;

	for (i = 0; i < 20; i++) {
		snprintf(doc, sizeof(doc), "{\"nonce\": \"n%d\"}", i);
		if (hl_http_post(u, "application/json", doc, strlen(doc), NULL, &r) == 0 &&
		    r.status == 200)
			ok++;
		hl_http_reply_release(&r);
	}
	return (void *)ok;
}

/* Four clients at once all get their answers. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	char u[128];
	void *ok;
	int i;

	snprintf(u, sizeof(u), "%s/json", f->base);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, concurrent_client, u), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ok), 0);
		assert_int_equal((intptr_t)ok, 20);
	}
	assert_int_equal(atomic_load(&handler_calls), 80);
}

/* GET URL and return the "remote" the server saw (into BUF). */
static void get_remote(const char *u, const struct hl_http_opts *opts, char *buf, size_t size)
{
	struct hl_http_reply r;
	json_t *hold = NULL;

	if (hl_http_get(u, opts, &r) < 0)
		fail_msg("GET %s: %s", u, hl_error_last());
	assert_int_equal(r.status, 200);
	snprintf(buf, size, "%s", reply_field(&r, "remote", &hold));
	json_decref(hold);
	hl_http_reply_release(&r);
}

/* 1 when every TCP connection this process holds to PORT (client side) is close-on-exec. */
static int client_sockets_cloexec(unsigned short port)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	struct sockaddr_in peer;
	socklen_t len;
	int ok = 1, seen = 0, fd;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		len = sizeof(peer);
		if (fd == dirfd(d) || getpeername(fd, (struct sockaddr *)&peer, &len) < 0 ||
		    peer.sin_family != AF_INET || ntohs(peer.sin_port) != port)
			continue;
		seen = 1;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			ok = 0;
	}
	closedir(d);
	return ok && seen;
}

/*
 * A thread's requests to one server share a kept connection (the server
 * sees the same peer port), whose socket is close-on-exec; after the server
 * restarts on the same port the next request opens a new one and succeeds.
 */
static void test_keepalive(void **state)
{
	struct hl_http_server_config cfg = { .address = "127.0.0.1", .routes = routes,
					     .n_routes = sizeof(routes) / sizeof(routes[0]) };
	struct hl_http_server *srv;
	char u[128], first[64], again[64];

	(void)state;
	srv = server_start("127.0.0.1");
	cfg.port = hl_http_server_port(srv);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/info", cfg.port);
	get_remote(u, NULL, first, sizeof(first));
	get_remote(u, NULL, again, sizeof(again));
	assert_string_equal(first, again);
	assert_true(client_sockets_cloexec(cfg.port));
	hl_http_server_stop(srv);
	if (hl_http_server_start(&cfg, &srv) < 0)
		fail_msg("restart: %s", hl_error_last());
	get_remote(u, NULL, again, sizeof(again));
	assert_string_not_equal(first, again);
	hl_http_server_stop(srv);
}

/*
 * A resolve entry may list several addresses (a cluster's nodes): a refused
 * connection tries the next, and the reply names the address that answered
 * and the one response header asked for.
 */
static void test_resolve_list(void **state)
{
	struct hl_http_server *srv;
	struct hl_http_reply r;
	char u[128], entry[128];
	const char *resolve[] = { entry, NULL };
	struct hl_http_opts opts = { .timeout_ms = 3000, .resolve = resolve,
				     .header = "content-type" };
	unsigned port;

	(void)state;
	srv = server_start("127.0.0.2");
	port = hl_http_server_port(srv);
	snprintf(u, sizeof(u), "http://hgs.relecloud.com:%u/info", port);
	/* the first address has nothing listening: the second answers */
	snprintf(entry, sizeof(entry), "hgs.relecloud.com:%u:127.0.0.3,127.0.0.2", port);
	assert_int_equal(hl_http_get(u, &opts, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.address, "127.0.0.2");
	assert_string_equal(r.header, "application/json");
	hl_http_reply_release(&r);
	/* a header the reply lacks is "" */
	opts.header = "X-Hgs-Node";
	assert_int_equal(hl_http_get(u, &opts, &r), 0);
	assert_string_equal(r.header, "");
	hl_http_reply_release(&r);
	/* every address refused: the error says so */
	snprintf(entry, sizeof(entry), "hgs.relecloud.com:%u:127.0.0.3,127.0.0.4", port);
	assert_int_equal(hl_http_get(u, &opts, &r), -1);
	assert_error_has("connection refused");
	hl_http_server_stop(srv);
}

/*
 * A name resolved through one request's resolve list is not resolved for a
 * later request without it (the kept handle is replaced when the list
 * changes), and a changed list takes effect.
 */
static void test_resolve_not_kept(void **state)
{
	struct hl_http_server_config cfg = { .address = "127.0.0.3", .routes = routes,
					     .n_routes = 1 };
	struct hl_http_server *a, *b;
	struct hl_http_reply r;
	char u[128], entry[128], remote[64];
	const char *resolve[] = { entry, NULL };
	struct hl_http_opts opts = { .timeout_ms = 3000, .resolve = resolve };
	unsigned short port;

	(void)state;
	a = server_start("127.0.0.2");
	port = hl_http_server_port(a);
	snprintf(u, sizeof(u), "http://hgs.relecloud.com:%u/info", port);
	snprintf(entry, sizeof(entry), "hgs.relecloud.com:%u:127.0.0.2", port);
	get_remote(u, &opts, remote, sizeof(remote));
	assert_int_equal(hl_http_get(u, NULL, &r), -1);
	assert_error_has("does not resolve");
	/* the same name and port mapped to another address goes there (B serves only /ping) */
	cfg.port = port;
	if (hl_http_server_start(&cfg, &b) < 0) {
		hl_error_clear();   /* the port is taken on 127.0.0.3: nothing more to check */
		hl_http_server_stop(a);
		return;
	}
	snprintf(entry, sizeof(entry), "hgs.relecloud.com:%u:127.0.0.3", port);
	assert_int_equal(hl_http_get(u, &opts, &r), 0);
	assert_int_equal(r.status, 404);
	hl_http_reply_release(&r);
	hl_http_server_stop(b);
	hl_http_server_stop(a);
}

/* A TCP connection from SRC to 127.0.0.1:PORT that has sent TEXT. */
static int raw_connect_from(const char *src, unsigned short port, const char *text)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	inet_pton(AF_INET, src, &from.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* 1 when the server closed FD (end of file or a reset) within MS, else 0. */
static int closed_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[512];

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return read(fd, buf, sizeof(buf)) <= 0;
}

/*
 * Slow clients against a pool server with a 1 s deadline for a whole
 * request and 3 connections per client: a request trickled a header line
 * every 200 ms (each resetting the idle timeout) is cut at about 1 s; a
 * handler that takes 1.5 s is not cut; a fourth connection of one address
 * is refused at once while another address is served; an idle keep-alive
 * connection past the deadline is closed too.
 */
static void test_slow_clients(void **state)
{
	struct hl_http_server_config cfg = { .address = "127.0.0.1", .routes = routes,
					     .n_routes = sizeof(routes) / sizeof(routes[0]),
					     .max_body = MAX_BODY, .threads = 2,
					     .max_connections = 16, .per_client_connections = 3,
					     .request_timeout_s = 1 };
	struct hl_http_server *srv = NULL;
	struct hl_http_reply r;
	long long t0, dt;
	char u[128], line[64];
	int fd, held[3], i, cut = 0;
	unsigned short port;

	(void)state;
	if (hl_http_server_start(&cfg, &srv) < 0)
		fail_msg("start: %s", hl_error_last());
	port = hl_http_server_port(srv);

	/* one header line every 200 ms: cut at the deadline, not forgiven by the idle timeout */
	fd = raw_connect(port, "GET /ping HTTP/1.1\r\nHost: x\r\n");
	t0 = hl_clock_ms();
	for (i = 0; i < 25 && !cut; i++) {
		snprintf(line, sizeof(line), "X-Slow-%d: y\r\n", i);
		if (write(fd, line, strlen(line)) < 0 || closed_within(fd, 200))
			cut = 1;
	}
	dt = hl_clock_ms() - t0;
	close(fd);
	if (!cut || dt < 800 || dt > 3000)
		fail_msg("a trickled request was %s after %lld ms (deadline 1 s)",
			 cut ? "cut" : "still open", dt);

	/* a handler slower than the deadline: the request had arrived, its answer comes */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/slower", port);
	memset(&r, 0, sizeof(r));
	assert_ok(hl_http_get(u, NULL, &r));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 5);
	hl_http_reply_release(&r);

	/* three held connections from 127.0.0.9: its fourth is refused, 127.0.0.1 is served */
	for (i = 0; i < 3; i++)
		held[i] = raw_connect_from("127.0.0.9", port, "GET /ping HTTP/1.1\r\n");
	fd = raw_connect_from("127.0.0.9", port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(closed_within(fd, 500));
	close(fd);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/ping", port);
	memset(&r, 0, sizeof(r));
	assert_ok(hl_http_get(u, NULL, &r));
	assert_int_equal(r.status, 200);
	hl_http_reply_release(&r);
	/* the held ones do not outlive the deadline either */
	for (i = 0; i < 3; i++) {
		assert_true(closed_within(held[i], 3000));
		close(held[i]);
	}

	/* an answered connection left idle is closed once the deadline passes again */
	fd = raw_connect(port, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
	{
		struct pollfd p = { fd, POLLIN, 0 };
		char buf[512];

		assert_int_equal(poll(&p, 1, 2000), 1);
		assert_true(read(fd, buf, sizeof(buf)) > 0);
	}
	assert_true(closed_within(fd, 3000));
	close(fd);
	hl_http_server_stop(srv);
}

/* A server with a pool of workers answers four clients at once, and stops. */
static void test_pool(void **state)
{
	struct hl_http_server_config cfg = { .address = "127.0.0.1", .routes = routes,
					     .n_routes = sizeof(routes) / sizeof(routes[0]),
					     .max_body = MAX_BODY, .threads = 3 };
	struct hl_http_server *srv = NULL;
	pthread_t t[4];
	char u[128];
	void *ok;
	int i;

	(void)state;
	if (hl_http_server_start(&cfg, &srv) < 0)
		fail_msg("start: %s", hl_error_last());
	atomic_store(&handler_calls, 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/json", hl_http_server_port(srv));
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, concurrent_client, u), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ok), 0);
		assert_int_equal((intptr_t)ok, 20);
	}
	assert_int_equal(atomic_load(&handler_calls), 80);
	hl_http_server_stop(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_and_any, setup, teardown),
		cmocka_unit_test_setup_teardown(test_404_405, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_json, setup, teardown),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
		cmocka_unit_test(test_stop_idle),
		cmocka_unit_test(test_stop_after_requests),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_resolve_not_kept),
		cmocka_unit_test(test_resolve_list),
		cmocka_unit_test(test_pool),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test(test_stream_stop),
		cmocka_unit_test(test_slow_clients),
	};

	hl_log_set_stderr_level(HL_LOG_ERROR);
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
