/*
 * shielding.c - the tenant's shielding data and specialization data files
 * (see shielding.h): reading the files a .pdk is made of (the owner and
 * guardians from the tenant directory, tenant/guardian.h; the .viq files;
 * the answer file and other files), creating it with proto/pdk, opening its
 * secrets with the owner's key, reading the tenant's format files, and
 * writing a .fsk from values and a file of lines.
 *
 * Secret file contents are read into buffers that are cleansed when freed
 * and go nowhere but hl_pdk_create().
 */
#include "tenant/shielding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/names.h"
#include "tenant/guardian.h"

/* Largest file of "@Key@=value" lines read. */
#define FSK_LINES_MAX ((size_t)256 << 10)

/* ---- reading format files ---- */

/* The formats read_format() reads. */
enum format {
	FORMAT_PDK,
	FORMAT_VSC,
	FORMAT_VIQ,
	FORMAT_FSK,
};

/* Read PATH (at most the format's size cap) and parse it as KIND into OUT; -1 naming PATH. */
static int read_format(const char *path, enum format kind, void *out)
{
	static const size_t max[] = { HL_PDK_MAX_SIZE, HL_VSC_MAX_SIZE, HL_VIQ_MAX_SIZE,
				      HL_FSK_MAX_SIZE };
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if (hl_file_read(path, max[kind], &buf, &len) < 0)
		return -1;
	switch (kind) {
	case FORMAT_PDK:
		rc = hl_pdk_parse(buf, len, out);
		break;
	case FORMAT_VSC:
		rc = hl_vsc_parse(buf, len, out);
		break;
	case FORMAT_VIQ:
		rc = hl_viq_parse(buf, len, out);
		break;
	case FORMAT_FSK:
		rc = hl_fsk_parse(buf, len, out);
		break;
	}
	free(buf);
	return rc < 0 ? hl_error_wrap("'%s'", path) : 0;
}

/* Read and parse a .pdk. */
int hl_shielding_read_pdk(const char *path, struct hl_pdk **out)
{
	*out = NULL;
	return read_format(path, FORMAT_PDK, out);
}

/* Read and parse a .vsc. */
int hl_shielding_read_vsc(const char *path, struct hl_vsc **out)
{
	*out = NULL;
	return read_format(path, FORMAT_VSC, out);
}

/* Read and parse a .viq. */
int hl_shielding_read_viq(const char *path, struct hl_viq *out)
{
	memset(out, 0, sizeof(*out));
	return read_format(path, FORMAT_VIQ, out);
}

/* Read and parse a .fsk. */
int hl_shielding_read_fsk(const char *path, struct hl_fsk **out)
{
	*out = NULL;
	return read_format(path, FORMAT_FSK, out);
}

/* ---- new-shielding-data-file ---- */

/* Read secret file PATH into F->content (cleansed when freed) under NAME (WHAT names it). */
static int read_secret(const char *path, const char *name, const char *what,
		       struct hl_pdk_file *f)
{
	char *buf = NULL;
	size_t len = 0;

	if (hl_pdk_file_name_check(name, what) < 0)
		return -1;
	snprintf(f->name, sizeof(f->name), "%s", name);
	if (hl_file_read(path, HL_PDK_FILE_MAX, &buf, &len) < 0)
		return hl_error_wrap("the %s", what);
	f->content.data = (unsigned char *)buf;
	f->content.len = len;
	return 0;
}

/* Free what read_secret read into the N files of S. */
static void secrets_release(struct hl_pdk_secrets *s)
{
	size_t i;

	hl_buf_free(&s->answer_file.content);
	for (i = 0; i < s->n_other_files; i++)
		hl_buf_free(&s->other_files[i].content);
	free(s->other_files);
}

/* The base name of PATH. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* New-ShieldingDataFile. */
int hl_shielding_new(const struct hl_shielding_args *a, struct hl_pdk **out)
{
	struct hl_guardian *owner = NULL, **gs = NULL;
	struct hl_kp_guardian *kg = NULL;
	struct hl_pdk_secrets secrets;
	struct hl_viq *quals = NULL;
	struct hl_pdk_spec spec;
	struct hl_kp_owner ko;
	struct hl_buf bytes = { NULL, 0 };
	size_t i, loaded = 0;
	int rc = -2, ex;

	if (out)
		*out = NULL;
	memset(&secrets, 0, sizeof(secrets));
	if (hl_pdk_policy_check(a->policy) < 0)
		goto out;
	if (a->n_qualifiers == 0) {
		hl_error("give at least one --volume-id-qualifier FILE (make one with `hgslab tenant "
			 "new-volume-id-qualifier`)");
		goto out;
	}
	ex = a->force ? 0 : hl_file_exists(a->out);
	if (ex != 0) {
		if (ex > 0)
			hl_error("'%s' exists: give --force to replace it", a->out);
		rc = ex < 0 ? -1 : -2;
		goto out;
	}
	quals = calloc(a->n_qualifiers, sizeof(*quals));
	gs = calloc(a->n_guardians + 1, sizeof(*gs));
	kg = calloc(a->n_guardians + 1, sizeof(*kg));
	secrets.other_files = calloc(a->n_other + 1, sizeof(*secrets.other_files));
	if (!quals || !gs || !kg || !secrets.other_files) {
		hl_error("out of memory");
		rc = -1;
		goto out;
	}
	for (i = 0; i < a->n_qualifiers; i++)
		if (hl_shielding_read_viq(a->qualifier_files[i], &quals[i]) < 0)
			goto out;
	if (a->answer_file) {
		if (read_secret(a->answer_file, base_name(a->answer_file), "answer file",
				&secrets.answer_file) < 0)
			goto out;
		secrets.has_answer_file = 1;
	}
	for (i = 0; i < a->n_other; i++) {
		if (read_secret(a->other_paths[i], a->other_names[i], "other file",
				&secrets.other_files[i]) < 0)
			goto out;
		secrets.n_other_files = i + 1;
	}
	rc = -1;
	if (hl_guardian_load(a->dir, a->owner, HL_GUARDIAN_LOAD_KEYS, &owner) < 0) {
		hl_error_wrap("owner");
		goto out;
	}
	for (i = 0; i < a->n_guardians; i++, loaded++) {
		if (hl_guardian_load(a->dir, a->guardians[i], 0, &gs[i]) < 0)
			goto out;
		hl_guardian_as_kp(gs[i], &kg[i]);
	}
	hl_guardian_as_owner(owner, &ko);
	memset(&spec, 0, sizeof(spec));
	spec.owner = &ko;
	spec.guardians = kg;
	spec.n_guardians = a->n_guardians;
	spec.kp_flags = a->kp_flags;
	spec.policy = a->policy;
	spec.qualifiers = quals;
	spec.n_qualifiers = a->n_qualifiers;
	spec.secrets = &secrets;
	spec.created = a->created;
	if (hl_pdk_create(&spec, &bytes, NULL) < 0)
		goto out;
	if (hl_file_write(a->out, bytes.data, bytes.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (out && hl_pdk_parse(bytes.data, bytes.len, out) < 0)
		goto out;
	rc = 0;
out:
	secrets_release(&secrets);
	hl_buf_free(&bytes);
	for (i = 0; gs && i < loaded; i++)
		hl_guardian_free(gs[i]);
	free(gs);
	free(kg);
	free(quals);
	hl_guardian_free(owner);
	return rc;
}

/* The secrets of PDK with the owner's key from DIR. */
int hl_shielding_open_secrets(const char *dir, const struct hl_pdk *pdk,
			      struct hl_pdk_secrets **out)
{
	struct hl_guardian *owner = NULL;
	struct hl_buf tk = { NULL, 0 };
	int rc = -1;

	*out = NULL;
	if (hl_guardian_find(dir, pdk->kp->owner_signing_thumbprint, 1, HL_GUARDIAN_LOAD_KEYS,
			     &owner) < 0) {
		hl_error("shielding data %s is owned by '%s' (signing certificate %s), which is not "
			 "a guardian with private keys in '%s'", pdk->id, pdk->owner,
			 pdk->kp->owner_signing_thumbprint, dir);
		goto out;
	}
	if (hl_pdk_verify(pdk, owner->signing_thumbprint) < 0 ||
	    hl_kp_unwrap_entry(&pdk->kp->entries[0], owner->encryption_key, &tk) < 0 ||
	    hl_pdk_decrypt_tk(pdk, tk.data, tk.len, out) < 0)
		goto out;
	rc = 0;
out:
	hl_buf_free(&tk);
	hl_guardian_free(owner);
	return rc;
}

/* ---- new-specialization-data-file ---- */

/* Add KEY = VALUE to the N values of V (capacity CAP), refusing a key given twice. */
static int fsk_add(struct hl_fsk_value *v, size_t *n, size_t cap, const char *key,
		   const char *value)
{
	size_t i;

	if (*n >= cap)
		return hl_error("more than %d values", HL_FSK_MAX_VALUES);
	if (hl_fsk_key_check(key) < 0 || hl_fsk_value_check(key, value) < 0)
		return -1;
	for (i = 0; i < *n; i++)
		if (strcmp(v[i].key, key) == 0)
			return hl_error("placeholder %s is given twice", key);
	snprintf(v[*n].key, sizeof(v[*n].key), "%s", key);
	v[*n].value = strdup(value);
	if (!v[*n].value)
		return hl_error("out of memory");
	(*n)++;
	return 0;
}

/* Add the "@Key@=value" lines of TEXT (LEN bytes) from file FROM. */
static int fsk_add_lines(struct hl_fsk_value *v, size_t *n, size_t cap, char *text,
			 const char *from)
{
	char *line = text, *next, *eq;
	size_t lineno = 0;

	for (; line && *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return hl_error("'%s' line %zu: give @Key@=value", from, lineno);
		*eq = '\0';
		if (fsk_add(v, n, cap, line, eq + 1) < 0)
			return hl_error_wrap("'%s' line %zu", from, lineno);
	}
	return 0;
}

/* New-ShieldedVMSpecializationDataFile. */
int hl_shielding_new_fsk(const char *const *keys, const char *const *values, size_t n,
			 const char *from, const char *out, int force, size_t *n_values)
{
	struct hl_fsk_value *v = NULL;
	struct hl_buf bytes = { NULL, 0 };
	size_t count = 0, i;
	char *text = NULL;
	int rc = -2, ex;

	*n_values = 0;
	ex = force ? 0 : hl_file_exists(out);
	if (ex != 0) {
		if (ex > 0)
			hl_error("'%s' exists: give --force to replace it", out);
		return ex < 0 ? -1 : -2;
	}
	v = calloc(HL_FSK_MAX_VALUES + 1, sizeof(*v));
	if (!v) {
		hl_error("out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (fsk_add(v, &count, HL_FSK_MAX_VALUES, keys[i], values[i]) < 0)
			goto out;
	if (from && (hl_file_read(from, FSK_LINES_MAX, &text, NULL) < 0 ||
		     fsk_add_lines(v, &count, HL_FSK_MAX_VALUES, text, from) < 0))
		goto out;
	if (count == 0) {
		hl_error("no values given: give --value @Key@=value or --from FILE");
		goto out;
	}
	if (hl_fsk_make(v, count, &bytes) < 0)
		goto out;
	rc = -1;
	if (hl_file_write(out, bytes.data, bytes.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	*n_values = count;
	rc = 0;
out:
	for (i = 0; i < count; i++)
		free(v[i].value);
	free(v);
	free(text);
	hl_buf_free(&bytes);
	return rc;
}
