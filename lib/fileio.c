/*
 * fileio.c - atomic writes, capped reads, mkdir -p, absolute paths, rm -rf and
 * stale temporary file cleanup (see fileio.h for the contract).
 *
 * The atomic write is the classic sequence: a temporary file beside the target
 * (same file system, so rename() is atomic), created O_EXCL with the final
 * mode, written in full, fsynced, renamed over the target, then the directory
 * fsynced so the rename itself survives a crash.
 */
#include "lib/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEMP_MARK ".tmp."
#define TEMP_RAND_LEN 6
#define TEMP_TRIES 100

static const char temp_alphabet[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static hl_file_hook_fn test_hook;
static void *test_hook_arg;

/* Install or clear the test-only hook. */
void hl_file_set_test_hook(hl_file_hook_fn fn, void *arg)
{
	test_hook = fn;
	test_hook_arg = arg;
}

/* Call the test hook, if any, at STAGE; -1 when it asks the write to fail. */
static int run_test_hook(enum hl_file_stage stage, const char *path, const char *tmp)
{
	if (test_hook && test_hook(stage, tmp, test_hook_arg) < 0)
		return hl_error_wrap("cannot write '%s'", path);
	return 0;
}

/* Fill BUF with LEN random characters from temp_alphabet. */
static void temp_random(char *buf, size_t len)
{
	static _Atomic unsigned long counter;
	unsigned char rnd[TEMP_RAND_LEN];
	struct timespec ts;
	uint64_t mix;

	if (len > sizeof(rnd))
		len = sizeof(rnd);
	if (getrandom(rnd, len, GRND_NONBLOCK) != (ssize_t)len) {
		/* No entropy yet: uniqueness is all we need, O_EXCL does the rest. */
		clock_gettime(CLOCK_REALTIME, &ts);
		mix = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		      ((uint64_t)getpid() << 32) ^ (uint64_t)++counter * 0x9e3779b97f4a7c15ull;
		for (size_t i = 0; i < len; i++, mix >>= 8)
			rnd[i] = (unsigned char)(mix ^ (mix >> 29));
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = temp_alphabet[rnd[i] % (sizeof(temp_alphabet) - 1)];
}

/* Split PATH into a malloc'd directory (*DIR) and a pointer to its base name (*BASE). */
static int split_path(const char *path, char **dir, const char **base)
{
	const char *slash = strrchr(path, '/');

	*dir = NULL;
	if (!slash) {
		*dir = strdup(".");
		*base = path;
	} else if (slash == path) {
		*dir = strdup("/");
		*base = slash + 1;
	} else {
		*dir = strndup(path, (size_t)(slash - path));
		*base = slash + 1;
	}
	if (!*dir)
		return hl_error("cannot write '%s': out of memory", path);
	if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
		free(*dir);
		*dir = NULL;
		return hl_error("cannot write '%s': the path names a directory, not a file", path);
	}
	return 0;
}

/* Create ".BASE.tmp.XXXXXX" in DIR, O_EXCL with MODE; return its fd and malloc'd name in *TMP. */
static int create_temp(const char *path, const char *dir, const char *base, mode_t mode,
		       char **tmp)
{
	size_t n = strlen(dir) + strlen(base) + sizeof(TEMP_MARK) + TEMP_RAND_LEN + 3;
	char *name = malloc(n);
	int fd = -1;

	*tmp = NULL;
	if (!name)
		return hl_error("cannot write '%s': out of memory", path);
	for (int i = 0; i < TEMP_TRIES; i++) {
		int len = snprintf(name, n, "%s/.%s" TEMP_MARK, dir, base);

		temp_random(name + len, TEMP_RAND_LEN);
		name[len + TEMP_RAND_LEN] = '\0';
		fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd >= 0) {
		*tmp = name;
		return fd;
	}
	if (errno == ENOENT)
		hl_error("cannot write '%s': directory '%s' does not exist; create it first", path, dir);
	else if (errno == ENOTDIR)
		hl_error("cannot write '%s': '%s' is not a directory; check the path", path, dir);
	else if (errno == EEXIST)
		hl_error("cannot write '%s': no free temporary file name in '%s'; "
			 "remove stale '.*.tmp.*' files there", path, dir);
	else
		hl_error_errno("cannot write '%s': cannot create a temporary file in '%s'", path, dir);
	free(name);
	return -1;
}

/* Write all LEN bytes of DATA to FD, retrying short writes and EINTR. */
static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync directory DIR so a rename in it is durable. */
static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return hl_error_errno("cannot open directory '%s' to sync it", dir);
	/* Some file systems do not support fsync on directories (EINVAL): nothing to do there. */
	if (fsync(fd) < 0 && errno != EINVAL) {
		hl_error_errno("cannot sync directory '%s'", dir);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Atomically replace a file: temp file, write, fsync, rename, fsync the directory. */
int hl_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	char *dir = NULL, *tmp = NULL;
	const char *base;
	int fd = -1, ret = -1, renamed = 0;

	if (!path || !*path)
		return hl_error("cannot write a file: the path is empty");
	if (mode & ~(mode_t)0777)
		return hl_error("cannot write '%s': mode %o has bits beyond 0777", path,
				(unsigned)mode);
	if (!data && len > 0)
		return hl_error("cannot write '%s': no data given", path);
	if (split_path(path, &dir, &base) < 0)
		goto out;
	fd = create_temp(path, dir, base, mode, &tmp);
	if (fd < 0 || run_test_hook(HL_FILE_STAGE_CREATED, path, tmp) < 0)
		goto out;
	/* Created with MODE minus the umask (never wider); now make it exactly MODE. */
	if (fchmod(fd, mode) < 0) {
		hl_error_errno("cannot write '%s': cannot set mode %03o on '%s'", path,
			       (unsigned)mode, tmp);
		goto out;
	}
	if (write_all(fd, data, len) < 0) {
		hl_error_errno("cannot write '%s': writing '%s' failed", path, tmp);
		goto out;
	}
	if (fsync(fd) < 0) {
		hl_error_errno("cannot write '%s': cannot sync '%s'", path, tmp);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		hl_error_errno("cannot write '%s': closing '%s' failed", path, tmp);
		goto out;
	}
	fd = -1;
	if (run_test_hook(HL_FILE_STAGE_BEFORE_RENAME, path, tmp) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		hl_error_errno("cannot write '%s': cannot rename '%s' over it", path, tmp);
		goto out;
	}
	renamed = 1;
	if (fsync_dir(dir) < 0) {
		hl_error_wrap("cannot write '%s': the new content is in place but may not be durable",
			      path);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp && !renamed)
		unlink(tmp);
	free(tmp);
	free(dir);
	return ret;
}

/* Atomic write with mode 0600. */
int hl_file_write_private(const char *path, const void *data, size_t len)
{
	return hl_file_write(path, data, len, HL_FILE_MODE_PRIVATE);
}

/*
 * Read what is left of FD (fstat as ST) into a malloc'd NUL-terminated
 * buffer, at most MAX bytes; PATH names it in messages.  FD stays open.
 */
static int read_fd(int fd, const struct stat *st, const char *path, size_t max, char **out,
		   size_t *len)
{
	char *buf = NULL, *nbuf;
	size_t cap, used = 0;
	int ret = -1;

	if (max > SIZE_MAX - 2)
		max = SIZE_MAX - 2;
	if (S_ISDIR(st->st_mode))
		return hl_error("cannot read '%s': it is a directory", path);
	if (S_ISREG(st->st_mode) && (uintmax_t)st->st_size > max)
		return hl_error("'%s' is larger than %zu bytes; refusing to read it", path, max);
	/* Room for the whole file, one byte to notice growth past MAX, and the NUL. */
	cap = S_ISREG(st->st_mode) ? (size_t)st->st_size + 2 : 4096;
	if (cap > max + 2)
		cap = max + 2;
	buf = malloc(cap);
	if (!buf)
		return hl_error("cannot read '%s': out of memory", path);
	for (;;) {
		ssize_t n;

		if (used > max) {
			hl_error("'%s' is larger than %zu bytes; refusing to read it", path, max);
			goto out;
		}
		if (cap - used < 2) {
			size_t ncap = cap < (max + 2) / 2 ? cap * 2 : max + 2;

			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				hl_error("cannot read '%s': out of memory", path);
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			hl_error_errno("cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = used;
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Read a whole file, up to a cap, into a NUL-terminated buffer. */
int hl_file_read(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	int fd, ret = -1;

	*out = NULL;
	if (len)
		*len = 0;
	if (!path || !*path)
		return hl_error("cannot read a file: the path is empty");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl_error_errno("cannot read '%s'", path);
	if (fstat(fd, &st) < 0)
		hl_error_errno("cannot read '%s'", path);
	else
		ret = read_fd(fd, &st, path, max, out, len);
	close(fd);
	return ret;
}

/* What kind of file MODE is, for a message ("a FIFO"). */
static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a folder";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a plain file";
}

/* Open NAME under DIRFD as outside input: no link, no FIFO or device, one link, MAX bytes. */
int hl_file_open_input(int dirfd, const char *name, const char *shown, uint64_t max,
		       unsigned flags, uint64_t *size)
{
	int follow = (flags & HL_FILE_INPUT_FOLLOW) != 0;
	struct stat st;
	int fd;

	*size = 0;
	fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
		    (follow ? 0 : O_NOFOLLOW));
	if (fd < 0 && errno == ELOOP && !follow)
		return hl_error("'%s' is a symbolic link: only a regular file is read here", shown);
	if (fd < 0)
		return hl_error_errno("cannot read '%s'", shown);
	if (fstat(fd, &st) < 0) {
		hl_error_errno("cannot read '%s'", shown);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		hl_error("'%s' is not a regular file (%s)", shown, file_kind(st.st_mode));
		goto fail;
	}
	if (!follow && st.st_nlink > 1) {
		hl_error("'%s' has %ju hard links: only a file with one is read here", shown,
			 (uintmax_t)st.st_nlink);
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		hl_error("'%s' has %jd bytes, more than the %ju it may have", shown,
			 (intmax_t)st.st_size, (uintmax_t)max);
		goto fail;
	}
	/* a regular file never blocks: give the reader ordinary reads */
	if (fcntl(fd, F_SETFL, 0) < 0) {
		hl_error_errno("cannot read '%s'", shown);
		goto fail;
	}
	*size = (uint64_t)st.st_size;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Open folder NAME under DIRFD, never through a link. */
int hl_file_open_input_dir(int dirfd, const char *name, const char *shown)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd >= 0)
		return fd;
	/* O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR or ELOOP, by kernel */
	if (errno == ELOOP || (errno == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			       S_ISLNK(st.st_mode)))
		return hl_error("'%s' is a symbolic link: only a real folder is read here", shown);
	if (errno == ENOTDIR)
		return hl_error("'%s' is not a folder", shown);
	return hl_error_errno("cannot read '%s'", shown);
}

/* Read NAME under DIRFD as outside input. */
int hl_file_read_input(int dirfd, const char *name, const char *shown, size_t max,
		       unsigned flags, char **out, size_t *len)
{
	struct stat st;
	uint64_t size;
	int fd, ret = -1;

	*out = NULL;
	if (len)
		*len = 0;
	if ((fd = hl_file_open_input(dirfd, name, shown, max, flags, &size)) < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		hl_error_errno("cannot read '%s'", shown);
	else
		ret = read_fd(fd, &st, shown, max, out, len);
	close(fd);
	return ret;
}

/* Create one directory of a mkdir -p walk with exactly MODE, or accept an existing one. */
static int mkdir_one(const char *full, const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) == 0) {
		if (chmod(dir, mode) < 0)
			return hl_error_errno("cannot create '%s': cannot set mode %03o on '%s'",
					      full, (unsigned)mode, dir);
		return 0;
	}
	if (errno != EEXIST)
		return hl_error_errno("cannot create '%s': cannot create '%s'", full, dir);
	if (stat(dir, &st) < 0)
		return hl_error_errno("cannot create '%s': cannot inspect '%s'", full, dir);
	if (!S_ISDIR(st.st_mode))
		return hl_error("cannot create '%s': '%s' exists and is not a directory", full, dir);
	return 0;
}

/* mkdir -p with an exact mode for the directories created. */
int hl_file_mkdirs(const char *path, mode_t mode)
{
	char *buf;
	int ret = -1;

	if (!path || !*path)
		return hl_error("cannot create a directory: the path is empty");
	if (mode & ~(mode_t)07777)
		return hl_error("cannot create '%s': mode %o is not a permission mode", path,
				(unsigned)mode);
	buf = strdup(path);
	if (!buf)
		return hl_error("cannot create '%s': out of memory", path);
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		/* Skip the empty components of "a//b" and of a trailing slash. */
		if (p[-1] != '/') {
			*p = '\0';
			if (mkdir_one(path, buf, mode) < 0)
				goto out;
			*p = c;
		}
		if (c == '\0')
			break;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Copy IN (absolute) to a malloc'd string without "." components or repeated slashes. */
static char *path_normalize(const char *in)
{
	char *out = malloc(strlen(in) + 2);
	size_t o = 0;
	const char *p = in;

	if (!out)
		return NULL;
	while (*p) {
		const char *q;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		for (q = p; *q && *q != '/'; q++)
			;
		if (!(q - p == 1 && p[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p, (size_t)(q - p));
			o += (size_t)(q - p);
		}
		p = q;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* Join a relative path to the working directory and tidy it. */
int hl_file_abspath(const char *path, char **out)
{
	char *cwd = NULL, *joined = NULL;
	int ret = -1;

	*out = NULL;
	if (!path || !*path)
		return hl_error("cannot make a path absolute: the path is empty");
	if (path[0] == '/') {
		*out = path_normalize(path);
		if (!*out)
			return hl_error("cannot make '%s' absolute: out of memory", path);
		return 0;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return hl_error_errno("cannot make '%s' absolute: cannot get the working directory",
				      path);
	if (asprintf(&joined, "%s/%s", cwd, path) < 0) {
		joined = NULL;
		hl_error("cannot make '%s' absolute: out of memory", path);
		goto out;
	}
	*out = path_normalize(joined);
	if (!*out) {
		hl_error("cannot make '%s' absolute: out of memory", path);
		goto out;
	}
	ret = 0;
out:
	free(joined);
	free(cwd);
	return ret;
}

/* Whether a path exists: 1, 0, or -1 on error. */
int hl_file_exists(const char *path)
{
	struct stat st;

	if (!path || !*path)
		return hl_error("cannot check a file: the path is empty");
	if (stat(path, &st) == 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return hl_error_errno("cannot check whether '%s' exists", path);
}

/* Open directory NAME in PARENT without following a symlink; make it usable if its mode is too tight. */
static int rmtree_open_dir(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd >= 0 || errno != EACCES)
		return fd;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	if (fchmodat(parent, name, (st.st_mode & 07777) | 0700, 0) < 0) {
		errno = EACCES;
		return -1;
	}
	return openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Remove NAME in PARENT recursively; DISP holds its path for messages (grown and restored). */
static int rmtree_at(int parent, const char *name, char *disp, size_t disp_cap)
{
	size_t disp_len = strlen(disp);
	struct stat st;
	DIR *d = NULL;
	int fd, ret = -1;

	fd = rmtree_open_dir(parent, name);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return hl_error_errno("cannot remove '%s'", disp);
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return hl_error_errno("cannot remove '%s'", disp);
		return 0;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	d = fdopendir(fd);
	if (!d) {
		hl_error_errno("cannot remove '%s': cannot list it", disp);
		close(fd);
		return -1;
	}
	/* Entries removed while listing may shift the listing: list again until empty. */
	for (int pass = 0; pass < 4; pass++) {
		struct dirent *de;
		int removed = 0;

		rewinddir(d);
		errno = 0;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(disp + disp_len, disp_cap - disp_len, "/%s", de->d_name);
			if (rmtree_at(dirfd(d), de->d_name, disp, disp_cap) < 0)
				goto out;
			disp[disp_len] = '\0';
			removed++;
			errno = 0;
		}
		if (errno != 0) {
			hl_error_errno("cannot remove '%s': cannot list it", disp);
			goto out;
		}
		if (removed == 0)
			break;
	}
	closedir(d);
	d = NULL;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
		hl_error_errno("cannot remove '%s'", disp);
		goto out;
	}
	ret = 0;
out:
	disp[disp_len] = '\0';
	if (d)
		closedir(d);
	return ret;
}

/* rm -rf without following symlinks; refuses "/" and empty paths. */
int hl_file_rmtree(const char *path)
{
	char *abs = NULL, *real = NULL, *slash, *disp = NULL;
	const char *parent, *base;
	int pfd = -1, ret = -1;

	if (!path || !*path)
		return hl_error("refusing to remove a tree: the path is empty");
	if (hl_file_abspath(path, &abs) < 0)
		return hl_error_wrap("cannot remove '%s'", path);
	real = realpath(abs, NULL);
	if (strcmp(abs, "/") == 0 || (real && strcmp(real, "/") == 0)) {
		hl_error("refusing to remove '%s': it is the root directory", path);
		goto out;
	}
	slash = strrchr(abs, '/');
	base = slash + 1;
	if (strcmp(base, "..") == 0) {
		hl_error("refusing to remove '%s': it ends in '..'; name the directory itself", path);
		goto out;
	}
	*slash = '\0';
	parent = slash == abs ? "/" : abs;
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		if (errno == ENOENT) {
			ret = 0;
			goto out;
		}
		hl_error_errno("cannot remove '%s': cannot open '%s'", path, parent);
		goto out;
	}
	disp = malloc(PATH_MAX);
	if (!disp) {
		hl_error("cannot remove '%s': out of memory", path);
		goto out;
	}
	snprintf(disp, PATH_MAX, "%s", path);
	ret = rmtree_at(pfd, base, disp, PATH_MAX);
out:
	if (pfd >= 0)
		close(pfd);
	free(disp);
	free(real);
	free(abs);
	return ret;
}

/* Whether NAME looks like a temporary file of hl_file_write(): ".NAME.tmp.XXXXXX". */
static int is_temp_name(const char *name)
{
	size_t n = strlen(name), tail = strlen(TEMP_MARK) + TEMP_RAND_LEN;

	if (name[0] != '.' || n < 2 + tail)
		return 0;
	if (memcmp(name + n - tail, TEMP_MARK, strlen(TEMP_MARK)) != 0)
		return 0;
	for (size_t i = n - TEMP_RAND_LEN; i < n; i++)
		if (!strchr(temp_alphabet, name[i]))
			return 0;
	return 1;
}

/* Remove entry NAME of directory stream D when it is a stale temporary file; 1 removed, 0 not, -1 error. */
static int clean_one(DIR *d, const char *dir, const char *name)
{
	struct stat st;

	if (!is_temp_name(name))
		return 0;
	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (unlinkat(dirfd(d), name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return hl_error_errno("cannot remove stale temporary file '%s/%s'", dir, name);
	}
	return 1;
}

/* Remove the temporary files interrupted writes left in a directory. */
int hl_file_clean_temps(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int count = 0, r;

	if (!dir || !*dir)
		return hl_error("cannot clean temporary files: the directory path is empty");
	d = opendir(dir);
	if (!d)
		return hl_error_errno("cannot clean temporary files in '%s'", dir);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		r = clean_one(d, dir, de->d_name);
		if (r < 0) {
			closedir(d);
			return -1;
		}
		count += r;
		errno = 0;
	}
	if (errno != 0) {
		hl_error_errno("cannot list '%s'", dir);
		count = -1;
	}
	closedir(d);
	return count;
}
