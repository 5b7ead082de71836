/*
 * cmd_vm.c - the `hgslab host` verbs for shielded VMs: import-vm, start-vm
 * (key release through KPS, then the VM keeper of hosts/vm.c), stop-vm,
 * get-vm and connect-vm (the console of encryption-supported VMs only).
 *
 * Exit codes (sim/cmd.h): 4 when attestation, KPS or the VM's policy says no
 * (the VM's files are then untouched), 1 for other failures.
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
#include "hosts/kps_client.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/fileio.h"
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
	  "the guest (vmlinuz, initramfs.cpio); default $HGSLAB_GUEST_DIR or build/guest", 0 },
	OPT_JSON,
	OPT_END,
};

const struct hl_opt cmd_host_stop_vm_opts[] = {
	OPT_DIR,
	OPT_NAME,
	{ "wait-seconds", 'w', HL_OPT_INT, "N", "bound on the orderly shutdown (default 30)", 0 },
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
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_vm_import(h, hl_opts_str(&ctx->opts, "bundle", NULL), name, sizeof(name)) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot import the VM: %s", hl_error_last());
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

/* start-vm. */
int cmd_host_start_vm(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct hosts_vm_start so = { 0 };
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { NULL, 0 };
	struct host *h = NULL;
	json_t *cfg = NULL, *state = NULL, *ev = NULL, *o = NULL;
	char *vmdir = NULL, *kpfile = NULL, *kp = NULL, *g = NULL;
	size_t kp_len = 0;
	int code;

	memset(&u, 0, sizeof(u));
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (hosts_vm_alive(state)) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' already runs on host '%s'", name,
				   h->name);
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
	switch (u.outcome) {
	case HOSTS_KPS_OPENED:
		break;
	case HOSTS_KPS_NOT_HEALTHY:
		code = hl_cmd_fail(HL_EXIT_REFUSED, "cannot start VM '%s': host '%s' failed "
				   "attestation: %s (%s)%s%s; it has no health certificate, so KPS "
				   "releases no key", name, h->name, u.status,
				   u.substatus[0] ? u.substatus : "NoInformation",
				   u.reason[0] ? ": " : "", u.reason);
		goto out;
	case HOSTS_KPS_REFUSED:
		code = hl_cmd_fail(HL_EXIT_REFUSED, "cannot start VM '%s': key release refused by "
				   "'%s': %s: %s", name, u.release.url, u.release.reason,
				   u.release.message);
		goto out;
	case HOSTS_KPS_NOT_OPENED:
		code = hl_cmd_fail(HL_EXIT_REFUSED, "cannot start VM '%s': host '%s' cannot open "
				   "the TK: %s", name, h->name, u.reason);
		goto out;
	}
	if (!(g = vm_launch_guest_dir(hl_opts_str(&ctx->opts, "guest", NULL)))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	so.guest_dir = g;
	so.accel = hl_opts_str(&ctx->opts, "accel", "auto");
	so.wait_s = (int)hl_opts_int(&ctx->opts, "wait-seconds", 120);
	if (strcmp(so.accel, "auto") && strcmp(so.accel, "tcg") && strcmp(so.accel, "kvm")) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "bad --accel '%s': give auto, tcg or kvm",
				   so.accel);
		goto out;
	}
	fprintf(stderr, "host start-vm: TK released to '%s' (fingerprint %.16s...); booting '%s'\n",
		h->name, u.tk_fingerprint, name);
	if (hosts_vm_start(h, name, &tk, &so, &ev) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' did not start: %s", name,
				   hl_error_last());
		goto out;
	}
	hl_buf_free(&tk);
	o = json_pack("{s:s, s:s, s:s, s:s}", "Name", name, "State", "Running", "Policy",
		      json_string_value(json_object_get(cfg, "policy")), "Host", h->name);
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	json_object_set_new(o, "Workload", workload_text(ev));
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
	if (!st || (strcmp(st, "Off") && !hosts_vm_alive(state)))
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

/* connect-vm: the serial console of an encryption-supported VM; refused for shielded ones. */
int cmd_host_connect_vm(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	long seconds = hl_opts_int(&ctx->opts, "seconds", -1);
	struct sockaddr_un sa;
	struct host *h = NULL;
	json_t *cfg = NULL, *state = NULL;
	char *vmdir = NULL, *sock = NULL, buf[4096];
	const char *policy;
	int code, fd = -1, in_open = 1;
	time_t end;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	policy = json_string_value(json_object_get(cfg, "policy"));
	if (!policy || strcmp(policy, "encryption-supported")) {
		code = hl_cmd_fail(HL_EXIT_REFUSED, "VM '%s' is shielded: the host gives no console, "
				   "serial port, monitor, debugger or memory dump of it (policy "
				   "shielded; only encryption-supported VMs have a console)", name);
		goto out;
	}
	if (!hosts_vm_alive(state)) {
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
