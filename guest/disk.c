/*
 * disk.c - the tenant's disks inside the guest: finding them, LUKS2 with
 * cryptsetup, the block copy of the plain disk, and the mount.
 *
 * cryptsetup runs as a child (the binary and its libraries are in the
 * initramfs) with the 256-bit key on its stdin (`--key-file -`): the key is
 * only ever in this process's locked memory and in a pipe.  The key is the
 * passphrase of LUKS2 keyslot 0 (PBKDF2, 1000 iterations: it is random, so
 * stretching it buys nothing, and the default argon2 takes ~11 s under TCG);
 * cryptsetup draws the 512-bit aes-xts-plain64 volume key itself, as
 * BitLocker's VMK protects its FVEK.
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

#include "guest/agent.h"

#define CRYPTSETUP "/sbin/cryptsetup"
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

/* luksFormat DEV with KEY as keyslot 0's passphrase (on cryptsetup's stdin). */
int disk_format(const char *dev, const uint8_t *key, size_t len)
{
	char *const argv[] = { CRYPTSETUP, "luksFormat", "--batch-mode", "--type", "luks2",
			       "--cipher", "aes-xts-plain64", "--key-size", "512", "--hash", "sha256",
			       "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
			       "--key-file", "-", (char *)dev, NULL };

	if (agent_run(argv, key, len, NULL, 0) < 0)
		return agent_err("cannot format %s as LUKS2: %.400s", dev, agent_errmsg());
	return 0;
}

/* Open DEV as AGENT_DM_NAME with KEY; READONLY for normal starts. */
int disk_open(const char *dev, const uint8_t *key, size_t len, int readonly)
{
	char *argv[] = { CRYPTSETUP, "open", "--type", "luks2", "--key-file", "-", "--readonly",
			 (char *)dev, AGENT_DM_NAME, NULL };
	char out[1024];

	if (!readonly)   /* drop "--readonly"; no discards: they would show which blocks hold data */
		memmove(&argv[6], &argv[7], 3 * sizeof(argv[0]));
	if (agent_run(argv, key, len, out, sizeof(out)) == 0)
		return 0;
	if (strstr(out, "No key available"))
		return agent_err("cannot open the encrypted disk %s: the key sealed in this vTPM does not "
				 "open it (the disk and the vTPM belong to different VMs?)", dev);
	return agent_err("cannot open the encrypted disk %s: %.400s", dev, agent_errmsg());
}

/* Close AGENT_DM_NAME if it is open. */
int disk_close(void)
{
	char *const argv[] = { CRYPTSETUP, "close", AGENT_DM_NAME, NULL };

	if (access(AGENT_DM_PATH, F_OK) < 0)
		return 0;
	if (agent_run(argv, NULL, 0, NULL, 0) < 0)
		return agent_err("cannot close the encrypted volume: %.400s", agent_errmsg());
	return 0;
}

/* Block-copy SRC onto DST and flush. */
int disk_copy(const char *src, const char *dst)
{
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
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			agent_err("cannot read the plain disk %s: %s", src, strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
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
	}
	if (fsync(out) < 0) {
		agent_err("cannot flush the encrypted volume: %s", strerror(errno));
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(buf);
	return ret;
}

/* Mount DEV (the opened volume) read-only, nosuid, nodev, noexec at AGENT_MNT. */
int disk_mount(const char *dev)
{
	mkdir("/mnt", 0755);
	mkdir(AGENT_MNT, 0755);
	if (mount(dev, AGENT_MNT, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
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
