/*
 * nonce.c - single-use, expiring attestation nonces kept in the memory of
 * the node (nonce.h).  The table is a ring of the most recently issued
 * nonces, in issue order, indexed by a hash of the nonce (its first bytes:
 * the nonces are random) with chains through the ring; one lock guards it,
 * so checking and using up a nonce is atomic.
 */
#include "hgs/nonce.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"

/* Hash buckets: a power of two, a quarter of the ring. */
#define NONCE_BUCKETS (HGS_NONCE_TABLE_SIZE / 4)
/* End of a chain. */
#define NONCE_NONE UINT32_MAX

/* One issued nonce.  Invariant: when live, it is on the chain of bucket nonce_bucket(nonce). */
struct nonce_entry {
	unsigned char nonce[HGS_NONCE_LEN];
	time_t expires;                /* node clock */
	uint32_t next;                 /* next entry of its bucket's chain */
	unsigned char live, used;
};

/*
 * The table.  Invariants: ring[head] is the slot the next nonce takes (the
 * oldest entry when the ring is full); buckets[] hold the first live entry of
 * each chain or NONCE_NONE.
 */
struct hgs_nonce_table {
	struct nonce_entry ring[HGS_NONCE_TABLE_SIZE];
	uint32_t buckets[NONCE_BUCKETS];
	uint32_t head;
};

/* The bucket of NONCE (HGS_NONCE_LEN bytes). */
static uint32_t nonce_bucket(const unsigned char *nonce)
{
	uint32_t h;

	memcpy(&h, nonce, sizeof(h));
	return h & (NONCE_BUCKETS - 1);
}

/* The entry index of NONCE, or NONCE_NONE.  Lock held. */
static uint32_t nonce_find(const struct hgs_nonce_table *t, const unsigned char *nonce)
{
	uint32_t i;

	for (i = t->buckets[nonce_bucket(nonce)]; i != NONCE_NONE; i = t->ring[i].next)
		if (hl_crypto_ct_equal(t->ring[i].nonce, nonce, HGS_NONCE_LEN))
			return i;
	return NONCE_NONE;
}

/* Take entry I off its chain.  Lock held. */
static void nonce_unlink(struct hgs_nonce_table *t, uint32_t i)
{
	uint32_t *link = &t->buckets[nonce_bucket(t->ring[i].nonce)];

	while (*link != NONCE_NONE && *link != i)
		link = &t->ring[*link].next;
	if (*link == i)
		*link = t->ring[i].next;
	t->ring[i].live = 0;
}

/* A new empty table, or NULL. */
static struct hgs_nonce_table *nonce_table_new(void)
{
	struct hgs_nonce_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	for (size_t b = 0; b < NONCE_BUCKETS; b++)
		t->buckets[b] = NONCE_NONE;
	return t;
}

/* Free a table. */
void hgs_nonce_table_free(struct hgs_nonce_table *t)
{
	if (t)
		hl_crypto_cleanse(t, sizeof(*t));
	free(t);
}

/* Issue a nonce into the ring, replacing the oldest entry when it is full. */
int hgs_nonce_issue(struct hgs_node *node, const char *host, unsigned char nonce[HGS_NONCE_LEN],
		    time_t *expires)
{
	struct hgs_nonce_table *t;
	struct nonce_entry *e;
	unsigned char n[HGS_NONCE_LEN];
	uint32_t i, b;
	time_t now;

	(void)host;
	if (hgs_node_now(node, &now) < 0 || hl_crypto_random(n, sizeof(n)) < 0)
		return -1;
	pthread_mutex_lock(&node->nonce_lock);
	if (!node->nonces && !(node->nonces = nonce_table_new())) {
		pthread_mutex_unlock(&node->nonce_lock);
		return hl_error("cannot issue a nonce: out of memory");
	}
	t = node->nonces;
	i = t->head;
	t->head = (t->head + 1) % HGS_NONCE_TABLE_SIZE;
	e = &t->ring[i];
	if (e->live)
		nonce_unlink(t, i);
	memcpy(e->nonce, n, sizeof(n));
	e->expires = now + HGS_NONCE_LIFETIME_S;
	e->used = 0;
	e->live = 1;
	b = nonce_bucket(n);
	e->next = t->buckets[b];
	t->buckets[b] = i;
	pthread_mutex_unlock(&node->nonce_lock);
	memcpy(nonce, n, sizeof(n));
	*expires = now + HGS_NONCE_LIFETIME_S;
	return 0;
}

/* Check and use up a nonce under the table's lock; explain a refusal. */
int hgs_nonce_consume(struct hgs_node *node, const unsigned char *nonce, size_t len,
		      struct hgs_result *res)
{
	struct nonce_entry *e = NULL;
	uint32_t i = NONCE_NONE;
	time_t now, expires = 0;
	int used = 0;

	if (hgs_node_now(node, &now) < 0)
		return -1;
	if (!nonce || len != HGS_NONCE_LEN)
		return hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				       "the nonce has %zu bytes, not %d: it was not issued by this "
				       "HGS", len, HGS_NONCE_LEN);
	pthread_mutex_lock(&node->nonce_lock);
	if (node->nonces)
		i = nonce_find(node->nonces, nonce);
	if (i != NONCE_NONE) {
		e = &node->nonces->ring[i];
		used = e->used;
		expires = e->expires;
		/* an expired attempt does not use the nonce up */
		if (!used && expires > now)
			e->used = 1;
	}
	pthread_mutex_unlock(&node->nonce_lock);
	if (!e)
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the nonce was not issued by this HGS since it last started (or it "
				"expired long ago); ask for a fresh nonce");
	else if (used)
		hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the nonce was already used: the request is a replay");
	else if (expires <= now)
		hgs_result_fail(res, HGS_STATUS_TRANSIENT_ERROR, 0,
				"the nonce expired %lld s ago (nonces are valid %d s); ask for a "
				"fresh nonce and retry", (long long)(now - expires),
				HGS_NONCE_LIFETIME_S);
	else
		hgs_result_pass(res);
	return 0;
}
