/*
 * diag_fabric.c - `hgslab diagnose` against a running fabric, in the spirit
 * of Get-HgsTrace -RunDiagnostics: for each HGS node (is `hgs serve`
 * running, does its URL answer, its certificates and their expiry, its lab
 * clock, the TPM vendor CA, baselines registered) and each host (its agent,
 * client configuration, registration with its HGS, last attestation, health
 * certificate, each Hgs_* policy re-evaluated from its current TCG log with
 * the node's own evaluator, and the PCR-by-PCR difference from the nearest
 * registered baseline), a verdict Pass / Warning / Fail with the detail and,
 * when not Pass, the remedy (proto/remedy.h for statuses and sub-statuses).
 * It only reads: the node's store (SQLite, safe beside `hgs serve`), the
 * node's and host's files, and one GET of each node's /Attestation/v1/info.
 */
#include "sim/diag.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fabric/directory.h"
#include "proto/ad_ticket.h"
#include "hgs/db.h"
#include "hgs/node.h"
#include "hgs/policy.h"
#include "hosts/host.h"
#include "lib/child.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "proto/remedy.h"

/* A certificate within this many seconds of its end is a Warning. */
#define CERT_WARN_S (30L * 24 * 3600)
/* A health certificate within this many seconds of its end is a Warning. */
#define HEALTHCERT_WARN_S 600L
/* A lab clock this many seconds off is a Fail (a Warning when off at all). */
#define CLOCK_FAIL_S 300LL

enum verdict { PASS = 0, WARN, FAIL };

static const char *const verdict_names[] = { "Pass", "Warning", "Fail" };

/* A component being diagnosed: its JSON object and its worst verdict so far. */
struct comp {
	json_t *obj;
	json_t *checks;
	enum verdict worst;
	int failed, warnings;
};

/* Start component KIND NAME (DIR) in TREE's Components. */
static void comp_begin(struct comp *c, json_t *comps, const char *kind, const char *name, const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->checks = json_array();
	c->obj = json_pack("{s:s, s:s, s:s, s:s, s:O}", "Kind", kind, "Name", name ? name : "?", "Dir",
			   dir ? dir : "", "Verdict", "Pass", "Checks", c->checks);
	json_array_append_new(comps, c->obj);
	json_decref(c->checks);
}

/* Close C: its verdict. */
static void comp_end(struct comp *c)
{
	json_object_set_new(c->obj, "Verdict", json_string(verdict_names[c->worst]));
}

/* Add a check to C: NAME, verdict V, REMEDY (NULL for none), EVIDENCE (stolen, may be NULL), detail. */
static void HL_PRINTF(6, 7) check(struct comp *c, const char *name, enum verdict v, const char *remedy,
				  json_t *evidence, const char *fmt, ...)
{
	char detail[2048];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:s, s:s, s:s?}", "Name", name, "Verdict", verdict_names[v], "Detail",
		      detail, "Remedy", v == PASS ? NULL : remedy);
	if (o && evidence)
		json_object_set(o, "Evidence", evidence);
	json_decref(evidence);
	json_array_append_new(c->checks, o);
	if (v > c->worst)
		c->worst = v;
	c->failed += v == FAIL;
	c->warnings += v == WARN;
}

/* The string member KEY of O, "" when absent. */
static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* ---- the lab ---- */

int hl_diag_fabric_from_lab(const char *work, json_t **lab, struct hl_diag_fabric *out)
{
	char path[PATH_MAX], *text = NULL;
	json_t *j = NULL, *e, *hs, *dc;
	size_t len, i, k;

	*lab = NULL;
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/lab.json", work);
	if (hl_file_read(path, 1u << 20, &text, &len) < 0)
		return hl_error("no fabric is up in '%s' (no lab.json): start one with `hgslab up FILE`, "
				"or name its parts with --hgs DIR and --host DIR", work);
	if (hl_json_parse(text, len, len, &j) < 0) {
		free(text);
		return hl_error_wrap("'%s' is damaged", path);
	}
	free(text);
	hs = json_object_get(j, "Hgs");
	out->hgs = calloc(json_array_size(hs) + 1, sizeof(*out->hgs));
	out->hosts = calloc(json_array_size(json_object_get(j, "Hosts")) + 1, sizeof(*out->hosts));
	if (!out->hgs || !out->hosts) {
		hl_diag_fabric_release(out);
		json_decref(j);
		return hl_error("out of memory");
	}
	json_array_foreach(hs, i, e) {
		out->hgs[out->n_hgs].dir = json_string_value(json_object_get(e, "Dir"));
		out->hgs[out->n_hgs].url = json_string_value(json_object_get(e, "Url"));
		out->hgs[out->n_hgs].resolve = json_string_value(json_object_get(e, "Resolve"));
		if (out->hgs[out->n_hgs].dir)
			out->n_hgs++;
	}
	json_array_foreach(json_object_get(j, "Hosts"), i, e) {
		const char *hgs = json_string_value(json_object_get(e, "Hgs"));

		if (!(out->hosts[out->n_hosts].dir = json_string_value(json_object_get(e, "Dir"))))
			continue;
		out->hosts[out->n_hosts].hgs = -1;
		json_array_foreach(hs, k, dc)
			if (hgs && !strcmp(hgs, jstr(dc, "Name")))
				out->hosts[out->n_hosts].hgs = (int)k;
		out->n_hosts++;
	}
	if ((dc = json_object_get(j, "Dc")))
		out->dc_dir = json_string_value(json_object_get(dc, "Dir"));
	*lab = j;
	return 0;
}

void hl_diag_fabric_release(struct hl_diag_fabric *f)
{
	if (!f)
		return;
	free(f->hgs);
	free(f->hosts);
	f->hgs = NULL;
	f->hosts = NULL;
	f->n_hgs = f->n_hosts = 0;
}

int hl_diag_check_dir(const char *dir, const char *kind)
{
	char path[PATH_MAX];
	int host = !strcmp(kind, "host");

	if (!hl_file_exists(dir))
		return hl_error("'%s' does not exist: give an %s directory", dir,
				host ? "existing host" : "existing HGS node");
	snprintf(path, sizeof(path), "%s/%s", dir, host ? HOST_CONFIG_FILE : HGS_DB_FILE);
	if (hl_file_exists(path))
		return 0;
	/* a node that joined a cluster names the shared store in its `store` file instead */
	snprintf(path, sizeof(path), "%s/%s", dir, HGS_STORE_FILE);
	if (!host && hl_file_exists(path))
		return 0;
	return hl_error("'%s' is not %s directory (it has no %s)", dir,
			host ? "a host" : "an HGS node",
			host ? HOST_CONFIG_FILE : HGS_DB_FILE " or " HGS_STORE_FILE);
}

/* ---- HGS ---- */

/* "2026-12-06T08:00:00Z" of T into BUF. */
static const char *when(time_t t, char *buf, size_t size)
{
	hl_labclock_format(t, buf, size);
	return buf;
}

/* The certificate of ROLE of NODE: its expiry at NOW. */
static void check_role_cert(struct comp *c, struct hgs_node *node, enum hgs_key_role role, time_t now)
{
	static const char *const names[] = { "Attestation signer certificate", "KPS signing certificate",
					     "KPS encryption certificate" };
	char *pem = NULL, *file = NULL, t[32];
	X509 *cert = NULL;
	time_t nb, na;
	const char *renew = role == HGS_KEY_ATTESTATION_SIGNER ?
		"Renew the attestation signer: in the lab, make a new node (hgs init) and register the hosts again" :
		"Add a new key protection certificate (hgs add-key-protection-certificate --generate) and make it "
		"primary (hgs set-key-protection-certificate --primary); keep the old one for existing VMs";

	if (hgs_db_key_primary(node, role, &pem, &file) < 0 ||
	    hl_cert_from_pem(pem, strlen(pem), &cert) < 0 || hl_cert_validity(cert, &nb, &na) < 0) {
		check(c, names[role], FAIL, renew, NULL, "cannot read it: %s", hl_error_last());
		hl_error_clear();
	} else if (now >= na) {
		check(c, names[role], FAIL, renew, NULL, "expired on %s (node clock)", when(na, t, sizeof(t)));
	} else if (now < nb) {
		check(c, names[role], FAIL, "Set the node's clock right (remove its clock-offset file here)",
		      NULL, "not valid before %s (node clock)", when(nb, t, sizeof(t)));
	} else if (na - now < CERT_WARN_S) {
		check(c, names[role], WARN, renew, NULL, "expires on %s, in less than 30 days",
		      when(na, t, sizeof(t)));
	} else {
		check(c, names[role], PASS, NULL, NULL, "valid until %s", when(na, t, sizeof(t)));
	}
	hl_cert_free(cert);
	free(pem);
	free(file);
}

/* The lab clock of served directory DIR against this machine's (the hosts'). */
static void check_clock(struct comp *c, const char *dir, const char *who)
{
	long long off = 0;

	if (hl_labclock_offset(dir, &off) < 0) {
		check(c, "Clock", FAIL, "Fix or remove the clock-offset file", NULL, "%s", hl_error_last());
		hl_error_clear();
	} else if (off == 0) {
		check(c, "Clock", PASS, NULL, NULL, "%s's clock agrees with the hosts' (no clock offset)", who);
	} else {
		check(c, "Clock", off > CLOCK_FAIL_S || off < -CLOCK_FAIL_S ? FAIL : WARN,
		      "Set the clocks right (NTP in the real world; here remove the clock-offset file of the "
		      "directory)", NULL,
		      "%s's clock is %lld s %s the hosts' (%s/%s): health certificates look %s to the "
		      "hosts", who, off < 0 ? -off : off, off > 0 ? "ahead of" : "behind", dir,
		      HL_LABCLOCK_OFFSET_FILE, off > 0 ? "to run out early" : "not valid yet");
	}
}

/* GET URL/Attestation/v1/info through RESOLVE; START is the remedy when it does not answer. */
static void check_reach(struct comp *c, const char *url, const char *resolve, const struct hgs_config *cfg,
			const char *start)
{
	char full[1024], direct[64];
	const char *res[2] = { resolve, NULL };
	struct hl_http_opts o = { .timeout_ms = 3000, .resolve = resolve ? res : NULL };
	struct hl_http_reply r = { 0 };

	if (!url && cfg->listen_port) {
		snprintf(direct, sizeof(direct), "http://%s:%u", cfg->listen_addr, cfg->listen_port);
		url = direct;
	}
	if (!url) {
		check(c, "Reachable", WARN, "Give the lab (--workdir) or a host of this HGS (--host) so the "
		      "URL is known", NULL, "the node listens on a port chosen when it started; its URL is "
		      "not known here");
		return;
	}
	snprintf(full, sizeof(full), "%s/Attestation/v1/info", url);
	if (hl_http_get(full, &o, &r) < 0 || hl_http_reply_check(full, &r) < 0) {
		check(c, "Reachable", FAIL, start, NULL, "%s", hl_error_last());
		hl_error_clear();
	} else {
		check(c, "Reachable", PASS, NULL, NULL, "%s answers", url);
	}
	hl_http_reply_release(&r);
}

/* Diagnose the node of H into component C (added to COMPS). */
static void diag_hgs(json_t *comps, const struct hl_diag_hgs *h, struct comp *c)
{
	struct hgs_node *node = NULL;
	struct hgs_policy_set *ps = NULL;
	struct hgs_config cfg;
	char pidfile[PATH_MAX], start[PATH_MAX + 160];
	pid_t pid;
	time_t now;

	if (hgs_node_open(h->dir, 0, &node) < 0 || hgs_db_config_get(node, &cfg) < 0 ||
	    hgs_node_now(node, &now) < 0) {
		comp_begin(c, comps, "HGS", "?", h->dir);
		check(c, "Node directory", FAIL, "Give an HGS node directory (hgs init makes one)", NULL, "%s",
		      hl_error_last());
		hl_error_clear();
		hgs_node_close(node);
		return;
	}
	comp_begin(c, comps, "HGS", cfg.name, h->dir);
	snprintf(start, sizeof(start), "Start HGS (hgslab hgs serve --dir %s; hgslab up starts it for a lab) "
		 "and check that the hosts can reach its URL", h->dir);
	snprintf(pidfile, sizeof(pidfile), "%s/%s", h->dir, HGS_PID_FILE);
	if ((pid = hl_pidfile_owner(pidfile)) > 0)
		check(c, "Running", PASS, NULL, NULL, "hgs serve runs (pid %ld)", (long)pid);
	else
		check(c, "Running", FAIL, start, NULL,
		      "no hgs serve runs on this node: hosts get TransientError and no VM starts");
	check_reach(c, h->url, h->resolve, &cfg, start);
	check(c, "Trust mode", PASS, NULL, NULL, "%s attestation", hgs_mode_name(cfg.trust));
	for (int role = 0; role < HGS_KEY_ROLE_COUNT; role++)
		check_role_cert(c, node, (enum hgs_key_role)role, now);
	check_clock(c, h->dir, "HGS");
	if (cfg.trust == HGS_MODE_TPM) {
		if (cfg.has_vendor_ca)
			check(c, "TPM vendor CA", PASS, NULL, NULL, "configured: EK certificates are checked");
		else
			check(c, "TPM vendor CA", FAIL, "Configure the TPM vendors' CA certificates "
			      "(hgs set-server --tpm-vendor-ca FILE; the lab's is hosts/tpm-vendor/ca.crt)", NULL,
			      "none: HGS cannot check any host's EK certificate, so TPM hosts register only with --force");
		if (hgs_db_policy_set_load(node, &ps) < 0) {
			check(c, "Baselines", FAIL, "Repair the node's store", NULL, "%s", hl_error_last());
			hl_error_clear();
		} else if (!ps->in.n_baselines) {
			check(c, "Baselines", FAIL, hl_remedy_substatus(HGS_SUB_SECURE_BOOT_SETTINGS), NULL,
			      "no TPM baseline is registered: every host fails SecureBootSettings");
		} else {
			check(c, "Baselines", PASS, NULL, NULL, "%zu TPM baseline%s, %zu CI polic%s registered",
			      ps->in.n_baselines, ps->in.n_baselines == 1 ? "" : "s", ps->in.n_ci_policies,
			      ps->in.n_ci_policies == 1 ? "y" : "ies");
		}
		hgs_policy_set_free(ps);
	}
	hgs_node_close(node);
}

/* ---- hosts ---- */

/*
 * The registration of host H with NODE (mode TRUST); in AD mode the host's
 * groups are read from the fabric DC's directory DC_DIR when it is known.
 */
static void check_registration(struct comp *c, struct hgs_node *node, enum hgs_mode trust,
			       const struct host *h, const char *dc_dir, time_t now)
{
	const char *unauth = hl_remedy_status(HGS_STATUS_UNAUTHORIZED_HOST);

	if (trust == HGS_MODE_TPM) {
		json_t *regs = NULL, *e;
		const char *name = NULL;
		struct hgs_tpm_reg r;
		size_t i;
		int found;

		if (hgs_db_reg_list(node, HGS_REG_TPM_HOST, NULL, &regs) < 0)
			goto store;
		json_array_foreach(regs, i, e)
			if (!strcmp(jstr(e, "Host"), h->name) || !strcmp(jstr(e, "Name"), h->name))
				name = json_string_value(json_object_get(e, "Name"));
		if (!name) {
			check(c, "Registration", FAIL, unauth, NULL, "no TPM host is registered for %s: HGS "
			      "answers UnauthorizedHost", h->name);
			json_decref(regs);
			return;
		}
		memset(&r, 0, sizeof(r));
		if ((found = hgs_db_tpm_reg_read(node, name, &r)) <= 0) {
			json_decref(regs);
			goto store;
		}
		check(c, "Registration", PASS, NULL, NULL, "EK %.16s... registered as '%s'", r.ek_fingerprint, name);
		if (r.pinned)
			check(c, "AK pinned", PASS, NULL, NULL, "AK %.20s... proven by credential activation", r.ak_name);
		else
			check(c, "AK pinned", WARN, "Let the host attest (host test-client-configuration): its "
			      "first TPM attestation proves and pins its AK", NULL,
			      "no AK is pinned yet: the host has not completed a TPM attestation since it was registered");
		if (!r.ek_cert.len) {
			check(c, "EK certificate", WARN, "Register the host with its EK certificate (no --force)",
			      NULL, "registered without an EK certificate (--force): nothing ties its EK to a TPM vendor");
		} else {
			X509 *ek = NULL;
			time_t nb, na;
			char t[32];

			if (hl_cert_from_der(r.ek_cert.data, r.ek_cert.len, &ek) < 0 ||
			    hl_cert_validity(ek, &nb, &na) < 0) {
				check(c, "EK certificate", FAIL, unauth, NULL, "unreadable: %s", hl_error_last());
				hl_error_clear();
			} else if (now >= na) {
				check(c, "EK certificate", FAIL, "Re-register the host with a valid EK certificate",
				      NULL, "expired on %s", when(na, t, sizeof(t)));
			} else {
				check(c, "EK certificate", PASS, NULL, NULL, "valid until %s", when(na, t, sizeof(t)));
			}
			hl_cert_free(ek);
		}
		hgs_tpm_reg_release(&r);
		json_decref(regs);
		return;
	}
	if (trust == HGS_MODE_HOSTKEY) {
		struct hl_buf pem = { 0 };
		EVP_PKEY *key = NULL, *reg = NULL;
		char fp[HL_SHA256_HEX_SIZE], *name = NULL;
		int found;

		if (host_key_pub_pem(h, &pem) < 0 || hl_key_pub_from_pem(pem.data, pem.len, &key) < 0 ||
		    hl_key_fingerprint(key, fp) < 0 || (found = hgs_db_host_key_find(node, fp, &name, &reg)) < 0) {
			hl_buf_free(&pem);
			hl_key_free(key);
			goto store;
		}
		if (found)
			check(c, "Registration", PASS, NULL, NULL, "host key %.16s... registered as '%s'", fp, name);
		else
			check(c, "Registration", FAIL, unauth, NULL, "the host key %.16s... is not registered: "
			      "HGS answers UnauthorizedHost", fp);
		free(name);
		hl_key_free(reg);
		hl_key_free(key);
		hl_buf_free(&pem);
		return;
	}
	if (dc_dir) {
		struct fabric *fab = NULL;
		struct ad_ticket *t = NULL;
		char *gname = NULL, groups[1024] = "";
		size_t i, used = 0;
		int found = 0, rc;

		if (fabric_open(dc_dir, 0, &fab) < 0 || (rc = fabric_computer_ticket(fab, h->name, &t)) < 0) {
			fabric_close(fab);
			goto store;
		}
		if (!rc) {
			check(c, "Registration", FAIL, "Add the host's computer account to the fabric domain "
			      "(fabric add-computer) and to a guarded host group (fabric add-group-member)", NULL,
			      "%s is not a computer of the fabric domain", h->name);
			fabric_close(fab);
			return;
		}
		for (i = 0; i < t->n_groups && !found; i++) {
			if ((found = hgs_db_host_group_find_sid(node, t->groups[i].sid, &gname)) < 0) {
				ad_ticket_free(t);
				fabric_close(fab);
				goto store;
			}
			if (found)
				check(c, "Registration", PASS, NULL, NULL, "member of %s (%s), registered as host "
				      "group '%s'", t->groups[i].name, t->groups[i].sid, gname);
			else
				used += (size_t)snprintf(groups + used, used < sizeof(groups) ? sizeof(groups) - used : 0,
							 "%s%s", i ? ", " : "", t->groups[i].name);
		}
		if (!found)
			check(c, "Registration", FAIL, "Add the host to a registered group (fabric "
			      "add-group-member), or register one of its groups (hgs add-host-group), then let "
			      "it attest with a fresh ticket", NULL, "none of its groups is a registered host "
			      "group (it is in: %s): HGS answers UnauthorizedHost", groups);
		free(gname);
		ad_ticket_free(t);
		fabric_close(fab);
		return;
	}
	{
		json_t *groups = NULL;

		if (hgs_db_reg_list(node, HGS_REG_HOST_GROUP, NULL, &groups) < 0)
			goto store;
		if (json_array_size(groups))
			check(c, "Registration", PASS, NULL, NULL, "%zu host group%s registered; the host's "
			      "membership is the DC's to say (name the lab to check it)", json_array_size(groups),
			      json_array_size(groups) == 1 ? "" : "s");
		else
			check(c, "Registration", FAIL, unauth, NULL, "no host group is registered: every AD "
			      "host is UnauthorizedHost");
		json_decref(groups);
		return;
	}
store:
	check(c, "Registration", FAIL, "Repair the node's store", NULL, "%s", hl_error_last());
	hl_error_clear();
}

/*
 * The last key release KPS decided for host NAME (its key protection log):
 * Pass when released, a Warning with the remedy of its reason when refused
 * (a past refusal; the next release decides anew); nothing when there is none.
 */
static void check_key_release(struct comp *c, struct hgs_node *node, const char *name)
{
	json_t *log = NULL, *e;
	const char *reason, *remedy;

	if (hgs_db_kps_log_list(node, name, 1, &log) < 0) {
		check(c, "Last key release", FAIL, "Repair the node's store", NULL, "%s", hl_error_last());
		hl_error_clear();
		return;
	}
	if ((e = json_array_get(log, 0))) {
		reason = jstr(e, "Reason");
		if (!strcmp(jstr(e, "Result"), "Released")) {
			check(c, "Last key release", PASS, NULL, NULL, "KPS released key protector %.16s... "
			      "(owner %s) at %s", jstr(e, "KeyProtector"), jstr(e, "Owner"), jstr(e, "Time"));
		} else {
			remedy = hl_remedy_kps(reason);
			check(c, "Last key release", WARN, remedy ? remedy : hl_remedy_kps("InternalError"), NULL,
			      "KPS refused it at %s: %s: %s", jstr(e, "Time"), reason, jstr(e, "Message"));
		}
	}
	json_decref(log);
}

/* The remedy of the first sub-status of the list TEXT ("DebugMode, Iommu"), else of STATUS. */
static const char *state_remedy(const char *status, const char *text)
{
	const char *r = hl_remedy_find(status, text, NULL);

	return r ? r : hl_remedy_find("refused", NULL, status);
}

/*
 * The host's current boot (tcglog.bin) against the node's policies and
 * baselines; LAST, when not NULL, is its last attestation, to compare.
 */
static void check_boot(struct comp *c, struct hgs_node *node, const struct host *h,
		       const struct host_state *last)
{
	struct hgs_policy_set *ps = NULL;
	struct hl_tcglog *log = NULL;
	struct hgs_result res;
	struct hl_diag_nearest near = { 0 };
	char *path = NULL, *bytes = NULL;
	size_t len;

	if (host_path(h, HOST_TCGLOG_FILE, &path) < 0 || hl_file_read(path, HL_TCGLOG_MAX_SIZE, &bytes, &len) < 0) {
		check(c, "Policies", WARN, "Start the host agent (hgslab host run --dir DIR): it boots the host "
		      "and keeps its TCG log", NULL, "no current TCG log: %s", hl_error_last());
		hl_error_clear();
		goto out;
	}
	if (hl_tcglog_parse((const uint8_t *)bytes, len, &log) < 0 || hgs_db_policy_set_load(node, &ps) < 0) {
		check(c, "Policies", FAIL, hl_remedy_substatus(HGS_SUB_TCG_LOG_VERIFICATION), NULL, "%s",
		      hl_error_last());
		hl_error_clear();
		goto out;
	}
	ps->in.log = log;
	if (hgs_policy_evaluate(&ps->in, &res) < 0) {
		check(c, "Policies", FAIL, "Repair the node's registrations", NULL, "%s", hl_error_last());
		hl_error_clear();
	} else {
		char subs[HGS_REASON_MAX];

		hgs_substatus_format(res.substatus, subs, sizeof(subs));
		if (res.status == HGS_STATUS_PASSED)
			check(c, "Policies", PASS, NULL, NULL, "the host's current boot passes every enabled "
			      "Hgs_* policy");
		else
			check(c, "Policies", FAIL, hl_remedy_status(res.status),
			      json_pack("[s]", res.reason), "the host's current boot, evaluated as HGS does: "
			      "%s%s%s%s", hgs_status_name(res.status), *subs ? " (" : "", subs, *subs ? ")" : "");
		for (const struct hgs_policy_def *d = hgs_policy_defs; d->name; d++)
			if (res.substatus & d->substatus)
				check(c, d->name, FAIL, hl_remedy_substatus(d->substatus), NULL,
				      "InsecureHostConfiguration (%s): not met: %s",
				      hgs_substatus_name(d->substatus), d->description);
		/* the last attestation said otherwise: the host rebooted since, or HGS changed */
		if (last && (!strcmp(last->status, HOST_STATUS_PASSED) ||
			     !strcmp(last->status, hgs_status_name(HGS_STATUS_INSECURE_HOST_CONFIGURATION))) &&
		    (strcmp(last->status, hgs_status_name(res.status)) || strcmp(last->substatus, subs)))
			check(c, "Last attestation", WARN, "Let the host attest again (host "
			      "test-client-configuration) so HGS judges its current boot", NULL,
			      "the host's last attestation said %s%s%s%s, its current boot gives %s%s%s%s",
			      last->status, *last->substatus ? " (" : "", last->substatus,
			      *last->substatus ? ")" : "", hgs_status_name(res.status), *subs ? " (" : "", subs,
			      *subs ? ")" : "");
	}
	if (hl_diag_baseline_nearest(log, ps->in.baselines, ps->in.n_baselines, 0xffu, &near) < 0) {
		check(c, "Baseline", FAIL, "Repair the node's registrations", NULL, "%s", hl_error_last());
		hl_error_clear();
	} else if (!near.name) {
		check(c, "Baseline", FAIL, hl_remedy_substatus(HGS_SUB_SECURE_BOOT_SETTINGS), NULL,
		      "no TPM baseline is registered to compare PCRs 0-7 with");
	} else if (near.differing == 0) {
		check(c, "Baseline", PASS, NULL, NULL, "PCRs 0-7 match baseline '%s' event for event", near.name);
	} else {
		check(c, "Baseline", FAIL, hl_remedy_substatus(HGS_SUB_SECURE_BOOT_SETTINGS), json_incref(near.lines),
		      "nearest baseline '%s': %ld event%s of PCRs 0-7 differ", near.name, near.differing,
		      near.differing == 1 ? "" : "s");
	}
out:
	json_decref(near.lines);
	hgs_policy_set_free(ps);
	hl_tcglog_free(log);
	free(bytes);
	free(path);
}

/* Diagnose the host in DIR, attesting to NODE_DIR (NULL when unknown), in the fabric of DC_DIR (or NULL). */
static void diag_host(json_t *comps, const char *dir, const char *node_dir, const char *dc_dir,
		      struct comp *c)
{
	struct host *h = NULL;
	struct host_client_config cc;
	struct host_state st;
	struct hgs_node *node = NULL;
	enum hgs_mode trust = HGS_MODE_TPM;
	char pidfile[PATH_MAX], t[32];
	time_t now = time(NULL);
	pid_t pid;

	memset(&cc, 0, sizeof(cc));
	memset(&st, 0, sizeof(st));
	if (host_open(dir, &h) < 0) {
		comp_begin(c, comps, "Host", "?", dir);
		check(c, "Host directory", FAIL, "Give a host directory (host new makes one)", NULL, "%s",
		      hl_error_last());
		hl_error_clear();
		return;
	}
	comp_begin(c, comps, "Host", h->name, dir);
	snprintf(pidfile, sizeof(pidfile), "%s/%s", dir, HOST_PID_FILE);
	if ((pid = hl_pidfile_owner(pidfile)) > 0)
		check(c, "Agent", PASS, NULL, NULL, "the host agent runs (pid %ld)", (long)pid);
	else
		check(c, "Agent", WARN, "Start the host agent (hgslab host run --dir DIR)", NULL,
		      "no host agent runs: the host does not renew its health certificate");
	if (host_client_config_load(h, &cc) < 0 || !cc.attestation_url) {
		check(c, "Client configuration", FAIL, "Point the host at HGS (host set-client-configuration "
		      "--attestation-url URL --key-protection-url URL)", NULL, "%s",
		      cc.attestation_url ? hl_error_last() : "Local mode: the host is not a guarded host");
		hl_error_clear();
	} else {
		check(c, "Client configuration", PASS, NULL, NULL, "attests to %s", cc.attestation_url);
	}
	if (host_state_load(h, &st) < 0) {
		check(c, "Attestation", FAIL, "Let the host attest again (host test-client-configuration)", NULL,
		      "%s", hl_error_last());
		hl_error_clear();
	} else {
		const char *status = host_state_status(&st, now);

		if (!strcmp(status, HOST_STATUS_PASSED))
			check(c, "Attestation", PASS, NULL, NULL, "Passed (%s, %s)", st.node[0] ? st.node : "HGS",
			      st.mode);
		else if (!strcmp(status, HOST_STATUS_NOT_CONFIGURED) || !strcmp(status, HOST_STATUS_UNKNOWN))
			check(c, "Attestation", WARN, "Let the host attest (host test-client-configuration)", NULL,
			      "%s: the host has not attested yet", status);
		else
			check(c, "Attestation", FAIL, state_remedy(status, st.substatus), NULL, "%s%s%s%s: %s",
			      status, st.substatus[0] ? " (" : "", st.substatus, st.substatus[0] ? ")" : "",
			      st.reason[0] ? st.reason : "no reason recorded");
		if (!st.health_cert.len) {
			check(c, "Health certificate", strcmp(status, HOST_STATUS_PASSED) ? FAIL : WARN,
			      "Let the host pass attestation first: the Attestation check says what stops it", NULL,
			      "none: without one KPS releases no key to this host");
		} else {
			X509 *hc = NULL;
			time_t nb, na;

			if (hl_cert_from_der(st.health_cert.data, st.health_cert.len, &hc) < 0 ||
			    hl_cert_validity(hc, &nb, &na) < 0) {
				check(c, "Health certificate", FAIL, hl_remedy_status(HGS_STATUS_EXPIRED), NULL,
				      "unreadable: %s", hl_error_last());
				hl_error_clear();
			} else if (st.expires && now >= st.expires) {
				check(c, "Health certificate", FAIL, hl_remedy_status(HGS_STATUS_EXPIRED), NULL,
				      "ran out at %s (host clock)", when(st.expires, t, sizeof(t)));
			} else if (st.expires && st.expires - now < HEALTHCERT_WARN_S) {
				check(c, "Health certificate", WARN, hl_remedy_status(HGS_STATUS_EXPIRED), NULL,
				      "runs out at %s (host clock), in less than %ld minutes",
				      when(st.expires, t, sizeof(t)), HEALTHCERT_WARN_S / 60);
			} else {
				check(c, "Health certificate", PASS, NULL, NULL, "valid until %s (node clock)",
				      when(na, t, sizeof(t)));
			}
			hl_cert_free(hc);
		}
	}
	if (!node_dir) {
		check(c, "Registration", WARN, "Name the host's HGS too (--hgs DIR, or --workdir for a lab)", NULL,
		      "the host's HGS is not among those given: registration, policies and baselines not checked");
	} else if (hgs_node_open(node_dir, 0, &node) < 0 || hgs_node_trust_mode(node, &trust) < 0) {
		check(c, "Registration", FAIL, "Check the HGS node", NULL, "%s", hl_error_last());
		hl_error_clear();
	} else {
		check_key_release(c, node, h->name);
		check_registration(c, node, trust, h, dc_dir, hgs_node_now(node, &now) == 0 ? now : time(NULL));
		if (trust == HGS_MODE_TPM)
			check_boot(c, node, h, st.status[0] ? &st : NULL);
	}
	hgs_node_close(node);
	host_state_release(&st);
	host_client_config_release(&cc);
	host_close(h);
}

/* ---- the whole ---- */

/* The HGS URL (without its /Attestation path) and first resolve entry host DIR is configured with. */
static int host_hgs_url(const char *dir, char *url, size_t usize, char *resolve, size_t rsize)
{
	struct host *h = NULL;
	struct host_client_config cc;
	char *p;
	int rc = -1;

	memset(&cc, 0, sizeof(cc));
	if (host_open(dir, &h) == 0 && host_client_config_load(h, &cc) == 0 && cc.attestation_url) {
		snprintf(url, usize, "%s", cc.attestation_url);
		if ((p = strstr(url, "/Attestation")))
			*p = 0;
		snprintf(resolve, rsize, "%s", cc.n_resolve ? cc.resolve[0] : "");
		rc = 0;
	}
	hl_error_clear();
	host_client_config_release(&cc);
	host_close(h);
	return rc;
}

int hl_diag_fabric_run(const struct hl_diag_fabric *f, json_t **tree)
{
	json_t *comps = json_array();
	int failed = 0, warnings = 0;
	struct comp c;

	*tree = NULL;
	if (!comps)
		return hl_error("out of memory");
	for (size_t i = 0; i < f->n_hgs; i++) {
		struct hl_diag_hgs h = f->hgs[i];
		char url[512], resolve[256];

		for (size_t k = 0; !h.url && k < f->n_hosts; k++)
			if (f->hosts[k].hgs == (int)i && host_hgs_url(f->hosts[k].dir, url, sizeof(url), resolve,
								       sizeof(resolve)) == 0) {
				h.url = url;
				h.resolve = resolve[0] ? resolve : NULL;
			}
		diag_hgs(comps, &h, &c);
		comp_end(&c);
		failed += c.failed;
		warnings += c.warnings;
	}
	if (f->dc_dir) {
		char pidfile[PATH_MAX];
		pid_t pid;

		comp_begin(&c, comps, "DC", "dc01", f->dc_dir);
		snprintf(pidfile, sizeof(pidfile), "%s/%s", f->dc_dir, FABRIC_PID_FILE);
		if ((pid = hl_pidfile_owner(pidfile)) > 0)
			check(&c, "Running", PASS, NULL, NULL, "fabric serve runs (pid %ld)", (long)pid);
		else
			check(&c, "Running", FAIL, "Start the DC (hgslab fabric serve --dir DIR)", NULL,
			      "the fabric's DC does not run: AD-mode hosts get no membership ticket");
		check_clock(&c, f->dc_dir, "the DC");
		comp_end(&c);
		failed += c.failed;
		warnings += c.warnings;
	}
	for (size_t i = 0; i < f->n_hosts; i++) {
		int k = f->hosts[i].hgs;

		diag_host(comps, f->hosts[i].dir, k >= 0 && (size_t)k < f->n_hgs ? f->hgs[k].dir : NULL,
			  f->dc_dir, &c);
		comp_end(&c);
		failed += c.failed;
		warnings += c.warnings;
	}
	*tree = json_pack("{s:o, s:s, s:i, s:i}", "Components", comps, "Verdict",
			  failed ? "Fail" : warnings ? "Warning" : "Pass", "Failed", failed, "Warnings", warnings);
	if (!*tree)
		return hl_error("out of memory");
	return failed;
}

void hl_diag_fabric_print(FILE *out, const json_t *tree)
{
	json_t *comp, *ch;
	size_t i, k;

	json_array_foreach(json_object_get(tree, "Components"), i, comp) {
		fprintf(out, "%s %s (%s): %s\n", json_string_value(json_object_get(comp, "Kind")),
			json_string_value(json_object_get(comp, "Name")),
			json_string_value(json_object_get(comp, "Dir")),
			json_string_value(json_object_get(comp, "Verdict")));
		json_array_foreach(json_object_get(comp, "Checks"), k, ch) {
			const char *remedy = json_string_value(json_object_get(ch, "Remedy"));
			json_t *ev = json_object_get(ch, "Evidence"), *l;
			size_t n;

			fprintf(out, "  %-7s %-24s %s\n", json_string_value(json_object_get(ch, "Verdict")),
				json_string_value(json_object_get(ch, "Name")),
				json_string_value(json_object_get(ch, "Detail")));
			json_array_foreach(ev, n, l)
				fprintf(out, "%10s%s\n", "", json_string_value(l));
			if (remedy)
				fprintf(out, "%10sremedy: %s.\n", "", remedy);
		}
	}
	fprintf(out, "%s: %lld failed, %lld warning%s\n", json_string_value(json_object_get(tree, "Verdict")),
		json_integer_value(json_object_get(tree, "Failed")),
		json_integer_value(json_object_get(tree, "Warnings")),
		json_integer_value(json_object_get(tree, "Warnings")) == 1 ? "" : "s");
}
