/*
 * teststore.h - the store a unit test runs on, so the same tests cover both
 * backends of lib/store (docs/storage.md).  HGSLAB_TEST_STORE=postgresql
 * (tests/run.sh sets it for the PostgreSQL variant of the store tests)
 * selects PostgreSQL: the first call starts one throw-away server
 * (lib/pgserver.h) for the whole test program in a folder of its own,
 * stopped and removed when the program exits; each tus_location() call then
 * makes a fresh database on it, so each test starts empty.  Unset or
 * "sqlite": SQLite files in the test's folder.  tu_hgs_node() (testutil.h)
 * puts the HGS node of a test on the same store.  Linked into every test
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
 * On PostgreSQL: move the HGS node just created at DIR (hgs_node_create, an
 * SQLite store) onto a fresh database: its node row, default policies and
 * key rows copied, DIR/store written with the URI (mode 0600; the node
 * directory contract: hgs_node_open() then opens that store) and DIR/hgs.db
 * left for no one.  On SQLite nothing to do.  0, or -1 with the reason.
 */
int tus_hgs_node_store(const char *dir);

/*
 * The store location of the HGS node at DIR into BUF: the line of DIR/store
 * when there is one (the node directory contract), else DIR/hgs.db.
 */
int tus_hgs_node_location(const char *dir, char *buf, size_t size);

struct hgs_node;

/*
 * On PostgreSQL: -1 with the reason unless NODE (opened from a directory
 * tus_hgs_node_store() prepared) runs on PostgreSQL, so a node that ignored
 * DIR/store fails the test instead of passing on SQLite.  0 on SQLite.
 */
int tus_hgs_node_check(const struct hgs_node *node);

/*
 * The folder of the program's PostgreSQL server (starting it on first use),
 * for tests of lib/pgserver itself; NULL with the reason in hl_error_last().
 */
const char *tus_pg_dir(void);

#endif
