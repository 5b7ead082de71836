/*
 * test_fileio.c - unit tests for lib/fileio: atomic writes and their modes,
 * interrupted writes, capped reads, mkdir -p, absolute paths, rm -rf.
 * Every test runs in its own mkdtemp directory, removed in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "tests/unit/testutil.h"

struct fx {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	mode_t umask_saved;
};

/* Make a fresh sandbox directory. */
static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "fileio");

	if (!fx)
		return -1;
	fx->umask_saved = umask(022);
	*state = fx;
	return 0;
}

/* Remove the sandbox, restore the umask, clear the hook. */
static int teardown(void **state)
{
	struct fx *fx = *state;
	int ret = 0;

	hl_file_set_test_hook(NULL, NULL);
	umask(fx->umask_saved);
	if (tu_rmtree(fx->dir) < 0 || tu_exists(fx->dir))
		ret = -1;
	free(fx);
	return ret;
}

/* Build "DIR/NAME" in a static buffer (one at a time per call site is enough here). */
static char *path_in(const struct fx *fx, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", fx->dir, name);
	return buf;
}

/* Count entries of DIR (without . and ..) and those that look like temporary files. */
static void count_entries(const char *dir, int *all, int *temps)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	*all = 0;
	*temps = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(*all)++;
		if (strstr(de->d_name, ".tmp."))
			(*temps)++;
	}
	closedir(d);
}

/* Assert that PATH holds exactly TEXT. */
static void assert_content(const char *path, const char *text)
{
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(hl_file_read(path, 1 << 20, &buf, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
	assert_int_equal(buf[len], '\0');
	free(buf);
}

/* Assert that PATH has exactly permission bits MODE. */
static void assert_mode(const char *path, mode_t mode)
{
	assert_int_equal(tu_mode_of(path), mode);
}

/* A private write is 0600 even with umask 0; a public one is 0644 even with umask 077. */
static void test_write_exact_mode(void **state)
{
	struct fx *fx = *state;
	char p1[128], p2[128];

	umask(0);
	assert_int_equal(hl_file_write_private(path_in(fx, "key.pem", p1, sizeof(p1)), "k", 1), 0);
	assert_mode(p1, 0600);
	umask(077);
	assert_int_equal(hl_file_write(path_in(fx, "cert.pem", p2, sizeof(p2)), "c", 1,
				       HL_FILE_MODE_PUBLIC), 0);
	assert_mode(p2, 0644);
	/* Replacing a public file with a private write narrows it. */
	umask(0);
	assert_int_equal(hl_file_write_private(p2, "k2", 2), 0);
	assert_mode(p2, 0600);
	assert_int_equal(hl_file_write(p1, "x", 1, 01600), -1);
	assert_error_has("mode");
}

struct seen {
	int calls;
	mode_t mode[2];
	char name[256];
	char dir[256];
};

/* Hook: record the temporary file's mode at each stage, and its name. */
static int hook_record(enum hl_file_stage stage, const char *tmp_path, void *arg)
{
	struct seen *s = arg;
	struct stat st;
	const char *slash = strrchr(tmp_path, '/');

	s->calls++;
	if (stat(tmp_path, &st) == 0)
		s->mode[stage] = st.st_mode & 07777;
	snprintf(s->name, sizeof(s->name), "%s", slash + 1);
	snprintf(s->dir, sizeof(s->dir), "%.*s", (int)(slash - tmp_path), tmp_path);
	return 0;
}

/*
 * The temporary file of a private write is 0600 from the moment it is created
 * (umask 0, so nothing narrows a wider creation mode), and is named
 * .NAME.tmp.XXXXXX beside NAME.
 */
static void test_write_temp_never_wider(void **state)
{
	struct fx *fx = *state;
	struct seen s = { 0 };
	char p[128];

	umask(0);
	hl_file_set_test_hook(hook_record, &s);
	assert_int_equal(hl_file_write_private(path_in(fx, "tk.bin", p, sizeof(p)), "secret", 6), 0);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.mode[HL_FILE_STAGE_CREATED], 0600);
	assert_int_equal(s.mode[HL_FILE_STAGE_BEFORE_RENAME], 0600);
	assert_string_equal(s.dir, fx->dir);
	assert_int_equal(strlen(s.name), strlen(".tk.bin.tmp.XXXXXX"));
	assert_memory_equal(s.name, ".tk.bin.tmp.", strlen(".tk.bin.tmp."));
}

/* A second write replaces the content; no temporary file is left behind. */
static void test_write_replaces(void **state)
{
	struct fx *fx = *state;
	char p[128];
	int all, temps;

	path_in(fx, "policy.json", p, sizeof(p));
	assert_int_equal(hl_file_write(p, "old", 3, 0644), 0);
	assert_content(p, "old");
	assert_int_equal(hl_file_write(p, "new and longer", 14, 0644), 0);
	assert_content(p, "new and longer");
	assert_int_equal(hl_file_write(p, NULL, 0, 0644), 0);
	assert_content(p, "");
	count_entries(fx->dir, &all, &temps);
	assert_int_equal(all, 1);
	assert_int_equal(temps, 0);
}

/* Hook: fail at the stage ARG points to, the way a failing write or rename would. */
static int hook_fail(enum hl_file_stage stage, const char *tmp_path, void *arg)
{
	(void)tmp_path;
	if (stage != *(enum hl_file_stage *)arg)
		return 0;
	return hl_error("injected failure at stage %d", (int)stage);
}

/* A write that fails after creating its temporary file keeps the old content and removes the temporary file. */
static void test_write_fails_before_rename(void **state)
{
	struct fx *fx = *state;
	enum hl_file_stage stages[] = { HL_FILE_STAGE_CREATED, HL_FILE_STAGE_BEFORE_RENAME };
	char p[128], want[64];
	int all, temps;

	path_in(fx, "kp.bin", p, sizeof(p));
	assert_int_equal(hl_file_write_private(p, "old", 3), 0);
	for (size_t i = 0; i < 2; i++) {
		hl_file_set_test_hook(hook_fail, &stages[i]);
		assert_int_equal(hl_file_write_private(p, "new", 3), -1);
		assert_error_has(p);
		snprintf(want, sizeof(want), "injected failure at stage %d", (int)stages[i]);
		assert_error_has(want);
		hl_file_set_test_hook(NULL, NULL);
		assert_content(p, "old");
		count_entries(fx->dir, &all, &temps);
		assert_int_equal(all, 1);
		assert_int_equal(temps, 0);
	}
}

/* Hook: die like a crash or kill -9 would, between the write and the rename. */
static int hook_sigkill(enum hl_file_stage stage, const char *tmp_path, void *arg)
{
	(void)tmp_path;
	(void)arg;
	if (stage == HL_FILE_STAGE_BEFORE_RENAME)
		raise(SIGKILL);
	return 0;
}

/*
 * A write interrupted before rename (the process is SIGKILLed there) leaves the
 * old content intact; its stale temporary file holds the whole new content under
 * the documented name, and hl_file_clean_temps() removes it.
 */
static void test_write_interrupted_before_rename(void **state)
{
	struct fx *fx = *state;
	char p[128], stale[256];
	struct dirent *de;
	DIR *d;
	pid_t pid;
	int status, all, temps, found = 0;

	path_in(fx, "state.bin", p, sizeof(p));
	assert_int_equal(hl_file_write_private(p, "old content", 11), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hl_file_set_test_hook(hook_sigkill, NULL);
		hl_file_write_private(p, "new content", 11);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	assert_content(p, "old content");
	assert_mode(p, 0600);
	d = opendir(fx->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".state.bin.tmp.", strlen(".state.bin.tmp.")) == 0 &&
		    strlen(de->d_name) == strlen(".state.bin.tmp.XXXXXX")) {
			snprintf(stale, sizeof(stale), "%s/%s", fx->dir, de->d_name);
			found++;
		}
	}
	closedir(d);
	assert_int_equal(found, 1);
	assert_content(stale, "new content");
	assert_mode(stale, 0600);

	/* Cleanup finds it by name; the target and unrelated dotfiles stay. */
	assert_int_equal(hl_file_write(path_in(fx, ".hidden", stale, sizeof(stale)), "h", 1, 0600), 0);
	assert_int_equal(hl_file_clean_temps(fx->dir), 1);
	count_entries(fx->dir, &all, &temps);
	assert_int_equal(all, 2);
	assert_int_equal(temps, 0);
	assert_content(p, "old content");
	assert_int_equal(hl_file_clean_temps(fx->dir), 0);
	/* And the next write goes through. */
	assert_int_equal(hl_file_write_private(p, "new content", 11), 0);
	assert_content(p, "new content");
}

/* Writing into a directory that does not exist says so and creates nothing. */
static void test_write_missing_dir(void **state)
{
	struct fx *fx = *state;
	char p[128], dir[128];
	int all, temps;

	path_in(fx, "nodir/x.pem", p, sizeof(p));
	path_in(fx, "nodir", dir, sizeof(dir));
	assert_int_equal(hl_file_write_private(p, "x", 1), -1);
	assert_error_has(p);
	assert_error_has(dir);
	assert_error_has("does not exist");
	count_entries(fx->dir, &all, &temps);
	assert_int_equal(all, 0);
	/* A path that names a directory is refused too. */
	path_in(fx, "x/", p, sizeof(p));
	assert_int_equal(hl_file_write_private(p, "x", 1), -1);
	assert_error_has("names a directory");
	assert_int_equal(hl_file_write_private("", "x", 1), -1);
}

/* Reads return the content NUL-terminated; over the cap is a clear error, also for endless files. */
static void test_read_cap(void **state)
{
	struct fx *fx = *state;
	char p[128], want[160], data[100];
	char *buf = (char *)"sentinel";
	size_t len = 7;

	memset(data, 'a', sizeof(data));
	path_in(fx, "log.bin", p, sizeof(p));
	assert_int_equal(hl_file_write(p, data, sizeof(data), 0644), 0);
	assert_int_equal(hl_file_read(p, 100, &buf, &len), 0);
	assert_int_equal(len, 100);
	assert_memory_equal(buf, data, 100);
	assert_int_equal(buf[100], '\0');
	free(buf);

	assert_int_equal(hl_file_read(p, 99, &buf, &len), -1);
	assert_null(buf);
	snprintf(want, sizeof(want), "'%s' is larger than 99 bytes", p);
	assert_error_has(want);

	/* No size up front: the cap still holds while streaming. */
	assert_int_equal(hl_file_read("/dev/zero", 4096, &buf, NULL), -1);
	assert_null(buf);
	assert_error_has("'/dev/zero' is larger than 4096 bytes");

	path_in(fx, "missing", p, sizeof(p));
	assert_int_equal(hl_file_read(p, 100, &buf, &len), -1);
	assert_error_has(p);
	assert_int_equal(hl_file_read(fx->dir, 100, &buf, &len), -1);
	assert_error_has("directory");
}

/* mkdir -p creates every missing level with the exact mode and accepts existing ones. */
static void test_mkdirs(void **state)
{
	struct fx *fx = *state;
	char p[128], q[128];

	umask(0);
	path_in(fx, "a//b/c/", p, sizeof(p));
	assert_int_equal(hl_file_mkdirs(p, 0700), 0);
	assert_mode(path_in(fx, "a", q, sizeof(q)), 0700);
	assert_mode(path_in(fx, "a/b", q, sizeof(q)), 0700);
	assert_mode(path_in(fx, "a/b/c", q, sizeof(q)), 0700);
	umask(077);
	assert_int_equal(hl_file_mkdirs(path_in(fx, "a/b/c/d", p, sizeof(p)), 0755), 0);
	assert_mode(p, 0755);
	assert_mode(path_in(fx, "a/b", q, sizeof(q)), 0700);
	assert_int_equal(hl_file_mkdirs(p, 0755), 0);

	assert_int_equal(hl_file_write(path_in(fx, "file", q, sizeof(q)), "f", 1, 0644), 0);
	assert_int_equal(hl_file_mkdirs(path_in(fx, "file/sub", p, sizeof(p)), 0700), -1);
	assert_error_has("is not a directory");
}

/* Relative paths are joined to the working directory and tidied. */
static void test_abspath(void **state)
{
	char *out = (char *)"sentinel", *cwd, want[4096];

	(void)state;
	assert_int_equal(hl_file_abspath("/a//b/./c/", &out), 0);
	assert_string_equal(out, "/a/b/c");
	free(out);
	assert_int_equal(hl_file_abspath("/", &out), 0);
	assert_string_equal(out, "/");
	free(out);
	cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	snprintf(want, sizeof(want), "%s/x/y", strcmp(cwd, "/") == 0 ? "" : cwd);
	assert_int_equal(hl_file_abspath("./x/./y", &out), 0);
	assert_string_equal(out, want);
	free(out);
	free(cwd);
	assert_int_equal(hl_file_abspath("", &out), -1);
	assert_null(out);
}

/* exists: 1 for a file, 0 for missing paths, even under a file. */
static void test_exists(void **state)
{
	struct fx *fx = *state;
	char p[128];

	assert_int_equal(hl_file_exists(fx->dir), 1);
	assert_int_equal(hl_file_write(path_in(fx, "f", p, sizeof(p)), "", 0, 0600), 0);
	assert_int_equal(hl_file_exists(p), 1);
	assert_int_equal(hl_file_exists(path_in(fx, "f/g", p, sizeof(p))), 0);
	assert_int_equal(hl_file_exists(path_in(fx, "nope", p, sizeof(p))), 0);
}

/* rmtree refuses the root and empty paths, whatever their spelling, and symlinks resolving to it. */
static void test_rmtree_refuses_root(void **state)
{
	static const char *const roots[] = { "/", "//", "/.", "/./", "/..", "/tmp/..", "" };
	struct fx *fx = *state;
	char link[128];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		hl_error_clear();
		assert_int_equal(hl_file_rmtree(roots[i]), -1);
		assert_error_has("refusing");
	}
	assert_int_equal(symlink("/", path_in(fx, "root", link, sizeof(link))), 0);
	assert_int_equal(hl_file_rmtree(link), -1);
	assert_error_has("refusing");
	assert_int_equal(access("/tmp", F_OK), 0);
	assert_int_equal(unlink(link), 0);
}

/* rmtree removes a nested tree, including read-only dirs, without following symlinks out of it. */
static void test_rmtree_tree(void **state)
{
	struct fx *fx = *state;
	char p[128], outside[128], link[128];

	assert_int_equal(hl_file_mkdirs(path_in(fx, "keep", p, sizeof(p)), 0700), 0);
	assert_int_equal(hl_file_write(path_in(fx, "keep/precious", outside, sizeof(outside)),
				       "p", 1, 0600), 0);
	assert_int_equal(hl_file_mkdirs(path_in(fx, "lab/hosts/h1/tpm", p, sizeof(p)), 0700), 0);
	assert_int_equal(hl_file_write(path_in(fx, "lab/hosts/h1/tpm/state", p, sizeof(p)),
				       "s", 1, 0600), 0);
	assert_int_equal(hl_file_write(path_in(fx, "lab/top", p, sizeof(p)), "t", 1, 0600), 0);
	path_in(fx, "keep", p, sizeof(p));
	assert_int_equal(symlink(p, path_in(fx, "lab/hosts/to-keep", link, sizeof(link))), 0);
	assert_int_equal(symlink(outside, path_in(fx, "lab/to-file", link, sizeof(link))), 0);
	assert_int_equal(chmod(path_in(fx, "lab/hosts/h1", p, sizeof(p)), 0500), 0);

	assert_int_equal(hl_file_rmtree(path_in(fx, "lab", p, sizeof(p))), 0);
	assert_int_equal(hl_file_exists(p), 0);
	assert_content(outside, "p");
	assert_int_equal(hl_file_rmtree(p), 0);

	/* A single file and a symlink to a directory (only the link goes). */
	assert_int_equal(symlink(path_in(fx, "keep", p, sizeof(p)),
				 path_in(fx, "lnk", link, sizeof(link))), 0);
	assert_int_equal(hl_file_rmtree(link), 0);
	assert_int_equal(hl_file_exists(outside), 1);
	assert_int_equal(hl_file_rmtree(outside), 0);
	assert_int_equal(hl_file_exists(outside), 0);
	assert_int_equal(hl_file_exists(p), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_exact_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_temp_never_wider, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails_before_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_interrupted_before_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
		cmocka_unit_test(test_abspath),
		cmocka_unit_test_setup_teardown(test_exists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmtree_refuses_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmtree_tree, setup, teardown),
	};
	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
