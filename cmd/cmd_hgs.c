/*
 * cmd_hgs.c - the `hgslab hgs` verbs: Initialize-HgsServer (init, and
 * add-node: a node joining the HGS), the HGS service (serve), the cluster's
 * nodes (get-cluster, Get-ClusterNode), and the admin cmdlets in kebab-case with the Hgs noun
 * dropped (get-server, set-server, add-/get-/remove-tpm-host, -tpm-policy,
 * -ci-policy, -host-group, -host-key, get-/enable-/disable-attestation-policy,
 * get-attestation-log, get-attestation-signer-certificate) and clear-server
 * (Clear-HgsServer: the node directory removed, after asking).  The admin
 * verbs work on the node directory's store directly, also while `hgs serve`
 * runs (SQLite WAL).  Human output is an
 * aligned table as the cmdlets print; --json prints the same objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hgs/attest_log.h"
#include "hgs/db.h"
#include "hgs/db_cluster.h"
#include "hgs/node.h"
#include "hgs/serve.h"
#include "hgs/tpm_verify.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/served.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/names.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the HGS node directory", HL_OPT_REQUIRED }

const struct hl_opt cmd_hgs_init_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the HGS service name, e.g. MyHgsService",
	  HL_OPT_REQUIRED },
	{ "domain", 0, HL_OPT_STRING, "DOMAIN", "the HGS domain, e.g. relecloud.com",
	  HL_OPT_REQUIRED },
	{ "trust", 0, HL_OPT_STRING, "MODE", "attestation mode: tpm (default), ad or hostkey", 0 },
	{ "listen", 0, HL_OPT_STRING, "ADDR:PORT",
	  "where `hgs serve` listens, e.g. 127.0.0.2:8080 (port 0: any free port)",
	  HL_OPT_REQUIRED },
	{ "health-cert-validity", 0, HL_OPT_INT, "HOURS",
	  "validity of health certificates (default 8)", 0 },
	{ "tpm-vendor-ca", 0, HL_OPT_STRING, "FILE",
	  "PEM bundle of the TPM vendor CA that EK certificates must chain to", 0 },
	{ "force", 'f', HL_OPT_FLAG, NULL, "replace an existing node (discards its state)", 0 },
	{ "node-name", 0, HL_OPT_STRING, "NAME", "this node's name in the cluster (default HGS01)",
	  0 },
	{ "store", 0, HL_OPT_STRING, "URI",
	  "keep the HGS state in this PostgreSQL database (postgresql://...; default DIR/hgs.db)",
	  0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_add_node_opts[] = {
	{ "dir", 'd', HL_OPT_STRING, "NEWDIR", "the new node's directory: new or empty",
	  HL_OPT_REQUIRED },
	{ "node-name", 0, HL_OPT_STRING, "NAME", "the new node's name, unique in the cluster "
	  "(e.g. HGS02)", 0 },
	{ "name", 'n', HL_OPT_STRING, "NAME", "the same as --node-name", 0 },
	{ "from", 0, HL_OPT_STRING, "NODEDIR", "a node of the HGS on this machine: share its store, "
	  "copy its keys", 0 },
	{ "from-state", 0, HL_OPT_STRING, "FILE", "an export of the HGS (`hgs export-server-state`): "
	  "take its keys (with --store)", 0 },
	{ "store", 0, HL_OPT_STRING, "URI", "with --from-state: the HGS's PostgreSQL store "
	  "(postgresql://...)", 0 },
	{ "password-file", 0, HL_OPT_STRING, "FILE",
	  "with --from-state: read the password from the first line of FILE (or /dev/fd/N)", 0 },
	{ "password-stdin", 0, HL_OPT_FLAG, NULL,
	  "with --from-state: read the password from the first line of standard input", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_serve_opts[] = {
	OPT_DIR,
	{ "listen", 0, HL_OPT_STRING, "ADDR:PORT", "listen here instead of the node's address", 0 },
	{ "log-level", 0, HL_OPT_STRING, "LEVEL", "hgs.log level: error, warn, info (default), debug",
	  0 },
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_show_opts[] = {
	OPT_DIR,
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_clear_server_opts[] = {
	OPT_DIR,
	{ "force", 'f', HL_OPT_FLAG, NULL, "remove without asking (needed when stdin is no terminal)",
	  0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_signer_cert_opts[] = {
	OPT_DIR,
	{ "out", 'o', HL_OPT_STRING, "FILE", "write the certificate (PEM) to FILE", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_set_server_opts[] = {
	OPT_DIR,
	{ "trust", 0, HL_OPT_STRING, "MODE", "attestation mode: tpm, ad or hostkey", 0 },
	{ "health-cert-validity", 0, HL_OPT_INT, "HOURS", "validity of health certificates", 0 },
	{ "tpm-vendor-ca", 0, HL_OPT_STRING, "FILE",
	  "PEM bundle of the TPM vendor CA that EK certificates must chain to", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_get_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "show only this one", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_name_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the name", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_add_tpm_host_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the host's name, e.g. FabricHost1", HL_OPT_REQUIRED },
	{ "platform-identifier", 0, HL_OPT_STRING, "FILE",
	  "the host's platform identifier (`hgslab host get-platform-identifier`)", HL_OPT_REQUIRED },
	{ "force", 'f', HL_OPT_FLAG, NULL,
	  "trust the EK without checking its certificate (TPMs without an EKcert)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_add_tpm_policy_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the baseline's name", HL_OPT_REQUIRED },
	{ "tcglog", 0, HL_OPT_STRING, "FILE",
	  "TCG log of a known-good host (`hgslab host get-baseline-policy`)", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_add_ci_policy_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the policy's name", HL_OPT_REQUIRED },
	{ "policy", 0, HL_OPT_STRING, "FILE", "code integrity policy (`hgslab host get-ci-policy`)",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_add_host_group_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the group's name, e.g. GuardedHosts", HL_OPT_REQUIRED },
	{ "sid", 0, HL_OPT_STRING, "SID", "the group's SID (S-1-5-21-...)", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_add_host_key_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the host's name, e.g. FabricHost1", HL_OPT_REQUIRED },
	{ "key", 'k', HL_OPT_STRING, "FILE", "the host's public key (PEM key or certificate)",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_log_opts[] = {
	OPT_DIR,
	{ "host", 0, HL_OPT_STRING, "NAME", "only this host's attempts", 0 },
	{ "last", 0, HL_OPT_INT, "N", "only the N most recent attempts", 0 },
	{ "trace", 0, HL_OPT_INT, "ID", "show the trace of attempt ID: what was sent and checked", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* ---- shared steps ---- */

/* The thumbprint of NODE's primary key of ROLE into OUT, or "" when unreadable. */
static void key_thumbprint(struct hgs_node *node, enum hgs_key_role role,
			   char out[HL_SHA256_HEX_SIZE])
{
	X509 *cert = NULL;

	out[0] = '\0';
	if (hgs_node_keypair(node, role, &cert, NULL) < 0 || hl_cert_thumbprint(cert, out) < 0)
		out[0] = '\0';
	hl_cert_free(cert);
}

/* Get-HgsServer as a JSON object into *OUT. */
static int server_json(struct hgs_node *node, json_t **out)
{
	static const char *const mode_names[] = { "TrustTpm", "TrustActiveDirectory",
						  "TrustHostKey" };
	struct hgs_config cfg;
	char url[64], when[32], thumb[HL_SHA256_HEX_SIZE], *bundle = NULL;
	long long offset = 0, nodes = 0;
	long pid;
	json_t *o;

	*out = NULL;
	if (hgs_db_config_get(node, &cfg) < 0 || hl_labclock_offset(node->dir, &offset) < 0)
		return -1;
	if (!(o = json_object()))
		return hl_error("out of memory");
	hl_cmd_set_str(o, "Name", cfg.name);
	hl_cmd_set_str(o, "NodeName", node->node_name);
	if (hgs_db_cluster_count(node, &nodes) < 0) {
		json_decref(o);
		return -1;
	}
	json_object_set_new(o, "ClusterNodes", json_integer(nodes));
	hl_cmd_set_str(o, "Domain", cfg.domain);
	hl_cmd_set_str(o, "TrustMode", hgs_mode_name(cfg.trust));
	hl_cmd_set_str(o, "AttestationOperationMode", mode_names[cfg.trust]);
	snprintf(url, sizeof(url), "%s:%u", cfg.listen_addr, cfg.listen_port);
	hl_cmd_set_str(o, "Listen", url);
	snprintf(url, sizeof(url), "http://%s:%u/Attestation", cfg.listen_addr, cfg.listen_port);
	hl_cmd_set_str(o, "AttestationUrl", url);
	snprintf(url, sizeof(url), "http://%s:%u/KeyProtection", cfg.listen_addr, cfg.listen_port);
	hl_cmd_set_str(o, "KeyProtectionUrl", url);
	json_object_set_new(o, "HealthCertificateValidityHours",
			    json_integer(cfg.healthcert_validity_h));
	key_thumbprint(node, HGS_KEY_ATTESTATION_SIGNER, thumb);
	hl_cmd_set_str(o, "AttestationSignerThumbprint", thumb);
	key_thumbprint(node, HGS_KEY_KPS_SIGNING, thumb);
	hl_cmd_set_str(o, "KeyProtectionSigningThumbprint", thumb);
	key_thumbprint(node, HGS_KEY_KPS_ENCRYPTION, thumb);
	hl_cmd_set_str(o, "KeyProtectionEncryptionThumbprint", thumb);
	if (hgs_db_vendor_ca_get(node, &bundle) == 0 && bundle) {
		X509 *ca = NULL;
		char cn[128];

		if (hl_cert_from_pem(bundle, strlen(bundle), &ca) == 0 &&
		    hl_cert_subject_cn(ca, cn, sizeof(cn)) == 0)
			hl_cmd_set_str(o, "TpmVendorCa", cn);
		else
			hl_cmd_set_str(o, "TpmVendorCa", "(configured)");
		hl_cert_free(ca);
	} else {
		hl_cmd_set_str(o, "TpmVendorCa", NULL);
	}
	hl_error_clear();
	free(bundle);
	hl_labclock_format(cfg.created, when, sizeof(when));
	hl_cmd_set_str(o, "Created", when);
	hl_cmd_set_str(o, "Directory", node->dir);
	pid = hl_served_pid(node->dir, HGS_PID_FILE);
	json_object_set_new(o, "ServingPid", pid ? json_integer(pid) : json_null());
	json_object_set_new(o, "ClockOffsetSeconds", json_integer(offset));
	*out = o;
	return 0;
}

/* Print NODE's configuration, human or JSON; an exit code. */
static int print_server(const struct hl_cmd_ctx *ctx, struct hgs_node *node)
{
	json_t *o = NULL;
	int code;

	if (server_json(node, &o) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	code = hl_out_object(ctx, o);
	json_decref(o);
	return code;
}

/* ---- init, serve, get-server, set-server ---- */

/* `hgs init` (Initialize-HgsServer). */
int cmd_hgs_init(struct hl_cmd_ctx *ctx)
{
	struct hgs_init_params p = { 0 };
	struct hgs_node *node = NULL;
	const char *ca_file = hl_opts_str(&ctx->opts, "tpm-vendor-ca", NULL);
	char *ca = NULL, addr[16];
	long hours = hl_opts_int(&ctx->opts, "health-cert-validity", HGS_HEALTHCERT_VALIDITY_H_DEFAULT);
	unsigned short port;
	int code;

	p.dir = hl_opts_str(&ctx->opts, "dir", NULL);
	p.name = hl_opts_str(&ctx->opts, "name", NULL);
	p.domain = hl_opts_str(&ctx->opts, "domain", NULL);
	p.listen = hl_opts_str(&ctx->opts, "listen", NULL);
	p.force = hl_opts_flag(&ctx->opts, "force");
	p.node_name = hl_opts_str(&ctx->opts, "node-name", NULL);
	p.store = hl_opts_str(&ctx->opts, "store", NULL);
	if (p.node_name && hl_name_computer("node name", p.node_name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hgs_mode_parse(hl_opts_str(&ctx->opts, "trust", "tpm"), &p.trust) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hours < 1 || hours > HGS_HEALTHCERT_VALIDITY_H_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --health-cert-validity %ld: use 1 to %d "
				   "hours", hours, HGS_HEALTHCERT_VALIDITY_H_MAX);
	p.healthcert_validity_h = (int)hours;
	if (hl_name_hgs(p.name) < 0 || hl_dnsname_check(p.domain) < 0 ||
	    hl_served_parse_listen(p.listen, addr, &port) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (ca_file) {
		if ((code = hl_cmd_read_file(ca_file, "TPM vendor CA", HL_FILE_READ_MAX, &ca, NULL)) != HL_EXIT_OK)
			return code;
		if (hgs_vendor_ca_check(ca) < 0) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "invalid TPM vendor CA '%s': %s", ca_file,
					   hl_error_last());
			goto out;
		}
		p.vendor_ca_pem = ca;
	}
	if ((code = hgs_node_create(&p)) < 0) {
		code = hl_cmd_fail(code == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "cannot initialize HGS '%s' in '%s': %s", p.name,
				   p.dir, hl_error_last());
		goto out;
	}
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		goto out;
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("initialized HGS '%s' (%s, %s attestation) in '%s'\n\n", p.name, p.domain,
		       hgs_mode_name(p.trust), node->dir);
	code = print_server(ctx, node);
out:
	hgs_node_close(node);
	free(ca);
	return code;
}

/*
 * `hgs add-node` (Initialize-HgsServer -HgsServerIPAddress: a node joining
 * the HGS): --from NODEDIR, or --from-state FILE --store URI.
 */
int cmd_hgs_add_node(struct hl_cmd_ctx *ctx)
{
	struct hgs_join_params p = { 0 };
	const char *alias = hl_opts_str(&ctx->opts, "name", NULL);
	struct hgs_node *node = NULL;
	int code;

	p.dir = hl_opts_str(&ctx->opts, "dir", NULL);
	p.node_name = hl_opts_str(&ctx->opts, "node-name", NULL);
	p.from = hl_opts_str(&ctx->opts, "from", NULL);
	p.from_state = hl_opts_str(&ctx->opts, "from-state", NULL);
	p.store = hl_opts_str(&ctx->opts, "store", NULL);
	if (p.node_name && alias && strcmp(p.node_name, alias) != 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "give the node's name once: --node-name or --name");
	if (!p.node_name)
		p.node_name = alias;
	if (!p.node_name)
		return hl_cmd_fail(HL_EXIT_USAGE, "give the new node's name: --node-name NAME "
				   "(unique in the cluster, e.g. HGS02)");
	if (p.from_state && !p.store)
		return hl_cmd_fail(HL_EXIT_USAGE, "--from-state needs --store URI: the postgresql:// "
				   "URI of the HGS's store");
	if (p.from_state && !p.from)
		code = cmd_hgs_join_from_state(ctx, &p);
	else if ((code = hgs_node_join(&p)) < 0)
		code = hl_cmd_fail(code == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "cannot add the node "
				   "'%s' in '%s': %s", p.node_name, p.dir, hl_error_last());
	else
		code = HL_EXIT_OK;
	if (code != HL_EXIT_OK)
		return code;
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("added node '%s' of HGS '%s' in '%s'; serve it with `hgslab hgs serve --dir %s "
		       "--listen ADDR:PORT`\n\n", node->node_name, node->config.name, node->dir,
		       node->dir);
	code = print_server(ctx, node);
	hgs_node_close(node);
	return code;
}

/* The columns get-cluster shows. */
static const char *const cluster_cols[] = { "Name", "Address", "State", "LastSeen", "Pid", NULL };

/* `hgs get-cluster` (Get-ClusterNode): the HGS's nodes and whether each is up. */
int cmd_hgs_get_cluster(struct hl_cmd_ctx *ctx)
{
	struct hgs_node *node = NULL;
	json_t *rows = NULL;
	time_t now;
	int code, rc;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	rc = hgs_node_now(node, &now);
	if (rc == 0)
		rc = hgs_db_cluster_list(node, now, &rows);
	code = hl_cmd_out_rows(ctx, rc, rows, cluster_cols, "no node is registered");
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* `hgs serve`: the HGS service until SIGTERM / SIGINT. */
int cmd_hgs_serve(struct hl_cmd_ctx *ctx)
{
	enum hl_log_level level = HL_LOG_INFO;
	const char *lv = hl_opts_str(&ctx->opts, "log-level", NULL);

	if (lv && hl_log_level_parse(lv, &level) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hgs_serve(hl_opts_str(&ctx->opts, "dir", NULL), hl_opts_str(&ctx->opts, "listen", NULL),
		      level) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "hgs serve: %s", hl_error_last());
	return HL_EXIT_OK;
}

/* `hgs get-server` (Get-HgsServer). */
int cmd_hgs_get_server(struct hl_cmd_ctx *ctx)
{
	struct hgs_node *node = NULL;
	int code = hl_cmd_hgs_open(ctx, &node);

	if (code == HL_EXIT_OK)
		code = print_server(ctx, node);
	hgs_node_close(node);
	return code;
}

/*
 * The attestation signer certificate of NODE as Get-HgsAttestationSignerCertificate
 * shows it (Thumbprint, Subject, NotBefore, NotAfter, Pem) into *OUT.
 */
static int signer_cert_json(struct hgs_node *node, json_t **out)
{
	X509 *cert = NULL;
	struct hl_buf pem = { 0 };
	char thumb[HL_SHA256_HEX_SIZE], subject[512], nb_s[32], na_s[32];
	time_t nb, na;
	int rc = -1;

	*out = NULL;
	if (hgs_node_keypair(node, HGS_KEY_ATTESTATION_SIGNER, &cert, NULL) < 0 ||
	    hl_cert_thumbprint(cert, thumb) < 0 || hgs_cert_subject(cert, subject, sizeof(subject)) < 0 ||
	    hl_cert_validity(cert, &nb, &na) < 0 || hl_cert_to_pem(cert, &pem) < 0)
		goto out;
	hl_labclock_format(nb, nb_s, sizeof(nb_s));
	hl_labclock_format(na, na_s, sizeof(na_s));
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s%}", "Thumbprint", thumb, "Subject", subject,
			 "NotBefore", nb_s, "NotAfter", na_s, "Pem", (const char *)pem.data, pem.len);
	if (!*out)
		hl_error("out of memory");
	else
		rc = 0;
out:
	hl_buf_free(&pem);
	hl_cert_free(cert);
	return rc;
}

/*
 * `hgs get-attestation-signer-certificate` (Get-HgsAttestationSignerCertificate):
 * the certificate that signs health certificates, as PEM on stdout or in --out.
 */
int cmd_hgs_get_signer_cert(struct hl_cmd_ctx *ctx)
{
	const char *file = hl_opts_str(&ctx->opts, "out", NULL);
	int json = hl_opts_flag(&ctx->opts, "json");
	struct hgs_node *node = NULL;
	json_t *o = NULL;
	const char *pem;
	int code;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (signer_cert_json(node, &o) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot read the attestation signer certificate "
				   "of '%s': %s", node->dir, hl_error_last());
		goto out;
	}
	pem = json_string_value(json_object_get(o, "Pem"));
	if (file && hl_file_write(file, pem, strlen(pem), HL_FILE_MODE_PUBLIC) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot write the attestation signer certificate: "
				   "%s", hl_error_last());
		goto out;
	}
	if (json) {
		if (file)
			hl_cmd_set_str(o, "File", file);
		code = hl_out_json(o);
	} else if (file) {
		printf("wrote the attestation signer certificate of HGS '%s' to '%s' (thumbprint "
		       "%s)\n", node->config.name, file,
		       json_string_value(json_object_get(o, "Thumbprint")));
	} else {
		fputs(pem, stdout);
	}
out:
	json_decref(o);
	hgs_node_close(node);
	return code;
}

/* `hgs set-server` (Set-HgsServer): trust mode, validity, TPM vendor CA. */
int cmd_hgs_set_server(struct hl_cmd_ctx *ctx)
{
	const char *trust = hl_opts_str(&ctx->opts, "trust", NULL);
	const char *ca_file = hl_opts_str(&ctx->opts, "tpm-vendor-ca", NULL);
	const struct hl_optval *hours = hl_opts_get(&ctx->opts, "health-cert-validity");
	struct hgs_node *node = NULL;
	enum hgs_mode mode = HGS_MODE_TPM;
	char *ca = NULL;
	int code;

	if (!trust && !ca_file && !hours->set)
		return hl_cmd_fail(HL_EXIT_USAGE, "nothing to change: give --trust, "
				   "--health-cert-validity or --tpm-vendor-ca");
	if (trust && hgs_mode_parse(trust, &mode) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hours->set && (hours->num < 1 || hours->num > HGS_HEALTHCERT_VALIDITY_H_MAX))
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --health-cert-validity %ld: use 1 to %d "
				   "hours", hours->num, HGS_HEALTHCERT_VALIDITY_H_MAX);
	if (ca_file) {
		if ((code = hl_cmd_read_file(ca_file, "TPM vendor CA", HL_FILE_READ_MAX, &ca, NULL)) != HL_EXIT_OK)
			return code;
		if (hgs_vendor_ca_check(ca) < 0) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "invalid TPM vendor CA '%s': %s", ca_file,
					   hl_error_last());
			goto out;
		}
	}
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		goto out;
	if ((trust && hgs_db_set_trust(node, mode) < 0) ||
	    (hours->set && hgs_db_set_validity(node, (int)hours->num) < 0) ||
	    (ca && hgs_db_set_vendor_ca(node, ca) < 0)) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	code = print_server(ctx, node);
out:
	hgs_node_close(node);
	free(ca);
	return code;
}

/* What clear-server's confirmation needs: the node's name and folder, --force. */
struct clear_ask {
	const char *name, *dir;
	int force;
};

/*
 * Ask on the terminal whether to remove the node (hgs_node_confirm_fn): the
 * answer must be the node's name.  -2 when stdin is no terminal (--force is
 * needed), -1 when not confirmed, 0 to go on.
 */
static int clear_confirm(void *arg)
{
	const struct clear_ask *a = arg;
	char line[256];

	if (a->force)
		return 0;
	if (!isatty(STDIN_FILENO)) {
		hl_error("standard input is not a terminal, so clear-server cannot ask: give --force "
			 "to remove the HGS node '%s' in '%s' without asking", a->name, a->dir);
		return -2;
	}
	fprintf(stderr, "This removes the HGS node '%s' in '%s' for good: its store, registrations,\n"
		"keys and certificates.  Type the node's name (%s) to confirm: ", a->name, a->dir,
		a->name);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, a->name) != 0) {
		hl_error("not confirmed: the HGS node '%s' in '%s' was not removed", a->name, a->dir);
		return -1;
	}
	return 0;
}

/* `hgs clear-server` (Clear-HgsServer): remove the node directory, asking first. */
int cmd_hgs_clear_server(struct hl_cmd_ctx *ctx)
{
	struct clear_ask ask = { .dir = hl_opts_str(&ctx->opts, "dir", NULL),
				 .force = hl_opts_flag(&ctx->opts, "force") };
	struct hgs_node *node = NULL;
	char name[HL_NAME_HGS_SIZE];
	const char *slash;
	json_t *o;
	int rc;

	/* the name to confirm with; a node whose store cannot be read is named by its folder */
	if (hgs_node_open(ask.dir, 0, &node) == 0) {
		snprintf(name, sizeof(name), "%s", node->config.name);
	} else {
		slash = strrchr(ask.dir, '/');
		snprintf(name, sizeof(name), "%s", slash && slash[1] ? slash + 1 : ask.dir);
	}
	hgs_node_close(node);
	hl_error_clear();
	ask.name = name;
	if ((rc = hgs_node_remove(ask.dir, clear_confirm, &ask)) < 0)
		return hl_cmd_fail(rc == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "%s", hl_error_last());
	if (!hl_opts_flag(&ctx->opts, "json")) {
		printf("removed the HGS node '%s' in '%s'\n", name, ask.dir);
		return HL_EXIT_OK;
	}
	o = json_pack("{s:s, s:s, s:b}", "Name", name, "Directory", ask.dir, "Removed", 1);
	rc = hl_out_json(o);
	json_decref(o);
	return rc;
}

/* ---- registrations ---- */

/* What each registration kind's verbs print. */
struct reg_verbs {
	const char *get, *remove;
	const char *const cols[8];
	const char *none;
};

static const struct reg_verbs reg_verbs[HGS_REG_COUNT] = {
	[HGS_REG_TPM_HOST] = { "get-tpm-host", "remove-tpm-host",
		{ "Name", "Host", "EkFingerprint", "EkCertificateIssuer", "Forced", "Added", NULL },
		"no TPM host is registered" },
	[HGS_REG_TPM_POLICY] = { "get-tpm-policy", "remove-tpm-policy",
		{ "Name", "Events", "Size", "Sha256", "Added", NULL },
		"no TPM policy is registered" },
	[HGS_REG_CI_POLICY] = { "get-ci-policy", "remove-ci-policy",
		{ "Name", "Size", "Sha256", "Added", NULL },
		"no CI policy is registered" },
	[HGS_REG_HOST_GROUP] = { "get-host-group", "remove-host-group",
		{ "Name", "Sid", "Added", NULL },
		"no host group is registered" },
	[HGS_REG_HOST_KEY] = { "get-host-key", "remove-host-key",
		{ "Name", "KeyType", "Fingerprint", "Added", NULL },
		"no host key is registered" },
};

/* The registration kind a get-/remove- verb named VERB acts on. */
static enum hgs_reg_kind reg_kind_of(const char *verb)
{
	for (int k = 0; k < HGS_REG_COUNT; k++)
		if (strcmp(verb, reg_verbs[k].get) == 0 || strcmp(verb, reg_verbs[k].remove) == 0)
			return (enum hgs_reg_kind)k;
	return HGS_REG_COUNT;
}

/*
 * Print registration NAME of KIND just added (human table or JSON object)
 * when RC, the result of adding it, is not negative; else report why it was
 * not added.  An exit code.
 */
static int print_added(const struct hl_cmd_ctx *ctx, struct hgs_node *node, enum hgs_reg_kind kind,
		       const char *name, int rc)
{
	json_t *rows = NULL;
	int code;

	if (rc < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot add %s '%s': %s", hgs_reg_noun(kind), name,
				   hl_error_last());
	if (hgs_db_reg_list(node, kind, name, &rows) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	code = hl_cmd_out_one(ctx, rows, reg_verbs[kind].cols);
	json_decref(rows);
	return code;
}

/* `hgs get-tpm-host`, `get-tpm-policy`, `get-ci-policy`, `get-host-group`, `get-host-key`. */
int cmd_hgs_get_registration(struct hl_cmd_ctx *ctx)
{
	enum hgs_reg_kind kind = reg_kind_of(ctx->cmd->name);
	struct hgs_node *node = NULL;
	json_t *rows = NULL;
	int code, rc;

	if (kind == HGS_REG_COUNT)
		return hl_cmd_fail(HL_EXIT_FAILURE, "'%s' is not a registration verb", ctx->path);
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	rc = hgs_db_reg_list(node, kind, hl_opts_str(&ctx->opts, "name", NULL), &rows);
	code = hl_cmd_out_rows(ctx, rc, rows, reg_verbs[kind].cols, reg_verbs[kind].none);
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* `hgs remove-tpm-host`, `remove-tpm-policy`, ... */
int cmd_hgs_remove_registration(struct hl_cmd_ctx *ctx)
{
	enum hgs_reg_kind kind = reg_kind_of(ctx->cmd->name);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct hgs_node *node = NULL;
	json_t *o;
	int code;

	if (kind == HGS_REG_COUNT)
		return hl_cmd_fail(HL_EXIT_FAILURE, "'%s' is not a registration verb", ctx->path);
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (hgs_db_reg_remove(node, kind, name) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	} else if (hl_opts_flag(&ctx->opts, "json")) {
		o = json_pack("{s:s, s:s, s:b}", "Name", name, "Kind", hgs_reg_noun(kind), "Removed", 1);
		code = hl_out_json(o);
		json_decref(o);
	} else {
		printf("removed %s '%s'\n", hgs_reg_noun(kind), name);
	}
	hgs_node_close(node);
	return code;
}

/* `hgs add-tpm-host` (Add-HgsAttestationTpmHost). */
int cmd_hgs_add_tpm_host(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *file = hl_opts_str(&ctx->opts, "platform-identifier", NULL);
	struct hgs_platform_id *id = NULL;
	struct hgs_node *node = NULL;
	char *buf = NULL;
	size_t len = 0;
	int code;

	if (hl_name_registration("TPM host name", name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = hl_cmd_read_file(file, "platform identifier", HL_FILE_READ_MAX, &buf, &len)) !=
	    HL_EXIT_OK)
		return code;
	if (hgs_platform_id_parse(buf, len, &id) < 0) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "invalid platform identifier '%s': %s", file,
				   hl_error_last());
		goto out;
	}
	if ((code = hl_cmd_hgs_open(ctx, &node)) == HL_EXIT_OK)
		code = print_added(ctx, node, HGS_REG_TPM_HOST, name,
				   hgs_db_tpm_host_add(node, name, id, hl_opts_flag(&ctx->opts, "force")));
out:
	hgs_platform_id_free(id);
	hgs_node_close(node);
	free(buf);
	return code;
}

/* `hgs add-tpm-policy` and `hgs add-ci-policy`: a named file registered as is. */
static int add_file(struct hl_cmd_ctx *ctx, enum hgs_reg_kind kind, const char *opt,
		    const char *what)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *file = hl_opts_str(&ctx->opts, opt, NULL);
	struct hgs_node *node = NULL;
	char *buf = NULL, label[64];
	size_t len = 0;
	int code, rc;

	snprintf(label, sizeof(label), "%s name", hgs_reg_noun(kind));
	if (hl_name_registration(label, name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = hl_cmd_read_file(file, what, HL_FILE_READ_MAX, &buf, &len)) != HL_EXIT_OK)
		return code;
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		goto out;
	rc = kind == HGS_REG_TPM_POLICY ? hgs_db_tpm_policy_add(node, name, buf, len)
					: hgs_db_ci_policy_add(node, name, buf, len);
	if (rc == -2) {
		/* the file itself is wrong: bad input, and nothing was registered */
		code = hl_cmd_fail(HL_EXIT_USAGE, "'%s' cannot be registered as %s '%s': %s", file,
				   hgs_reg_noun(kind), name, hl_error_last());
		goto out;
	}
	if (rc < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot add %s '%s' from '%s': %s",
				   hgs_reg_noun(kind), name, file, hl_error_last());
		goto out;
	}
	code = print_added(ctx, node, kind, name, 0);
out:
	hgs_node_close(node);
	free(buf);
	return code;
}

/* `hgs add-tpm-policy` (Add-HgsAttestationTpmPolicy). */
int cmd_hgs_add_tpm_policy(struct hl_cmd_ctx *ctx)
{
	return add_file(ctx, HGS_REG_TPM_POLICY, "tcglog", "TCG log");
}

/* `hgs add-ci-policy` (Add-HgsAttestationCIPolicy). */
int cmd_hgs_add_ci_policy(struct hl_cmd_ctx *ctx)
{
	return add_file(ctx, HGS_REG_CI_POLICY, "policy", "CI policy");
}

/* `hgs add-host-group` (Add-HgsAttestationHostGroup). */
int cmd_hgs_add_host_group(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *sid = hl_opts_str(&ctx->opts, "sid", NULL);
	struct hgs_node *node = NULL;
	int code;

	if (hl_name_registration("host group name", name) < 0 || hl_name_sid(sid) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = hl_cmd_hgs_open(ctx, &node)) == HL_EXIT_OK)
		code = print_added(ctx, node, HGS_REG_HOST_GROUP, name,
				   hgs_db_host_group_add(node, name, sid));
	hgs_node_close(node);
	return code;
}

/* `hgs add-host-key` (Add-HgsAttestationHostKey). */
int cmd_hgs_add_host_key(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct hgs_node *node = NULL;
	EVP_PKEY *key = NULL;
	int code;

	if (hl_name_registration("host key name", name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	code = hl_cmd_read_public_key(hl_opts_str(&ctx->opts, "key", NULL), "host key", NULL, &key);
	if (code == HL_EXIT_OK && (code = hl_cmd_hgs_open(ctx, &node)) == HL_EXIT_OK)
		code = print_added(ctx, node, HGS_REG_HOST_KEY, name,
				   hgs_db_host_key_add(node, name, key));
	hl_key_free(key);
	hgs_node_close(node);
	return code;
}

/* ---- policies and the log ---- */

static const char *const policy_cols[] = { "Name", "PolicyState", "Locked", "Description", NULL };

/* `hgs get-attestation-policy` (Get-HgsAttestationPolicy). */
int cmd_hgs_get_attestation_policy(struct hl_cmd_ctx *ctx)
{
	struct hgs_node *node = NULL;
	json_t *rows = NULL;
	int code, rc;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	rc = hgs_db_policy_list(node, &rows);
	code = hl_cmd_out_rows(ctx, rc, rows, policy_cols, "no attestation policy is defined");
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* `hgs enable-attestation-policy` / `disable-attestation-policy`. */
int cmd_hgs_set_attestation_policy(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	int enable = strncmp(ctx->cmd->name, "enable", 6) == 0;
	struct hgs_node *node = NULL;
	json_t *rows = NULL, *one = NULL;
	int code;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (hgs_db_policy_enable(node, name, enable) < 0 || hgs_db_policy_list(node, &rows) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot %s policy '%s': %s",
				   enable ? "enable" : "disable", name, hl_error_last());
		goto out;
	}
	one = hl_cmd_find_row(rows, "Name", name);
	if (!one)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "policy '%s' is missing from the list", name);
	else
		code = hl_cmd_out_one(ctx, one, policy_cols);
out:
	json_decref(one);
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* `hgs get-attestation-log`: every attestation attempt. */
int cmd_hgs_get_attestation_log(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Time", "Host", "Mode", "Status", "SubStatus",
					     "Reason", NULL };

	return hl_cmd_hgs_log(ctx, hgs_db_attest_log_list, cols,
			      "no attestation attempt is recorded");
}
