/*
 * http.h - the HTTP server (over libmicrohttpd) and client (over libcurl)
 * that HGS nodes, guarded hosts and the tenant talk through.
 *
 * Server.  A node describes its API as a route table and starts a server on
 * one IPv4 address and port; the server answers in the background until it
 * is stopped, with a thread per connection behind an internal listening
 * thread, or (config threads > 0) a pool of worker threads each polling its
 * share of the connections, which spares a thread creation per connection:
 *
 *   static const struct hl_http_route routes[] = {
 *           { "GET",  "/KeyProtection/service/metadata/2014-07/metadata.xml", get_md, node },
 *           { "POST", "/Attestation/attest", attest, node },
 *   };
 *   struct hl_http_server_config cfg = { .address = "127.0.0.2", .port = 8080,
 *           .routes = routes, .n_routes = 2 };
 *   if (hl_http_server_start(&cfg, &srv) < 0) ...
 *
 * Slow clients.  A request must arrive whole (headers and body) within the
 * config's request_timeout_s of the connection's start or of its previous
 * answer, however it trickles: a background thread shuts down a connection
 * past that deadline (the idle timeout alone forgives a client that sends a
 * byte every few seconds).  One client address holds at most
 * per_client_connections connections, so one client cannot take them all.
 *
 * Dispatch: the first route whose path matches and whose method matches gets
 * the request; a path that matches only under other methods gets 405 (with an
 * Allow header), no match gets 404, a body over max_body gets 413 without
 * the handler being called.  Every error the server makes itself has the body
 * {"error": "message"} with content type application/json, and handlers are
 * expected to use the same shape (hl_http_response_error()).
 *
 * Threads: handlers run on the connection's thread, several at once, so they
 * must lock shared state; hl_error() is per thread, so a handler's error is
 * its own.  Signals: server threads inherit the signal mask of the thread that
 * starts the server, so a program that waits for SIGTERM with sigwait() or a
 * signalfd blocks it before hl_http_server_start().  Never call
 * hl_http_server_stop() from inside a signal handler: set a flag or write to a
 * pipe there, and stop from the main thread.
 *
 * Streams.  A handler may answer with a stream instead of a body (Server-Sent
 * Events, text/event-stream): it sets resp->stream, and the server sends the
 * status and content type, then, for as long as the connection lives, the
 * bytes the stream function gives (chunked).  The request deadline does not
 * apply to a streamed answer (it is for receiving), but the idle timeout
 * does: a stream that may stay silent longer sends something (an SSE comment
 * line) now and then.  The stream function runs on the connection's thread:
 * streams need a thread per connection (config threads 0).  When the server
 * stops, every stream ends within HL_HTTP_STREAM_WAIT_MS and its last chunk
 * goes out (a second at most for a client that does not read) before
 * hl_http_server_stop() returns.
 *
 * Client.  hl_http_get()/hl_http_post() perform one request each (a new
 * connection; no proxies, no redirects, http and https only) with a timeout,
 * the lab's resolve list and a cap on the reply size.  Any HTTP status is a
 * success at this level; hl_http_reply_check() turns a non-2xx reply into an
 * error carrying the server's {"error"} message.
 *
 * Contract: functions return 0 on success and -1 after hl_error().
 */
#ifndef HGSLAB_LIB_HTTP_H
#define HGSLAB_LIB_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

/* Body limit a server applies when its config says max_body 0 (1 MiB). */
#define HL_HTTP_MAX_BODY_DEFAULT ((size_t)1 << 20)
/* Reply limit the client applies when its options say max_reply 0 (4 MiB). */
#define HL_HTTP_MAX_REPLY_DEFAULT ((size_t)4 << 20)
/* Client timeout when its options say timeout_ms 0. */
#define HL_HTTP_TIMEOUT_MS_DEFAULT 10000L

/* How long the server waits before asking a stream that had nothing again. */
#define HL_HTTP_STREAM_WAIT_MS 250

/*
 * A stream's next bytes: copy at most MAX bytes into BUF and return how many;
 * 0 when there is nothing yet (the server waits HL_HTTP_STREAM_WAIT_MS, or
 * less when it is stopping, and asks again); -1 to end the stream.  USER is
 * the response's stream_user.
 */
typedef long (*hl_http_stream_fn)(void *user, char *buf, size_t max);

/* One request as a handler sees it; everything is valid until the handler returns. */
struct hl_http_request {
	const char *method;	/* "GET", "POST"... */
	const char *path;	/* decoded path without the query, e.g. "/Attestation/x" */
	const char *body;	/* body bytes (may hold NULs), NUL-terminated; "" if none */
	size_t body_len;	/* at most the server's max_body */
	const char *remote;	/* peer as "address:port" */
	void *conn;		/* private: the libmicrohttpd connection */
};

/* What a handler fills in; the server sends it and frees body. */
struct hl_http_response {
	int status;		/* HTTP status; 200 on entry */
	char content_type[96];	/* e.g. "application/json"; "" sends no Content-Type */
	char *body;		/* malloc'd, freed by the server; NULL = empty body */
	size_t body_len;
	hl_http_stream_fn stream;	/* set: a streamed answer (body ignored); NULL on entry */
	void *stream_user;		/* given to stream and stream_free */
	void (*stream_free)(void *user);	/* called once when the stream ends (or is never
						 * sent: the handler failed, the client left); may
						 * be NULL */
};

/*
 * A handler answers one request by filling RESP (usually with one of the
 * hl_http_response_* helpers) and returning 0.  Returning -1 after
 * hl_error() makes the server answer 500 with {"error": hl_error_last()}
 * and drop anything the handler put in RESP.
 */
typedef int (*hl_http_handler_fn)(const struct hl_http_request *req,
				  struct hl_http_response *resp, void *user);

/*
 * One route.  PATH is matched against the request path exactly, or, when it
 * ends in '*', as a prefix (everything before the '*').  METHOD NULL matches
 * any method.  The strings and USER must outlive the server (the table itself
 * is copied).
 */
struct hl_http_route {
	const char *method;
	const char *path;
	hl_http_handler_fn handler;
	void *user;
};

struct hl_http_server_config {
	const char *address;			/* IPv4 address to bind, e.g. "127.0.0.2" */
	unsigned short port;			/* 0 = an ephemeral port (see hl_http_server_port) */
	const struct hl_http_route *routes;
	size_t n_routes;
	size_t max_body;			/* 0 = HL_HTTP_MAX_BODY_DEFAULT */
	unsigned max_connections;		/* 0 = 64 */
	unsigned per_client_connections;	/* connections one client address may hold at
						 * once; 0 = max_connections (no own limit) */
	unsigned idle_timeout_s;		/* drop idle connections after this; 0 = 30 */
	unsigned request_timeout_s;		/* a request (headers and body) must arrive
						 * whole within this, counted from the
						 * connection or the previous answer, however
						 * it trickles; 0 = 10 */
	unsigned threads;			/* worker threads; 0 = a thread per connection.
						 * Each worker runs the handlers of its
						 * connections one at a time, so a handler
						 * that blocks long delays its neighbours */
	const char *header_name;		/* set: every answer (the handlers' and the
						 * server's own errors) carries this header
						 * with header_value, e.g. "X-Hgs-Node";
						 * both are copied */
	const char *header_value;
};

struct hl_http_server;

/*
 * Bind CFG->address:CFG->port (close-on-exec, SO_REUSEADDR) and start
 * answering in the background.  Fails with "cannot listen on
 * 127.0.0.2:8080: address already in use..." and the like.
 */
int hl_http_server_start(const struct hl_http_server_config *cfg, struct hl_http_server **out);

/* The port the server is bound to (the chosen one when it asked for port 0). */
unsigned short hl_http_server_port(const struct hl_http_server *srv);

/*
 * Stop accepting, close every connection, wait for running handlers to
 * return, join the server's threads and free SRV.  Bounded as long as the
 * handlers are.  NULL-safe.
 */
void hl_http_server_stop(struct hl_http_server *srv);

/* Value of query argument NAME of REQ, or NULL. */
const char *hl_http_request_query(const struct hl_http_request *req, const char *name);

/* Value of header NAME (any case) of REQ, or NULL. */
const char *hl_http_request_header(const struct hl_http_request *req, const char *name);

/* Fill RESP with STATUS, CONTENT_TYPE and a copy of DATA[0..LEN). */
int hl_http_response_set(struct hl_http_response *resp, int status, const char *content_type,
			 const void *data, size_t len);

/* Fill RESP with STATUS and V dumped compactly as application/json; V is not stolen. */
int hl_http_response_json(struct hl_http_response *resp, int status, const json_t *v);

/* Fill RESP with STATUS and {"error": "<formatted message>"}; returns 0. */
int hl_http_response_error(struct hl_http_response *resp, int status, const char *fmt, ...)
	HL_PRINTF(3, 4);

/* Client options; a zeroed struct (or NULL) means the defaults. */
struct hl_http_opts {
	long timeout_ms;		/* whole request; 0 = HL_HTTP_TIMEOUT_MS_DEFAULT */
	size_t max_reply;		/* reply body cap; 0 = HL_HTTP_MAX_REPLY_DEFAULT */
	const char *const *resolve;	/* NULL-terminated "host:port:address" entries, e.g.
					 * "hgs.relecloud.com:8080:127.0.0.2"; the address may
					 * be a list "127.0.0.1,127.0.0.2": a refused
					 * connection tries the next one */
	const char *header;		/* a response header to return in reply->header
					 * (e.g. "X-Hgs-Node"), or NULL */
};

/* A reply; release with hl_http_reply_release(). */
struct hl_http_reply {
	long status;			/* HTTP status code */
	char *body;			/* malloc'd, NUL-terminated (may hold NULs) */
	size_t body_len;
	char content_type[96];		/* "" when the server sent none */
	char header[128];		/* the value of opts->header, "" when absent */
	char address[64];		/* the address that answered ("127.0.0.2"), "" unknown */
};

/*
 * GET URL into *OUT (cleared on entry, left empty on failure).  Errors name
 * the URL and the cause: "cannot reach 'http://hgs.relecloud.com:8080/x':
 * connection refused; ...", timeouts, names missing from the resolve list,
 * replies over the cap, malformed resolve entries.
 */
int hl_http_get(const char *url, const struct hl_http_opts *opts, struct hl_http_reply *out);

/* POST BODY[0..LEN) as CONTENT_TYPE to URL into *OUT; errors as hl_http_get(). */
int hl_http_post(const char *url, const char *content_type, const void *body, size_t len,
		 const struct hl_http_opts *opts, struct hl_http_reply *out);

/*
 * 0 when REPLY's status is 2xx; otherwise -1 with "'URL' answered 403: <the
 * body's "error" message, or the start of the body>".
 */
int hl_http_reply_check(const char *url, const struct hl_http_reply *reply);

/* Free REPLY's body and clear it; NULL-safe. */
void hl_http_reply_release(struct hl_http_reply *reply);

#endif
