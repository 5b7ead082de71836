/*
 * dashboard.h - the live dashboard of a lab: a small HTTP server on loopback
 * (lib/http) that reads a running fabric (WORK/lab.json, the HGS nodes, the
 * fabric DC's directory, the hosts and their VMs, the tenant's guardians)
 * and shows it in a browser page served from the binary (web/dashboard.*,
 * sim/web.h), with a live event stream (Server-Sent Events).
 *
 * Who runs it: `hgslab up` starts `hgslab dashboard --workdir WORK` detached
 * beside its other services (WORK/dashboard/dashboard.pid, recorded in
 * lab.json as "Dashboard"); `hgslab run --dashboard` serves one in-process
 * while the scenarios play (dashboard_set_work follows the lab that plays).
 *
 * Reading the lab costs next to nothing: a poller thread looks every
 * DASHBOARD_POLL_MS at what moved - the attestation and key protection logs
 * after the last id seen (hgs_db_attest_log_since, hgs_db_kps_log_since),
 * each host's state file and its VMs' states - and makes an event of each
 * change; the whole fabric's picture is rebuilt only when something moved or
 * every DASHBOARD_SNAPSHOT_MS.  The HGS nodes are opened read-only beside
 * their `hgs serve` (SQLite WAL: a reader never blocks the writer).
 *
 * HTTP API (JSON keys PascalCase; errors {"error": "..."}):
 *   GET  /                      the page (web/dashboard.html)
 *   GET  /web/NAME              an embedded web file (dashboard.js, seq.js ...)
 *   GET  /api/fabric            the fabric now (Hgs, Fabric, Hosts, Vms, Guardians ...)
 *   GET  /api/events            the live event stream, text/event-stream: "lab"
 *                               events (one JSON event each, below) and "fabric"
 *                               events (the new /api/fabric) when the fabric moved
 *   GET  /api/recent            the events kept so far, oldest first (JSON array)
 *   GET  /api/host/NAME         a host: status, profile, measured boot (events, PCRs),
 *                               its HGS's policy table, its last attestation
 *   GET  /api/vm/NAME           a VM: owner, guardians, policy, where it may run and why
 *   POST /api/action            a teacher action (below)
 *
 * An event: {"Id", "Time", "Kind": "Attestation" | "KeyRelease" | "Refusal" |
 * "VmStart" | "VmStop" | "HostStatus", "Ok", "Title", "Host", "Vm", "Hgs",
 * "Reason" (plain words), "Remedy" (what to do; null until proto/remedy
 * gives one), "Entry" (the log entry, with its "Trace", for the sequence
 * diagram; null for events that are no exchange)}.
 *
 * Teacher actions change the fabric: {"Action": "reboot-host", "Host",
 * "Profile"} (stop its VMs and agent, set the profile, start the agent as
 * `up` did), {"Action": "stop-vm" | "start-vm", "Vm"}, {"Action":
 * "kill-hgs" | "restart-hgs", "Hgs"}.  They need the token `up` made
 * (WORK/dashboard/token, 0600) in the X-Hgslab-Token header, compared in
 * constant time; without it, or on a dashboard that has none (`run
 * --dashboard`), 403 with a message that says so.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; dashboard_stop() is NULL-safe.
 */
#ifndef HGSLAB_SIM_DASHBOARD_H
#define HGSLAB_SIM_DASHBOARD_H

#include <stddef.h>

#define DASHBOARD_DIR "dashboard"             /* WORK/dashboard */
#define DASHBOARD_PID_FILE "dashboard.pid"
#define DASHBOARD_LOG_FILE "dashboard.log"
#define DASHBOARD_TOKEN_FILE "token"
#define DASHBOARD_TOKEN_HEADER "X-Hgslab-Token"
#define DASHBOARD_TOKEN_SIZE 65                /* 64 hex digits and a NUL */
#define DASHBOARD_LISTEN_DEFAULT "127.0.0.1:0"
#define DASHBOARD_POLL_MS 300
#define DASHBOARD_SNAPSHOT_MS 2000
#define DASHBOARD_MAX_BODY 16384               /* largest request body (teacher actions are small) */

struct dashboard_config {
	const char *work;    /* the lab directory; NULL: none yet (dashboard_set_work) */
	const char *listen;  /* "ADDR:PORT" on loopback; NULL = DASHBOARD_LISTEN_DEFAULT */
	const char *token;   /* the teacher token; NULL: teacher actions refused */
	const char *guest;   /* the guest folder start-vm is given; NULL: its default */
};

struct dashboard;

/* Start serving CFG's lab (the poller too); *OUT until dashboard_stop. */
int dashboard_start(const struct dashboard_config *cfg, struct dashboard **out);

/* Follow lab directory WORK from now on (the events so far stay); NULL: none. */
int dashboard_set_work(struct dashboard *d, const char *work);

/* "http://127.0.0.1:PORT/". */
const char *dashboard_url(const struct dashboard *d);

/* Stop the server (open event streams end cleanly) and the poller; free D. */
void dashboard_stop(struct dashboard *d);

/* Make a new random token into OUT and write it to DIR/token (0600, DIR made 0700). */
int dashboard_token_new(const char *dir, char out[DASHBOARD_TOKEN_SIZE]);

/* Read DIR/token into OUT: 1 when there is one, 0 when there is none. */
int dashboard_token_read(const char *dir, char out[DASHBOARD_TOKEN_SIZE]);

#endif
