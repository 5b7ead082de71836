/*
 * vmpolicy.c - the VM policy statement (see vmpolicy.h and
 * docs/shielded-vm.md, "The signed policy"): making one (the tenant's
 * shield-vm and export-vm, with the key protector owner's signing key),
 * parsing one strictly, verifying it against the VM's key protector, and
 * reading a VM's policy.sig in either form (a statement, or the .pdk of a
 * provisioned VM): what a guarded host does before it starts a VM or
 * attaches to its console.  The
 * envelope is the key protector's (proto/keyprotector.h); JSON is jansson
 * (lib/json), signatures OpenSSL (lib/crypto).
 */
#include "proto/vmpolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"

/* The body's members, in the order they are written. */
static const char *const body_members[] = { "kp_id", "vm", "policy", "created" };
#define N_BODY_MEMBERS (sizeof(body_members) / sizeof(body_members[0]))

/* Make a statement. */
int hl_vmpolicy_create(const char *kp_id, const char *vm, const char *policy, time_t created,
		       EVP_PKEY *key, struct hl_buf *out)
{
	char when[HL_JSON_TIME_SIZE], *text = NULL;
	json_t *body = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (!kp_id || !hl_crypto_hex_is(kp_id, HL_KP_ID_SIZE - 1, 0)) {
		hl_error("bad key protector id '%.40s': 32 lowercase hex digits", kp_id ? kp_id : "");
		goto out;
	}
	if (hl_name_vm(vm) < 0 || hl_pdk_policy_check(policy) < 0 ||
	    hl_json_time_format(created, when) < 0)
		goto out;
	body = json_pack("{s:s, s:s, s:s, s:s}", body_members[0], kp_id, body_members[1], vm,
			 body_members[2], policy, body_members[3], when);
	if (!body || hl_json_dump(body, &text) < 0) {
		hl_error("out of memory");
		goto out;
	}
	rc = hl_kp_envelope_write(HL_VMPOLICY_FORMAT, HL_VMPOLICY_VERSION, text, key,
				  "the VM policy statement", out);
out:
	if (rc < 0)
		hl_error_wrap("cannot make the policy statement of VM '%.64s'", vm ? vm : "");
	free(text);
	json_decref(body);
	return rc;
}

/*
 * Parse P's body bytes into its fields.  Each field is checked by its own
 * rule (which bounds its length) before it is copied.
 */
static int parse_body(struct hl_vmpolicy *p)
{
	const char *kp_id, *vm, *policy, *created;
	json_t *body = NULL;
	int rc = -1;

	if (hl_json_parse(p->body.data, p->body.len, HL_VMPOLICY_MAX_SIZE, &body) < 0) {
		hl_error_wrap("the signed body");
		goto out;
	}
	if (hl_json_members_exact(body, body_members, N_BODY_MEMBERS, "the signed body") < 0 ||
	    hl_json_get_string(body, "kp_id", &kp_id) < 0 ||
	    hl_json_get_string(body, "vm", &vm) < 0 ||
	    hl_json_get_string(body, "policy", &policy) < 0 ||
	    hl_json_get_string(body, "created", &created) < 0)
		goto out;
	if (!hl_crypto_hex_is(kp_id, HL_KP_ID_SIZE - 1, 0)) {
		hl_error("field 'kp_id' must be 32 lowercase hex digits");
		goto out;
	}
	if (hl_name_vm(vm) < 0) {
		hl_error_wrap("field 'vm'");
		goto out;
	}
	if (hl_pdk_policy_check(policy) < 0) {
		hl_error_wrap("field 'policy'");
		goto out;
	}
	if (hl_json_time_check(created, "created") < 0)
		goto out;
	snprintf(p->kp_id, sizeof(p->kp_id), "%s", kp_id);
	snprintf(p->vm, sizeof(p->vm), "%s", vm);
	snprintf(p->policy, sizeof(p->policy), "%s", policy);
	snprintf(p->created, sizeof(p->created), "%s", created);
	rc = 0;
out:
	json_decref(body);
	return rc;
}

/* Parse a statement strictly. */
int hl_vmpolicy_parse(const void *data, size_t len, struct hl_vmpolicy **out)
{
	struct hl_vmpolicy *p;
	int rc = -1, version_err = 0;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return hl_error("out of memory");
	p->version = HL_VMPOLICY_VERSION;
	if (hl_kp_envelope_read(data, len, HL_VMPOLICY_MAX_SIZE, HL_VMPOLICY_FORMAT,
				HL_VMPOLICY_VERSION, "VM policy statement", &p->body, &p->signature,
				&version_err) < 0 ||
	    parse_body(p) < 0)
		goto out;
	*out = p;
	p = NULL;
	rc = 0;
out:
	if (rc < 0 && !version_err)
		hl_error_wrap("bad VM policy statement");
	hl_vmpolicy_free(p);
	return rc;
}

/* Free a parsed statement. */
void hl_vmpolicy_free(struct hl_vmpolicy *p)
{
	if (!p)
		return;
	hl_buf_free(&p->body);
	hl_buf_free(&p->signature);
	free(p);
}

/* The KP's signature, P's with the KP owner's certificate, then what P is for. */
int hl_vmpolicy_verify(const struct hl_vmpolicy *p, const struct hl_kp *kp, const char *vm)
{
	EVP_PKEY *pub = NULL;
	int rc;

	if (!p || !kp || !vm)
		return hl_error("no VM policy statement, key protector or VM given");
	if (hl_kp_verify(kp, NULL) < 0)
		return hl_error_wrap("the policy statement of VM '%s' cannot be checked", vm);
	if (hl_cert_pubkey(kp->owner_signing_cert, &pub) < 0)
		return hl_error_wrap("cannot verify the policy statement of VM '%s'", vm);
	rc = hl_crypto_verify(pub, HL_SIG_RSA_PSS, p->body.data, p->body.len, p->signature.data,
			      p->signature.len);
	hl_key_free(pub);
	if (rc < 0)
		return hl_error("the policy statement of VM '%s' does not verify with the signing "
				"certificate of its key protector's owner '%s' (%.16s...): it was "
				"altered, or signed by someone else", vm, kp->owner_name,
				kp->owner_signing_thumbprint);
	if (strcmp(p->kp_id, kp->id) != 0)
		return hl_error("the policy statement of VM '%s' is for key protector %s, not for "
				"the VM's key protector %s", vm, p->kp_id, kp->id);
	if (strcmp(p->vm, vm) != 0)
		return hl_error("the policy statement of VM '%s' is for VM '%s'", vm, p->vm);
	return 0;
}

/* The policy of a provisioned VM from its .pdk (LEN bytes DATA), checked against KP. */
static int pdk_policy(const void *data, size_t len, const struct hl_kp *kp, const char *vm,
		      char policy[HL_VMPOLICY_SIZE])
{
	struct hl_pdk *pdk = NULL;
	int rc = -1;

	if (hl_pdk_parse(data, len, &pdk) < 0) {
		hl_error_wrap("the policy statement of VM '%s' (its shielding data) is unreadable",
			      vm);
		goto out;
	}
	/* the .pdk's signer must be the owner of the VM's own key protector */
	if (hl_kp_verify(kp, NULL) < 0 || hl_pdk_verify(pdk, kp->owner_signing_thumbprint) < 0) {
		hl_error_wrap("the policy statement of VM '%s' (its shielding data) does not verify",
			      vm);
		goto out;
	}
	if (strcmp(pdk->kp->id, kp->id) != 0) {
		hl_error("the policy statement of VM '%s' (its shielding data) is for key protector "
			 "%s, not for the VM's key protector %s", vm, pdk->kp->id, kp->id);
		goto out;
	}
	snprintf(policy, HL_VMPOLICY_SIZE, "%s", pdk->policy);
	rc = 0;
out:
	hl_pdk_free(pdk);
	return rc;
}

/* A VM's policy.sig, either form. */
int hl_vmpolicy_check(const void *data, size_t len, const struct hl_kp *kp, const char *vm,
		      char policy[HL_VMPOLICY_SIZE])
{
	struct hl_vmpolicy *p = NULL;
	json_t *root = NULL;
	const char *format = NULL;
	int rc = -1;

	policy[0] = '\0';
	if (!kp || !vm)
		return hl_error("no key protector or VM given");
	/* which form: the .pdk's "format"; anything else is read as a statement */
	if (data && len <= HL_VMPOLICY_FILE_MAX &&
	    hl_json_parse(data, len, HL_VMPOLICY_FILE_MAX, &root) == 0 &&
	    hl_json_get_string_opt(root, "format", NULL, &format) == 0 && format &&
	    strcmp(format, HL_PDK_FORMAT) == 0) {
		rc = pdk_policy(data, len, kp, vm, policy);
		goto out;
	}
	if (hl_vmpolicy_parse(data, len, &p) < 0) {
		hl_error_wrap("the policy statement of VM '%s' is unreadable", vm);
		goto out;
	}
	if (hl_vmpolicy_verify(p, kp, vm) < 0)
		goto out;
	snprintf(policy, HL_VMPOLICY_SIZE, "%s", p->policy);
	rc = 0;
out:
	json_decref(root);
	hl_vmpolicy_free(p);
	return rc;
}
