/*
 * template.c - what the specialize mode checks inside the VM before any
 * secret is used, and the secrets after (guest/README.md "Specialize"):
 *
 *   1. the host's first line {"pdk":base64,"fsk":base64|null}: the tenant's
 *      shielding data, verified here (proto/pdk: its key protector and the
 *      owner's signature over it) whatever the host claims to have checked,
 *      and the specialization data (proto/fsk);
 *   2. the template device's trailer (proto/vsc_tdisk): its volume signature
 *      catalog, verified (proto/vsc) and matched against the .pdk's volume
 *      ID qualifiers (signer, name, version rule);
 *   3. after the copy, the SHA-256 of exactly the bytes copied against the
 *      signed one: a template the host swapped after its own check differs;
 *   4. the host's second line {"secrets_key":base64}, sent only after the
 *      guest reported "verified": the key that opens the .pdk's secrets.
 *
 * The .pdk and .fsk are parsed by the same proto/ code the tenant and the
 * host run, compiled into the agent.  The secrets key and the decrypted
 * secrets live in this process's locked memory and are cleansed when freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/agent.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/vsc_tdisk.h"
#include "proto/vsc_viq.h"

/* The host's second line: {"secrets_key":"<base64 of 32 bytes>"} and its newline. */
#define SECRETS_LINE_MAX 256

/* The host's message LINE (LEN bytes) as a JSON object with exactly the N NAMES, into *OUT. */
static int parse_message(const char *line, size_t len, const char *const *names, size_t n,
			 const char *what, json_t **out)
{
	json_t *o;

	*out = NULL;
	if (hl_json_parse(line, len, len, &o) < 0)
		return agent_err("the host's %s is not JSON: %s", what, hl_error_last());
	if (hl_json_members_exact(o, names, n, what) < 0) {
		json_decref(o);
		return agent_err("%s", hl_error_last());
	}
	*out = o;
	return 0;
}

/* Decode the base64 string member NAME of O into OUT (it may be a secret: hl_buf_free). */
static int member_base64(const json_t *o, const char *name, const char *what, struct hl_buf *out)
{
	const json_t *v = json_object_get(o, name);

	out->data = NULL;
	out->len = 0;
	if (!json_is_string(v))
		return agent_err("the host's %s: field '%s' is not a base64 string", what, name);
	if (hl_crypto_base64_decode(json_string_value(v), json_string_length(v), out) < 0)
		return agent_err("the host's %s: field '%s': %s", what, name, hl_error_last());
	return 0;
}

/* Read the host's first line and parse the .pdk and .fsk it carries; see agent.h. */
int shielding_receive(struct shielding **out)
{
	static const char *const names[] = { "pdk", "fsk" };
	struct hl_buf pdk = { NULL, 0 }, fsk = { NULL, 0 };
	struct shielding *sd = NULL;
	json_t *msg = NULL;
	char *line = NULL;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	agent_log("waiting for the host's shielding data");
	if (report_read_line(&line, &len, SHIELDING_LINE_MAX, SHIELDING_WAIT_MS) < 0)
		return -1;
	if (parse_message(line, len, names, 2, "shielding data message", &msg) < 0 ||
	    member_base64(msg, "pdk", "shielding data message", &pdk) < 0 ||
	    (!json_is_null(json_object_get(msg, "fsk")) &&
	     member_base64(msg, "fsk", "shielding data message", &fsk) < 0))
		goto out;
	if (!(sd = calloc(1, sizeof(*sd)))) {
		agent_err("out of memory");
		goto out;
	}
	if (hl_pdk_parse(pdk.data, pdk.len, &sd->pdk) < 0) {
		agent_err("%s", hl_error_last());
		goto out;
	}
	if (fsk.data && hl_fsk_parse(fsk.data, fsk.len, &sd->fsk) < 0) {
		agent_err("%s", hl_error_last());
		goto out;
	}
	sd->computer_name = sd->fsk ? hl_fsk_get(sd->fsk, "@ComputerName@") : NULL;
	*out = sd;
	sd = NULL;
	rc = 0;
out:
	shielding_free(sd);
	json_decref(msg);
	hl_buf_free(&pdk);
	hl_buf_free(&fsk);
	explicit_bzero(line, len);
	free(line);
	return rc;
}

/* Verify SD's .pdk: its key protector, then the owner's signature over it. */
int shielding_verify(struct shielding *sd)
{
	if (hl_pdk_verify(sd->pdk, NULL) < 0)
		return agent_err("the shielding data does not verify: %s", hl_error_last());
	agent_log("shielding data %s of owner '%s' verified (%zu qualifiers, policy %s)",
		  sd->pdk->id, sd->pdk->owner, sd->pdk->n_qualifiers, sd->pdk->policy);
	return 0;
}

/* Read LEN bytes of FD at OFF into BUF. */
static int read_at(int fd, const char *dev, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return agent_err("cannot read the template disk %s: %s", dev,
					 n < 0 ? strerror(errno) : "short read");
		done += (size_t)n;
	}
	return 0;
}

/* The template device's signature catalog, verified and matched against SD's qualifiers. */
int template_verify(const char *dev, uint64_t size, const struct shielding *sd,
		    struct template_info *t)
{
	unsigned char tail[HL_TDISK_FOOTER_SIZE], *trailer = NULL;
	const unsigned char *vsc_der = NULL;
	struct hl_tdisk_layout layout;
	struct hl_vsc *vsc = NULL;
	size_t which = 0;
	int fd, rc = -1;

	memset(t, 0, sizeof(*t));
	if ((fd = open(dev, O_RDONLY | O_CLOEXEC)) < 0)
		return agent_err("cannot open the template disk %s: %s", dev, strerror(errno));
	if (size < sizeof(tail)) {
		agent_err("the template disk %s holds %llu bytes: not a protected template", dev,
			  (unsigned long long)size);
		goto out;
	}
	if (read_at(fd, dev, tail, sizeof(tail), size - sizeof(tail)) < 0)
		goto out;
	if (hl_tdisk_footer_parse(tail, sizeof(tail), size, &layout) < 0) {
		agent_err("the template disk %s: %s", dev, hl_error_last());
		goto out;
	}
	if (layout.trailer_bytes > HL_TDISK_TRAILER_MAX || !(trailer = malloc(layout.trailer_bytes))) {
		agent_err("the template disk %s: a trailer of %llu bytes is too large", dev,
			  (unsigned long long)layout.trailer_bytes);
		goto out;
	}
	if (read_at(fd, dev, trailer, layout.trailer_bytes, layout.image_bytes) < 0)
		goto out;
	if (hl_tdisk_trailer_check(trailer, layout.trailer_bytes, &layout, &vsc_der) < 0 ||
	    hl_vsc_parse(vsc_der, layout.vsc_length, &vsc) < 0 || hl_vsc_verify(vsc) < 0) {
		agent_err("the template disk %s: %s", dev, hl_error_last());
		goto out;
	}
	if (vsc->disk_bytes != layout.image_bytes) {
		agent_err("the template disk %s: its trailer says the image has %llu bytes, its "
			  "signature catalog %llu", dev, (unsigned long long)layout.image_bytes,
			  (unsigned long long)vsc->disk_bytes);
		goto out;
	}
	if (hl_pdk_match_template(sd->pdk, vsc, &which) < 0) {
		agent_err("%s", hl_error_last());
		goto out;
	}
	hl_viq_describe(&sd->pdk->qualifiers[which], t->qualifier, sizeof(t->qualifier));
	t->vsc = vsc;
	t->image_bytes = layout.image_bytes;
	vsc = NULL;
	rc = 0;
out:
	close(fd);
	free(trailer);
	hl_vsc_free(vsc);
	return rc;
}

/* The copied bytes' SHA-256 against the signed one. */
int template_check_copy(const struct template_info *t, const unsigned char sha256[32])
{
	if (hl_vsc_check_image(t->vsc, sha256, t->image_bytes) < 0)
		return agent_err("the template disk changed after its signature was checked: %s",
				 hl_error_last());
	agent_log("template image copied; its SHA-256 is the signed one");
	return 0;
}

/* Read the host's secrets key and decrypt SD's secrets with it. */
int shielding_unlock(struct shielding *sd)
{
	static const char *const names[] = { "secrets_key" };
	struct hl_buf key = { NULL, 0 };
	json_t *msg = NULL;
	char *line = NULL;
	size_t len = 0;
	int rc = -1;

	if (report_read_line(&line, &len, SECRETS_LINE_MAX, SHIELDING_WAIT_MS) < 0)
		return -1;
	if (parse_message(line, len, names, 1, "secrets key message", &msg) < 0 ||
	    member_base64(msg, "secrets_key", "secrets key message", &key) < 0)
		goto out;
	if (key.len != HL_PDK_SECRETS_KEY_LEN) {
		agent_err("the host's secrets key has %zu bytes, not %d", key.len,
			  HL_PDK_SECRETS_KEY_LEN);
		goto out;
	}
	if (hl_pdk_decrypt(sd->pdk, key.data, &sd->secrets) < 0) {
		agent_err("cannot open the shielding data's secrets with the host's key: %s",
			  hl_error_last());
		goto out;
	}
	agent_log("secrets opened: %s answer file, %zu other files",
		  sd->secrets->has_answer_file ? "an" : "no", sd->secrets->n_other_files);
	rc = 0;
out:
	hl_buf_free(&key);
	json_decref(msg);
	explicit_bzero(line, len);
	free(line);
	return rc;
}

/* Free SD, cleansing its secrets; NULL-safe. */
void shielding_free(struct shielding *sd)
{
	if (!sd)
		return;
	hl_pdk_secrets_free(sd->secrets);
	hl_pdk_free(sd->pdk);
	hl_fsk_free(sd->fsk);
	free(sd);
}

/* Release T's catalog. */
void template_info_release(struct template_info *t)
{
	hl_vsc_free(t->vsc);
	t->vsc = NULL;
}
