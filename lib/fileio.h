/*
 * fileio.h - file helpers that keep hgslab's on-disk invariants.
 *
 * Invariants (DESIGN.md): a failed operation leaves no half-written file, and
 * private keys at rest are mode 0600.  hl_file_write() gives both: it writes
 * a temporary file in the target's directory, created O_EXCL with the final
 * mode (the umask can only narrow it, and fchmod() then sets it exactly), writes
 * everything, fsyncs the file, renames it over the target and fsyncs the
 * directory.  Readers see either the old content or the new, never a mix, and
 * a file written with mode 0600 never exists with wider permissions, not even
 * for a moment.
 *
 * Temporary files are named ".NAME.tmp.XXXXXX" (NAME = the target's base name,
 * XXXXXX = six random characters from [A-Za-z0-9]) beside the target.  When the
 * process dies between creating and renaming one (SIGKILL, power loss), that
 * stale file stays behind; hl_file_clean_temps() removes them and is meant to be
 * called when a component opens its own directory, before it starts writing.
 *
 * Every function returns 0 (or the documented non-negative value) on success
 * and -1 after hl_error() on failure; messages quote the path.
 */
#ifndef HGSLAB_LIB_FILEIO_H
#define HGSLAB_LIB_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/* Mode for private files: keys, sealed state, databases. */
#define HL_FILE_MODE_PRIVATE 0600
/* Mode for files anyone may read: certificates, guardian metadata, logs meant to be shared. */
#define HL_FILE_MODE_PUBLIC 0644

/* Default cap for hl_file_read() callers that have no better bound (16 MiB). */
#define HL_FILE_READ_MAX ((size_t)16 * 1024 * 1024)

/*
 * Atomically replace PATH with LEN bytes of DATA (DATA may be NULL when LEN is
 * 0), file mode exactly MODE (permission bits only, 0 to 0777; the umask does
 * not apply).  The directory must exist.  On failure before the rename the
 * temporary file is removed and PATH is untouched; a failure to fsync the
 * directory after the rename is reported, but the new content is then already
 * in place.
 */
int hl_file_write(const char *path, const void *data, size_t len, mode_t mode);

/* hl_file_write() with mode 0600: for keys and anything else private. */
int hl_file_write_private(const char *path, const void *data, size_t len);

/*
 * Read the whole of PATH into a malloc'd buffer, followed by a NUL byte that is
 * not counted in *LEN (so text can be used as a C string).  Refuses a file
 * larger than MAX bytes with "'PATH' is larger than MAX bytes".  *OUT is NULL on
 * entry and set only on success; LEN may be NULL.  The caller frees *OUT.
 */
int hl_file_read(const char *path, size_t max, char **out, size_t *len);

/*
 * Outside input (a bundle a tenant sent, a template, a file a client names)
 * is opened so that it cannot make the reader read something else or wait
 * forever:
 *   - a symbolic link as NAME's last component is not followed (open the
 *     folders on the way with hl_file_open_input_dir, which follows none
 *     either), unless FLAGS has HL_FILE_INPUT_FOLLOW (a path the user typed);
 *   - it is opened O_NONBLOCK, so a FIFO without a writer or a device never
 *     blocks the open, then only a regular file is kept (fstat);
 *   - a regular file with more than one hard link is refused unless FLAGS
 *     has HL_FILE_INPUT_FOLLOW (a link to a host file made beside the input);
 *   - one larger than MAX bytes is refused before a byte is read.
 * DIRFD is a folder descriptor or AT_FDCWD; SHOWN names the file in messages:
 *   "'SHOWN' is a symbolic link: only a regular file is read here"
 *   "'SHOWN' is not a regular file (a FIFO)"
 *   "'SHOWN' has 2 hard links: only a file with one is read here"
 *   "'SHOWN' has 70000 bytes, more than the 65536 it may have"
 */
#define HL_FILE_INPUT_FOLLOW 1u

/* Open NAME as outside input (above): the descriptor (close-on-exec), its size in *SIZE; or -1. */
int hl_file_open_input(int dirfd, const char *name, const char *shown, uint64_t max,
		       unsigned flags, uint64_t *size);

/* Open folder NAME under DIRFD as outside input (never through a link): its descriptor, or -1. */
int hl_file_open_input_dir(int dirfd, const char *name, const char *shown);

/* Read the whole of NAME, opened as outside input, as hl_file_read() does (MAX, *OUT, *LEN). */
int hl_file_read_input(int dirfd, const char *name, const char *shown, size_t max,
		       unsigned flags, char **out, size_t *len);

/*
 * mkdir -p: create PATH and any missing parents.  Every directory this call
 * creates gets exactly MODE (umask ignored); existing ones are left as they
 * are.  A component that exists but is not a directory is an error.
 */
int hl_file_mkdirs(const char *path, mode_t mode);

/*
 * Make PATH absolute without touching the file system beyond getcwd(): a
 * relative path is joined to the working directory, then "." components and
 * repeated slashes are dropped (".." is kept: resolving it needs the file
 * system because of symlinks).  *OUT is malloc'd; the caller frees it.
 */
int hl_file_abspath(const char *path, char **out);

/*
 * rm -rf PATH: remove a file, a symlink (not what it points to) or a directory
 * tree, never following symlinks.  A missing PATH is success.  Refuses an empty
 * path and any path that is, or resolves to, "/".  For test cleanup and lab
 * teardown.
 */
int hl_file_rmtree(const char *path);

/* 1 when PATH exists (following symlinks), 0 when it does not, -1 on error (e.g. EACCES). */
int hl_file_exists(const char *path);

/*
 * Remove the stale temporary files (".NAME.tmp.XXXXXX", regular files only)
 * that interrupted writes left in DIR; not recursive.  Returns how many were
 * removed.  Call it only while no other process or thread is writing into DIR,
 * or it may remove a write in progress (which then fails cleanly).
 */
int hl_file_clean_temps(const char *dir);

/* Points in hl_file_write() where the test hook is called. */
enum hl_file_stage {
	HL_FILE_STAGE_CREATED,		/* temporary file just created, nothing written yet */
	HL_FILE_STAGE_BEFORE_RENAME,	/* temporary file written, fsynced and closed */
};

/*
 * Test hook: when set, hl_file_write() calls FN(STAGE, TMP_PATH, ARG) at each
 * stage above.  FN returning -1 (after hl_error()) makes the write fail there,
 * as a failing write or rename would; FN may also kill the process to simulate
 * a crash.  Pass NULL to clear.  Process-wide and not synchronised: for unit
 * tests only, never set in the lab.
 */
typedef int (*hl_file_hook_fn)(enum hl_file_stage stage, const char *tmp_path, void *arg);
void hl_file_set_test_hook(hl_file_hook_fn fn, void *arg);

#endif
