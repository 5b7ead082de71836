/*
 * cmd_host.c - the `hgslab host` verbs of a guarded host: new (manufacture
 * the host and its TPM), run (the agent), the exports HGS registration
 * needs (get-platform-identifier, get-baseline-policy, get-ci-policy,
 * get-host-key), the HGS client cmdlets (set-/get-/test-client-configuration),
 * set-profile (the boot of the next `host run`), unwrap-key-protector
 * (key release, hosts/kps_client) and clear-key-cache (hosts/keycache).
 *
 * The directory and its files are hosts/host.c; the TPM, the boot replay
 * and the attestation attempts are hosts/agent.c.  Human output is the
 * cmdlets' Format-List ("Name : Value"); --json prints the same object.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hosts/agent.h"
#include "hosts/host.h"
#include "hosts/keycache.h"
#include "hosts/kps_client.h"
#include "hosts/manufacture.h"
#include "hosts/tpm_state.h"
#include "hosts/measured_boot.h"
#include "hosts/tpm_host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/dnsname.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proto/platform_id.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/names.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the host directory", HL_OPT_REQUIRED }
#define OPT_OUT(what) { "out", 'o', HL_OPT_STRING, "FILE", "write " what " to FILE", \
			HL_OPT_REQUIRED }

/* Default wait of test-client-configuration for the agent's answer. */
#define TEST_TIMEOUT_S 60

const struct hl_opt cmd_host_new_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the host's computer name, e.g. FabricHost1",
	  HL_OPT_REQUIRED },
	{ "domain", 0, HL_OPT_STRING, "DOMAIN", "the fabric domain, e.g. fabrikam.com",
	  HL_OPT_REQUIRED },
	{ "profile", 'p', HL_OPT_STRING, "SPEC",
	  "boot profile, e.g. baseline or baseline,debug=on (default baseline)", 0 },
	{ "vendor-dir", 0, HL_OPT_STRING, "VDIR",
	  "the lab's TPM vendor CA (default DIR/../tpm-vendor; created if missing)", 0 },
	{ "listen", 0, HL_OPT_STRING, "ADDR",
	  "loopback address the host's swtpm listens on (default " HOST_LISTEN_DEFAULT ")", 0 },
	{ "tpm-state", 0, HL_OPT_STRING, "STATEDIR",
	  "adopt this manufactured TPM state (with its AK and TK) instead of manufacturing one: "
	  "copied, its EK certificate must chain to VDIR's CA", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_run_opts[] = {
	OPT_DIR,
	{ "log-level", 0, HL_OPT_STRING, "LEVEL", "host.log level: error, warn, info (default), debug",
	  0 },
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_platform_id_opts[] = {
	OPT_DIR,
	OPT_OUT("the platform identifier (JSON)"),
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_baseline_opts[] = {
	OPT_DIR,
	OPT_OUT("the TCG log"),
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_ci_policy_opts[] = {
	OPT_DIR,
	OPT_OUT("the CI policy document"),
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_host_key_opts[] = {
	OPT_DIR,
	OPT_OUT("the public key (PEM)"),
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_set_client_opts[] = {
	OPT_DIR,
	{ "attestation-url", 0, HL_OPT_STRING, "URL",
	  "the HGS attestation URL, e.g. http://hgs.relecloud.com:8080/Attestation", 0 },
	{ "key-protection-url", 0, HL_OPT_STRING, "URL",
	  "the HGS key protection URL, e.g. http://hgs.relecloud.com:8080/KeyProtection", 0 },
	{ "fallback-attestation-url", 0, HL_OPT_STRING, "URL", "used when the primary one fails",
	  0 },
	{ "fallback-key-protection-url", 0, HL_OPT_STRING, "URL", "used when the primary one fails",
	  0 },
	{ "resolve", 0, HL_OPT_LIST, "NAME:PORT:ADDR",
	  "map a lab name to a loopback address, e.g. hgs.relecloud.com:8080:127.0.0.2 "
	  "(repeatable; replaces the list)", 0 },
	{ "dc-url", 0, HL_OPT_STRING, "URL",
	  "the fabric domain controller (AD mode), e.g. http://dc01.fabrikam.com:8088 (\"\": none)",
	  0 },
	{ "local", 0, HL_OPT_FLAG, NULL, "leave the guarded fabric: Local mode (-EnableLocalMode)",
	  0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_show_opts[] = {
	OPT_DIR,
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_test_client_opts[] = {
	OPT_DIR,
	{ "timeout", 't', HL_OPT_INT, "SECONDS",
	  "how long to wait for the running agent's attestation (default 60)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_set_profile_opts[] = {
	OPT_DIR,
	{ "profile", 'p', HL_OPT_STRING, "SPEC", "the new boot profile, e.g. baseline,debug=on",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_host_clear_key_cache_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "VM", "only this VM's entry", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* ---- shared steps ---- */

/* Open the host named by --dir; an exit code (0 when open). */
static int open_host(const struct hl_cmd_ctx *ctx, struct host **h)
{
	return hl_cmd_check(host_open(hl_opts_str(&ctx->opts, "dir", NULL), h), HL_EXIT_FAILURE);
}

/* Write LEN bytes of DATA to --out (public mode); an exit code. */
static int write_out(const struct hl_cmd_ctx *ctx, const void *data, size_t len, const char *what,
		     const char *host)
{
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);

	if (hl_file_write(out, data, len, HL_FILE_MODE_PUBLIC) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot write the %s of host '%s': %s", what,
				   host, hl_error_last());
	printf("wrote the %s of host '%s' to '%s' (%zu bytes)\n", what, host, out, len);
	return HL_EXIT_OK;
}

/* The canonical SPEC of P as a JSON string (or null when it cannot be made). */
static json_t *spec_json(const struct hl_profile *p)
{
	char *spec = NULL;
	json_t *s;

	if (hl_profile_to_spec(p, &spec) < 0)
		return json_null();
	s = json_string(spec);
	free(spec);
	return s;
}

/* ---- new, run ---- */

/* `host new`: create the host directory with its manufactured TPM. */
int cmd_host_new(struct hl_cmd_ctx *ctx)
{
	struct host_new_params p = { 0 };
	struct host *h = NULL;
	struct hl_profile prof;
	EVP_PKEY *key = NULL;
	char fp[HL_SHA256_HEX_SIZE] = "", *ca = NULL, *tpm = NULL;
	double t0, t1;
	json_t *o = NULL;
	int code;

	p.dir = hl_opts_str(&ctx->opts, "dir", NULL);
	p.name = hl_opts_str(&ctx->opts, "name", NULL);
	p.domain = hl_opts_str(&ctx->opts, "domain", NULL);
	p.profile = hl_opts_str(&ctx->opts, "profile", NULL);
	p.vendor_dir = hl_opts_str(&ctx->opts, "vendor-dir", NULL);
	p.listen = hl_opts_str(&ctx->opts, "listen", NULL);
	p.tpm_state = hl_opts_str(&ctx->opts, "tpm-state", NULL);
	if (hl_name_computer("host name", p.name) < 0 || hl_dnsname_check(p.domain) < 0 ||
	    (p.listen && host_check_listen(p.listen) < 0) ||
	    hl_profile_parse(p.profile ? p.profile : "baseline", &prof) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hl_child_cleanup_install(-1) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	/* a refusal comes before the progress line: nothing was being made */
	if (host_new_target_check(p.dir) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot create host '%s': %s", p.name,
				   hl_error_last());
	if (p.tpm_state && !hosts_tpm_state_complete(p.tpm_state))
		return hl_cmd_fail(HL_EXIT_USAGE, "cannot create host '%s': '%s' is not a complete "
				   "TPM state (it needs %s, %s, %s, %s and %s)", p.name, p.tpm_state,
				   HOSTS_TPM_STATE_PERMALL, HOSTS_TPM_STATE_EK_PUB,
				   HOSTS_TPM_STATE_EK_CERT, HOSTS_TPM_STATE_AK, HOSTS_TPM_STATE_TK);
	if (p.tpm_state)
		fprintf(stderr, "host new: adopting the manufactured TPM state '%s' for '%s'...\n",
			p.tpm_state, p.name);
	else
		fprintf(stderr, "host new: manufacturing the TPM of '%s' (swtpm_setup, about a "
			"second)...\n", p.name);
	t0 = hl_clock_s();
	if (host_create(&p) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot create host '%s': %s", p.name,
				   hl_error_last());
	t1 = hl_clock_s();
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (host_key_load(h, &key) < 0 || hl_key_fingerprint(key, fp) < 0 ||
	    hosts_vendor_ca_cert_path(h->vendor_dir, &ca) < 0 || host_path(h, HOST_TPM_DIR, &tpm) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (!(o = json_object())) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	json_object_set_new(o, "Name", json_string(h->name));
	json_object_set_new(o, "Domain", json_string(h->domain));
	json_object_set_new(o, "Directory", json_string(h->dir));
	json_object_set_new(o, "BootProfile", spec_json(&h->profile));
	json_object_set_new(o, "CiPolicy", json_string(h->profile.ci_policy));
	json_object_set_new(o, "TpmStateDirectory", json_string(tpm));
	json_object_set_new(o, "TpmVendorCaCertificate", json_string(ca));
	json_object_set_new(o, "SwtpmAddress", json_string(h->listen));
	json_object_set_new(o, "HostKeyType", json_string("ec-p256"));
	json_object_set_new(o, "HostKeyFingerprint", json_string(fp));
	json_object_set_new(o, "AdoptedTpmState", p.tpm_state ? json_string(p.tpm_state) : json_null());
	json_object_set_new(o, "ManufactureSeconds",
			    json_real(t1 - t0));
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("created guarded host '%s' (%s) in '%s'\n", h->name, h->domain, h->dir);
	code = hl_out_object(ctx, o);
out:
	json_decref(o);
	hl_key_free(key);
	free(ca);
	free(tpm);
	host_close(h);
	return code;
}

/* `host run`: the agent. */
int cmd_host_run(struct hl_cmd_ctx *ctx)
{
	enum hl_log_level level = HL_LOG_INFO;
	const char *name = hl_opts_str(&ctx->opts, "log-level", NULL);

	if (name && hl_log_level_parse(name, &level) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (host_agent_run(hl_opts_str(&ctx->opts, "dir", NULL), level) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	return HL_EXIT_OK;
}

/* ---- exports ---- */

/* The platform identifier of H (EK public + EK certificate) as JSON text into *OUT. */
static int platform_identifier(struct host *h, char **out)
{
	struct host_tpm *t = NULL;
	struct hosts_ek *ek = NULL;
	struct hl_tpm *tpm;
	int rc = -1;

	*out = NULL;
	if (host_tpm_open(h, 0, 1, &t) < 0 || !(tpm = host_tpm_connect(t)))
		goto out;
	if (hosts_tpm_read_ek(tpm, &ek) < 0 ||
	    hgs_platform_id_write(h->name, ek->pub, ek->cert, ek->tpm_public.data,
				  ek->tpm_public.len, out) < 0)
		goto out;
	rc = 0;
out:
	hosts_ek_free(ek);
	host_tpm_close(t);
	return rc;
}

/* `host get-platform-identifier`: EKpub + EKcert for `hgs add-tpm-host`. */
int cmd_host_get_platform_identifier(struct hl_cmd_ctx *ctx)
{
	struct host *h = NULL;
	char *s = NULL;
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hl_child_cleanup_install(-1) < 0 || platform_identifier(h, &s) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot read the platform identifier of host "
				   "'%s': %s", h->name, hl_error_last());
		goto out;
	}
	code = write_out(ctx, s, strlen(s), "platform identifier", h->name);
out:
	free(s);
	host_close(h);
	return code;
}

/* `host get-baseline-policy`: the TCG log of the host's current profile. */
int cmd_host_get_baseline_policy(struct hl_cmd_ctx *ctx)
{
	struct hl_measured_boot *mb = NULL;
	struct host *h = NULL;
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hl_measured_boot_build(&h->profile, &mb) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot build the TCG log of host '%s': %s",
				   h->name, hl_error_last());
	else
		code = write_out(ctx, mb->log, mb->log_len, "TCG log (baseline policy)", h->name);
	hl_measured_boot_free(mb);
	host_close(h);
	return code;
}

/* `host get-ci-policy`: the CI policy document of the host's profile. */
int cmd_host_get_ci_policy(struct hl_cmd_ctx *ctx)
{
	struct host *h = NULL;
	char *doc = NULL;
	size_t len = 0;
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (host_ci_policy(h, &doc, &len) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	else
		code = write_out(ctx, doc, len, "CI policy", h->name);
	free(doc);
	host_close(h);
	return code;
}

/* `host get-host-key`: the machine key's public half, PEM. */
int cmd_host_get_host_key(struct hl_cmd_ctx *ctx)
{
	struct host *h = NULL;
	struct hl_buf pem = { 0 };
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (host_key_pub_pem(h, &pem) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	else
		code = write_out(ctx, pem.data, pem.len, "host key", h->name);
	hl_buf_free(&pem);
	host_close(h);
	return code;
}

/* ---- client configuration ---- */

/* Get-HgsClientConfiguration of H as JSON into *OUT. */
static int client_status(struct host *h, json_t **out)
{
	struct host_client_config cfg = { 0 };
	struct host_state st = { 0 };
	struct host_agent_info ai;
	int running, rc = -1;

	*out = NULL;
	running = host_agent_find(h, &ai);
	if (running < 0 || host_client_config_load(h, &cfg) < 0 || host_state_load(h, &st) < 0 ||
	    host_client_status_json(h, &cfg, &st, running > 0 ? ai.pid : 0, time(NULL), out) < 0)
		goto out;
	json_object_set_new(*out, "BootProfile", spec_json(&h->profile));
	rc = 0;
out:
	host_client_config_release(&cfg);
	host_state_release(&st);
	return rc;
}

/* Print H's client configuration; an exit code. */
static int print_client(const struct hl_cmd_ctx *ctx, struct host *h)
{
	json_t *o = NULL;
	int code;

	if (client_status(h, &o) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	code = hl_out_object(ctx, o);
	json_decref(o);
	return code;
}

/* Replace *SLOT with a copy of the option NAME when it was given. */
static int take_opt(const struct hl_cmd_ctx *ctx, const char *name, char **slot)
{
	const char *v = hl_opts_str(&ctx->opts, name, NULL);

	if (!v)
		return 0;
	free(*slot);
	*slot = NULL;
	if (v[0] && !(*slot = strdup(v)))
		return hl_error("out of memory");
	return 0;
}

/* `host set-client-configuration` (Set-HgsClientConfiguration). */
int cmd_host_set_client_configuration(struct hl_cmd_ctx *ctx)
{
	struct host_client_config cfg = { 0 };
	const struct hl_optval *res = hl_opts_get(&ctx->opts, "resolve");
	struct host_agent_info ai;
	struct host *h = NULL;
	int primary = hl_opts_str(&ctx->opts, "attestation-url", NULL) ||
		      hl_opts_str(&ctx->opts, "key-protection-url", NULL);
	int code, running;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (hl_opts_flag(&ctx->opts, "local")) {
		if (primary || res->set || hl_opts_str(&ctx->opts, "dc-url", NULL)) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "--local takes no URL: it leaves the "
					   "guarded fabric");
			goto out;
		}
	} else {
		if (host_client_config_load(h, &cfg) < 0) {
			/* a damaged file is replaced by what is given now */
			hl_log_warn("%s", hl_error_last());
			host_client_config_release(&cfg);
		}
		if (!primary && !res->set && !hl_opts_str(&ctx->opts, "dc-url", NULL) &&
		    !hl_opts_str(&ctx->opts, "fallback-attestation-url", NULL)) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "nothing to set: give --attestation-url "
					   "and --key-protection-url (or --local)");
			goto out;
		}
		if (primary) {
			/* new primary URLs: the fallbacks are whatever is given with them */
			free(cfg.fallback_attestation_url);
			free(cfg.fallback_key_protection_url);
			cfg.fallback_attestation_url = cfg.fallback_key_protection_url = NULL;
		}
		if (take_opt(ctx, "attestation-url", &cfg.attestation_url) < 0 ||
		    take_opt(ctx, "key-protection-url", &cfg.key_protection_url) < 0 ||
		    take_opt(ctx, "fallback-attestation-url", &cfg.fallback_attestation_url) < 0 ||
		    take_opt(ctx, "fallback-key-protection-url", &cfg.fallback_key_protection_url) < 0 ||
		    take_opt(ctx, "dc-url", &cfg.dc_url) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		if (res->set) {
			for (size_t i = 0; i < cfg.n_resolve; i++)
				free(cfg.resolve[i]);
			free(cfg.resolve);
			cfg.n_resolve = 0;
			if (!(cfg.resolve = calloc(res->n + 1, sizeof(char *)))) {
				code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
				goto out;
			}
			for (size_t i = 0; i < res->n; i++) {
				if (!(cfg.resolve[i] = strdup(res->list[i]))) {
					code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
					goto out;
				}
				cfg.n_resolve++;
			}
		}
		if (host_client_config_check(&cfg) < 0) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
			goto out;
		}
	}
	if (host_client_config_save(h, &cfg) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	/* a running agent attests with the new configuration at once */
	running = host_agent_find(h, &ai);
	if (running > 0 && kill((pid_t)ai.pid, SIGUSR1) < 0)
		hl_log_warn("cannot signal the agent (pid %ld): %s", ai.pid, strerror(errno));
	code = print_client(ctx, h);
out:
	host_client_config_release(&cfg);
	host_close(h);
	return code;
}

/* `host get-client-configuration` (Get-HgsClientConfiguration). */
int cmd_host_get_client_configuration(struct hl_cmd_ctx *ctx)
{
	struct host *h = NULL;
	int code;

	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	code = print_client(ctx, h);
	host_close(h);
	return code;
}

/* `host test-client-configuration`: a fresh attestation, through the agent or directly. */
int cmd_host_test_client_configuration(struct hl_cmd_ctx *ctx)
{
	struct host_state st = { 0 };
	struct host_agent_info ai;
	struct host *h = NULL;
	long timeout = hl_opts_int(&ctx->opts, "timeout", TEST_TIMEOUT_S);
	const char *status;
	json_t *o = NULL;
	int code, running;

	if (timeout < 1 || timeout > 3600)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --timeout %ld: use 1 to 3600 seconds",
				   timeout);
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	running = host_agent_find(h, &ai);
	if (running < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (running) {
		fprintf(stderr, "host test-client-configuration: asking the agent of '%s' (pid %ld) "
			"to attest...\n", h->name, ai.pid);
		if (host_agent_request(h, ai.pid, (int)timeout * 1000, &st) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
	} else {
		struct host_client_config cfg = { 0 };
		int local;

		/* Local mode refuses at once: no TPM is booted for an attestation that cannot be made */
		if (host_client_config_load(h, &cfg) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		local = cfg.attestation_url == NULL;
		host_client_config_release(&cfg);
		/* NotConfigured is reported below, as after an attempt */
		if (local)
			goto report;
		fprintf(stderr, "host test-client-configuration: no agent runs for '%s'; booting its "
			"TPM and attesting directly...\n", h->name);
		if (hl_child_cleanup_install(-1) < 0 || host_attest_direct(h, &st) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot attest host '%s': %s", h->name,
					   hl_error_last());
			goto out;
		}
	}
report:
	if (client_status(h, &o) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	code = hl_out_object(ctx, o);
	status = json_string_value(json_object_get(o, "AttestationStatus"));
	if (code == HL_EXIT_OK && (!status || strcmp(status, HOST_STATUS_PASSED) != 0)) {
		const char *sub = json_string_value(json_object_get(o, "AttestationSubstatus"));
		const char *reason = json_string_value(json_object_get(o, "Reason"));

		if (status && strcmp(status, HOST_STATUS_NOT_CONFIGURED) == 0)
			code = hl_cmd_fail(HL_EXIT_REFUSED, "host '%s' is in Local mode "
					   "(NotConfigured): give it the HGS URLs with `hgslab host "
					   "set-client-configuration`", h->name);
		else
			code = hl_cmd_fail(HL_EXIT_REFUSED, "host '%s' failed attestation: %s (%s)%s%s",
					   h->name, status ? status : "?",
					   sub ? sub : "NoInformation", reason && reason[0] ? ": " : "",
					   reason ? reason : "");
	}
out:
	json_decref(o);
	host_state_release(&st);
	host_close(h);
	return code;
}

/* `host clear-key-cache`: delete the key material cached for HGS outages (hosts/keycache.h). */
int cmd_host_clear_key_cache(struct hl_cmd_ctx *ctx)
{
	const char *vm = hl_opts_str(&ctx->opts, "name", NULL);
	struct host *h = NULL;
	json_t *o = NULL;
	size_t removed = 0;
	int code;

	if (vm && hl_name_vm(vm) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if ((vm ? hosts_keycache_remove(h, vm, &removed) : hosts_keycache_clear(h, &removed)) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	o = json_pack("{s:s, s:I}", "Name", h->name, "Removed", (json_int_t)removed);
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	code = hl_out_object(ctx, o);
out:
	json_decref(o);
	host_close(h);
	return code;
}

/* `host set-profile`: the boot profile of the next `host run`. */
int cmd_host_set_profile(struct hl_cmd_ctx *ctx)
{
	struct host_agent_info ai;
	struct hl_profile p;
	struct host *h = NULL;
	json_t *o = NULL;
	int code;

	if (hl_profile_parse(hl_opts_str(&ctx->opts, "profile", NULL), &p) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		return code;
	if (host_set_profile(h, &p) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (!(o = json_object())) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	json_object_set_new(o, "Name", json_string(h->name));
	json_object_set_new(o, "BootProfile", spec_json(&h->profile));
	json_object_set_new(o, "CiPolicy", json_string(h->profile.ci_policy));
	json_object_set_new(o, "TakesEffect", json_string("at the next `hgslab host run`"));
	if (host_agent_find(h, &ai) > 0)
		fprintf(stderr, "host set-profile: the agent of '%s' (pid %ld) still runs the old "
			"boot; restart it to boot with the new profile\n", h->name, ai.pid);
	code = hl_out_object(ctx, o);
out:
	json_decref(o);
	host_close(h);
	return code;
}

/* ---- key release ---- */

const struct hl_opt cmd_host_unwrap_opts[] = {
	OPT_DIR,
	{ "key-protector", 'k', HL_OPT_STRING, "FILE", "the key protector (KP) file",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* "Released", KPS's reason, or the attestation status: how unwrap U ended. */
static const char *unwrap_result(const struct hosts_kps_unwrap *u)
{
	switch (u->outcome) {
	case HOSTS_KPS_OPENED:
		return "Released";
	case HOSTS_KPS_NOT_HEALTHY:
		return u->status;
	case HOSTS_KPS_REFUSED:
		return u->release.reason;
	case HOSTS_KPS_NOT_OPENED:
		return "TransportKeyMismatch";
	case HOSTS_KPS_UNREACHABLE:
		return "Unreachable";
	}
	return "?";
}

/* The report of unwrap U on host H as JSON (no key material: the TK's fingerprint only). */
static json_t *unwrap_json(const struct host *h, const struct hosts_kps_unwrap *u)
{
	const struct hosts_kps_release *r = &u->release;
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "HostName", json_string(h->name));
	json_object_set_new(o, "Result", json_string(unwrap_result(u)));
	json_object_set_new(o, "KeyProtector", r->key_protector[0] ? json_string(r->key_protector)
								    : json_null());
	json_object_set_new(o, "Owner", r->owner[0] ? json_string(r->owner) : json_null());
	json_object_set_new(o, "TransportKeyFingerprint",
			    u->outcome == HOSTS_KPS_OPENED ? json_string(u->tk_fingerprint)
							   : json_null());
	json_object_set_new(o, "KeyProtectionServerUrl", r->url[0] ? json_string(r->url)
								   : json_null());
	json_object_set_new(o, "IsFallbackInUse", json_boolean(r->fallback_used));
	json_object_set_new(o, "HgsNode", r->node[0] ? json_string(r->node) : json_null());
	json_object_set_new(o, "KeyProtectionNode", r->answered_by[0] ? json_string(r->answered_by)
								       : json_null());
	json_object_set_new(o, "KeyProtectionNodeAddress", r->address[0] ? json_string(r->address)
									  : json_null());
	json_object_set_new(o, "AttestedFirst", json_boolean(u->attested));
	json_object_set_new(o, "AttestationStatus", json_string(u->status));
	json_object_set_new(o, "Reason", json_string(u->outcome == HOSTS_KPS_REFUSED ? r->message :
						      u->outcome == HOSTS_KPS_OPENED ? "" :
						      u->reason));
	return o;
}

/* `host unwrap-key-protector`: key release end to end; prints the TK's fingerprint only. */
int cmd_host_unwrap_key_protector(struct hl_cmd_ctx *ctx)
{
	const char *file = hl_opts_str(&ctx->opts, "key-protector", NULL);
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { 0 };
	struct host *h = NULL;
	char *kp = NULL;
	size_t kp_len = 0;
	json_t *o = NULL;
	int code;

	memset(&u, 0, sizeof(u));
	if ((code = hl_cmd_read_input("--key-protector", file, "key protector", HL_KP_MAX_SIZE,
				      hl_cmd_kind_kp, &kp, &kp_len)) != HL_EXIT_OK)
		return code;
	if ((code = open_host(ctx, &h)) != HL_EXIT_OK)
		goto out;
	if (hl_child_cleanup_install(-1) < 0 || hosts_kps_unwrap(h, kp, kp_len, &u, &tk) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "key release for host '%s' failed: %s", h->name,
				   hl_error_last());
		goto out;
	}
	/* the verb needs the fingerprint only: the TK goes at once */
	hl_buf_free(&tk);
	if (u.attested)
		fprintf(stderr, "host unwrap-key-protector: '%s' had no valid health certificate; "
			"attested first: %s\n", h->name, u.status);
	if (!(o = unwrap_json(h, &u))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	code = hl_out_object(ctx, o);
	if (code != HL_EXIT_OK)
		goto out;
	switch (u.outcome) {
	case HOSTS_KPS_OPENED:
		break;
	case HOSTS_KPS_NOT_HEALTHY:
		code = hl_cmd_fail(HL_EXIT_REFUSED, "host '%s' failed attestation: %s (%s)%s%s; it "
				   "has no health certificate, so no key was requested", h->name,
				   u.status, u.substatus[0] ? u.substatus : "NoInformation",
				   u.reason[0] ? ": " : "", u.reason);
		break;
	case HOSTS_KPS_REFUSED:
		code = hl_cmd_fail(HL_EXIT_REFUSED, "key release refused by '%s': %s: %s",
				   u.release.url, u.release.reason, u.release.message);
		break;
	case HOSTS_KPS_NOT_OPENED:
		code = hl_cmd_fail(HL_EXIT_REFUSED, "host '%s' cannot open the TK that '%s' "
				   "released: %s", h->name, u.release.url, u.reason);
		break;
	case HOSTS_KPS_UNREACHABLE:
		code = hl_cmd_fail(HL_EXIT_FAILURE, "key release for host '%s' failed: %s", h->name,
				   u.reason);
		break;
	}
out:
	json_decref(o);
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);
	free(kp);
	host_close(h);
	return code;
}
