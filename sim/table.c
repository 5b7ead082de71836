/*
 * table.c - the command table of hgslab: every area and verb in one place.
 * Entries with `.later` set are planned and listed in help, and exit
 * HL_EXIT_NOT_BUILT (3) with a message naming what brings them.
 */
#include "sim/cmd.h"
#include "sim/commands.h"

#define LATER_ATTEST "it comes with the attestation work (issue #3)"
#define LATER_KPS    "it comes with the key protection work (issue #4)"
#define LATER_VM     "it comes with the shielded VM work (issue #5)"
#define LATER_RUN    "it comes with the scenario runner (issue #6)"

static const struct hl_cmd hgs_verbs[] = {
	{ .name = "init", .summary = "create an HGS node (Initialize-HgsServer)", .later = LATER_ATTEST },
	{ .name = "serve", .summary = "serve /Attestation and /KeyProtection over HTTP", .later = LATER_ATTEST },
	{ .name = "get-server", .summary = "show the node's configuration (Get-HgsServer)", .later = LATER_ATTEST },
	{ .name = "set-server", .summary = "change the trust mode (Set-HgsServer)", .later = LATER_ATTEST },
	{ .name = "add-tpm-host", .summary = "register a host's TPM (Add-HgsAttestationTpmHost)", .later = LATER_ATTEST },
	{ .name = "add-tpm-policy", .summary = "register a TCG log baseline (Add-HgsAttestationTpmPolicy)", .later = LATER_ATTEST },
	{ .name = "add-ci-policy", .summary = "register a code integrity policy (Add-HgsAttestationCIPolicy)", .later = LATER_ATTEST },
	{ .name = "add-host-group", .summary = "register an AD group SID (Add-HgsAttestationHostGroup)", .later = LATER_ATTEST },
	{ .name = "add-host-key", .summary = "register a host key (Add-HgsAttestationHostKey)", .later = LATER_ATTEST },
	{ .name = "get-attestation-policy", .summary = "list the Hgs_* policies", .later = LATER_ATTEST },
	{ .name = "get-attestation-log", .summary = "every attestation attempt and its result", .later = LATER_ATTEST },
	{ .name = "get-key-protection-log", .summary = "every key release and refusal", .later = LATER_KPS },
	{ .name = NULL },
};

static const struct hl_cmd host_verbs[] = {
	{ .name = "new", .summary = "manufacture a guarded host and its TPM", .later = LATER_ATTEST },
	{ .name = "run", .summary = "run the host agent (measured boot, attestation)", .later = LATER_ATTEST },
	{ .name = "get-platform-identifier", .summary = "export EKpub + EKcert", .later = LATER_ATTEST },
	{ .name = "get-baseline-policy", .summary = "export the host's TCG log", .later = LATER_ATTEST },
	{ .name = "get-ci-policy", .summary = "export the host's code integrity policy", .later = LATER_ATTEST },
	{ .name = "set-client-configuration", .summary = "set the HGS URLs (Set-HgsClientConfiguration)", .later = LATER_ATTEST },
	{ .name = "get-client-configuration", .summary = "show guarded state (Get-HgsClientConfiguration)", .later = LATER_ATTEST },
	{ .name = "test-client-configuration", .summary = "force a fresh attestation", .later = LATER_ATTEST },
	{ .name = "unwrap-key-protector", .summary = "test key release; prints the TK fingerprint", .later = LATER_KPS },
	{ .name = "import-vm", .summary = "import a shielded VM bundle", .later = LATER_VM },
	{ .name = "start-vm", .summary = "start a shielded VM", .later = LATER_VM },
	{ .name = "stop-vm", .summary = "stop a VM", .later = LATER_VM },
	{ .name = "get-vm", .summary = "show VMs and their state", .later = LATER_VM },
	{ .name = NULL },
};

static const struct hl_cmd tenant_verbs[] = {
	{ .name = "new-guardian", .summary = "create a guardian (New-HgsGuardian)", .later = LATER_KPS },
	{ .name = "import-guardian", .summary = "import HGS guardian metadata (Import-HgsGuardian)", .later = LATER_KPS },
	{ .name = "new-key-protector", .summary = "create a key protector (New-HgsKeyProtector)", .later = LATER_KPS },
	{ .name = "show-key-protector", .summary = "show a key protector", .later = LATER_KPS },
	{ .name = "new-vm", .summary = "make a tenant's plain template disk", .later = LATER_VM },
	{ .name = "shield-vm", .summary = "shield a VM (encrypted vTPM, LUKS2 disk)", .later = LATER_VM },
	{ .name = "export-vm", .summary = "write a shielded VM bundle", .later = LATER_VM },
	{ .name = "inspect-vm", .summary = "offline view of a bundle: ciphertext only", .later = LATER_VM },
	{ .name = NULL },
};

static const struct hl_cmd bench_verbs[] = {
	{ .name = "all", .summary = "run every benchmark", .later = LATER_ATTEST },
	{ .name = "attest", .summary = "attestations/s and HGS CPU per attestation vs the crypto floor", .later = LATER_ATTEST },
	{ .name = "release", .summary = "key releases/s and KPS CPU per release vs the crypto floor", .later = LATER_KPS },
	{ .name = NULL },
};

const struct hl_cmd hl_areas[] = {
	{ .name = "hgs", .summary = "Host Guardian Service node: attestation and key protection",
	  .verbs = hgs_verbs },
	{ .name = "host", .summary = "guarded host: TPM, measured boot, HGS client, VMs",
	  .verbs = host_verbs },
	{ .name = "tenant", .summary = "tenant tooling: guardians, key protectors, shielding",
	  .verbs = tenant_verbs },
	{ .name = "run", .summary = "run YAML scenarios and report", .args = "FILE...",
	  .later = LATER_RUN },
	{ .name = "demo", .summary = "run the default demo (the article walkthrough)",
	  .opts = cmd_demo_opts, .run = cmd_demo },
	{ .name = "up", .summary = "bring a scenario's fabric up and leave it running", .args = "FILE",
	  .later = LATER_RUN },
	{ .name = "down", .summary = "stop a fabric started with `up`", .later = LATER_RUN },
	{ .name = "status", .summary = "show HGS, hosts and VMs of a running fabric", .later = LATER_RUN },
	{ .name = "diagnose", .summary = "check this machine and the lab's parts (Get-HgsTrace)",
	  .opts = cmd_diagnose_opts, .run = cmd_diagnose },
	{ .name = "bench", .summary = "benchmarks against the crypto floor", .verbs = bench_verbs },
	{ .name = "version", .summary = "print the version", .opts = cmd_version_opts,
	  .run = cmd_version },
	{ .name = NULL },
};
