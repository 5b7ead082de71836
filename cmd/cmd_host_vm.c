/*
 * cmd_vm.c - the `hgslab host` verbs for shielded VMs: import-vm, start-vm
 * (key release through KPS - or, with HGS down, the key material the host
 * cached sealed to its TPM, hosts/keycache.h - then the VM keeper of
 * hosts/vm.c, which runs as this binary's keep-vm verb), stop-vm,
 * get-vm, connect-vm (the console of encryption-supported VMs only),
 * new-shielded-vm (a VM provisioned from a template disk and shielding
 * data, hosts/provision.c) and get-provisioning-status.
 *
 * Exit codes (sim/cmd.h): 4 when attestation, KPS, the VM's policy (or
 * the tenant's signed policy statement it must agree with), the
 * shielding data or the guest's check of the template says no (the VM's
 * files are then untouched, and no new VM is made), 2 for input files that
 * cannot be read or accepted (import-vm: a bundle that breaks the bundle
 * rules of vm/bundle.h), 1 for other failures.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hosts/host.h"
#include "hosts/keycache.h"
#include "hosts/kps_client.h"
#include "hosts/provision.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/names.h"
#include "vm/bundle.h"
#include "vm/launch.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "HOSTDIR", "the host directory", HL_OPT_REQUIRED }
#define OPT_NAME { "name", 'n', HL_OPT_STRING, "VM", "the VM", HL_OPT_REQUIRED }
#define OPT_JSON { "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 }
#define OPT_END { NULL, 0, 0, NULL, NULL, 0 }

const struct hl_opt cmd_host_import_vm_opts[] = {
	OPT_DIR,
	{ "bundle", 'b', HL_OPT_STRING, "BUNDLEDIR", "the bundle (tenant export-vm)",
	  HL_OPT_REQUIRED },
	OPT_END,
};

const struct hl_opt cmd_host_start_vm_opts[] = {
	OPT_DIR,
	OPT_NAME,
	{ "wait-seconds", 'w', HL_OPT_INT, "N", "bound on the boot to 'running' (default 120)", 0 },
	{ "accel", 0, HL_OPT_STRING, "ACCEL", "auto (default: KVM only when proved), tcg, kvm", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR",
	  HL_GUEST_HELP, 0 },
	OPT_JSON,
	OPT_END,
};

const struct hl_opt cmd_host_stop_vm_opts[] = {
	OPT_DIR,
	OPT_NAME,
	{ "wait-seconds", 'w', HL_OPT_INT, "N", "bound on the orderly shutdown (default 30)", 0 },
	OPT_END,
};

const struct hl_opt cmd_host_keep_vm_opts[] = {
	OPT_DIR,
	OPT_NAME,
	{ "wait-seconds", 'w', HL_OPT_INT, "N", "bound on the boot to 'running' (default 120)", 0 },
	{ "accel", 0, HL_OPT_STRING, "ACCEL", "auto (default), tcg, kvm", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR", HL_GUEST_HELP, 0 },
	{ "template", 0, HL_OPT_STRING, "TDISK", "new-shielded-vm --start: provision the VM "
	  "from this template first", 0 },
	{ "pdk", 0, HL_OPT_STRING, "PDK", "with --template: the shielding data", 0 },
	{ "fsk", 0, HL_OPT_STRING, "FSK", "with --template: the specialization data", 0 },
	OPT_END,
};

const struct hl_opt cmd_host_get_vm_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "VM", "show only this VM", 0 },
	OPT_JSON,
	OPT_END,
};

const struct hl_opt cmd_host_connect_vm_opts[] = {
	OPT_DIR,
	OPT_NAME,
	{ "seconds", 0, HL_OPT_INT, "N", "detach after N seconds (default: at end of input)", 0 },
	OPT_END,
};

const struct hl_opt cmd_host_new_shielded_vm_opts[] = {
	OPT_DIR,
	OPT_NAME,
	{ "template", 't', HL_OPT_STRING, "TDISK", "the protected template disk "
	  "(tenant protect-template-disk)", HL_OPT_REQUIRED },
	{ "pdk", 0, HL_OPT_STRING, "PDK", "the shielding data (tenant new-shielding-data-file)",
	  HL_OPT_REQUIRED },
	{ "fsk", 0, HL_OPT_STRING, "FSK", "the specialization data (tenant "
	  "new-specialization-data-file)", 0 },
	{ "wait-seconds", 'w', HL_OPT_INT, "N", "bound on the provisioning boot (default 180)", 0 },
	{ "accel", 0, HL_OPT_STRING, "ACCEL", "auto (default: KVM only when proved), tcg, kvm", 0 },
	{ "start", 0, HL_OPT_FLAG, NULL, "start the VM once it is provisioned", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR",
	  HL_GUEST_HELP, 0 },
	OPT_JSON,
	OPT_END,
};

const struct hl_opt cmd_host_get_provisioning_status_opts[] = {
	OPT_DIR,
	OPT_NAME,
	OPT_JSON,
	OPT_END,
};

const char *const cmd_host_keeper[] = { "/proc/self/exe", "host", "keep-vm", NULL };

/* Open --dir; an exit code. */
static int open_host(const struct hl_cmd_ctx *ctx, struct host **h)
{
	if (host_open(hl_opts_str(&ctx->opts, "dir", NULL), h) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	return HL_EXIT_OK;
}

/* import-vm. */
int cmd_host_import_vm(struct hl_cmd_ctx *ctx)
{
	struct host *h = NULL;
	char name[HL_NAME_VM_SIZE];
	int code, r;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if ((r = hosts_vm_import(h, hl_opts_str(&ctx->opts, "bundle", NULL), name, sizeof(name))) < 0)
		code = hl_cmd_fail(r == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE,
				   "cannot import the VM: %s", hl_error_last());
	else
		printf("VM '%s' imported on host '%s'\n", name, h->name);
	host_close(h);
	return code;
}

/* "name=hash, ..." of a running event's workload into a new JSON string. */
static json_t *workload_text(const json_t *ev)
{
	const json_t *sums = json_object_get(json_object_get(ev, "workload"), "sha256");
	const char *k;
	json_t *v;
	char buf[2048] = "";
	size_t len = 0;

	json_object_foreach((json_t *)sums, k, v) {
		int n = snprintf(buf + len, sizeof(buf) - len, "%s%s=%s", len ? ", " : "", k,
				 json_string_value(v) ? json_string_value(v) : "?");
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			break;
		len += (size_t)n;
	}
	return json_string(buf);
}

/* Why hosts_kps_unwrap U gave host H no TK (its outcome is not OPENED), into BUF. */
static const char *kps_refusal(const struct hosts_kps_unwrap *u, const struct host *h, char *buf,
			       size_t size)
{
	switch (u->outcome) {
	case HOSTS_KPS_NOT_HEALTHY:
		snprintf(buf, size, "host '%s' failed attestation: %s (%s)%s%s; it has no health "
			 "certificate, so KPS releases no key", h->name, u->status,
			 u->substatus[0] ? u->substatus : "NoInformation", u->reason[0] ? ": " : "",
			 u->reason);
		break;
	case HOSTS_KPS_REFUSED:
		snprintf(buf, size, "key release refused by '%s': %s: %s", u->release.url,
			 u->release.reason, u->release.message);
		break;
	case HOSTS_KPS_NOT_OPENED:
		snprintf(buf, size, "host '%s' cannot open the TK: %s", h->name, u->reason);
		break;
	case HOSTS_KPS_UNREACHABLE:
		snprintf(buf, size, "host '%s' got no key: TransientError: %s; without HGS no "
			 "shielded VM starts", h->name, u->reason);
		break;
	case HOSTS_KPS_OPENED:
		snprintf(buf, size, "the TK was released");
		break;
	}
	return buf;
}

/*
 * start-vm's refusal (exit 4) of VM NAME on H with REASON: with --json also
 * the object a script reads (State "Refused", the attestation status and
 * KPS's answer when U has them), as the other verbs print theirs.
 */
static int start_refused(struct hl_cmd_ctx *ctx, const char *name, const struct host *h,
			 const struct hosts_kps_unwrap *u, const char *reason)
{
	json_t *o;

	if (hl_opts_flag(&ctx->opts, "json") &&
	    (o = json_pack("{s:s, s:s, s:s, s:s}", "Name", name, "Host", h->name, "State",
			   "Refused", "Reason", reason))) {
		if (u && u->status[0])
			json_object_set_new(o, "AttestationStatus", json_string(u->status));
		if (u && u->substatus[0])
			json_object_set_new(o, "AttestationSubStatus", json_string(u->substatus));
		if (u && u->outcome == HOSTS_KPS_REFUSED)
			json_object_set_new(o, "KeyRelease", json_string(u->release.reason));
		hl_out_json(o);
		json_decref(o);
	}
	return hl_cmd_fail(HL_EXIT_REFUSED, "cannot start VM '%s': %s", name, reason);
}

/* --accel: "auto", "tcg" or "kvm"; an exit code. */
static int check_accel(const char *accel)
{
	if (strcmp(accel, "auto") && strcmp(accel, "tcg") && strcmp(accel, "kvm"))
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --accel '%s': give auto, tcg or kvm", accel);
	return HL_EXIT_OK;
}

/*
 * keep-vm: the VM keeper, run by start-vm or new-shielded-vm --start (with
 * --template, --pdk, --fsk: it provisions the VM first); the TK on fd 3,
 * the report on fd 4.
 */
int cmd_host_keep_vm(struct hl_cmd_ctx *ctx)
{
	struct hosts_vm_start so = { 0 };
	struct host *h = NULL;
	char *g = vm_launch_guest_dir(hl_opts_str(&ctx->opts, "guest", NULL));
	int code;

	if (!g)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	so.guest_dir = g;
	so.accel = hl_opts_str(&ctx->opts, "accel", "auto");
	so.wait_s = (int)hl_opts_int(&ctx->opts, "wait-seconds", 120);
	so.template_path = hl_opts_str(&ctx->opts, "template", NULL);
	so.pdk_path = hl_opts_str(&ctx->opts, "pdk", NULL);
	so.fsk_path = hl_opts_str(&ctx->opts, "fsk", NULL);
	if ((code = check_accel(so.accel)) == HL_EXIT_OK &&
	    (code = open_host(ctx, &h)) == HL_EXIT_OK) {
		if (hosts_vm_keep(h, hl_opts_str(&ctx->opts, "name", NULL), &so) < 0)
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		host_close(h);
	}
	free(g);
	return code;
}

/* start-vm. */
int cmd_host_start_vm(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct hosts_vm_start so = { 0 };
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { NULL, 0 };
	struct host *h = NULL;
	json_t *cfg = NULL, *state = NULL, *ev = NULL, *o = NULL;
	char *vmdir = NULL, *kpfile = NULL, *kp = NULL, *g = NULL, policy[HL_VMPOLICY_SIZE];
	char cache_why[HL_ERROR_MAX];
	size_t kp_len = 0;
	int code, source;

	memset(&u, 0, sizeof(u));
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (hosts_vm_keeper(h, name) > 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' already runs on host '%s'", name,
				   h->name);
		goto out;
	}
	/* the tenant's signed policy, before KPS is asked for anything */
	if (hosts_vm_policy(h, name, cfg, policy) < 0) {
		code = start_refused(ctx, name, h, NULL, hl_error_last());
		goto out;
	}
	if (asprintf(&kpfile, "%s/key-protector.kp", vmdir) < 0 ||
	    hl_file_read(kpfile, HL_KP_MAX_SIZE, &kp, &kp_len) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot read VM '%s''s key protector: %s",
				   name, hl_error_last());
		goto out;
	}
	if (hl_child_cleanup_install(-1) < 0 || hosts_kps_unwrap(h, kp, kp_len, &u, &tk) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot start VM '%s': key release for host "
				   "'%s' failed: %s", name, h->name, hl_error_last());
		goto out;
	}
	/* a released key is sealed to the cache when HGS allows it; HGS down: the cache */
	source = hosts_keycache_resolve(h, name, kp, kp_len, &u, &tk, cache_why, sizeof(cache_why));
	if (source < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot start VM '%s': %s", name,
				   hl_error_last());
		goto out;
	}
	if (source != HOSTS_KEY_KPS && source != HOSTS_KEY_CACHE) {
		char why[HL_ERROR_MAX], both[HL_ERROR_MAX];

		kps_refusal(&u, h, why, sizeof(why));
		snprintf(both, sizeof(both), "%s%s%s", why, cache_why[0] ? "; " : "", cache_why);
		code = start_refused(ctx, name, h, &u, both);
		goto out;
	}
	if (!(g = vm_launch_guest_dir(hl_opts_str(&ctx->opts, "guest", NULL)))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	so.guest_dir = g;
	so.accel = hl_opts_str(&ctx->opts, "accel", "auto");
	so.wait_s = (int)hl_opts_int(&ctx->opts, "wait-seconds", 120);
	so.keeper = cmd_host_keeper;
	if ((code = check_accel(so.accel)) != HL_EXIT_OK)
		goto out;
	if (source == HOSTS_KEY_CACHE) {
		if (hl_kp_tk_fingerprint(tk.data, tk.len, u.tk_fingerprint) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		fprintf(stderr, "host start-vm: key material from the host's cache (HGS "
			"unreachable), unsealed by the TPM of '%s' (fingerprint %.16s...); booting "
			"'%s'\n", h->name, u.tk_fingerprint, name);
	} else {
		fprintf(stderr, "host start-vm: TK released to '%s' (fingerprint %.16s...); booting "
			"'%s'\n", h->name, u.tk_fingerprint, name);
	}
	if (hosts_vm_start(h, name, &tk, &so, &ev) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' did not start: %s", name,
				   hl_error_last());
		goto out;
	}
	hl_buf_free(&tk);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Name", name, "State", "Running", "Policy",
		      policy, "Host", h->name, "KeyMaterialSource",
		      source == HOSTS_KEY_CACHE ? "Cache" : "Kps");
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	json_object_set_new(o, "Workload", workload_text(ev));
	/* a VM made from a template names its computer (the volume's /etc/hostname) */
	if (json_is_string(json_object_get(ev, "computer_name")))
		json_object_set(o, "ComputerName", json_object_get(ev, "computer_name"));
	code = hl_out_object(ctx, o);
out:
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);
	json_decref(cfg);
	json_decref(state);
	json_decref(ev);
	json_decref(o);
	free(vmdir);
	free(kpfile);
	free(kp);
	free(g);
	host_close(h);
	return code;
}

/* stop-vm. */
int cmd_host_stop_vm(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct host *h = NULL;
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_vm_stop(h, name, (int)hl_opts_int(&ctx->opts, "wait-seconds", 30)) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot stop VM '%s': %s", name,
				   hl_error_last());
	else
		printf("VM '%s' stopped on host '%s'\n", name, h->name);
	host_close(h);
	return code;
}

/* One get-vm row for NAME. */
static json_t *vm_row(const struct host *h, const char *name, const char *health)
{
	json_t *cfg = NULL, *state = NULL, *o;
	const char *st;

	if (hosts_vm_load(h, name, &cfg, &state) < 0)
		return NULL;
	st = json_string_value(json_object_get(state, "state"));
	if (!st || (strcmp(st, "Off") && hosts_vm_keeper(h, name) <= 0))
		st = "Off";
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Name", name, "State", st, "Policy",
		      json_string_value(json_object_get(cfg, "policy")) ?
		      json_string_value(json_object_get(cfg, "policy")) : "?",
		      "HostHealth", health, "Since",
		      json_string_value(json_object_get(state, "since")) ?
		      json_string_value(json_object_get(state, "since")) : "",
		      "KeyProtector", json_string_value(json_object_get(cfg, "kp_id")) ?
		      json_string_value(json_object_get(cfg, "kp_id")) : "");
	if (o) {
		json_t *ev = json_object();
		if (ev && json_object_get(state, "workload"))
			json_object_set(ev, "workload", json_object_get(state, "workload"));
		json_object_set_new(o, "Workload", ev ? workload_text(ev) : json_string(""));
		json_decref(ev);
		if (json_object_get(state, "error"))
			json_object_set(o, "LastError", json_object_get(state, "error"));
	}
	json_decref(cfg);
	json_decref(state);
	return o;
}

/* get-vm. */
int cmd_host_get_vm(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Name", "State", "Policy", "HostHealth", "Since",
					    "Workload", NULL };
	const char *only = hl_opts_str(&ctx->opts, "name", NULL);
	struct host_state s;
	struct host *h = NULL;
	json_t *names = NULL, *rows = NULL, *v, *r;
	const char *health;
	size_t i;
	int code;

	memset(&s, 0, sizeof(s));
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	health = host_state_load(h, &s) == 0 ? host_state_status(&s, time(NULL)) : "Unknown";
	if (only) {
		if (!(r = vm_row(h, only, health)))
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		else
			code = hl_out_object(ctx, r);
		json_decref(r);
		goto out;
	}
	if (hosts_vm_list(h, &names) < 0 || !(rows = json_array())) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	json_array_foreach(names, i, v)
		if ((r = vm_row(h, json_string_value(v), health)))
			json_array_append_new(rows, r);
	code = hl_out_rows(ctx, rows, cols, "no VMs on this host");
out:
	json_decref(names);
	json_decref(rows);
	host_state_release(&s);
	host_close(h);
	return code;
}

/*
 * connect-vm: the serial console of an encryption-supported VM; refused for
 * shielded ones, and for any VM whose config.json disagrees with the
 * tenant's signed policy (hosts_vm_policy).
 */
int cmd_host_connect_vm(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	long seconds = hl_opts_int(&ctx->opts, "seconds", -1);
	struct sockaddr_un sa;
	struct host *h = NULL;
	json_t *cfg = NULL, *state = NULL;
	char *vmdir = NULL, *sock = NULL, buf[4096], policy[HL_VMPOLICY_SIZE];
	int code, fd = -1, in_open = 1;
	time_t end;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	/* the tenant's signed policy decides, never config.json alone */
	if (hosts_vm_policy(h, name, cfg, policy) < 0) {
		code = hl_cmd_fail(HL_EXIT_REFUSED, "VM '%s' gets no console: %s", name,
				   hl_error_last());
		goto out;
	}
	if (strcmp(policy, "encryption-supported")) {
		code = hl_cmd_fail(HL_EXIT_REFUSED, "VM '%s' is shielded: the host gives no console, "
				   "serial port, monitor, debugger or memory dump of it (policy "
				   "shielded; only encryption-supported VMs have a console)", name);
		goto out;
	}
	if (hosts_vm_keeper(h, name) <= 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' is not running: start it with `hgslab "
				   "host start-vm`", name);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (asprintf(&sock, "%s/run/console.sock", vmdir) < 0 ||
	    strlen(sock) >= sizeof(sa.sun_path)) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s''s console socket path is too long",
				   name);
		goto out;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot connect to VM '%s''s console: %s", name,
				   strerror(errno));
		goto out;
	}
	fprintf(stderr, "host connect-vm: attached to the console of '%s'\n", name);
	end = seconds >= 0 ? time(NULL) + seconds : 0;
	for (;;) {
		struct pollfd pf[2] = { { fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		ssize_t n;

		if (end && time(NULL) >= end)
			break;
		if (poll(pf, in_open ? 2 : 1, 500) < 0 && errno != EINTR)
			break;
		if (pf[0].revents) {
			if ((n = read(fd, buf, sizeof(buf))) <= 0)
				break;
			if (write(1, buf, (size_t)n) != n)
				break;
		}
		if (in_open && pf[1].revents) {
			if ((n = read(0, buf, sizeof(buf))) <= 0) {
				in_open = 0;
				if (!end)
					break;
				continue;
			}
			if (write(fd, buf, (size_t)n) != n)
				break;
		}
	}
	code = HL_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	json_decref(cfg);
	json_decref(state);
	free(vmdir);
	free(sock);
	host_close(h);
	return code;
}

/* Fail run P (its status records WHY) with exit CODE and "cannot provision VM 'NAME': WHY". */
static int provision_fail(struct hosts_provision *p, int code, const char *name, const char *why)
{
	hosts_provision_fail(p, why);
	return hl_cmd_fail(code, "cannot provision VM '%s': %s", name, why);
}

/* 1 when the guest refused the template or the shielding data (its error's stage says so). */
static int guest_refused(const char *msg)
{
	return strstr(msg, "the guest reported an error at stage template: ") ||
	       strstr(msg, "the guest reported an error at stage pdk: ");
}

/* new-shielded-vm (Initialize-ShieldedVM). */
int cmd_host_new_shielded_vm(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *accel = hl_opts_str(&ctx->opts, "accel", "auto");
	struct hosts_provision_input in;
	struct hosts_provision_opts po = { 0 };
	struct hosts_vm_start so = { 0 };
	struct hosts_provision *p = NULL;
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { NULL, 0 };
	struct host *h = NULL;
	json_t *ev = NULL, *run = NULL, *o = NULL;
	char why[HL_ERROR_MAX], *g = NULL, tname[HL_VSC_NAME_SIZE + 32];
	long long t0 = hl_clock_ms();
	double prov_s = 0, t_keeper = 0;
	int code, r, start = hl_opts_flag(&ctx->opts, "start");

	memset(&u, 0, sizeof(u));
	memset(&in, 0, sizeof(in));
	if (hl_name_vm(name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = check_accel(accel)) != HL_EXIT_OK)
		return code;
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_provision_begin(h, name, &p) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot provision VM '%s': %s", name,
				   hl_error_last());
		goto out;
	}
	/* 1. the host's own check: no secret needed */
	r = hosts_provision_check(hl_opts_str(&ctx->opts, "template", NULL),
				  hl_opts_str(&ctx->opts, "pdk", NULL),
				  hl_opts_str(&ctx->opts, "fsk", NULL), &in);
	if (r < 0) {
		code = provision_fail(p, r == HOSTS_PROVISION_BAD_INPUT ? HL_EXIT_USAGE :
				      HL_EXIT_REFUSED, name, hl_error_last());
		goto out;
	}
	snprintf(tname, sizeof(tname), "%s %s", in.vsc->name, in.vsc->disk_version_text);
	fprintf(stderr, "host new-shielded-vm: template '%s' fits the shielding data of '%s' "
		"(qualifier %zu), checked in %.1f s; asking KPS for its key\n", tname, in.pdk->owner,
		in.qualifier + 1, (double)(hl_clock_ms() - t0) / 1000);
	/* 2. the .pdk's key protector to KPS: only a healthy host of a listed guardian gets the TK */
	if (hosts_provision_phase(p, HOSTS_PROVISION_RELEASING_KEY) < 0 ||
	    hl_child_cleanup_install(-1) < 0 ||
	    hosts_kps_unwrap(h, in.pdk->kp_bytes.data, in.pdk->kp_bytes.len, &u, &tk) < 0) {
		snprintf(why, sizeof(why), "key release for host '%s' failed: %s", h->name,
			 hl_error_last());
		code = provision_fail(p, HL_EXIT_FAILURE, name, why);
		goto out;
	}
	if (u.outcome != HOSTS_KPS_OPENED) {
		code = provision_fail(p, HL_EXIT_REFUSED, name, kps_refusal(&u, h, why, sizeof(why)));
		goto out;
	}
	/* 3. the specialize boot (4. with --start, on into run mode in the same boot) */
	if (!(g = vm_launch_guest_dir(hl_opts_str(&ctx->opts, "guest", NULL)))) {
		code = provision_fail(p, HL_EXIT_FAILURE, name, "out of memory");
		goto out;
	}
	po.guest_dir = g;
	po.accel = !strcmp(accel, "auto") ? vm_launch_accel_auto() : accel;
	po.wait_s = (int)hl_opts_int(&ctx->opts, "wait-seconds", 180);
	po.progress = "host new-shielded-vm";
	fprintf(stderr, "host new-shielded-vm: TK released to '%s' after %.1f s%s (fingerprint "
		"%.16s...); provisioning boot of '%s' (%s)%s\n", h->name,
		(double)(hl_clock_ms() - t0) / 1000, u.attested ? ", attested first" : "",
		u.tk_fingerprint, name, po.accel, start ? " by its VM keeper, going on into run "
		"mode" : "");
	if (start) {
		/*
		 * 3+4. --start: the VM keeper boots the guest once - specialize, then on
		 * into run mode - installs the VM under it and stays as its keeper
		 */
		so.guest_dir = g;
		so.accel = po.accel;
		so.wait_s = po.wait_s;
		so.keeper = cmd_host_keeper;
		so.template_path = in.template_path;
		so.pdk_path = hl_opts_str(&ctx->opts, "pdk", NULL);
		so.fsk_path = hl_opts_str(&ctx->opts, "fsk", NULL);
		t_keeper = (double)(hl_clock_ms() - t0) / 1000;
		r = hosts_vm_provision_start(h, name, &tk, &so, &prov_s, &ev, &run);
		hl_buf_free(&tk);
		if (r < 0 && !ev) {
			snprintf(why, sizeof(why), "%s", hl_error_last());
			code = hl_cmd_fail(guest_refused(why) ? HL_EXIT_REFUSED : HL_EXIT_FAILURE,
					   "cannot provision VM '%s': %s", name, why);
			goto out;
		}
		if (r < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' is provisioned but did not start: "
					   "%s", name, hl_error_last());
			goto out;
		}
		fprintf(stderr, "host new-shielded-vm: VM '%s' provisioned after %.1f s, running "
			"after %.1f s (one boot)\n", name, t_keeper + prov_s,
			(double)(hl_clock_ms() - t0) / 1000);
	} else if (hosts_provision_run(p, &in, &tk, &po, &ev) < 0) {
		snprintf(why, sizeof(why), "%s", hl_error_last());
		code = hl_cmd_fail(guest_refused(why) ? HL_EXIT_REFUSED : HL_EXIT_FAILURE,
				   "cannot provision VM '%s': %s", name, why);
		goto out;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Name", name, "Host", h->name,
		      "Template", tname, "Policy", in.pdk->policy, "ComputerName",
		      json_string_value(json_object_get(ev, "computer_name")) ?
		      json_string_value(json_object_get(ev, "computer_name")) : "",
		      "State", "Off", "Provisioning", "Completed");
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	json_object_set_new(o, "Seconds", json_real((double)(hl_clock_ms() - t0) / 1000));
	if (start) {
		json_object_set_new(o, "State", json_string("Running"));
		if (json_string_value(json_object_get(run, "computer_name")))
			json_object_set(o, "ComputerName", json_object_get(run, "computer_name"));
		json_object_set_new(o, "Workload", workload_text(run));
	} else {
		fprintf(stderr, "host new-shielded-vm: VM '%s' provisioned in %.1f s\n", name,
			(double)(hl_clock_ms() - t0) / 1000);
	}
	hl_buf_free(&tk);
	code = hl_out_object(ctx, o);
out:
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);
	hosts_provision_input_release(&in);
	hosts_provision_end(p);
	json_decref(ev);
	json_decref(run);
	json_decref(o);
	free(g);
	host_close(h);
	return code;
}

/* get-provisioning-status (Get-ShieldedVMProvisioningStatus). */
int cmd_host_get_provisioning_status(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct host *h = NULL;
	json_t *s = NULL, *o = NULL;
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_provision_status(h, name, &s) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	o = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "Name", name,
		      "Status", json_object_get(s, "status"), "Phase", json_object_get(s, "phase"),
		      "PercentComplete", json_object_get(s, "progress"),
		      "Template", json_object_get(s, "template"),
		      "ComputerName", json_object_get(s, "computer_name"),
		      "Started", json_object_get(s, "started"), "Updated", json_object_get(s, "updated"),
		      "Error", json_object_get(s, "error"));
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s''s provisioning status is incomplete",
				   name);
		goto out;
	}
	code = hl_out_object(ctx, o);
out:
	json_decref(s);
	json_decref(o);
	host_close(h);
	return code;
}
