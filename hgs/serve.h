/*
 * serve.h - the HGS node's HTTP service: the route framework every
 * attestation mode (and later the Key Protection Service) plugs into, the
 * shared way an attestation attempt ends, and `hgslab hgs serve`.
 *
 * The API is documented in docs/attestation-protocol.md.  Routes come in
 * arrays, one per module, each ending with a NULL path:
 *
 *   hgs_core_routes     serve.c            GET  /Attestation/v1/info
 *                                          POST /Attestation/v1/nonce
 *   hgs_hostkey_routes  attest_hostkey.h   POST /Attestation/v1/hostkey/attest
 *   hgs_tpm_routes      attest_tpm.h       POST /Attestation/v1/tpm/...   (to come)
 *   hgs_ad_routes       attest_ad.h        POST /Attestation/v1/ad/attest (to come)
 *   hgs_kps_routes      kps.h              /KeyProtection/...             (issue #4)
 *
 * How to add a mode (or KPS): write hgs/attest_<mode>.c exporting
 * `const struct hgs_route hgs_<mode>_routes[]`, declare it in
 * hgs/attest_<mode>.h, and add it to hgs_route_sets[] in hgs/serve.c.  A
 * route with .mode set to an enum hgs_mode is an attestation route: the
 * framework refuses it (recorded, UnauthorizedHost) while the node's trust
 * mode is another one, so its handler only runs in its own mode.  A handler:
 *   1. reads req->body (the parsed JSON object of a POST; {} for an empty
 *      body) with lib/json.h getters; malformed input ends with
 *      hgs_attest_reject(req, resp, 400, "...") (recorded, HTTP 400);
 *   2. checks the nonce first: hgs_nonce_check(req->node, req->trace, ...,
 *      &result, &req->nonce) (hgs/nonce.h), which leaves a good one pending;
 *   3. checks what its mode proves, looking registrations up with hgs/db.h;
 *   4. ends with hgs_attest_finish(req, host, &result, transport_key, resp),
 *      which issues the health certificate when the result is Passed,
 *      records the attempt in the attestation log, using the pending nonce
 *      up in the same write transaction (committed before the reply, whose
 *      "LogId" is the entry's Id), and writes the reply: the decision, or
 *      the replay refusal when another request used the nonce up first
 *      (the health certificate is then discarded).
 * Returning -1 (after hl_error) answers 500; the framework records the
 * attempt as TransientError (using a pending nonce up) unless the handler
 * already recorded it.
 *
 * The trace (hgs/trace.h): for an attestation route the framework starts
 * req->trace with the request's message ("POST /Attestation/v1/..."); the
 * handler amends that label with what the request carried
 * (hgs_trace_amend(req->trace, 0, ": ...")) and appends one check per
 * decision it makes, in order, passed ones included, up to the one that
 * fails; hgs_attest_finish / hgs_attest_reject / the framework append the
 * health certificate and the answer and record it with the attempt.
 *
 * Threads: handlers run concurrently, one thread per connection; the node's
 * store is locked by the hgs_db_* functions, keys are read-only.
 */
#ifndef HGSLAB_HGS_SERVE_H
#define HGSLAB_HGS_SERVE_H

#include <jansson.h>
#include <openssl/evp.h>

#include "proto/attest.h"
#include "hgs/node.h"
#include "hgs/nonce.h"
#include "hgs/trace.h"
#include "lib/http.h"
#include "lib/log.h"

/* One request as an HGS handler sees it; valid until the handler returns. */
struct hgs_request {
	struct hgs_node *node;
	const struct hgs_route *route;
	const struct hl_http_request *http;
	json_t *body;            /* POST: the JSON object body ({} when empty); GET: NULL */
	const char *host;        /* the body's "host" string when it has one, else NULL */
	int recorded;            /* set once the attempt is in the attestation log */
	struct hgs_nonce_use nonce; /* the nonce checked good, until the log entry uses it up */
	struct hgs_trace *trace; /* attestation routes: the exchange's trace; else NULL */
	struct hgs_config config; /* attestation routes: the node row read as the request came */
};

typedef int (*hgs_route_fn)(struct hgs_request *req, struct hl_http_response *resp);

/* .mode of a route that is not an attestation in one mode. */
#define HGS_ROUTE_ANY_MODE (-1)

struct hgs_route {
	const char *method;      /* "GET", "POST" */
	const char *path;        /* exact, or a prefix ending in '*' (lib/http.h); NULL ends */
	int mode;                /* an enum hgs_mode, or HGS_ROUTE_ANY_MODE */
	hgs_route_fn handler;
};

/* GET /Attestation/v1/info, POST /Attestation/v1/nonce. */
extern const struct hgs_route hgs_core_routes[];

/*
 * End an attestation attempt by HOST in the route's mode with result RES:
 * when RES is Passed, issue a health certificate for TRANSPORT_KEY (a failure
 * to issue turns the result into TransientError); record the attempt; reply
 * 200 with the decision (docs/attestation-protocol.md "Decision").  Returns
 * -1 only when nothing could be recorded.
 */
int hgs_attest_finish(struct hgs_request *req, const char *host, const struct hgs_result *res,
		      EVP_PKEY *transport_key, struct hl_http_response *resp);

/*
 * Refuse a malformed attestation request: record it (UnauthorizedHost, the
 * message as reason; its trace ends with a failed "Request" check) and
 * reply HTTP_STATUS with {"error": message}.  Returns 0 (the request was
 * answered).
 */
int hgs_attest_reject(struct hgs_request *req, struct hl_http_response *resp, int http_status,
		      const char *fmt, ...) HL_PRINTF(4, 5);

struct hgs_server;

/*
 * Serve NODE's routes (every array of hgs_route_sets) on ADDR:PORT (port 0:
 * an ephemeral port) in background threads.  NODE must be open with
 * HGS_NODE_OPEN_KEYS and outlive the server.
 */
int hgs_server_start(struct hgs_node *node, const char *addr, unsigned short port,
		     struct hgs_server **out);

/* The port the server listens on. */
unsigned short hgs_server_port(const struct hgs_server *srv);

/* Stop the server, waiting for running handlers; NULL-safe. */
void hgs_server_stop(struct hgs_server *srv);

/*
 * `hgslab hgs serve`: open the node at DIR, log to DIR/hgs.log at LEVEL,
 * serve on the node's address (LISTEN "ADDR:PORT" overrides it when not
 * NULL), write DIR/hgs.pid, print the readiness line
 *   hgs: serving MyHgsService on http://127.0.0.2:8080
 * on stdout, and run until SIGTERM or SIGINT, then stop cleanly and return 0
 * (leaving both signals blocked, so a second one cannot kill the exit).
 * While it runs, the node's row of the cluster registry says where it
 * listens and is refreshed every HGS_CLUSTER_HEARTBEAT_S (hgs/db_cluster.h);
 * a clean stop marks it stopped.  Returns -1 when it cannot start.
 */
int hgs_serve(const char *dir, const char *listen, enum hl_log_level level);

#endif
