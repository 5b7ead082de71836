/*
 * dashboard_int.h - the dashboard's parts between its files (not for other
 * modules): sim/dashboard_lab.c reads a running lab (the fabric's picture,
 * its changes as events, the host and VM pages); sim/dashboard_action.c
 * plays the teacher actions; sim/dashboard.c serves them (sim/dashboard.h).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; dlab_close() is NULL-safe.
 */
#ifndef HGSLAB_SIM_DASHBOARD_INT_H
#define HGSLAB_SIM_DASHBOARD_INT_H

#include <jansson.h>

/* The poller's view of one lab: lab.json, the open HGS nodes, the last ids and states seen. */
struct dlab;

/* Open lab directory WORK (its lab.json must exist). */
int dlab_open(const char *work, struct dlab **out);
void dlab_close(struct dlab *l);

/*
 * What moved since the last call, as events (sim/dashboard.h "An event",
 * without Id) appended to EVENTS; the first call gives the recent log
 * entries and no status change.  *MOVED is set when the fabric's picture
 * may have changed.
 */
int dlab_poll(struct dlab *l, json_t *events, int *moved);

/* The fabric's picture now (GET /api/fabric). */
int dlab_snapshot(struct dlab *l, json_t **out);

/* Host NAME's page (GET /api/host/NAME) of lab WORK; -2 when there is no such host. */
int dlab_host_page(const char *work, const char *name, json_t **out);

/* VM NAME's page (GET /api/vm/NAME) of lab WORK; -2 when there is no such VM. */
int dlab_vm_page(const char *work, const char *name, json_t **out);

/*
 * Play teacher action REQ ({"Action", ...}, sim/dashboard.h) on lab WORK with
 * guest folder GUEST (may be NULL); *OUT gets {"Action", "Done", "Output"}.
 * -2 when REQ is not a valid action (its message says why), -1 when it
 * failed.
 */
int dlab_action(const char *work, const char *guest, const json_t *req, json_t **out);

#endif
