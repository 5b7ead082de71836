/*
 * teststore.h - the store a unit test runs on, so the same tests cover both
 * backends of lib/store (docs/storage.md).  HGSLAB_TEST_STORE=postgresql
 * (tests/run.sh sets it for the PostgreSQL variant of the store tests)
 * selects PostgreSQL: the first call starts one throw-away server
 * (lib/pgserver.h) for the whole test program in a folder of its own,
 * stopped and removed when the program exits; each tus_location() call then
 * makes a fresh database on it, so each test starts empty.  Unset or
 * "sqlite": SQLite files in the test's folder.  Linked into every test
 * program with testutil.c.
 */
#ifndef HGSLAB_TESTS_TESTSTORE_H
#define HGSLAB_TESTS_TESTSTORE_H

#include <stddef.h>

/* 1 when the tests run on PostgreSQL (HGSLAB_TEST_STORE=postgresql), else 0. */
int tus_pg(void);

/*
 * A fresh store location into BUF: on PostgreSQL the URI of a new, empty
 * database (the server started on first use); on SQLite DIR/NAME.  0, or -1
 * with the reason in hl_error_last().
 */
int tus_location(const char *dir, const char *name, char *buf, size_t size);

/*
 * The folder of the program's PostgreSQL server (starting it on first use),
 * for tests of lib/pgserver itself; NULL with the reason in hl_error_last().
 */
const char *tus_pg_dir(void);

#endif
