/*
 * disk.c - the tenant's disks inside the guest: finding them, LUKS2 with
 * libcryptsetup, the block copy of the plain disk or template image (hashing
 * exactly the bytes it copies), the erase of a refused volume's header, and
 * the mount.
 *
 * LUKS2 is done in this process with libcryptsetup (the library the
 * cryptsetup program is built on), so the key never leaves this process's
 * locked memory except into the kernel (the keyring, dm-crypt).
 *
 * The key sealed in the vTPM is the volume key itself (512 bits for
 * aes-xts-plain64, drawn from the vTPM), and the header has no keyslot: a
 * keyslot would wrap the volume key under another random key kept in the
 * same vTPM, which protects nothing more and costs ~0.4 s per start under
 * TCG (keyslot PBKDF, area decryption, the 4000-stripe AF merge).  A start
 * is crypt_load() + crypt_activate_by_volume_key(), which checks the key
 * against the header's digest.
 *
 * PBKDF: that digest is PBKDF2-SHA256 at 1000 iterations (libcryptsetup's
 * minimum), not benchmarked.  A PBKDF slows the guessing of a low-entropy
 * passphrase; this key is 512 random bits, so a guess costs 2^511 tries on
 * average whatever the iteration count, and stretching would only slow
 * every start (the default argon2id takes ~11 s under TCG).
 *
 * Guests provisioned by the older agent sealed a 256-bit passphrase of
 * keyslot 0 (PBKDF2, 1000 iterations) instead; disk_open() still opens them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "guest/agent.h"
#include "lib/crypto.h"
#include "lib/err.h"

#define COPY_CHUNK (1u << 20)

static bool mounted;

/* Scan /sys/block/vd* for serial SERIAL; 1 found (DEV set), 0 not, -1 no virtio disk yet. */
static int scan_serial(const char *serial, char *dev, size_t devlen)
{
	char path[300], buf[64];
	struct dirent *e;
	int any = -1, found = 0;
	DIR *d;

	d = opendir("/sys/block");
	if (!d)
		return -1;
	while (!found && (e = readdir(d))) {
		FILE *f;

		if (strncmp(e->d_name, "vd", 2) != 0)
			continue;
		any = 0;
		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf, serial) == 0) {
				snprintf(dev, devlen, "/dev/%s", e->d_name);
				found = 1;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found ? 1 : any;
}

/* Find the disk with virtio serial SERIAL, else /dev/FALLBACK; its path into DEV. */
int disk_find(const char *serial, const char *fallback, char *dev, size_t devlen)
{
	long end = agent_uptime_ms() + 5000;
	char path[64];
	int r;

	/* virtio_blk probes synchronously: once one disk is there, all are. */
	while ((r = scan_serial(serial, dev, devlen)) < 0 && agent_uptime_ms() < end)
		usleep(10000);
	if (r == 1)
		return 0;
	if (r < 0)
		return agent_err("no virtio disk at all (give the VM a virtio-blk disk with serial=%s)", serial);
	snprintf(path, sizeof(path), "/sys/block/%s", fallback);
	if (access(path, F_OK) < 0)
		return agent_err("no virtio disk with serial '%s' and no %s to fall back to", serial, fallback);
	snprintf(dev, devlen, "/dev/%s", fallback);
	return 0;
}

/* The size of block device DEV in bytes. */
int disk_size(const char *dev, uint64_t *size)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return agent_err("cannot open %s: %s", dev, strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, size) < 0) {
		close(fd);
		return agent_err("cannot read the size of %s: %s", dev, strerror(errno));
	}
	close(fd);
	return 0;
}

/* True when DEV starts with a LUKS2 header. */
int disk_is_luks(const char *dev)
{
	static const unsigned char magic[] = { 'L', 'U', 'K', 'S', 0xba, 0xbe, 0x00, 0x02 };
	unsigned char head[sizeof(magic)];
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, head, sizeof(head));
	close(fd);
	return n == (ssize_t)sizeof(head) && memcmp(head, magic, sizeof(magic)) == 0;
}

/* The last error libcryptsetup logged (its reason for a failure). */
static char disk_crypt_msg[400];
/* hgslab.debug: log every libcryptsetup message. */
static bool disk_crypt_debug;

/* libcryptsetup's log: keep the last error line for the agent's message. */
static void disk_crypt_log(int level, const char *msg, void *usrptr)
{
	size_t n;

	(void)usrptr;
	if (disk_crypt_debug)
		agent_log("libcryptsetup: %.*s", (int)strcspn(msg, "\n"), msg);
	if (level != CRYPT_LOG_ERROR)
		return;
	snprintf(disk_crypt_msg, sizeof(disk_crypt_msg), "%s", msg);
	n = strlen(disk_crypt_msg);
	while (n > 0 && (disk_crypt_msg[n - 1] == '\n' || disk_crypt_msg[n - 1] == ' '))
		disk_crypt_msg[--n] = '\0';
}

/* hgslab.debug: every libcryptsetup message on the console, with the uptime. */
void disk_debug(void)
{
	disk_crypt_debug = true;
	crypt_set_debug_level(CRYPT_DEBUG_ALL);
}

/* libcryptsetup's last error, or strerror(-R) when it logged none. */
static const char *disk_crypt_reason(int r)
{
	return disk_crypt_msg[0] ? disk_crypt_msg : strerror(-r);
}

/* A libcryptsetup context for DEV (a block device), its log into disk_crypt_msg. */
static int disk_crypt_init(struct crypt_device **cd, const char *dev)
{
	int r;

	disk_crypt_msg[0] = '\0';
	crypt_set_log_callback(NULL, disk_crypt_log, NULL);
	r = crypt_init(cd, dev);
	if (r < 0)
		return agent_err("cannot open %s for LUKS2: %s", dev, disk_crypt_reason(r));
	return 0;
}

/*
 * Format DEV as LUKS2 aes-xts-plain64 with KEY as its volume key and no
 * keyslot: the vTPM seals the volume key itself (see the header).
 */
int disk_format(const char *dev, const uint8_t *key, size_t len)
{
	const struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = DISK_PBKDF2_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_params_luks2 params = { .pbkdf = &pbkdf, .sector_size = 512 };
	struct crypt_device *cd = NULL;
	int r;

	if (len != AGENT_KEY_LEN)
		return agent_err("cannot format %s: a %zu-byte volume key, not %d", dev, len, AGENT_KEY_LEN);
	if (disk_crypt_init(&cd, dev) < 0)
		return -1;
	r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, (const char *)key, len, &params);
	crypt_free(cd);
	if (r < 0)
		return agent_err("cannot format %s as LUKS2: %s", dev, disk_crypt_reason(r));
	return 0;
}

/*
 * Open DEV as AGENT_DM_NAME with KEY (the volume key, or the passphrase of a
 * legacy keyslot, by its length); READONLY for normal starts.
 */
int disk_open(const char *dev, const uint8_t *key, size_t len, int readonly)
{
	uint32_t flags = readonly ? CRYPT_ACTIVATE_READONLY : 0;
	struct crypt_device *cd = NULL;
	int r;

	if (disk_crypt_init(&cd, dev) < 0)
		return -1;
	r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r < 0) {
		crypt_free(cd);
		return agent_err("cannot open the encrypted disk %s: not a LUKS2 volume (%s)", dev,
				 disk_crypt_reason(r));
	}
	/* no discards: they would show which blocks hold data */
	if (len == AGENT_KEY_LEN)
		r = crypt_activate_by_volume_key(cd, AGENT_DM_NAME, (const char *)key, len, flags);
	else
		r = crypt_activate_by_passphrase(cd, AGENT_DM_NAME, CRYPT_ANY_SLOT, (const char *)key,
						 len, flags);
	crypt_free(cd);
	if (r == -EPERM || r == -ENOENT)
		return agent_err("cannot open the encrypted disk %s: the key sealed in this vTPM does not "
				 "open it (the disk and the vTPM belong to different VMs?)", dev);
	if (r < 0)
		return agent_err("cannot open the encrypted disk %s: %s", dev, disk_crypt_reason(r));
	return 0;
}

/* Close AGENT_DM_NAME if it is open. */
int disk_close(void)
{
	struct crypt_device *cd = NULL;
	int r;

	if (access(AGENT_DM_PATH, F_OK) < 0)
		return 0;
	disk_crypt_msg[0] = '\0';
	crypt_set_log_callback(NULL, disk_crypt_log, NULL);
	r = crypt_init_by_name(&cd, AGENT_DM_NAME);
	if (r == 0)
		r = crypt_deactivate(cd, AGENT_DM_NAME);
	crypt_free(cd);
	if (r < 0)
		return agent_err("cannot close the encrypted volume: %s", disk_crypt_reason(r));
	return 0;
}

/*
 * Copy the first BYTES bytes of SRC onto DST and flush; with SHA256, hash
 * each chunk from the same buffer that is written, so the digest is that of
 * exactly the bytes the volume got (a source that changes between two reads
 * cannot show one thing to the hash and another to the volume).
 */
int disk_copy(const char *src, const char *dst, uint64_t bytes, unsigned char sha256[32])
{
	struct hl_sha256 md = { NULL };
	uint64_t done = 0;
	int in, out, ret = -1;
	char *buf;

	buf = malloc(COPY_CHUNK);
	if (!buf)
		return agent_err("out of memory");
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0) {
		agent_err("cannot open %s: %s", in < 0 ? src : dst, strerror(errno));
		goto cleanup;
	}
	if (sha256 && hl_crypto_sha256_begin(&md) < 0) {
		agent_err("cannot hash %s: %s", src, hl_error_last());
		goto cleanup;
	}
	while (done < bytes) {
		size_t want = bytes - done < COPY_CHUNK ? (size_t)(bytes - done) : COPY_CHUNK;
		ssize_t n = read(in, buf, want), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			agent_err("cannot read %s: %s", src, strerror(errno));
			goto cleanup;
		}
		if (n == 0) {
			agent_err("%s ended after %llu of %llu bytes", src, (unsigned long long)done,
				  (unsigned long long)bytes);
			goto cleanup;
		}
		if (sha256 && hl_crypto_sha256_update(&md, buf, (size_t)n) < 0) {
			agent_err("cannot hash %s: %s", src, hl_error_last());
			goto cleanup;
		}
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				agent_err("cannot write the encrypted volume: %s", k < 0 ? strerror(errno) : "full");
				goto cleanup;
			}
			w += k;
		}
		done += (uint64_t)n;
	}
	if (fsync(out) < 0) {
		agent_err("cannot flush the encrypted volume: %s", strerror(errno));
		goto cleanup;
	}
	if (sha256 && hl_crypto_sha256_end(&md, sha256) < 0) {
		agent_err("cannot hash %s: %s", src, hl_error_last());
		goto cleanup;
	}
	ret = 0;
cleanup:
	hl_crypto_sha256_abort(&md);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(buf);
	return ret;
}

/*
 * Overwrite the LUKS2 header area of DEV (closed) with zeros: everything
 * before the data segment, both header copies included, so the volume can
 * never be opened, whoever holds its key.
 */
int disk_wipe_header(const char *dev)
{
	struct crypt_device *cd = NULL;
	uint64_t bytes = 16u << 20, done = 0;
	static const char zeros[65536];
	int fd, r;

	if (disk_crypt_init(&cd, dev) == 0) {
		if (crypt_load(cd, CRYPT_LUKS2, NULL) == 0 && crypt_get_data_offset(cd) > 0)
			bytes = crypt_get_data_offset(cd) * 512;
		crypt_free(cd);
	}
	if ((fd = open(dev, O_WRONLY | O_CLOEXEC)) < 0)
		return agent_err("cannot erase the LUKS2 header of %s: %s", dev, strerror(errno));
	while (done < bytes) {
		size_t n = bytes - done < sizeof(zeros) ? (size_t)(bytes - done) : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = errno;
			close(fd);
			return agent_err("cannot erase the LUKS2 header of %s: %s", dev,
					 w < 0 ? strerror(r) : "short write");
		}
		done += (uint64_t)w;
	}
	r = fsync(fd);
	close(fd);
	if (r < 0)
		return agent_err("cannot flush the erased LUKS2 header of %s", dev);
	return 0;
}

/* Mount DEV (the opened volume) nosuid, nodev, noexec at AGENT_MNT; read-only unless WRITABLE. */
int disk_mount(const char *dev, int writable)
{
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (writable ? 0 : MS_RDONLY);

	mkdir("/mnt", 0755);
	mkdir(AGENT_MNT, 0755);
	if (mount(dev, AGENT_MNT, "ext4", flags, NULL) < 0)
		return agent_err("cannot mount the tenant's volume %s: %s (was the plain disk an ext4 image?)",
				 dev, strerror(errno));
	mounted = true;
	return 0;
}

/* Unmount AGENT_MNT if this agent mounted it. */
int disk_umount(void)
{
	if (!mounted)
		return 0;
	if (umount2(AGENT_MNT, 0) < 0)
		return agent_err("cannot unmount %s: %s", AGENT_MNT, strerror(errno));
	mounted = false;
	return 0;
}
