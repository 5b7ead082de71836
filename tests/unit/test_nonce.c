/*
 * test_nonce.c - unit tests for lib/nonce, the nonce table the HGS node and
 * the fabric DC share: single use, expiry on the caller's clock (an expired
 * attempt does not use a nonce up; a used one is named a replay even when
 * also expired), the bound (the oldest nonce is dropped, its hash chain
 * stays sound), refused table shapes, and racing consumers of one nonce of
 * which exactly one wins.  What HGS and the DC make of each verdict is
 * tested with them (test_hgs_node, test_fabric_ad).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nonce.h"
#include "tests/unit/testutil.h"

/* A new table of CAPACITY nonces living LIFETIME seconds, or fail. */
static struct hl_nonce_table *table(size_t capacity, int lifetime)
{
	struct hl_nonce_table *t = NULL;

	if (hl_nonce_table_new(capacity, lifetime, &t) < 0)
		fail_msg("table: %s", hl_error_last());
	return t;
}

/* Fresh once, then a replay; unknown nonces; nothing before the first issue. */
static void test_single_use(void **state)
{
	struct hl_nonce_table *t = table(16, 300);
	unsigned char n[HL_NONCE_LEN], m[HL_NONCE_LEN], other[HL_NONCE_LEN] = { 1 };
	time_t expires = 0, e = 1;

	(void)state;
	assert_int_equal(hl_nonce_consume(t, other, 1000, &e), HL_NONCE_UNKNOWN);
	assert_int_equal(e, 0);
	assert_int_equal(hl_nonce_issue(t, 1000, n, &expires), 0);
	assert_int_equal(expires, 1300);
	assert_int_equal(hl_nonce_issue(t, 1000, m, &expires), 0);
	assert_memory_not_equal(n, m, HL_NONCE_LEN);
	assert_int_equal(hl_nonce_consume(t, n, 1001, &e), HL_NONCE_FRESH);
	assert_int_equal(e, 1300);
	assert_int_equal(hl_nonce_consume(t, n, 1001, NULL), HL_NONCE_USED);
	assert_int_equal(hl_nonce_consume(t, other, 1001, NULL), HL_NONCE_UNKNOWN);
	/* the other nonce is untouched by all that */
	assert_int_equal(hl_nonce_consume(t, m, 1002, NULL), HL_NONCE_FRESH);
	hl_nonce_table_free(t);
	hl_nonce_table_free(NULL);
}

/* Good strictly before NOW + lifetime; an expired attempt leaves the nonce unused. */
static void test_expiry(void **state)
{
	struct hl_nonce_table *t = table(16, 300);
	unsigned char a[HL_NONCE_LEN], b[HL_NONCE_LEN], c[HL_NONCE_LEN];
	time_t expires, e = 0;

	(void)state;
	assert_int_equal(hl_nonce_issue(t, 1000, a, &expires), 0);
	assert_int_equal(hl_nonce_issue(t, 1000, b, &expires), 0);
	assert_int_equal(hl_nonce_issue(t, 1000, c, &expires), 0);
	assert_int_equal(hl_nonce_consume(t, a, 1299, NULL), HL_NONCE_FRESH);
	assert_int_equal(hl_nonce_consume(t, b, 1300, &e), HL_NONCE_EXPIRED);
	assert_int_equal(e, 1300);
	assert_int_equal(hl_nonce_consume(t, b, 5000, NULL), HL_NONCE_EXPIRED);
	/* a clock taken back makes it good again: the expired attempts did not use it */
	assert_int_equal(hl_nonce_consume(t, b, 1100, NULL), HL_NONCE_FRESH);
	/* used, then presented late: still a replay, not an expiry */
	assert_int_equal(hl_nonce_consume(t, a, 9000, NULL), HL_NONCE_USED);
	/* a clock behind the issue time is not an error */
	assert_int_equal(hl_nonce_consume(t, c, 10, NULL), HL_NONCE_FRESH);
	hl_nonce_table_free(t);
}

/* The table keeps the CAPACITY newest nonces, whatever their hash chains. */
static void test_bounded(void **state)
{
	enum { CAP = 8, ISSUED = 1000 };
	struct hl_nonce_table *t = table(CAP, 300);
	static unsigned char n[ISSUED][HL_NONCE_LEN];
	time_t expires;

	(void)state;
	for (int i = 0; i < ISSUED; i++)
		assert_int_equal(hl_nonce_issue(t, 1000, n[i], &expires), 0);
	/* used ones take their slot too */
	assert_int_equal(hl_nonce_consume(t, n[ISSUED - 1], 1000, NULL), HL_NONCE_FRESH);
	for (int i = 0; i < ISSUED - CAP; i++)
		if (hl_nonce_consume(t, n[i], 1000, NULL) != HL_NONCE_UNKNOWN)
			fail_msg("nonce %d of %d is still known with a table of %d", i, ISSUED, CAP);
	for (int i = ISSUED - CAP; i < ISSUED - 1; i++)
		assert_int_equal(hl_nonce_consume(t, n[i], 1000, NULL), HL_NONCE_FRESH);
	assert_int_equal(hl_nonce_consume(t, n[ISSUED - 1], 1000, NULL), HL_NONCE_USED);
	/* one more drops the oldest, used or not */
	assert_int_equal(hl_nonce_issue(t, 1000, n[0], &expires), 0);
	assert_int_equal(hl_nonce_consume(t, n[ISSUED - CAP], 1000, NULL), HL_NONCE_UNKNOWN);
	assert_int_equal(hl_nonce_consume(t, n[ISSUED - CAP + 1], 1000, NULL), HL_NONCE_USED);
	assert_int_equal(hl_nonce_consume(t, n[0], 1000, NULL), HL_NONCE_FRESH);
	hl_nonce_table_free(t);
}

/* Shapes a table cannot have. */
static void test_refused_shapes(void **state)
{
	static const size_t caps[] = { 0, 1, 2, 3, 6, 100, (size_t)1 << 31 };
	struct hl_nonce_table *t = (struct hl_nonce_table *)&t;

	(void)state;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		assert_int_equal(hl_nonce_table_new(caps[i], 300, &t), -1);
		assert_null(t);
	}
	assert_int_equal(hl_nonce_table_new(4, 0, &t), -1);
	assert_error_has("nonce table");
	assert_int_equal(hl_nonce_table_new(4, 1, &t), 0);
	hl_nonce_table_free(t);
}

/* What the racing threads share. */
struct race {
	struct hl_nonce_table *t;
	unsigned char (*nonces)[HL_NONCE_LEN];
	int n;
	int fresh;                      /* FRESH verdicts, under lock */
	pthread_mutex_t lock;
};

/* Present every nonce of the race once; count the FRESH verdicts. */
static void *racer(void *arg)
{
	struct race *r = arg;
	int fresh = 0;

	for (int i = 0; i < r->n; i++)
		fresh += hl_nonce_consume(r->t, r->nonces[i], 1000, NULL) == HL_NONCE_FRESH;
	pthread_mutex_lock(&r->lock);
	r->fresh += fresh;
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Eight threads present the same nonces: each nonce passes exactly once. */
static void test_race(void **state)
{
	enum { THREADS = 8, NONCES = 256 };
	static unsigned char n[NONCES][HL_NONCE_LEN];
	struct race r = { .nonces = n, .n = NONCES };
	pthread_t th[THREADS];
	time_t expires;

	(void)state;
	r.t = table(NONCES, 300);
	pthread_mutex_init(&r.lock, NULL);
	for (int i = 0; i < NONCES; i++)
		assert_int_equal(hl_nonce_issue(r.t, 1000, n[i], &expires), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer, &r), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(r.fresh, NONCES);
	pthread_mutex_destroy(&r.lock);
	hl_nonce_table_free(r.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_use),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_refused_shapes),
		cmocka_unit_test(test_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
