/*
 * table.c - the command table of hgslab: every area and verb in one place.
 * Entries with `.later` set are planned and listed in help, and exit
 * HL_EXIT_NOT_BUILT (3) with a message naming what brings them.
 */
#include "cmd/cmd.h"
#include "cmd/commands.h"

#define LATER_ATTEST "it comes with the attestation work (issue #3)"
#define LATER_KPS    "it comes with the key protection work (issue #4)"

static const struct hl_cmd hgs_verbs[] = {
	{ .name = "init", .summary = "create an HGS node (Initialize-HgsServer)",
	  .description = "Creates the node directory: SQLite store, attestation signer, KPS signing and\n"
			 "encryption keys with certificates (the HGS guardian) and the default Hgs_*\n"
			 "policies.  Nothing is left behind when it fails.",
	  .opts = cmd_hgs_init_opts, .run = cmd_hgs_init },
	{ .name = "add-node",
	  .summary = "add a node to an existing HGS (Initialize-HgsServer -HgsServerIPAddress)",
	  .description = "Makes NEWDIR a node of the same HGS: it shares the state of --from NODEDIR\n"
			 "(NODEDIR's hgs.db, or its PostgreSQL database) and a copy of its keys, so\n"
			 "every node verifies the others' nonces and health certificates.  On another\n"
			 "machine: --from-state FILE (an export-server-state file, for the keys;\n"
			 "password as import-server-state takes it) and --store URI (the HGS's\n"
			 "PostgreSQL database).  The name must be new in the cluster (exit 2).  Built\n"
			 "beside NEWDIR and renamed in: nothing is left on a failure.  Then `hgs serve\n"
			 "--dir NEWDIR --listen ADDR:PORT`.  See docs/hgs-cluster.md.",
	  .opts = cmd_hgs_add_node_opts, .run = cmd_hgs_add_node },
	{ .name = "get-cluster", .summary = "the HGS's nodes and their state (Get-ClusterNode)",
	  .description = "Lists every node of the HGS: Name, Address (where its `hgs serve` listens),\n"
			 "State (Up when its `hgs serve` said it was alive in the last 6 seconds of the\n"
			 "node clock, else Down), LastSeen and Pid.",
	  .opts = cmd_hgs_show_opts, .run = cmd_hgs_get_cluster },
	{ .name = "serve", .summary = "serve /Attestation and /KeyProtection over HTTP",
	  .description = "Prints 'hgs: serving NAME on http://ADDR:PORT' when ready; stops on SIGTERM or\n"
			 "SIGINT (exit 0).  Logs to DIR/hgs.log.  See docs/attestation-protocol.md.",
	  .opts = cmd_hgs_serve_opts, .run = cmd_hgs_serve },
	{ .name = "get-server", .summary = "show the node's configuration (Get-HgsServer)",
	  .opts = cmd_hgs_show_opts, .run = cmd_hgs_get_server },
	{ .name = "set-server", .summary = "change the trust mode (Set-HgsServer)",
	  .opts = cmd_hgs_set_server_opts, .run = cmd_hgs_set_server },
	{ .name = "clear-server", .summary = "remove the node's configuration (Clear-HgsServer)",
	  .description = "Removes the node directory whole: its store (registrations, policies, logs),\n"
			 "keys and certificates.  Asks first: type the node's name on the terminal\n"
			 "(another answer: exit 1, nothing removed), or give --force; with no terminal\n"
			 "on stdin it refuses (exit 2) unless --force.  Refused while `hgs serve` runs\n"
			 "on the node (exit 1).  The directory is renamed aside first, then removed\n"
			 "without following symbolic links, so the node is there whole or gone.",
	  .opts = cmd_hgs_clear_server_opts, .run = cmd_hgs_clear_server },
	{ .name = "get-attestation-signer-certificate",
	  .summary = "the certificate that signs health certificates, PEM "
		     "(Get-HgsAttestationSignerCertificate)",
	  .description = "Prints the attestation signer certificate as PEM, or writes it to --out FILE.\n"
			 "--json gives Thumbprint (SHA-256, as get-server shows it), Subject,\n"
			 "NotBefore, NotAfter and Pem.  `openssl x509 -noout -fingerprint -sha256`\n"
			 "on the PEM gives the same thumbprint.",
	  .opts = cmd_hgs_signer_cert_opts, .run = cmd_hgs_get_signer_cert },
	{ .name = "add-tpm-host", .summary = "register a host's TPM (Add-HgsAttestationTpmHost)",
	  .opts = cmd_hgs_add_tpm_host_opts, .run = cmd_hgs_add_tpm_host },
	{ .name = "get-tpm-host", .summary = "list registered TPM hosts (Get-HgsAttestationTpmHost)",
	  .opts = cmd_hgs_get_opts, .run = cmd_hgs_get_registration },
	{ .name = "remove-tpm-host", .summary = "unregister a TPM host (Remove-HgsAttestationTpmHost)",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_remove_registration },
	{ .name = "add-tpm-policy", .summary = "register a TCG log baseline (Add-HgsAttestationTpmPolicy)",
	  .opts = cmd_hgs_add_tpm_policy_opts, .run = cmd_hgs_add_tpm_policy },
	{ .name = "get-tpm-policy", .summary = "list TCG log baselines (Get-HgsAttestationTpmPolicy)",
	  .opts = cmd_hgs_get_opts, .run = cmd_hgs_get_registration },
	{ .name = "remove-tpm-policy", .summary = "remove a baseline (Remove-HgsAttestationTpmPolicy)",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_remove_registration },
	{ .name = "add-ci-policy", .summary = "register a code integrity policy (Add-HgsAttestationCIPolicy)",
	  .opts = cmd_hgs_add_ci_policy_opts, .run = cmd_hgs_add_ci_policy },
	{ .name = "get-ci-policy", .summary = "list code integrity policies (Get-HgsAttestationCIPolicy)",
	  .opts = cmd_hgs_get_opts, .run = cmd_hgs_get_registration },
	{ .name = "remove-ci-policy", .summary = "remove a CI policy (Remove-HgsAttestationCIPolicy)",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_remove_registration },
	{ .name = "add-host-group", .summary = "register an AD group SID (Add-HgsAttestationHostGroup)",
	  .opts = cmd_hgs_add_host_group_opts, .run = cmd_hgs_add_host_group },
	{ .name = "get-host-group", .summary = "list AD host groups (Get-HgsAttestationHostGroup)",
	  .opts = cmd_hgs_get_opts, .run = cmd_hgs_get_registration },
	{ .name = "remove-host-group", .summary = "remove a host group (Remove-HgsAttestationHostGroup)",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_remove_registration },
	{ .name = "add-host-key", .summary = "register a host key (Add-HgsAttestationHostKey)",
	  .opts = cmd_hgs_add_host_key_opts, .run = cmd_hgs_add_host_key },
	{ .name = "get-host-key", .summary = "list host keys (Get-HgsAttestationHostKey)",
	  .opts = cmd_hgs_get_opts, .run = cmd_hgs_get_registration },
	{ .name = "remove-host-key", .summary = "remove a host key (Remove-HgsAttestationHostKey)",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_remove_registration },
	{ .name = "get-attestation-policy", .summary = "list the Hgs_* policies",
	  .opts = cmd_hgs_show_opts, .run = cmd_hgs_get_attestation_policy },
	{ .name = "enable-attestation-policy", .summary = "enable an Hgs_* policy",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_set_attestation_policy },
	{ .name = "disable-attestation-policy", .summary = "disable an Hgs_* policy (not locked ones)",
	  .opts = cmd_hgs_name_opts, .run = cmd_hgs_set_attestation_policy },
	{ .name = "get-attestation-log", .summary = "every attestation attempt and its result",
	  .opts = cmd_hgs_log_opts, .run = cmd_hgs_get_attestation_log },
	{ .name = "add-trusted-domain", .summary = "trust a fabric AD domain (its export-trust file)",
	  .description = "Models the one-way forest trust from the HGS domain to the fabric domain:\n"
			 "AD-mode attestation accepts tickets signed by a trusted domain's DC only.\n"
			 "FILE comes from `hgslab fabric export-trust`.",
	  .opts = cmd_hgs_add_trusted_domain_opts, .run = cmd_hgs_add_trusted_domain },
	{ .name = "get-trusted-domain", .summary = "list the fabric domains this HGS trusts",
	  .opts = cmd_hgs_get_trusted_domain_opts, .run = cmd_hgs_get_trusted_domain },
	{ .name = "remove-trusted-domain", .summary = "stop trusting a fabric domain",
	  .opts = cmd_hgs_remove_trusted_domain_opts, .run = cmd_hgs_remove_trusted_domain },
	{ .name = "add-key-protection-certificate",
	  .summary = "add a KPS signing or encryption certificate (Add-HgsKeyProtectionCertificate)",
	  .description = "--generate makes an RSA 2048 key pair and a self-signed certificate; --key and\n"
			 "--certificate add an existing pair (the key is stored 0600 in DIR/keys).  New\n"
			 "certificates are enabled; --primary makes one the primary of its type, which the\n"
			 "guardian metadata hands out.  See docs/attestation-protocol.md.",
	  .opts = cmd_hgs_add_kps_cert_opts, .run = cmd_hgs_add_kps_cert },
	{ .name = "get-key-protection-certificate",
	  .summary = "list the KPS certificates (Get-HgsKeyProtectionCertificate)",
	  .opts = cmd_hgs_get_kps_cert_opts, .run = cmd_hgs_get_kps_cert },
	{ .name = "set-key-protection-certificate",
	  .summary = "make a KPS certificate primary, enable or disable it",
	  .description = "KPs wrapped to any enabled encryption certificate are released; a disabled one\n"
			 "is refused.  The primary certificate cannot be disabled.",
	  .opts = cmd_hgs_set_kps_cert_opts, .run = cmd_hgs_set_kps_cert },
	{ .name = "remove-key-protection-certificate",
	  .summary = "remove a KPS certificate and its key (not the primary one)",
	  .opts = cmd_hgs_remove_kps_cert_opts, .run = cmd_hgs_remove_kps_cert },
	{ .name = "set-key-protection-attestation-signer-certificate-policy",
	  .summary = "deny health certificates issued before a time",
	  .description = "Set-HgsKeyProtectionAttestationSignerCertificatePolicy\n"
			 "-DenyHealthCertificatesIssuedBefore: key release refuses health certificates\n"
			 "issued before TIME (now, 2026-11-28T17:21:05Z or @UNIXTIME; HGS clock).",
	  .opts = cmd_hgs_set_kps_policy_opts, .run = cmd_hgs_set_kps_policy },
	{ .name = "set-key-protection-policy",
	  .summary = "short for set-key-protection-attestation-signer-certificate-policy",
	  .opts = cmd_hgs_set_kps_policy_opts, .run = cmd_hgs_set_kps_policy },
	{ .name = "get-key-protection-policy", .summary = "show the health certificate cut-off",
	  .opts = cmd_hgs_get_kps_policy_opts, .run = cmd_hgs_get_kps_policy },
	{ .name = "get-key-protection-log", .summary = "every key release and refusal",
	  .opts = cmd_hgs_kps_log_opts, .run = cmd_hgs_get_kps_log },
	{ .name = "get-key-protection-configuration",
	  .summary = "show whether hosts may cache key material (Get-HgsKeyProtectionConfiguration)",
	  .opts = cmd_hgs_get_kps_config_opts, .run = cmd_hgs_get_kps_config },
	{ .name = "set-key-protection-configuration",
	  .summary = "let hosts cache key material for HGS outages, or not",
	  .description = "Set-HgsKeyProtectionConfiguration -AllowKeyMaterialCaching: with on, a host\n"
			 "seals the key material of each key KPS releases to its TPM and its measured\n"
			 "boot, and may start that VM again from it while HGS cannot be reached.  Off\n"
			 "(the default) makes hosts drop their caches the next time they reach HGS.\n"
			 "The setting lives in the shared store: every node of the HGS answers with it.\n"
			 "See docs/key-caching.md.",
	  .opts = cmd_hgs_set_kps_config_opts, .run = cmd_hgs_set_kps_config },
	{ .name = "export-server-state",
	  .summary = "back up the whole node to one password-protected file (Export-HgsServerState)",
	  .description = "Writes FILE (mode 0600): a consistent snapshot of the store (registrations,\n"
			 "policies, trusted domains, host groups and keys, KPS certificates and cut-off,\n"
			 "logs), the node's keys and certificates and hgs.log, encrypted with AES-256-GCM\n"
			 "under a key scrypt derives from the password.  Safe while `hgs serve` runs.\n"
			 "The password is never an argument: asked twice on the terminal (no echo), or\n"
			 "the first line of --password-file FILE (or /dev/fd/N), or of standard input\n"
			 "with --password-stdin; 8 to 1024 characters.  See docs/hgs-backup.md.",
	  .opts = cmd_hgs_export_state_opts, .run = cmd_hgs_export_state },
	{ .name = "import-server-state",
	  .summary = "restore a node from an export into a new directory (Import-HgsServerState)",
	  .description = "NEWDIR must be absent or empty (an existing node is refused, exit 2: remove it\n"
			 "with `hgs clear-server` first).  The file is decrypted and every part checked\n"
			 "before anything is written; the node is built beside NEWDIR and renamed into\n"
			 "place, so a wrong password, a changed, truncated or foreign file (exit 2) leaves\n"
			 "NEWDIR as it was.  --listen sets where the restored node listens.  Password as\n"
			 "for export-server-state (asked once).  Then `hgs serve --dir NEWDIR`.",
	  .opts = cmd_hgs_import_state_opts, .run = cmd_hgs_import_state },
	{ .name = NULL },
};

static const struct hl_cmd host_verbs[] = {
	{ .name = "new", .summary = "manufacture a guarded host and its TPM",
	  .description = "Creates the host directory: the host's TPM manufactured by swtpm_setup with an\n"
			 "EK certificate from the lab's TPM vendor CA (VDIR, shared by hosts made side by\n"
			 "side), the machine key (host-key mode, AD computer account), the boot profile\n"
			 "and its CI policy.  --tpm-state adopts a TPM made ahead of time instead (a\n"
			 "copy, with its AK and TK; the lab's TPM state cache).  Nothing is left behind\n"
			 "when it fails.  See docs/host.md.",
	  .opts = cmd_host_new_opts, .run = cmd_host_new },
	{ .name = "run", .summary = "run the host agent (measured boot, attestation)",
	  .description = "Starts the host's swtpm, replays the measured boot into its PCRs, writes\n"
			 "DIR/tcglog.bin, prints 'host: NAME agent running (swtpm on ADDR:PORT)', then\n"
			 "attests in the HGS's mode at start, before the health certificate expires, on\n"
			 "retry and on SIGUSR1 (one 'host: NAME attestation: STATUS' line each).  State in\n"
			 "DIR/state.json, log in DIR/host.log.  SIGTERM or SIGINT stops it (exit 0).",
	  .opts = cmd_host_run_opts, .run = cmd_host_run },
	{ .name = "get-platform-identifier", .summary = "export EKpub + EKcert (for hgs add-tpm-host)",
	  .description = "Reads the EK and its certificate from the host's TPM: the running agent's\n"
			 "swtpm, or a swtpm started briefly when no agent runs.",
	  .opts = cmd_host_platform_id_opts, .run = cmd_host_get_platform_identifier },
	{ .name = "get-baseline-policy", .summary = "export the host's TCG log (for hgs add-tpm-policy)",
	  .opts = cmd_host_baseline_opts, .run = cmd_host_get_baseline_policy },
	{ .name = "get-ci-policy", .summary = "export the host's code integrity policy",
	  .opts = cmd_host_ci_policy_opts, .run = cmd_host_get_ci_policy },
	{ .name = "get-pcr-values", .summary = "the PCR values a TCG log replays to, per bank",
	  .description = "Replays the TCG log --tcglog FILE (or the last boot's DIR/tcglog.bin with\n"
			 "--dir) as HGS does, and prints each PCR the log extends with its digest, per\n"
			 "bank (--bank sha256, sha1 or all; default all); --all-pcrs prints PCRs 0-23.\n"
			 "Compare with `tpm2_eventlog FILE` (its pcrs: section) and with the quote\n"
			 "(DIR/last-quote/pcrs.bin, PCRs 0-7 and 11-14 of the sha256 bank; docs/host.md).\n"
			 "A file that is not a TCG log exits 2 saying what is wrong with it.",
	  .opts = cmd_host_pcr_values_opts, .run = cmd_host_get_pcr_values },
	{ .name = "get-host-key", .summary = "export the host key's public half (for hgs add-host-key)",
	  .opts = cmd_host_host_key_opts, .run = cmd_host_get_host_key },
	{ .name = "set-client-configuration", .summary = "set the HGS URLs (Set-HgsClientConfiguration)",
	  .description = "Names map to loopback addresses with --resolve (libcurl's resolve list),\n"
			 "never /etc/hosts.  A running agent attests again at once.",
	  .opts = cmd_host_set_client_opts, .run = cmd_host_set_client_configuration },
	{ .name = "get-client-configuration", .summary = "show guarded state (Get-HgsClientConfiguration)",
	  .opts = cmd_host_show_opts, .run = cmd_host_get_client_configuration },
	{ .name = "test-client-configuration", .summary = "force a fresh attestation",
	  .description = "Asks the running agent to attest (SIGUSR1) and waits for its result, or, with\n"
			 "no agent, boots the host's TPM and attests directly.  Exits 4 unless Passed.",
	  .opts = cmd_host_test_client_opts, .run = cmd_host_test_client_configuration },
	{ .name = "set-profile", .summary = "set the boot profile of the next `host run`",
	  .opts = cmd_host_set_profile_opts, .run = cmd_host_set_profile },
	{ .name = "unwrap-key-protector", .summary = "test key release; prints the TK fingerprint",
	  .description = "Sends the key protector and the host's health certificate to KPS (attesting\n"
			 "first when the host has none that is valid), falling back to the fallback key\n"
			 "protection URL when the primary one fails, and opens the released TK with the\n"
			 "host's own TPM.  Prints the TK's fingerprint (as show-key-protector does for\n"
			 "the owner) and the URL that answered, never the TK.  Exits 4 with the reason\n"
			 "when attestation fails, KPS refuses, or the TPM cannot open what KPS sent.",
	  .opts = cmd_host_unwrap_opts, .run = cmd_host_unwrap_key_protector },
	{ .name = "clear-key-cache", .summary = "delete the key material cached for HGS outages",
	  .description = "When HGS allows key material caching (hgs set-key-protection-configuration),\n"
			 "start-vm seals each released TK to the host's TPM and measured boot in\n"
			 "HOSTDIR/keycache/VM, and starts the VM from it while HGS cannot be reached.\n"
			 "This deletes every entry, or --name VM's.  docs/key-caching.md.",
	  .opts = cmd_host_clear_key_cache_opts, .run = cmd_host_clear_key_cache },
	{ .name = "import-vm", .summary = "import a shielded VM bundle",
	  .description = "Copies a bundle (tenant export-vm) into HOSTDIR/vms/VM.  docs/shielded-vm.md.",
	  .opts = cmd_host_import_vm_opts, .run = cmd_host_import_vm },
	{ .name = "start-vm", .summary = "start a shielded VM",
	  .description = "Checks the tenant's signed policy (policy.sig) against the VM's key protector\n"
			 "and config.json, gets the VM's TK from KPS with the host's health certificate\n"
			 "(attesting first when needed) and opens it with the host's TPM, then starts a\n"
			 "VM keeper that owns swtpm (TK through a pipe) and QEMU, and waits for the\n"
			 "guest's 'running' report.  With HGS unreachable (TransientError) it starts\n"
			 "from the key material the host cached, when HGS allowed caching and the TPM\n"
			 "unseals it (same measured boot); KeyMaterialSource says Kps or Cache.  Exits 4\n"
			 "with the policy, attestation or KPS reason, files untouched.",
	  .opts = cmd_host_start_vm_opts, .run = cmd_host_start_vm },
	{ .name = "stop-vm", .summary = "stop a VM",
	  .description = "Asks the VM keeper, which alone holds QEMU's QMP, to send system_powerdown (the\n"
			 "ACPI power button); a bounded wait, then a kill.",
	  .opts = cmd_host_stop_vm_opts, .run = cmd_host_stop_vm },
	{ .name = "keep-vm", .summary = "the VM keeper that start-vm runs (not for use by hand)",
	  .description = "Started by start-vm, which hands it the TK on fd 3 and reads its report on\n"
			 "fd 4: runs swtpm and QEMU, cleanses the TK once swtpm has it, holds QMP\n"
			 "alone and stays until QEMU ends; SIGUSR1 asks it to power the guest off.",
	  .opts = cmd_host_keep_vm_opts, .run = cmd_host_keep_vm },
	{ .name = "get-vm", .summary = "show VMs and their state",
	  .opts = cmd_host_get_vm_opts, .run = cmd_host_get_vm },
	{ .name = "connect-vm", .summary = "attach to an encryption-supported VM's console",
	  .description = "Shielded VMs have no console, serial port, monitor, gdbstub or dump: refused\n"
			 "with exit 4, as is a VM whose config.json disagrees with its signed policy.",
	  .opts = cmd_host_connect_vm_opts, .run = cmd_host_connect_vm },
	{ .name = "new-shielded-vm", .summary = "provision a shielded VM from a template disk and "
	  "shielding data (Initialize-ShieldedVM)",
	  .description = "Checks the .pdk and the template's signature catalog against its qualifiers\n"
			 "(exit 4 when they do not fit), gets the .pdk's TK from KPS (exit 4 with the\n"
			 "attestation or KPS reason), boots the guest in specialize mode on a fresh vTPM\n"
			 "and disk: it checks the template again, copies it into a LUKS2 volume sealed in\n"
			 "its vTPM, applies the answer file and the .fsk's values, and the host installs\n"
			 "HOSTDIR/vms/VM.  Secrets cross only the agent channel.  docs/shielded-vm.md.",
	  .opts = cmd_host_new_shielded_vm_opts, .run = cmd_host_new_shielded_vm },
	{ .name = "get-provisioning-status", .summary = "the state of a VM's provisioning "
	  "(Get-ShieldedVMProvisioningStatus)",
	  .description = "Phase, percent complete and the error of VM's last new-shielded-vm run.",
	  .opts = cmd_host_get_provisioning_status_opts, .run = cmd_host_get_provisioning_status },
	{ .name = NULL },
};

static const struct hl_cmd tenant_verbs[] = {
	{ .name = "new-guardian", .summary = "create a guardian (New-HgsGuardian -GenerateCertificates)",
	  .description = "Makes RSA-2048 signing and encryption key pairs with self-signed certificates\n"
			 "in DIR/guardians/NAME (private keys mode 0600).  Only such a guardian can\n"
			 "own key protectors.  See docs/key-protector.md.",
	  .opts = cmd_tenant_new_guardian_opts, .run = cmd_tenant_new_guardian },
	{ .name = "import-guardian", .summary = "import HGS guardian metadata (Import-HgsGuardian)",
	  .description = "Reads the guardian metadata XML from --file or from an HGS node (--url, to\n"
			 "which /KeyProtection/service/metadata/2014-07/metadata.xml is added unless it\n"
			 "ends in .xml).  Self-signed certificates are an untrusted root: refused (exit\n"
			 "4) unless --allow-untrusted-root or they chain to --trusted-root, or each has\n"
			 "its SHA-256 thumbprint given with --trusted-thumbprint (an HGS's signing and\n"
			 "encryption certificates are two self-signed ones: `hgs get-server` shows them).",
	  .opts = cmd_tenant_import_guardian_opts, .run = cmd_tenant_import_guardian },
	{ .name = "get-guardian", .summary = "list the tenant's guardians (Get-HgsGuardian)",
	  .opts = cmd_tenant_get_guardian_opts, .run = cmd_tenant_get_guardian },
	{ .name = "export-guardian", .summary = "write a guardian's metadata, certificates only",
	  .opts = cmd_tenant_export_guardian_opts, .run = cmd_tenant_export_guardian },
	{ .name = "remove-guardian", .summary = "delete a guardian and its keys (Remove-HgsGuardian)",
	  .opts = cmd_tenant_remove_guardian_opts, .run = cmd_tenant_remove_guardian },
	{ .name = "new-key-protector", .summary = "create a key protector (New-HgsKeyProtector)",
	  .description = "Draws a fresh 256-bit transport key (TK), wraps it to the owner and each\n"
			 "--guardian (RSA-OAEP), signs the whole with the owner's signing key and\n"
			 "writes FILE.  Prints the KP id and the TK fingerprint, never the TK.",
	  .opts = cmd_tenant_new_key_protector_opts, .run = cmd_tenant_new_key_protector },
	{ .name = "grant-key-protector-access", .summary = "add a guardian to a key protector",
	  .description = "Grant-HgsKeyProtectorAccess: needs the owner's private keys in DIR; the file\n"
			 "is verified, re-signed and replaced atomically.",
	  .opts = cmd_tenant_kp_access_opts, .run = cmd_tenant_grant_key_protector_access },
	{ .name = "revoke-key-protector-access", .summary = "remove a guardian from a key protector",
	  .description = "Revoke-HgsKeyProtectorAccess: needs the owner's private keys in DIR; the owner\n"
			 "cannot be revoked.  Older copies of the file still name the guardian.",
	  .opts = cmd_tenant_kp_access_opts, .run = cmd_tenant_revoke_key_protector_access },
	{ .name = "show-key-protector", .summary = "show a key protector", .args = "FILE",
	  .description = "Owner, guardians by thumbprint, version, whether the owner's signature holds\n"
			 "(exit 4 when not) and, when the owner's private keys are in DIR, the TK\n"
			 "fingerprint.",
	  .opts = cmd_tenant_show_key_protector_opts, .run = cmd_tenant_show_key_protector },
	{ .name = "new-vm", .summary = "make a tenant's plain template disk",
	  .description = "Makes DIR/vms/VM/plain.img, an ext4 image (mke2fs -d, no root) holding the\n"
			 "--file NAME=CONTENT files and the --files tree.  docs/shielded-vm.md.",
	  .opts = cmd_tenant_new_vm_opts, .run = cmd_tenant_new_vm },
	{ .name = "shield-vm", .summary = "shield a VM (encrypted vTPM, LUKS2 disk)",
	  .description = "The tenant's own shielding machine: unwraps the KP's TK with the owner's key,\n"
			 "creates the vTPM state encrypted with it (swtpm, key through a pipe), boots\n"
			 "the guest once in provisioning mode (QEMU TCG) and removes the plain disk.\n"
			 "A run cut short leaves the VM unprovisioned: run it again.",
	  .opts = cmd_tenant_shield_vm_opts, .run = cmd_tenant_shield_vm },
	{ .name = "export-vm", .summary = "write a shielded VM bundle",
	  .description = "BUNDLEDIR gets disk.img (LUKS2), vtpm/ (encrypted with the TK),\n"
			 "key-protector.kp, config.json (name, policy, KP id) and policy.sig (the KP\n"
			 "owner's signed policy statement, signed now for a VM shielded without one).",
	  .opts = cmd_tenant_export_vm_opts, .run = cmd_tenant_export_vm },
	{ .name = "inspect-vm", .summary = "offline view of a bundle: ciphertext only",
	  .description = "Shows that the disk is LUKS2, that swtpm refuses the vTPM state without the TK\n"
			 "or with a wrong key, and searches both for each --search TEXT.  Exits 1 when\n"
			 "anything is readable.",
	  .opts = cmd_tenant_inspect_vm_opts, .run = cmd_tenant_inspect_vm },
	{ .name = "new-template-signer", .summary = "make a certificate and key that sign template disks",
	  .description = "Makes DIR/signers/NAME/signer.crt (self-signed, codeSigning; give it to\n"
			 "whoever checks your templates) and signer.key (0600).  protect-template-disk\n"
			 "--signer NAME --dir DIR signs with it.  See docs/templates.md.",
	  .opts = cmd_tenant_new_template_signer_opts, .run = cmd_tenant_new_template_signer },
	{ .name = "new-template-disk", .summary = "make a generalized template disk from files",
	  .description = "Writes FILE, an ext4 image (mke2fs -d, no root) of the --files tree and the\n"
			 "--file NAME=CONTENT files, with /.hgslab/generalized.json listing every file\n"
			 "that holds a placeholder such as @ComputerName@ (specialization fills them\n"
			 "in).  A template holds no secret.  Nothing is left behind when it fails.",
	  .opts = cmd_tenant_new_template_disk_opts, .run = cmd_tenant_new_template_disk },
	{ .name = "protect-template-disk", .summary = "sign a template disk (Protect-TemplateDisk)",
	  .description = "Appends a volume signature catalog (CMS SignedData over the template's name,\n"
			 "version and image SHA-256) to the disk, replacing an earlier one; the file is\n"
			 "replaced in one rename.  The signer is --signer NAME (with --dir) or\n"
			 "--signer-cert and --signer-key.  --populate-from OLD takes OLD's name and, when\n"
			 "no signer is given, OLD's signer (found in --dir by its certificate), and\n"
			 "requires --version to be greater than or equal to OLD's.  docs/templates.md.",
	  .opts = cmd_tenant_protect_template_disk_opts, .run = cmd_tenant_protect_template_disk },
	{ .name = "save-volume-signature-catalog",
	  .summary = "write a template's .vsc (Save-VolumeSignatureCatalog)",
	  .description = "Checks the template (signature and image hash; exit 4 when it changed after\n"
			 "it was signed) and writes its VSC.  `openssl cms -verify -inform DER -in\n"
			 "FILE -CAfile signer.crt -purpose any` checks it too.",
	  .opts = cmd_tenant_save_vsc_opts, .run = cmd_tenant_save_vsc },
	{ .name = "new-volume-id-qualifier",
	  .summary = "say which template disks shielding data trusts (New-VolumeIDQualifier)",
	  .description = "Makes a .viq from a .vsc or a protected template: its name, its signer's\n"
			 "thumbprint and its version with --version-rule equals, greater-than or\n"
			 "greater-than-or-equals.",
	  .opts = cmd_tenant_new_viq_opts, .run = cmd_tenant_new_viq },
	{ .name = "new-shielding-data-file", .summary = "make a .pdk (New-ShieldingDataFile)",
	  .description = "Makes a fresh key protector for --owner and each --guardian, and writes the\n"
			 "policy, the volume ID qualifiers and the secrets (the --answer-file and each\n"
			 "--other-file, read from files) encrypted under a key only that key\n"
			 "protector's TK opens, all signed by the owner.  Prints names, never contents.",
	  .opts = cmd_tenant_new_pdk_opts, .run = cmd_tenant_new_pdk },
	{ .name = "new-specialization-data-file",
	  .summary = "make a .fsk (New-ShieldedVMSpecializationDataFile)",
	  .description = "The @KEY@=VALUE pairs of --value and of the --from file's lines (blank lines\n"
			 "and # comments skipped).  A .fsk is not secret: secrets belong in the\n"
			 "shielding data's answer file.",
	  .opts = cmd_tenant_new_fsk_opts, .run = cmd_tenant_new_fsk },
	{ .name = "test-shielding-data-applicability",
	  .summary = "can a .pdk provision this template? (Test-ShieldingDataApplicability)",
	  .description = "Verifies the .pdk and the template (or its .vsc) and matches it against each\n"
			 "volume ID qualifier, with the reason for each one that does not fit.  Exit 0\n"
			 "when one fits, 4 when none does.",
	  .opts = cmd_tenant_test_pdk_opts, .run = cmd_tenant_test_pdk },
	{ .name = "show-shielding-data-file", .summary = "show a .pdk; its secrets never",
	  .description = "Owner, guardians, policy, qualifiers and whether the signature holds (exit 4\n"
			 "when not); with --dir holding the owner's keys, the names and sizes of the\n"
			 "answer file and other files inside.",
	  .opts = cmd_tenant_show_pdk_opts, .run = cmd_tenant_show_pdk },
	{ .name = NULL },
};

static const struct hl_cmd fabric_verbs[] = {
	{ .name = "new", .summary = "create a fabric AD domain and its DC signing key",
	  .description = "Creates the directory: SQLite store, a random domain SID, the built-in group\n"
			 "Domain Computers, and the DC's ticket signing key with its certificate.",
	  .opts = cmd_fabric_new_opts, .run = cmd_fabric_new },
	{ .name = "get-domain", .summary = "show the domain (Get-ADDomain)",
	  .opts = cmd_fabric_show_opts, .run = cmd_fabric_get_domain },
	{ .name = "add-group", .summary = "create a global security group (New-ADGroup)",
	  .opts = cmd_fabric_add_group_opts, .run = cmd_fabric_add_group },
	{ .name = "get-group", .summary = "list groups, their SIDs and members (Get-ADGroup)",
	  .opts = cmd_fabric_get_opts, .run = cmd_fabric_get_group },
	{ .name = "add-computer", .summary = "create a computer account with its machine key",
	  .opts = cmd_fabric_add_computer_opts, .run = cmd_fabric_add_computer },
	{ .name = "get-computer", .summary = "list computer accounts and their groups (Get-ADComputer)",
	  .opts = cmd_fabric_get_opts, .run = cmd_fabric_get_computer },
	{ .name = "add-group-member", .summary = "add a computer to a group (Add-ADGroupMember)",
	  .opts = cmd_fabric_member_opts, .run = cmd_fabric_group_member },
	{ .name = "remove-group-member", .summary = "remove a computer from a group (Remove-ADGroupMember)",
	  .opts = cmd_fabric_member_opts, .run = cmd_fabric_group_member },
	{ .name = "export-trust", .summary = "write what HGS needs to trust this domain",
	  .opts = cmd_fabric_export_trust_opts, .run = cmd_fabric_export_trust },
	{ .name = "serve", .summary = "run the domain controller (membership tickets over HTTP)",
	  .description = "Prints 'fabric: DC for DOMAIN serving on http://ADDR:PORT' when ready; stops on\n"
			 "SIGTERM or SIGINT (exit 0).  Logs to DIR/dc.log.  See docs/attestation-protocol.md.",
	  .opts = cmd_fabric_serve_opts, .run = cmd_fabric_serve },
	{ .name = "get-ticket", .summary = "get a membership ticket from a DC with a machine key (kinit)",
	  .opts = cmd_fabric_get_ticket_opts, .run = cmd_fabric_get_ticket },
	{ .name = NULL },
};

static const struct hl_cmd vmm_verbs[] = {
	{ .name = "new-cloud", .summary = "make a cloud of guarded hosts that support shielded VMs",
	  .description = "Records cloud NAME in VMMDIR/clouds.json: the guarded hosts given, in that\n"
			 "order (each a host directory with an HGS client configuration).  Deploys\n"
			 "try the hosts in this order.  See docs/scenarios.md, \"The fabric controller\".",
	  .opts = cmd_vmm_new_cloud_opts, .run = cmd_vmm_new_cloud },
	{ .name = "get-cloud", .summary = "list the clouds, their hosts and each host's health",
	  .opts = cmd_vmm_get_cloud_opts, .run = cmd_vmm_get_cloud },
	{ .name = "deploy", .summary = "a new shielded VM from a template and a .pdk, on a host of a cloud",
	  .description = "Virtual Machine Manager's deploy: for each host of the cloud in order, its\n"
			 "attestation status (a fresh attestation when the recorded one is not Passed);\n"
			 "a host that is not Passed is skipped with its reason.  Otherwise the host runs\n"
			 "`hgslab host new-shielded-vm --start` (Initialize-ShieldedVM: the host's check\n"
			 "of the template against the .pdk, KPS, the guest's own check, specialization,\n"
			 "the start); a refusal skips the host with its reason.  The first host that\n"
			 "runs the VM gets it: the placement is recorded in VMMDIR/placements.json.\n"
			 "Exit 4 when no host qualifies, with every host's reason.",
	  .opts = cmd_vmm_deploy_opts, .run = cmd_vmm_deploy },
	{ .name = "get-placement", .summary = "list the VMs deployed, where and what was skipped",
	  .opts = cmd_vmm_get_placement_opts, .run = cmd_vmm_get_placement },
	{ .name = NULL },
};

static const struct hl_cmd attack_verbs[] = {
	{ .name = "list", .summary = "list the attack library",
	  .description = "One line per attack of the library a scenario plays with its `attack:` step:\n"
			 "its name, family and the refusal the fabric answers with (the documented\n"
			 "status).  --json gives each with what the attacker does, the concept in\n"
			 "plain words and what the step needs (host:, vm:, by:).  docs/attacks.md.",
	  .opts = cmd_attack_list_opts, .run = cmd_attack_list },
	{ .name = "show", .summary = "explain one attack", .args = "NAME",
	  .description = "What the attacker does, how the fabric refuses it (status) and why, in\n"
			 "plain words, and what a scenario's `attack:` step must name for it.",
	  .opts = cmd_attack_show_opts, .run = cmd_attack_show },
	{ .name = NULL },
};

static const struct hl_cmd bench_verbs[] = {
	{ .name = "all", .summary = "run every benchmark",
	  .description = "Runs every built benchmark with the defaults `make bench` uses:\n"
			 "`bench attest --hosts 4 --seconds 10`, `bench release --clients 2 --seconds\n"
			 "10`, `bench boot --runs 5`, then `bench provision --runs 3`.  Exit 0 when every\n"
			 "benchmark ran, 1 when one failed to run (setup failed, an attestation did not\n"
			 "pass); missing a goal is reported, not a failure exit.",
	  .opts = cmd_bench_all_opts, .run = cmd_bench_all },
	{ .name = "attest", .summary = "attestations/s and HGS CPU per attestation vs the crypto floor",
	  .description = "Builds a throw-away lab (TPM vendor CA, N swtpm host TPMs with the baseline\n"
			 "boot, an HGS node in TPM mode served by a separate `hgs serve`), warms it\n"
			 "up, then N hosts attest with real quotes for S seconds.  Reports\n"
			 "attestations/s, latency p50/p99, HGS CPU per attestation (/proc/PID/stat)\n"
			 "and the crypto floor measured in the same run: the OpenSSL CPU cost of the\n"
			 "signatures HGS must check or make per attestation (quote, certify, health\n"
			 "certificate), with the ratio against the goal (2x).  With --nodes N it\n"
			 "runs twice, against one node and against a cluster of N nodes (`hgs\n"
			 "add-node`, one store; host i attests to node i mod N), and compares\n"
			 "throughput and HGS CPU per attestation summed over the nodes.  Exit 0\n"
			 "when it ran, missing the goal included; 1 when it could not measure\n"
			 "(setup failed, an attestation did not pass); 130 on Ctrl-C.  Everything\n"
			 "is stopped and removed at the end, also on Ctrl-C.",
	  .opts = cmd_bench_attest_opts, .run = cmd_bench_attest },
	{ .name = "fabric", .summary = "N guarded hosts (a swtpm each) from cold, then an attestation storm",
	  .description = "Brings N guarded hosts up from cold against one HGS node (TPM mode, served by\n"
			 "a separate `hgs serve`): each host a real swtpm with its own EK, EK\n"
			 "certificate, AK and TK, copied from a cache of manufactured TPM states kept\n"
			 "between runs (--cache; filled on first use, 2 at once per core); every host\n"
			 "registered (platform identifier), its swtpm started, its AK activated and a\n"
			 "first attestation passed; then a re-attestation storm, every host at once,\n"
			 "driven by W threads of one shared agent.  Reports the time of each phase,\n"
			 "from cold to all Passed (goal 60 s), storm attestations/s, latency p50/p99,\n"
			 "HGS CPU per attestation (/proc/PID/stat) and the lab's peak memory (PSS and\n"
			 "RSS sums over every process; goal 8 GB PSS).  Exit 0 when every host passed\n"
			 "(missed goals included), 1 when not, 130 on Ctrl-C.  Everything is stopped\n"
			 "and removed at the end, also on Ctrl-C.  See docs/bench-fabric.md.",
	  .opts = cmd_bench_fabric_opts, .run = cmd_bench_fabric },
	{ .name = "release", .summary = "key releases/s and KPS CPU per release vs the crypto floor",
	  .description = "Builds a throw-away lab (a guarded host with a swtpm TPM from the lab's vendor\n"
			 "CA, an HGS node in TPM mode served by a separate `hgs serve`, an owner guardian\n"
			 "and a key protector for Owner + the HGS), attests the host once and checks one\n"
			 "release opened with its TPM, then N client threads post the KP with the health\n"
			 "certificate for S seconds (the round trip only; no TPM decryption).  Reports\n"
			 "releases/s, latency p50/p99, KPS CPU per release (/proc/PID/stat) and the\n"
			 "crypto floor measured in the same run: the OpenSSL CPU cost of the RSA work per\n"
			 "release (verify the health certificate and the KP owner signature, OAEP unwrap\n"
			 "with the KPS key, OAEP wrap to the transport key), with the ratio against the\n"
			 "goal (2x).  Exit 0 when it ran, missing the goal included; 1 when it could not\n"
			 "measure; 130 on Ctrl-C.  Everything is stopped and removed at the end.",
	  .opts = cmd_bench_release_opts, .run = cmd_bench_release },
	{ .name = "boot", .summary = "a shielded VM's boot time vs the same guest unshielded",
	  .description = "Builds a throw-away lab (a tenant with an owner guardian and a key protector,\n"
			 "a VM shielded once with shield-vm, the same files on a plain disk; needs\n"
			 "`make guest`), then boots the guest N times unshielded (hgslab.mode=plain,\n"
			 "the plain disk, no vTPM) and N times as a shielded start (swtpm on the\n"
			 "vTPM state encrypted with the TK, given through a fd; the LUKS2 disk; run\n"
			 "mode), interleaved so machine load falls on both alike.  The shielded\n"
			 "starts skip KPS and use the TK the owner unwraps: this measures boot cost,\n"
			 "not key release (see `bench release`).  Reports the median time from\n"
			 "QEMU's start to the guest's report for both and the ratio against the\n"
			 "goal (1.2).  Exit 0 when it ran, missing the goal included; 1 when a boot\n"
			 "failed.  Everything is stopped and removed at the end (Ctrl-C stops the\n"
			 "VMs at once and leaves the lab directory).",
	  .opts = cmd_bench_boot_opts, .run = cmd_bench_boot },
	{ .name = "provision", .summary = "template + .pdk to a running shielded VM vs a plain boot",
	  .description = "Builds a throw-away lab (a tenant with an owner guardian and a template signer,\n"
			 "a 16 MiB generalized template disk, signed, its qualifier, a .pdk with an\n"
			 "answer file, a .fsk, a guarded host directory; needs `make guest`), then runs\n"
			 "N pairs, interleaved so machine load falls on both alike: a plain boot of the\n"
			 "same guest on the template's image (hgslab.mode=plain, no vTPM), and what\n"
			 "`host new-shielded-vm --start` does after the key release: the host's check of\n"
			 "the template and the .pdk, the specialize boot (the guest verifies the\n"
			 "template, copies it into a new LUKS2 volume, specializes it, seals its key)\n"
			 "and the start of the new VM to the guest's report.  KPS is left out (the TK is\n"
			 "the one the owner unwraps; see `bench release`).  Reports the medians and the\n"
			 "median of the pairs' ratios against the goal (2.5x).  Exit 0 when it ran,\n"
			 "missing the goal included; 1 when a boot failed.",
	  .opts = cmd_bench_provision_opts, .run = cmd_bench_provision },
	{ .name = NULL },
};

#define RUN_HELP \
	"Validates every FILE first (errors name file:line:column; nothing starts when one\n" \
	"is broken: exit 2), then for each scenario brings its fabric up in a lab directory\n" \
	"(HGS nodes, the fabric DC and the host agents as supervised processes on their own\n" \
	"loopback addresses), plays the steps in order, checks every expectation and stops\n" \
	"everything, also on Ctrl-C.  The lab directory is removed when the scenario passed\n" \
	"(kept on failure or with --keep; its logs/ hold every command run and its output).\n" \
	"Exit status: 0 every expectation held, 6 one did not, 1 a lab failed, 2 bad input,\n" \
	"130 interrupted.  The file format: docs/scenarios.md."

#define FAULTS_HELP \
	"For each step of a scenario and each component of its lab (HGS, the DC, a host\n" \
	"agent, its swtpm, a VM keeper, QEMU, the vTPM's swtpm), a fabric of its own is brought\n" \
	"up, steps 1..N-1 are played, and the component is killed (SIGKILL) while step N's verb\n" \
	"runs.  Then: no orphan process, every JSON file parses, the component is started\n" \
	"again, HGS's registrations and logs are all still there, step N and the rest of the\n" \
	"scenario pass, and once the lab is stopped nothing of it runs and no temporary or\n" \
	"staging file is left.  A cell whose component does not run at that step is n/a.\n" \
	"Default matrix: scenarios/article-walkthrough.yaml x every component but the DC, and\n" \
	"scenarios/ad-mode.yaml x dc.  Progress on stderr; the matrix as a table (or --json)\n" \
	"on stdout.  Exit status: 0 every cell played passed; 6 a cell failed; 2 bad command\n" \
	"line; 130 interrupted.  See docs/faults.md."
#define UP_HELP \
	"Brings the scenario's fabric up (HGS, DC, host agents, tenant guardians and key\n" \
	"protectors) and leaves it running for a live demo; --play also plays its steps.\n" \
	"Prints the URLs, directories and commands to try by hand.  `hgslab status` shows\n" \
	"it, `hgslab down` stops it.  It also starts the live dashboard on a free loopback\n" \
	"port and prints its URL and the teacher token its actions need (--no-dashboard:\n" \
	"none; docs/dashboard.md)."

#define DASHBOARD_HELP \
	"Serves the live dashboard of the lab in --workdir (its lab.json) on loopback:\n" \
	"open the printed URL in a browser.  It shows HGS (trust mode, policies), the\n" \
	"fabric domain, the guarded hosts with their attestation status, the shielded\n" \
	"VMs where they run, the tenant's guardians, and every attestation and key\n" \
	"release as it happens with its sequence diagram, reason and remedy.  Teacher\n" \
	"actions (reboot a host into another profile, stop/start a VM, kill/restart HGS)\n" \
	"need the token in WORK/dashboard/token, which `hgslab up` makes and prints.\n" \
	"Prints 'hgslab dashboard: serving WORK on URL' when ready; stops on SIGTERM or\n" \
	"SIGINT.  `hgslab up` starts one itself.  API and events: docs/dashboard.md."

static const struct hl_cmd pgsql_verbs[] = {
	{ .name = "start", .summary = "create (when new) and start a throw-away PostgreSQL server",
	  .description = "DIR holds the server: the cluster (DIR/data, its log DIR/data/server.log), the\n"
			 "password of its role 'hgslab' (DIR/password, mode 600) and DIR/listen.  The\n"
			 "first start runs initdb (UTF-8, C locale, SCRAM passwords) and listens on\n"
			 "--listen (default 127.0.0.1 and a free port), TCP only; later starts reuse it.\n"
			 "Waits until the server accepts connections, creates the database 'hgs' and\n"
			 "prints its URI (postgresql://hgslab:PASSWORD@ADDR:PORT/hgs) for `hgs init` and\n"
			 "the node's `store` file; with --passfile a URI without the password that names\n"
			 "DIR/pgpass instead (?passfile=...), safe on a command line and in a `store`\n"
			 "file.  As root the server runs as the user 'postgres'.  The\n"
			 "server keeps running after this command: stop it with `pgsql stop`.  No\n"
			 "machine service is used.  docs/storage.md.",
	  .opts = cmd_pgsql_start_opts, .run = cmd_pgsql_start },
	{ .name = "stop", .summary = "stop the server of a folder (fast shutdown, waited for)",
	  .description = "Stops the PostgreSQL server of DIR (pg_ctl stop -m fast) and waits until it\n"
			 "and its processes are gone; its data stays for the next `pgsql start`.  Exit\n"
			 "0 also when no server ran.",
	  .opts = cmd_pgsql_dir_opts, .run = cmd_pgsql_stop },
	{ .name = "url", .summary = "print the URI of a folder's server database",
	  .description = "Prints postgresql://hgslab:PASSWORD@ADDR:PORT/hgs for the server in DIR (it\n"
			 "holds the password: keep it out of logs), or with --passfile one naming\n"
			 "DIR/pgpass instead of the password.  --json adds Dir and Pid (0 when the\n"
			 "server is stopped).",
	  .opts = cmd_pgsql_url_opts, .run = cmd_pgsql_url },
	{ .name = NULL },
};

const struct hl_cmd hl_areas[] = {
	{ .name = "hgs", .summary = "Host Guardian Service node: attestation and key protection",
	  .verbs = hgs_verbs },
	{ .name = "host", .summary = "guarded host: TPM, measured boot, HGS client, VMs",
	  .verbs = host_verbs },
	{ .name = "fabric", .summary = "the fabric's Active Directory: domain, computers, groups, DC",
	  .verbs = fabric_verbs },
	{ .name = "tenant", .summary = "tenant tooling: guardians, key protectors, shielding, templates",
	  .verbs = tenant_verbs },
	{ .name = "vmm", .summary = "the fabric controller (VMM): clouds of guarded hosts, deploys",
	  .verbs = vmm_verbs },
	{ .name = "attack", .summary = "the attack library scenarios play (attack: steps)",
	  .verbs = attack_verbs },
	{ .name = "run", .summary = "run YAML scenarios and report", .args = "FILE...",
	  .description = RUN_HELP, .opts = cmd_run_opts, .run = cmd_run },
	{ .name = "demo", .summary = "run the default demo (the article: walkthrough, then VMM)",
	  .description = "Plays scenarios/article-walkthrough.yaml: HGS MyHgsService in relecloud.com,\n"
			 "the Fabrikam hosts FabricHost1 (healthy) and FabricHost2 (debugging on), and\n"
			 "a tenant's shielded VM that runs on the healthy host, is refused on the other\n"
			 "and is ciphertext offline; then scenarios/article-vmm.yaml, the article's\n"
			 "second half: the fabric controller deploys a VM from a signed template and the\n"
			 "tenant's .pdk into a cloud, skips the debug host and places it on the healthy\n"
			 "one, where the guest reports the computer name of the .fsk; the answer file's\n"
			 "secret is in no file of the lab.  Same options and exit codes as `hgslab run`.",
	  .opts = cmd_demo_opts, .run = cmd_demo },
	{ .name = "faults", .summary = "the fault matrix: kill -9 each component at each step, check recovery",
	  .description = FAULTS_HELP, .opts = cmd_faults_opts, .run = cmd_faults },
	{ .name = "up", .summary = "bring a scenario's fabric up and leave it running", .args = "FILE",
	  .description = UP_HELP, .opts = cmd_up_opts, .run = cmd_up },
	{ .name = "down", .summary = "stop a fabric started with `up`", .opts = cmd_down_opts,
	  .run = cmd_down },
	{ .name = "status", .summary = "show HGS, hosts and VMs of a running fabric",
	  .opts = cmd_status_opts, .run = cmd_status },
	{ .name = "dashboard", .summary = "serve a lab's live dashboard in the browser",
	  .description = DASHBOARD_HELP, .opts = cmd_dashboard_opts, .run = cmd_dashboard },
	{ .name = "diagnose", .summary = "check a running fabric, or this machine (Get-HgsTrace)",
	  .description =
		"With --workdir DIR (or --lab for `hgslab up`'s default lab directory) or --hgs DIR /\n"
		"--host DIR: diagnose that running fabric, like Get-HgsTrace -RunDiagnostics: each HGS\n"
		"node (running, reachable, certificates and their expiry, lab clock, TPM vendor CA,\n"
		"baselines) and each host (agent, client configuration, registration, last attestation,\n"
		"health certificate, every Hgs_* policy re-evaluated from its current TCG log, the\n"
		"PCR-by-PCR difference from the nearest registered baseline), as a tree of Pass /\n"
		"Warning / Fail with the remedy of each; exit 0 when nothing failed, 4 otherwise.  The\n"
		"machine checks are not repeated then.  Without a fabric named: this machine's\n"
		"prerequisites and live round trips (swtpm, QEMU, crypto); exit 5 when one fails.\n"
		"--remedies prints the remedy table (docs/diagnose.md).",
	  .opts = cmd_diagnose_opts, .run = cmd_diagnose },
	{ .name = "bench", .summary = "benchmarks against the crypto floor", .verbs = bench_verbs },
	{ .name = "pgsql", .summary = "a throw-away PostgreSQL server for shared HGS state",
	  .verbs = pgsql_verbs },
	{ .name = "version", .summary = "print the version", .opts = cmd_version_opts,
	  .run = cmd_version },
	{ .name = NULL },
};
