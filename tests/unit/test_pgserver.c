/*
 * test_pgserver.c - unit tests for lib/pgserver: a server made in a fresh
 * folder starts, its URI opens a store (lib/store) and its password file is
 * private; as root the postmaster runs as 'postgres' (as a normal user, as
 * that user); a second start is refused; stop leaves no server process and
 * a later start finds the data; a database made for a test starts empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/err.h"
#include "lib/pgserver.h"
#include "lib/store.h"
#include "tests/unit/testutil.h"

static const char *const migrations[] = {
	"CREATE TABLE kept(x INTEGER NOT NULL);",
};

/* The real uid of process PID (from /proc), or -1. */
static long proc_uid(pid_t pid)
{
	char path[64], line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Uid:", 4) == 0)
			uid = strtol(line + 4, NULL, 10);
	fclose(f);
	return uid;
}

/* Open the store at URI with the test's migration. */
static struct hl_store *open_uri(const char *uri)
{
	struct hl_store *st = NULL;

	if (hl_store_open(uri, migrations, 1, &st) < 0)
		fail_msg("open '%s': %s", uri, hl_error_last());
	return st;
}

/* The test's folder and its server's folder. */
struct fx {
	char root[PATH_MAX];
	char dir[PATH_MAX];
};

/* A fresh folder 'postgres' may pass through (when root). */
static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || tu_mkdtemp(fx->root, sizeof(fx->root), "pgserver") < 0 ||
	    chmod(fx->root, 0711) < 0) {
		free(fx);
		return -1;
	}
	snprintf(fx->dir, sizeof(fx->dir), "%s/pg", fx->root);
	*state = fx;
	return 0;
}

/* Stop a server a failed test left running, remove the folder. */
static int teardown(void **state)
{
	struct fx *fx = *state;
	int rc = hl_pgserver_stop(fx->dir) < 0 || tu_rmtree(fx->root) < 0 ? -1 : 0;

	free(fx);
	return rc;
}

/* Start, use, refuse a second start, stop (no process left), start again (data kept), stop. */
static void test_lifecycle(void **state)
{
	struct fx *fx = *state;
	const char *dir = fx->dir;
	char uri[HL_PGSERVER_URI_SIZE], again[HL_PGSERVER_URI_SIZE];
	struct hl_store *st;
	struct stat sb;
	pid_t pid;
	int x = 0;

	assert_int_equal(hl_pgserver_pid(dir), 0);
	assert_ok(hl_pgserver_start(dir, NULL, 0));
	pid = hl_pgserver_pid(dir);
	assert_true(pid > 0);
	assert_true(hl_proc_alive(pid));
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(HL_PGSERVER_RUN_AS);

		assert_non_null(pw);
		assert_int_equal(proc_uid(pid), (long)pw->pw_uid);   /* root dropped to 'postgres' */
		assert_int_equal(stat(tu_path("%s/data", dir), &sb), 0);
		assert_int_equal(sb.st_uid, pw->pw_uid);
	} else {
		assert_int_equal(proc_uid(pid), (long)getuid());
	}
	assert_int_equal(stat(tu_path("%s/password", dir), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_ok(hl_pgserver_uri(dir, NULL, uri, sizeof(uri)));
	assert_non_null(strstr(uri, "postgresql://" HL_PGSERVER_USER ":"));
	assert_non_null(strstr(uri, "@127.0.0.1:"));
	st = open_uri(uri);
	assert_int_equal(hl_store_run(st, "INSERT INTO kept(x) VALUES(7)", NULL, 0), 0);
	hl_store_close(st);

	assert_int_equal(hl_pgserver_start(dir, NULL, 0), -1);
	assert_error_has("runs already");

	/* a database made for a test starts empty, whatever was in one of that name */
	assert_ok(hl_pgserver_createdb(dir, "fresh", 1));
	assert_ok(hl_pgserver_uri(dir, "fresh", again, sizeof(again)));
	st = open_uri(again);
	assert_int_equal(hl_store_run(st, "INSERT INTO kept(x) VALUES(1)", NULL, 0), 0);
	hl_store_close(st);
	assert_ok(hl_pgserver_createdb(dir, "fresh", 1));
	st = open_uri(again);
	assert_int_equal(hl_store_get(st, "SELECT count(*) FROM kept", HL_VALS(HL_OUT_INT(&x))), 1);
	assert_int_equal(x, 0);
	hl_store_close(st);
	assert_int_equal(hl_pgserver_createdb(dir, "bad name", 1), -1);
	assert_error_has("invalid database name");

	assert_ok(hl_pgserver_stop(dir));
	assert_false(hl_proc_alive(pid));
	assert_int_equal(hl_pgserver_pid(dir), 0);
	assert_false(tu_exists(tu_path("%s/data/postmaster.pid", dir)));
	assert_ok(hl_pgserver_stop(dir));   /* none runs: fine */

	assert_ok(hl_pgserver_start(dir, NULL, 0));
	assert_ok(hl_pgserver_uri(dir, NULL, again, sizeof(again)));
	assert_string_equal(again, uri);
	st = open_uri(uri);
	assert_int_equal(hl_store_get(st, "SELECT x FROM kept", HL_VALS(HL_OUT_INT(&x))), 1);
	assert_int_equal(x, 7);
	hl_store_close(st);
	pid = hl_pgserver_pid(dir);
	assert_ok(hl_pgserver_stop(dir));
	assert_false(hl_proc_alive(pid));
}

/* A folder without a server: clear errors. */
static void test_no_server(void **state)
{
	char uri[HL_PGSERVER_URI_SIZE];

	(void)state;
	assert_int_equal(hl_pgserver_uri("/nonexistent/pg", NULL, uri, sizeof(uri)), -1);
	assert_error_has("holds no PostgreSQL server");
	assert_int_equal(hl_pgserver_pid("/nonexistent/pg"), 0);
	assert_int_equal(hl_pgserver_stop("/nonexistent/pg"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test(test_no_server),
	};
	return cmocka_run_group_tests_name("pgserver", tests, NULL, NULL);
}
