/*
 * attest_ad.c - Active Directory attestation (attest_ad.h): the trusted
 * domains of the HGS (rows of its store, hgs/db_trust.h, written by the
 * `hgs add-/remove-trusted-domain` verbs in cmd/cmd_hgs_ad.c) and the
 * POST /Attestation/v1/ad/attest route.  The trust document, the ticket
 * format and its verification are proto/'s (proto/ad_trust.h,
 * proto/ad_ticket.h), shared with the fabric's DC that writes them; this file
 * decides what HGS makes of a verified ticket, and hands the result to
 * hgs_attest_finish(), which issues the health certificate and records the
 * attempt.
 */
#include "hgs/attest_ad.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hgs/db.h"
#include "hgs/db_trust.h"
#include "hgs/nonce.h"
#include "proto/ad_ticket.h"
#include "proto/hostkey.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"

/* Largest trust document accepted. */
#define TRUST_DOC_MAX ((size_t)1 << 20)

/* ---- trusted domains ---- */

/* DOMAIN lowercased into BUF (the trust's key in the store); DOMAIN must be valid. */
static int trust_key(const char *domain, char buf[HGS_DOMAIN_MAX])
{
	size_t i;

	if (hl_dnsname_check(domain) < 0)
		return -1;
	for (i = 0; domain[i] && i + 1 < HGS_DOMAIN_MAX; i++)
		buf[i] = (char)tolower((unsigned char)domain[i]);
	buf[i] = '\0';
	return 0;
}

/* Parse a stored trust document TEXT: its JSON into *DOC (may be NULL) and the trust into *OUT. */
static int trust_parse(const char *text, json_t **doc, struct ad_trust **out)
{
	size_t len = strlen(text);

	*out = NULL;
	if (doc)
		*doc = NULL;
	if (ad_trust_parse(text, len, out) < 0)
		return hl_error_wrap("a stored trust is damaged; remove it and add the trust again");
	if (doc && hl_json_parse(text, len, TRUST_DOC_MAX, doc) < 0) {
		ad_trust_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The trust of DOMAIN: 1 found, 0 not trusted, -1 error. */
int hgs_ad_trust_find(struct hgs_node *node, const char *domain, struct ad_trust **out)
{
	char key[HGS_DOMAIN_MAX], *text = NULL;
	int r;

	*out = NULL;
	if (trust_key(domain, key) < 0 || (r = hgs_db_trust_get(node, key, &text)) < 0)
		return -1;
	if (r == 0)
		return 0;
	r = trust_parse(text, NULL, out) < 0 ? -1 : 1;
	free(text);
	return r;
}

/* One row of get-trusted-domain for trust T stored as DOC. */
static json_t *trust_row(const struct ad_trust *t, const json_t *doc)
{
	char when[32];
	const char *added = json_string_value(json_object_get(doc, "added"));
	time_t na = 0;
	json_t *o;

	if (hl_cert_validity(t->dc_cert, NULL, &na) < 0)
		hl_error_clear();
	hl_labclock_format(na, when, sizeof(when));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "Name", t->domain, "DomainSid",
		      t->domain_sid, "Direction", "Outbound", "TrustType", "Forest",
		      "DomainController", t->dc, "DcThumbprint", t->dc_thumbprint, "DcNotAfter",
		      when, "SidFilteringQuarantined", 1);
	if (o)
		json_object_set_new(o, "Added", added ? json_string(added) : json_null());
	return o;
}

/* The trusted domains as JSON rows. */
int hgs_ad_trust_list(struct hgs_node *node, const char *domain, json_t **out)
{
	char **docs = NULL;
	struct ad_trust *t = NULL;
	json_t *arr = NULL, *doc = NULL, *row;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if (domain && hl_dnsname_check(domain) < 0)
		return -1;
	if (hgs_db_trust_list(node, &docs, &n) < 0)
		return -1;
	if (!(arr = json_array())) {
		hl_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (trust_parse(docs[i], &doc, &t) < 0)
			goto out;
		if (!domain || strcasecmp(domain, t->domain) == 0) {
			if (!(row = trust_row(t, doc)) || json_array_append_new(arr, row) < 0) {
				hl_error("out of memory");
				goto out;
			}
		}
		json_decref(doc);
		doc = NULL;
		ad_trust_free(t);
		t = NULL;
	}
	if (domain && json_array_size(arr) == 0) {
		hl_error("domain '%s' is not trusted by %s", domain, node->config.domain);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	hgs_strv_free(docs, n);
	json_decref(arr);
	json_decref(doc);
	ad_trust_free(t);
	return rc;
}

/* Refuse a trust of DOMAIN_SID when another trusted domain than DOMAIN has it. */
static int trust_sid_unique(struct hgs_node *node, const char *domain, const char *domain_sid)
{
	json_t *rows = NULL, *row;
	size_t i;
	int rc = 0;

	if (hgs_ad_trust_list(node, NULL, &rows) < 0)
		return -1;
	json_array_foreach(rows, i, row) {
		const char *name = json_string_value(json_object_get(row, "Name"));
		const char *sid = json_string_value(json_object_get(row, "DomainSid"));

		if (name && sid && strcasecmp(name, domain) != 0 && strcmp(sid, domain_sid) == 0) {
			rc = hl_error("domain '%s' has the SID %s of the trusted domain '%s': a SID "
				      "identifies one domain; remove the other trust first", domain,
				      domain_sid, name);
			break;
		}
	}
	json_decref(rows);
	return rc;
}

/* Trust the domain of a trust document. */
int hgs_ad_trust_add(struct hgs_node *node, const void *doc, size_t len, int force, char *domain,
		     size_t size)
{
	char key[HGS_DOMAIN_MAX], when[32], *text = NULL, *old = NULL;
	struct ad_trust *t = NULL;
	json_t *stored = NULL;
	time_t now;
	int rc = -1, r;

	if (domain && size)
		domain[0] = '\0';
	if (ad_trust_parse(doc, len, &t) < 0)
		return -1;
	if (strcasecmp(t->domain, node->config.domain) == 0) {
		hl_error("cannot trust '%s': it is the domain of this HGS itself", t->domain);
		goto out;
	}
	if (trust_key(t->domain, key) < 0 || (r = hgs_db_trust_get(node, key, &old)) < 0)
		goto out;
	if (!force && r == 1) {
		hl_error("domain '%s' is already trusted by %s; use --force to replace its trust "
			 "(e.g. after its DC key changed)", t->domain, node->config.domain);
		goto out;
	}
	if (trust_sid_unique(node, t->domain, t->domain_sid) < 0 || hgs_node_now(node, &now) < 0 ||
	    hl_json_parse(doc, len, TRUST_DOC_MAX, &stored) < 0)
		goto out;
	hl_labclock_format(now, when, sizeof(when));
	json_object_set_new(stored, "added", json_string(when));
	if (hl_json_dump_pretty(stored, &text) < 0 || hgs_db_trust_put(node, key, text) < 0)
		goto out;
	if (domain && size)
		snprintf(domain, size, "%s", t->domain);
	rc = 0;
out:
	free(text);
	free(old);
	json_decref(stored);
	ad_trust_free(t);
	return rc;
}

/* Stop trusting DOMAIN. */
int hgs_ad_trust_remove(struct hgs_node *node, const char *domain)
{
	char key[HGS_DOMAIN_MAX];
	int r;

	if (trust_key(domain, key) < 0 || (r = hgs_db_trust_remove(node, key)) < 0)
		return -1;
	if (r == 0)
		return hl_error("domain '%s' is not trusted by %s", domain, node->config.domain);
	return 0;
}

/* ---- the route ---- */

/*
 * Decide membership: Passed when one of T's group SIDs is a registered host
 * group, otherwise UnauthorizedHost naming what the ticket lists.
 */
static int check_groups(struct hgs_request *req, const struct ad_ticket *t,
			struct hgs_result *res)
{
	char listed[HGS_REASON_MAX] = "", *group = NULL;
	size_t used = 0;
	int found = 0;

	for (size_t i = 0; i < t->n_groups && !found; i++) {
		found = hgs_db_host_group_find_sid(req->node, t->groups[i].sid, &group);
		if (found < 0)
			return -1;
		if (used < sizeof(listed))
			used += (size_t)snprintf(listed + used, sizeof(listed) - used, "%s%s (%s)",
						 used ? ", " : "", t->groups[i].name, t->groups[i].sid);
	}
	if (found) {
		hl_log_info("AD attestation of %s: member of host group '%s' through %s", t->computer,
			    group, t->domain);
		hgs_result_pass(res);
		hgs_trace_result(req->trace, "HostGroup", "the computer is in a registered guarded "
				 "host group", res, "member of host group '%s' (ticket lists %s)",
				 group, listed);
		free(group);
		return 0;
	}
	hgs_result_fail(res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
			"%s is not a member of any registered guarded host group (its %s ticket "
			"lists %s); add it to a registered group with `hgslab fabric "
			"add-group-member` and get a fresh ticket, or register one of its groups "
			"with `hgslab hgs add-host-group`",
			t->computer, t->domain, used ? listed : "no group");
	hgs_trace_result(req->trace, "HostGroup", "the computer is in a registered guarded host "
			 "group", res, NULL);
	return 0;
}

/* POST /Attestation/v1/ad/attest. */
static int route_attest(struct hgs_request *req, struct hl_http_response *resp)
{
	struct ad_ticket *claimed = NULL, *t = NULL;
	struct ad_trust *trust = NULL;
	struct hostkey_request r;
	const char *host, *ticket, *who;
	struct hgs_result res;
	time_t now;
	int rc = -1, found, ok;

	/* 1. the request, and the ticket's form (its signature comes later) */
	if (hostkey_request_read(req->body, HOSTKEY_CLAIM_TICKET, &r) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	host = r.host;
	ticket = r.ticket;
	if (ad_ticket_decode(ticket, strlen(ticket), &claimed) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "field 'ticket': %s", hl_error_last());
		goto out;
	}
	if (hostkey_request_check_transport(&r) < 0) {
		rc = hgs_attest_reject(req, resp, 400, "%s", hl_error_last());
		goto out;
	}
	who = host;
	hgs_trace_amend(req->trace, 0, ": host '%s': AD ticket from %s, transport key, "
			"signature over the nonce and transport key", host, claimed->domain);
	/* 2. the nonce, before anything else: used up with the log entry whatever follows */
	if (hgs_nonce_check(req->node, req->trace, r.nonce, r.nonce_len, &res, &req->nonce) < 0)
		goto out;
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 3. the ticket's domain is trusted (the one-way trust relecloud.com -> fabrikam.com) */
	found = hgs_ad_trust_find(req->node, claimed->domain, &trust);
	if (found < 0)
		goto out;
	if (!found)
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"domain '%s' is not trusted by %s; trust it with `hgslab hgs "
				"add-trusted-domain --file TRUST.json` (from `hgslab fabric "
				"export-trust`)", claimed->domain, req->node->config.domain);
	hgs_trace_result(req->trace, "DomainTrusted", "the ticket's domain is trusted by this HGS",
			 &res, "%s trusts %s (DC %s)", req->node->config.domain, claimed->domain,
			 found ? trust->dc : "");
	if (!found)
		goto decided;
	/* 4. its DC signed it, and it is valid now */
	if (hgs_node_now(req->node, &now) < 0)
		goto out;
	if (ad_ticket_verify(ticket, strlen(ticket), trust, now, &t) < 0)
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the ticket presented by '%s' is not valid: %s", host, hl_error_last());
	hgs_trace_result(req->trace, "TicketSignature", "the ticket is signed by the trusted "
			 "domain's DC", &res, "DC certificate %.*s...", HGS_TRACE_THUMB_SHOWN,
			 trust->dc_thumbprint);
	if (!t)
		goto decided;
	if (ad_ticket_check_time(t, now) < 0)
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the %s ticket of '%s' is not valid now: %s", t->domain, host,
				hl_error_last());
	hgs_trace_result(req->trace, "TicketValidity", "the ticket is valid now (HGS clock)", &res,
			 NULL);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	/* 5. it names this host, and the presenter holds the ticket's machine key */
	if (strcasecmp(t->computer, host) != 0)
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the ticket was issued to computer '%s' of %s, not to '%s'",
				t->computer, t->domain, host);
	hgs_trace_result(req->trace, "TicketComputer", "the ticket names this host", &res,
			 "computer account '%s' of %s", t->computer, t->domain);
	if (res.status != HGS_STATUS_PASSED)
		goto decided;
	who = t->computer;
	ok = hostkey_request_verify(&r, t->machine_key);
	if (ok < 0)
		goto out;
	if (!ok)
		hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
				"the signature over the nonce and transport key does not verify with "
				"the machine key of computer account '%s' named in its ticket: the "
				"presenter does not hold that key", t->computer);
	hgs_trace_result(req->trace, "Signature", "the host signed the nonce and its transport key "
			 "with the ticket's machine key", &res, NULL);
	if (!ok)
		goto decided;
	/* 6. a registered guarded host group */
	if (check_groups(req, t, &res) < 0)
		goto out;
decided:
	rc = hgs_attest_finish(req, who, &res, r.transport, resp);
out:
	hostkey_request_release(&r);
	ad_ticket_free(claimed);
	ad_ticket_free(t);
	ad_trust_free(trust);
	return rc;
}

const struct hgs_route hgs_ad_routes[] = {
	{ "POST", "/Attestation/v1/ad/attest", HGS_MODE_AD, route_attest },
	{ NULL, NULL, 0, NULL },
};
