/*
 * nonce.h - a table of nonces: fresh, single use, expiring, bounded.
 *
 * A service (the HGS attestation service, the fabric DC) hands out nonces
 * and later accepts each one once, before it expires, as proof that a
 * request is fresh.  A nonce is HL_NONCE_LEN random bytes kept only in the
 * memory of the process that issued it: a restart forgets every outstanding
 * nonce, used or not, so none can come back after a crash, and nothing is
 * written to disk per nonce.
 *
 * Time is the caller's (a lab clock, lib/labclock.h): issue and consume take
 * NOW.  A nonce issued at NOW expires at NOW + the table's lifetime and is
 * good strictly before that second.
 *
 * The table holds the CAPACITY most recently issued nonces: issuing one more
 * drops the oldest, used or not (its holder is then told the nonce is
 * unknown and asks for a fresh one).  A used or expired nonce stays until
 * its slot is taken, so a replay is named as such.  hl_nonce_consume()
 * checks and uses a nonce up under the table's lock: two requests racing
 * with one nonce cannot both pass.  An attempt with an expired nonce does
 * not use it up.  The memory for the nonces is taken at the first issue.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); the verdict of
 * hl_nonce_consume() is a result, not an error.  A table may be used by
 * several threads.
 */
#ifndef HGSLAB_LIB_NONCE_H
#define HGSLAB_LIB_NONCE_H

#include <stddef.h>
#include <time.h>

#define HL_NONCE_LEN 32

struct hl_nonce_table;

/*
 * A new empty table into *OUT keeping the CAPACITY (a power of two, at
 * least 4) most recent nonces, each valid LIFETIME_S seconds.
 */
int hl_nonce_table_new(size_t capacity, int lifetime_s, struct hl_nonce_table **out);

/* Free T, wiping the nonces it holds; NULL-safe. */
void hl_nonce_table_free(struct hl_nonce_table *t);

/* Issue a fresh random nonce at NOW into NONCE, valid until *EXPIRES (NOW + lifetime). */
int hl_nonce_issue(struct hl_nonce_table *t, time_t now, unsigned char nonce[HL_NONCE_LEN],
		   time_t *expires);

/* What presenting a nonce decided. */
enum hl_nonce_verdict {
	HL_NONCE_FRESH = 0,   /* issued here, unused, unexpired: now used up */
	HL_NONCE_UNKNOWN,     /* not issued by this table (or dropped, or before a restart) */
	HL_NONCE_USED,        /* already used: a replay */
	HL_NONCE_EXPIRED,     /* its time is over (not used up by this attempt) */
};

/*
 * Present NONCE (HL_NONCE_LEN bytes; the caller checks the length) at NOW:
 * the verdict; *EXPIRES (may be NULL) gets its expiry when the nonce is
 * known, else 0.
 */
enum hl_nonce_verdict hl_nonce_consume(struct hl_nonce_table *t,
				       const unsigned char nonce[HL_NONCE_LEN], time_t now,
				       time_t *expires);

#endif
