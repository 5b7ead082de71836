/*
 * db_trust.h - the domains an HGS's domain trusts (the AD-mode forest
 * trusts of hgs/attest_ad.h) in the node's store, so every node of a
 * cluster reads the same trusts (table trusted_domains, migration 10 of
 * hgs/db.c: the domain lowercased, and the trust document as text).
 *
 * A node directory made before the trusts moved to the store kept them as
 * files, NODE/trusted-domains/DOMAIN.json: hgs_db_trust_upgrade() (called
 * by hgs_node_open) moves such files into the store once and removes them.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); each function
 * takes the node lock itself; DOMAIN is the lowercased domain name.
 */
#ifndef HGSLAB_HGS_DB_TRUST_H
#define HGSLAB_HGS_DB_TRUST_H

#include <stddef.h>

#include "hgs/node.h"

/* The folder a node made before the store kept its trusts in. */
#define HGS_TRUSTED_DOMAINS_DIR "trusted-domains"

/* DOMAIN's trust document into *DOC (malloc'd text): 1 found, 0 not trusted, -1 error. */
int hgs_db_trust_get(struct hgs_node *node, const char *domain, char **doc);

/* Every trust document, by domain, into *DOCS (*N of them; hgs_strv_free). */
int hgs_db_trust_list(struct hgs_node *node, char ***docs, size_t *n);

/* Store DOC as DOMAIN's trust, replacing one there. */
int hgs_db_trust_put(struct hgs_node *node, const char *domain, const char *doc);

/* Remove DOMAIN's trust: 1 removed, 0 it was not trusted, -1 error. */
int hgs_db_trust_remove(struct hgs_node *node, const char *domain);

/* Move the trust files of an older node directory into the store, then remove them. */
int hgs_db_trust_upgrade(struct hgs_node *node);

#endif
