/*
 * provision.c - the guest modes that make a VM's volume (guest/README.md):
 *
 *   hgslab.mode=provision   the tenant's shielding boot: the plain disk
 *                           copied into a fresh LUKS2 volume;
 *   hgslab.mode=specialize  a new shielded VM on a guarded host: a signed
 *                           template disk copied into a fresh LUKS2 volume
 *                           and specialized with the shielding data's
 *                           secrets (Initialize-ShieldedVM).
 *
 * Both draw a fresh volume key from the vTPM, format and open the VM's disk
 * with it, copy, close, and seal the key into the vTPM last: a run cut short
 * leaves a vTPM without a key, i.e. "not provisioned".
 *
 * Specialize takes the host's lines on the agent channel (report.c) in a
 * fixed order: the shielding data (.pdk, .fsk) first, checked with the
 * template device's signature catalog against the .pdk's qualifiers
 * (template.c) before the disk is touched; the template image is copied
 * while its bytes are hashed, and a hash that is not the signed one erases
 * the new volume's header (a host that swapped the template after its own
 * check is caught here); only then is `verified` reported and the secrets
 * key asked for.  The secrets are decrypted, the answer file and the
 * placeholders filled in (fill.c) on the mounted volume, and `provisioned`
 * names the computer.  With hgslab.then=run (new-shielded-vm --start) the
 * sealed volume is opened again, read-only, with the key still in hand (no
 * unseal, no second boot) and the agent goes on as in run mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/agent.h"
#include "lib/err.h"

/* A new volume under way: the vTPM, the fresh volume key, the disk. */
struct volume {
	struct seal *s;
	uint8_t key[AGENT_KEY_LEN];
	const char *disk;
	uint64_t bytes;          /* the open volume's size */
	int formatted;           /* the disk holds the new LUKS2 header */
};

/*
 * Draw a fresh key (any older one removed first), LUKS2-format V's disk
 * with it and open it read-write; the volume must hold NEED bytes.
 */
static int volume_create(struct volume *v, uint64_t need, const char **stage)
{
	*stage = "tpm";
	if (agent_open_vtpm(&v->s) < 0)
		return -1;
	*stage = "seal";
	/* An older key goes first: a provisioning cut short leaves an unprovisioned VM, not a stale key. */
	if (seal_forget(v->s) < 0 || seal_random(v->s, v->key, sizeof(v->key)) < 0)
		return -1;
	agent_log("volume key drawn from the vTPM; formatting %s", v->disk);
	*stage = "format";
	if (disk_format(v->disk, v->key, sizeof(v->key)) < 0)
		return -1;
	v->formatted = 1;
	*stage = "open";
	if (disk_open(v->disk, v->key, sizeof(v->key), 0) < 0)
		return -1;
	*stage = "copy";
	if (disk_size(AGENT_DM_PATH, &v->bytes) < 0)
		return -1;
	if (v->bytes < need)
		return agent_err("the LUKS2 volume holds %llu bytes, the image has %llu",
				 (unsigned long long)v->bytes, (unsigned long long)need);
	return 0;
}

/* Close V's volume and seal its key into the vTPM (persisted at SEAL_HANDLE). */
static int volume_seal(struct volume *v, const char **stage)
{
	*stage = "close";
	if (disk_close() < 0)
		return -1;
	agent_log("volume written and closed; sealing the key");
	*stage = "seal";
	if (seal_store(v->s, v->key, sizeof(v->key)) < 0)
		return -1;
	sync();
	return 0;
}

/* Forget V's key, close its volume if open (unless KEEP_OPEN), and the vTPM. */
static void volume_release(struct volume *v, int keep_open)
{
	if (!keep_open) {
		disk_umount();
		disk_close();
	}
	explicit_bzero(v->key, sizeof(v->key));
	seal_close(v->s);
	v->s = NULL;
}

/* The "provisioned" report's common fields for V and an image of BYTES bytes. */
static json_t *volume_fields(const struct volume *v, uint64_t bytes)
{
	char handle[16];

	snprintf(handle, sizeof(handle), "0x%08x", SEAL_HANDLE);
	return json_pack("{s:s, s:I, s:I, s:s, s:s}", "disk", v->disk, "bytes", (json_int_t)bytes,
			 "volume_bytes", (json_int_t)v->bytes, "cipher", "aes-xts-plain64",
			 "sealed_at", handle);
}

/* Find the disk with SERIAL (else FALLBACK), wait for it and get its size. */
static int find_disk(const char *serial, const char *fallback, const char *what, char *dev,
		     size_t len, uint64_t *size)
{
	if (disk_find(serial, fallback, dev, len) < 0 || agent_need_device(dev, what) < 0)
		return -1;
	return disk_size(dev, size);
}

/* The VM's disk must hold an image of IMAGE bytes and the LUKS2 header. */
static int disk_room(const char *disk, uint64_t size, uint64_t image, const char *what)
{
	if (size < image + (16u << 20))
		return agent_err("the VM's disk %s is too small: %llu bytes for a %llu-byte %s "
				 "(it needs its size + 16 MiB for the LUKS2 header)", disk,
				 (unsigned long long)size, (unsigned long long)image, what);
	return 0;
}

/*
 * Provisioning: any older key removed from the vTPM, a fresh key drawn from
 * it, LUKS2 on the VM's disk, the plain disk copied in, the key sealed and
 * persisted last (so a VM killed before that holds no key and is simply
 * provisioned again).  *STAGE names the step that failed.
 */
int provision(const char **stage, json_t **fields)
{
	static struct volume v;   /* static: the key is not left on a stack */
	char plain[64], disk[64];
	uint64_t plain_size, disk_size_b;
	int rc = -1;

	memset(&v, 0, sizeof(v));
	*stage = "devices";
	if (find_disk(AGENT_SERIAL_PLAIN, "vda", "the plain disk", plain, sizeof(plain),
		      &plain_size) < 0 ||
	    find_disk(AGENT_SERIAL_DISK, "vdb", "the VM's disk", disk, sizeof(disk), &disk_size_b) < 0 ||
	    disk_room(disk, disk_size_b, plain_size, "plain disk") < 0)
		return -1;
	v.disk = disk;
	if (volume_create(&v, plain_size, stage) < 0)
		goto out;
	agent_log("LUKS2 volume open; copying %s into it", plain);
	if (disk_copy(plain, AGENT_DM_PATH, plain_size, NULL) < 0 || volume_seal(&v, stage) < 0)
		goto out;
	*fields = volume_fields(&v, plain_size);
	rc = 0;
out:
	volume_release(&v, 0);
	return rc;
}

/* Write SD's answer file (its placeholders filled in) and other files on the volume at ROOTFD. */
static int write_secrets(int rootfd, const struct shielding *sd)
{
	const struct hl_pdk_secrets *sec = sd->secrets;
	struct hl_buf answer = { NULL, 0 };
	size_t i;
	int rc = -1;

	if (sec->has_answer_file) {
		const struct hl_buf *in = &sec->answer_file.content;

		if (sd->fsk && hl_fsk_substitute(sd->fsk, in->data, in->len, &answer, NULL) < 0) {
			agent_err("cannot fill in the answer file: %s", hl_error_last());
			goto out;
		}
		if (sd->fsk)
			in = &answer;
		if (fill_write_secret(rootfd, NULL, sec->answer_file.name, in->data, in->len) < 0)
			goto out;
	}
	for (i = 0; i < sec->n_other_files; i++)
		if (fill_write_secret(rootfd, "files", sec->other_files[i].name,
				      sec->other_files[i].content.data,
				      sec->other_files[i].content.len) < 0)
			goto out;
	rc = 0;
out:
	hl_buf_free(&answer);
	return rc;
}

/*
 * Specialize the mounted volume: the placeholders of SD's specialization
 * data in the generalized files, the answer file and the other files.
 * *FILES and *REPLACED count the filled files and placeholders.
 */
static int specialize_volume(const struct shielding *sd, size_t *files, size_t *replaced)
{
	int rootfd, rc;

	if ((rootfd = open(AGENT_MNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return agent_err("cannot open the mounted volume %s: %s", AGENT_MNT, strerror(errno));
	rc = fill_generalized(rootfd, sd->fsk, files, replaced);
	if (rc == 0)
		rc = write_secrets(rootfd, sd);
	if (rc == 0 && syncfs(rootfd) < 0)
		rc = agent_err("cannot flush the volume: %s", strerror(errno));
	close(rootfd);
	return rc;
}

/*
 * Specialize: a new shielded VM from a template disk, the host's shielding
 * data and its secrets key (see the file's head).  *STAGE names the step
 * that failed; every failure after the format erases the new volume's
 * header, so a refused template leaves nothing that could ever be opened.
 */
int specialize(const char **stage, json_t **fields, int keep_open)
{
	static struct volume v;   /* static: the key is not left on a stack */
	struct shielding *sd = NULL;
	struct template_info t;
	unsigned char sha[32];
	char tdev[64], disk[64], name[FILL_NAME_MAX + 1];
	uint64_t tsize, dsize;
	size_t files = 0, replaced = 0;
	int rc = -1;

	memset(&v, 0, sizeof(v));
	memset(&t, 0, sizeof(t));
	*stage = "devices";
	if (find_disk(AGENT_SERIAL_TEMPLATE, "vda", "the template disk", tdev, sizeof(tdev),
		      &tsize) < 0 ||
	    find_disk(AGENT_SERIAL_DISK, "vdb", "the VM's disk", disk, sizeof(disk), &dsize) < 0)
		return -1;
	*stage = "channel";
	if (shielding_receive(&sd) < 0)
		goto out;
	*stage = "pdk";
	if (shielding_verify(sd) < 0)
		goto out;
	*stage = "template";
	if (template_verify(tdev, tsize, sd, &t) < 0)
		goto out;
	agent_log("template '%s' %s verified (qualifier %s); copying it", t.vsc->name,
		  t.vsc->disk_version_text, t.qualifier);
	*stage = "devices";
	if (disk_room(disk, dsize, t.image_bytes, "template image") < 0)
		goto out;
	v.disk = disk;
	if (volume_create(&v, t.image_bytes, stage) < 0)
		goto out;
	if (disk_copy(tdev, AGENT_DM_PATH, t.image_bytes, sha) < 0)
		goto out;
	*stage = "template";
	if (template_check_copy(&t, sha) < 0)
		goto out;
	report_event("verified", json_pack("{s:s, s:s, s:s, s:I, s:s}", "template", t.vsc->name,
					   "version", t.vsc->disk_version_text,
					   "disk_sha256", t.vsc->disk_sha256_hex,
					   "disk_bytes", (json_int_t)t.image_bytes,
					   "qualifier", t.qualifier));
	*stage = "secrets";
	if (shielding_unlock(sd) < 0)
		goto out;
	*stage = "mount";
	if (disk_mount(AGENT_DM_PATH, 1) < 0)
		goto out;
	*stage = "specialize";
	if (specialize_volume(sd, &files, &replaced) < 0)
		goto out;
	if (sd->computer_name)
		snprintf(name, sizeof(name), "%s", sd->computer_name);
	else
		fill_computer_name(AGENT_MNT, name, sizeof(name));
	if (disk_umount() < 0 || volume_seal(&v, stage) < 0)
		goto out;
	/* --start: the sealed volume opened again read-only, as a start opens it */
	*stage = "open";
	if (keep_open && disk_open(disk, v.key, sizeof(v.key), 1) < 0)
		goto out;
	*fields = volume_fields(&v, t.image_bytes);
	if (*fields) {
		json_object_set_new(*fields, "template", json_string(t.vsc->name));
		json_object_set_new(*fields, "template_version", json_string(t.vsc->disk_version_text));
		json_object_set_new(*fields, "specialized_files", json_integer((json_int_t)files));
		json_object_set_new(*fields, "placeholders", json_integer((json_int_t)replaced));
		json_object_set_new(*fields, "answer_file", sd->secrets->has_answer_file ?
				    json_string(sd->secrets->answer_file.name) : json_null());
		json_object_set_new(*fields, "computer_name", name[0] ? json_string(name) : json_null());
	}
	rc = 0;
out:
	if (rc < 0 && v.formatted) {
		/* keep the reason of the failure, not of the cleanup */
		char why[512];

		snprintf(why, sizeof(why), "%s", agent_errmsg());
		disk_umount();
		disk_close();
		if (disk_wipe_header(disk) == 0)
			agent_log("the new volume's LUKS2 header is erased");
		agent_err("%s", why);
	}
	volume_release(&v, rc == 0 && keep_open);
	shielding_free(sd);
	template_info_release(&t);
	return rc;
}
