/*
 * steps.c - one scenario step played against the lab: the hgslab verbs it
 * calls, what came out, whether that met the expectation, and the concept
 * in plain words (see sim/scenario.h for the steps, sim/steps.h).
 */
#include "sim/steps.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "hgs/db.h"
#include "hgs/node.h"
#include "proto/fsk.h"
#include "sim/attack.h"
#include "sim/search.h"

/* ---- strings ---- */

static char *sdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *sfmt(const char *f, ...) HL_PRINTF(1, 2);
static char *sfmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The last non-empty line of TEXT without the "hgslab: error: " prefix, malloc'd. */
static char *err_line(const char *text)
{
	const char *end, *start;

	if (!text)
		return strdup("");
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	if (!strncmp(start, "hgslab: error: ", 15))
		start += 15;
	return strndup(start, (size_t)(end - start));
}

/* ---- what HGS's sub-statuses mean, for the human report ---- */

static const struct {
	const char *name;
	const char *words;
} substatus_words[] = {
	{ "SecureBoot", "Secure Boot was off, so unsigned boot code could have run (Hgs_SecureBootEnabled)" },
	{ "SecureBootSettings", "the boot measurements match no registered TPM baseline: firmware or boot settings changed (Hgs_SecureBootSettings)" },
	{ "CodeIntegrityPolicy", "the host enforces a code integrity policy HGS does not know (Hgs_CiPolicy)" },
	{ "HypervisorEnforcedCodeIntegrityPolicy", "hypervisor-enforced code integrity was off (Hgs_HypervisorEnforcedCiPolicy)" },
	{ "FullBoot", "the host resumed from hibernation instead of booting, so its measurements are stale (Hgs_FullBoot)" },
	{ "VirtualSecureMode", "virtualization-based security was not running (Hgs_VsmIdkPresent)" },
	{ "PagefileEncryption", "the page file is not encrypted (Hgs_PageFileEncryptionEnabled)" },
	{ "BitLocker", "the host's volumes are not BitLocker-encrypted (Hgs_BitLockerEnabled)" },
	{ "Iommu", "there is no IOMMU, so a device could read VM memory by DMA (Hgs_IommuEnabled)" },
	{ "HibernationEnabled", "hibernation is on, so VM memory could land on disk (Hgs_NoHibernation)" },
	{ "DumpsEnabled", "crash dumps are on, so VM memory could land on disk (Hgs_NoDumps)" },
	{ "DumpEncryption", "crash dumps are not encrypted (Hgs_DumpEncryption)" },
	{ "DumpEncryptionKey", "crash dumps are encrypted with an unknown key (Hgs_DumpEncryptionKey)" },
	{ "TcgLogVerification", "the TCG log does not replay to the PCRs the TPM quoted: the log lies" },
	{ "DebugMode", "boot or kernel debugging was on, so a debugger could read VM memory (Hgs_UefiDebugDisabled)" },
};

/* The sentence for sub-status NAME, or NULL. */
static const char *substatus_sentence(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(substatus_words) / sizeof(substatus_words[0]); i++)
		if (!strcmp(substatus_words[i].name, name))
			return substatus_words[i].words;
	return NULL;
}

/* "; "-joined sentences for the ", "-separated sub-statuses in LIST, malloc'd. */
static char *substatus_concept(const char *list)
{
	char *copy = sdup(list), *tok, *save = NULL, *out = NULL;

	if (!copy)
		return NULL;
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		const char *w = substatus_sentence(tok);
		char *n;

		if (!w)
			continue;
		n = out ? sfmt("%s; %s", out, w) : sdup(w);
		free(out);
		out = n;
	}
	free(copy);
	return out;
}

/* ---- attestation state of a host (get-client-configuration / test-client-configuration) ---- */

struct health {
	char *status;
	char *substatus;   /* ", "-joined, "" when none */
	char *reason;
};

static void health_clear(struct health *h)
{
	free(h->status);
	free(h->substatus);
	free(h->reason);
	memset(h, 0, sizeof(*h));
}

/* Parse a host's client configuration JSON (TEXT) into H. */
static int health_parse(const char *text, struct health *h)
{
	json_t *j = NULL, *sub;
	const char *s;

	memset(h, 0, sizeof(*h));
	if (!text || hl_json_parse(text, strlen(text), strlen(text), &j) < 0)
		return hl_error_wrap("unreadable host configuration");
	s = json_string_value(json_object_get(j, "AttestationStatus"));
	h->status = strdup(s ? s : "Unknown");
	sub = json_object_get(j, "AttestationSubstatus");
	if (json_is_string(sub)) {
		h->substatus = strdup(json_string_value(sub));
	} else if (json_is_array(sub)) {
		size_t i;
		json_t *e;

		h->substatus = strdup("");
		json_array_foreach(sub, i, e) {
			char *n = sfmt("%s%s%s", h->substatus, *h->substatus ? ", " : "",
				       json_string_value(e) ? json_string_value(e) : "");
			free(h->substatus);
			h->substatus = n;
		}
	} else {
		h->substatus = strdup("");
	}
	s = json_string_value(json_object_get(j, "Reason"));
	h->reason = strdup(s ? s : "");
	json_decref(j);
	if (!h->status || !h->substatus || !h->reason) {
		health_clear(h);
		return hl_error("out of memory");
	}
	if (!strcmp(h->substatus, "NoInformation")) {
		free(h->substatus);
		h->substatus = strdup("");
	}
	return 0;
}

/*
 * The node that answered, from a host's client configuration JSON TEXT
 * (KIND "Attestation" or "KeyProtection": its KINDNode and KINDNodeAddress):
 * "HGS02 (127.X.Y.2)", malloc'd, or NULL when none is named.
 */
static char *answered_node(const char *text, const char *kind)
{
	char key[64], akey[64];
	const char *n, *a;
	char *out = NULL;
	json_t *j = NULL;

	snprintf(key, sizeof(key), "%sNode", kind);
	snprintf(akey, sizeof(akey), "%sNodeAddress", kind);
	if (text && hl_json_parse(text, strlen(text), strlen(text), &j) == 0 &&
	    (n = json_string_value(json_object_get(j, key))) && *n) {
		a = json_string_value(json_object_get(j, akey));
		out = a && *a ? sfmt("%s (%s)", n, a) : sdup(n);
	}
	hl_error_clear();
	json_decref(j);
	return out;
}

/* 1 when every expected sub-status of ST occurs in GOT (", "-separated) or in TEXT. */
static int substatus_hold(const struct sc_step *st, const char *got, const char *text, char **missing)
{
	size_t i;

	*missing = NULL;
	for (i = 0; i < st->substatus.n; i++) {
		const char *w = st->substatus.v[i];
		const char *p = got ? strstr(got, w) : NULL;
		size_t n = strlen(w);

		if (p && (p[n] == 0 || p[n] == ',') && (p == got || p[-1] == ' '))
			continue;
		if (text && strstr(text, w))
			continue;
		*missing = sdup(w);
		return 0;
	}
	return 1;
}

/* ---- the step context ---- */

struct ctx {
	struct lab *L;
	const struct sc_step *st;
	struct rp_step *r;
};

static int fail_infra(struct ctx *c, const char *what)
{
	c->r->passed = 0;
	free(c->r->got);
	c->r->got = sdup("error");
	free(c->r->message);
	c->r->message = sfmt("%s: %s", what, hl_error_last());
	return lab_interrupted() ? -1 : 0;
}

/* Set the outcome: got, whether it matched, and the failure message. */
static void outcome(struct ctx *c, const char *got, int ok, const char *why)
{
	struct rp_step *r = c->r;

	free(r->got);
	r->got = sdup(got);
	r->passed = ok;
	if (!ok) {
		free(r->message);
		r->message = sfmt("step %d (%s): expected %s, got %s%s%s", r->index, r->title,
				  r->expected ? r->expected : "success", got, why ? ": " : "",
				  why ? why : "");
	}
}

static void set_concept(struct ctx *c, char *text)
{
	/* a sentence: capitalised, after the scenario's own explanation if any */
	if (text && text[0] >= 'a' && text[0] <= 'z')
		text[0] = (char)(text[0] - 'a' + 'A');
	free(c->r->concept);
	if (c->st->explain)
		c->r->concept = text ? sfmt("%s %s", c->st->explain, text) : sdup(c->st->explain);
	else
		c->r->concept = text ? sdup(text) : NULL;
	free(text);
}

/* Run a verb; a verb that could not run at all is an infrastructure error (-1). */
#define EXEC(c, res, progress, ...) lab_exec((c)->L, (res), (progress), __VA_ARGS__, NULL)

/* ---- register / unregister ---- */

/* The CI policy name of a profile SPEC. */
static void ci_name(const char *spec, char *buf, size_t size)
{
	const char *p = strstr(spec, "ci_policy=");

	if (!p) {
		snprintf(buf, size, "HgsLabDefault");
		return;
	}
	p += strlen("ci_policy=");
	snprintf(buf, size, "%.*s", (int)strcspn(p, ","), p);
}

/* A verb whose "already registered" refusal counts as done. */
static int add_idempotent(struct ctx *c, const char *const *args, char **err)
{
	struct lab_result res;
	int rc;

	*err = NULL;
	if (lab_execv(c->L, &res, NULL, args) < 0)
		return -1;
	rc = res.rc;
	/* the same thing registered before (under another name, or this one when it is a host) */
	if (rc != 0 && res.err && (strstr(res.err, "is already registered as") ||
				   (strstr(res.err, "already registered; remove it") &&
				    (!strcmp(args[1], "add-tpm-host") || !strcmp(args[1], "add-host-key") ||
				     !strcmp(args[1], "add-host-group")))))
		rc = 0;
	if (rc != 0)
		*err = err_line(res.err);
	lab_result_clear(&res);
	return rc == 0 ? 0 : 1;
}

static int do_register(struct ctx *c, int add)
{
	struct lab *L = c->L;
	int hi = lab_host_index(L, c->st->host);
	struct lab_host *h = &L->hosts[hi];
	enum sc_trust mode = c->st->has_mode ? c->st->mode : h->hgs->trust;
	char *pidf = NULL, *log = NULL, *ci = NULL, *key = NULL, *err = NULL, name[96], cin[80];
	size_t g;
	int rc = 0, baseline = 0;

	if (!(pidf = sfmt("%s/logs/%s.platform-id.json", L->work, h->sc->name)) ||
	    !(log = sfmt("%s/logs/%s.tcglog", L->work, h->sc->name)) ||
	    !(ci = sfmt("%s/logs/%s.ci-policy", L->work, h->sc->name)) ||
	    !(key = sfmt("%s/logs/%s.hostkey.pem", L->work, h->sc->name))) {
		rc = hl_error("out of memory");
		goto done;
	}
	/* default: capture a baseline from a host whose current profile has no overrides */
	baseline = c->st->baseline < 0 ? !strchr(h->profile, ',') : c->st->baseline;
	switch (mode) {
	case SC_TRUST_TPM:
		if (!add) {
			rc = add_idempotent(c, (const char *const[]){ "hgs", "remove-tpm-host", "--dir",
				h->hgs->dir, "--name", h->sc->name, NULL }, &err);
			break;
		}
		if ((rc = add_idempotent(c, (const char *const[]){ "host", "get-platform-identifier",
			"--dir", h->dir, "--out", pidf, NULL }, &err)) != 0)
			break;
		if ((rc = add_idempotent(c, (const char *const[]){ "hgs", "add-tpm-host", "--dir",
			h->hgs->dir, "--name", h->sc->name, "--platform-identifier", pidf, NULL }, &err)) != 0)
			break;
		if (!baseline)
			break;
		ci_name(h->profile, cin, sizeof(cin));
		if ((rc = add_idempotent(c, (const char *const[]){ "host", "get-baseline-policy", "--dir",
			h->dir, "--out", log, NULL }, &err)) != 0)
			break;
		/* a new baseline of the same host (after a firmware update) gets the next free name */
		for (g = 1; g < 100; g++) {
			snprintf(name, sizeof(name), g == 1 ? "Baseline-%s" : "Baseline-%s-%zu", h->sc->name, g);
			free(err);
			err = NULL;
			rc = add_idempotent(c, (const char *const[]){ "hgs", "add-tpm-policy", "--dir",
				h->hgs->dir, "--name", name, "--tcglog", log, NULL }, &err);
			if (rc != 1 || !err || !strstr(err, "already registered; remove it"))
				break;
		}
		if (rc != 0)
			break;
		if ((rc = add_idempotent(c, (const char *const[]){ "host", "get-ci-policy", "--dir",
			h->dir, "--out", ci, NULL }, &err)) == 0)
			rc = add_idempotent(c, (const char *const[]){ "hgs", "add-ci-policy", "--dir",
				h->hgs->dir, "--name", cin, "--policy", ci, NULL }, &err);
		/* a CI policy of that name is registered: the host may use it or not, as HGS will tell */
		if (rc == 1 && err && strstr(err, "already registered; remove it")) {
			free(err);
			err = NULL;
			rc = 0;
		}
		break;
	case SC_TRUST_AD:
		if (!L->has_dc) {
			rc = hl_error("AD mode needs fabric: in the scenario");
			break;
		}
		for (g = 0; g < h->sc->groups.n && rc == 0; g++) {
			struct lab_result res;
			json_t *j = NULL;
			const char *sid;

			if (!add) {
				rc = add_idempotent(c, (const char *const[]){ "fabric", "remove-group-member",
					"--dir", L->fabric_dir, "--group", h->sc->groups.v[g], "--computer",
					h->sc->name, NULL }, &err);
				continue;
			}
			/* the group's SID from the fabric's directory, registered at HGS */
			if (EXEC(c, &res, NULL, "fabric", "get-group", "--dir", L->fabric_dir, "--name",
				 h->sc->groups.v[g], "--json") < 0)
				return fail_infra(c, "register");
			if (res.rc != 0 || hl_json_parse(res.out, strlen(res.out), strlen(res.out), &j) < 0 ||
			    !(sid = json_string_value(json_object_get(j, "Sid")))) {
				err = err_line(res.err);
				rc = 1;
			} else {
				rc = add_idempotent(c, (const char *const[]){ "hgs", "add-host-group", "--dir",
					h->hgs->dir, "--name", h->sc->groups.v[g], "--sid", sid, NULL }, &err);
				if (rc == 0)
					rc = add_idempotent(c, (const char *const[]){ "fabric",
						"add-group-member", "--dir", L->fabric_dir, "--group",
						h->sc->groups.v[g], "--computer", h->sc->name, NULL }, &err);
				if (rc != 0 && err && strstr(err, "already a member")) {
					free(err);
					err = NULL;
					rc = 0;
				}
			}
			json_decref(j);
			lab_result_clear(&res);
		}
		break;
	case SC_TRUST_HOSTKEY:
		if (!add) {
			rc = add_idempotent(c, (const char *const[]){ "hgs", "remove-host-key", "--dir",
				h->hgs->dir, "--name", h->sc->name, NULL }, &err);
			break;
		}
		if ((rc = add_idempotent(c, (const char *const[]){ "host", "get-host-key", "--dir", h->dir,
			"--out", key, NULL }, &err)) == 0)
			rc = add_idempotent(c, (const char *const[]){ "hgs", "add-host-key", "--dir",
				h->hgs->dir, "--name", h->sc->name, "--key", key, NULL }, &err);
		break;
	}
done:
	if (rc < 0) {
		free(pidf);
		free(log);
		free(ci);
		free(key);
		free(err);
		return fail_infra(c, add ? "register" : "unregister");
	}
	outcome(c, rc == 0 ? "ok" : "failed", rc == 0, err);
	if (rc == 0) {
		const char *what[] = {
			[SC_TRUST_TPM] = "HGS now knows the host's TPM by its EK (Add-HgsAttestationTpmHost)",
			[SC_TRUST_AD] = "HGS now trusts the host's fabric group by its SID (Add-HgsAttestationHostGroup)",
			[SC_TRUST_HOSTKEY] = "HGS now knows the host's key (Add-HgsAttestationHostKey)",
		};
		const char *unwhat[] = {
			[SC_TRUST_TPM] = "HGS forgets the host's TPM: its next attestation is UnauthorizedHost",
			[SC_TRUST_AD] = "the host leaves its fabric groups: its next ticket names no registered group",
			[SC_TRUST_HOSTKEY] = "HGS forgets the host's key: its next attestation is UnauthorizedHost",
		};

		set_concept(c, add && mode == SC_TRUST_TPM && baseline
				       ? sfmt("%s, and its measured boot as a baseline with its CI policy "
					      "(Add-HgsAttestationTpmPolicy, Add-HgsAttestationCIPolicy).",
					      what[mode])
				       : sfmt("%s.", add ? what[mode] : unwhat[mode]));
	}
	free(pidf);
	free(log);
	free(ci);
	free(key);
	free(err);
	return 0;
}

/* ---- attest ---- */

static char *passed_concept(enum sc_trust mode)
{
	switch (mode) {
	case SC_TRUST_TPM:
		return strdup("HGS checked the EK certificate, the AK bound to that EK, a quote over a "
			      "fresh nonce, replayed the TCG log to the quoted PCRs and matched a baseline "
			      "and a CI policy: it issued a health certificate for the host's TPM key.");
	case SC_TRUST_AD:
		return strdup("the fabric DC's ticket puts the host in a registered group of a trusted "
			      "domain: HGS issued a health certificate (AD mode vouches for membership, "
			      "not for the host's boot).");
	case SC_TRUST_HOSTKEY:
		return strdup("the host proved it holds a registered key: HGS issued a health "
			      "certificate (host-key mode trusts the key, not the boot).");
	}
	return NULL;
}

/* The plain-words concept of a health outcome. */
static char *health_concept(const struct health *hh, enum sc_trust mode)
{
	if (!strcmp(hh->status, "Passed"))
		return passed_concept(mode);
	if (!strcmp(hh->status, "InsecureHostConfiguration")) {
		char *w = substatus_concept(hh->substatus), *out;

		out = sfmt("HGS replayed the host's measured boot and said no: %s.", w ? w : hh->reason);
		free(w);
		return out;
	}
	if (!strcmp(hh->status, "UnauthorizedHost"))
		return sfmt("HGS does not vouch for this host: %s.", hh->reason);
	if (!strcmp(hh->status, "TransientError"))
		return sfmt("no decision (HGS unreachable or failing); the host keeps retrying, and "
			    "keeps a health certificate still valid until its notAfter: %s.",
			    hh->reason);
	return sfmt("%s: %s.", hh->status, hh->reason);
}

static int do_attest(struct ctx *c)
{
	struct lab *L = c->L;
	struct lab_host *h = &L->hosts[lab_host_index(L, c->st->host)];
	struct lab_result res;
	struct health hh;
	char *got, *missing = NULL;
	int ok;

	if (EXEC(c, &res, NULL, "host", "test-client-configuration", "--dir", h->dir, "--timeout", "30",
		 "--json") < 0)
		return fail_infra(c, "attest");
	if (health_parse(res.out, &hh) < 0) {
		char *e = err_line(res.err);

		lab_result_clear(&res);
		outcome(c, "error", 0, e);
		free(e);
		return 0;
	}
	got = *hh.substatus ? sfmt("%s (%s)", hh.status, hh.substatus) : sdup(hh.status);
	ok = !strcmp(hh.status, c->st->expect) && substatus_hold(c->st, hh.substatus, NULL, &missing);
	if (ok && c->st->reason && !strstr(hh.reason, c->st->reason)) {
		ok = 0;
		missing = sfmt("the reason does not say '%s'", c->st->reason);
	} else if (missing) {
		char *m = sfmt("no sub-status %s", missing);

		free(missing);
		missing = m;
	}
	free(c->r->substatus);
	c->r->substatus = *hh.substatus ? sdup(hh.substatus) : NULL;
	free(c->r->reason);
	c->r->reason = *hh.reason ? sdup(hh.reason) : NULL;
	if (h->hgs->n_nodes > 1) {
		free(c->r->node);
		c->r->node = answered_node(res.out, "Attestation");
	}
	outcome(c, got, ok, missing ? missing : (ok ? NULL : hh.reason));
	set_concept(c, health_concept(&hh, h->hgs->trust));
	free(got);
	free(missing);
	health_clear(&hh);
	lab_result_clear(&res);
	return 0;
}

/* ---- shield, start, stop, connect, offline_read ---- */

/* The seconds TEXT gives after its last WORDS ("provisioned after 4.6 s"), or -1. */
static double seconds_after(const char *text, const char *words)
{
	const char *p = NULL, *q;
	double v;

	for (q = text; q && (q = strstr(q, words)); q += strlen(words))
		p = q;
	if (!p || sscanf(p + strlen(words), "%lf", &v) != 1 || v < 0)
		return -1;
	return v;
}

/*
 * The shield step's timing from shield-vm's progress lines ERR: its
 * provisioning boot, QEMU start to the guest agent, then the guest's
 * provisioning.  NULL when the lines are not there.
 */
static char *shield_timing(const char *err)
{
	double agent = seconds_after(err, "guest agent started after "),
	       done = seconds_after(err, "provisioned after ");

	if (agent < 0 || done < agent)
		return NULL;
	return sfmt("the provisioning boot %.1f s: QEMU start to the guest agent %.1f s, the "
		    "guest's provisioning %.1f s", done, agent, done - agent);
}

static int do_shield(struct ctx *c)
{
	struct lab *L = c->L;
	int vi = lab_vm_index(L, c->st->vm);
	struct lab_vm *v = &L->vms[vi];
	struct lab_result res;
	char *err = NULL, label[128];
	int ok;

	snprintf(label, sizeof(label), "shield %s:", v->sc->name);
	free(v->bundle);
	if (!(v->bundle = sfmt("%s/bundles/%s", L->work, v->sc->name)))
		return fail_infra(c, "shield");
	{
		const char *args[16];
		size_t n = 0;

		args[n++] = "tenant";
		args[n++] = "shield-vm";
		args[n++] = "--dir";
		args[n++] = L->tenant;
		args[n++] = "--vm";
		args[n++] = v->sc->name;
		args[n++] = "--key-protector";
		args[n++] = v->kp;
		args[n++] = "--policy";
		args[n++] = v->sc->policy == SC_VM_SHIELDED ? "shielded" : "encryption-supported";
		if (L->guest) {
			args[n++] = "--guest";
			args[n++] = L->guest;
		}
		args[n] = NULL;
		if (lab_execv(L, &res, label, args) < 0)
			return fail_infra(c, "shield");
	}
	if (res.rc == 0) {
		free(c->r->timing);
		c->r->timing = shield_timing(res.err);
		lab_result_clear(&res);
		if (EXEC(c, &res, NULL, "tenant", "export-vm", "--dir", L->tenant, "--vm", v->sc->name,
			 "--out", v->bundle) < 0)
			return fail_infra(c, "shield");
	}
	v->shielded = res.rc == 0;
	if (res.rc != 0)
		err = err_line(res.err);
	ok = !strcmp(c->st->expect, v->shielded ? "shielded" : "failed");
	outcome(c, v->shielded ? "shielded" : "failed", ok, err);
	set_concept(c, v->shielded ? strdup("on the tenant's own machine the vTPM was created "
					    "encrypted with the key protector's TK; the guest drew a disk key "
					    "from its vTPM, sealed it there and copied its disk into LUKS2; the "
					    "plain disk is gone and the bundle is exported.")
				   : sfmt("shielding failed: %s.", err ? err : "no message"));
	free(err);
	lab_result_clear(&res);
	return 0;
}

/* Import V's bundle on host HI unless done. */
static int ensure_imported(struct ctx *c, struct lab_vm *v, int hi, char **err)
{
	struct lab_result res;

	*err = NULL;
	if (v->imported & (1u << hi))
		return 0;
	if (!v->sc && v->placed_on < 0) {
		*err = sfmt("VM '%s' was placed on no host: its deploy did not run it", v->name);
		return 1;
	}
	if (!v->shielded || !v->bundle) {
		*err = sfmt("VM '%s' is not shielded yet: a shield step must come first", v->name);
		return 1;
	}
	if (EXEC(c, &res, NULL, "host", "import-vm", "--dir", c->L->hosts[hi].dir, "--bundle",
		 v->bundle) < 0)
		return -1;
	if (res.rc != 0) {
		*err = err_line(res.err);
		lab_result_clear(&res);
		return 1;
	}
	lab_result_clear(&res);
	v->imported |= 1u << hi;
	return 0;
}

/*
 * The plain-words summary of a start refusal ERR: why the host got no key.
 * ("host 'X' failed attestation: STATUS (SUB): ...", "key release refused
 * by 'URL': CODE: text", or a TransientError: HGS did not answer), malloc'd.
 */
static char *refusal_summary(const char *err)
{
	const char *p;

	if (strstr(err, "TransientError"))
		return sfmt("no HGS, no shielded VM: HGS did not answer (TransientError), so %s; the "
			    "vTPM stays locked until HGS is back, and the VM never starts unprotected.",
			    strstr(err, "got no key") ?
			    "the host's health certificate is still valid, but KPS, part of HGS, "
			    "released no key" :
			    "the host, with no valid health certificate, could not attest for one");
	if ((p = strstr(err, "failed attestation: "))) {
		p += strlen("failed attestation: ");
		return sfmt("the host failed attestation (%.*s): without a health certificate KPS "
			    "releases no key, so the vTPM stays locked and the VM cannot start.",
			    (int)strcspn(p, ":"), p);
	}
	if ((p = strstr(err, "key release refused by '")) && (p = strstr(p, "': "))) {
		const char *text;
		int n;

		p += 3;
		n = (int)strcspn(p, ":");
		text = p[n] == ':' ? p + n + 1 : "";
		while (*text == ' ')
			text++;
		return sfmt("KPS refused the key (%.*s): %.*s.", n, p, (int)strcspn(text, ":;"), text);
	}
	return sfmt("no key, no VM: %s.", err);
}

/* The host a step on VM V means: its host:, else where V runs, else where it was placed; -1. */
static int step_host(struct ctx *c, const struct lab_vm *v)
{
	if (c->st->host)
		return lab_host_index(c->L, c->st->host);
	return v->running_on >= 0 ? v->running_on : v->placed_on;
}


/*
 * The start step's timing: the VM keeper's "VM running after X s" (QEMU
 * and the vTPM started to the guest's report) against start-vm's wall time
 * SECS (the rest: key release from KPS, the keeper's start).  NULL when
 * the keeper's log does not say.
 */
static char *start_timing(const struct lab_host *h, const char *vm, double secs)
{
	char *path = sfmt("%s/vms/%s/keeper.log", h->dir, vm), *text = NULL, *out = NULL;
	double boot;
	size_t len;

	if (path && hl_file_read(path, LAB_MAX_OUT, &text, &len) == 0 &&
	    (boot = seconds_after(text, "VM running after ")) >= 0)
		out = sfmt("the shielded boot %.1f s (QEMU and the vTPM started to the guest's "
			   "report); key release and the rest %.1f s", boot,
			   secs > boot ? secs - boot : 0.0);
	hl_error_clear();
	free(text);
	free(path);
	return out;
}

/* In a cluster: the node that answered host H's last key release, into the step's node. */
static void release_node(struct ctx *c, const struct lab_host *h)
{
	struct lab_result cfg;

	if (EXEC(c, &cfg, NULL, "host", "get-client-configuration", "--dir", h->dir, "--json") == 0 &&
	    cfg.rc == 0) {
		free(c->r->node);
		c->r->node = answered_node(cfg.out, "KeyProtection");
	}
	hl_error_clear();
	lab_result_clear(&cfg);
}

static int do_start(struct ctx *c)
{
	struct lab *L = c->L;
	int vi = lab_vm_index(L, c->st->vm), rc;
	struct lab_vm *v = &L->vms[vi];
	int hi = step_host(c, v);
	struct lab_host *h;
	struct lab_result res;
	struct health hh;
	char *err = NULL, *missing = NULL, label[128];
	const char *got;
	int ok;

	if (hi < 0) {
		outcome(c, "error", 0, "the VM was placed on no host: its deploy did not run it");
		return 0;
	}
	h = &L->hosts[hi];
	if ((rc = ensure_imported(c, v, hi, &err)) < 0)
		return fail_infra(c, "start");
	if (rc > 0) {
		outcome(c, "error", 0, err);
		free(err);
		return 0;
	}
	snprintf(label, sizeof(label), "start %s on %s:", v->name, h->sc->name);
	{
		const char *args[16];
		size_t n = 0;

		args[n++] = "host";
		args[n++] = "start-vm";
		args[n++] = "--dir";
		args[n++] = h->dir;
		args[n++] = "--name";
		args[n++] = v->name;
		args[n++] = "--accel";
		args[n++] = L->s->accel == SC_ACCEL_KVM ? "kvm" : L->s->accel == SC_ACCEL_TCG ? "tcg" : "auto";
		if (L->guest) {
			args[n++] = "--guest";
			args[n++] = L->guest;
		}
		args[n++] = "--json";
		args[n] = NULL;
		if (lab_execv(L, &res, label, args) < 0)
			return fail_infra(c, "start");
	}
	if (res.rc == 0) {
		json_t *j = NULL;
		const char *w = NULL, *src = NULL;

		got = "running";
		v->running_on = hi;
		if (hl_json_parse(res.out, strlen(res.out), strlen(res.out), &j) == 0) {
			w = json_string_value(json_object_get(j, "Workload"));
			src = json_string_value(json_object_get(j, "KeyMaterialSource"));
		}
		hl_error_clear();
		free(c->r->reason);
		c->r->reason = w ? sfmt("workload: %s", w) : NULL;
		if (src && !strcmp(src, "Cache"))
			set_concept(c, sfmt("HGS did not answer, so the host took the key material from "
					    "its cache: its TPM unsealed the TK sealed to this measured boot "
					    "when KPS last released it (key material caching); the vTPM "
					    "opened, the guest unsealed its disk key and runs (%s).",
					    w ? w : "no workload result"));
		else
			set_concept(c, sfmt("the host sent the key protector and its health certificate "
					    "to KPS, which re-wrapped the TK to the host's TPM key; the vTPM "
					    "opened, the guest unsealed its disk key and runs (%s).",
					    w ? w : "no workload result"));
		json_decref(j);
		free(c->r->timing);
		c->r->timing = start_timing(h, v->name, res.secs);
		ok = !strcmp(c->st->expect, "running");
		outcome(c, got, ok, ok ? NULL : "the VM started where it should have been refused");
		if (h->hgs->n_nodes > 1)
			release_node(c, h);
	} else {
		struct lab_result cfg;

		err = err_line(res.err);
		got = res.rc == 4 ? "refused" : "failed";
		free(c->r->reason);
		c->r->reason = sdup(err);
		memset(&hh, 0, sizeof(hh));
		if (EXEC(c, &cfg, NULL, "host", "get-client-configuration", "--dir", h->dir, "--json") == 0 &&
		    health_parse(cfg.out, &hh) == 0) {
			free(c->r->substatus);
			c->r->substatus = *hh.substatus ? sdup(hh.substatus) : NULL;
			if (h->hgs->n_nodes > 1) {
				free(c->r->node);
				c->r->node = answered_node(cfg.out, "KeyProtection");
			}
		}
		hl_error_clear();
		lab_result_clear(&cfg);
		ok = !strcmp(c->st->expect, got) &&
		     substatus_hold(c->st, hh.substatus ? hh.substatus : "", err, &missing) &&
		     (!c->st->reason || strstr(err, c->st->reason));
		if (ok || !missing)
			free(missing), missing = NULL;
		else {
			char *m = sfmt("no sub-status %s (%s)", missing, err);

			free(missing);
			missing = m;
		}
		outcome(c, got, ok, missing ? missing : err);
		set_concept(c, refusal_summary(err));
		health_clear(&hh);
	}
	free(err);
	free(missing);
	lab_result_clear(&res);
	return 0;
}

static int do_stop(struct ctx *c)
{
	struct lab *L = c->L;
	int vi = lab_vm_index(L, c->st->vm);
	struct lab_vm *v = &L->vms[vi];
	int hi = c->st->host ? lab_host_index(L, c->st->host) : v->running_on;
	struct lab_result res;
	char *err = NULL;

	if (hi < 0) {
		outcome(c, "error", 0, "the VM runs on no host (give host:)");
		return 0;
	}
	if (EXEC(c, &res, NULL, "host", "stop-vm", "--dir", L->hosts[hi].dir, "--name", v->name) < 0)
		return fail_infra(c, "stop");
	if (res.rc != 0)
		err = err_line(res.err);
	else if (v->running_on == hi)
		v->running_on = -1;
	outcome(c, res.rc == 0 ? "stopped" : "failed", res.rc == 0, err);
	set_concept(c, strdup("an orderly shutdown over QMP; the vTPM state and the disk stay encrypted "
			      "on the host."));
	free(err);
	lab_result_clear(&res);
	return 0;
}

static int do_connect(struct ctx *c)
{
	struct lab *L = c->L;
	int vi = lab_vm_index(L, c->st->vm), rc;
	struct lab_vm *v = &L->vms[vi];
	int hi = step_host(c, v);
	struct lab_result res;
	char *err = NULL;
	const char *got;

	if (hi < 0) {
		outcome(c, "error", 0, "the VM was placed on no host: its deploy did not run it");
		return 0;
	}
	if ((rc = ensure_imported(c, v, hi, &err)) < 0)
		return fail_infra(c, "connect");
	if (rc > 0) {
		outcome(c, "error", 0, err);
		free(err);
		return 0;
	}
	if (EXEC(c, &res, NULL, "host", "connect-vm", "--dir", L->hosts[hi].dir, "--name", v->name,
		 "--seconds", "1") < 0)
		return fail_infra(c, "connect");
	got = res.rc == 0 ? "allowed" : res.rc == 4 ? "refused" : "failed";
	if (res.rc != 0)
		err = err_line(res.err);
	free(c->r->reason);
	c->r->reason = sdup(err);
	outcome(c, got, !strcmp(got, c->st->expect), err);
	set_concept(c, res.rc == 4 ? strdup("a shielded VM has no console, serial port, monitor or "
					    "debugger on the host: the fabric's admins cannot look inside.")
				   : res.rc == 0 ? strdup("an encryption-supported VM keeps its console: "
							  "encrypted at rest, but the host admin may attach.")
						 : sfmt("console: %s.", err ? err : "failed"));
	free(err);
	lab_result_clear(&res);
	return 0;
}

/*
 * What a deployed VM's disk holds that must not be readable offline, with
 * the placeholders its specialization filled in: SECRET 0 its template's
 * files, 1 its shielding data's secrets (the answer file, other files: these
 * never go on a command line).  Each at least DEPLOYED_SEARCH_MIN bytes (a
 * shorter text is found in ciphertext by chance).  Into TEXTS (at most MAX,
 * malloc'd, cleansed by texts_free); the count.
 */
#define DEPLOYED_SEARCH_MIN 8
static size_t deployed_texts(struct lab *L, const struct lab_vm *v, int secret, char **texts,
			     size_t max)
{
	const struct sc_step *d = v->deploy;
	const struct sc_template *tp = scenario_template(L->s, d->template);
	const struct sc_shielding *sd = scenario_shielding(L->s, d->shielding_data);
	int sp = lab_specialization_index(L, d->specialization);
	const char *raw[2 * SC_MAX_LIST + 1];
	struct hl_fsk *f = NULL;
	size_t n = 0, k = 0, i;

	if (sp >= 0) {
		char *text = NULL;
		size_t len;

		if (hl_file_read(L->fsk[sp], HL_FSK_MAX_SIZE, &text, &len) == 0)
			hl_fsk_parse(text, len, &f);
		hl_error_clear();
		free(text);
	}
	for (i = 0; !secret && i < tp->n_files; i++)
		raw[n++] = tp->files[i].content;
	if (secret && sd->answer_content)
		raw[n++] = sd->answer_content;
	for (i = 0; secret && i < sd->n_other; i++)
		raw[n++] = sd->other[i].content;
	for (i = 0; i < n && k < max; i++) {
		struct hl_buf out = { NULL, 0 };

		/* the guest fills the placeholders of the template's files and of the answer file */
		const char *t = raw[i];
		size_t len = strlen(t);

		if (f && (!secret || raw[i] == sd->answer_content) &&
		    hl_fsk_substitute(f, raw[i], strlen(raw[i]), &out, NULL) == 0) {
			t = (const char *)out.data;
			len = out.len;
		}
		/* a final newline is part of the file, not of what to look for */
		while (len && t[len - 1] == '\n')
			len--;
		if (len >= DEPLOYED_SEARCH_MIN && (texts[k] = strndup(t, len)))
			k++;
		hl_buf_free(&out);
		hl_error_clear();
	}
	hl_fsk_free(f);
	return k;
}

/* Free the N texts of deployed_texts, cleansed. */
static void texts_free(char **texts, size_t n)
{
	while (n--) {
		hl_crypto_cleanse(texts[n], strlen(texts[n]));
		free(texts[n]);
	}
}

static int do_offline_read(struct ctx *c)
{
	struct lab *L = c->L;
	struct lab_vm *v = &L->vms[lab_vm_index(L, c->st->vm)];
	struct lab_result res;
	const char *args[4 + 2 * (2 * SC_MAX_LIST + 1) + 2];
	char *texts[2 * SC_MAX_LIST + 1];
	json_t *j = NULL;
	const char *disk, *vt, *search;
	size_t n = 0, i, nt = 0, secrets_found = 0, n_secrets = 0;
	int readable;

	if (!v->sc && v->placed_on < 0) {
		outcome(c, "error", 0, "the VM was placed on no host: its deploy did not run it");
		return 0;
	}
	if (!v->shielded || !v->bundle) {
		outcome(c, "error", 0, "the VM is not shielded yet: a shield step must come first");
		return 0;
	}
	args[n++] = "tenant";
	args[n++] = "inspect-vm";
	args[n++] = "--bundle";
	args[n++] = v->bundle;
	if (v->sc) {
		for (i = 0; i < v->sc->n_files; i++) {
			args[n++] = "--search";
			args[n++] = v->sc->files[i].content;
		}
	} else {
		nt = deployed_texts(L, v, 0, texts, sizeof(texts) / sizeof(texts[0]));
		for (i = 0; i < nt; i++) {
			args[n++] = "--search";
			args[n++] = texts[i];
		}
	}
	args[n++] = "--json";
	args[n] = NULL;
	i = lab_execv(L, &res, NULL, args) < 0;
	texts_free(texts, nt);
	if (i)
		return fail_infra(c, "offline_read");
	/* the shielding data's secrets: searched here, never put on a command line */
	if (!v->sc && res.rc == 0) {
		nt = deployed_texts(L, v, 1, texts, sizeof(texts) / sizeof(texts[0]));
		for (i = 0; i < nt && !secrets_found; i++) {
			struct sim_search S;

			if (sim_search_run(&S, v->bundle, texts[i], strlen(texts[i]), NULL) == 0)
				secrets_found = S.found;
			hl_error_clear();
			sim_search_release(&S);
		}
		n_secrets = nt;
		texts_free(texts, nt);
	}
	if (res.rc != 0 || hl_json_parse(res.out, strlen(res.out), strlen(res.out), &j) < 0) {
		char *e = err_line(res.err);

		hl_error_clear();
		outcome(c, "error", 0, e);
		free(e);
		lab_result_clear(&res);
		return 0;
	}
	disk = json_string_value(json_object_get(j, "Disk"));
	vt = json_string_value(json_object_get(j, "VtpmWithoutKey"));
	search = json_string_value(json_object_get(j, "Search"));
	readable = !(disk && !strncmp(disk, "LUKS2", 5) && vt && !strncmp(vt, "refused", 7) &&
		     (!search || !strstr(search, "found") || strstr(search, "not found"))) ||
		   secrets_found;
	free(c->r->reason);
	if (n_secrets)
		c->r->reason = sfmt("disk: %s; vTPM without the TK: %s; search: %s; the shielding "
				    "data's %zu secret%s: %s", disk ? disk : "?", vt ? vt : "?",
				    search ? search : "-", n_secrets, n_secrets == 1 ? "" : "s",
				    secrets_found ? "FOUND" : "not found");
	else
		c->r->reason = sfmt("disk: %s; vTPM without the TK: %s; search: %s", disk ? disk : "?",
				    vt ? vt : "?", search ? search : "-");
	outcome(c, readable ? "readable" : "unreadable", !strcmp(c->st->expect, readable ? "readable" : "unreadable"),
		c->r->reason);
	set_concept(c, readable ? strdup("the files read offline give the tenant's data away.")
				: strdup("read offline, the disk is LUKS2 ciphertext, swtpm cannot open the "
					 "vTPM state without the TK, and the tenant's text is nowhere in "
					 "the files: a copied bundle is safe."));
	json_decref(j);
	lab_result_clear(&res);
	return 0;
}

/* ---- templates, deploys, secrets ---- */

static int do_protect_template(struct ctx *c)
{
	struct lab *L = c->L;
	int t = lab_template_index(L, c->st->template), made = 0;
	const struct sc_template *tp = L->templates[t].sc;
	char *err;

	if (lab_template_protect(L, (size_t)t, &made) < 0) {
		if (lab_interrupted())
			return fail_infra(c, "protect_template");
		err = sdup(hl_error_last());
		outcome(c, "failed", 0, err);
		set_concept(c, sfmt("protecting the template failed: %s.", err));
		free(err);
		return 0;
	}
	free(c->r->reason);
	c->r->reason = sfmt("'%s' %s signed by %s", tp->template_name, tp->version, tp->signer);
	outcome(c, "protected", 1, NULL);
	set_concept(c, sfmt("Protect-TemplateDisk hashed the template's image (SHA-256) and signed a "
			    "volume signature catalog (its name, version and hash) with %s's "
			    "certificate, appended to the disk; the image stays plaintext and holds "
			    "no secret.%s", tp->signer, made ? " The tenant's shielding data now "
			    "trusts it through a volume ID qualifier (signer, name, version rule)." :
			    ""));
	return 0;
}

/* Where alter_template flips a byte: inside the image of any template (at least 1 MiB). */
#define ALTER_OFFSET 70000

static int do_alter_template(struct ctx *c)
{
	struct lab *L = c->L;
	const char *path = L->templates[lab_template_index(L, c->st->template)].path;
	unsigned char b;
	int fd = open(path, O_RDWR | O_CLOEXEC), ok;

	ok = fd >= 0 && pread(fd, &b, 1, ALTER_OFFSET) == 1;
	b ^= 0xff;
	ok = ok && pwrite(fd, &b, 1, ALTER_OFFSET) == 1 && fsync(fd) == 0;
	if (!ok)
		hl_error_errno("cannot change '%s'", path);
	if (fd >= 0)
		close(fd);
	if (!ok) {
		char *e = sdup(hl_error_last());

		outcome(c, "failed", 0, e);
		free(e);
		return 0;
	}
	free(c->r->reason);
	c->r->reason = sfmt("byte %d of the image flipped", ALTER_OFFSET);
	outcome(c, "altered", 1, NULL);
	set_concept(c, strdup("one byte of the template's image changed after it was signed (a "
			      "hoster, or malware on the library share): the disk no longer hashes to "
			      "the value its signature catalog holds."));
	return 0;
}

/* Plain words for the reasons a deploy gave (the hosts' reasons, "; "-joined). */
static char *deploy_concept(const char *reasons)
{
	static const struct {
		const char *pattern;
		const char *words;
	} why[] = {
		{ "failed attestation", "a host that failed attestation gets no key from KPS, so it cannot even try" },
		{ "InsecureHostConfiguration", "a host HGS found unhealthy is skipped: KPS releases no key to it" },
		{ "UnauthorizedHost", "a host HGS does not know is skipped: KPS releases no key to it" },
		{ "changed after it was signed", "the template's image no longer hashes to the value in its signature catalog: it was altered after signing, so no host provisions from it" },
		{ "is signed by certificate", "the template is signed by a certificate the tenant's shielding data does not trust (its volume ID qualifier pins the signer)" },
		{ " version ", "the template's version does not meet the version rule of the tenant's qualifier" },
		{ "is not '", "the template's name is not the one the tenant's qualifier names" },
		{ "GuardianNotListed", "KPS refused the key: the shielding data names only another fabric's guardian, so no host of this fabric can open it" },
		{ "at stage template", "the guest itself found the template is not the signed one, before any secret was sent" },
	};
	char *out = NULL, *n;
	size_t i;

	for (i = 0; reasons && i < sizeof(why) / sizeof(why[0]); i++) {
		if (!strstr(reasons, why[i].pattern))
			continue;
		n = out ? sfmt("%s; %s", out, why[i].words) : sdup(why[i].words);
		free(out);
		out = n;
	}
	return out;
}

/*
 * The hosts in SKIPPED ("HOST: reason" strings) for the human report:
 * "A (reason), B and C", a reason shown only when it is short (attestation
 * statuses), malloc'd; NULL when none.
 */
static char *skipped_summary(const json_t *skipped)
{
	size_t n = json_array_size(skipped), i;
	char *out = NULL, *next;

	for (i = 0; i < n; i++) {
		const char *line = json_string_value(json_array_get(skipped, i));
		size_t host = line ? strcspn(line, ":") : 0;
		const char *why = line && line[host] ? line + host + 2 : "";

		next = sfmt("%s%s%.*s%s%s%s", out ? out : "", !out ? "" : i + 1 == n ? " and " : ", ",
			    (int)host, line ? line : "", strlen(why) <= 60 && *why ? " (" : "",
			    strlen(why) <= 60 ? why : "", strlen(why) <= 60 && *why ? ")" : "");
		free(out);
		out = next;
	}
	return out;
}

/* 1 when the hosts named in SKIPPED ("HOST: reason" strings) are exactly ST's skipped list. */
static int skipped_match(const struct sc_step *st, const json_t *skipped, char **why)
{
	json_t *e;
	size_t i, k, n = 0;

	*why = NULL;
	json_array_foreach(skipped, i, e) {
		const char *line = json_string_value(e);
		size_t len = line ? strcspn(line, ":") : 0;

		for (k = 0; k < st->skipped.n; k++)
			if (strlen(st->skipped.v[k]) == len && !strncmp(st->skipped.v[k], line, len))
				break;
		if (k == st->skipped.n) {
			*why = sfmt("host %.*s was skipped too (%s)", (int)len, line ? line : "",
				    line ? line : "");
			return 0;
		}
		n++;
	}
	if (n != st->skipped.n) {
		*why = sfmt("%zu host%s skipped, not %zu", n, n == 1 ? "" : "s", st->skipped.n);
		return 0;
	}
	return 1;
}

static int do_deploy(struct ctx *c)
{
	struct lab *L = c->L;
	const struct sc_step *st = c->st;
	struct lab_vm *v = &L->vms[lab_vm_index(L, st->vm)];
	int sd = lab_shielding_index(L, st->shielding_data);
	int sp = lab_specialization_index(L, st->specialization);
	const char *args[32], *host = NULL, *cn;
	struct lab_result res;
	json_t *j = NULL, *skipped = NULL, *e;
	char *reasons = NULL, *err = NULL, *why = NULL, *words, *summary = NULL, label[128];
	size_t n = 0, i;
	int ok, hi = -1;

	if (!L->shielding[sd].made) {
		outcome(c, "error", 0, "its shielding data is not made: a template it trusts is not "
			"protected yet");
		return 0;
	}
	args[n++] = "vmm";
	args[n++] = "deploy";
	args[n++] = "--dir";
	args[n++] = L->vmm;
	args[n++] = "--cloud";
	args[n++] = st->cloud;
	args[n++] = "--name";
	args[n++] = st->vm;
	args[n++] = "--template";
	args[n++] = L->templates[lab_template_index(L, st->template)].path;
	args[n++] = "--pdk";
	args[n++] = L->shielding[sd].pdk;
	if (sp >= 0) {
		args[n++] = "--fsk";
		args[n++] = L->fsk[sp];
	}
	args[n++] = "--accel";
	args[n++] = L->s->accel == SC_ACCEL_KVM ? "kvm" : L->s->accel == SC_ACCEL_TCG ? "tcg" : "auto";
	if (L->guest) {
		args[n++] = "--guest";
		args[n++] = L->guest;
	}
	args[n++] = "--json";
	args[n] = NULL;
	snprintf(label, sizeof(label), "deploy %s to %s:", st->vm, st->cloud);
	if (lab_execv(L, &res, label, args) < 0)
		return fail_infra(c, "deploy");
	if ((res.rc == 0 || res.rc == 4) &&
	    hl_json_parse(res.out, strlen(res.out), strlen(res.out), &j) == 0)
		skipped = json_object_get(j, "Skipped");
	hl_error_clear();
	json_array_foreach(skipped, i, e) {
		char *r = sfmt("%s%s%s", reasons ? reasons : "", reasons ? "; " : "",
			       json_string_value(e) ? json_string_value(e) : "");
		free(reasons);
		reasons = r;
	}
	summary = skipped_summary(skipped);
	if (res.rc == 0 && j) {
		host = json_string_value(json_object_get(j, "Host"));
		hi = lab_host_index(L, host);
		cn = json_string_value(json_object_get(j, "ComputerName"));
		ok = !strcmp(st->expect, "running") && hi >= 0;
		if (ok && st->placed_on && strcmp(st->placed_on, host)) {
			ok = 0;
			why = sfmt("placed on %s, not %s", host, st->placed_on);
		}
		if (hi >= 0) {
			free(v->bundle);
			v->bundle = sfmt("%s/vms/%s", L->hosts[hi].dir, st->vm);
			v->shielded = 1;
			v->placed_on = v->running_on = hi;
			v->imported |= 1u << hi;
			v->deploy = st;
		}
		free(c->r->reason);
		c->r->reason = sfmt("on %s, computer name %s; workload: %s%s%s", host ? host : "?",
				    cn ? cn : "?", json_string_value(json_object_get(j, "Workload")) ?
				    json_string_value(json_object_get(j, "Workload")) : "-",
				    reasons ? "; skipped " : "", reasons ? reasons : "");
		set_concept(c, sfmt("VMM %s%s%splaced %s on %s: the host attested, KPS released the "
				    ".pdk's key to it, and inside the new VM the guest checked the "
				    "template's signature against the tenant's qualifiers before any secret "
				    "was used, then specialized it (computer name %s) and encrypted its disk "
				    "under a key only its own vTPM holds.", summary ? "skipped " : "",
				    summary ? summary : "", summary ? " and " : "", st->vm,
				    host ? host : "?", cn ? cn : "?"));
		outcome(c, "running", ok, why ? why : ok ? NULL : "the VM runs where it should "
			"have been refused");
	} else {
		err = err_line(res.err);
		ok = res.rc == 4 && !strcmp(st->expect, "refused");
		free(c->r->reason);
		c->r->reason = sdup(err);
		words = deploy_concept(err);
		set_concept(c, sfmt("no host of %s took the VM: VMM skipped %s; %s.", st->cloud,
				    summary ? summary : "every host", words ? words : err ? err :
				    "no message"));
		free(words);
		outcome(c, res.rc == 4 ? "refused" : "failed", ok, err);
		free(reasons);
		reasons = sdup(err);
	}
	if (c->r->passed && st->has_skipped && !skipped_match(st, skipped, &why))
		outcome(c, c->r->got, 0, why);
	if (c->r->passed && !substatus_hold(st, NULL, reasons, &why)) {
		char *m = sfmt("no sub-status %s in the hosts' reasons", why);

		free(why);
		why = m;
		outcome(c, c->r->got, 0, why);
	}
	if (c->r->passed && st->reason && (!reasons || !strstr(reasons, st->reason))) {
		free(why);
		why = sfmt("the reasons do not say '%s'", st->reason);
		outcome(c, c->r->got, 0, why);
	}
	json_decref(j);
	free(summary);
	free(reasons);
	free(err);
	free(why);
	lab_result_clear(&res);
	return 0;
}

static int do_secret_scan(struct ctx *c)
{
	struct sim_search S;
	const char *got;
	char *where = NULL;

	if (sim_search_run(&S, c->L->work, c->st->text, strlen(c->st->text), NULL) < 0) {
		sim_search_release(&S);
		return fail_infra(c, "secret_scan");
	}
	got = S.found ? "present" : "absent";
	if (S.found)
		where = sfmt("in %zu file%s, e.g. %s", S.found, S.found == 1 ? "" : "s",
			     S.first + strlen(c->L->work) + 1);
	free(c->r->reason);
	c->r->reason = sfmt("%zu files, %.1f MiB searched%s%s", S.files,
			    (double)S.bytes / (1024.0 * 1024.0), where ? "; " : "", where ? where : "");
	outcome(c, got, !strcmp(got, c->st->expect), where);
	set_concept(c, S.found ? sfmt("the text is in a file of the lab (%s): it is not kept secret.",
				      where)
			       : sfmt("every file of the lab (%zu files: HGS, the hosts with their VMs' "
				      "disks and vTPM state, the fabric controller, the tenant's files, "
				      "every log) was searched: the text is nowhere in clear.  An "
				      "answer file crosses from the tenant to the guest only inside the "
				      ".pdk, encrypted under a key KPS releases to healthy hosts alone, "
				      "and the guest writes it only to its encrypted volume.",
				      S.files));
	free(where);
	sim_search_release(&S);
	return 0;
}

/* ---- attacks (sim/attack.h) ---- */

static int do_attack(struct ctx *c)
{
	const struct attack_def *d = attack_find(c->st->attack);
	struct attack_run a = { c->L, c->st, NULL, NULL, NULL };
	char *leak = NULL, *why = NULL, *missing = NULL, *concept, *p;
	const char *got;
	int r, ok;

	if (!d) {
		outcome(c, "error", 0, "no such attack");
		return 0;
	}
	if ((r = d->play(&a)) < 0) {
		free(a.status);
		free(a.reason);
		free(a.detail);
		return fail_infra(c, d->name);
	}
	got = r ? "refused" : "succeeded";
	ok = !strcmp(got, c->st->expect);
	if (ok && r && strcmp(a.status, d->status) != 0) {
		ok = 0;
		why = sfmt("refused with %s where the library documents %s", a.status, d->status);
	} else if (ok && r && !substatus_hold(c->st, a.reason, a.reason ? a.reason : "",
					      &missing)) {
		ok = 0;
		why = sfmt("the refusal does not name %s", missing);
	} else if (ok && r && c->st->reason && (!a.reason || !strstr(a.reason, c->st->reason))) {
		ok = 0;
		why = sfmt("the reason does not hold '%s'", c->st->reason);
	} else if (!r) {
		why = sfmt("the attack worked: %s", a.detail ? a.detail : "not refused");
	}
	/* whatever the outcome: nothing of the tenant's may be in a lab file */
	if (attack_leak_check(c->L, &leak) < 0) {
		free(a.status);
		free(a.reason);
		free(a.detail);
		free(why);
		free(missing);
		return fail_infra(c, "the leak check");
	}
	if (leak) {
		char *w = sfmt("%s%sthe tenant's secrets are in lab files: %s", why ? why : "",
			       why ? "; " : "", leak);

		free(why);
		why = w;
		ok = 0;
	}
	free(c->r->reason);
	c->r->reason = r ? sfmt("%s%s%s", a.status, a.reason ? ": " : "", a.reason ? a.reason : "")
			 : sdup(a.detail ? a.detail : "not refused");
	outcome(c, got, ok, why);
	concept = sfmt("attack %s (%s): the attacker %s. %s%s", d->name, d->family, d->title,
		       r ? "" : "It was NOT refused: ", d->concept);
	/* the library's concept sentence starts lowercase: capitalise it here */
	if (concept && (p = strstr(concept, d->concept)) && *p >= 'a' && *p <= 'z')
		*p = (char)(*p - 'a' + 'A');
	set_concept(c, concept);
	free(a.status);
	free(a.reason);
	free(a.detail);
	free(why);
	free(missing);
	free(leak);
	return 0;
}

/* ---- HGS settings, host reboots, clock, kill ---- */

static int simple_verb(struct ctx *c, const char *const *args, const char *okword, char *concept)
{
	struct lab_result res;
	char *err = NULL;
	const char *got;

	if (lab_execv(c->L, &res, NULL, args) < 0) {
		free(concept);
		return fail_infra(c, args[1]);
	}
	got = res.rc == 0 ? okword : res.rc == 4 || res.rc == 1 ? "refused" : "failed";
	if (res.rc != 0)
		err = err_line(res.err);
	outcome(c, got, !strcmp(got, c->st->expect ? c->st->expect : "ok"), err);
	if (res.rc == 0)
		set_concept(c, concept);
	else {
		free(concept);
		set_concept(c, sfmt("refused: %s.", err));
	}
	free(err);
	lab_result_clear(&res);
	return 0;
}

static int do_set_trust(struct ctx *c)
{
	struct lab_hgs *g = &c->L->hgs[0];
	const char *mode = sc_trust_name(c->st->mode);
	int rc;

	rc = simple_verb(c, (const char *const[]){ "hgs", "set-server", "--dir", g->dir, "--trust", mode,
						  NULL }, "ok",
			 sfmt("HGS now attests hosts in %s mode (Set-HgsServer -TrustMode): hosts must "
			      "attest again, and only the registrations of that mode count.", mode));
	if (rc == 0 && c->r->passed)
		g->trust = c->st->mode;
	return rc;
}

static int do_policy(struct ctx *c, int enable)
{
	struct lab_hgs *g = &c->L->hgs[0];

	return simple_verb(c, (const char *const[]){ "hgs", enable ? "enable-attestation-policy"
								  : "disable-attestation-policy",
						    "--dir", g->dir, "--name", c->st->name, NULL }, "ok",
			   sfmt("%s is now %s: it %s in every attestation from now on.", c->st->name,
				enable ? "enabled" : "disabled", enable ? "counts" : "no longer counts"));
}

static int do_reboot(struct ctx *c)
{
	struct lab *L = c->L;
	struct lab_host *h = &L->hosts[lab_host_index(L, c->st->host)];
	struct lab_result res;
	char *err = NULL;

	/* a reboot ends its VMs and its TPM's PCRs */
	lab_vm_stop_all(L, lab_host_index(L, c->st->host));
	lab_svc_stop(&h->svc);
	if (c->st->profile) {
		if (EXEC(c, &res, NULL, "host", "set-profile", "--dir", h->dir, "--profile",
			 c->st->profile) < 0)
			return fail_infra(c, "reboot_host");
		if (res.rc != 0)
			err = err_line(res.err);
		lab_result_clear(&res);
		if (!err) {
			free(h->profile);
			h->profile = strdup(c->st->profile);
		}
	}
	if (lab_svc_start(L, &h->svc) < 0 || lab_svc_ready(&h->svc) < 0)
		return fail_infra(c, "reboot_host");
	lab_save(L);
	outcome(c, err ? "failed" : "rebooted", !err, err);
	set_concept(c, sfmt("the host booted again%s%s: a fresh measured boot into its TPM, which its "
			    "next attestation reports.", c->st->profile ? " with profile " : "",
			    c->st->profile ? c->st->profile : ""));
	free(err);
	return 0;
}

static int do_key_caching(struct ctx *c)
{
	struct lab_hgs *g = &c->L->hgs[0];
	int on = c->st->allow;

	return simple_verb(c, (const char *const[]){ "hgs", "set-key-protection-configuration",
						    "--dir", g->dir,
						    "--allow-key-material-caching", on ? "on" : "off",
						    NULL }, "ok",
			   on ? sdup("HGS now allows key material caching "
				     "(Set-HgsKeyProtectionConfiguration -AllowKeyMaterialCaching): a "
				     "host that gets a VM's key seals it to its TPM and its measured "
				     "boot, and may start that VM from it while HGS is down.")
			      : sdup("HGS no longer allows key material caching: hosts drop their "
				     "cached keys the next time they reach HGS, and a VM starts only "
				     "with a key KPS releases."));
}

/*
 * The backup's password in a new private folder outside the lab, for one
 * verb (a password never goes on a command line): its folder into *DIR
 * (remove with hl_file_rmtree, then free) and the file into *FILE.
 */
static int backup_pw_stage(struct lab *L, char **dir, char **file)
{
	const char *tmp = getenv("TMPDIR");
	unsigned char raw[16];

	*dir = *file = NULL;
	if (!L->backup_pw[0] &&
	    (hl_crypto_random(raw, sizeof(raw)) < 0 ||
	     hl_crypto_hex_encode(raw, sizeof(raw), L->backup_pw, sizeof(L->backup_pw)) < 0))
		return -1;
	hl_crypto_cleanse(raw, sizeof(raw));
	if (!(*dir = sfmt("%s/hgslab-secrets-XXXXXX", tmp && *tmp ? tmp : "/tmp")))
		return -1;
	if (!mkdtemp(*dir)) {
		free(*dir);
		*dir = NULL;
		return hl_error_errno("cannot create a private folder for the backup's password");
	}
	if (!(*file = sfmt("%s/password", *dir)) ||
	    hl_file_write_private(*file, L->backup_pw, strlen(L->backup_pw)) < 0)
		return -1;
	return 0;
}

/* Remove the folder backup_pw_stage made. */
static void backup_pw_unstage(char *dir, char *file)
{
	if (dir)
		hl_file_rmtree(dir);
	free(dir);
	free(file);
}

static int do_backup_hgs(struct ctx *c)
{
	struct lab *L = c->L;
	struct lab_hgs *g = &L->hgs[0];
	char *dir = NULL, *pw = NULL, *folder = NULL, *out = NULL;
	int rc = 0;

	lab_hgs_pick(g);
	if (!(folder = sfmt("%s/backup", L->work)) || !(out = sfmt("%s/%s.hgsbak", folder, g->sc->name)) ||
	    (mkdir(folder, 0700) < 0 && errno != EEXIST) || (unlink(out) < 0 && errno != ENOENT) ||
	    backup_pw_stage(L, &dir, &pw) < 0) {
		rc = fail_infra(c, "backup_hgs");
		goto out;
	}
	rc = simple_verb(c, (const char *const[]){ "hgs", "export-server-state", "--dir", g->dir,
						   "--out", out, "--password-file", pw, NULL }, "ok",
			 sfmt("the whole state of HGS %s (registrations, policies, keys and "
			      "certificates, logs) is in %s, encrypted under a password (scrypt, "
			      "AES-256-GCM) that only the runner holds: no key in clear.",
			      g->sc->name, out));
	if (c->r->passed && c->r->got && !strcmp(c->r->got, "ok")) {
		free(L->backup);
		L->backup = out;
		out = NULL;
	}
out:
	backup_pw_unstage(dir, pw);
	free(folder);
	free(out);
	return rc;
}

static int do_restore_hgs(struct ctx *c)
{
	struct lab *L = c->L;
	struct lab_hgs *g = &L->hgs[0];
	struct lab_result res;
	char *dir = NULL, *pw = NULL, *err = NULL;
	size_t k;
	int rc = 0;

	if (!L->backup) {
		outcome(c, "failed", 0, "no backup_hgs step succeeded before this one");
		return 0;
	}
	/* every node is lost: stopped, its folder gone (node 1's held the SQLite store) */
	for (k = 0; k < g->n_nodes; k++) {
		lab_svc_stop(&g->nodes[k].svc);
		if (hl_file_rmtree(g->nodes[k].dir) < 0)
			return fail_infra(c, "restore_hgs");
	}
	if (backup_pw_stage(L, &dir, &pw) < 0) {
		rc = fail_infra(c, "restore_hgs");
		goto out;
	}
	if (lab_exec(L, &res, NULL, "hgs", "import-server-state", "--dir", g->nodes[0].dir, "--file",
		     L->backup, "--password-file", pw, "--listen", g->nodes[0].listen, NULL) < 0) {
		rc = fail_infra(c, "restore_hgs");
		goto out;
	}
	if (res.rc != 0)
		err = err_line(res.err);
	lab_result_clear(&res);
	for (k = 1; !err && k < g->n_nodes; k++) {
		if (lab_exec(L, &res, NULL, "hgs", "add-node", "--dir", g->nodes[k].dir, "--from",
			     g->nodes[0].dir, "--node-name", g->nodes[k].name, NULL) < 0) {
			rc = fail_infra(c, "restore_hgs");
			goto out;
		}
		if (res.rc != 0)
			err = err_line(res.err);
		lab_result_clear(&res);
	}
	for (k = 0; !err && k < g->n_nodes; k++)
		if (lab_svc_restart(L, &g->nodes[k].svc) < 0) {
			rc = fail_infra(c, "restore_hgs");
			goto out;
		}
	lab_hgs_pick(g);
	if (lab_save(L) < 0) {
		rc = fail_infra(c, "restore_hgs");
		goto out;
	}
	outcome(c, err ? "failed" : "restored", !err, err);
	if (!err)
		set_concept(c, sfmt("every node of HGS %s was lost, folders and store; node %s was "
				    "rebuilt from the backup (Import-HgsServerState: the same keys, "
				    "registrations, policies and logs as when it was taken)%s. What "
				    "changed after the backup is gone.", g->sc->name,
				    g->nodes[0].name, g->n_nodes > 1 ? " and the other nodes joined "
				    "it again (add-node)" : ""));
out:
	backup_pw_unstage(dir, pw);
	free(err);
	return rc;
}

/* "+9h", "-30m", "+2d 3h" for the human report. */
static void fmt_offset(long long s, char *buf, size_t size)
{
	const char *sign = s < 0 ? "-" : "+";
	long long a = s < 0 ? -s : s;

	if (a % 86400 == 0 && a)
		snprintf(buf, size, "%s%lldd", sign, a / 86400);
	else if (a % 3600 == 0 && a)
		snprintf(buf, size, "%s%lldh", sign, a / 3600);
	else if (a % 60 == 0 && a)
		snprintf(buf, size, "%s%lldm", sign, a / 60);
	else
		snprintf(buf, size, "%s%llds", sign, a);
}

static int do_clock(struct ctx *c)
{
	char by[32], now[32], *got;

	c->L->clock_s += c->st->offset_s;
	if (lab_clock_apply(c->L) < 0)
		return fail_infra(c, "clock");
	fmt_offset(c->st->offset_s, by, sizeof(by));
	fmt_offset(c->L->clock_s, now, sizeof(now));
	got = sfmt("lab clock %s", now);
	outcome(c, got, 1, NULL);
	set_concept(c, sfmt("HGS and the DC now see a clock moved by %s: health certificates and "
			    "tickets issued before may have expired.", by));
	free(got);
	return 0;
}

/*
 * The services kill component COMP names into SVC (room for SC_MAX_NODES):
 * one, or every node of an HGS; their count, 0 when the lab has none.
 */
static size_t kill_targets(struct lab *L, const char *comp, struct lab_svc **svc)
{
	const struct sc_hgs *sc;
	struct lab_hgs *g;
	int node = scenario_component_hgs(L->s, comp, &sc);
	size_t k, n = 0;

	if (node >= 0 && sc && (g = lab_hgs_named(L, sc->name))) {
		for (k = 0; k < g->n_nodes; k++)
			if (node == 0 || (size_t)node == k + 1)
				svc[n++] = &g->nodes[k].svc;
	} else if (!strcmp(comp, "dc") && L->has_dc) {
		svc[n++] = &L->dc;
	} else if (!strncmp(comp, "host:", 5) && lab_host_index(L, comp + 5) >= 0) {
		svc[n++] = &L->hosts[lab_host_index(L, comp + 5)].svc;
	}
	return n;
}

static int do_kill(struct ctx *c)
{
	struct lab *L = c->L;
	const char *comp = c->st->component;
	struct lab_svc *svc[SC_MAX_NODES];
	size_t n = kill_targets(L, comp, svc), i;
	const struct sc_hgs *sc;
	int st, shared = scenario_component_hgs(L->s, comp, &sc) >= 0 && sc && sc->nodes > 1;

	if (!n) {
		outcome(c, "error", 0, "no such component in this lab");
		return 0;
	}
	for (i = 0; i < n; i++)
		if (svc[i]->child)
			hl_child_signal(svc[i]->child, SIGKILL);
	if (c->st->restart) {
		for (i = 0; i < n; i++)
			if (lab_svc_restart(L, svc[i]) < 0)
				return fail_infra(c, "kill");
		outcome(c, "restarted", 1, NULL);
		set_concept(c, n > 1 ? sfmt("every node of %s (%zu) was killed (SIGKILL) and started "
					    "again; their state lives in the shared store, so nothing "
					    "was lost.", comp, n)
				     : sfmt("%s was killed (SIGKILL) and started again; its state lives "
					    "in %s, so nothing was lost.", svc[0]->label,
					    shared ? "the store the nodes share" : "its directory"));
	} else {
		for (i = 0; i < n; i++)
			if (svc[i]->child) {
				hl_child_wait(svc[i]->child, 5000, &st);
				hl_child_free(svc[i]->child);
				svc[i]->child = NULL;
			}
		lab_hgs_pick_all(L);
		if (lab_save(L) < 0)
			return fail_infra(c, "kill");
		outcome(c, "killed", 1, NULL);
		set_concept(c, n > 1 ? sfmt("every node of %s (%zu) was killed (SIGKILL) and stays "
					    "down: an outage, no host can attest or release a key.",
					    comp, n)
				     : sfmt("%s was killed (SIGKILL) and stays down.", svc[0]->label));
	}
	return 0;
}

/* ---- the exchanges a step caused (the report's sequence diagrams) ---- */

/* Most entries one log of one node gives one step (the most recent ones). */
#define EXCHANGES_MAX 64

/*
 * One HGS node followed across a step: opened beside its running `hgs
 * serve` before the step and only read (SQLite WAL: a reader never blocks
 * it), with the last Ids of its two logs then; NULL node when it could not
 * be read.
 */
struct log_watch {
	struct hgs_node *node;
	long long attest_id, kps_id;
};

/* The Id of the last entry of the log list ARR, 0 when it is empty. */
static long long last_id(const json_t *arr)
{
	size_t n = json_array_size(arr);

	return n ? json_integer_value(json_object_get(json_array_get(arr, n - 1), "Id")) : 0;
}

/* Open every HGS node of L into W (L->n_hgs) and note where its logs end. */
static void logs_mark(struct lab *L, struct log_watch *w)
{
	for (size_t i = 0; i < L->n_hgs; i++) {
		json_t *a = NULL, *k = NULL;

		if (!L->hgs[i].dir || hgs_node_open(L->hgs[i].dir, 0, &w[i].node) < 0 ||
		    hgs_db_attest_log_since(w[i].node, 0, 1, &a) < 0 ||
		    hgs_db_kps_log_since(w[i].node, 0, 1, &k) < 0) {
			hgs_node_close(w[i].node);
			w[i].node = NULL;
			hl_error_clear();  /* no diagram for this node; the step plays on */
		} else {
			w[i].attest_id = last_id(a);
			w[i].kps_id = last_id(k);
		}
		json_decref(a);
		json_decref(k);
	}
}

/* Order of two exchanges: by time, an attestation before a key release of the same second. */
static int exchange_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	const char *ta = json_string_value(json_object_get(a, "Time"));
	const char *tb = json_string_value(json_object_get(b, "Time"));
	long long ia = json_integer_value(json_object_get(a, "Id"));
	long long ib = json_integer_value(json_object_get(b, "Id"));
	int c = strcmp(ta ? ta : "", tb ? tb : "");

	if (c)
		return c;
	c = (json_object_get(b, "Status") != NULL) - (json_object_get(a, "Status") != NULL);
	return c ? c : (ia > ib) - (ia < ib);
}

/* Append the entries of log list ARR to the vector V of N (capacity CAP), each with "Hgs": NAME. */
static int exchanges_add(json_t ***v, size_t *n, size_t *cap, json_t *arr, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			json_t **nv = realloc(*v, c * sizeof(**v));

			if (!nv)
				return -1;
			*v = nv;
			*cap = c;
		}
		if (json_object_set_new(e, "Hgs", json_string(name)) < 0)
			return -1;
		(*v)[(*n)++] = json_incref(e);
	}
	return 0;
}

/*
 * Give R->exchanges the entries the nodes' logs gained since logs_mark(),
 * oldest first, and close the nodes of W.
 */
static void logs_collect(struct lab *L, struct log_watch *w, struct rp_step *r)
{
	json_t **v = NULL;
	size_t n = 0, cap = 0, i;
	int bad = 0;

	for (i = 0; i < L->n_hgs; i++) {
		json_t *a = NULL, *k = NULL;

		if (!w[i].node)
			continue;
		if (hgs_db_attest_log_since(w[i].node, w[i].attest_id, EXCHANGES_MAX, &a) < 0 ||
		    hgs_db_kps_log_since(w[i].node, w[i].kps_id, EXCHANGES_MAX, &k) < 0)
			hl_error_clear();
		bad |= exchanges_add(&v, &n, &cap, a, L->hgs[i].sc->name) < 0 ||
		       exchanges_add(&v, &n, &cap, k, L->hgs[i].sc->name) < 0;
		json_decref(a);
		json_decref(k);
		hgs_node_close(w[i].node);
		w[i].node = NULL;
	}
	if (n)
		qsort(v, n, sizeof(*v), exchange_cmp);
	if (!bad && n && (r->exchanges = json_array()))
		for (i = 0; i < n; i++)
			json_array_append(r->exchanges, v[i]);
	for (i = 0; i < n; i++)
		json_decref(v[i]);
	free(v);
}

/* ---- entry ---- */

static char *step_title(const struct sc_step *st)
{
	const char *k = sc_step_name(st->kind);

	switch (st->kind) {
	case SC_STEP_START:
	case SC_STEP_CONNECT:
		return st->host ? sfmt("%s %s on %s", k, st->vm, st->host) : sfmt("%s %s", k, st->vm);
	case SC_STEP_STOP:
	case SC_STEP_SHIELD:
	case SC_STEP_OFFLINE_READ:
		return sfmt("%s %s", k, st->vm);
	case SC_STEP_SET_TRUST:
		return sfmt("%s %s", k, sc_trust_name(st->mode));
	case SC_STEP_ENABLE_POLICY:
	case SC_STEP_DISABLE_POLICY:
		return sfmt("%s %s", k, st->name);
	case SC_STEP_CLOCK: {
		char b[32];

		fmt_offset(st->offset_s, b, sizeof(b));
		return sfmt("%s %s", k, b);
	}
	case SC_STEP_KILL:
		return sfmt("%s %s", k, st->component);
	case SC_STEP_KEY_CACHING:
		return sfmt("%s %s", k, st->allow ? "on" : "off");
	case SC_STEP_BACKUP_HGS:
	case SC_STEP_RESTORE_HGS:
		return sdup(k);
	case SC_STEP_REBOOT_HOST:
		return st->profile ? sfmt("%s %s (%s)", k, st->host, st->profile) : sfmt("%s %s", k, st->host);
	case SC_STEP_PROTECT_TEMPLATE:
	case SC_STEP_ALTER_TEMPLATE:
		return sfmt("%s %s", k, st->template);
	case SC_STEP_DEPLOY:
		return sfmt("%s %s to %s", k, st->vm, st->cloud);
	case SC_STEP_ATTACK:
		return st->vm ? sfmt("%s %s (%s)", k, st->attack, st->vm)
			      : st->host ? sfmt("%s %s (%s)", k, st->attack, st->host)
					 : sfmt("%s %s", k, st->attack);
	default:
		return st->host ? sfmt("%s %s", k, st->host) : sdup(k);
	}
}

/* The expectation as shown: "InsecureHostConfiguration (DebugMode)". */
static char *step_expected(const struct sc_step *st)
{
	char *out, *n;
	size_t i;

	if (!st->expect)
		return NULL;
	if (st->kind == SC_STEP_ATTACK && !strcmp(st->expect, "refused") && attack_find(st->attack))
		return sfmt("refused (%s)", attack_find(st->attack)->status);
	out = sdup(st->expect);
	for (i = 0; out && i < st->substatus.n; i++) {
		n = sfmt("%s%s%s", out, i ? ", " : " (", st->substatus.v[i]);
		free(out);
		out = n;
	}
	if (out && st->substatus.n) {
		n = sfmt("%s)", out);
		free(out);
		out = n;
	}
	return out;
}

int step_play(struct lab *L, const struct sc_step *st, int index, struct rp_step *r)
{
	struct ctx c = { L, st, r };
	struct log_watch *watch = L->n_hgs ? calloc(L->n_hgs, sizeof(*watch)) : NULL;
	double t0;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	lab_hgs_pick_all(L);  /* admin verbs go to a living node */
	if (watch)
		logs_mark(L, watch);
	r->index = index;
	r->kind = sc_step_name(st->kind);
	r->title = step_title(st);
	r->expected = step_expected(st);
	r->line = st->pos.line;
	t0 = hl_clock_s();
	switch (st->kind) {
	case SC_STEP_REGISTER: rc = do_register(&c, 1); break;
	case SC_STEP_UNREGISTER: rc = do_register(&c, 0); break;
	case SC_STEP_ATTEST: rc = do_attest(&c); break;
	case SC_STEP_SHIELD: rc = do_shield(&c); break;
	case SC_STEP_START: rc = do_start(&c); break;
	case SC_STEP_STOP: rc = do_stop(&c); break;
	case SC_STEP_CONNECT: rc = do_connect(&c); break;
	case SC_STEP_OFFLINE_READ: rc = do_offline_read(&c); break;
	case SC_STEP_SET_TRUST: rc = do_set_trust(&c); break;
	case SC_STEP_ENABLE_POLICY: rc = do_policy(&c, 1); break;
	case SC_STEP_DISABLE_POLICY: rc = do_policy(&c, 0); break;
	case SC_STEP_REBOOT_HOST: rc = do_reboot(&c); break;
	case SC_STEP_CLOCK: rc = do_clock(&c); break;
	case SC_STEP_KILL: rc = do_kill(&c); break;
	case SC_STEP_PROTECT_TEMPLATE: rc = do_protect_template(&c); break;
	case SC_STEP_ALTER_TEMPLATE: rc = do_alter_template(&c); break;
	case SC_STEP_DEPLOY: rc = do_deploy(&c); break;
	case SC_STEP_SECRET_SCAN: rc = do_secret_scan(&c); break;
	case SC_STEP_ATTACK: rc = do_attack(&c); break;
	case SC_STEP_KEY_CACHING: rc = do_key_caching(&c); break;
	case SC_STEP_BACKUP_HGS: rc = do_backup_hgs(&c); break;
	case SC_STEP_RESTORE_HGS: rc = do_restore_hgs(&c); break;
	default:
		outcome(&c, "error", 0, "unknown step");
	}
	r->duration_s = hl_clock_s() - t0;
	if (watch)
		logs_collect(L, watch, r);
	free(watch);
	if (!r->got)
		r->got = sdup("error");
	return rc;
}
