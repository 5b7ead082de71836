/*
 * dashboard.c - the dashboard's server (sim/dashboard.h): the routes of its
 * page and JSON API over lib/http, the poller thread that turns what moved
 * in the lab into events (sim/dashboard_lab.c), the events kept in a ring,
 * the Server-Sent Events streams that push them to the pages, and the
 * token check in front of the teacher actions (sim/dashboard_action.c).
 *
 * Shared state (the ring, the fabric's picture, the lab followed) is
 * guarded by one mutex; the poller alone touches the struct dlab.  A stream
 * keeps, per client, the id of the last event it sent and the version of
 * the picture, and formats what is newer into its own buffer; the HTTP
 * server asks it again every HL_HTTP_STREAM_WAIT_MS while it has nothing,
 * and it sends an SSE comment after DASHBOARD_HEARTBEAT_MS of silence so
 * the connection's idle timeout never ends a quiet stream.
 */
#include "sim/dashboard.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/served.h"
#include "sim/dashboard_int.h"
#include "sim/web.h"

/* Events kept for pages that connect later. */
#define DASHBOARD_RING 512
/* A stream sends a comment line after this long without anything else. */
#define DASHBOARD_HEARTBEAT_MS 10000

/* One event kept: its id and its JSON text. */
struct dash_event {
	long long id;
	char *json;
};

/*
 * The dashboard.  Invariants: ring holds the last DASHBOARD_RING events
 * (ids below next_id, consecutive) at index id % DASHBOARD_RING, a slot's id
 * saying which event it holds; picture is the last
 * fabric picture (NULL before the first), picture_version counts its
 * changes; work is the lab followed (NULL: none), work_version counts its
 * changes (the poller reopens the lab when it moved).  lock guards all of
 * it; running tells the poller to go on.
 */
struct dashboard {
	struct hl_http_server *http;
	char url[64];
	char token[DASHBOARD_TOKEN_SIZE];
	int has_token;
	char *guest;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_mutex_t action_lock;
	pthread_t poller;
	int running;
	char *work;
	unsigned work_version;
	struct dash_event ring[DASHBOARD_RING];
	long long next_id;
	char *picture;
	unsigned long picture_version;
};

/* A stream's state: what it sent, what it still has to send. */
struct dash_stream {
	struct dashboard *d;
	long long last_id;
	unsigned long picture_version;
	char *buf;
	size_t len, off;
	long long quiet_since;
};

/* Store event E (its Id set here) in D's ring; D->lock held. */
static void ring_add(struct dashboard *d, json_t *e)
{
	struct dash_event *slot = &d->ring[d->next_id % DASHBOARD_RING];
	char *text = NULL;

	json_object_set_new(e, "Id", json_integer(d->next_id));
	if (hl_json_dump(e, &text) < 0) {
		hl_error_clear();
		return;
	}
	free(slot->json);
	slot->json = text;
	slot->id = d->next_id++;
}

/* One new event and its place in its poll: sorted by time, then by that place. */
struct dash_new {
	json_t *e;
	size_t i;
};

/* qsort's order of struct dash_new: Time (ISO 8601, so text order), then poll order. */
static int dash_new_cmp(const void *a, const void *b)
{
	const struct dash_new *x = a, *y = b;
	const char *tx = json_string_value(json_object_get(x->e, "Time"));
	const char *ty = json_string_value(json_object_get(y->e, "Time"));
	int c = strcmp(tx ? tx : "", ty ? ty : "");

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Store a poll's EVENTS in D's ring in the order they happened (the logs are read one by one). */
static void ring_add_all(struct dashboard *d, json_t *events)
{
	size_t n = json_array_size(events), i;
	struct dash_new *v = n ? calloc(n, sizeof(*v)) : NULL;

	for (i = 0; i < n; i++) {
		if (!v) {
			ring_add(d, json_array_get(events, i));
			continue;
		}
		v[i].e = json_array_get(events, i);
		v[i].i = i;
	}
	if (!v)
		return;
	qsort(v, n, sizeof(*v), dash_new_cmp);
	for (i = 0; i < n; i++)
		ring_add(d, v[i].e);
	free(v);
}

/* The poller: every DASHBOARD_POLL_MS the lab's changes become events; the picture when moved. */
static void *dashboard_poll(void *arg)
{
	struct dashboard *d = arg;
	struct dlab *l = NULL;
	unsigned seen_version = 0;
	long long last_picture = 0;
	struct timespec until;

	pthread_mutex_lock(&d->lock);
	while (d->running) {
		char *work = NULL;
		json_t *events = NULL, *pic = NULL;
		char *text = NULL;
		int moved = 0, reopen = !l || seen_version != d->work_version;

		if (reopen && d->work)
			work = strdup(d->work);
		seen_version = d->work_version;
		pthread_mutex_unlock(&d->lock);
		if (reopen) {
			dlab_close(l);
			l = NULL;
			if (work && dlab_open(work, &l) < 0)
				hl_error_clear();  /* no lab.json yet: look again */
		}
		free(work);
		if (l && (events = json_array()) && dlab_poll(l, events, &moved) == 0 &&
		    (moved || reopen || hl_clock_ms() - last_picture >= DASHBOARD_SNAPSHOT_MS)) {
			if (dlab_snapshot(l, &pic) == 0 && hl_json_dump(pic, &text) < 0)
				text = NULL;
			last_picture = hl_clock_ms();
		}
		hl_error_clear();
		pthread_mutex_lock(&d->lock);
		ring_add_all(d, events);
		if (text && (!d->picture || strcmp(d->picture, text))) {
			free(d->picture);
			d->picture = text;
			d->picture_version++;
			text = NULL;
		}
		free(text);
		json_decref(events);
		json_decref(pic);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += DASHBOARD_POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (d->running)
			pthread_cond_timedwait(&d->wake, &d->lock, &until);
	}
	pthread_mutex_unlock(&d->lock);
	dlab_close(l);
	return NULL;
}

/* ---- streams ---- */

/* Append TEXT[0..N) to S's buffer; -1 when out of memory. */
static int stream_put(struct dash_stream *s, const char *text, size_t n)
{
	char *grown = realloc(s->buf, s->len + n + 1);

	if (!grown)
		return -1;
	s->buf = grown;
	memcpy(s->buf + s->len, text, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return 0;
}

/* Append one SSE event named NAME (id ID when >= 0) carrying the one-line JSON DATA. */
static int stream_event(struct dash_stream *s, const char *name, long long id, const char *data)
{
	char head[96];
	int n;

	if (id >= 0)
		n = snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ", id, name);
	else
		n = snprintf(head, sizeof(head), "event: %s\ndata: ", name);
	return stream_put(s, head, (size_t)n) < 0 || stream_put(s, data, strlen(data)) < 0 ||
	       stream_put(s, "\n\n", 2) < 0 ? -1 : 0;
}

/* Fill S's buffer with what is new for it (events, then the picture); D->lock held. */
static int stream_fill(struct dash_stream *s)
{
	struct dashboard *d = s->d;
	long long id = s->last_id + 1, first = d->next_id - DASHBOARD_RING;

	if (id < first)
		id = first;
	if (id < 1)
		id = 1;
	for (; id < d->next_id; id++) {
		const struct dash_event *e = &d->ring[id % DASHBOARD_RING];

		if (e->id == id && e->json && stream_event(s, "lab", id, e->json) < 0)
			return -1;
		s->last_id = id;
	}
	if (d->picture && s->picture_version != d->picture_version) {
		if (stream_event(s, "fabric", -1, d->picture) < 0)
			return -1;
		s->picture_version = d->picture_version;
	}
	return 0;
}

/* lib/http's stream function: the buffered bytes, refilled from the ring; a comment when quiet. */
static long stream_next(void *user, char *buf, size_t max)
{
	struct dash_stream *s = user;
	size_t n;
	int rc;

	if (s->off >= s->len) {
		s->off = s->len = 0;
		pthread_mutex_lock(&s->d->lock);
		rc = s->d->running ? stream_fill(s) : -1;
		pthread_mutex_unlock(&s->d->lock);
		if (rc < 0)
			return -1;
		if (!s->len) {
			if (hl_clock_ms() - s->quiet_since < DASHBOARD_HEARTBEAT_MS)
				return 0;
			if (stream_put(s, ": still here\n\n", 15) < 0)
				return -1;
		}
	}
	n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	s->quiet_since = hl_clock_ms();
	return (long)n;
}

/* lib/http's end of a stream. */
static void stream_free(void *user)
{
	struct dash_stream *s = user;

	free(s->buf);
	free(s);
}

/* ---- routes ---- */

/* GET /api/events: the live stream; Last-Event-ID resumes after that event. */
static int route_events(const struct hl_http_request *req, struct hl_http_response *resp,
			void *user)
{
	struct dash_stream *s = calloc(1, sizeof(*s));
	const char *last = hl_http_request_header(req, "Last-Event-ID");

	if (!s)
		return hl_error("out of memory");
	s->d = user;
	s->last_id = last ? strtoll(last, NULL, 10) : 0;
	s->quiet_since = hl_clock_ms();
	/* the first bytes tell EventSource to retry after a second when the stream breaks */
	if (stream_put(s, "retry: 1000\n\n", 13) < 0) {
		free(s);
		return hl_error("out of memory");
	}
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/event-stream");
	resp->stream = stream_next;
	resp->stream_user = s;
	resp->stream_free = stream_free;
	return 0;
}

/* GET /api/fabric: the picture now. */
static int route_fabric(const struct hl_http_request *req, struct hl_http_response *resp,
			void *user)
{
	struct dashboard *d = user;
	json_t *o = NULL;
	int rc;

	(void)req;
	pthread_mutex_lock(&d->lock);
	if (d->picture)
		rc = hl_http_response_set(resp, 200, "application/json", d->picture,
					  strlen(d->picture));
	else
		rc = 1;
	pthread_mutex_unlock(&d->lock);
	if (rc <= 0)
		return rc;
	o = json_pack("{s:n, s:[], s:n, s:[], s:[], s:[], s:s}", "Scenario", "Hgs", "Fabric",
		      "Hosts", "Vms", "Guardians", "Waiting",
		      "the lab is not up yet (no lab.json): the page fills in when it is");
	rc = o ? hl_http_response_json(resp, 200, o) : hl_error("out of memory");
	json_decref(o);
	return rc;
}

/* GET /api/recent: the kept events, oldest first. */
static int route_recent(const struct hl_http_request *req, struct hl_http_response *resp,
			void *user)
{
	struct dashboard *d = user;
	json_t *arr = json_array(), *e;
	long long id;
	int rc = 0;

	(void)req;
	if (!arr)
		return hl_error("out of memory");
	pthread_mutex_lock(&d->lock);
	for (id = d->next_id > DASHBOARD_RING ? d->next_id - DASHBOARD_RING : 1; id < d->next_id;
	     id++) {
		const struct dash_event *ev = &d->ring[id % DASHBOARD_RING];

		if (ev->id == id && ev->json && hl_json_parse(ev->json, strlen(ev->json), 0, &e) == 0)
			json_array_append_new(arr, e);
	}
	pthread_mutex_unlock(&d->lock);
	hl_error_clear();
	rc = hl_http_response_json(resp, 200, arr);
	json_decref(arr);
	return rc;
}

/* The lab followed now (a copy) into *WORK, or a 503 answer when there is none. */
static int current_work(struct dashboard *d, struct hl_http_response *resp, char **work)
{
	pthread_mutex_lock(&d->lock);
	*work = d->work ? strdup(d->work) : NULL;
	pthread_mutex_unlock(&d->lock);
	if (*work)
		return 0;
	hl_http_response_error(resp, 503, "no lab is up yet");
	return 1;
}

/* GET /api/host/NAME and /api/vm/NAME. */
static int route_page(const struct hl_http_request *req, struct hl_http_response *resp,
		      struct dashboard *d, const char *prefix,
		      int (*page)(const char *, const char *, json_t **))
{
	const char *name = req->path + strlen(prefix);
	char *work = NULL;
	json_t *o = NULL;
	int rc;

	if (!*name || strlen(name) > 255 || strchr(name, '/'))
		return hl_http_response_error(resp, 404, "no resource at '%s' on this server",
					      req->path);
	if (current_work(d, resp, &work))
		return 0;
	rc = page(work, name, &o);
	free(work);
	if (rc == -2)
		return hl_http_response_error(resp, 404, "%s", hl_error_last());
	if (rc < 0)
		return -1;
	rc = hl_http_response_json(resp, 200, o);
	json_decref(o);
	return rc;
}

static int route_host(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	return route_page(req, resp, user, "/api/host/", dlab_host_page);
}

static int route_vm(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	return route_page(req, resp, user, "/api/vm/", dlab_vm_page);
}

/* POST /api/action: a teacher action, with the token in DASHBOARD_TOKEN_HEADER. */
static int route_action(const struct hl_http_request *req, struct hl_http_response *resp,
			void *user)
{
	struct dashboard *d = user;
	const char *given = hl_http_request_header(req, DASHBOARD_TOKEN_HEADER);
	json_t *body = NULL, *o = NULL;
	char *work = NULL;
	int rc;

	if (!d->has_token)
		return hl_http_response_error(resp, 403, "teacher actions are off on this dashboard: "
					      "they are for a fabric `hgslab up` left running, with "
					      "the token it printed");
	if (!given || strlen(given) != strlen(d->token) ||
	    !hl_crypto_ct_equal(given, d->token, strlen(d->token)))
		return hl_http_response_error(resp, 403, "a teacher action needs the token `hgslab "
					      "up` printed, in the %s header%s",
					      DASHBOARD_TOKEN_HEADER, given ? ": this one is wrong" :
					      "");
	if (hl_json_parse(req->body, req->body_len, DASHBOARD_MAX_BODY, &body) < 0 ||
	    !json_is_object(body)) {
		rc = hl_http_response_error(resp, 400, "the action must be a JSON object such as "
					    "{\"Action\": \"reboot-host\", \"Host\": \"H\", "
					    "\"Profile\": \"debug=on\"}: %s", hl_error_last());
		json_decref(body);
		return rc;
	}
	if (current_work(d, resp, &work)) {
		json_decref(body);
		return 0;
	}
	pthread_mutex_lock(&d->action_lock);
	hl_log_info("dashboard: teacher action from %s: %s", req->remote, req->body);
	rc = dlab_action(work, d->guest, body, &o);
	pthread_mutex_unlock(&d->action_lock);
	if (rc == -2)
		rc = hl_http_response_error(resp, 400, "%s", hl_error_last());
	else if (rc == 0)
		rc = hl_http_response_json(resp, 200, o);
	/* the page sees the outcome at once, not at the next poll */
	pthread_mutex_lock(&d->lock);
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	json_decref(o);
	json_decref(body);
	free(work);
	return rc;
}

/* GET / and GET /web/NAME: the embedded page and its files. */
static int route_asset(const struct hl_http_request *req, struct hl_http_response *resp,
		       void *user)
{
	const char *name = !strcmp(req->path, "/") ? "dashboard.html" : req->path + strlen("/web/");
	const struct web_asset *a = web_asset_find(name);

	(void)user;
	if (!a)
		return hl_http_response_error(resp, 404, "no resource at '%s' on this server",
					      req->path);
	return hl_http_response_set(resp, 200, a->type, a->data, a->len);
}

/* ---- life ---- */

int dashboard_start(const struct dashboard_config *cfg, struct dashboard **out)
{
	struct dashboard *d;
	struct hl_http_route routes[] = {
		{ "GET", "/", route_asset, NULL },
		{ "GET", "/web/*", route_asset, NULL },
		{ "GET", "/api/fabric", route_fabric, NULL },
		{ "GET", "/api/events", route_events, NULL },
		{ "GET", "/api/recent", route_recent, NULL },
		{ "GET", "/api/host/*", route_host, NULL },
		{ "GET", "/api/vm/*", route_vm, NULL },
		{ "POST", "/api/action", route_action, NULL },
	};
	struct hl_http_server_config http = { 0 };
	char addr[16];
	unsigned short port;
	size_t i;

	*out = NULL;
	if (hl_served_parse_listen(cfg->listen ? cfg->listen : DASHBOARD_LISTEN_DEFAULT, addr,
				   &port) < 0)
		return -1;
	if (strncmp(addr, "127.", 4) != 0)
		return hl_error("the dashboard listens on loopback only: give a 127.x.y.z address, "
				"not '%s'", addr);
	if (!(d = calloc(1, sizeof(*d))))
		return hl_error("out of memory");
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->action_lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	/*
	 * Ids grow across runs of the dashboard too (a page that reconnects to a
	 * new one sends the last id it saw): they start at the time in ms.
	 */
	d->next_id = hl_clock_epoch_ms();
	if (cfg->token) {
		snprintf(d->token, sizeof(d->token), "%s", cfg->token);
		d->has_token = 1;
	}
	if ((cfg->guest && !(d->guest = strdup(cfg->guest))) ||
	    (cfg->work && !(d->work = strdup(cfg->work)))) {
		hl_error("out of memory");
		goto fail;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].user = d;
	http.address = addr;
	http.port = port;
	http.routes = routes;
	http.n_routes = sizeof(routes) / sizeof(routes[0]);
	http.max_body = DASHBOARD_MAX_BODY;
	http.idle_timeout_s = 60;
	http.max_connections = 64;
	http.per_client_connections = 32;
	d->running = 1;
	if (pthread_create(&d->poller, NULL, dashboard_poll, d) != 0) {
		d->running = 0;
		hl_error("cannot start the dashboard's poller thread");
		goto fail;
	}
	if (hl_http_server_start(&http, &d->http) < 0) {
		hl_error_wrap("cannot start the dashboard");
		dashboard_stop(d);
		return -1;
	}
	snprintf(d->url, sizeof(d->url), "http://%s:%u/", addr, hl_http_server_port(d->http));
	*out = d;
	return 0;
fail:
	dashboard_stop(d);
	return -1;
}

int dashboard_set_work(struct dashboard *d, const char *work)
{
	char *copy = work ? strdup(work) : NULL;

	if (work && !copy)
		return hl_error("out of memory");
	pthread_mutex_lock(&d->lock);
	free(d->work);
	d->work = copy;
	d->work_version++;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

const char *dashboard_url(const struct dashboard *d)
{
	return d->url;
}

void dashboard_stop(struct dashboard *d)
{
	size_t i;
	int joined;

	if (!d)
		return;
	/* the server first: its streams end cleanly (they read the ring under the lock) */
	hl_http_server_stop(d->http);
	pthread_mutex_lock(&d->lock);
	joined = d->running;
	d->running = 0;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	if (joined)
		pthread_join(d->poller, NULL);
	for (i = 0; i < DASHBOARD_RING; i++)
		free(d->ring[i].json);
	hl_crypto_cleanse(d->token, sizeof(d->token));
	free(d->picture);
	free(d->work);
	free(d->guest);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->action_lock);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- the teacher token ---- */

int dashboard_token_new(const char *dir, char out[DASHBOARD_TOKEN_SIZE])
{
	unsigned char raw[32];
	char path[PATH_MAX];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hl_error_errno("cannot create '%s'", dir);
	if (hl_crypto_random(raw, sizeof(raw)) < 0 ||
	    hl_crypto_hex_encode(raw, sizeof(raw), out, DASHBOARD_TOKEN_SIZE) < 0)
		return -1;
	hl_crypto_cleanse(raw, sizeof(raw));
	snprintf(path, sizeof(path), "%s/%s", dir, DASHBOARD_TOKEN_FILE);
	return hl_file_write_private(path, out, strlen(out));
}

int dashboard_token_read(const char *dir, char out[DASHBOARD_TOKEN_SIZE])
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, DASHBOARD_TOKEN_FILE);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (hl_file_read(path, 256, &text, &len) < 0)
		return -1;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (len != DASHBOARD_TOKEN_SIZE - 1 || !hl_crypto_hex_is(text, len, 1)) {
		hl_crypto_cleanse(text, len);
		free(text);
		return hl_error("'%s' is not a dashboard token (64 hex digits)", path);
	}
	memcpy(out, text, len);
	out[len] = '\0';
	hl_crypto_cleanse(text, len);
	free(text);
	return 1;
}
