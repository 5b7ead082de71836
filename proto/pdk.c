/*
 * pdk.c - shielding data (see pdk.h and docs/templates.md): creating a .pdk
 * (a fresh key protector, the secrets sealed with AES-256-GCM under a key
 * HKDF derives from its TK, the body signed by the owner), parsing one
 * strictly, verifying both signatures, deriving the secrets key, decrypting
 * the secrets, and matching a template against its volume ID qualifiers.
 * The tenant, the guarded host and the guest agent all go through here.
 *
 * JSON is jansson (lib/json), crypto OpenSSL (lib/crypto); secrets live in
 * hl_buf buffers that are cleansed when freed, and nothing here touches the
 * file system or prints.
 */
#include "proto/pdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"

/* ---- names and checks ---- */

/* A secret file name: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'. */
int hl_pdk_file_name_check(const char *name, const char *what)
{
	size_t n = name ? strlen(name) : 0, i;
	int ok = n > 0 && n < HL_PDK_FILE_NAME_SIZE && name[0] != '.';

	for (i = 0; ok && i < n; i++) {
		char c = name[i];

		ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		     c == '.' || c == '_' || c == '-';
	}
	if (!ok)
		return hl_error("bad %s name '%.80s': use 1 to %d of A-Z a-z 0-9 . _ - (not starting "
				"with '.')", what, name ? name : "", HL_PDK_FILE_NAME_SIZE - 1);
	return 0;
}

/* "shielded" or "encryption-supported". */
int hl_pdk_policy_check(const char *policy)
{
	if (policy && (strcmp(policy, HL_PDK_POLICY_SHIELDED) == 0 ||
		       strcmp(policy, HL_PDK_POLICY_ENCRYPTION_SUPPORTED) == 0))
		return 0;
	return hl_error("bad policy '%.40s': give shielded or encryption-supported",
			policy ? policy : "");
}

/* 0 when the LEN bytes at P are UTF-8 text without NUL (a JSON string can hold them). */
static int text_check(const unsigned char *p, size_t len, const char *what)
{
	json_t *s;

	if (len && memchr(p, '\0', len))
		return hl_error("the %s holds a NUL byte: it must be UTF-8 text", what);
	s = json_stringn((const char *)p, len);
	if (!s)
		return hl_error("the %s is not UTF-8 text", what);
	json_decref(s);
	return 0;
}

/* ---- the secrets key ---- */

/* HKDF-SHA256(TK, salt = id, info). */
int hl_pdk_secrets_key(const void *tk, size_t tk_len, const char *pdk_id,
		       unsigned char key[HL_PDK_SECRETS_KEY_LEN])
{
	if (!tk || tk_len != HL_KP_TK_LEN)
		return hl_error("cannot derive the secrets key: the transport key is %zu bytes, "
				"not %d", tk_len, HL_KP_TK_LEN);
	if (!hl_crypto_hex_is(pdk_id, HL_KP_ID_SIZE - 1, 0))
		return hl_error("cannot derive the secrets key: bad shielding data id");
	return hl_crypto_hkdf_sha256(tk, tk_len, pdk_id, HL_KP_ID_SIZE - 1, HL_PDK_SECRETS_INFO,
				     strlen(HL_PDK_SECRETS_INFO), key, HL_PDK_SECRETS_KEY_LEN);
}

/* ---- create ---- */

/* Check SECRETS before anything is made. */
static int secrets_check(const struct hl_pdk_secrets *s)
{
	size_t i, j;

	if (!s)
		return 0;
	if (s->has_answer_file) {
		if (hl_pdk_file_name_check(s->answer_file.name, "answer file") < 0)
			return -1;
		if (s->answer_file.content.len > HL_PDK_FILE_MAX)
			return hl_error("answer file '%s' is %zu bytes: at most %zu", s->answer_file.name,
					s->answer_file.content.len, HL_PDK_FILE_MAX);
		if (text_check(s->answer_file.content.data, s->answer_file.content.len,
			       "answer file") < 0)
			return -1;
	}
	if (s->n_other_files > HL_PDK_MAX_OTHER_FILES)
		return hl_error("%zu other files: at most %d", s->n_other_files,
				HL_PDK_MAX_OTHER_FILES);
	for (i = 0; i < s->n_other_files; i++) {
		const struct hl_pdk_file *f = &s->other_files[i];

		if (hl_pdk_file_name_check(f->name, "other file") < 0)
			return -1;
		if (f->content.len > HL_PDK_FILE_MAX)
			return hl_error("other file '%s' is %zu bytes: at most %zu", f->name,
					f->content.len, HL_PDK_FILE_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(s->other_files[j].name, f->name) == 0)
				return hl_error("other file '%s' is given twice", f->name);
	}
	return 0;
}

/* The plaintext secrets JSON of S (NULL: none) into *TEXT (secret: cleanse and free). */
static int secrets_json(const struct hl_pdk_secrets *s, char **text)
{
	json_t *root = json_object(), *af = NULL, *others = json_object();
	int bad = !root || !others;
	size_t i;

	*text = NULL;
	if (!bad && s && s->has_answer_file) {
		af = json_object();
		bad = !af || json_object_set_new(af, "name", json_string(s->answer_file.name)) < 0 ||
		      json_object_set_new(af, "content",
					  json_stringn((const char *)s->answer_file.content.data,
						       s->answer_file.content.len)) < 0;
	}
	for (i = 0; !bad && s && i < s->n_other_files; i++)
		bad = hl_json_set_base64(others, s->other_files[i].name,
					 s->other_files[i].content.data,
					 s->other_files[i].content.len) < 0;
	bad = bad || json_object_set(root, "answer_file", af ? af : json_null()) < 0 ||
	      json_object_set(root, "other_files", others) < 0 || hl_json_dump(root, text) < 0;
	json_decref(af);
	json_decref(others);
	json_decref(root);
	if (bad && *text) {
		hl_crypto_cleanse(*text, strlen(*text));
		free(*text);
		*text = NULL;
	}
	return bad ? hl_error("cannot encode the secrets: out of memory") : 0;
}

/* Encrypt the secrets S under the key of TK for ID into the body's "secrets" object *OUT. */
static int secrets_seal(const struct hl_pdk_secrets *s, const struct hl_buf *tk, const char *id,
			json_t **out)
{
	unsigned char key[HL_PDK_SECRETS_KEY_LEN];
	struct hl_buf sealed = { NULL, 0 };
	char *text = NULL;
	json_t *o = NULL;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (secrets_json(s, &text) < 0)
		return -1;
	len = strlen(text);
	if (len > HL_PDK_SECRETS_MAX) {
		hl_error("the secrets take %zu bytes encoded: at most %zu", len, HL_PDK_SECRETS_MAX);
		goto out;
	}
	if (hl_pdk_secrets_key(tk->data, tk->len, id, key) < 0 ||
	    hl_crypto_gcm_encrypt(key, id, strlen(id), text, len, &sealed) < 0)
		goto out;
	o = json_pack("{s:s}", "alg", "A256GCM");
	if (!o || hl_json_set_base64(o, "nonce", sealed.data, HL_GCM_IV_LEN) < 0 ||
	    hl_json_set_base64(o, "ciphertext", sealed.data + HL_GCM_IV_LEN,
			       sealed.len - HL_GCM_IV_LEN) < 0) {
		hl_error("cannot encode the secrets: out of memory");
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	hl_crypto_cleanse(key, sizeof(key));
	hl_crypto_cleanse(text, len);
	free(text);
	hl_buf_free(&sealed);
	json_decref(o);
	return rc;
}

/* The body object of a new .pdk, or NULL after hl_error(). */
static json_t *body_build(const struct hl_pdk_spec *spec, const struct hl_kp *kp,
			  const struct hl_buf *kp_bytes, json_t *secrets)
{
	char created[HL_JSON_TIME_SIZE];
	json_t *body, *quals = json_array(), *q;
	int bad = !quals;
	size_t i;

	if (hl_json_time_format(spec->created, created) < 0) {
		json_decref(quals);
		return NULL;
	}
	for (i = 0; !bad && i < spec->n_qualifiers; i++) {
		if (hl_viq_to_json(&spec->qualifiers[i], &q) < 0) {
			json_decref(quals);
			return NULL;
		}
		bad = json_array_append_new(quals, q) < 0;
	}
	body = bad ? NULL : json_pack("{s:s, s:s, s:s, s:s}", "id", kp->id, "created", created,
				      "owner", kp->owner_name, "policy", spec->policy);
	bad = !body || hl_json_set_base64(body, "key_protector", kp_bytes->data, kp_bytes->len) < 0 ||
	      json_object_set(body, "qualifiers", quals) < 0 ||
	      json_object_set(body, "secrets", secrets) < 0;
	json_decref(quals);
	if (bad) {
		json_decref(body);
		hl_error("cannot build the shielding data: out of memory");
		return NULL;
	}
	return body;
}

/* Create a .pdk. */
int hl_pdk_create(const struct hl_pdk_spec *spec, struct hl_buf *out, struct hl_buf *tk)
{
	struct hl_buf kp_bytes = { NULL, 0 }, key = { NULL, 0 }, file = { NULL, 0 };
	char *body_text = NULL;
	json_t *secrets = NULL, *body = NULL;
	struct hl_kp *kp = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (tk) {
		tk->data = NULL;
		tk->len = 0;
	}
	if (!spec || !spec->owner) {
		hl_error("no owner guardian given");
		goto out;
	}
	if (hl_pdk_policy_check(spec->policy) < 0 || secrets_check(spec->secrets) < 0)
		goto out;
	if (spec->n_qualifiers == 0 || spec->n_qualifiers > HL_PDK_MAX_QUALIFIERS) {
		hl_error("shielding data needs 1 to %d volume ID qualifiers, not %zu (make one with "
			 "`hgslab tenant new-volume-id-qualifier`)", HL_PDK_MAX_QUALIFIERS,
			 spec->n_qualifiers);
		goto out;
	}
	if (hl_kp_create(spec->owner, spec->guardians, spec->n_guardians, spec->kp_flags, &kp_bytes,
			 &key) < 0 ||
	    hl_kp_parse(kp_bytes.data, kp_bytes.len, &kp) < 0)
		goto out;
	if (secrets_seal(spec->secrets, &key, kp->id, &secrets) < 0)
		goto out;
	body = body_build(spec, kp, &kp_bytes, secrets);
	if (!body || hl_json_dump(body, &body_text) < 0)
		goto out;
	if (hl_kp_envelope_write(HL_PDK_FORMAT, HL_PDK_VERSION, body_text, spec->owner->signing_key,
				 "the shielding data", &file) < 0)
		goto out;
	if (file.len > HL_PDK_MAX_SIZE) {
		hl_error("the shielding data would be %zu bytes: at most %zu", file.len,
			 HL_PDK_MAX_SIZE);
		goto out;
	}
	*out = file;
	file.data = NULL;
	file.len = 0;
	if (tk) {
		*tk = key;
		key.data = NULL;
		key.len = 0;
	}
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot create the shielding data file");
	free(body_text);
	json_decref(body);
	json_decref(secrets);
	hl_kp_free(kp);
	hl_buf_free(&kp_bytes);
	hl_buf_free(&key);
	hl_buf_free(&file);
	return rc;
}

/* ---- parse ---- */

/* Copy string member NAME of O (at most SIZE-1 bytes) into BUF. */
static int get_str_into(const json_t *o, const char *name, char *buf, size_t size)
{
	const char *s;

	if (hl_json_get_string(o, name, &s) < 0)
		return -1;
	if (strlen(s) >= size)
		return hl_error("field '%s' is too long (%zu bytes)", name, strlen(s));
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

/* Base64 member NAME of O into B (LEN_MIN to LEN_MAX bytes). */
static int get_b64(const json_t *o, const char *name, size_t len_min, size_t len_max,
		   struct hl_buf *b)
{
	unsigned char *p = NULL;
	size_t len = 0;

	if (hl_json_get_base64(o, name, &p, &len) < 0)
		return -1;
	if (len < len_min || len > len_max) {
		free(p);
		return hl_error("field '%s' is %zu bytes: %zu to %zu are allowed", name, len,
				len_min, len_max);
	}
	b->data = p;
	b->len = len;
	return 0;
}

/* Parse the "secrets" object S of the body into PDK. */
static int parse_secrets_box(const json_t *s, struct hl_pdk *pdk)
{
	static const char *const members[] = { "alg", "nonce", "ciphertext" };
	const char *alg;

	if (hl_json_members_exact(s, members, 3, "field 'secrets'") < 0 ||
	    hl_json_get_string(s, "alg", &alg) < 0)
		return -1;
	if (strcmp(alg, "A256GCM") != 0)
		return hl_error("field 'secrets': field 'alg' is \"%.32s\": only \"A256GCM\" is "
				"supported", alg);
	if (get_b64(s, "nonce", HL_GCM_IV_LEN, HL_GCM_IV_LEN, &pdk->secrets_nonce) < 0 ||
	    get_b64(s, "ciphertext", HL_GCM_TAG_LEN, HL_PDK_SECRETS_MAX + HL_GCM_TAG_LEN,
		    &pdk->secrets_ciphertext) < 0)
		return hl_error_wrap("field 'secrets'");
	return 0;
}

/* Parse the body bytes of PDK (in pdk->body) into its fields. */
static int parse_body(struct hl_pdk *pdk)
{
	static const char *const members[] = { "id", "created", "owner", "policy",
					       "key_protector", "qualifiers", "secrets" };
	json_t *body = NULL, *arr, *box;
	size_t i, n;
	int rc = -1;

	if (hl_json_parse(pdk->body.data, pdk->body.len, HL_PDK_MAX_SIZE, &body) < 0) {
		hl_error_wrap("the signed body");
		goto out;
	}
	if (hl_json_members_exact(body, members, 7, "the signed body") < 0)
		goto out;
	if (get_str_into(body, "id", pdk->id, sizeof(pdk->id)) < 0 ||
	    get_str_into(body, "created", pdk->created, sizeof(pdk->created)) < 0 ||
	    get_str_into(body, "owner", pdk->owner, sizeof(pdk->owner)) < 0 ||
	    get_str_into(body, "policy", pdk->policy, sizeof(pdk->policy)) < 0)
		goto out;
	if (!hl_crypto_hex_is(pdk->id, HL_KP_ID_SIZE - 1, 0)) {
		hl_error("field 'id' must be 32 lowercase hex digits");
		goto out;
	}
	if (hl_json_time_check(pdk->created, "created") < 0 || hl_pdk_policy_check(pdk->policy) < 0)
		goto out;
	if (get_b64(body, "key_protector", 1, HL_KP_MAX_SIZE, &pdk->kp_bytes) < 0)
		goto out;
	if (hl_kp_parse(pdk->kp_bytes.data, pdk->kp_bytes.len, &pdk->kp) < 0) {
		hl_error_wrap("field 'key_protector'");
		goto out;
	}
	if (strcmp(pdk->kp->id, pdk->id) != 0) {
		hl_error("field 'id' %s is not the id of its key protector (%s)", pdk->id,
			 pdk->kp->id);
		goto out;
	}
	if (strcmp(pdk->kp->owner_name, pdk->owner) != 0) {
		hl_error("field 'owner' '%s' is not the owner of its key protector ('%s')",
			 pdk->owner, pdk->kp->owner_name);
		goto out;
	}
	if (hl_json_get_array(body, "qualifiers", &arr) < 0)
		goto out;
	n = json_array_size(arr);
	if (n == 0 || n > HL_PDK_MAX_QUALIFIERS) {
		hl_error("field 'qualifiers' lists %zu volume ID qualifiers: 1 to %d are allowed", n,
			 HL_PDK_MAX_QUALIFIERS);
		goto out;
	}
	pdk->qualifiers = calloc(n, sizeof(*pdk->qualifiers));
	if (!pdk->qualifiers) {
		hl_error("out of memory");
		goto out;
	}
	pdk->n_qualifiers = n;
	for (i = 0; i < n; i++) {
		if (hl_viq_from_json(json_array_get(arr, i), &pdk->qualifiers[i]) < 0) {
			hl_error_wrap("qualifiers[%zu]", i);
			goto out;
		}
	}
	if (hl_json_get_object(body, "secrets", &box) < 0 || parse_secrets_box(box, pdk) < 0)
		goto out;
	rc = 0;
out:
	json_decref(body);
	return rc;
}

/* Parse a .pdk strictly. */
int hl_pdk_parse(const void *data, size_t len, struct hl_pdk **out)
{
	struct hl_pdk *pdk = NULL;
	int rc = -1, version_err = 0;

	*out = NULL;
	pdk = calloc(1, sizeof(*pdk));
	if (!pdk) {
		hl_error("out of memory");
		goto out;
	}
	pdk->version = HL_PDK_VERSION;
	if (hl_kp_envelope_read(data, len, HL_PDK_MAX_SIZE, HL_PDK_FORMAT, HL_PDK_VERSION,
				"shielding data file", &pdk->body, &pdk->signature,
				&version_err) < 0 ||
	    parse_body(pdk) < 0)
		goto out;
	*out = pdk;
	pdk = NULL;
	rc = 0;
out:
	if (rc < 0 && !version_err)
		hl_error_wrap("bad shielding data file");
	hl_pdk_free(pdk);
	return rc;
}

/* Free a parsed .pdk. */
void hl_pdk_free(struct hl_pdk *pdk)
{
	if (!pdk)
		return;
	hl_kp_free(pdk->kp);
	hl_buf_free(&pdk->kp_bytes);
	free(pdk->qualifiers);
	hl_buf_free(&pdk->secrets_nonce);
	hl_buf_free(&pdk->secrets_ciphertext);
	hl_buf_free(&pdk->body);
	hl_buf_free(&pdk->signature);
	free(pdk);
}

/* ---- verify ---- */

/* The KP's signature, then the .pdk's with the KP owner's signing certificate. */
int hl_pdk_verify(const struct hl_pdk *pdk, const char *pin_owner_signing_thumbprint)
{
	EVP_PKEY *pub = NULL;
	int rc;

	if (!pdk)
		return hl_error("no shielding data given");
	if (hl_kp_verify(pdk->kp, pin_owner_signing_thumbprint) < 0)
		return hl_error_wrap("shielding data %s", pdk->id);
	if (hl_cert_pubkey(pdk->kp->owner_signing_cert, &pub) < 0)
		return hl_error_wrap("cannot verify shielding data %s", pdk->id);
	rc = hl_crypto_verify(pub, HL_SIG_RSA_PSS, pdk->body.data, pdk->body.len,
			      pdk->signature.data, pdk->signature.len);
	hl_key_free(pub);
	if (rc < 0)
		return hl_error("shielding data %s: the signature does not verify with the signing "
				"certificate of its key protector's owner '%s': the file was altered, "
				"or signed by someone else", pdk->id, pdk->owner);
	return 0;
}

/* ---- secrets ---- */

/* Parse the plaintext secrets JSON TEXT (LEN bytes) into S. */
static int secrets_parse(const void *text, size_t len, struct hl_pdk_secrets *s)
{
	static const char *const members[] = { "answer_file", "other_files" };
	static const char *const af_members[] = { "name", "content" };
	json_t *root = NULL, *af, *others, *v;
	const char *key, *str;
	unsigned char *bytes;
	size_t n = 0, blen;
	int rc = -1;

	if (hl_json_parse(text, len, HL_PDK_SECRETS_MAX, &root) < 0 ||
	    hl_json_members_exact(root, members, 2, "the secrets") < 0)
		goto out;
	af = json_object_get(root, "answer_file");
	if (!json_is_null(af)) {
		if (hl_json_members_exact(af, af_members, 2, "field 'answer_file'") < 0 ||
		    get_str_into(af, "name", s->answer_file.name, sizeof(s->answer_file.name)) < 0 ||
		    hl_pdk_file_name_check(s->answer_file.name, "answer file") < 0 ||
		    hl_json_get_string(af, "content", &str) < 0)
			goto out;
		blen = json_string_length(json_object_get(af, "content"));
		if (blen > HL_PDK_FILE_MAX) {
			hl_error("the answer file is %zu bytes: at most %zu", blen, HL_PDK_FILE_MAX);
			goto out;
		}
		s->answer_file.content.data = malloc(blen + 1);
		if (!s->answer_file.content.data) {
			hl_error("out of memory");
			goto out;
		}
		memcpy(s->answer_file.content.data, str, blen + 1);
		s->answer_file.content.len = blen;
		s->has_answer_file = 1;
	}
	if (hl_json_get_object(root, "other_files", &others) < 0)
		goto out;
	if (json_object_size(others) > HL_PDK_MAX_OTHER_FILES) {
		hl_error("the secrets hold %zu other files: at most %d", json_object_size(others),
			 HL_PDK_MAX_OTHER_FILES);
		goto out;
	}
	s->other_files = calloc(json_object_size(others) + 1, sizeof(*s->other_files));
	if (!s->other_files) {
		hl_error("out of memory");
		goto out;
	}
	json_object_foreach(others, key, v) {
		struct hl_pdk_file *f = &s->other_files[n];

		if (hl_pdk_file_name_check(key, "other file") < 0)
			goto out;
		memcpy(f->name, key, strlen(key) + 1);
		if (hl_json_get_base64(others, key, &bytes, &blen) < 0)
			goto out;
		f->content.data = bytes;
		f->content.len = blen;
		s->n_other_files = ++n;
		if (blen > HL_PDK_FILE_MAX) {
			hl_error("other file '%s' is %zu bytes: at most %zu", key, blen,
				 HL_PDK_FILE_MAX);
			goto out;
		}
	}
	rc = 0;
out:
	/* jansson's copies of the secret strings are freed here; it cannot cleanse them */
	json_decref(root);
	return rc;
}

/* Decrypt and parse the secrets with KEY. */
int hl_pdk_decrypt(const struct hl_pdk *pdk, const unsigned char key[HL_PDK_SECRETS_KEY_LEN],
		   struct hl_pdk_secrets **out)
{
	struct hl_buf box = { NULL, 0 }, plain = { NULL, 0 };
	struct hl_pdk_secrets *s = NULL;
	int rc = -1;

	*out = NULL;
	if (!pdk || !key)
		return hl_error("cannot decrypt the secrets: no shielding data or key given");
	box.len = pdk->secrets_nonce.len + pdk->secrets_ciphertext.len;
	box.data = malloc(box.len + 1);
	if (!box.data)
		return hl_error("out of memory");
	memcpy(box.data, pdk->secrets_nonce.data, pdk->secrets_nonce.len);
	memcpy(box.data + pdk->secrets_nonce.len, pdk->secrets_ciphertext.data,
	       pdk->secrets_ciphertext.len);
	if (hl_crypto_gcm_decrypt(key, pdk->id, strlen(pdk->id), box.data, box.len, &plain) < 0) {
		hl_error_wrap("cannot decrypt the secrets of shielding data %s", pdk->id);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		hl_error("out of memory");
		goto out;
	}
	if (secrets_parse(plain.data, plain.len, s) < 0) {
		hl_error_wrap("bad secrets in shielding data %s", pdk->id);
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	hl_pdk_secrets_free(s);
	hl_buf_free(&plain);
	hl_buf_free(&box);
	return rc;
}

/* Derive the key from TK, then decrypt. */
int hl_pdk_decrypt_tk(const struct hl_pdk *pdk, const void *tk, size_t tk_len,
		      struct hl_pdk_secrets **out)
{
	unsigned char key[HL_PDK_SECRETS_KEY_LEN];
	int rc;

	*out = NULL;
	if (!pdk)
		return hl_error("no shielding data given");
	if (hl_pdk_secrets_key(tk, tk_len, pdk->id, key) < 0)
		return -1;
	rc = hl_pdk_decrypt(pdk, key, out);
	hl_crypto_cleanse(key, sizeof(key));
	return rc;
}

/* Cleanse and free decrypted secrets. */
void hl_pdk_secrets_free(struct hl_pdk_secrets *s)
{
	size_t i;

	if (!s)
		return;
	hl_buf_free(&s->answer_file.content);
	for (i = 0; i < s->n_other_files; i++)
		hl_buf_free(&s->other_files[i].content);
	free(s->other_files);
	free(s);
}

/* ---- templates ---- */

/* Match VSC against every qualifier; the first that fits wins. */
int hl_pdk_match_template(const struct hl_pdk *pdk, const struct hl_vsc *vsc, size_t *which)
{
	char reasons[HL_ERROR_MAX] = "";
	size_t i, used = 0;

	if (which)
		*which = 0;
	if (!pdk || !vsc)
		return hl_error("no shielding data or signature catalog given");
	for (i = 0; i < pdk->n_qualifiers; i++) {
		if (hl_viq_match(&pdk->qualifiers[i], vsc) == 0) {
			if (which)
				*which = i;
			return 0;
		}
		if (used < sizeof(reasons))
			used += (size_t)snprintf(reasons + used, sizeof(reasons) - used, "%s[%zu] %s",
						 i ? "; " : "", i + 1, hl_error_last());
	}
	return hl_error("template '%s' %s fits none of the %zu volume ID qualifiers of shielding "
			"data %s: %s", vsc->name, vsc->disk_version_text, pdk->n_qualifiers,
			pdk->id, reasons);
}
