/*
 * commands.h - every command function and option table the command table
 * (sim/table.c) refers to.  One block per file that implements commands.
 */
#ifndef HGSLAB_CMD_COMMANDS_H
#define HGSLAB_CMD_COMMANDS_H

#include "cmd/cmd.h"

/* cmd/cmd_faults.c */
extern const struct hl_opt cmd_faults_opts[];
int cmd_faults(struct hl_cmd_ctx *ctx);

/* cmd/cmd_pgsql.c */
extern const struct hl_opt cmd_pgsql_start_opts[];
extern const struct hl_opt cmd_pgsql_dir_opts[];
extern const struct hl_opt cmd_pgsql_url_opts[];
int cmd_pgsql_start(struct hl_cmd_ctx *ctx);
int cmd_pgsql_stop(struct hl_cmd_ctx *ctx);
int cmd_pgsql_url(struct hl_cmd_ctx *ctx);

/* sim/cmd_version.c */
extern const struct hl_opt cmd_version_opts[];
int cmd_version(struct hl_cmd_ctx *ctx);

/* cmd/cmd_dashboard.c */
extern const struct hl_opt cmd_dashboard_opts[];
int cmd_dashboard(struct hl_cmd_ctx *ctx);

/* sim/cmd_diagnose.c */
extern const struct hl_opt cmd_diagnose_opts[];
int cmd_diagnose(struct hl_cmd_ctx *ctx);

/* sim/cmd_run.c */
extern const struct hl_opt cmd_run_opts[];
int cmd_run(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_demo_opts[];
int cmd_demo(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_up_opts[];
int cmd_up(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_down_opts[];
int cmd_down(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_status_opts[];
int cmd_status(struct hl_cmd_ctx *ctx);

/* hgs/cmd_hgs.c */
extern const struct hl_opt cmd_hgs_init_opts[];
extern const struct hl_opt cmd_hgs_serve_opts[];
extern const struct hl_opt cmd_hgs_show_opts[];
extern const struct hl_opt cmd_hgs_set_server_opts[];
extern const struct hl_opt cmd_hgs_clear_server_opts[];
extern const struct hl_opt cmd_hgs_signer_cert_opts[];
extern const struct hl_opt cmd_hgs_get_opts[];
extern const struct hl_opt cmd_hgs_name_opts[];
extern const struct hl_opt cmd_hgs_add_tpm_host_opts[];
extern const struct hl_opt cmd_hgs_add_tpm_policy_opts[];
extern const struct hl_opt cmd_hgs_add_ci_policy_opts[];
extern const struct hl_opt cmd_hgs_add_host_group_opts[];
extern const struct hl_opt cmd_hgs_add_host_key_opts[];
extern const struct hl_opt cmd_hgs_log_opts[];
int cmd_hgs_init(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_hgs_add_node_opts[];
int cmd_hgs_add_node(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_cluster(struct hl_cmd_ctx *ctx);
int cmd_hgs_serve(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_server(struct hl_cmd_ctx *ctx);
int cmd_hgs_set_server(struct hl_cmd_ctx *ctx);
int cmd_hgs_clear_server(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_signer_cert(struct hl_cmd_ctx *ctx);
int cmd_hgs_add_tpm_host(struct hl_cmd_ctx *ctx);
int cmd_hgs_add_tpm_policy(struct hl_cmd_ctx *ctx);
int cmd_hgs_add_ci_policy(struct hl_cmd_ctx *ctx);
int cmd_hgs_add_host_group(struct hl_cmd_ctx *ctx);
int cmd_hgs_add_host_key(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_registration(struct hl_cmd_ctx *ctx);    /* get-tpm-host, get-tpm-policy, ... */
int cmd_hgs_remove_registration(struct hl_cmd_ctx *ctx); /* remove-tpm-host, ... */
int cmd_hgs_get_attestation_policy(struct hl_cmd_ctx *ctx);
int cmd_hgs_set_attestation_policy(struct hl_cmd_ctx *ctx); /* enable-/disable-attestation-policy */
int cmd_hgs_get_attestation_log(struct hl_cmd_ctx *ctx);

/* hosts/cmd_host.c */
extern const struct hl_opt cmd_host_new_opts[];
extern const struct hl_opt cmd_host_run_opts[];
extern const struct hl_opt cmd_host_platform_id_opts[];
extern const struct hl_opt cmd_host_baseline_opts[];
extern const struct hl_opt cmd_host_ci_policy_opts[];
extern const struct hl_opt cmd_host_host_key_opts[];
extern const struct hl_opt cmd_host_set_client_opts[];
extern const struct hl_opt cmd_host_show_opts[];
extern const struct hl_opt cmd_host_test_client_opts[];
extern const struct hl_opt cmd_host_set_profile_opts[];
extern const struct hl_opt cmd_host_unwrap_opts[];
int cmd_host_new(struct hl_cmd_ctx *ctx);
int cmd_host_run(struct hl_cmd_ctx *ctx);
int cmd_host_get_platform_identifier(struct hl_cmd_ctx *ctx);
int cmd_host_get_baseline_policy(struct hl_cmd_ctx *ctx);
int cmd_host_get_ci_policy(struct hl_cmd_ctx *ctx);
int cmd_host_get_host_key(struct hl_cmd_ctx *ctx);
int cmd_host_set_client_configuration(struct hl_cmd_ctx *ctx);
int cmd_host_get_client_configuration(struct hl_cmd_ctx *ctx);
int cmd_host_test_client_configuration(struct hl_cmd_ctx *ctx);
int cmd_host_set_profile(struct hl_cmd_ctx *ctx);
int cmd_host_unwrap_key_protector(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_host_clear_key_cache_opts[];
int cmd_host_clear_key_cache(struct hl_cmd_ctx *ctx);

/* cmd/cmd_host_pcr.c */
extern const struct hl_opt cmd_host_pcr_values_opts[];
int cmd_host_get_pcr_values(struct hl_cmd_ctx *ctx);

/* sim/cmd_bench.c */
extern const struct hl_opt cmd_bench_attest_opts[];
extern const struct hl_opt cmd_bench_all_opts[];
int cmd_bench_attest(struct hl_cmd_ctx *ctx);
int cmd_bench_all(struct hl_cmd_ctx *ctx);

/* cmd/cmd_bench_fabric.c */
extern const struct hl_opt cmd_bench_fabric_opts[];
int cmd_bench_fabric(struct hl_cmd_ctx *ctx);

/* sim/cmd_bench_release.c */
struct json_t;
extern const struct hl_opt cmd_bench_release_opts[];
int cmd_bench_release(struct hl_cmd_ctx *ctx);
/*
 * `bench release` with the defaults `bench all` uses: the human report, or
 * (JSON) one object appended to COLLECT.  0 when it ran (a missed goal
 * included), -1 after hl_error when not; *SIGNO the signal that stopped it.
 */
int cmd_bench_release_default(const char *workdir, int keep, int json, struct json_t *collect,
			      int *signo);

/* sim/cmd_bench_boot.c */
extern const struct hl_opt cmd_bench_boot_opts[];
int cmd_bench_boot(struct hl_cmd_ctx *ctx);
/*
 * A VM benchmark's verb (bench boot, bench provision): --runs checked
 * against 1..RUNS_MAX (default RUNS_DEFAULT), then REPORT with --workdir,
 * --keep and --json; an exit code ("bench NAME: ..." on failure).
 */
typedef int (*cmd_bench_vm_report_fn)(long runs, const char *workdir, int keep, int json,
				      struct json_t *collect);
int cmd_bench_vm(struct hl_cmd_ctx *ctx, const char *name, long runs_default, long runs_max,
		 cmd_bench_vm_report_fn report);
/* `bench boot` with the default runs, as cmd_bench_release_default (no signal flag). */
int cmd_bench_boot_default(const char *workdir, int keep, int json, struct json_t *collect);

/* cmd/cmd_bench_provision.c */
extern const struct hl_opt cmd_bench_provision_opts[];
int cmd_bench_provision(struct hl_cmd_ctx *ctx);
/* `bench provision` with the default runs, as cmd_bench_boot_default. */
int cmd_bench_provision_default(const char *workdir, int keep, int json, struct json_t *collect);

/* hgs/cmd_hgs_ad.c */
extern const struct hl_opt cmd_hgs_add_trusted_domain_opts[];
extern const struct hl_opt cmd_hgs_get_trusted_domain_opts[];
extern const struct hl_opt cmd_hgs_remove_trusted_domain_opts[];
int cmd_hgs_add_trusted_domain(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_trusted_domain(struct hl_cmd_ctx *ctx);
int cmd_hgs_remove_trusted_domain(struct hl_cmd_ctx *ctx);

/* hosts/cmd_fabric.c */
extern const struct hl_opt cmd_fabric_new_opts[];
extern const struct hl_opt cmd_fabric_show_opts[];
extern const struct hl_opt cmd_fabric_add_group_opts[];
extern const struct hl_opt cmd_fabric_get_opts[];
extern const struct hl_opt cmd_fabric_add_computer_opts[];
extern const struct hl_opt cmd_fabric_member_opts[];
extern const struct hl_opt cmd_fabric_export_trust_opts[];
extern const struct hl_opt cmd_fabric_serve_opts[];
extern const struct hl_opt cmd_fabric_get_ticket_opts[];
int cmd_fabric_new(struct hl_cmd_ctx *ctx);
int cmd_fabric_get_domain(struct hl_cmd_ctx *ctx);
int cmd_fabric_add_group(struct hl_cmd_ctx *ctx);
int cmd_fabric_get_group(struct hl_cmd_ctx *ctx);
int cmd_fabric_add_computer(struct hl_cmd_ctx *ctx);
int cmd_fabric_get_computer(struct hl_cmd_ctx *ctx);
int cmd_fabric_group_member(struct hl_cmd_ctx *ctx);      /* add-/remove-group-member */
int cmd_fabric_export_trust(struct hl_cmd_ctx *ctx);
int cmd_fabric_serve(struct hl_cmd_ctx *ctx);
int cmd_fabric_get_ticket(struct hl_cmd_ctx *ctx);

/* hgs/cmd_hgs_kps.c */
extern const struct hl_opt cmd_hgs_add_kps_cert_opts[];
extern const struct hl_opt cmd_hgs_get_kps_cert_opts[];
extern const struct hl_opt cmd_hgs_set_kps_cert_opts[];
extern const struct hl_opt cmd_hgs_remove_kps_cert_opts[];
extern const struct hl_opt cmd_hgs_set_kps_policy_opts[];
extern const struct hl_opt cmd_hgs_get_kps_policy_opts[];
extern const struct hl_opt cmd_hgs_kps_log_opts[];
int cmd_hgs_add_kps_cert(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_kps_cert(struct hl_cmd_ctx *ctx);
int cmd_hgs_set_kps_cert(struct hl_cmd_ctx *ctx);
int cmd_hgs_remove_kps_cert(struct hl_cmd_ctx *ctx);
int cmd_hgs_set_kps_policy(struct hl_cmd_ctx *ctx);       /* also set-key-protection-policy */
int cmd_hgs_get_kps_policy(struct hl_cmd_ctx *ctx);
int cmd_hgs_get_kps_log(struct hl_cmd_ctx *ctx);
extern const struct hl_opt cmd_hgs_get_kps_config_opts[];
extern const struct hl_opt cmd_hgs_set_kps_config_opts[];
int cmd_hgs_get_kps_config(struct hl_cmd_ctx *ctx);
int cmd_hgs_set_kps_config(struct hl_cmd_ctx *ctx);

/* cmd/cmd_hgs_backup.c */
extern const struct hl_opt cmd_hgs_export_state_opts[];
extern const struct hl_opt cmd_hgs_import_state_opts[];
int cmd_hgs_export_state(struct hl_cmd_ctx *ctx);
int cmd_hgs_import_state(struct hl_cmd_ctx *ctx);
/* add-node --from-state: the password read as import-server-state reads it, then hgs_node_join(). */
struct hgs_join_params;
int cmd_hgs_join_from_state(const struct hl_cmd_ctx *ctx, struct hgs_join_params *p);

/* tenant/cmd_tenant.c */
extern const struct hl_opt cmd_tenant_new_guardian_opts[];
extern const struct hl_opt cmd_tenant_import_guardian_opts[];
extern const struct hl_opt cmd_tenant_get_guardian_opts[];
extern const struct hl_opt cmd_tenant_export_guardian_opts[];
extern const struct hl_opt cmd_tenant_remove_guardian_opts[];
extern const struct hl_opt cmd_tenant_new_key_protector_opts[];
extern const struct hl_opt cmd_tenant_kp_access_opts[];
extern const struct hl_opt cmd_tenant_show_key_protector_opts[];
int cmd_tenant_new_guardian(struct hl_cmd_ctx *ctx);
int cmd_tenant_import_guardian(struct hl_cmd_ctx *ctx);
int cmd_tenant_get_guardian(struct hl_cmd_ctx *ctx);
int cmd_tenant_export_guardian(struct hl_cmd_ctx *ctx);
int cmd_tenant_remove_guardian(struct hl_cmd_ctx *ctx);
int cmd_tenant_new_key_protector(struct hl_cmd_ctx *ctx);
int cmd_tenant_grant_key_protector_access(struct hl_cmd_ctx *ctx);
int cmd_tenant_revoke_key_protector_access(struct hl_cmd_ctx *ctx);
int cmd_tenant_show_key_protector(struct hl_cmd_ctx *ctx);

/* tenant/cmd_vm.c */
extern const struct hl_opt cmd_tenant_new_vm_opts[];
extern const struct hl_opt cmd_tenant_shield_vm_opts[];
extern const struct hl_opt cmd_tenant_export_vm_opts[];
extern const struct hl_opt cmd_tenant_inspect_vm_opts[];
int cmd_tenant_new_vm(struct hl_cmd_ctx *ctx);
int cmd_tenant_shield_vm(struct hl_cmd_ctx *ctx);
int cmd_tenant_export_vm(struct hl_cmd_ctx *ctx);
int cmd_tenant_inspect_vm(struct hl_cmd_ctx *ctx);
/*
 * The --file NAME=CONTENT items of option FV (new-vm, new-template-disk) as
 * FV->n disk files *FILES borrowing from *PAIRS; NAME=@PATH takes the text
 * of file PATH (so the content is in no command line), NAME=@@... is the
 * literal "@...".  Free both with hl_cmd_pairs_free(*pairs, fv->n) and
 * free(*files).  SRC, the --files folder (may be NULL), is checked as an
 * input folder first (hl_cmd_input_dir).  An exit code (2 for a bad item,
 * an unreadable PATH or SRC).
 */
struct hl_cmd_pair;
struct hl_vm_file;
int cmd_tenant_disk_files(const struct hl_optval *fv, const char *src, struct hl_cmd_pair **pairs,
			  struct hl_vm_file **files);

/* cmd/cmd_tenant_template.c */
extern const struct hl_opt cmd_tenant_new_template_signer_opts[];
extern const struct hl_opt cmd_tenant_new_template_disk_opts[];
extern const struct hl_opt cmd_tenant_protect_template_disk_opts[];
extern const struct hl_opt cmd_tenant_save_vsc_opts[];
extern const struct hl_opt cmd_tenant_new_viq_opts[];
int cmd_tenant_new_template_signer(struct hl_cmd_ctx *ctx);
int cmd_tenant_new_template_disk(struct hl_cmd_ctx *ctx);
int cmd_tenant_protect_template_disk(struct hl_cmd_ctx *ctx);
int cmd_tenant_save_vsc(struct hl_cmd_ctx *ctx);
int cmd_tenant_new_viq(struct hl_cmd_ctx *ctx);

/* cmd/cmd_tenant_shielding.c */
extern const struct hl_opt cmd_tenant_new_pdk_opts[];
extern const struct hl_opt cmd_tenant_new_fsk_opts[];
extern const struct hl_opt cmd_tenant_test_pdk_opts[];
extern const struct hl_opt cmd_tenant_show_pdk_opts[];
int cmd_tenant_new_pdk(struct hl_cmd_ctx *ctx);
int cmd_tenant_new_fsk(struct hl_cmd_ctx *ctx);
int cmd_tenant_test_pdk(struct hl_cmd_ctx *ctx);
int cmd_tenant_show_pdk(struct hl_cmd_ctx *ctx);

/* hosts/cmd_vm.c */
extern const struct hl_opt cmd_host_import_vm_opts[];
extern const struct hl_opt cmd_host_start_vm_opts[];
extern const struct hl_opt cmd_host_stop_vm_opts[];
extern const struct hl_opt cmd_host_keep_vm_opts[];
extern const struct hl_opt cmd_host_get_vm_opts[];
extern const struct hl_opt cmd_host_connect_vm_opts[];
extern const struct hl_opt cmd_host_new_shielded_vm_opts[];
extern const struct hl_opt cmd_host_get_provisioning_status_opts[];
int cmd_host_import_vm(struct hl_cmd_ctx *ctx);
int cmd_host_start_vm(struct hl_cmd_ctx *ctx);
int cmd_host_stop_vm(struct hl_cmd_ctx *ctx);
int cmd_host_keep_vm(struct hl_cmd_ctx *ctx);
/* The VM keeper's command (hosts_vm_start runs it): this binary, as `host keep-vm`. */
extern const char *const cmd_host_keeper[];
int cmd_host_get_vm(struct hl_cmd_ctx *ctx);
int cmd_host_connect_vm(struct hl_cmd_ctx *ctx);
int cmd_host_new_shielded_vm(struct hl_cmd_ctx *ctx);
int cmd_host_get_provisioning_status(struct hl_cmd_ctx *ctx);

/* cmd/cmd_attack.c */
extern const struct hl_opt cmd_attack_list_opts[];
extern const struct hl_opt cmd_attack_show_opts[];
int cmd_attack_list(struct hl_cmd_ctx *ctx);
int cmd_attack_show(struct hl_cmd_ctx *ctx);

/* cmd/cmd_vmm.c */
extern const struct hl_opt cmd_vmm_new_cloud_opts[];
extern const struct hl_opt cmd_vmm_get_cloud_opts[];
extern const struct hl_opt cmd_vmm_deploy_opts[];
extern const struct hl_opt cmd_vmm_get_placement_opts[];
int cmd_vmm_new_cloud(struct hl_cmd_ctx *ctx);
int cmd_vmm_get_cloud(struct hl_cmd_ctx *ctx);
int cmd_vmm_deploy(struct hl_cmd_ctx *ctx);
int cmd_vmm_get_placement(struct hl_cmd_ctx *ctx);

#endif
