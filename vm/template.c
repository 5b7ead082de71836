/*
 * template.c - reading template disk files (see template.h): the file's
 * size and footer, its trailer and VSC, and the image's SHA-256 streamed in
 * 1 MiB pieces (and copied, for protect-template-disk).  The formats are proto/vsc_tdisk and proto/vsc; this file
 * adds only the reads, with pread() at the offsets the footer gives.
 */
#include "vm/template.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

/* Bytes read at a time while hashing an image. */
#define HASH_CHUNK ((size_t)1 << 20)

/* Read exactly LEN bytes at OFF of FD into BUF (PATH names it). */
static int read_at(int fd, void *buf, size_t len, uint64_t off, const char *path)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return hl_error_errno("cannot read '%s'", path);
		if (n == 0)
			return hl_error("cannot read '%s': it ended early (was it cut while being "
					"read?)", path);
		done += (size_t)n;
	}
	return 0;
}

/*
 * Open PATH for reading; its size into *SIZE (a regular file only).  Opened
 * O_NONBLOCK, so a FIFO without a writer or a device is refused at once
 * instead of blocking the open; the path the user named is followed.
 */
static int open_file(const char *path, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return hl_error_errno("cannot open '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) < 0) {
		close(fd);
		return hl_error("cannot read '%s': not a regular file", path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Size, and whether the file ends in the footer's magic. */
int vm_template_probe(const char *path, uint64_t *file_bytes)
{
	unsigned char tail[HL_TDISK_FOOTER_SIZE];
	int fd, rc = 0;

	*file_bytes = 0;
	fd = open_file(path, file_bytes);
	if (fd < 0)
		return -1;
	if (*file_bytes >= HL_TDISK_FOOTER_SIZE) {
		if (read_at(fd, tail, sizeof(tail), *file_bytes - sizeof(tail), path) < 0)
			rc = -1;
		else
			rc = hl_tdisk_has_footer(tail, sizeof(tail));
	}
	close(fd);
	return rc;
}

/* Footer, trailer and VSC of PATH. */
int vm_template_open(const char *path, struct vm_template **out)
{
	unsigned char tail[HL_TDISK_FOOTER_SIZE], *trailer = NULL;
	const unsigned char *vsc_bytes;
	struct vm_template *t = NULL;
	uint64_t size = 0;
	size_t tail_len;
	int fd, rc = -1;

	*out = NULL;
	fd = open_file(path, &size);
	if (fd < 0)
		return -1;
	tail_len = size < sizeof(tail) ? (size_t)size : sizeof(tail);
	t = calloc(1, sizeof(*t));
	if (!t || !(t->path = strdup(path))) {
		hl_error("out of memory");
		goto out;
	}
	if (read_at(fd, tail, tail_len, size - tail_len, path) < 0)
		goto out;
	if (hl_tdisk_footer_parse(tail, tail_len, size, &t->layout) < 0) {
		hl_error_wrap("'%s'", path);
		goto out;
	}
	trailer = malloc((size_t)t->layout.trailer_bytes);
	if (!trailer) {
		hl_error("out of memory");
		goto out;
	}
	if (read_at(fd, trailer, (size_t)t->layout.trailer_bytes, t->layout.image_bytes, path) < 0)
		goto out;
	if (hl_tdisk_trailer_check(trailer, (size_t)t->layout.trailer_bytes, &t->layout,
				   &vsc_bytes) < 0 ||
	    hl_vsc_parse(vsc_bytes, (size_t)t->layout.vsc_length, &t->vsc) < 0) {
		hl_error_wrap("'%s'", path);
		goto out;
	}
	*out = t;
	t = NULL;
	rc = 0;
out:
	close(fd);
	free(trailer);
	vm_template_free(t);
	return rc;
}

/* Write all LEN bytes of BUF to FD. */
static int write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return hl_error_errno("cannot write the copy of the image");
		done += (size_t)n;
	}
	return 0;
}

/* SHA-256 of the first BYTES bytes of PATH (copied to COPY_FD too). */
int vm_template_hash_image(const char *path, uint64_t bytes, int copy_fd,
			   unsigned char md[HL_SHA256_LEN])
{
	struct hl_sha256 h = { NULL };
	unsigned char *buf = NULL;
	uint64_t size = 0, off = 0;
	int fd, rc = -1;

	fd = open_file(path, &size);
	if (fd < 0)
		return -1;
	if (size < bytes) {
		hl_error("cannot hash '%s': it has %llu bytes, fewer than the image's %llu", path,
			 (unsigned long long)size, (unsigned long long)bytes);
		goto out;
	}
	buf = malloc(HASH_CHUNK);
	if (!buf) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_crypto_sha256_begin(&h) < 0)
		goto out;
	while (off < bytes) {
		size_t n = bytes - off < HASH_CHUNK ? (size_t)(bytes - off) : HASH_CHUNK;

		if (read_at(fd, buf, n, off, path) < 0 || hl_crypto_sha256_update(&h, buf, n) < 0 ||
		    (copy_fd != -1 && write_all(copy_fd, buf, n) < 0))
			goto out;
		off += n;
	}
	rc = hl_crypto_sha256_end(&h, md);
out:
	hl_crypto_sha256_abort(&h);
	free(buf);
	close(fd);
	return rc;
}

/* The VSC's signature, then the image's hash. */
int vm_template_verify(const struct vm_template *t)
{
	unsigned char md[HL_SHA256_LEN];

	if (!t)
		return hl_error("no template given");
	if (hl_vsc_verify(t->vsc) < 0)
		return hl_error_wrap("'%s'", t->path);
	if (vm_template_hash_image(t->path, t->layout.image_bytes, -1, md) < 0)
		return -1;
	if (hl_vsc_check_image(t->vsc, md, t->layout.image_bytes) < 0)
		return hl_error_wrap("'%s'", t->path);
	return 0;
}

/* Free an opened template. */
void vm_template_free(struct vm_template *t)
{
	if (!t)
		return;
	hl_vsc_free(t->vsc);
	free(t->path);
	free(t);
}
