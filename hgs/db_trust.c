/*
 * db_trust.c - the trusted domains of an HGS in its store (db_trust.h): one
 * row per domain, shared by every node of a cluster, and the one-time move
 * of an older node's trust files into the store.
 */
#include "hgs/db_trust.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hgs/db.h"
#include "lib/fileio.h"

/* Largest trust document a file of an older node may hold. */
#define TRUST_FILE_MAX ((size_t)1 << 20)

int hgs_db_trust_get(struct hgs_node *node, const char *domain, char **doc)
{
	int r;

	*doc = NULL;
	hgs_node_lock(node);
	r = hl_store_get(node->store, "SELECT doc FROM trusted_domains WHERE domain = ?",
			 HL_VALS(HL_IN_TEXT(domain), HL_OUT_STR(doc)));
	hgs_node_unlock(node);
	return r;
}

int hgs_db_trust_list(struct hgs_node *node, char ***docs, size_t *n)
{
	struct hl_store_stmt *stmt = NULL;
	char **v = NULL, **grown, *doc = NULL;
	size_t count = 0;
	int r, rc = -1;

	*docs = NULL;
	*n = 0;
	hgs_node_lock(node);
	if (hl_store_query(node->store, "SELECT doc FROM trusted_domains ORDER BY domain", NULL, 0,
			   &stmt) < 0)
		goto out;
	while ((r = hl_store_next(node->store, stmt, HL_VALS(HL_OUT_STR(&doc)))) > 0) {
		if (!(grown = realloc(v, (count + 1) * sizeof(*v)))) {
			hl_error("out of memory");
			goto out;
		}
		v = grown;
		v[count++] = doc;
		doc = NULL;
	}
	if (r < 0)
		goto out;
	*docs = v;
	*n = count;
	v = NULL;
	count = 0;
	rc = 0;
out:
	hl_store_stmt_done(node->store, stmt);
	hgs_node_unlock(node);
	free(doc);
	hgs_strv_free(v, count);
	return rc;
}

int hgs_db_trust_put(struct hgs_node *node, const char *domain, const char *doc)
{
	int rc = -1;

	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (hl_store_run(node->store, "INSERT INTO trusted_domains(domain, doc) VALUES(?, ?) "
			 "ON CONFLICT(domain) DO UPDATE SET doc = excluded.doc",
			 HL_VALS(HL_IN_TEXT(domain), HL_IN_TEXT(doc))) < 0 ||
	    hl_store_commit(node->store) < 0) {
		hl_store_rollback(node->store);
		goto out;
	}
	rc = 0;
out:
	hgs_node_unlock(node);
	return rc;
}

int hgs_db_trust_remove(struct hgs_node *node, const char *domain)
{
	int rc = -1, changed = 0;

	hgs_node_lock(node);
	if (hl_store_begin(node->store) < 0)
		goto out;
	if (hl_store_run(node->store, "DELETE FROM trusted_domains WHERE domain = ?",
			 HL_VALS(HL_IN_TEXT(domain))) < 0) {
		hl_store_rollback(node->store);
		goto out;
	}
	changed = hl_store_changes(node->store) > 0;
	if (hl_store_commit(node->store) < 0) {
		hl_store_rollback(node->store);
		goto out;
	}
	rc = changed;
out:
	hgs_node_unlock(node);
	return rc;
}

/* "x.json" (not a temporary file): the domain part's length, else 0. */
static size_t trust_file_domain(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0 ? n - 5 : 0;
}

int hgs_db_trust_upgrade(struct hgs_node *node)
{
	char dir[PATH_MAX], path[PATH_MAX], domain[256], *doc = NULL;
	struct dirent *e;
	size_t len, dl;
	DIR *d;
	int rc = -1;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", node->dir, HGS_TRUSTED_DOMAINS_DIR) >=
	    sizeof(dir))
		return hl_error("path '%s/%s' is too long", node->dir, HGS_TRUSTED_DOMAINS_DIR);
	if (!(d = opendir(dir)))
		return errno == ENOENT || errno == EACCES ? 0
			: hl_error_errno("cannot read '%s'", dir);
	while ((e = readdir(d))) {
		if (!(dl = trust_file_domain(e->d_name)) || dl >= sizeof(domain))
			continue;
		memcpy(domain, e->d_name, dl);
		domain[dl] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (hl_file_read(path, TRUST_FILE_MAX, &doc, &len) < 0 ||
		    hgs_db_trust_put(node, domain, doc) < 0)
			goto out;
		free(doc);
		doc = NULL;
		if (unlink(path) < 0) {
			hl_error_errno("cannot remove '%s' once moved into the store", path);
			goto out;
		}
	}
	if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EEXIST)
		hl_error_clear();
	rc = 0;
out:
	free(doc);
	closedir(d);
	return rc;
}
