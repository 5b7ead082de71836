/*
 * cmd_vmm.c - the `hgslab vmm` verbs, the fabric controller (Virtual Machine
 * Manager's role, sim/vmm.h): new-cloud and get-cloud (clouds of guarded
 * hosts that support shielded VMs), deploy (a new shielded VM from a signed
 * template disk and the tenant's .pdk on the first host of a cloud that
 * attests and provisions it) and get-placement.
 *
 * Exit codes: 4 when no host of the cloud qualifies (each host's reason in
 * the message), 2 for a bad command line or an input file a host cannot
 * read, 1 for other failures.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "lib/child.h"
#include "proto/names.h"
#include "sim/vmm.h"

#define OPT_VMM { "dir", 'd', HL_OPT_STRING, "VMMDIR", "the fabric controller's folder", \
		  HL_OPT_REQUIRED }

const struct hl_opt cmd_vmm_new_cloud_opts[] = {
	OPT_VMM,
	{ "name", 'n', HL_OPT_STRING, "CLOUD", "the cloud's name", HL_OPT_REQUIRED },
	{ "host", 0, HL_OPT_LIST, "HOSTDIR",
	  "a guarded host of the cloud (repeatable; deploys try them in this order)",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_vmm_get_cloud_opts[] = {
	OPT_VMM,
	{ "name", 'n', HL_OPT_STRING, "CLOUD", "show only this cloud", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_vmm_deploy_opts[] = {
	OPT_VMM,
	{ "cloud", 'c', HL_OPT_STRING, "CLOUD", "the cloud to deploy into", HL_OPT_REQUIRED },
	{ "name", 'n', HL_OPT_STRING, "VM", "the new VM", HL_OPT_REQUIRED },
	{ "template", 't', HL_OPT_STRING, "TDISK", "the protected template disk", HL_OPT_REQUIRED },
	{ "pdk", 0, HL_OPT_STRING, "PDK", "the tenant's shielding data", HL_OPT_REQUIRED },
	{ "fsk", 0, HL_OPT_STRING, "FSK", "the specialization data", 0 },
	{ "wait-seconds", 'w', HL_OPT_INT, "N", "bound on each boot on a host (default 180)", 0 },
	{ "accel", 0, HL_OPT_STRING, "ACCEL", "auto (default: KVM only when proved), tcg, kvm", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR",
	  HL_GUEST_HELP, 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_vmm_get_placement_opts[] = {
	OPT_VMM,
	{ "name", 'n', HL_OPT_STRING, "VM", "show only this VM", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* new-cloud. */
int cmd_vmm_new_cloud(struct hl_cmd_ctx *ctx)
{
	const struct hl_optval *hv = hl_opts_get(&ctx->opts, "host");
	json_t *cloud = NULL;
	int code, rc;

	if (vmm_name_cloud(hl_opts_str(&ctx->opts, "name", NULL)) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	rc = vmm_cloud_new(hl_opts_str(&ctx->opts, "dir", NULL), hl_opts_str(&ctx->opts, "name", NULL),
			   hv->list, hv->n, &cloud);
	if (rc < 0)
		return hl_cmd_fail(rc == VMM_BAD_INPUT ? HL_EXIT_USAGE : HL_EXIT_FAILURE,
				   "cannot make the cloud: %s", hl_error_last());
	if (hl_opts_flag(&ctx->opts, "json")) {
		json_t *names = json_array(), *e, *o;
		size_t i;

		json_array_foreach(json_object_get(cloud, "hosts"), i, e)
			json_array_append(names, json_object_get(e, "name"));
		o = json_pack("{s:O, s:o, s:O}", "Name", json_object_get(cloud, "name"), "Hosts", names,
			      "Created", json_object_get(cloud, "created"));
		code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		json_decref(o);
	} else {
		json_t *e;
		size_t i;

		printf("cloud '%s' of %zu guarded host%s:", hl_opts_str(&ctx->opts, "name", NULL),
		       json_array_size(json_object_get(cloud, "hosts")),
		       json_array_size(json_object_get(cloud, "hosts")) == 1 ? "" : "s");
		json_array_foreach(json_object_get(cloud, "hosts"), i, e)
			printf("%s %s", i ? "," : "", json_string_value(json_object_get(e, "name")));
		printf("\n");
		code = HL_EXIT_OK;
	}
	json_decref(cloud);
	return code;
}

/* get-cloud: one row per host of each cloud, with its attestation status now. */
int cmd_vmm_get_cloud(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Cloud", "Host", "Health", "Directory", NULL };
	const char *only = hl_opts_str(&ctx->opts, "name", NULL);
	json_t *clouds = NULL, *rows = json_array(), *c, *h;
	size_t i, k;
	int code;

	if (!rows)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (vmm_clouds(hl_opts_str(&ctx->opts, "dir", NULL), &clouds) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	json_array_foreach(clouds, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));

		if (only && (!name || strcmp(name, only)))
			continue;
		json_array_foreach(json_object_get(c, "hosts"), k, h) {
			const char *dir = json_string_value(json_object_get(h, "dir"));
			char health[600] = "Unknown";

			if (!dir || vmm_host_health(dir, health, sizeof(health)) < 0)
				snprintf(health, sizeof(health), "Unknown");
			hl_error_clear();
			json_array_append_new(rows, json_pack("{s:s?, s:O, s:s, s:s?}", "Cloud", name,
				"Host", json_object_get(h, "name"), "Health", health, "Directory", dir));
		}
	}
	if (only && json_array_size(rows) == 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "no cloud '%s' in '%s'", only,
				   hl_opts_str(&ctx->opts, "dir", NULL));
		goto out;
	}
	code = hl_out_rows(ctx, rows, cols, "no cloud yet (make one with `hgslab vmm new-cloud`)");
out:
	json_decref(clouds);
	json_decref(rows);
	return code;
}

/* deploy. */
int cmd_vmm_deploy(struct hl_cmd_ctx *ctx)
{
	const char *accel = hl_opts_str(&ctx->opts, "accel", NULL);
	struct vmm_deploy d;
	json_t *res = NULL;
	int rc, code;

	memset(&d, 0, sizeof(d));
	d.cloud = hl_opts_str(&ctx->opts, "cloud", NULL);
	d.name = hl_opts_str(&ctx->opts, "name", NULL);
	d.template = hl_opts_str(&ctx->opts, "template", NULL);
	d.pdk = hl_opts_str(&ctx->opts, "pdk", NULL);
	d.fsk = hl_opts_str(&ctx->opts, "fsk", NULL);
	d.accel = accel;
	d.guest = hl_opts_str(&ctx->opts, "guest", NULL);
	d.wait_s = (int)hl_opts_int(&ctx->opts, "wait-seconds", 0);
	d.progress = stderr;
	if (hl_name_vm(d.name) < 0 || vmm_name_cloud(d.cloud) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (accel && strcmp(accel, "auto") && strcmp(accel, "tcg") && strcmp(accel, "kvm"))
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --accel '%s': give auto, tcg or kvm", accel);
	if (d.wait_s < 0 || d.wait_s > 3600)
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --wait-seconds %d: give 1 to 3600", d.wait_s);
	/* the hosts' verbs are this process's children: they stop with it */
	if (hl_child_cleanup_install(-1) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	rc = vmm_deploy(hl_opts_str(&ctx->opts, "dir", NULL), &d, &res);
	if (rc == 0) {
		fprintf(stderr, "vmm deploy: VM '%s' placed on host '%s' of cloud '%s'\n", d.name,
			json_string_value(json_object_get(res, "Host")), d.cloud);
		code = hl_out_object(ctx, res);
	} else if (rc == VMM_REFUSED) {
		char why[HL_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", hl_error_last());
		if (hl_opts_flag(&ctx->opts, "json"))
			hl_out_json(res);
		code = hl_cmd_fail(HL_EXIT_REFUSED, "cannot deploy VM '%s': %s", d.name, why);
	} else {
		code = hl_cmd_fail(rc == VMM_BAD_INPUT ? HL_EXIT_USAGE : HL_EXIT_FAILURE,
				   "cannot deploy VM '%s': %s", d.name, hl_error_last());
	}
	json_decref(res);
	return code;
}

/* get-placement. */
int cmd_vmm_get_placement(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Name", "Cloud", "Host", "ComputerName", "Template",
					    "PlacedAt", "Skipped", NULL };
	const char *only = hl_opts_str(&ctx->opts, "name", NULL);
	json_t *list = NULL, *rows = json_array(), *p;
	size_t i;
	int code;

	if (!rows)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (vmm_placements(hl_opts_str(&ctx->opts, "dir", NULL), &list) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	json_array_foreach(list, i, p) {
		const char *vm = json_string_value(json_object_get(p, "vm"));

		if (only && (!vm || strcmp(vm, only)))
			continue;
		json_array_append_new(rows, json_pack("{s:s?, s:O, s:O, s:O, s:O, s:O, s:O}",
			"Name", vm, "Cloud", json_object_get(p, "cloud"), "Host",
			json_object_get(p, "host"), "ComputerName", json_object_get(p, "computer_name"),
			"Template", json_object_get(p, "template"), "PlacedAt",
			json_object_get(p, "placed_at"), "Skipped", json_object_get(p, "skipped")));
	}
	if (only && json_array_size(rows) == 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "VM '%s' is placed nowhere by '%s'", only,
				   hl_opts_str(&ctx->opts, "dir", NULL));
		goto out;
	}
	code = hl_out_rows(ctx, rows, cols, "no VM placed yet (deploy one with `hgslab vmm deploy`)");
out:
	json_decref(list);
	json_decref(rows);
	return code;
}
