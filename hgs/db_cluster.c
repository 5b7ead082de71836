/*
 * db_cluster.c - the cluster's shared rows in the HGS store (db_cluster.h):
 * the node registry `hgs add-node`, `hgs serve` and `hgs get-cluster` use,
 * the nonce key and the used nonces hgs/nonce.c checks.  Portable SQL only
 * (lib/store.h runs it on SQLite and PostgreSQL), bound and read with
 * lib/store's value lists, under the node's lock.
 */
#include "hgs/db_cluster.h"

#include <string.h>

#include "lib/crypto.h"
#include "lib/labclock.h"

/* The cluster's nonce key: the stored one, or a new one stored first. */
int hgs_db_nonce_key(struct hl_store *st, unsigned char key[HGS_NONCE_KEY_LEN])
{
	unsigned char fresh[HGS_NONCE_KEY_LEN];
	struct hl_buf got = { 0 };
	int r, rc = -1;

	for (int round = 0; round < 2; round++) {
		r = hl_store_get(st, "SELECT nonce_key FROM cluster_secrets WHERE id = 1",
				 HL_VALS(HL_OUT_BUF(&got)));
		if (r < 0)
			goto out;
		if (r == 1) {
			if (got.len != HGS_NONCE_KEY_LEN) {
				hl_error("store '%s': the cluster's nonce key is damaged (%zu bytes)",
					 hl_store_path(st), got.len);
				goto out;
			}
			memcpy(key, got.data, HGS_NONCE_KEY_LEN);
			rc = 0;
			goto out;
		}
		/* none yet (a new store, or one made before clusters): make it; a racing open may win */
		if (hl_crypto_random(fresh, sizeof(fresh)) < 0 ||
		    hl_store_run(st, "INSERT INTO cluster_secrets(id, nonce_key) VALUES(1, ?) "
				 "ON CONFLICT(id) DO NOTHING",
				 HL_VALS(HL_IN_BLOB(fresh, sizeof(fresh)))) < 0)
			goto out;
	}
	hl_error("store '%s': cannot keep the cluster's nonce key", hl_store_path(st));
out:
	hl_crypto_cleanse(fresh, sizeof(fresh));
	if (got.data)
		hl_crypto_cleanse(got.data, got.len);
	hl_buf_free(&got);
	return rc;
}

/* Register a node's name: 1 added, 0 taken. */
int hgs_db_cluster_node_add(struct hl_store *st, const char *name, time_t added)
{
	if (hl_store_run(st, "INSERT INTO cluster_nodes(name, added) VALUES(?, ?) "
			 "ON CONFLICT(name) DO NOTHING",
			 HL_VALS(HL_IN_TEXT(name), HL_IN_INT(added))) < 0)
		return -1;
	return hl_store_changes(st) > 0;
}

/* Unregister a node's name. */
int hgs_db_cluster_node_remove(struct hl_store *st, const char *name)
{
	return hl_store_run(st, "DELETE FROM cluster_nodes WHERE name = ?", HL_VALS(HL_IN_TEXT(name)));
}

/* A restored node's registry: NODE alone (the old nodes' rows are gone). */
int hgs_db_cluster_reset(struct hgs_node *node, time_t now)
{
	int rc = -1;

	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (hl_store_run(node->store, "DELETE FROM cluster_nodes", NULL, 0) < 0 ||
	    hgs_db_cluster_node_add(node->store, node->node_name, now) < 0 ||
	    hl_store_commit(node->store) < 0) {
		hl_store_rollback(node->store);
		goto out;
	}
	rc = 0;
out:
	hgs_node_unlock(node);
	return rc;
}

/* Run one write of the registry under NODE's lock. */
static int node_run(struct hgs_node *node, const char *sql, const struct hl_store_val *vals,
		    size_t n)
{
	int r;

	hgs_node_lock(node);
	r = hl_store_run(node->store, sql, vals, n);
	hgs_node_unlock(node);
	return r;
}

/* `hgs serve` starts: the node's row, made or updated. */
int hgs_db_cluster_node_start(struct hgs_node *node, const char *address, long pid, time_t now)
{
	return node_run(node, "INSERT INTO cluster_nodes(name, address, pid, started, last_seen, added) "
			"VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
			"address = excluded.address, pid = excluded.pid, started = excluded.started, "
			"last_seen = excluded.last_seen",
			HL_VALS(HL_IN_TEXT(node->node_name), HL_IN_TEXT(address), HL_IN_INT(pid),
				HL_IN_INT(now), HL_IN_INT(now), HL_IN_INT(now)));
}

/* `hgs serve` is alive. */
int hgs_db_cluster_node_seen(struct hgs_node *node, time_t now)
{
	return node_run(node, "UPDATE cluster_nodes SET last_seen = ? WHERE name = ?",
			HL_VALS(HL_IN_INT(now), HL_IN_TEXT(node->node_name)));
}

/* `hgs serve` stopped. */
int hgs_db_cluster_node_stop(struct hgs_node *node)
{
	return node_run(node, "UPDATE cluster_nodes SET pid = 0 WHERE name = ?",
			HL_VALS(HL_IN_TEXT(node->node_name)));
}

/* The registry as JSON rows. */
int hgs_db_cluster_list(struct hgs_node *node, time_t now, json_t **out)
{
	struct hl_store_stmt *stmt = NULL;
	json_t *arr, *o;
	char name[HL_NAME_COMPUTER_SIZE], address[32], seen_s[32], started_s[32];
	long long pid, seen, started;
	int r, rc = -1;

	*out = NULL;
	if (!(arr = json_array()))
		return hl_error("out of memory");
	hgs_node_lock(node);
	if (hl_store_query(node->store, "SELECT name, address, pid, last_seen, started "
			   "FROM cluster_nodes ORDER BY name", NULL, 0, &stmt) < 0)
		goto out;
	while ((r = hl_store_next(node->store, stmt,
				  HL_VALS(HL_OUT_TEXT(name, sizeof(name)),
					  HL_OUT_TEXT(address, sizeof(address)), HL_OUT_INT64(&pid),
					  HL_OUT_INT64(&seen), HL_OUT_INT64(&started)))) == 1) {
		int up = pid != 0 && seen > 0 && now - seen <= HGS_CLUSTER_UP_S;

		hl_labclock_format((time_t)seen, seen_s, sizeof(seen_s));
		hl_labclock_format((time_t)started, started_s, sizeof(started_s));
		o = json_pack("{s:s, s:s?, s:s, s:s?, s:o, s:s?}", "Name", name, "Address",
			      address[0] ? address : NULL, "State", up ? "Up" : "Down", "LastSeen",
			      seen ? seen_s : NULL, "Pid", pid ? json_integer(pid) : json_null(),
			      "Started", started ? started_s : NULL);
		if (!o || json_array_append_new(arr, o) < 0) {
			hl_error("out of memory");
			goto out;
		}
	}
	if (r < 0)
		goto out;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	json_decref(arr);
	return rc;
}

/* The number of registered nodes. */
int hgs_db_cluster_count(struct hgs_node *node, long long *out)
{
	int r;

	hgs_node_lock(node);
	r = hl_store_get(node->store, "SELECT count(*) FROM cluster_nodes", HL_VALS(HL_OUT_INT64(out)));
	hgs_node_unlock(node);
	return r < 0 ? -1 : 0;
}

/* Whether a nonce is used up: 1 used, 0 not (yet). */
int hgs_db_nonce_used(struct hgs_node *node, const unsigned char *nonce, size_t len)
{
	long long one;
	int r;

	hgs_node_lock(node);
	r = hl_store_get(node->store, "SELECT 1 FROM used_nonces WHERE nonce = ?",
			 HL_VALS(HL_IN_BLOB(nonce, len), HL_OUT_INT64(&one)));
	hgs_node_unlock(node);
	return r;
}

/* Use a nonce up inside the caller's write transaction: 1 now, 0 already used. */
int hgs_db_nonce_insert(struct hl_store *st, const unsigned char *nonce, size_t len,
			time_t expires)
{
	if (hl_store_run(st, "INSERT INTO used_nonces(nonce, expires) VALUES(?, ?) "
			 "ON CONFLICT(nonce) DO NOTHING",
			 HL_VALS(HL_IN_BLOB(nonce, len), HL_IN_INT(expires))) < 0)
		return -1;
	return hl_store_changes(st) > 0;
}

/* Purge used nonces past their expiry. */
int hgs_db_nonce_purge(struct hgs_node *node, time_t before)
{
	return node_run(node, "DELETE FROM used_nonces WHERE expires < ?", HL_VALS(HL_IN_INT(before)));
}
