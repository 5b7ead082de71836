/*
 * db_cluster.h - what the nodes of one HGS share in its store besides the
 * registrations: the cluster's node registry, the nonce key and the used
 * nonces (migration 8 of hgs/db.c).
 *
 *   cluster_nodes    one row per node: its name (unique in the cluster),
 *                    where its `hgs serve` listens, its pid (0 when it
 *                    stopped cleanly), when it started and when it last said
 *                    it was alive (node clock, refreshed every
 *                    HGS_CLUSTER_HEARTBEAT_S by `hgs serve`)
 *   cluster_secrets  one row: the cluster's nonce key (HMAC-SHA256 key of
 *                    hgs/nonce.h), made once, by the first open that finds
 *                    none; it never leaves the store
 *   used_nonces      every nonce used up and not yet purged, with its expiry:
 *                    the insert that conflicts is a replay (hgs/nonce.h)
 *
 * The SQL is portable (SQLite and PostgreSQL, lib/store.h): no SQLite-only
 * function; ON CONFLICT ... DO NOTHING / DO UPDATE.  Every function takes
 * the node's lock itself; these writes do not count as changes of the
 * handle's snapshots (db.h changes_gen): nothing a snapshot holds changes.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); out pointers are
 * NULL on entry and set only on success.
 */
#ifndef HGSLAB_HGS_DB_CLUSTER_H
#define HGSLAB_HGS_DB_CLUSTER_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "hgs/node.h"
#include "lib/store.h"

/* How often `hgs serve` refreshes its last_seen. */
#define HGS_CLUSTER_HEARTBEAT_S 2
/* A node seen within this many seconds (and not stopped) is Up. */
#define HGS_CLUSTER_UP_S 6

/*
 * The cluster's nonce key of ST into KEY: read, or made (random) and stored
 * when the store has none yet; two opens racing agree on the one stored.
 */
int hgs_db_nonce_key(struct hl_store *st, unsigned char key[HGS_NONCE_KEY_LEN]);

/*
 * Register NAME (a node of the cluster, not serving yet) in ST: 1 added, 0
 * when a node of that name is there already (nothing changes), -1 error.
 */
int hgs_db_cluster_node_add(struct hl_store *st, const char *name, time_t added);

/* Take NAME out of ST's registry (an add-node that failed after registering it). */
int hgs_db_cluster_node_remove(struct hl_store *st, const char *name);

/*
 * The registry of a node just restored from a backup (Import-HgsServerState):
 * NODE's name alone, registered at NOW; the rows of the nodes the backup was
 * taken from go (they are gone; new nodes join with add-node).
 */
int hgs_db_cluster_reset(struct hgs_node *node, time_t now);

/* `hgs serve` of NODE starts: its row gets ADDRESS ("ADDR:PORT"), PID, started = last_seen = NOW. */
int hgs_db_cluster_node_start(struct hgs_node *node, const char *address, long pid, time_t now);

/* `hgs serve` of NODE is alive at NOW. */
int hgs_db_cluster_node_seen(struct hgs_node *node, time_t now);

/* `hgs serve` of NODE stopped cleanly: pid 0 (Down at once). */
int hgs_db_cluster_node_stop(struct hgs_node *node);

/*
 * The nodes of the cluster as a JSON array, by name, of {"Name", "Address",
 * "State": "Up" | "Down", "LastSeen", "Pid", "Started"}: Up when the node's
 * pid is set and it was seen within HGS_CLUSTER_UP_S of NOW.
 */
int hgs_db_cluster_list(struct hgs_node *node, time_t now, json_t **out);

/* The number of nodes in the registry into *OUT. */
int hgs_db_cluster_count(struct hgs_node *node, long long *out);

/* Whether nonce NONCE (LEN bytes) is used up: 1 used, 0 not, -1 error. */
int hgs_db_nonce_used(struct hgs_node *node, const unsigned char *nonce, size_t len);

/*
 * Inside the caller's write transaction on ST (hgs_db_attest_log_add),
 * record nonce NONCE (LEN bytes), valid until EXPIRES, as used: 1 recorded
 * now, 0 when it was recorded before (a replay: roll back), -1 error.
 */
int hgs_db_nonce_insert(struct hl_store *st, const unsigned char *nonce, size_t len,
			time_t expires);

/* Forget used nonces that expired before BEFORE (no longer presentable). */
int hgs_db_nonce_purge(struct hgs_node *node, time_t before);

#endif
