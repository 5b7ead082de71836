/*
 * agent.h - the hgslab guest agent's modules and their contracts.
 *
 * The agent is PID 1 of the shielded VM's initramfs (guest/README.md).  It is
 * split by concept: agent.c (init duties, kernel command line, the run and
 * plain modes, shutdown), provision.c (the modes that make a new volume:
 * provision from a plain disk, specialize from a template), template.c (what
 * specialize checks before any secret: the host's shielding data and the
 * template device's signature catalog), fill.c (the specialization of the
 * copied template: placeholders, answer file), report.c (the virtio-serial
 * channel to the host: one JSON line per event, and the host's lines),
 * seal.c (the disk key in the vTPM), disk.c (cryptsetup, block copy, mount)
 * and workload.c (the tenant workload: SHA-256 of files).
 *
 * Errors: every function that can fail returns 0 or -1 and, on -1, has set
 * one message with agent_err() (lowercase, the problem first, then why and
 * what to do).  The caller reads it with agent_errmsg() and reports it.
 */
#ifndef HGSLAB_GUEST_AGENT_H
#define HGSLAB_GUEST_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proto/fsk.h"
#include "proto/pdk.h"
#include "proto/vsc.h"

#define AGENT_NAME "hgslab-agent"

/*
 * The disk key drawn from and sealed in the vTPM: the LUKS2 volume key
 * itself, 512 bits (aes-xts-plain64 with two AES-256 keys).  Guests
 * provisioned before sealed a 256-bit keyslot passphrase instead
 * (AGENT_LEGACY_KEY_LEN); disk_open() still opens those.
 */
#define AGENT_KEY_LEN 64
#define AGENT_LEGACY_KEY_LEN 32

/* The disks by virtio serial (the launcher sets them); agent.c and provision.c give fallbacks. */
#define AGENT_SERIAL_PLAIN "hgslab-plain"
#define AGENT_SERIAL_DISK "hgslab-disk"
#define AGENT_SERIAL_TEMPLATE "hgslab-template"

/* Where the opened LUKS2 volume appears and where it is mounted. */
#define AGENT_DM_NAME "hgslab-tenant"
#define AGENT_DM_PATH "/dev/mapper/" AGENT_DM_NAME
#define AGENT_MNT "/mnt/tenant"

/* agent.c: set the error message; always returns -1. */
int agent_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* agent.c: the last message set by agent_err(). */
const char *agent_errmsg(void);
/* agent.c: a line on the console (diagnostics only: never a key or tenant data). */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* agent.c: milliseconds since boot (CLOCK_BOOTTIME). */
long agent_uptime_ms(void);
/* agent.c: wait until PATH exists, at most TIMEOUT_MS; 0 when it does. */
int agent_wait_path(const char *path, int timeout_ms);
/* agent.c: wait for the device DEV; a clear error naming WHAT when it does not appear. */
int agent_need_device(const char *dev, const char *what);
struct seal;
/* agent.c: open the vTPM (/dev/tpm0), with the reason a launcher needs when there is none. */
int agent_open_vtpm(struct seal **s);

/*
 * report.c: the channel to the host.  report_open() finds the virtio-serial
 * port named NAME under /sys/class/virtio-ports (waiting at most WAIT_MS for
 * it) and opens it; without it events go to the console only.  report_event()
 * sends {"event":EVENT, ...FIELDS} as one line, adds "uptime_ms", and takes
 * ownership of FIELDS (may be NULL).  A host that does not read is waited
 * for, boundedly, then the event is dropped.
 */
int report_open(const char *name, int wait_ms);
void report_event(const char *event, json_t *fields);
/* report.c: {"event":"error","stage":STAGE,"reason":REASON}. */
void report_error(const char *stage, const char *reason);
void report_close(void);
/*
 * report.c: read one line the host wrote on the channel, at most MAX bytes
 * (its '\n' excluded), waiting at most TIMEOUT_MS, into *LINE (malloc'd,
 * NUL-terminated; the caller cleanses and frees it: it may be a secret)
 * and *LEN.  -1 when the line is longer, the time runs out or the host
 * closes the channel.
 */
int report_read_line(char **line, size_t *len, size_t max, int timeout_ms);

/*
 * seal.c: the disk key in the vTPM.  The key is a TPM2 sealed data object
 * (KEYEDHASH, fixedTPM|fixedParent|userWithAuth|noDA) created under an ECC
 * P-256 storage primary of the owner hierarchy and made persistent at
 * SEAL_HANDLE with TPM2_EvictControl.  Every command that carries the key
 * (GetRandom, Create, Unseal) runs in a salted HMAC session with parameter
 * encryption, so the key never crosses the TPM interface in the clear.
 */
#define SEAL_HANDLE 0x81000100u
/* Open the vTPM at DEV (the kernel's resource manager, /dev/tpmrm0). */
int seal_open(struct seal **out, const char *dev);
/* Draw LEN fresh random bytes from the vTPM (TPM2_GetRandom). */
int seal_random(struct seal *s, uint8_t *buf, size_t len);
/* Remove the key at SEAL_HANDLE, if any: the vTPM then says "not provisioned". */
int seal_forget(struct seal *s);
/* Seal KEY and persist it at SEAL_HANDLE, replacing what was there. */
int seal_store(struct seal *s, const uint8_t *key, size_t len);
/* Unseal the key at SEAL_HANDLE into KEY (room for CAP bytes); its size into *LEN. */
int seal_load(struct seal *s, uint8_t *key, size_t cap, size_t *len);
/* The most a sealed data object holds (TPM2 MAX_SYM_DATA). */
#define SEAL_MAX_LEN 128
void seal_close(struct seal *s);

/*
 * disk.c: the tenant's disks.  A disk is found by its virtio serial
 * (/sys/block/vdX/serial), else by the fallback name given.  LUKS2 is done
 * in-process with libcryptsetup: the key is never in a file, a pipe or argv.
 */
/* PBKDF2-SHA256 iterations of the volume-key digest (the key is random: disk.c says why). */
#define DISK_PBKDF2_ITERATIONS 1000
/*
 * disk_format(): LUKS2 aes-xts-plain64 with KEY (AGENT_KEY_LEN bytes) as the
 * volume key, no keyslot.  disk_open(): KEY of AGENT_KEY_LEN bytes is the
 * volume key; of AGENT_LEGACY_KEY_LEN bytes, the passphrase of a keyslot.
 */
int disk_find(const char *serial, const char *fallback, char *dev, size_t devlen);
int disk_size(const char *dev, uint64_t *size);
int disk_is_luks(const char *dev);
int disk_format(const char *dev, const uint8_t *key, size_t len);
int disk_open(const char *dev, const uint8_t *key, size_t len, int readonly);
int disk_close(void);
/*
 * Copy the first BYTES bytes of SRC onto DST (block devices), then fsync;
 * with SHA256 (may be NULL) the SHA-256 of exactly the bytes written.
 */
int disk_copy(const char *src, const char *dst, uint64_t bytes, unsigned char sha256[32]);
/* Zero DEV's LUKS2 header area (DEV closed): the volume can no longer be opened. */
int disk_wipe_header(const char *dev);
/* Mount DEV at AGENT_MNT (ext4, nosuid, nodev, noexec), read-only unless WRITABLE. */
int disk_mount(const char *dev, int writable);
int disk_umount(void);
/* Log libcryptsetup's debug messages (no key material) on the console, timed. */
void disk_debug(void);

/*
 * agent.c: child programs (busybox modprobe).  agent_spawn() starts ARGV
 * (absolute path; stdin /dev/null, stdout+stderr on a pipe) and returns at
 * once; agent_finish() collects its output (the tail, into OUT, may be NULL)
 * and its exit status: 0 when it exited 0, else -1 with its last line as the
 * reason.  agent_run() is both.
 */
struct agent_proc {
	int pid;
	int fd;
	const char *name;
};
int agent_spawn(char *const argv[], struct agent_proc *p);
int agent_finish(struct agent_proc *p, char *out, size_t outlen);
int agent_run(char *const argv[], char *out, size_t outlen);

/*
 * workload.c: the tenant workload.  With NAMES (comma-separated paths
 * relative to the tenant disk) hash those files, else every regular file on
 * the disk (sorted, lost+found skipped, at most WORKLOAD_MAX_FILES).  *OUT
 * becomes {"sha256":{"path":"hex",...},"files":N}.
 */
#define WORKLOAD_MAX_FILES 256
int workload_run(const char *root, const char *names, json_t **out);

/*
 * template.c: what the specialize mode checks before any secret, and the
 * secrets after.  shielding_receive() reads the host's first line
 * {"pdk":base64,"fsk":base64|null} (at most SHIELDING_LINE_MAX bytes,
 * within SHIELDING_WAIT_MS) and parses both files (proto/pdk, proto/fsk);
 * shielding_verify() checks the .pdk (its key protector and the owner's
 * signature over it); template_verify() reads the signature catalog from
 * the trailer of the template device DEV (SIZE bytes, proto/vsc_tdisk),
 * verifies it and matches it against the .pdk's qualifiers into *T;
 * template_check_copy() compares the SHA-256 of the bytes copied with the
 * signed one; shielding_unlock() reads the host's second line
 * {"secrets_key":base64} and decrypts the .pdk's secrets into SD->secrets.
 * Each -1 has set agent_err().
 */
#define SHIELDING_LINE_MAX ((HL_PDK_MAX_SIZE + HL_FSK_MAX_SIZE) / 3 * 4 + 1024)
#define SHIELDING_WAIT_MS 60000
struct shielding {
	struct hl_pdk *pdk;
	struct hl_fsk *fsk;                /* NULL: no specialization data */
	struct hl_pdk_secrets *secrets;    /* after shielding_unlock() */
	const char *computer_name;         /* the .fsk's @ComputerName@, or NULL */
};
struct template_info {
	struct hl_vsc *vsc;                /* verified */
	uint64_t image_bytes;
	char qualifier[256];               /* the qualifier that matched, described */
};
int shielding_receive(struct shielding **out);
int shielding_verify(struct shielding *sd);
int template_verify(const char *dev, uint64_t size, const struct shielding *sd,
		    struct template_info *t);
int template_check_copy(const struct template_info *t, const unsigned char sha256[32]);
int shielding_unlock(struct shielding *sd);
void shielding_free(struct shielding *sd);
void template_info_release(struct template_info *t);

/*
 * provision.c: the modes that make the VM's volume.  Each sets *STAGE to
 * the step under way (for the error event) and, on success, *FIELDS to the
 * report ("provisioned").  PROVISION copies the plain disk; SPECIALIZE
 * copies a template that the host's shielding data trusts and specializes
 * it (guest/README.md "Specialize"); with KEEP_OPEN (hgslab.then=run) its
 * volume is left open read-only at AGENT_DM_PATH for run mode.
 */
int provision(const char **stage, json_t **fields);
int specialize(const char **stage, json_t **fields, int keep_open);

/*
 * fill.c: specialization of the copied template on the mounted volume
 * (proto/fsk does the formats and the substitution).  fill_generalized()
 * fills the placeholders of FSK (NULL: none) in every file
 * /.hgslab/generalized.json lists, under ROOTFD (the mounted volume's
 * root), each at most FILL_FILE_MAX bytes; a template without that list has
 * nothing to fill.  *FILES and *REPLACED count what was done.
 */
#define FILL_FILE_MAX (1u << 20)
#define FILL_NAME_MAX 255
int fill_generalized(int rootfd, const struct hl_fsk *fsk, size_t *files, size_t *replaced);
/* Write LEN bytes of DATA as /.hgslab/NAME or /.hgslab/DIR/NAME (DIR may be NULL), mode 0600. */
int fill_write_secret(int rootfd, const char *dir, const char *name, const void *data, size_t len);
/* The first line of ROOT/etc/hostname into BUF when printable: 1, else 0 (BUF ""). */
int fill_computer_name(const char *root, char *buf, size_t size);

#endif
