/*
 * test_err.c - unit tests for lib/err (error context) and lib/log (logging).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "tests/unit/testutil.h"

/* hl_error returns -1 and keeps the formatted message. */
static void test_error_set(void **state)
{
	(void)state;
	hl_error_clear();
	assert_string_equal(hl_error_last(), "unknown error");
	assert_int_equal(hl_error("cannot open '%s'", "x.db"), -1);
	assert_string_equal(hl_error_last(), "cannot open 'x.db'");
}

/* hl_error_wrap puts context in front and keeps the cause. */
static void test_error_wrap(void **state)
{
	(void)state;
	hl_error("disk full");
	assert_int_equal(hl_error_wrap("cannot save '%s'", "kp.bin"), -1);
	assert_string_equal(hl_error_last(), "cannot save 'kp.bin': disk full");
}

/* hl_error_errno appends strerror of the errno on entry. */
static void test_error_errno(void **state)
{
	(void)state;
	errno = ENOENT;
	hl_error_errno("cannot read '%s'", "a");
	assert_error_has("cannot read 'a': ");
	assert_error_has(strerror(ENOENT));
	assert_int_equal(errno, ENOENT);
}

/* Log lines reach the file with timestamp, component and level; levels filter. */
static void test_log_file(void **state)
{
	char dir[64], path[256], line[512];
	struct stat st;
	FILE *f;
	int n = 0, seen_info = 0, seen_debug = 0;

	(void)state;
	assert_int_equal(tu_mkdtemp(dir, sizeof(dir), "log"), 0);
	snprintf(path, sizeof(path), "%s/test.log", dir);
	hl_log_set_component("unit");
	hl_log_set_stderr_level(HL_LOG_ERROR);
	assert_int_equal(hl_log_open_file(path, HL_LOG_INFO), 0);
	hl_log_info("hello %d", 42);
	hl_log_debug("not written");
	hl_log_close();
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, "unit[") && strstr(line, "] info: hello 42") && line[4] == '-' &&
		    strchr(line, 'Z'))
			seen_info = 1;
		if (strstr(line, "not written"))
			seen_debug = 1;
	}
	fclose(f);
	assert_int_equal(n, 1);
	assert_true(seen_info);
	assert_false(seen_debug);

	/* a file at debug level gets debug lines (stderr, at error, does not) */
	assert_int_equal(hl_log_open_file(path, HL_LOG_DEBUG), 0);
	hl_log_debug("now written %s", "too");
	hl_log_close();
	f = fopen(path, "r");
	assert_non_null(f);
	seen_debug = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "] debug: now written too"))
			seen_debug = 1;
	fclose(f);
	assert_true(seen_debug);
	tu_rmtree(dir);
}

/* An unwritable log path and an unknown level are errors with a message. */
static void test_log_errors(void **state)
{
	enum hl_log_level lv;

	(void)state;
	assert_int_equal(hl_log_open_file("/nonexistent-dir/x.log", HL_LOG_INFO), -1);
	assert_error_has("/nonexistent-dir/x.log");
	assert_int_equal(hl_log_level_parse("loud", &lv), -1);
	assert_error_has("loud");
	assert_int_equal(hl_log_level_parse("debug", &lv), 0);
	assert_int_equal(lv, HL_LOG_DEBUG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_set),
		cmocka_unit_test(test_error_wrap),
		cmocka_unit_test(test_error_errno),
		cmocka_unit_test(test_log_file),
		cmocka_unit_test(test_log_errors),
	};
	return cmocka_run_group_tests_name("err_log", tests, NULL, NULL);
}
