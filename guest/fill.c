/*
 * fill.c - specialization of a generalized template inside the guest: the
 * placeholders of the specialization data (`@ComputerName@` ...) replaced in
 * the files the image lists in /.hgslab/generalized.json, the answer file
 * and the other files of the shielding data written under /.hgslab/ (0600),
 * and the computer name read back from /etc/hostname.
 *
 * The formats and the substitution itself are proto/fsk's (the .fsk, the
 * generalized.json list, the placeholders) and proto/pdk's (the secret file
 * names); this file does the volume's side.  Every path comes from the
 * template image or the shielding data, so each is resolved beneath the
 * mounted volume only (openat2 RESOLVE_BENEATH with
 * no symlinks and no mount crossing): a listed "etc/hostname" that is a
 * symlink to the initramfs's own files is refused, not followed.
 *
 * The answer file and the other files are the tenant's secrets: they are
 * handled in this process's locked memory, written only to the encrypted
 * volume, never logged, and cleansed after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest/agent.h"
#include "lib/err.h"
#include "proto/fsk.h"
#include "proto/pdk.h"

/* openat2 beneath ROOTFD, never through a symlink or onto another mount. */
static int open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
}

/* Read the whole regular file FD (at most MAX bytes) into *OUT (NUL-terminated) and *LEN. */
static int read_fd(int fd, const char *what, size_t max, char **out, size_t *len)
{
	struct stat st;
	size_t have = 0;
	char *buf;

	*out = NULL;
	if (fstat(fd, &st) < 0)
		return agent_err("cannot read %s: %s", what, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return agent_err("%s is not a regular file", what);
	if ((uint64_t)st.st_size > max)
		return agent_err("%s is larger than %zu bytes", what, max);
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return agent_err("out of memory reading %s", what);
	while (have < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + have, (size_t)st.st_size - have, (off_t)have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return agent_err("cannot read %s: %s", what, n < 0 ? strerror(errno) : "short read");
		}
		have += (size_t)n;
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	return 0;
}

/* Write LEN bytes of DATA to FD from offset 0 and cut it there, then fsync. */
static int write_fd(int fd, const char *what, const void *data, size_t len)
{
	size_t done = 0;

	if (ftruncate(fd, 0) < 0)
		return agent_err("cannot write %s: %s", what, strerror(errno));
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)data + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return agent_err("cannot write %s: %s", what, n < 0 ? strerror(errno) : "disk full");
		done += (size_t)n;
	}
	if (fsync(fd) < 0)
		return agent_err("cannot flush %s: %s", what, strerror(errno));
	return 0;
}

/* Fill the placeholders of FSK in one listed file REL under ROOTFD. */
static int fill_file(int rootfd, const char *rel, const struct hl_fsk *fsk, size_t *replaced)
{
	struct hl_buf done = { NULL, 0 };
	char what[HL_FSK_PATH_MAX + 32], *text = NULL;
	size_t len = 0;
	int fd, rc = -1;

	snprintf(what, sizeof(what), "the generalized file /%s", rel);
	if ((fd = open_beneath(rootfd, rel, O_RDWR, 0)) < 0)
		return agent_err("cannot open %s: %s%s", what, strerror(errno),
				 errno == ELOOP || errno == EXDEV ? " (a symlink or another mount: "
				 "refused)" : "");
	if (read_fd(fd, what, FILL_FILE_MAX, &text, &len) < 0)
		goto out;
	if (hl_fsk_substitute(fsk, text, len, &done, replaced) < 0) {
		agent_err("cannot fill in %s: %s", what, hl_error_last());
		goto out;
	}
	if (write_fd(fd, what, done.data, done.len) < 0)
		goto out;
	rc = 0;
out:
	close(fd);
	free(text);
	hl_buf_free(&done);
	return rc;
}

/* Fill every file generalized.json lists; see agent.h. */
int fill_generalized(int rootfd, const struct hl_fsk *fsk, size_t *files, size_t *replaced)
{
	char *text = NULL, **list = NULL;
	size_t len = 0, n = 0, i, hits;
	int fd, rc = -1;

	*files = 0;
	*replaced = 0;
	if ((fd = open_beneath(rootfd, HL_FSK_GENERALIZED_PATH, O_RDONLY, 0)) < 0) {
		if (errno == ENOENT) {
			agent_log("the template has no /%s: nothing to fill in", HL_FSK_GENERALIZED_PATH);
			return 0;
		}
		return agent_err("cannot open /%s: %s", HL_FSK_GENERALIZED_PATH, strerror(errno));
	}
	if (read_fd(fd, "/" HL_FSK_GENERALIZED_PATH, HL_FSK_GENERALIZED_MAX_SIZE, &text, &len) < 0)
		goto out;
	if (hl_fsk_generalized_parse(text, len, &list, &n) < 0) {
		agent_err("the template's /%s: %s", HL_FSK_GENERALIZED_PATH, hl_error_last());
		goto out;
	}
	if (!fsk) {
		agent_log("no specialization data: the %zu generalized files stay as they are", n);
		rc = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (fill_file(rootfd, list[i], fsk, &hits) < 0)
			goto out;
		*files += 1;
		*replaced += hits;
	}
	rc = 0;
out:
	close(fd);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(text);
	return rc;
}

/* Write a tenant file NAME (LEN bytes of DATA) under /.hgslab/DIR (0600); see agent.h. */
int fill_write_secret(int rootfd, const char *dir, const char *name, const void *data, size_t len)
{
	char rel[128];
	int fd, rc;

	if (hl_pdk_file_name_check(name, "a file of the shielding data") < 0)
		return agent_err("%s", hl_error_last());
	if (mkdirat(rootfd, ".hgslab", 0700) < 0 && errno != EEXIST)
		return agent_err("cannot create /.hgslab on the volume: %s", strerror(errno));
	if (dir) {
		snprintf(rel, sizeof(rel), ".hgslab/%s", dir);
		if (mkdirat(rootfd, rel, 0700) < 0 && errno != EEXIST)
			return agent_err("cannot create /%s on the volume: %s", rel, strerror(errno));
	}
	snprintf(rel, sizeof(rel), ".hgslab/%s%s%s", dir ? dir : "", dir ? "/" : "", name);
	if ((fd = open_beneath(rootfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return agent_err("cannot create /%s on the volume: %s", rel, strerror(errno));
	rc = fchmod(fd, 0600) < 0 ? agent_err("cannot set the mode of /%s: %s", rel, strerror(errno))
				  : write_fd(fd, rel, data, len);
	close(fd);
	return rc;
}

/* The computer name from etc/hostname under ROOT; see agent.h. */
int fill_computer_name(const char *root, char *buf, size_t size)
{
	char path[256], line[FILL_NAME_MAX + 2];
	size_t n;
	FILE *f;
	int rootfd, fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s", root);
	if ((rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	fd = open_beneath(rootfd, "etc/hostname", O_RDONLY, 0);
	close(rootfd);
	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			return 0;
	snprintf(buf, size, "%s", line);
	return buf[0] ? 1 : 0;
}
