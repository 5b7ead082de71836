/*
 * dashboard_lab.c - what the dashboard knows of a running lab
 * (sim/dashboard_int.h): the fabric's picture (HGS nodes with their trust
 * mode, policies and registrations; the fabric domain and its trust; the
 * hosts with their attestation status, profile and VMs; the tenant's
 * guardians), the changes since the last look as events, and the host and
 * VM pages.
 *
 * Everything is read through the components' own modules, read-only,
 * beside the processes that own them: an HGS node with hgs_node_open (its
 * SQLite store in WAL mode), a host with host_open and its state file, a VM
 * with hosts_vm_load and its keeper's pid file lock, the fabric with
 * fabric_open, the guardians with hl_guardian_list.  The HGS nodes stay
 * open between polls; the logs are followed by id, so a poll reads only
 * what is new.
 */
#include "sim/dashboard_int.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fabric/directory.h"
#include "hgs/attest_ad.h"
#include "hgs/db.h"
#include "hgs/node.h"
#include "hosts/host.h"
#include "hosts/vm.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/served.h"
#include "proto/keyprotector.h"
#include "proto/remedy.h"
#include "proto/tcglog.h"
#include "sim/lab.h"
#include "tenant/guardian.h"

/* Log entries a first look takes from each log (the recent history). */
#define DLAB_HISTORY 40
/* Log entries one poll takes at most from each log. */
#define DLAB_POLL_MAX 200

/* One HGS node of the lab, open; the last log ids seen. */
struct dlab_hgs {
	char *name;
	char *dir;
	struct hgs_node *node;  /* NULL until it opens */
	long long attest_id;
	long long kps_id;
};

/* One host: its last status and its VMs' running states ("name=1;name=0;"). */
struct dlab_host {
	char *name;
	char *dir;
	char *hgs;
	char status[600];       /* "" before the first look */
	char *vms;
};

struct dlab {
	char *work;
	json_t *lab;            /* lab.json */
	struct dlab_hgs *hgs;
	size_t n_hgs;
	struct dlab_host *hosts;
	size_t n_hosts;
	int looked;             /* a first poll was made */
};

/*
 * The remedy of an event: what to do about it, from the one table of
 * remedies (proto/remedy.h), or null when none is known.  KIND is the
 * event's kind, STATUS the attestation status or KPS result, SUB the
 * sub-status names ("DebugMode, Iommu") or the KPS reason code.
 */
static json_t *dlab_remedy(const char *kind, const char *status, const char *sub)
{
	const char *r = !strcmp(kind, "KeyRelease") ? hl_remedy_kps(sub) :
			hl_remedy_find(status, sub, NULL);

	return r ? json_string(r) : json_null();
}

/*
 * A copy of V whose object keys are PascalCase ("operation_mode" ->
 * "OperationMode"): the host's and the VM's own files (state.json,
 * config.json, the profile) speak snake_case; the API speaks PascalCase.
 */
static json_t *pascal_copy(const json_t *v)
{
	const char *key;
	json_t *out, *x;
	size_t i;

	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, x)
			json_array_append_new(out, pascal_copy(x));
		return out;
	}
	if (!json_is_object(v))
		return json_deep_copy(v);
	out = json_object();
	json_object_foreach((json_t *)v, key, x) {
		char name[128];
		size_t n = 0;
		int up = 1;

		for (const char *c = key; *c && n + 1 < sizeof(name); c++) {
			if (*c == '_' || *c == '-') {
				up = 1;
				continue;
			}
			name[n++] = up ? (char)toupper((unsigned char)*c) : *c;
			up = 0;
		}
		name[n] = '\0';
		json_object_set_new(out, name, pascal_copy(x));
	}
	return out;
}

/* A string member of O, or "" (never NULL). */
static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The time now as "YYYY-MM-DDTHH:MM:SSZ". */
static json_t *now_json(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* An event object (Entry may be NULL: json null); steals ENTRY and REMEDY. */
static json_t *event_new(const char *kind, int ok, const char *title, const char *host,
			 const char *vm, const char *hgs, const char *reason, json_t *remedy,
			 json_t *entry)
{
	json_t *e = json_object();

	if (!e) {
		json_decref(remedy);
		json_decref(entry);
		return NULL;
	}
	/* an exchange's time is its log entry's (the node clock); a change's is now */
	if (entry && json_is_string(json_object_get(entry, "Time")))
		json_object_set(e, "Time", json_object_get(entry, "Time"));
	else
		json_object_set_new(e, "Time", now_json());
	json_object_set_new(e, "Kind", json_string(kind));
	json_object_set_new(e, "Ok", json_boolean(ok));
	json_object_set_new(e, "Title", json_string(title));
	json_object_set_new(e, "Host", host && *host ? json_string(host) : json_null());
	json_object_set_new(e, "Vm", vm && *vm ? json_string(vm) : json_null());
	json_object_set_new(e, "Hgs", hgs && *hgs ? json_string(hgs) : json_null());
	json_object_set_new(e, "Reason", json_string(reason ? reason : ""));
	json_object_set_new(e, "Remedy", remedy ? remedy : json_null());
	json_object_set_new(e, "Entry", entry ? entry : json_null());
	return e;
}

/* "DebugMode, Iommu" from an entry's SubStatus array into BUF. */
static void substatus_words(const json_t *arr, char *buf, size_t size)
{
	const json_t *s;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, s)
		if (used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
						 json_string_value(s) ? json_string_value(s) : "");
}

/* The event of attestation log entry E of node HGS. */
static json_t *attest_event(const char *hgs, json_t *e)
{
	const char *host = str_of(e, "Host"), *status = str_of(e, "Status");
	char sub[400], title[600];
	int ok = !strcmp(status, "Passed");

	substatus_words(json_object_get(e, "SubStatus"), sub, sizeof(sub));
	if (ok)
		snprintf(title, sizeof(title), "%s attested to %s: Passed", *host ? host : "a host",
			 hgs);
	else
		snprintf(title, sizeof(title), "%s failed attestation: %s%s%s%s",
			 *host ? host : "a host", status, sub[0] ? " (" : "", sub, sub[0] ? ")" : "");
	return event_new("Attestation", ok, title, host, NULL, hgs, str_of(e, "Reason"),
			 ok ? NULL : dlab_remedy("Attestation", status, sub), json_incref(e));
}

/* The event of key protection log entry E of node HGS. */
static json_t *kps_event(const char *hgs, json_t *e)
{
	const char *host = str_of(e, "Host"), *result = str_of(e, "Result");
	const char *owner = str_of(e, "Owner");
	char title[600];
	int ok = !strcmp(result, "Released");

	if (ok)
		snprintf(title, sizeof(title), "key released to %s (key protector of %s)",
			 *host ? host : "a host", *owner ? owner : "its owner");
	else
		snprintf(title, sizeof(title), "key release to %s refused: %s",
			 *host ? host : "a host", *str_of(e, "Reason") ? str_of(e, "Reason") : result);
	return event_new(ok ? "KeyRelease" : "Refusal", ok, title, host, NULL, hgs,
			 ok ? "KPS re-wrapped the VM's transport key to the host's key" :
			 str_of(e, "Message"),
			 ok ? NULL : dlab_remedy("KeyRelease", result, str_of(e, "Reason")),
			 json_incref(e));
}

void dlab_close(struct dlab *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n_hgs; i++) {
		hgs_node_close(l->hgs[i].node);
		free(l->hgs[i].name);
		free(l->hgs[i].dir);
	}
	for (i = 0; i < l->n_hosts; i++) {
		free(l->hosts[i].name);
		free(l->hosts[i].dir);
		free(l->hosts[i].hgs);
		free(l->hosts[i].vms);
	}
	free(l->hgs);
	free(l->hosts);
	json_decref(l->lab);
	free(l->work);
	free(l);
}

int dlab_open(const char *work, struct dlab **out)
{
	struct dlab *l;
	json_t *e;
	size_t i;

	*out = NULL;
	if (!(l = calloc(1, sizeof(*l))) || !(l->work = strdup(work))) {
		free(l);
		return hl_error("out of memory");
	}
	if (lab_json_read(work, &l->lab) < 0)
		goto fail;
	l->n_hgs = json_array_size(json_object_get(l->lab, "Hgs"));
	l->n_hosts = json_array_size(json_object_get(l->lab, "Hosts"));
	l->hgs = calloc(l->n_hgs + 1, sizeof(*l->hgs));
	l->hosts = calloc(l->n_hosts + 1, sizeof(*l->hosts));
	if (!l->hgs || !l->hosts) {
		hl_error("out of memory");
		goto fail;
	}
	json_array_foreach(json_object_get(l->lab, "Hgs"), i, e)
		if (!(l->hgs[i].name = strdup(str_of(e, "Name"))) ||
		    !(l->hgs[i].dir = strdup(str_of(e, "Dir")))) {
			hl_error("out of memory");
			goto fail;
		}
	json_array_foreach(json_object_get(l->lab, "Hosts"), i, e)
		if (!(l->hosts[i].name = strdup(str_of(e, "Name"))) ||
		    !(l->hosts[i].dir = strdup(str_of(e, "Dir"))) ||
		    !(l->hosts[i].hgs = strdup(str_of(e, "Hgs")))) {
			hl_error("out of memory");
			goto fail;
		}
	*out = l;
	return 0;
fail:
	dlab_close(l);
	return -1;
}

/* Node I of L, opened on first use; NULL (error cleared) when it cannot be. */
static struct hgs_node *dlab_node(struct dlab *l, size_t i)
{
	if (!l->hgs[i].node && hgs_node_open(l->hgs[i].dir, 0, &l->hgs[i].node) < 0) {
		hl_error_clear();
		return NULL;
	}
	return l->hgs[i].node;
}

/* New entries of one log of node I into EVENTS; ID follows the last one seen. */
static void poll_log(struct dlab *l, size_t i, int kps, json_t *events, int *moved)
{
	struct hgs_node *node = dlab_node(l, i);
	long long *id = kps ? &l->hgs[i].kps_id : &l->hgs[i].attest_id;
	json_t *arr = NULL, *e, *ev;
	size_t k;
	int rc;

	if (!node)
		return;
	rc = kps ? hgs_db_kps_log_since(node, *id, l->looked ? DLAB_POLL_MAX : DLAB_HISTORY, &arr)
		 : hgs_db_attest_log_since(node, *id, l->looked ? DLAB_POLL_MAX : DLAB_HISTORY,
					   &arr);
	if (rc < 0) {
		hl_error_clear();
		return;
	}
	json_array_foreach(arr, k, e) {
		long long eid = json_integer_value(json_object_get(e, "Id"));

		if (eid > *id)
			*id = eid;
		ev = kps ? kps_event(l->hgs[i].name, e) : attest_event(l->hgs[i].name, e);
		if (ev)
			json_array_append_new(events, ev);
		*moved = 1;
	}
	json_decref(arr);
}

/* A host's attestation status as the host shows it now. */
struct dlab_status {
	char status[32];        /* "Passed", "InsecureHostConfiguration", "Unknown" */
	char sub[512];          /* "DebugMode, Iommu", "" */
	char words[600];        /* "InsecureHostConfiguration (DebugMode)" */
};

/* Host H's status into S (Unknown when its state cannot be read); its whole state into *STATE. */
static void host_status(const struct host *h, struct dlab_status *s, json_t **state)
{
	struct host_state st;

	memset(&st, 0, sizeof(st));
	if (state)
		*state = NULL;
	snprintf(s->status, sizeof(s->status), "Unknown");
	s->sub[0] = '\0';
	snprintf(s->words, sizeof(s->words), "Unknown");
	if (host_state_load(h, &st) < 0) {
		hl_error_clear();
		return;
	}
	snprintf(s->status, sizeof(s->status), "%s", host_state_status(&st, time(NULL)));
	snprintf(s->sub, sizeof(s->sub), "%s", st.substatus);
	snprintf(s->words, sizeof(s->words), "%s%s%s%s", s->status, s->sub[0] ? " (" : "", s->sub,
		 s->sub[0] ? ")" : "");
	if (state && host_state_to_json(&st, state) < 0)
		hl_error_clear();
	host_state_release(&st);
}

/* The VMs of host H as [{Name, State, Running}] and their "name=1;" summary into *SUMMARY. */
static json_t *host_vms(const struct host *h, char **summary)
{
	json_t *names = NULL, *name, *out = json_array();
	size_t k, used = 0, cap = 0;
	char *sum = NULL;

	*summary = NULL;
	if (!out)
		return NULL;
	if (hosts_vm_list(h, &names) < 0) {
		hl_error_clear();
		return out;
	}
	json_array_foreach(names, k, name) {
		const char *n = json_string_value(name);
		json_t *cfg = NULL, *vs = NULL;
		int running = hosts_vm_keeper(h, n) > 0;
		const char *state;
		size_t need = strlen(n) + 4;
		char *grown;

		if (hosts_vm_load(h, n, &cfg, &vs) < 0)
			hl_error_clear();
		state = running ? "Running" : "Off";
		if (running && vs && *str_of(vs, "state"))
			state = str_of(vs, "state");
		json_array_append_new(out, json_pack("{s:s, s:s, s:b, s:s}", "Name", n, "State", state,
						     "Running", running, "Policy",
						     *str_of(cfg, "policy") ? str_of(cfg, "policy") :
						     str_of(vs, "policy")));
		if (used + need + 1 > cap) {
			cap = (used + need + 1) * 2;
			if ((grown = realloc(sum, cap)))
				sum = grown;
		}
		if (sum && used + need + 1 <= cap)
			used += (size_t)snprintf(sum + used, cap - used, "%s=%d;", n, running);
		json_decref(cfg);
		json_decref(vs);
	}
	json_decref(names);
	*summary = sum;
	return out;
}

/* Compare host I's VMs (summary NOW) with the last look; VmStart / VmStop events. */
static void vm_changes(struct dlab_host *ho, const json_t *vms, const char *now, json_t *events,
		       int *moved)
{
	const json_t *v;
	size_t k;
	char key[160];

	if (!ho->vms || (now && !strcmp(ho->vms, now)))
		return;
	*moved = 1;
	json_array_foreach(vms, k, v) {
		const char *name = str_of(v, "Name");
		int running = json_is_true(json_object_get(v, "Running"));
		char title[300];

		snprintf(key, sizeof(key), "%s=%d;", name, !running);
		if (!strstr(ho->vms, key))
			continue;  /* no change, or a VM new since */
		snprintf(title, sizeof(title), "%s %s on %s", name, running ? "started" : "stopped",
			 ho->name);
		json_array_append_new(events, event_new(running ? "VmStart" : "VmStop", 1, title,
			ho->name, name, ho->hgs, running ?
			"its key was released to the host and the VM keeper booted it" :
			"the VM is off: its keeper ended", NULL, NULL));
	}
}

int dlab_poll(struct dlab *l, json_t *events, int *moved)
{
	size_t i;

	*moved = 0;
	for (i = 0; i < l->n_hgs; i++) {
		poll_log(l, i, 0, events, moved);
		poll_log(l, i, 1, events, moved);
	}
	for (i = 0; i < l->n_hosts; i++) {
		struct dlab_host *ho = &l->hosts[i];
		struct host *h = NULL;
		struct dlab_status hs;
		const char *words = hs.words;
		char *sum = NULL;
		json_t *vms;

		if (host_open(ho->dir, &h) < 0) {
			hl_error_clear();
			continue;
		}
		host_status(h, &hs, NULL);
		if (ho->status[0] && strcmp(ho->status, words)) {
			char title[800];
			int ok = !strcmp(hs.status, "Passed");

			snprintf(title, sizeof(title), "%s is now %s", ho->name, words);
			json_array_append_new(events, event_new("HostStatus", ok, title, ho->name, NULL,
				ho->hgs, ok ? "its last attestation passed" :
				"its last attestation did not pass: guarded VMs cannot start there",
				ok ? NULL : dlab_remedy("HostStatus", hs.status, hs.sub), NULL));
			*moved = 1;
		}
		snprintf(ho->status, sizeof(ho->status), "%s", words);
		vms = host_vms(h, &sum);
		vm_changes(ho, vms, sum, events, moved);
		if (sum) {
			free(ho->vms);
			ho->vms = sum;
		}
		json_decref(vms);
		host_close(h);
	}
	l->looked = 1;
	return 0;
}

/* Count the registrations of each kind of NODE into an object. */
static json_t *registrations(struct hgs_node *node)
{
	static const char *const keys[HGS_REG_COUNT] = { "TpmHosts", "TpmPolicies", "CiPolicies",
							 "HostGroups", "HostKeys" };
	json_t *o = json_object(), *arr;
	int k;

	for (k = 0; o && k < HGS_REG_COUNT; k++) {
		arr = NULL;
		if (hgs_db_reg_list(node, (enum hgs_reg_kind)k, NULL, &arr) < 0)
			hl_error_clear();
		json_object_set_new(o, keys[k], json_integer((json_int_t)json_array_size(arr)));
		json_decref(arr);
	}
	return o;
}

/* The picture of HGS node I. */
static json_t *hgs_picture(struct dlab *l, size_t i, const json_t *entry)
{
	struct hgs_node *node = dlab_node(l, i);
	json_t *o, *pol = NULL, *trusts = NULL, *t, *names = json_array();
	enum hgs_mode mode;
	size_t k;

	o = json_pack("{s:s, s:s, s:b}", "Name", l->hgs[i].name, "Url", str_of(entry, "Url"),
		      "Running", hl_served_pid(l->hgs[i].dir, HGS_PID_FILE) > 0);
	if (!o || !names) {
		json_decref(names);
		return o;
	}
	if (node && hgs_node_trust_mode(node, &mode) == 0)
		json_object_set_new(o, "TrustMode", json_string(hgs_mode_name(mode)));
	else
		json_object_set_new(o, "TrustMode", json_null());
	if (node && hgs_db_policy_list(node, &pol) < 0)
		pol = NULL;
	json_object_set_new(o, "Policies", pol ? pol : json_array());
	json_object_set_new(o, "Registrations", node ? registrations(node) : json_object());
	if (node && hgs_ad_trust_list(node, NULL, &trusts) == 0)
		json_array_foreach(trusts, k, t)
			json_array_append_new(names, json_string(str_of(t, "Name")));
	json_decref(trusts);
	json_object_set_new(o, "TrustedDomains", names);
	hl_error_clear();
	return o;
}

/* The fabric domain of DC entry E of lab.json, or null. */
static json_t *fabric_picture(const json_t *e)
{
	struct fabric *f = NULL;
	json_t *o, *dom = NULL, *groups = NULL;
	const char *dir = str_of(e, "Dir");

	if (!e)
		return json_null();
	o = json_pack("{s:s, s:b}", "Url", str_of(e, "Url"), "Running",
		      hl_served_pid(dir, FABRIC_PID_FILE) > 0);
	if (o && fabric_open(dir, 0, &f) == 0) {
		if (fabric_domain_json(f, &dom) == 0)
			json_object_set_new(o, "Domain", json_string(str_of(dom, "Name")));
		if (fabric_group_list(f, NULL, &groups) == 0)
			json_object_set_new(o, "Groups", groups);
		json_decref(dom);
		fabric_close(f);
	}
	hl_error_clear();
	return o ? o : json_null();
}

/* The tenant's guardians in TENANT as [{Name, Kind, SigningThumbprint}]. */
static json_t *guardians_picture(const char *tenant)
{
	struct hl_guardian **v = NULL;
	json_t *out = json_array();
	size_t n = 0, i;

	if (!out || !tenant || hl_guardian_list(tenant, &v, &n) < 0) {
		hl_error_clear();
		return out;
	}
	for (i = 0; i < n; i++) {
		json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "Name", v[i]->name, "Kind",
			v[i]->kind == HL_GUARDIAN_OWNED ? "Owned" : "Imported",
			"SigningThumbprint", v[i]->signing_thumbprint));
		hl_guardian_free(v[i]);
	}
	free(v);
	return out;
}

int dlab_snapshot(struct dlab *l, json_t **out)
{
	json_t *o = json_object(), *hgs = json_array(), *hosts = json_array(), *vms = json_array();
	json_t *e, *v;
	size_t i, k;

	*out = NULL;
	if (!o || !hgs || !hosts || !vms) {
		json_decref(o);
		json_decref(hgs);
		json_decref(hosts);
		json_decref(vms);
		return hl_error("out of memory");
	}
	json_object_set_new(o, "Scenario", json_string(str_of(l->lab, "Scenario")));
	json_object_set_new(o, "Work", json_string(l->work));
	json_object_set_new(o, "Time", now_json());
	json_array_foreach(json_object_get(l->lab, "Hgs"), i, e)
		json_array_append_new(hgs, hgs_picture(l, i, e));
	json_object_set_new(o, "Hgs", hgs);
	json_object_set_new(o, "Fabric", fabric_picture(json_object_get(l->lab, "Dc")));
	for (i = 0; i < l->n_hosts; i++) {
		struct host *h = NULL;
		struct dlab_status hs;
		char *spec = NULL, *sum = NULL;
		json_t *ho, *hv = NULL;

		ho = json_pack("{s:s, s:s, s:s, s:b}", "Name", l->hosts[i].name, "Hgs",
			       l->hosts[i].hgs, "Dir", l->hosts[i].dir, "Running",
			       hl_served_pid(l->hosts[i].dir, HOST_PID_FILE) > 0);
		if (!ho)
			continue;
		if (host_open(l->hosts[i].dir, &h) == 0) {
			host_status(h, &hs, NULL);
			if (hl_profile_to_spec(&h->profile, &spec) == 0)
				json_object_set_new(ho, "Profile", json_string(spec));
			free(spec);
			hv = host_vms(h, &sum);
			free(sum);
			json_array_foreach(hv, k, v)
				json_array_append_new(vms, json_pack("{s:O, s:s, s:O, s:O}", "Name",
					json_object_get(v, "Name"), "Host", l->hosts[i].name,
					"State", json_object_get(v, "State"), "Running",
					json_object_get(v, "Running")));
			host_close(h);
		} else {
			snprintf(hs.status, sizeof(hs.status), "Unknown");
			hs.sub[0] = '\0';
			snprintf(hs.words, sizeof(hs.words), "Unknown");
		}
		hl_error_clear();
		json_object_set_new(ho, "Status", json_string(hs.status));
		json_object_set_new(ho, "SubStatus", json_string(hs.sub));
		json_object_set_new(ho, "StatusWords", json_string(hs.words));
		json_object_set_new(ho, "Vms", hv ? hv : json_array());
		json_array_append_new(hosts, ho);
	}
	json_object_set_new(o, "Hosts", hosts);
	/* the tenant's VMs not imported anywhere yet */
	json_array_foreach(json_object_get(l->lab, "Vms"), i, e) {
		int seen = 0;

		json_array_foreach(vms, k, v)
			seen |= !strcmp(str_of(v, "Name"), str_of(e, "Name"));
		if (!seen)
			json_array_append_new(vms, json_pack("{s:s, s:n, s:s, s:b}", "Name",
				str_of(e, "Name"), "Host", "State", "NotImported", "Running", 0));
	}
	json_object_set_new(o, "Vms", vms);
	json_object_set_new(o, "Guardians", guardians_picture(json_string_value(
		json_object_get(l->lab, "Tenant"))));
	*out = o;
	return 0;
}

/* The lab.json entry of LIST named NAME, or NULL. */
static json_t *entry_named(const json_t *lab, const char *list, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(lab, list), i, e)
		if (!strcmp(str_of(e, "Name"), name))
			return e;
	return NULL;
}

/* Host DIR's measured boot: {Events: [...], Pcrs: [...]} from its last boot's TCG log. */
static json_t *boot_picture(const char *dir)
{
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;
	const struct hl_tcglog_bank *bank;
	char path[PATH_MAX], hex[2 * HL_TCGLOG_MAX_DIGEST + 1], *buf = NULL;
	json_t *o = json_object(), *events = json_array(), *pcr = json_array();
	size_t len = 0, i;

	if (!o || !events || !pcr)
		goto out;
	if (hl_served_path(dir, HOST_TCGLOG_FILE, path, sizeof(path)) < 0 ||
	    hl_file_read(path, HL_TCGLOG_MAX_SIZE, &buf, &len) < 0 ||
	    hl_tcglog_parse((const uint8_t *)buf, len, &log) < 0 || hl_tcglog_replay(log, &pcrs) < 0) {
		json_object_set_new(o, "Error", json_string(hl_error_last()));
		hl_error_clear();
		goto out;
	}
	for (i = 0; i < log->nevents; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];
		const struct hl_tcglog_digest *d = hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA256);
		char text[97];
		size_t t = 0;

		hex[0] = '\0';
		if (d && hl_crypto_hex_encode(d->value, d->size, hex, sizeof(hex)) < 0)
			hex[0] = '\0';
		/* the event's data when it is text (UTF-16 or ASCII), else nothing */
		for (uint32_t b = 0; b < ev->data_len && t + 1 < sizeof(text); b++) {
			unsigned char c = ev->data[b];

			if (c >= 0x20 && c < 0x7f)
				text[t++] = (char)c;
		}
		text[t] = '\0';
		json_array_append_new(events, json_pack("{s:I, s:I, s:s, s:s, s:I, s:s}", "Index",
			(json_int_t)ev->index, "Pcr", (json_int_t)ev->pcr, "Type",
			hl_tcglog_event_type_name(ev->type), "Sha256", hex, "DataSize",
			(json_int_t)ev->data_len, "Text", t * 2 >= ev->data_len / 2 ? text : ""));
	}
	bank = hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256);
	for (unsigned p = 0; bank && p < HL_TCGLOG_PCRS; p++) {
		if (!(bank->extended & (1u << p)) ||
		    hl_crypto_hex_encode(bank->pcr[p], bank->size, hex, sizeof(hex)) < 0)
			continue;
		json_array_append_new(pcr, json_pack("{s:i, s:s}", "Pcr", (int)p, "Sha256", hex));
	}
out:
	json_object_set_new(o, "Events", events ? events : json_array());
	json_object_set_new(o, "Pcrs", pcr ? pcr : json_array());
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	free(buf);
	return o;
}

int dlab_host_page(const char *work, const char *name, json_t **out)
{
	json_t *lab = NULL, *e, *hg, *o = NULL, *state = NULL, *pol = NULL, *last = NULL, *pj = NULL;
	struct hgs_node *node = NULL;
	struct host *h = NULL;
	struct dlab_status hs;
	char *spec = NULL;
	int rc = -1;

	*out = NULL;
	if (lab_json_read(work, &lab) < 0)
		return -1;
	if (!(e = entry_named(lab, "Hosts", name))) {
		hl_error("no host '%s' in this lab", name);
		rc = -2;
		goto out;
	}
	if (host_open(str_of(e, "Dir"), &h) < 0)
		goto out;
	host_status(h, &hs, &state);
	if (hl_profile_to_spec(&h->profile, &spec) < 0 || hl_profile_to_json(&h->profile, &pj) < 0)
		goto out;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o?, s:s, s:o}", "Name", name, "Hgs",
		      str_of(e, "Hgs"), "Dir", str_of(e, "Dir"), "Status", hs.status, "SubStatus",
		      hs.sub, "StatusWords", hs.words, "Running",
		      hl_served_pid(str_of(e, "Dir"), HOST_PID_FILE) > 0, "State",
		      state ? pascal_copy(state) : NULL, "Profile", spec, "ProfileSettings",
		      pascal_copy(pj));
	if (!o) {
		hl_error("out of memory");
		goto out;
	}
	json_object_set_new(o, "Boot", boot_picture(str_of(e, "Dir")));
	if ((hg = entry_named(lab, "Hgs", str_of(e, "Hgs"))) &&
	    hgs_node_open(str_of(hg, "Dir"), 0, &node) == 0) {
		if (hgs_db_policy_list(node, &pol) == 0)
			json_object_set_new(o, "Policies", pol);
		if (hgs_db_attest_log_list(node, name, 5, &last) == 0)
			json_object_set_new(o, "Attestations", last);
	}
	hl_error_clear();
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	json_decref(state);
	json_decref(pj);
	free(spec);
	hgs_node_close(node);
	host_close(h);
	json_decref(lab);
	return rc;
}

/* The KPS encryption thumbprint of HGS node DIR into OUT; 0 or -1. */
static int kps_thumbprint(const char *dir, char out[HL_SHA256_HEX_SIZE])
{
	struct hgs_node *node = NULL;
	char *pem = NULL, *keyfile = NULL;
	X509 *cert = NULL;
	int rc = -1;

	if (hgs_node_open(dir, 0, &node) == 0 &&
	    hgs_db_key_primary(node, HGS_KEY_KPS_ENCRYPTION, &pem, &keyfile) == 0 &&
	    hl_cert_from_pem(pem, strlen(pem), &cert) == 0 && hl_cert_thumbprint(cert, out) == 0)
		rc = 0;
	X509_free(cert);
	free(pem);
	free(keyfile);
	hgs_node_close(node);
	return rc;
}

int dlab_vm_page(const char *work, const char *name, json_t **out)
{
	json_t *lab = NULL, *e, *o = NULL, *hosts = json_array(), *guardians = json_array(), *cfg = NULL;
	json_t *vs = NULL;
	struct hl_kp *kp = NULL;
	const char *kpfile = NULL, *where = NULL;
	char *data = NULL, kpath[PATH_MAX];
	size_t len, i, k;
	int rc = -1, found = 0;

	*out = NULL;
	if (!hosts || !guardians || lab_json_read(work, &lab) < 0)
		goto out;
	if ((e = entry_named(lab, "Vms", name))) {
		found = 1;
		kpfile = json_string_value(json_object_get(e, "KeyProtector"));
	}
	/* where it is imported, and its config there */
	json_array_foreach(json_object_get(lab, "Hosts"), i, e) {
		struct host *h = NULL;
		json_t *c = NULL, *s = NULL;

		if (host_open(str_of(e, "Dir"), &h) == 0 && hosts_vm_load(h, name, &c, &s) == 0) {
			found = 1;
			if (!cfg) {
				cfg = json_incref(c);
				vs = json_incref(s);
				snprintf(kpath, sizeof(kpath), "%s/vms/%s/key-protector.kp", str_of(e, "Dir"),
					 name);
				kpfile = kpath;
			}
			if (hosts_vm_keeper(h, name) > 0)
				where = str_of(e, "Name");
		}
		hl_error_clear();
		json_decref(c);
		json_decref(s);
		host_close(h);
	}
	if (!found) {
		hl_error("no VM '%s' in this lab", name);
		rc = -2;
		goto out;
	}
	if (kpfile && hl_file_read(kpfile, 1u << 20, &data, &len) == 0 &&
	    hl_kp_parse(data, len, &kp) == 0)
		for (k = 0; k < kp->n_entries; k++)
			json_array_append_new(guardians, json_pack("{s:s, s:s}", "Name",
				kp->entries[k].name, "EncryptionThumbprint",
				kp->entries[k].encryption_thumbprint));
	hl_error_clear();
	/* where it may run: a host whose HGS is a guardian of the key protector and that passed */
	json_array_foreach(json_object_get(lab, "Hosts"), i, e) {
		json_t *hg = entry_named(lab, "Hgs", str_of(e, "Hgs"));
		struct host *h = NULL;
		char thumb[HL_SHA256_HEX_SIZE] = "", why[900];
		struct dlab_status hs = { "Unknown", "", "Unknown" };
		const struct hl_kp_entry *ent = NULL;
		int guard = 0, healthy = 0;

		if (hg && kps_thumbprint(str_of(hg, "Dir"), thumb) == 0 && kp)
			guard = hl_kp_find(kp, thumb, &ent) == 0 && ent;
		if (host_open(str_of(e, "Dir"), &h) == 0) {
			host_status(h, &hs, NULL);
			healthy = !strcmp(hs.status, "Passed");
		}
		hl_error_clear();
		host_close(h);
		if (!kp)
			snprintf(why, sizeof(why), "the VM's key protector cannot be read here");
		else if (!guard)
			snprintf(why, sizeof(why), "HGS %s is not a guardian of the VM's key protector: "
				 "KPS cannot open it", str_of(e, "Hgs"));
		else if (!healthy)
			snprintf(why, sizeof(why), "the host is %s: KPS releases keys only to hosts "
				 "that passed attestation", hs.words);
		else
			snprintf(why, sizeof(why), "HGS %s is a guardian of its key protector and the "
				 "host passed attestation", str_of(e, "Hgs"));
		json_array_append_new(hosts, json_pack("{s:s, s:b, s:s}", "Host", str_of(e, "Name"),
						       "MayRun", guard && healthy, "Why", why));
	}
	o = json_pack("{s:s, s:s?, s:s?, s:O, s:O, s:o?, s:o?}", "Name", name, "RunningOn", where,
		      "Owner", kp ? kp->owner_name : NULL, "Guardians", guardians, "Hosts", hosts,
		      "Config", cfg ? pascal_copy(cfg) : NULL, "State", vs ? pascal_copy(vs) : NULL);
	if (!o) {
		hl_error("out of memory");
		goto out;
	}
	if (cfg)
		json_object_set_new(o, "Policy", json_string(*str_of(cfg, "policy") ?
			str_of(cfg, "policy") : str_of(vs, "policy")));
	*out = o;
	rc = 0;
out:
	json_decref(hosts);
	json_decref(guardians);
	json_decref(cfg);
	json_decref(vs);
	hl_kp_free(kp);
	free(data);
	json_decref(lab);
	return rc;
}
