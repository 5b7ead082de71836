/*
 * dc.h - the fabric's domain controller (DC): it signs membership tickets
 * (proto/ad_ticket.h) for the computers of its fabric directory
 * (fabric/directory.h) and serves them over HTTP, the way a domain-joined
 * host gets a Kerberos ticket from its KDC.
 *
 * `hgslab fabric serve` runs it on the DC's loopback address:
 *   GET  /Fabric/v1/info       the domain, its SID, the DC certificate
 *   GET|POST /Fabric/v1/nonce  a fresh single-use DC nonce
 *   POST /Fabric/v1/ticket     {"computer", "nonce", "signature"} -> a ticket
 * A computer gets a ticket by signing ad_ticket_request_message() over a DC
 * nonce with its machine key (hosts/ad_client.c does it).  DC nonces are a
 * lib/nonce table on the DC clock (fabric_now), kept in memory: a restart
 * forgets the outstanding ones and the client just asks again.  Tickets
 * carry the directory's groups at issue time and live the domain's ticket
 * lifetime (default 10 minutes).  docs/attestation-protocol.md, "AD mode",
 * has the exchanges and every refusal with its Kerberos name.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success; fabric_dc_stop() is NULL-safe.
 */
#ifndef HGSLAB_FABRIC_DC_H
#define HGSLAB_FABRIC_DC_H

#include "fabric/directory.h"
#include "proto/ad_ticket.h"
#include "lib/log.h"

/* DC nonces: single use, valid this long on the DC clock. */
#define FABRIC_NONCE_LIFETIME_S 300
/* Outstanding DC nonces kept; issuing one more drops the oldest. */
#define FABRIC_NONCE_TABLE_SIZE 1024

/*
 * Issue a ticket for COMPUTER at the DC clock: *JWS gets the compact
 * serialization (malloc'd, NUL-terminated) and *INFO (may be NULL) what it
 * says.  F must be open with FABRIC_OPEN_KEYS.  An unknown computer is an
 * error naming it.
 */
int fabric_ticket_issue(struct fabric *f, const char *computer, char **jws,
			struct ad_ticket **info);

struct fabric_dc;

/*
 * Serve the DC's routes for F (open with FABRIC_OPEN_KEYS; it must outlive
 * the server) on ADDR:PORT (port 0: an ephemeral port) in background
 * threads.
 */
int fabric_dc_start(struct fabric *f, const char *addr, unsigned short port,
		    struct fabric_dc **out);

/* The port the DC listens on. */
unsigned short fabric_dc_port(const struct fabric_dc *dc);

/* Stop the DC, waiting for running handlers; NULL-safe. */
void fabric_dc_stop(struct fabric_dc *dc);

/*
 * `hgslab fabric serve`: open DIR, log to DIR/dc.log at LEVEL, serve on the
 * DC's address (LISTEN "ADDR:PORT" overrides it), write DIR/dc.pid, print
 *   fabric: DC for fabrikam.com serving on http://127.0.0.3:8088
 * on stdout, run until SIGTERM or SIGINT, stop cleanly and return 0.
 */
int fabric_serve(const char *dir, const char *listen, enum hl_log_level level);

#endif
