/*
 * search.c - byte search of a folder tree (sim/search.h): each regular file
 * read in 1 MiB chunks with an overlap of the text's length less one, so a
 * text spanning two chunks is found; no link followed (O_NOFOLLOW, lstat).
 */
#include "sim/search.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

#define SEARCH_CHUNK ((size_t)1 << 20)

/* 1 when file PATH holds S->text, 0 when not, -1 when it cannot be read. */
static int file_holds(struct sim_search *S, const char *path)
{
	size_t keep = 0, n;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), found = 0;

	if (fd < 0)
		return hl_error_errno("cannot read '%s'", path);
	S->files++;
	while (!found && (r = read(fd, S->buf + keep, SEARCH_CHUNK)) > 0) {
		n = keep + (size_t)r;
		S->bytes += (unsigned long long)r;
		found = memmem(S->buf, n, S->text, S->len) != NULL;
		/* the text may span two chunks: keep its length less one byte */
		keep = n < S->len - 1 ? n : S->len - 1;
		memmove(S->buf, S->buf + n - keep, keep);
	}
	close(fd);
	return found;
}

/* Search every regular file under DIR (symlinks not followed) for S->text. */
static int tree_search(struct sim_search *S, const char *dir)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (S->skip && strcmp(dir, S->skip) == 0)
		return 0;
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : hl_error_errno("cannot read folder '%s'", dir);
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		char *path;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
			rc = hl_error("out of memory");
			break;
		}
		if (lstat(path, &st) < 0) {
			/* gone meanwhile (a socket, a temporary file) */
		} else if (S_ISDIR(st.st_mode)) {
			rc = tree_search(S, path);
		} else if (S_ISREG(st.st_mode)) {
			int h = file_holds(S, path);

			if (h < 0 && errno != ENOENT)
				rc = -1;
			hl_error_clear();
			if (h > 0 && S->found++ == 0 && !(S->first = strdup(path)))
				rc = hl_error("out of memory");
		}
		free(path);
	}
	closedir(d);
	return rc;
}

int sim_search_run(struct sim_search *S, const char *dir, const void *text, size_t len,
		   const char *skip)
{
	memset(S, 0, sizeof(*S));
	S->text = text;
	S->len = len;
	S->skip = skip;
	if (len == 0)
		return hl_error("nothing to search for");
	if (!(S->buf = malloc(SEARCH_CHUNK + len)))
		return hl_error("out of memory");
	return tree_search(S, dir);
}

void sim_search_release(struct sim_search *S)
{
	free(S->buf);
	free(S->first);
	memset(S, 0, sizeof(*S));
}
