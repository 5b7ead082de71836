/*
 * test_served.c - unit tests for the served-directory helpers shared by the
 * HGS node and the fabric DC: lib/served (paths, listen addresses, staging
 * and renaming a directory into place, pid files), lib/labclock (the
 * clock-offset file) and lib/dnsname.  Every test runs in its own mkdtemp
 * directory, removed in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/dnsname.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/labclock.h"
#include "lib/served.h"
#include "tests/unit/testutil.h"

struct fx {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
};

/* Make a fresh sandbox directory. */
static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "served");

	if (!fx)
		return -1;
	*state = fx;
	return 0;
}

/* Remove the sandbox. */
static int teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* Write TEXT to DIR/FILE. */
static void put(const char *dir, const char *file, const char *text)
{
	char path[256];

	assert_int_equal(hl_served_path(dir, file, path, sizeof(path)), 0);
	tu_put(path, text);
}

/* Paths too long are refused with the path in the message. */
static void test_path(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(hl_served_path("/a", "b", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/b");
	assert_int_equal(hl_served_path("/a-long-directory", "file", buf, sizeof(buf)), -1);
	assert_string_equal(hl_error_last(), "path '/a-long-directory/file' is too long");
}

/* IPV4:PORT parses; anything else is refused with one message. */
static void test_parse_listen(void **state)
{
	static const char *const bad[] = { NULL, "", "127.0.0.1", ":80", "127.0.0.1:",
					   "localhost:80", "127.0.0.1:65536", "127.0.0.1:-1",
					   "127.0.0.1:8x", "1234567890123456:1" };
	char addr[16];
	unsigned short port = 1;

	(void)state;
	assert_int_equal(hl_served_parse_listen("127.0.0.2:8080", addr, &port), 0);
	assert_string_equal(addr, "127.0.0.2");
	assert_int_equal(port, 8080);
	assert_int_equal(hl_served_parse_listen("10.0.0.1:0", addr, &port), 0);
	assert_int_equal(port, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hl_served_parse_listen(bad[i], addr, &port), -1);
		assert_error_has("expected IPV4:PORT");
	}
}

/* DNS names: labels of letters, digits and inner hyphens. */
static void test_dnsname(void **state)
{
	static const char *const good[] = { "relecloud.com", "a", "fabrikam-1.example.org" };
	static const char *const bad[] = { NULL, "", ".com", "a..b", "-a.com", "a-.com",
					   "a.com-", "a_b.com", "a.com." };
	char long_label[80];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(hl_dnsname_check(good[i]), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hl_dnsname_check(bad[i]), -1);
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_int_equal(hl_dnsname_check(long_label), -1);
	assert_error_has("1 to 63 characters");
}

/* The lab clock: absent is 0, whitespace is allowed, junk and huge values are refused. */
static void test_labclock(void **state)
{
	struct fx *fx = *state;
	long long off = 7;
	time_t before, now;

	assert_int_equal(hl_labclock_offset(fx->dir, &off), 0);
	assert_int_equal(off, 0);
	tu_set_clock_offset(fx->dir, " 32400\n");
	assert_int_equal(hl_labclock_offset(fx->dir, &off), 0);
	assert_int_equal(off, 32400);
	before = time(NULL);
	assert_int_equal(hl_labclock_now(fx->dir, &now), 0);
	assert_true(now >= before + 32400 && now <= time(NULL) + 32400);
	tu_set_clock_offset(fx->dir, "-60");
	assert_int_equal(hl_labclock_offset(fx->dir, &off), 0);
	assert_int_equal(off, -60);
	tu_set_clock_offset(fx->dir, "9h");
	assert_int_equal(hl_labclock_offset(fx->dir, &off), -1);
	assert_int_equal(off, 0);
	assert_error_has("must hold a whole number of seconds");
	tu_set_clock_offset(fx->dir, "99999999999");
	assert_int_equal(hl_labclock_offset(fx->dir, &off), -1);
}

/* The one time format. */
static void test_labclock_format(void **state)
{
	char buf[32];

	(void)state;
	hl_labclock_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	hl_labclock_format(1795886465, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T17:21:05Z");
}

/* Stage, fill, commit: the directory appears whole and nothing else stays beside it. */
static void test_new_commit(void **state)
{
	struct fx *fx = *state;
	struct hl_served_new s;
	char dir[128], path[256];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/deep/node", fx->dir);
	/* the parent folder must exist: nothing is made */
	assert_int_equal(hl_served_new_begin(&s, dir, "a thing"), -2);
	assert_error_has("its parent folder '");
	assert_error_has("does not exist");
	hl_served_new_end(&s);
	snprintf(path, sizeof(path), "%s/deep", fx->dir);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(hl_served_new_begin(&s, dir, "a thing"), 0);
	assert_string_equal(s.base, "node");
	assert_int_equal(hl_served_new_target(&s, "a thing"), 0);
	assert_int_equal(hl_served_new_stage(&s, "init", "keys"), 0);
	assert_non_null(strstr(s.tmp, "/.node.init."));
	assert_int_equal(stat(s.tmp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	put(s.tmp, "file", "x");
	assert_int_equal(hl_served_new_commit(&s, "new thing"), 0);
	assert_string_equal(s.tmp, "");
	hl_served_new_end(&s);
	snprintf(path, sizeof(path), "%s/keys", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(hl_served_dir_entries(dir), 2);
	snprintf(path, sizeof(path), "%s/deep", fx->dir);
	assert_int_equal(hl_served_dir_entries(path), 1);

	/* now a directory with entries stands there */
	assert_int_equal(hl_served_new_begin(&s, dir, "a thing"), 0);
	assert_int_equal(hl_served_new_target(&s, "a thing"), 1);
	hl_served_new_end(&s);
}

/* A failure after staging leaves nothing behind and keeps its message. */
static void test_new_failure(void **state)
{
	struct fx *fx = *state;
	struct hl_served_new s;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/node", fx->dir);
	assert_int_equal(hl_served_new_begin(&s, dir, "a thing"), 0);
	assert_int_equal(hl_served_new_stage(&s, "new", "keys"), 0);
	hl_error("the real failure");
	hl_served_new_end(&s);
	assert_string_equal(hl_error_last(), "the real failure");
	assert_int_equal(hl_served_dir_entries(fx->dir), 0);

	/* not a directory / no name */
	put(fx->dir, "file", "x");
	snprintf(dir, sizeof(dir), "%s/file", fx->dir);
	assert_int_equal(hl_served_new_begin(&s, dir, "a thing"), 0);
	assert_int_equal(hl_served_new_target(&s, "a thing"), -1);
	assert_error_has("cannot create a thing at '");
	assert_error_has("it exists and is not a directory");
	hl_served_new_end(&s);
	assert_int_equal(hl_served_new_begin(&s, "/", "a thing"), -1);
	assert_string_equal(hl_error_last(), "cannot create a thing at '/': name a directory");
	hl_served_new_end(&s);
}

/*
 * Pid files: ours counts as live; a pid file's owner is the process that
 * holds its lock (flock) - a pid file naming a live but unrelated process
 * (pid 1, our parent) holds no lock and blocks nobody; junk and dead pids
 * are none.
 */
static void test_pid(void **state)
{
	struct fx *fx = *state;
	struct hl_served_run run = { 0 };
	char text[32], path[PATH_MAX];
	int status;
	pid_t pid;

	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_write_pid(&run, fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), (long)getpid());
	/* our own pid is not "another" server */
	assert_int_equal(hl_served_refuse_other(fx->dir, "x.pid", "HGS node"), 0);
	hl_served_finish(&run, -1);
	put(fx->dir, "x.pid", "1\n");
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_refuse_other(fx->dir, "x.pid", "DC of"), 0);
	snprintf(text, sizeof(text), "%ld\n", (long)getppid());
	put(fx->dir, "x.pid", text);
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_write_pid(&run, fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), (long)getpid());
	hl_served_finish(&run, -1);
	/* a live server (a child that claimed the pid file and holds it) is another */
	snprintf(path, sizeof(path), "%s/x.pid", fx->dir);
	pid = tu_pidfile_holder(path);
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), (long)pid);
	assert_int_equal(hl_served_refuse_other(fx->dir, "x.pid", "DC of"), -1);
	snprintf(path, sizeof(path), "the DC of '%s' is already", fx->dir);
	assert_error_has(path);
	snprintf(path, sizeof(path), "served by pid %ld; stop it first", (long)pid);
	assert_error_has(path);
	assert_int_equal(hl_served_write_pid(&run, fx->dir, "x.pid"), -1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* its pid file stays behind after a kill; the lock went with it */
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_write_pid(&run, fx->dir, "x.pid"), 0);
	put(fx->dir, "x.pid", "junk");
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	put(fx->dir, "x.pid", "99999999999\n");
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	/* finish removes the pid file of a run */
	hl_served_finish(&run, -1);
	assert_int_equal(hl_served_pid(fx->dir, "x.pid"), 0);
	assert_int_equal(hl_served_dir_entries(fx->dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_dnsname),
		cmocka_unit_test_setup_teardown(test_labclock, setup, teardown),
		cmocka_unit_test(test_labclock_format),
		cmocka_unit_test_setup_teardown(test_new_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
