/*
 * http.c - the HTTP server over libmicrohttpd and the client over libcurl
 * (see http.h for the contract).
 *
 * Server: hgslab binds the listening socket itself (for errno-precise
 * messages and close-on-exec, since the lab forks swtpm and QEMU) and hands it
 * to libmicrohttpd, which runs one listening thread plus one thread per
 * connection, or a pool of worker threads polling the connections (config
 * threads).  Each request gets a small state, created on libmicrohttpd's
 * first callback for it and freed in its completion callback: the route is
 * chosen and the declared length checked on that first callback (404, 405
 * and 413 go out at once, without reading the body), the body is gathered up
 * to max_body on the following ones, and the handler runs on the last.
 * libmicrohttpd's own limits (connections, per client address, idle
 * timeout) are set from the config; its idle timeout restarts with every
 * byte, so a list of open connections (its connection notifications) and a
 * sweeper thread add the deadline for a whole request: a connection whose
 * request has not arrived whole in time is shut down, and libmicrohttpd,
 * seeing the end, closes it.
 *
 * Streams: a streamed answer is a libmicrohttpd response of unknown size
 * (chunked) whose content reader asks the handler's stream function, and,
 * while it has nothing, waits on the server's stream condition a bounded
 * time; stopping the server sets stopping and wakes every waiting reader,
 * which ends its stream, so libmicrohttpd can join the connection threads.
 *
 * Client: each thread keeps one curl easy handle (thread-specific data,
 * freed when the thread exits and, for the thread that calls exit(), at
 * exit) and reuses it, reset, for its next request, so curl keeps the
 * connection alive between requests to the same server (HTTP/1.1
 * keep-alive; a connection the server closed meanwhile is replaced, a
 * request on it retried by curl).  The handle is replaced when the resolve
 * list changes (curl keeps resolve entries in the handle's DNS cache) and
 * after a failed transfer.  Sockets are made close-on-exec, since the lab
 * forks swtpm and QEMU while connections stay open.  curl_global_init runs
 * once under pthread_once.
 */
#include "lib/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"

#define HTTP_MAX_CONNECTIONS_DEFAULT 64
#define HTTP_IDLE_TIMEOUT_S_DEFAULT 30
#define HTTP_REQUEST_TIMEOUT_S_DEFAULT 10
#define HTTP_LISTEN_BACKLOG 64
/* How long a stopping server waits for its streams' last chunks to go out. */
#define HTTP_STREAM_END_S 1
/* How often the deadline of every open connection is looked at. */
#define HTTP_SWEEP_MS 200

struct hl_http_server;

/*
 * An open connection, on its server's list from libmicrohttpd's "started"
 * to its "closed" notification.  since is when its current request began
 * (the connection's accept, or the end of its previous request); answering
 * is set while a response is queued (the deadline is for receiving, not for
 * a slow reader of the answer); cut once the deadline closed it.
 */
struct http_conn {
	struct http_conn *prev, *next;
	struct hl_http_server *srv;
	int fd;
	long long since;
	int answering;
	int cut;
	char remote[INET6_ADDRSTRLEN + 8];
};

/*
 * A running server; routes is a private copy of the caller's table.  conns
 * is guarded by conns_lock; the sweeper thread runs while sweeping is set.
 */
struct hl_http_server {
	struct MHD_Daemon *daemon;
	struct hl_http_route *routes;
	size_t n_routes;
	size_t max_body;
	unsigned short port;
	char address[INET_ADDRSTRLEN];
	long long request_timeout_ms;
	pthread_mutex_t conns_lock;
	pthread_cond_t sweep_cond;
	struct http_conn *conns;
	pthread_t sweeper;
	int sweeping;
	pthread_cond_t stream_cond;	/* signalled when the server stops or a stream ends */
	int stopping;			/* streams end (guarded by conns_lock) */
	int n_streams;			/* streamed answers not ended yet (conns_lock) */
	char *header_name, *header_value;	/* the header every answer carries, or NULL */
};

/* A streamed answer in flight: the handler's stream function and its argument. */
struct http_stream {
	struct hl_http_server *srv;
	hl_http_stream_fn fn;
	void *user;
	void (*free_fn)(void *user);
};

/*
 * Per-request state.  Invariants: body is NULL or holds len bytes plus a NUL
 * in cap + 1 bytes, len <= cap <= max_body; once answered is set no other
 * response is queued and incoming data is discarded.
 */
struct http_req {
	const struct hl_http_route *route;
	char *body;
	size_t len, cap;
	int too_large;
	int answered;
	char remote[INET6_ADDRSTRLEN + 8];
};

/* Copy strerror(ERR) into BUF with its first letter lowercased. */
static const char *http_strerror(int err, char *buf, size_t n)
{
	snprintf(buf, n, "%s", strerror(err));
	if (buf[0] && islower((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* libmicrohttpd's own messages go to the log, without their newline. */
__attribute__((format(printf, 2, 0)))
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct hl_http_server *srv = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	hl_log_warn("http %s:%u: libmicrohttpd: %s", srv->address, srv->port, msg);
}

/* Reset RESP to the state a handler starts from: 200, no type, no body. */
static void http_response_init(struct hl_http_response *resp)
{
	resp->status = 200;
	resp->content_type[0] = '\0';
	resp->body = NULL;
	resp->body_len = 0;
	resp->stream = NULL;
	resp->stream_user = NULL;
	resp->stream_free = NULL;
}

/* Free RESP's stream argument (a response that will not be sent); idempotent. */
static void http_stream_drop(struct hl_http_response *resp)
{
	if (resp->stream && resp->stream_free)
		resp->stream_free(resp->stream_user);
	resp->stream = NULL;
	resp->stream_user = NULL;
	resp->stream_free = NULL;
}

/* libmicrohttpd's content reader of a streamed answer: the stream's next bytes, waiting bounded. */
static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	struct hl_http_server *srv = st->srv;
	struct timespec until;
	long n;

	(void)pos;
	for (;;) {
		pthread_mutex_lock(&srv->conns_lock);
		n = srv->stopping;
		pthread_mutex_unlock(&srv->conns_lock);
		if (n)
			return MHD_CONTENT_READER_END_OF_STREAM;
		n = st->fn(st->user, buf, max);
		if (n > 0)
			return (ssize_t)(n < (long)max ? n : (long)max);
		if (n < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HL_HTTP_STREAM_WAIT_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&srv->conns_lock);
		if (!srv->stopping)
			pthread_cond_timedwait(&srv->stream_cond, &srv->conns_lock, &until);
		pthread_mutex_unlock(&srv->conns_lock);
	}
}

/* libmicrohttpd's end of a streamed answer (its last chunk sent): the stream's own free, then ours. */
static void http_stream_free(void *cls)
{
	struct http_stream *st = cls;
	struct hl_http_server *srv = st->srv;

	if (st->free_fn)
		st->free_fn(st->user);
	free(st);
	pthread_mutex_lock(&srv->conns_lock);
	srv->n_streams--;
	pthread_cond_broadcast(&srv->stream_cond);
	pthread_mutex_unlock(&srv->conns_lock);
}

int hl_http_response_set(struct hl_http_response *resp, int status, const char *content_type,
			 const void *data, size_t len)
{
	char *copy;

	copy = malloc(len + 1);
	if (!copy)
		return hl_error("cannot build a %zu-byte HTTP response: out of memory", len);
	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	free(resp->body);
	resp->body = copy;
	resp->body_len = len;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s",
		 content_type ? content_type : "");
	return 0;
}

int hl_http_response_json(struct hl_http_response *resp, int status, const json_t *v)
{
	char *text = NULL;

	if (hl_json_dump(v, &text) < 0)
		return hl_error_wrap("cannot build the HTTP response");
	free(resp->body);
	resp->body = text;
	resp->body_len = strlen(text);
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	return 0;
}

int hl_http_response_error(struct hl_http_response *resp, int status, const char *fmt, ...)
{
	static const char oom[] = "{\"error\":\"out of memory\"}";
	char msg[2 * HL_ERROR_MAX];
	json_t *v, *s;
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s = json_string(msg);
	if (!s) {
		/* not UTF-8: keep printable ASCII so the message still gets through */
		for (i = 0; msg[i]; i++)
			if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
				msg[i] = '?';
		s = json_string(msg);
	}
	v = s ? json_object() : NULL;
	if (v && json_object_set_new(v, "error", s) == 0) {
		s = NULL;
		if (hl_http_response_json(resp, status, v) == 0) {
			json_decref(v);
			return 0;
		}
	}
	json_decref(s);
	json_decref(v);
	if (hl_http_response_set(resp, status, "application/json", oom, sizeof(oom) - 1) < 0) {
		free(resp->body);
		http_response_init(resp);
		resp->status = status;
	}
	return 0;
}

const char *hl_http_request_query(const struct hl_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *hl_http_request_header(const struct hl_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/*
 * Mark CONN's tracked connection as answering (a response queued: its
 * deadline stops) or, with ANSWERING 0, as waiting for its next request
 * (whose time starts now).
 */
static void http_conn_answering(struct MHD_Connection *conn, int answering)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_conn *c;

	if (!i || !(c = i->socket_context))
		return;
	pthread_mutex_lock(&c->srv->conns_lock);
	c->answering = answering;
	if (!answering)
		c->since = hl_clock_ms();
	pthread_mutex_unlock(&c->srv->conns_lock);
}

/*
 * Queue RESP (taking its body, or its stream: SRV's) on CONN, with SRV's
 * header and one extra header when NAME is set.
 */
static enum MHD_Result http_send(struct hl_http_server *srv, struct MHD_Connection *conn,
				 struct hl_http_response *resp,
				 const char *name, const char *value)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (resp->stream) {
		struct http_stream *st = calloc(1, sizeof(*st));

		r = NULL;
		if (st) {
			st->srv = srv;
			st->fn = resp->stream;
			st->user = resp->stream_user;
			st->free_fn = resp->stream_free;
			r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
							      http_stream_read, st,
							      http_stream_free);
			if (r) {
				/* the response owns the stream now */
				resp->stream = NULL;
				pthread_mutex_lock(&srv->conns_lock);
				srv->n_streams++;
				pthread_mutex_unlock(&srv->conns_lock);
				MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
							"no-store");
			} else {
				free(st);
			}
		}
		http_stream_drop(resp);
	} else if (resp->body && resp->body_len) {
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
						    MHD_RESPMEM_MUST_FREE);
		if (r)
			resp->body = NULL;
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	free(resp->body);
	resp->body = NULL;
	http_stream_drop(resp);
	if (!r)
		return MHD_NO;
	if (resp->content_type[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	if (name)
		MHD_add_response_header(r, name, value);
	if (srv->header_name)
		MHD_add_response_header(r, srv->header_name, srv->header_value);
	http_conn_answering(conn, 1);
	rc = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Answer CONN with STATUS and {"error": message} (and header NAME when set). */
__attribute__((format(printf, 6, 7)))
static enum MHD_Result http_send_error(struct hl_http_server *srv, struct MHD_Connection *conn,
				       int status, const char *name, const char *value,
				       const char *fmt, ...)
{
	struct hl_http_response resp;
	char msg[2 * HL_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_response_init(&resp);
	hl_http_response_error(&resp, status, "%s", msg);
	return http_send(srv, conn, &resp, name, value);
}

/* Does route path PATTERN (exact, or prefix when ending in '*') match PATH? */
static int http_path_match(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return strncmp(pattern, path, n - 1) == 0;
	return strcmp(pattern, path) == 0;
}

/*
 * The first route of SRV for METHOD and PATH, or NULL; then ALLOW gets the
 * methods that would match PATH ("" when no route has the path).
 */
static const struct hl_http_route *http_route_find(const struct hl_http_server *srv,
						   const char *method, const char *path,
						   char *allow, size_t allow_size)
{
	const struct hl_http_route *r;
	size_t i, used = 0;

	allow[0] = '\0';
	for (i = 0; i < srv->n_routes; i++) {
		r = &srv->routes[i];
		if (!http_path_match(r->path, path))
			continue;
		if (!r->method || strcmp(r->method, method) == 0)
			return r;
		if (strstr(allow, r->method))
			continue;
		used += (size_t)snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
					 r->method);
		if (used >= allow_size)
			used = allow_size - 1;
	}
	return NULL;
}

/* Format the peer of CONN as "address:port" into BUF. */
static void http_remote(struct MHD_Connection *conn, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *info;
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	snprintf(buf, n, "?");
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!info || !info->client_addr)
		return;
	if (info->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)
						info->client_addr;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		port = ntohs(sin->sin_port);
	}
	snprintf(buf, n, "%s:%u", addr, port);
}

/*
 * CONN's peer "ADDR:PORT" into BUF of N bytes: the text its tracked
 * connection made when it opened (written once before the connection is
 * published, read-only after), else made now.
 */
static void http_request_remote(struct MHD_Connection *conn, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct http_conn *c = i ? i->socket_context : NULL;

	if (c)
		snprintf(buf, n, "%s", c->remote);
	else
		http_remote(conn, buf, n);
}

/* Append N bytes of DATA to ST's body, or mark it too large past MAX. */
static void http_body_append(struct http_req *st, const char *data, size_t n, size_t max)
{
	size_t cap;
	char *grown;

	if (st->too_large)
		return;
	if (n > max - st->len) {
		st->too_large = 1;
		free(st->body);
		st->body = NULL;
		st->len = st->cap = 0;
		return;
	}
	if (st->len + n > st->cap) {
		cap = st->cap ? st->cap : 4096;
		while (cap < st->len + n)
			cap = cap > max / 2 ? max : cap * 2;
		if (cap > max)
			cap = max;
		grown = realloc(st->body, cap + 1);
		if (!grown) {
			/* treated like an oversized body: the handler never sees a partial one */
			st->too_large = 1;
			free(st->body);
			st->body = NULL;
			st->len = st->cap = 0;
			return;
		}
		st->body = grown;
		st->cap = cap;
	}
	memcpy(st->body + st->len, data, n);
	st->len += n;
	st->body[st->len] = '\0';
}

/* Run ST's handler for the complete request and queue its response. */
static enum MHD_Result http_dispatch(struct hl_http_server *srv, struct MHD_Connection *conn,
				     const char *url, const char *method, struct http_req *st)
{
	struct hl_http_request req = {
		.method = method,
		.path = url,
		.body = st->body ? st->body : "",
		.body_len = st->len,
		.remote = st->remote,
		.conn = conn,
	};
	struct hl_http_response resp;

	/* the request arrived whole: the deadline is met, however long the handler takes */
	http_conn_answering(conn, 1);
	http_response_init(&resp);
	hl_error_clear();
	if (st->route->handler(&req, &resp, st->route->user) < 0) {
		hl_log_warn("%s %s from %s failed: %s", method, url, st->remote, hl_error_last());
		free(resp.body);
		http_stream_drop(&resp);
		http_response_init(&resp);
		hl_http_response_error(&resp, 500, "%s", hl_error_last());
	} else if (resp.status < 100 || resp.status > 599) {
		hl_log_error("%s %s: handler set invalid HTTP status %d", method, url, resp.status);
		free(resp.body);
		http_stream_drop(&resp);
		http_response_init(&resp);
		hl_http_response_error(&resp, 500, "the handler for '%s' gave no valid status", url);
	}
	hl_log_debug("%s %s from %s: %d, %zu bytes", method, url, st->remote, resp.status,
		     resp.body_len);
	return http_send(srv, conn, &resp, NULL, NULL);
}

/* libmicrohttpd's access callback: route, gather the body, dispatch. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct hl_http_server *srv = cls;
	struct http_req *st = *con_cls;
	const char *clen;
	char allow[256], *end;
	unsigned long long declared;

	(void)version;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		http_request_remote(conn, st->remote, sizeof(st->remote));
		st->route = http_route_find(srv, method, url, allow, sizeof(allow));
		if (!st->route) {
			st->answered = 1;
			hl_log_debug("%s %s from %s: %s", method, url, st->remote,
				     allow[0] ? "405" : "404");
			if (allow[0])
				return http_send_error(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
						       MHD_HTTP_HEADER_ALLOW, allow,
						       "method '%s' is not allowed for '%s'; "
						       "allowed: %s", method, url, allow);
			return http_send_error(srv, conn, MHD_HTTP_NOT_FOUND, NULL, NULL,
					       "no resource at '%s' on this server", url);
		}
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen) {
			errno = 0;
			declared = strtoull(clen, &end, 10);
			if (!errno && end != clen && declared > srv->max_body)
				st->too_large = 1;
		}
		if (st->too_large) {
			st->answered = 1;
			hl_log_debug("%s %s from %s: 413 (declared %s bytes)", method, url,
				     st->remote, clen);
			return http_send_error(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
					       "request body is over the limit of %zu bytes",
					       srv->max_body);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!st->answered)
			http_body_append(st, upload_data, *upload_data_size, srv->max_body);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->answered)
		return MHD_YES;
	st->answered = 1;
	if (st->too_large) {
		hl_log_debug("%s %s from %s: 413", method, url, st->remote);
		return http_send_error(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
				       "request body is over the limit of %zu bytes", srv->max_body);
	}
	return http_dispatch(srv, conn, url, method, st);
}

/* libmicrohttpd's connection notification: track CONN from its start to its end. */
static void http_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
			     enum MHD_ConnectionNotificationCode toe)
{
	struct hl_http_server *srv = cls;
	struct http_conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!i || !(c = calloc(1, sizeof(*c))))
			return;
		c->srv = srv;
		c->fd = i->connect_fd;
		c->since = hl_clock_ms();
		http_remote(conn, c->remote, sizeof(c->remote));
		pthread_mutex_lock(&srv->conns_lock);
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		pthread_mutex_unlock(&srv->conns_lock);
		*socket_context = c;
		return;
	}
	/* closed: off the list before libmicrohttpd closes its socket */
	if (!c)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&srv->conns_lock);
	free(c);
	*socket_context = NULL;
}

/*
 * The sweeper thread: every HTTP_SWEEP_MS, a connection whose current
 * request has not arrived whole within the deadline is shut down (its
 * socket; libmicrohttpd then sees the end and closes it), whatever it
 * trickles meanwhile, which the idle timeout alone would forgive.
 */
static void *http_sweep(void *arg)
{
	struct hl_http_server *srv = arg;
	struct timespec until;

	pthread_mutex_lock(&srv->conns_lock);
	while (srv->sweeping) {
		long long now = hl_clock_ms();

		for (struct http_conn *c = srv->conns; c; c = c->next) {
			if (c->answering || c->cut || now - c->since < srv->request_timeout_ms)
				continue;
			c->cut = 1;
			shutdown(c->fd, SHUT_RDWR);
			hl_log_info("http %s:%u: closed the connection of %s: its request did not "
				    "arrive whole within %lld s", srv->address, srv->port, c->remote,
				    srv->request_timeout_ms / 1000);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HTTP_SWEEP_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->sweep_cond, &srv->conns_lock, &until);
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

/* libmicrohttpd's completion callback: free the request's state; the next request's clock starts. */
static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct http_req *st = *con_cls;

	(void)cls;
	(void)toe;
	/* the connection may carry a next request: its time starts now */
	http_conn_answering(conn, 0);
	if (!st)
		return;
	free(st->body);
	free(st);
	*con_cls = NULL;
}

/* Bind and listen on SRV's address and PORT; the socket, or -1 after hl_error(). */
static int http_listen(struct hl_http_server *srv, unsigned short port)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char why[128];
	const char *hint;
	int fd, one = 1, err;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, srv->address, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return hl_error("cannot listen on %s:%u: %s", srv->address, port,
				http_strerror(errno, why, sizeof(why)));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, HTTP_LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		err = errno;
		close(fd);
		switch (err) {
		case EADDRINUSE:
			hint = "; another process holds the port: stop it or choose another port";
			break;
		case EADDRNOTAVAIL:
			hint = "; the address is not on this machine: use a loopback address "
			       "such as 127.0.0.2";
			break;
		case EACCES:
			hint = "; ports below 1024 need privileges: choose a higher port";
			break;
		default:
			hint = "";
		}
		return hl_error("cannot listen on %s:%u: %s%s", srv->address, port,
				http_strerror(err, why, sizeof(why)), hint);
	}
	srv->port = ntohs(sa.sin_port);
	return fd;
}

int hl_http_server_start(const struct hl_http_server_config *cfg, struct hl_http_server **out)
{
	struct MHD_OptionItem pool[2];
	struct hl_http_server *srv = NULL;
	struct in_addr probe;
	unsigned max_conn, per_ip;
	size_t i;
	int fd = -1, rc = -1, sync_made = 0;

	*out = NULL;
	if (!cfg->address || inet_pton(AF_INET, cfg->address, &probe) != 1) {
		hl_error("invalid listen address '%s': expected an IPv4 address such as 127.0.0.2",
			 cfg->address ? cfg->address : "(none)");
		goto out;
	}
	for (i = 0; i < cfg->n_routes; i++) {
		if (!cfg->routes[i].path || !cfg->routes[i].handler) {
			hl_error("invalid HTTP route %zu: it needs a path and a handler", i);
			goto out;
		}
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv || (cfg->n_routes && !(srv->routes = calloc(cfg->n_routes,
							      sizeof(*srv->routes)))) ||
	    (cfg->header_name && (!(srv->header_name = strdup(cfg->header_name)) ||
				  !(srv->header_value = strdup(cfg->header_value ?
							       cfg->header_value : ""))))) {
		hl_error("cannot start the HTTP server: out of memory");
		goto out;
	}
	if (cfg->n_routes)
		memcpy(srv->routes, cfg->routes, cfg->n_routes * sizeof(*srv->routes));
	srv->n_routes = cfg->n_routes;
	srv->max_body = cfg->max_body ? cfg->max_body : HL_HTTP_MAX_BODY_DEFAULT;
	srv->request_timeout_ms = 1000LL * (cfg->request_timeout_s ? cfg->request_timeout_s :
					    HTTP_REQUEST_TIMEOUT_S_DEFAULT);
	max_conn = cfg->max_connections ? cfg->max_connections : HTTP_MAX_CONNECTIONS_DEFAULT;
	per_ip = cfg->per_client_connections && cfg->per_client_connections < max_conn ?
		 cfg->per_client_connections : max_conn;
	snprintf(srv->address, sizeof(srv->address), "%s", cfg->address);
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_cond_init(&srv->sweep_cond, NULL);
	pthread_cond_init(&srv->stream_cond, NULL);
	sync_made = 1;
	fd = http_listen(srv, cfg->port);
	if (fd < 0)
		goto out;
	/*
	 * A pool of worker threads polling their share of the connections, or
	 * a thread per connection; either way handlers run on several threads.
	 */
	pool[0] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads,
					   NULL };
	pool[1] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	srv->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
		(cfg->threads ? 0 : MHD_USE_THREAD_PER_CONNECTION),
		0, NULL, NULL, http_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
		/* one worker polls alone: no pool option then (MHD warns about a size below 2) */
		MHD_OPTION_ARRAY, cfg->threads > 1 ? pool : pool + 1,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, max_conn,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT,
		cfg->idle_timeout_s ? cfg->idle_timeout_s : HTTP_IDLE_TIMEOUT_S_DEFAULT,
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, srv,
		MHD_OPTION_END);
	if (!srv->daemon) {
		hl_error("cannot start the HTTP server on %s:%u: libmicrohttpd refused to start "
			 "(see the log for its reason)", srv->address, srv->port);
		/* libmicrohttpd closes the socket on some failure paths, not all */
		if (fcntl(fd, F_GETFD) != -1)
			close(fd);
		goto out;
	}
	srv->sweeping = 1;
	if (pthread_create(&srv->sweeper, NULL, http_sweep, srv) != 0) {
		srv->sweeping = 0;
		hl_error("cannot start the HTTP server on %s:%u: no thread for its request deadline",
			 srv->address, srv->port);
		hl_http_server_stop(srv);
		return -1;
	}
	hl_log_info("http: listening on %s:%u (%u connections, %u per client, %lld s for a "
		    "request)", srv->address, srv->port, max_conn, per_ip,
		    srv->request_timeout_ms / 1000);
	*out = srv;
	srv = NULL;
	rc = 0;
out:
	if (srv) {
		if (sync_made) {
			pthread_cond_destroy(&srv->stream_cond);
			pthread_cond_destroy(&srv->sweep_cond);
			pthread_mutex_destroy(&srv->conns_lock);
		}
		free(srv->header_name);
		free(srv->header_value);
		free(srv->routes);
		free(srv);
	}
	return rc;
}

unsigned short hl_http_server_port(const struct hl_http_server *srv)
{
	return srv->port;
}

void hl_http_server_stop(struct hl_http_server *srv)
{
	struct timespec until;
	MHD_socket fd;

	if (!srv)
		return;
	/*
	 * Streams end: their readers wake and return, and their last chunks go
	 * out (bounded) before the connections are closed and joined.
	 */
	pthread_mutex_lock(&srv->conns_lock);
	srv->stopping = 1;
	pthread_cond_broadcast(&srv->stream_cond);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HTTP_STREAM_END_S;
	while (srv->n_streams > 0 &&
	       pthread_cond_timedwait(&srv->stream_cond, &srv->conns_lock, &until) == 0)
		;
	pthread_mutex_unlock(&srv->conns_lock);
	/* the sweeper first: it touches connections libmicrohttpd is about to close */
	if (srv->sweeping) {
		pthread_mutex_lock(&srv->conns_lock);
		srv->sweeping = 0;
		pthread_cond_signal(&srv->sweep_cond);
		pthread_mutex_unlock(&srv->conns_lock);
		pthread_join(srv->sweeper, NULL);
	}
	if (srv->daemon) {
		/* stop accepting first, then close connections and join every thread */
		fd = MHD_quiesce_daemon(srv->daemon);
		MHD_stop_daemon(srv->daemon);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		hl_log_info("http: stopped listening on %s:%u", srv->address, srv->port);
	}
	pthread_cond_destroy(&srv->stream_cond);
	pthread_cond_destroy(&srv->sweep_cond);
	pthread_mutex_destroy(&srv->conns_lock);
	free(srv->header_name);
	free(srv->header_value);
	free(srv->routes);
	free(srv);
}

/* ---- client ---- */

static pthread_once_t http_curl_once = PTHREAD_ONCE_INIT;
static CURLcode http_curl_init_rc = CURLE_FAILED_INIT;

/* A thread's kept handle and the resolve list it was used with (entries joined by '\n'). */
struct http_handle {
	CURL *h;
	char *resolve;
};

static pthread_key_t http_handle_key;
static int http_handle_key_ok;

/* Free a kept handle (thread exit, replacement); NULL-safe. */
static void http_handle_free(void *p)
{
	struct http_handle *hh = p;

	if (!hh)
		return;
	curl_easy_cleanup(hh->h);
	free(hh->resolve);
	free(hh);
}

/* At exit: free the exiting thread's handle (thread-specific destructors do not run for it). */
static void http_handle_atexit(void)
{
	if (!http_handle_key_ok)
		return;
	http_handle_free(pthread_getspecific(http_handle_key));
	pthread_setspecific(http_handle_key, NULL);
}

/* Initialise libcurl and the kept-handle key for the whole process (run once). */
static void http_curl_init(void)
{
	http_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (http_curl_init_rc == CURLE_OK && pthread_key_create(&http_handle_key,
								http_handle_free) == 0) {
		http_handle_key_ok = 1;
		atexit(http_handle_atexit);
	}
}

/* curl's socket opener: a close-on-exec socket, so forked children never hold a connection. */
static curl_socket_t http_open_socket(void *user, curlsocktype purpose,
				      struct curl_sockaddr *addr)
{
	(void)user;
	(void)purpose;
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/*
 * This thread's kept handle, reset, when it was used with the resolve list
 * RESOLVE; otherwise a new one (kept in place of the old).  NULL when none
 * can be made.
 */
static CURL *http_handle_get(const char *resolve)
{
	struct http_handle *hh = http_handle_key_ok ? pthread_getspecific(http_handle_key) : NULL;
	struct http_handle *fresh;

	if (hh && strcmp(hh->resolve, resolve) == 0) {
		curl_easy_reset(hh->h);
		return hh->h;
	}
	if (!http_handle_key_ok)
		return curl_easy_init();
	if (!(fresh = calloc(1, sizeof(*fresh))) || !(fresh->resolve = strdup(resolve)) ||
	    !(fresh->h = curl_easy_init())) {
		http_handle_free(fresh);
		return NULL;
	}
	if (pthread_setspecific(http_handle_key, fresh) != 0) {
		CURL *h = fresh->h;

		fresh->h = NULL;
		http_handle_free(fresh);
		return h;   /* not kept: http_handle_put frees it */
	}
	http_handle_free(hh);
	return fresh->h;
}

/* After a request on H: keep a kept handle when OK, otherwise drop it (and its connections). */
static void http_handle_put(CURL *h, int ok)
{
	struct http_handle *hh = http_handle_key_ok ? pthread_getspecific(http_handle_key) : NULL;

	if (!h)
		return;
	if (!hh || hh->h != h) {
		curl_easy_cleanup(h);
		return;
	}
	if (!ok) {
		pthread_setspecific(http_handle_key, NULL);
		http_handle_free(hh);
	}
}

/* Where the reply body goes; over is set when it passed max. */
struct http_sink {
	char *buf;
	size_t len, cap, max;
	int over;
};

/* libcurl's write callback: append to the sink, refusing data past its cap. */
static size_t http_write(char *data, size_t size, size_t nmemb, void *user)
{
	struct http_sink *sink = user;
	size_t n = size * nmemb, cap;
	char *grown;

	if (n > sink->max - sink->len) {
		sink->over = 1;
		return 0;
	}
	if (sink->len + n + 1 > sink->cap) {
		cap = sink->cap ? sink->cap : 4096;
		while (cap < sink->len + n + 1)
			cap *= 2;
		grown = realloc(sink->buf, cap);
		if (!grown)
			return 0;
		sink->buf = grown;
		sink->cap = cap;
	}
	memcpy(sink->buf + sink->len, data, n);
	sink->len += n;
	sink->buf[sink->len] = '\0';
	return n;
}

/* Check one "host:port:address" resolve entry; 0 or -1 after hl_error(). */
static int http_resolve_check(const char *entry)
{
	const char *colon1 = strchr(entry, ':'), *colon2, *p;
	long port = 0;

	if (!colon1 || colon1 == entry || entry[0] == '+' || entry[0] == '-')
		goto bad;
	colon2 = strchr(colon1 + 1, ':');
	if (!colon2 || colon2 == colon1 + 1 || !colon2[1])
		goto bad;
	for (p = colon1 + 1; p < colon2; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		port = port * 10 + (*p - '0');
		if (port > 65535)
			goto bad;
	}
	if (port == 0)
		goto bad;
	return 0;
bad:
	return hl_error("invalid resolve entry '%s': expected host:port:address such as "
			"hgs.relecloud.com:8080:127.0.0.2", entry);
}

/* Turn a failed transfer into a message naming URL and the cause. */
static int http_curl_error(const char *url, CURLcode res, CURL *h, const char *errbuf,
			   const struct http_sink *sink, long timeout_ms)
{
	char why[CURL_ERROR_SIZE + 64];
	long os_errno = 0;

	switch (res) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno)
			http_strerror((int)os_errno, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "cannot connect");
		return hl_error("cannot reach '%s': %s; check that the service is running and that "
				"the URL and the resolve list point at it", url, why);
	case CURLE_COULDNT_RESOLVE_HOST:
		return hl_error("cannot reach '%s': the host name does not resolve; map it to an "
				"address in the lab's resolve list (host:port:address)", url);
	case CURLE_OPERATION_TIMEDOUT:
		return hl_error("no reply from '%s' within %ld ms; check that the service is up "
				"or allow a longer timeout", url, timeout_ms);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return hl_error("invalid URL '%s': %s", url, curl_easy_strerror(res));
	default:
		break;
	}
	if (res == CURLE_WRITE_ERROR && sink->over)
		return hl_error("the reply from '%s' is over the limit of %zu bytes", url, sink->max);
	snprintf(why, sizeof(why), "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
	if (why[0] && islower((unsigned char)why[1]))
		why[0] = (char)tolower((unsigned char)why[0]);
	return hl_error("request to '%s' failed: %s", url, why);
}

/* Perform one GET (BODY NULL and POST 0) or POST of URL into OUT. */
static int http_request(const char *url, int post, const char *content_type, const void *body,
			size_t len, const struct hl_http_opts *opts, struct hl_http_reply *out)
{
	char errbuf[CURL_ERROR_SIZE] = "", ctype_header[160], *resolve_key = NULL, *key;
	struct curl_slist *resolve = NULL, *headers = NULL, *grown;
	struct http_sink sink = { 0 };
	const char *ctype = NULL;
	char *ip = NULL;
	struct curl_header *hdr = NULL;
	size_t key_len = 0, n;
	long timeout_ms;
	CURLcode res;
	CURL *h = NULL;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!url) {
		hl_error("cannot send an HTTP request: no URL");
		goto out;
	}
	pthread_once(&http_curl_once, http_curl_init);
	if (http_curl_init_rc != CURLE_OK) {
		hl_error("cannot send a request to '%s': libcurl failed to initialise: %s", url,
			 curl_easy_strerror(http_curl_init_rc));
		goto out;
	}
	timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : HL_HTTP_TIMEOUT_MS_DEFAULT;
	sink.max = opts && opts->max_reply ? opts->max_reply : HL_HTTP_MAX_REPLY_DEFAULT;
	for (i = 0; opts && opts->resolve && opts->resolve[i]; i++) {
		if (http_resolve_check(opts->resolve[i]) < 0)
			goto out;
		grown = curl_slist_append(resolve, opts->resolve[i]);
		if (!grown) {
			hl_error("cannot send a request to '%s': out of memory", url);
			goto out;
		}
		resolve = grown;
		n = strlen(opts->resolve[i]);
		key = realloc(resolve_key, key_len + n + 2);
		if (!key) {
			hl_error("cannot send a request to '%s': out of memory", url);
			goto out;
		}
		resolve_key = key;
		memcpy(resolve_key + key_len, opts->resolve[i], n);
		key_len += n;
		resolve_key[key_len++] = '\n';
		resolve_key[key_len] = '\0';
	}
	if (post) {
		if (!content_type || strpbrk(content_type, "\r\n")) {
			hl_error("cannot POST to '%s': invalid content type", url);
			goto out;
		}
		snprintf(ctype_header, sizeof(ctype_header), "Content-Type: %s", content_type);
		grown = curl_slist_append(headers, ctype_header);
		if (!grown) {
			hl_error("cannot send a request to '%s': out of memory", url);
			goto out;
		}
		headers = grown;
	}
	h = http_handle_get(resolve_key ? resolve_key : "");
	if (!h) {
		hl_error("cannot send a request to '%s': libcurl cannot create a handle", url);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "hgslab");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
	if (resolve)
		curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
	if (post) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, len ? body : "");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	}
	res = curl_easy_perform(h);
	if (res != CURLE_OK) {
		http_curl_error(url, res, h, errbuf, &sink, timeout_ms);
		goto out;
	}
	if (!sink.buf && !(sink.buf = calloc(1, 1))) {
		hl_error("cannot read the reply from '%s': out of memory", url);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
	snprintf(out->content_type, sizeof(out->content_type), "%s", ctype ? ctype : "");
	if (curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
		snprintf(out->address, sizeof(out->address), "%s", ip);
	if (opts && opts->header &&
	    curl_easy_header(h, opts->header, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
		snprintf(out->header, sizeof(out->header), "%s", hdr->value);
	out->body = sink.buf;
	out->body_len = sink.len;
	sink.buf = NULL;
	rc = 0;
out:
	http_handle_put(h, rc == 0);
	free(resolve_key);
	curl_slist_free_all(resolve);
	curl_slist_free_all(headers);
	free(sink.buf);
	return rc;
}

int hl_http_get(const char *url, const struct hl_http_opts *opts, struct hl_http_reply *out)
{
	return http_request(url, 0, NULL, NULL, 0, opts, out);
}

int hl_http_post(const char *url, const char *content_type, const void *body, size_t len,
		 const struct hl_http_opts *opts, struct hl_http_reply *out)
{
	return http_request(url, 1, content_type, body, len, opts, out);
}

int hl_http_reply_check(const char *url, const struct hl_http_reply *reply)
{
	char snippet[201];
	const char *msg = NULL;
	json_t *v = NULL;
	size_t i;
	int rc;

	if (reply->status >= 200 && reply->status < 300)
		return 0;
	if (reply->body_len && hl_json_parse(reply->body, reply->body_len, 0, &v) == 0 &&
	    json_is_object(v) && json_is_string(json_object_get(v, "error")))
		msg = json_string_value(json_object_get(v, "error"));
	if (!msg) {
		for (i = 0; i + 1 < sizeof(snippet) && i < reply->body_len; i++) {
			unsigned char c = (unsigned char)reply->body[i];

			snippet[i] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
		}
		snippet[i] = '\0';
		msg = i ? snippet : "no details in the reply";
	}
	rc = hl_error("'%s' answered %ld: %s", url, reply->status, msg);
	json_decref(v);
	return rc;
}

void hl_http_reply_release(struct hl_http_reply *reply)
{
	if (!reply)
		return;
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}
