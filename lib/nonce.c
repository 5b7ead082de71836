/*
 * nonce.c - single-use, expiring nonces kept in memory (nonce.h).  The
 * table is a ring of the most recently issued nonces, in issue order,
 * indexed by a hash of the nonce (its first bytes: the nonces are random)
 * with chains through the ring; one lock guards it, so checking and using up
 * a nonce is atomic.  The HGS node (hgs/nonce.c) and the fabric DC
 * (fabric/dc.c) each keep one.
 */
#include "lib/nonce.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/err.h"

/* End of a chain. */
#define NONCE_NONE UINT32_MAX

/* One issued nonce.  Invariant: when live, it is on the chain of bucket nonce_bucket(nonce). */
struct nonce_entry {
	unsigned char nonce[HL_NONCE_LEN];
	time_t expires;                /* the caller's clock */
	uint32_t next;                 /* next entry of its bucket's chain */
	unsigned char live, used;
};

/*
 * The table.  Invariants: capacity is a power of two and n_buckets a
 * quarter of it; ring and buckets are NULL until the first issue, then
 * ring[head] is the slot the next nonce takes (the oldest entry when the
 * ring is full) and buckets[] hold the first live entry of each chain or
 * NONCE_NONE.  lock guards everything but the constants.
 */
struct hl_nonce_table {
	pthread_mutex_t lock;
	uint32_t capacity, n_buckets;
	int lifetime_s;
	struct nonce_entry *ring;
	uint32_t *buckets;
	uint32_t head;
};

/* The bucket of NONCE (HL_NONCE_LEN bytes). */
static uint32_t nonce_bucket(const struct hl_nonce_table *t, const unsigned char *nonce)
{
	uint32_t h;

	memcpy(&h, nonce, sizeof(h));
	return h & (t->n_buckets - 1);
}

/* The entry index of NONCE, or NONCE_NONE.  Lock held. */
static uint32_t nonce_find(const struct hl_nonce_table *t, const unsigned char *nonce)
{
	uint32_t i;

	if (!t->ring)
		return NONCE_NONE;
	for (i = t->buckets[nonce_bucket(t, nonce)]; i != NONCE_NONE; i = t->ring[i].next)
		if (hl_crypto_ct_equal(t->ring[i].nonce, nonce, HL_NONCE_LEN))
			return i;
	return NONCE_NONE;
}

/* Take entry I off its chain.  Lock held. */
static void nonce_unlink(struct hl_nonce_table *t, uint32_t i)
{
	uint32_t *link = &t->buckets[nonce_bucket(t, t->ring[i].nonce)];

	while (*link != NONCE_NONE && *link != i)
		link = &t->ring[*link].next;
	if (*link == i)
		*link = t->ring[i].next;
	t->ring[i].live = 0;
}

/* Allocate the ring and empty buckets of T.  Lock held. */
static int nonce_ring_alloc(struct hl_nonce_table *t)
{
	if (!(t->ring = calloc(t->capacity, sizeof(*t->ring))) ||
	    !(t->buckets = malloc(t->n_buckets * sizeof(*t->buckets)))) {
		free(t->ring);
		t->ring = NULL;
		return hl_error("cannot issue a nonce: out of memory");
	}
	for (uint32_t b = 0; b < t->n_buckets; b++)
		t->buckets[b] = NONCE_NONE;
	return 0;
}

/* A new empty table. */
int hl_nonce_table_new(size_t capacity, int lifetime_s, struct hl_nonce_table **out)
{
	struct hl_nonce_table *t;

	*out = NULL;
	if (capacity < 4 || capacity > ((size_t)1 << 30) || (capacity & (capacity - 1)) ||
	    lifetime_s <= 0)
		return hl_error("invalid nonce table: capacity %zu (a power of two from 4) and "
				"lifetime %d s", capacity, lifetime_s);
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	pthread_mutex_init(&t->lock, NULL);
	t->capacity = (uint32_t)capacity;
	t->n_buckets = t->capacity / 4;
	t->lifetime_s = lifetime_s;
	*out = t;
	return 0;
}

/* Free a table, wiping its nonces. */
void hl_nonce_table_free(struct hl_nonce_table *t)
{
	if (!t)
		return;
	if (t->ring)
		hl_crypto_cleanse(t->ring, t->capacity * sizeof(*t->ring));
	free(t->ring);
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Issue a nonce into the ring, replacing the oldest entry when it is full. */
int hl_nonce_issue(struct hl_nonce_table *t, time_t now, unsigned char nonce[HL_NONCE_LEN],
		   time_t *expires)
{
	struct nonce_entry *e;
	unsigned char n[HL_NONCE_LEN];
	uint32_t i, b;

	if (hl_crypto_random(n, sizeof(n)) < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	if (!t->ring && nonce_ring_alloc(t) < 0) {
		pthread_mutex_unlock(&t->lock);
		return -1;
	}
	i = t->head;
	t->head = (t->head + 1) % t->capacity;
	e = &t->ring[i];
	if (e->live)
		nonce_unlink(t, i);
	memcpy(e->nonce, n, sizeof(n));
	e->expires = now + t->lifetime_s;
	e->used = 0;
	e->live = 1;
	b = nonce_bucket(t, n);
	e->next = t->buckets[b];
	t->buckets[b] = i;
	pthread_mutex_unlock(&t->lock);
	memcpy(nonce, n, sizeof(n));
	*expires = now + t->lifetime_s;
	return 0;
}

/* Check and use up a nonce under the table's lock. */
enum hl_nonce_verdict hl_nonce_consume(struct hl_nonce_table *t,
				       const unsigned char nonce[HL_NONCE_LEN], time_t now,
				       time_t *expires)
{
	enum hl_nonce_verdict v = HL_NONCE_UNKNOWN;
	struct nonce_entry *e;
	uint32_t i;

	if (expires)
		*expires = 0;
	pthread_mutex_lock(&t->lock);
	i = nonce_find(t, nonce);
	if (i != NONCE_NONE) {
		e = &t->ring[i];
		if (expires)
			*expires = e->expires;
		if (e->used) {
			v = HL_NONCE_USED;
		} else if (e->expires <= now) {
			v = HL_NONCE_EXPIRED;
		} else {
			e->used = 1;
			v = HL_NONCE_FRESH;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}
