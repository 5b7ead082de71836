/*
 * test_scenario.c - unit tests for sim/scenario (scenario files: libyaml
 * parse, validation, defaults, positions in errors) and lib/suggest (the
 * "did you mean" helper).
 *
 * Error cases assert the whole message, so the FILE:LINE:COL prefix and the
 * suggestion are both checked.  The fuzz-ish tests truncate and corrupt the
 * DESIGN.md example and require a result or a positioned error, never a
 * crash (run them under the ASan build too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/suggest.h"
#include "sim/scenario.h"
#include "tests/unit/testutil.h"

/* The example of DESIGN.md "Scenario file, version 1", verbatim. */
static const char design_example[] =
	"version: 1\n"
	"name: article-walkthrough\n"
	"description: HGS MyHgsService in relecloud.com guards two Fabrikam hosts; a shielded VM "
	"runs only where attested\n"
	"lab: { accel: auto }                  # auto | tcg | kvm (auto uses KVM only when it is "
	"proven to work)\n"
	"hgs:\n"
	"  name: MyHgsService\n"
	"  domain: relecloud.com\n"
	"  nodes: 1\n"
	"  trust: tpm                          # tpm | ad | hostkey\n"
	"fabric:\n"
	"  domain: fabrikam.com\n"
	"  trust: one-way                      # one-way | two-way\n"
	"  groups: [GuardedHosts]\n"
	"hosts:\n"
	"  - { name: FabricHost1, groups: [GuardedHosts], profile: baseline }\n"
	"  - { name: FabricHost2, profile: { base: baseline, debug: on } }\n"
	"tenant:\n"
	"  guardians: [Owner]\n"
	"  vms:\n"
	"    - name: ShieldedVM1\n"
	"      owner: Owner\n"
	"      guardians: [MyHgsService]\n"
	"      policy: shielded                # shielded | encryption-supported\n"
	"      files: { secret.txt: \"tenant secret 42\" }\n"
	"steps:\n"
	"  - register: { host: FabricHost1 }\n"
	"  - register: { host: FabricHost2 }\n"
	"  - attest: { host: FabricHost1, expect: Passed }\n"
	"  - attest: { host: FabricHost2, expect: InsecureHostConfiguration, substatus: "
	"[DebugMode] }\n"
	"  - shield: { vm: ShieldedVM1 }\n"
	"  - start: { vm: ShieldedVM1, host: FabricHost1, expect: running }\n"
	"  - start: { vm: ShieldedVM1, host: FabricHost2, expect: refused }\n"
	"  - offline_read: { vm: ShieldedVM1, expect: unreadable }\n"
	"  - stop: { vm: ShieldedVM1 }\n";

/*
 * A small valid scenario the error cases start from; line numbers matter:
 *   1 version  2 name  3 description  4 hgs  5 fabric  6 hosts  7-8 hosts
 *   9 tenant  10 guardians  11 vms  12-13 vm  14 steps  15 step 1
 */
#define BASE_HEAD                                                               \
	"version: 1\n"                                                          \
	"name: t\n"                                                             \
	"description: d\n"                                                      \
	"hgs: { name: MyHgsService, domain: relecloud.com }\n"                  \
	"fabric: { domain: fabrikam.com, groups: [GuardedHosts] }\n"            \
	"hosts:\n"                                                              \
	"  - { name: FabricHost1, groups: [GuardedHosts] }\n"                   \
	"  - { name: FabricHost2 }\n"                                           \
	"tenant:\n"                                                             \
	"  guardians: [Owner]\n"                                                \
	"  vms:\n"                                                              \
	"    - { name: ShieldedVM1, owner: Owner, guardians: [MyHgsService] }\n" \
	"    - { name: OpenVM, owner: Owner, guardians: [MyHgsService], policy: encryption-supported }\n" \
	"steps:\n"

/*
 * A valid head with templates, shielding data, specialization and clouds;
 * steps start at line 23.
 */
#define VMM_HEAD                                                                \
	"version: 1\n"                                                          \
	"name: t\n"                                                             \
	"description: d\n"                                                      \
	"hgs: { name: MyHgsService, domain: relecloud.com }\n"                  \
	"hosts:\n"                                                              \
	"  - { name: FabricHost1 }\n"                                           \
	"  - { name: FabricHost2 }\n"                                           \
	"tenant:\n"                                                             \
	"  guardians: [Owner]\n"                                                \
	"  vms: [{ name: VM1, owner: Owner, guardians: [MyHgsService] }]\n"     \
	"templates:\n"                                                          \
	"  - { name: WS2016, version: 1.0.0.0, signer: Contoso }\n"             \
	"  - { name: Later, version: 2.0.0.0, signer: Contoso }\n"              \
	"shielding_data:\n"                                                     \
	"  - { name: WebTier, owner: Owner, guardians: [MyHgsService], qualifiers: [WS2016] }\n" \
	"  - { name: LaterTier, owner: Owner, guardians: [MyHgsService], qualifiers: [Later] }\n" \
	"specialization:\n"                                                     \
	"  Web01: { \"@ComputerName@\": Web01 }\n"                              \
	"clouds:\n"                                                             \
	"  - { name: Cloud1, hosts: [FabricHost2, FabricHost1] }\n"             \
	"  - { name: Small, hosts: [FabricHost1] }\n"                           \
	"steps:\n"

/* The head of a scenario without steps, for section errors; its sections start at line 9. */
#define SECTION_HEAD                                                            \
	"version: 1\nname: t\ndescription: d\n"                                  \
	"hgs: { name: MyHgsService, domain: relecloud.com }\n"                  \
	"hosts:\n  - { name: FabricHost1 }\ntenant:\n  guardians: [Owner]\n"
#define SECTION_TAIL "steps:\n  - attest: { host: FabricHost1 }\n"
#define ONE_TEMPLATE "templates: [{ name: T, version: 1.0.0.0, signer: C }]\nshielding_data:\n"

/* Parse TEXT as "t.yaml". */
static int parse(const char *text, struct scenario **out)
{
	return scenario_parse("t.yaml", text, strlen(text), out);
}

/* Parse TEXT, which must be valid; fail the test with the message otherwise. */
static struct scenario *parse_ok(const char *text)
{
	struct scenario *s = NULL;

	if (parse(text, &s) < 0) {
		print_error("unexpected error: %s\n", hl_error_last());
		fail();
	}
	assert_non_null(s);
	return s;
}

/* The DESIGN.md example parses into the expected structs. */
static void test_design_example(void **state)
{
	struct scenario *s = parse_ok(design_example);
	const struct sc_step *st;

	(void)state;
	assert_string_equal(s->path, "t.yaml");
	assert_int_equal(s->version, 1);
	assert_string_equal(s->name, "article-walkthrough");
	assert_non_null(strstr(s->description, "guards two Fabrikam hosts"));
	assert_int_equal(s->keywords.n, 0);
	assert_int_equal(s->accel, SC_ACCEL_AUTO);

	assert_string_equal(s->hgs.name, "MyHgsService");
	assert_string_equal(s->hgs.domain, "relecloud.com");
	assert_int_equal(s->hgs.nodes, 1);
	assert_int_equal(s->hgs.trust, SC_TRUST_TPM);
	assert_int_equal(s->hgs.pos.line, 6);
	assert_int_equal(s->hgs.pos.col, 3);
	assert_int_equal(s->n_other_hgs, 0);

	assert_true(s->fabric.present);
	assert_string_equal(s->fabric.domain, "fabrikam.com");
	assert_int_equal(s->fabric.two_way, 0);
	assert_int_equal(s->fabric.groups.n, 1);
	assert_string_equal(s->fabric.groups.v[0], "GuardedHosts");
	assert_int_equal(s->fabric.groups.pos[0].line, 13);
	assert_int_equal(s->fabric.groups.pos[0].col, 12);

	assert_int_equal(s->n_hosts, 2);
	assert_string_equal(s->hosts[0].name, "FabricHost1");
	assert_int_equal(s->hosts[0].groups.n, 1);
	assert_string_equal(s->hosts[0].groups.v[0], "GuardedHosts");
	assert_string_equal(s->hosts[0].profile, "baseline");
	assert_int_equal(s->hosts[0].has_overrides, 0);
	assert_string_equal(s->hosts[0].hgs, "MyHgsService");
	assert_int_equal(s->hosts[0].pos.line, 15);
	assert_int_equal(s->hosts[0].pos.col, 5);
	assert_string_equal(s->hosts[1].name, "FabricHost2");
	assert_int_equal(s->hosts[1].groups.n, 0);
	assert_string_equal(s->hosts[1].profile, "baseline,debug=on");
	assert_int_equal(s->hosts[1].has_overrides, 1);
	assert_string_equal(s->hosts[1].hgs, "MyHgsService");

	assert_int_equal(s->tenant_guardians.n, 1);
	assert_string_equal(s->tenant_guardians.v[0], "Owner");
	assert_int_equal(s->n_vms, 1);
	assert_string_equal(s->vms[0].name, "ShieldedVM1");
	assert_string_equal(s->vms[0].owner, "Owner");
	assert_int_equal(s->vms[0].guardians.n, 1);
	assert_string_equal(s->vms[0].guardians.v[0], "MyHgsService");
	assert_int_equal(s->vms[0].policy, SC_VM_SHIELDED);
	assert_int_equal(s->vms[0].n_files, 1);
	assert_string_equal(s->vms[0].files[0].name, "secret.txt");
	assert_string_equal(s->vms[0].files[0].content, "tenant secret 42");
	assert_null(s->vms[0].disk_size);
	assert_int_equal(s->vms[0].pos.line, 20);
	assert_int_equal(s->vms[0].pos.col, 7);

	assert_int_equal(s->n_steps, 9);
	st = &s->steps[0];
	assert_int_equal(st->kind, SC_STEP_REGISTER);
	assert_string_equal(st->host, "FabricHost1");
	assert_int_equal(st->has_mode, 0);
	assert_int_equal(st->baseline, -1);
	assert_string_equal(st->expect, "ok");
	assert_int_equal(st->pos.line, 26);
	assert_int_equal(st->pos.col, 5);
	st = &s->steps[3];
	assert_int_equal(st->kind, SC_STEP_ATTEST);
	assert_string_equal(st->host, "FabricHost2");
	assert_string_equal(st->expect, "InsecureHostConfiguration");
	assert_int_equal(st->substatus.n, 1);
	assert_string_equal(st->substatus.v[0], "DebugMode");
	assert_null(st->reason);
	assert_int_equal(st->pos.line, 29);
	st = &s->steps[2];
	assert_string_equal(st->expect, "Passed");
	assert_int_equal(st->substatus.n, 0);
	st = &s->steps[4];
	assert_int_equal(st->kind, SC_STEP_SHIELD);
	assert_string_equal(st->vm, "ShieldedVM1");
	assert_null(st->host);
	assert_string_equal(st->expect, "shielded");
	st = &s->steps[5];
	assert_int_equal(st->kind, SC_STEP_START);
	assert_string_equal(st->vm, "ShieldedVM1");
	assert_string_equal(st->host, "FabricHost1");
	assert_string_equal(st->expect, "running");
	assert_string_equal(s->steps[6].expect, "refused");
	assert_int_equal(s->steps[7].kind, SC_STEP_OFFLINE_READ);
	assert_string_equal(s->steps[7].expect, "unreadable");
	st = &s->steps[8];
	assert_int_equal(st->kind, SC_STEP_STOP);
	assert_string_equal(st->vm, "ShieldedVM1");
	assert_null(st->host);
	assert_string_equal(st->expect, "ok");
	assert_null(st->explain);

	assert_ptr_equal(scenario_host(s, "FabricHost2"), &s->hosts[1]);
	assert_null(scenario_host(s, "FabricHost3"));
	assert_ptr_equal(scenario_vm(s, "ShieldedVM1"), &s->vms[0]);
	assert_null(scenario_vm(s, "nope"));
	assert_ptr_equal(scenario_hgs(s, "MyHgsService"), &s->hgs);
	assert_null(scenario_hgs(s, NULL));
	scenario_free(s);
}

/* Every step kind, the shorthand forms, defaults and other_hgs. */
static void test_all_steps(void **state)
{
	static const char text[] =
		"version: 1\n"
		"name: all.steps_1\n"
		"description: every kind\n"
		"keywords: [tpm, AD]\n"
		"lab: { accel: tcg }\n"
		"hgs: { name: MyHgsService, domain: relecloud.com, nodes: 1, trust: hostkey }\n"
		"other_hgs:\n"
		"  - { name: OtherHgs, domain: contoso.com, trust: ad }\n"
		"fabric: { domain: fabrikam.com, trust: two-way, groups: [GuardedHosts, Other] }\n"
		"hosts:\n"
		"  - name: FabricHost1\n"
		"    groups: [GuardedHosts, Other]\n"
		"    profile: baseline,secure_boot=off,debug=on\n"
		"    hgs: OtherHgs\n"
		"  - { name: FabricHost2, profile: { debug: yes, resumed: true, ci_policy: Other } }\n"
		"tenant:\n"
		"  guardians: [Owner, Owner2]\n"
		"  vms:\n"
		"    - name: ShieldedVM1\n"
		"      owner: Owner2\n"
		"      guardians: [MyHgsService, OtherHgs]\n"
		"      files: { a.txt: x, b: '' }\n"
		"      disk_size: 1G\n"
		"    - { name: OpenVM, owner: Owner, guardians: [OtherHgs], policy: encryption-supported }\n"
		"steps:\n"
		"  - register: { host: FabricHost1, mode: ad, baseline: off, explain: \"why\" }\n"
		"  - unregister: { host: FabricHost2, mode: tpm }\n"
		"  - attest: { host: FabricHost1, expect: UnauthorizedHost, reason: not registered }\n"
		"  - shield: { vm: OpenVM, expect: failed }\n"
		"  - start: { vm: ShieldedVM1, host: FabricHost2, expect: refused, substatus: "
		"[DebugMode, FullBoot] }\n"
		"  - stop: { vm: ShieldedVM1, host: FabricHost2 }\n"
		"  - connect: { vm: ShieldedVM1, host: FabricHost1 }\n"
		"  - connect: { vm: OpenVM, host: FabricHost1 }\n"
		"  - connect: { vm: OpenVM, host: FabricHost1, expect: refused }\n"
		"  - offline_read: { vm: OpenVM, expect: readable }\n"
		"  - set_trust: ad\n"
		"    explain: beside the step\n"
		"  - set_trust: { mode: tpm }\n"
		"  - enable_policy: Hgs_BitLockerEnabled\n"
		"  - disable_policy: { name: Hgs_NoDumps, expect: refused }\n"
		"  - disable_policy: Hgs_IommuEnabled\n"
		"  - reboot_host: { host: FabricHost1, profile: { base: baseline, iommu: off } }\n"
		"  - reboot_host: { host: FabricHost2 }\n"
		"  - clock: +9h\n"
		"  - clock: { offset: -30m }\n"
		"  - clock: 2d\n"
		"  - kill: { component: hgs }\n"
		"  - kill: { component: 'hgs:OtherHgs', restart: no }\n"
		"  - kill: { component: dc }\n"
		"  - kill: { component: host:FabricHost2, restart: on }\n";
	struct scenario *s = parse_ok(text);
	const struct sc_step *st = s->steps;

	(void)state;
	assert_int_equal(s->keywords.n, 2);
	assert_int_equal(s->accel, SC_ACCEL_TCG);
	assert_int_equal(s->hgs.trust, SC_TRUST_HOSTKEY);
	assert_int_equal(s->n_other_hgs, 1);
	assert_string_equal(s->other_hgs[0].name, "OtherHgs");
	assert_string_equal(s->other_hgs[0].domain, "contoso.com");
	assert_int_equal(s->other_hgs[0].trust, SC_TRUST_AD);
	assert_int_equal(s->other_hgs[0].nodes, 1);
	assert_int_equal(s->fabric.two_way, 1);
	assert_string_equal(s->hosts[0].profile, "baseline,debug=on,secure_boot=off");
	assert_int_equal(s->hosts[0].has_overrides, 1);
	assert_string_equal(s->hosts[0].hgs, "OtherHgs");
	assert_string_equal(s->hosts[1].profile, "baseline,debug=on,ci_policy=Other,resumed=yes");
	assert_ptr_equal(scenario_hgs(s, "OtherHgs"), &s->other_hgs[0]);
	assert_int_equal(s->vms[0].policy, SC_VM_SHIELDED);
	assert_int_equal(s->vms[0].guardians.n, 2);
	assert_int_equal(s->vms[0].n_files, 2);
	assert_string_equal(s->vms[0].files[1].name, "b");
	assert_string_equal(s->vms[0].files[1].content, "");
	assert_string_equal(s->vms[0].disk_size, "1G");
	assert_int_equal(s->vms[1].policy, SC_VM_ENCRYPTION_SUPPORTED);
	assert_int_equal(s->n_steps, 24);

	assert_int_equal(st[0].kind, SC_STEP_REGISTER);
	assert_int_equal(st[0].has_mode, 1);
	assert_int_equal(st[0].mode, SC_TRUST_AD);
	assert_int_equal(st[0].baseline, 0);
	assert_string_equal(st[0].explain, "why");
	assert_int_equal(st[1].kind, SC_STEP_UNREGISTER);
	assert_int_equal(st[1].mode, SC_TRUST_TPM);
	assert_int_equal(st[1].has_mode, 1);
	assert_string_equal(st[2].expect, "UnauthorizedHost");
	assert_string_equal(st[2].reason, "not registered");
	assert_string_equal(st[3].expect, "failed");
	assert_int_equal(st[4].substatus.n, 2);
	assert_string_equal(st[4].substatus.v[1], "FullBoot");
	assert_string_equal(st[5].host, "FabricHost2");
	assert_string_equal(st[6].expect, "refused");   /* shielded VM: no console */
	assert_string_equal(st[7].expect, "allowed");   /* encryption-supported */
	assert_string_equal(st[8].expect, "refused");
	assert_string_equal(st[9].expect, "readable");
	assert_int_equal(st[10].kind, SC_STEP_SET_TRUST);
	assert_int_equal(st[10].mode, SC_TRUST_AD);
	assert_string_equal(st[10].explain, "beside the step");
	assert_string_equal(st[10].expect, "ok");
	assert_int_equal(st[11].mode, SC_TRUST_TPM);
	assert_string_equal(st[12].name, "Hgs_BitLockerEnabled");
	assert_string_equal(st[13].name, "Hgs_NoDumps");
	assert_string_equal(st[13].expect, "refused");
	assert_string_equal(st[14].expect, "ok");
	assert_string_equal(st[15].profile, "baseline,iommu=off");
	assert_null(st[16].profile);
	assert_int_equal(st[17].offset_s, 9 * 3600);
	assert_int_equal(st[18].offset_s, -30 * 60);
	assert_int_equal(st[19].offset_s, 2 * 86400);
	assert_string_equal(st[20].component, "hgs");
	assert_int_equal(st[20].restart, 1);
	assert_string_equal(st[21].component, "hgs:OtherHgs");
	assert_int_equal(st[21].restart, 0);
	assert_string_equal(st[22].component, "dc");
	assert_int_equal(st[23].restart, 1);
	assert_int_equal(st[23].pos.line, 50);
	assert_int_equal(st[23].pos.col, 5);

	assert_true(scenario_matches(s, "ad"));
	assert_true(scenario_matches(s, "TPM"));
	assert_true(scenario_matches(s, "steps"));
	assert_true(scenario_matches(s, "ALL.S"));
	assert_false(scenario_matches(s, "kvm"));
	assert_false(scenario_matches(s, ""));
	scenario_free(s);
}

/* Templates, shielding data, specialization, clouds and the steps that use them. */
static void test_templates_and_deploy(void **state)
{
	static const char text[] =
		"version: 1\n"
		"name: vmm\n"
		"description: the fabric controller\n"
		"hgs: { name: MyHgsService, domain: relecloud.com }\n"
		"other_hgs: [{ name: ContosoHgs, domain: contoso.com }]\n"
		"hosts:\n"
		"  - { name: FabricHost1 }\n"
		"  - { name: FabricHost2, profile: { debug: on } }\n"
		"tenant:\n"
		"  guardians: [Owner]\n"
		"  vms: [{ name: VM1, owner: Owner, guardians: [MyHgsService], policy: encryption-supported }]\n"
		"templates:\n"
		"  - name: WS2016\n"
		"    template_name: WindowsServer2016\n"
		"    version: 1.0.0.0\n"
		"    signer: Contoso\n"
		"    files: { etc/hostname: \"@ComputerName@\\n\", srv/a.conf: x }\n"
		"    disk_size: 4M\n"
		"  - { name: Rogue, version: 1.2.3.4, signer: Mallory }\n"
		"shielding_data:\n"
		"  - name: WebTier\n"
		"    owner: Owner\n"
		"    guardians: [MyHgsService, ContosoHgs]\n"
		"    qualifiers: [{ template: WS2016, version_rule: greater-than-or-equals }, Rogue,\n"
		"                 { template: Rogue }]\n"
		"    answer_file: { name: unattend.txt, content: \"secret @ComputerName@\" }\n"
		"    other_files: { license.key: ABC }\n"
		"    policy: encryption-supported\n"
		"  - { name: Plain, owner: Owner, qualifiers: [WS2016] }\n"
		"specialization:\n"
		"  Web01: { \"@ComputerName@\": Web01, \"@Tier@\": \"\" }\n"
		"clouds:\n"
		"  - { name: Cloud1, hosts: [FabricHost2, FabricHost1] }\n"
		"steps:\n"
		"  - protect_template: WS2016\n"
		"  - alter_template: { template: WS2016 }\n"
		"  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, specialization: Web01,\n"
		"              cloud: Cloud1, placed_on: FabricHost1, skipped: [FabricHost2],\n"
		"              substatus: [DebugMode], reason: Insecure }\n"
		"  - connect: { vm: Web01 }\n"
		"  - start: { vm: Web01 }\n"
		"  - start: { vm: Web01, host: FabricHost2, expect: refused }\n"
		"  - stop: { vm: Web01 }\n"
		"  - offline_read: { vm: Web01 }\n"
		"  - secret_scan: secret-text\n"
		"  - secret_scan: { text: other-text, expect: present }\n"
		"  - deploy: { vm: Web02, template: Rogue, shielding_data: Plain, cloud: Cloud1,\n"
		"              expect: refused, skipped: [] }\n"
		"  - connect: { vm: Web02, host: FabricHost1 }\n"
		"  - connect: { vm: VM1, host: FabricHost1 }\n";
	struct scenario *s = parse_ok(text);
	const struct sc_template *t;
	const struct sc_shielding *d;
	const struct sc_step *st = s->steps;

	(void)state;
	assert_int_equal(s->n_templates, 2);
	t = scenario_template(s, "WS2016");
	assert_ptr_equal(t, &s->templates[0]);
	assert_string_equal(t->template_name, "WindowsServer2016");
	assert_string_equal(t->version, "1.0.0.0");
	assert_string_equal(t->signer, "Contoso");
	assert_int_equal(t->n_files, 2);
	assert_string_equal(t->files[0].name, "etc/hostname");
	assert_string_equal(t->files[0].content, "@ComputerName@\n");
	assert_string_equal(t->disk_size, "4M");
	assert_int_equal(t->protect_step, 0);
	assert_int_equal(t->pos.line, 13);
	t = scenario_template(s, "Rogue");
	assert_string_equal(t->template_name, "Rogue");     /* default: the name */
	assert_null(t->disk_size);
	assert_int_equal(t->protect_step, -1);              /* protected at bring-up */
	assert_null(scenario_template(s, "Nope"));

	assert_int_equal(s->n_shielding, 2);
	d = scenario_shielding(s, "WebTier");
	assert_string_equal(d->owner, "Owner");
	assert_int_equal(d->guardians.n, 2);
	assert_int_equal(d->n_qualifiers, 3);
	assert_string_equal(d->qualifiers[0].template, "WS2016");
	assert_string_equal(d->qualifiers[0].rule, "greater-than-or-equals");
	assert_string_equal(d->qualifiers[1].template, "Rogue");
	assert_string_equal(d->qualifiers[1].rule, "equals");  /* a name alone: equals */
	assert_string_equal(d->qualifiers[2].rule, "equals");
	assert_string_equal(d->answer_name, "unattend.txt");
	assert_string_equal(d->answer_content, "secret @ComputerName@");
	assert_int_equal(d->n_other, 1);
	assert_string_equal(d->other[0].name, "license.key");
	assert_string_equal(d->other[0].content, "ABC");
	assert_int_equal(d->policy, SC_VM_ENCRYPTION_SUPPORTED);
	d = scenario_shielding(s, "Plain");
	assert_int_equal(d->guardians.n, 0);
	assert_null(d->answer_name);
	assert_int_equal(d->policy, SC_VM_SHIELDED);

	assert_int_equal(s->n_specializations, 1);
	assert_string_equal(scenario_specialization(s, "Web01")->values[0].name, "@ComputerName@");
	assert_string_equal(scenario_specialization(s, "Web01")->values[1].content, "");
	assert_int_equal(s->n_clouds, 1);
	assert_string_equal(scenario_cloud(s, "Cloud1")->hosts.v[0], "FabricHost2");
	assert_int_equal(s->n_deployed, 2);
	assert_string_equal(s->deployed[0], "Web01");
	assert_string_equal(s->deployed[1], "Web02");

	assert_int_equal(s->n_steps, 13);
	assert_int_equal(st[0].kind, SC_STEP_PROTECT_TEMPLATE);
	assert_string_equal(st[0].template, "WS2016");
	assert_string_equal(st[0].expect, "ok");
	assert_int_equal(st[1].kind, SC_STEP_ALTER_TEMPLATE);
	assert_int_equal(st[2].kind, SC_STEP_DEPLOY);
	assert_string_equal(st[2].vm, "Web01");
	assert_string_equal(st[2].shielding_data, "WebTier");
	assert_string_equal(st[2].specialization, "Web01");
	assert_string_equal(st[2].cloud, "Cloud1");
	assert_string_equal(st[2].placed_on, "FabricHost1");
	assert_int_equal(st[2].has_skipped, 1);
	assert_int_equal(st[2].skipped.n, 1);
	assert_string_equal(st[2].expect, "running");        /* reason and substatus allowed */
	assert_string_equal(st[2].reason, "Insecure");
	assert_string_equal(st[2].substatus.v[0], "DebugMode");
	assert_string_equal(st[3].expect, "allowed");        /* by its shielding data's policy */
	assert_null(st[4].host);                              /* where it was placed */
	assert_string_equal(st[5].host, "FabricHost2");
	assert_string_equal(st[7].expect, "unreadable");
	assert_string_equal(st[8].text, "secret-text");
	assert_string_equal(st[8].expect, "absent");
	assert_string_equal(st[9].expect, "present");
	assert_string_equal(st[10].expect, "refused");
	assert_int_equal(st[10].has_skipped, 1);
	assert_int_equal(st[10].skipped.n, 0);
	assert_null(st[10].specialization);
	assert_string_equal(st[11].expect, "refused");       /* Plain is shielded */
	assert_string_equal(st[12].expect, "allowed");       /* the tenant VM's own policy */
	assert_ptr_equal(scenario_deploy_of(s, "Web01", s->n_steps), &st[2]);
	assert_ptr_equal(scenario_deploy_of(s, "Web02", s->n_steps), &st[10]);
	assert_null(scenario_deploy_of(s, "Web02", 10));
	assert_null(scenario_deploy_of(s, "VM1", s->n_steps));
	assert_string_equal(sc_step_name(SC_STEP_DEPLOY), "deploy");
	assert_string_equal(sc_step_name(SC_STEP_SECRET_SCAN), "secret_scan");
	scenario_free(s);

	/* a template a later step protects: deploys after that step only */
	s = parse_ok(VMM_HEAD "  - protect_template: Later\n"
			      "  - deploy: { vm: W, template: Later, shielding_data: LaterTier, "
			      "cloud: Cloud1 }\n"
			      "  - protect_template: Later\n");
	assert_int_equal(s->templates[1].protect_step, 0);
	assert_string_equal(s->steps[1].expect, "running");
	assert_int_equal(s->steps[1].has_skipped, 0);
	scenario_free(s);
}

/* key_caching: { allow } or its shorthand; the flag read as a boolean. */
static void test_key_caching(void **state)
{
	static const char text[] = BASE_HEAD
		"  - key_caching: true\n"
		"  - key_caching: { allow: off }\n"
		"  - key_caching: { allow: yes, explain: cache for outages }\n";
	struct scenario *s = parse_ok(text);

	(void)state;
	assert_int_equal(s->n_steps, 3);
	assert_int_equal(s->steps[0].kind, SC_STEP_KEY_CACHING);
	assert_int_equal(s->steps[0].allow, 1);
	assert_int_equal(s->steps[1].allow, 0);
	assert_int_equal(s->steps[2].allow, 1);
	assert_string_equal(s->steps[0].expect, "ok");
	assert_string_equal(sc_step_name(SC_STEP_KEY_CACHING), "key_caching");
	scenario_free(s);
}

/* store: postgresql (the scenario's hgs: only); backup_hgs, then restore_hgs (sqlite only). */
#define STORE_HEAD(store, other)                                                        \
	"version: 1\n"                                                                  \
	"name: t\n"                                                                     \
	"description: d\n"                                                              \
	"hgs: { name: MyHgsService, domain: relecloud.com, nodes: 3, store: " store " }\n" \
	other                                                                           \
	"hosts: [{ name: FabricHost1 }]\n"                                               \
	"steps:\n"
#define BACKUP_STEPS "  - backup_hgs: {}\n  - restore_hgs: { explain: every node lost }\n"

static void test_store_and_backup(void **state)
{
	static const char ok_text[] = STORE_HEAD("sqlite", "") BACKUP_STEPS;
	static const char pg_text[] = STORE_HEAD("postgresql", "") "  - attest: { host: FabricHost1 }\n";
	static const char pg_restore[] = STORE_HEAD("postgresql", "") BACKUP_STEPS;
	static const char other_pg[] = STORE_HEAD("sqlite",
		"other_hgs: [{ name: OtherHgs, domain: contoso.com, store: postgresql }]\n")
		"  - attest: { host: FabricHost1 }\n";
	static const char bad_store[] = STORE_HEAD("mysql", "") "  - attest: { host: FabricHost1 }\n";
	struct scenario *s = NULL;

	(void)state;
	if (scenario_parse("t.yaml", ok_text, sizeof(ok_text) - 1, &s) < 0)
		fail_msg("%s", hl_error_last());
	assert_int_equal(s->hgs.store_pg, 0);
	assert_int_equal(s->steps[0].kind, SC_STEP_BACKUP_HGS);
	assert_int_equal(s->steps[1].kind, SC_STEP_RESTORE_HGS);
	assert_string_equal(s->steps[1].explain, "every node lost");
	assert_string_equal(sc_step_name(SC_STEP_RESTORE_HGS), "restore_hgs");
	scenario_free(s);
	s = NULL;
	if (scenario_parse("t.yaml", pg_text, sizeof(pg_text) - 1, &s) < 0)
		fail_msg("%s", hl_error_last());
	assert_int_equal(s->hgs.store_pg, 1);
	scenario_free(s);
	s = NULL;
	/* a PostgreSQL store: losing the nodes loses no state, so no restore_hgs */
	assert_int_equal(scenario_parse("t.yaml", pg_restore, sizeof(pg_restore) - 1, &s), -1);
	assert_string_equal(hl_error_last(), "t.yaml:8:5: step 2 (restore_hgs): the HGS keeps its "
			    "state in PostgreSQL, which losing the nodes does not lose; restore_hgs "
			    "needs store: sqlite");
	assert_int_equal(scenario_parse("t.yaml", other_pg, sizeof(other_pg) - 1, &s), -1);
	assert_non_null(strstr(hl_error_last(), "other_hgs item 1: store: postgresql: only the "
			       "scenario's hgs: may keep its state in the lab's PostgreSQL server"));
	assert_int_equal(scenario_parse("t.yaml", bad_store, sizeof(bad_store) - 1, &s), -1);
	assert_non_null(strstr(hl_error_last(), "mysql"));
}

/* Names of kinds and trust modes. */
static void test_names(void **state)
{
	(void)state;
	assert_string_equal(sc_step_name(SC_STEP_REGISTER), "register");
	assert_string_equal(sc_step_name(SC_STEP_OFFLINE_READ), "offline_read");
	assert_string_equal(sc_step_name(SC_STEP_KILL), "kill");
	assert_null(sc_step_name(SC_STEP_COUNT));
	assert_null(sc_step_name((enum sc_step_kind)-1));
	assert_string_equal(sc_trust_name(SC_TRUST_TPM), "tpm");
	assert_string_equal(sc_trust_name(SC_TRUST_AD), "ad");
	assert_string_equal(sc_trust_name(SC_TRUST_HOSTKEY), "hostkey");
	assert_null(sc_trust_name((enum sc_trust)3));
	scenario_free(NULL);
	assert_false(scenario_matches(NULL, "x"));
}

/* One error case: the text and the whole expected message. */
struct bad {
	const char *text;
	const char *message;
};

/* A host entry with count: N stands for N hosts named by its '#' pattern. */
static void test_host_count(void **state)
{
	static const char text[] =
		"version: 1\n"
		"name: t\n"
		"description: d\n"
		"hgs: { name: MyHgsService, domain: relecloud.com }\n"
		"hosts:\n"
		"  - { name: FabricHost1 }\n"
		"  - { name: \"Fleet###x\", count: 12, profile: { base: baseline, debug: on } }\n"
		"steps:\n"
		"  - attest: { host: Fleet012x }\n";
	static const struct bad bads[] = {
		{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: relecloud.com }\n"
		  "hosts:\n  - { name: \"F#\", count: 10 }\nsteps:\n  - attest: { host: F1 }\n",
		  "t.yaml:6:13: hosts item 1: 'F#' has 1 '#' but count 10 needs 2 digits" },
		{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: relecloud.com }\n"
		  "hosts:\n  - { name: \"F##\" }\nsteps:\n  - attest: { host: F1 }\n",
		  "t.yaml:6:13: hosts item 1: host name 'F##' has a '#' pattern but no count: add "
		  "count: N, or name one host" },
		{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: relecloud.com }\n"
		  "hosts:\n  - { name: \"F##\", count: 0 }\nsteps:\n  - attest: { host: F01 }\n",
		  "t.yaml:6:27: hosts item 1: count: 0: a host entry stands for 1 to 200 hosts" },
		{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: relecloud.com }\n"
		  "hosts:\n  - { name: F01 }\n  - { name: \"F##\", count: 2 }\nsteps:\n"
		  "  - attest: { host: F01 }\n",
		  "t.yaml:7:13: duplicate host name 'F01' (first at line 6, column 5)" },
	};
	struct scenario *s = NULL;

	(void)state;
	if (scenario_parse("t.yaml", text, sizeof(text) - 1, &s) < 0)
		fail_msg("%s", hl_error_last());
	assert_int_equal(s->n_hosts, 13);
	assert_string_equal(s->hosts[1].name, "Fleet001x");
	assert_string_equal(s->hosts[12].name, "Fleet012x");
	assert_string_equal(s->hosts[12].profile, s->hosts[1].profile);
	assert_non_null(strstr(s->hosts[12].profile, "debug=on"));
	assert_string_equal(s->steps[0].host, "Fleet012x");
	scenario_free(s);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		s = NULL;
		assert_int_equal(scenario_parse("t.yaml", bads[i].text, strlen(bads[i].text), &s), -1);
		assert_string_equal(hl_error_last(), bads[i].message);
	}
}


static const struct bad bad_cases[] = {
	/* YAML syntax */
	{ "version: 1\nname: t\n  description: d\n",
	  "t.yaml:3:14: bad YAML: mapping values are not allowed in this context; check the "
	  "indentation, or quote a text that holds ': '" },
	{ "version: 1\nhgs:\n  name: H\n domain: x\n",
	  "t.yaml:4:2: bad YAML: did not find expected key (while parsing a block mapping at "
	  "line 1, column 1); check the indentation" },
	{ "version: 1\nhgs:\n\tname: H\n",
	  "t.yaml:3:1: bad YAML: found character that cannot start any token (while scanning for "
	  "the next token at line 3, column 1); tabs cannot indent YAML, use spaces" },
	{ "version: 1\nhosts:\n  - { name: a\n",
	  "t.yaml:4:1: bad YAML: did not find expected ',' or '}' (while parsing a flow mapping "
	  "at line 3, column 5)" },
	{ "version: 1\nname: \"abc\n",
	  "t.yaml:3:1: bad YAML: found unexpected end of stream (while scanning a quoted scalar "
	  "at line 2, column 7)" },
	{ "version: 1\nname: \x01\n",
	  "t.yaml:2:7: not a valid UTF-8 text file: control characters are not allowed (0x1)" },
	{ "version: 1\nname: \xff\n",
	  "t.yaml:2:7: not a valid UTF-8 text file: invalid leading UTF-8 octet (0xff)" },
	{ "", "t.yaml:1:1: the scenario is empty; it starts with 'version: 1', then name, "
	      "description, hgs, hosts and steps" },
	{ "# only a comment\n", "t.yaml:1:1: the scenario is empty; it starts with 'version: 1', "
				"then name, description, hgs, hosts and steps" },
	{ "version: 1\n---\nversion: 1\n",
	  "t.yaml:2:1: a second YAML document ('---'); a scenario file holds exactly one" },
	{ "- version\n", "t.yaml:1:1: a scenario must be a map (version: 1, name:, description:, "
			 "hgs:, hosts:, steps:), not a list" },
	{ "version: 1\nname: &a t\ndescription: *a\n",
	  "t.yaml:3:14: aliases ('*a') are not supported in a scenario; write the value out" },
	{ "version: 1\nversion: 1\n",
	  "t.yaml:2:1: duplicate key 'version' (first at line 1, column 1)" },
	{ "version: 1\n[a]: 1\n", "t.yaml:2:1: a key must be a word, not a list" },
	{ "version: 1\nname: \"a\\0b\"\n", "t.yaml:2:7: a text holds a NUL character" },
	/* top level */
	{ "version: 1\nname: t\ndescription: d\nhots: []\n",
	  "t.yaml:4:1: unknown key 'hots' in the scenario; did you mean 'hosts'?" },
	{ "version: 1\nname: t\ndescription: d\nzzzzzz: 1\n",
	  "t.yaml:4:1: unknown key 'zzzzzz' in the scenario (valid keys: version, name, "
	  "description, keywords, lab, hgs, other_hgs, fabric, hosts, tenant, templates, "
	  "shielding_data, specialization, clouds, steps)" },
	{ "version: 2\n",
	  "t.yaml:1:10: unsupported scenario version '2'; this hgslab reads version 1" },
	{ "name: t\n", "t.yaml:1:1: missing 'version' in the scenario" },
	{ "version: 1\nname: bad name\n",
	  "t.yaml:2:7: bad scenario name 'bad name': use 1-63 characters of A-Z a-z 0-9 . _ -" },
	{ "version: 1\nname: t\ndescription:\n",
	  "t.yaml:3:13: 'description' in the scenario is empty; it must be a text" },
	{ "version: 1\nname: t\ndescription: [d]\n",
	  "t.yaml:3:14: 'description' in the scenario must be a text, not a list" },
	{ "version: 1\nname: t\ndescription: d\nlab: { accel: kmv }\n",
	  "t.yaml:4:15: lab: unknown accel 'kmv'; did you mean 'kvm'?" },
	{ "version: 1\nname: t\ndescription: d\nkeywords: [a, b, a]\n",
	  "t.yaml:4:18: the scenario: duplicate keyword 'a' in 'keywords' (first at line 4, "
	  "column 12)" },
	{ "version: 1\nname: t\ndescription: d\nkeywords: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]\n",
	  "t.yaml:4:44: the scenario: too many items in 'keywords' (at most 16)" },
	{ "version: 1\nname: t\ndescription: d\nhosts: []\n",
	  "t.yaml:1:1: missing 'hgs' in the scenario" },
	/* hgs, fabric */
	{ "version: 1\nname: t\ndescription: d\nhgs: [MyHgsService]\n",
	  "t.yaml:4:6: 'hgs' in the scenario must be a map, not a list" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com, nodes: 6 }\n",
	  "t.yaml:4:39: hgs: nodes: 6: an HGS has 1 to 5 nodes (Microsoft advises 3)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com, nodes: 0 }\n",
	  "t.yaml:4:39: hgs: nodes: 0: an HGS has 1 to 5 nodes (Microsoft advises 3)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com, nodes: 5 }\n"
	  "other_hgs: [{ name: O, domain: o.com, nodes: 5 }]\n",
	  "t.yaml:5:13: other_hgs item 1: the HGS of a scenario have at most 9 nodes together, "
	  "not 10" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com, trust: tmp }\n",
	  "t.yaml:4:39: hgs: unknown trust mode 'tmp'; did you mean 'tpm'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com, trust: ad }\n",
	  "t.yaml:4:39: hgs: trust 'ad' needs a fabric: section (the fabric's AD domain, its "
	  "trust and groups); add one" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domian: h.com }\n",
	  "t.yaml:4:17: unknown key 'domian' in hgs; did you mean 'domain'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H }\n",
	  "t.yaml:4:6: missing 'domain' in hgs" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h..com }\n",
	  "t.yaml:4:25: hgs: bad domain 'h..com': use a DNS name like relecloud.com" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "other_hgs: [{ name: H, domain: o.com }]\n",
	  "t.yaml:5:21: other_hgs item 1: duplicate HGS name 'H' (first at line 4, column 6)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "fabric: { domain: f.com, trust: one_way }\n",
	  "t.yaml:5:33: fabric: unknown trust 'one_way'; did you mean 'one-way'?" },
	/* hosts */
	{ BASE_HEAD "  - attest: { host: FabricHost1 }\n" "hosts2: 1\n",
	  "t.yaml:16:1: unknown key 'hosts2' in the scenario; did you mean 'hosts'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\nhosts: []\n",
	  "t.yaml:5:8: 'hosts' in the scenario is empty; add at least one host" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\nhosts: [A]\n",
	  "t.yaml:5:9: hosts item 1 in the scenario must be a map, not a text" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - name: A\n  - name: B\n  - name: A\n",
	  "t.yaml:8:11: duplicate host name 'A' (first at line 6, column 5)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, grups: [G] }\n",
	  "t.yaml:6:16: unknown key 'grups' in host 'A'; did you mean 'groups'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, groups: [G] }\n",
	  "t.yaml:6:25: host 'A': groups are fabric groups, but the scenario has no fabric: "
	  "section" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "fabric: { domain: f.com, groups: [GuardedHosts] }\n"
	  "hosts:\n  - { name: A, groups: [GuardedHost] }\n",
	  "t.yaml:7:25: host 'A': no group 'GuardedHost' in fabric.groups; did you mean "
	  "'GuardedHosts'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, hgs: Other }\n",
	  "t.yaml:6:21: host 'A': no HGS 'Other' in hgs or other_hgs" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: MyHgsService, domain: h.com }\n"
	  "hosts:\n  - { name: A, hgs: MyHgsServce }\n",
	  "t.yaml:6:21: host 'A': no HGS 'MyHgsServce' in hgs or other_hgs; did you mean "
	  "'MyHgsService'?" },
	/* profiles */
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, profile: { base: baseline, debg: on } }\n",
	  "t.yaml:6:43: unknown key 'debg' in the profile; did you mean 'debug'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, profile: { debug: maybe } }\n",
	  "t.yaml:6:34: host 'A': bad value 'maybe' for profile setting 'debug'; use on or off" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, profile: { base: baseline2 } }\n",
	  "t.yaml:6:33: host 'A': unknown boot profile 'baseline2'; did you mean 'baseline'? "
	  "(valid profiles: baseline)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, profile: \"baseline,debug=of\" }\n",
	  "t.yaml:6:25: host 'A': bad value 'of' for profile setting 'debug'; use on or off" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, profile: [baseline] }\n",
	  "t.yaml:6:25: 'profile' in host 'A' must be a SPEC text (baseline,debug=on) or a map "
	  "({ base: baseline, debug: on }), not a list" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts:\n  - { name: A, profile: { debug: { a: b } } }\n",
	  "t.yaml:6:34: 'debug' in the profile must be a text, not a map" },
	/* tenant, vms */
	{ BASE_HEAD "  - attest: { host: FabricHost1 }\n" "tenant2: 1\n",
	  "t.yaml:16:1: unknown key 'tenant2' in the scenario; did you mean 'tenant'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Ownr, guardians: [H] }\n",
	  "t.yaml:9:25: vm 'V': no guardian 'Ownr' in tenant.guardians; did you mean 'Owner'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: MyHgsService, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner, guardians: [MyHgs] }\n",
	  "t.yaml:9:44: vm 'V': no HGS 'MyHgs' in hgs or other_hgs" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner }\n",
	  "t.yaml:9:7: missing 'guardians' in vm 'V': list the HGS that may run it, e.g. "
	  "guardians: [H]" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner, guardians: [H], policy: shieldd }\n",
	  "t.yaml:9:56: vm 'V': unknown policy 'shieldd'; did you mean 'shielded'?" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner, guardians: [H], files: { ../x: y } }\n",
	  "t.yaml:9:57: vm 'V': bad file name '../x': no '/', not '.' or '..'" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner, guardians: [H], files: { ..: y } }\n",
	  "t.yaml:9:57: vm 'V': bad file name '..': no '/', not '.' or '..'" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner, guardians: [H], disk_size: 16Q }\n",
	  "t.yaml:9:59: vm 'V': bad disk_size '16Q': give e.g. 16M or 1G" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner]\n  vms:\n"
	  "    - { name: V, owner: Owner, guardians: [H] }\n"
	  "    - { name: V, owner: Owner, guardians: [H] }\n",
	  "t.yaml:10:15: duplicate VM name 'V' (first at line 9, column 7)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner, Owner]\n",
	  "t.yaml:7:22: tenant: duplicate guardian 'Owner' in 'guardians' (first at line 7, "
	  "column 15)" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\ntenant:\n  guardians: [Owner/1]\n",
	  "t.yaml:7:15: guardian name 'Owner/1' contains '/': use letters, digits, '.', '_' and '-' "
	  "only" },
	/* steps */
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\nsteps: []\n",
	  "t.yaml:6:8: 'steps' in the scenario is empty; add at least one step" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\n",
	  "t.yaml:1:1: missing 'steps' in the scenario" },
	{ BASE_HEAD "  - attest: { host: FabricHost1 }\n  - atest: { host: FabricHost1 }\n",
	  "t.yaml:16:5: step 2: unknown step kind 'atest'; did you mean 'attest'?" },
	{ BASE_HEAD "  - attest: { host: FabricHost1 }\n  - attest: { host: FabricHost1 }\n"
		    "  - attest: { host: FabricHost1 }\n  - attest: { host: FabricHost3 }\n",
	  "t.yaml:18:21: step 4 (attest): no host 'FabricHost3' in hosts; did you mean "
	  "'FabricHost1'?" },
	{ BASE_HEAD "  - attest: { hots: FabricHost1 }\n",
	  "t.yaml:15:15: unknown key 'hots' in step 1 (attest); did you mean 'host'?" },
	{ BASE_HEAD "  - attest: { host: FabricHost1, expect: passed }\n",
	  "t.yaml:15:42: step 1 (attest): unknown AttestationStatus 'passed'; did you mean "
	  "'Passed'?" },
	{ BASE_HEAD "  - attest: { host: FabricHost1, expect: InsecureHostConfiguraton }\n",
	  "t.yaml:15:42: step 1 (attest): unknown AttestationStatus 'InsecureHostConfiguraton'; did "
	  "you mean 'InsecureHostConfiguration'?" },
	{ BASE_HEAD "  - attest: { host: FabricHost1, expect: TpmError, substatus: [DebugMod] }\n",
	  "t.yaml:15:64: step 1 (attest): unknown AttestationSubStatus 'DebugMod'; did you mean "
	  "'DebugMode'?" },
	{ BASE_HEAD "  - attest: { host: FabricHost1, substatus: [DebugMode] }\n",
	  "t.yaml:15:34: step 1 (attest): 'substatus' given, but expect is Passed, which has "
	  "none; expect a failure or drop it" },
	{ BASE_HEAD "  - attest: { host: FabricHost1, substatus: DebugMode }\n",
	  "t.yaml:15:45: 'substatus' in step 1 (attest) must be a list, not a text" },
	{ BASE_HEAD "  - attest: { }\n", "t.yaml:15:13: missing 'host' in step 1 (attest)" },
	{ BASE_HEAD "  - attest: FabricHost1\n",
	  "t.yaml:15:13: step 1 (attest) must be a map of its arguments (e.g. { host: ... }), "
	  "not a text" },
	{ BASE_HEAD "  - start: { vm: ShieldedVM1, host: FabricHost1, expect: runing }\n",
	  "t.yaml:15:58: step 1 (start): unknown expect 'runing'; did you mean 'running'?" },
	{ BASE_HEAD "  - start: { vm: ShieldedVM2, host: FabricHost1 }\n",
	  "t.yaml:15:18: step 1 (start): no vm 'ShieldedVM2' in tenant.vms; did you mean "
	  "'ShieldedVM1'?" },
	{ BASE_HEAD "  - shield: { vm: ShieldedVM1, expect: ok }\n",
	  "t.yaml:15:40: step 1 (shield): unknown expect 'ok' (use shielded, failed)" },
	{ BASE_HEAD "  - offline_read: { vm: ShieldedVM1, expect: readabel }\n",
	  "t.yaml:15:46: step 1 (offline_read): unknown expect 'readabel'; did you mean "
	  "'readable'?" },
	{ BASE_HEAD "  - connect: { vm: ShieldedVM1, host: FabricHost1, expect: alowed }\n",
	  "t.yaml:15:60: step 1 (connect): unknown expect 'alowed'; did you mean 'allowed'?" },
	{ BASE_HEAD "  - register: { host: FabricHost1, expect: refused }\n",
	  "t.yaml:15:44: step 1 (register): unknown expect 'refused' (use ok)" },
	{ BASE_HEAD "  - register: { host: FabricHost1, baseline: maybe }\n",
	  "t.yaml:15:46: step 1 (register): bad value 'maybe' for 'baseline': use on or off "
	  "(yes/no, true/false)" },
	{ BASE_HEAD "  - register: { host: FabricHost1, mode: hostkye }\n",
	  "t.yaml:15:42: step 1 (register): unknown trust mode 'hostkye'; did you mean "
	  "'hostkey'?" },
	{ BASE_HEAD "  - register: { host: FabricHost1, vm: ShieldedVM1 }\n",
	  "t.yaml:15:36: unknown key 'vm' in step 1 (register) (valid keys: host, mode, "
	  "baseline, expect, explain)" },
	{ BASE_HEAD "  - set_trust: add\n",
	  "t.yaml:15:16: step 1 (set_trust): unknown trust mode 'add'; did you mean 'ad'?" },
	{ BASE_HEAD "  - set_trust: [ad]\n",
	  "t.yaml:15:16: step 1 (set_trust) must be a map ({ mode: ... }) or just the mode, not "
	  "a list" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\nsteps:\n  - set_trust: ad\n",
	  "t.yaml:7:16: step 1 (set_trust): trust 'ad' needs a fabric: section (the fabric's AD "
	  "domain, its trust and groups); add one" },
	{ "version: 1\nname: t\ndescription: d\nhgs: { name: H, domain: h.com }\n"
	  "hosts: [{ name: A }]\nsteps:\n  - register: { host: A, mode: ad }\n",
	  "t.yaml:7:32: step 1 (register): trust 'ad' needs a fabric: section (the fabric's AD "
	  "domain, its trust and groups); add one" },
	{ BASE_HEAD "  - enable_policy: Hgs_BitlockerEnabled\n",
	  "t.yaml:15:20: step 1 (enable_policy): no policy 'Hgs_BitlockerEnabled' in the Hgs_* "
	  "policies; did you mean 'Hgs_BitLockerEnabled'?" },
	{ BASE_HEAD "  - disable_policy: { name: Hgs_NoDumps, expect: refusd }\n",
	  "t.yaml:15:50: step 1 (disable_policy): unknown expect 'refusd'; did you mean "
	  "'refused'?" },
	{ BASE_HEAD "  - clock: 9x\n",
	  "t.yaml:15:12: step 1 (clock): bad offset '9x': use [+-]N followed by s, m, h or d, "
	  "e.g. +9h" },
	{ BASE_HEAD "  - kill: { component: hsg }\n",
	  "t.yaml:15:24: step 1 (kill): unknown component 'hsg'; did you mean 'hgs'?" },
	{ BASE_HEAD "  - kill: { component: 'hgs:HGS02' }\n",
	  "t.yaml:15:24: step 1 (kill): unknown component 'hgs:HGS02'; did you mean "
	  "'hgs:HGS01'?" },
	{ BASE_HEAD "  - kill: { component: 'hgs:MyHgsService:HGS07' }\n",
	  "t.yaml:15:24: step 1 (kill): unknown component 'hgs:MyHgsService:HGS07'; did you mean "
	  "'hgs:MyHgsService'?" },
	{ BASE_HEAD "  - kill: { component: host:FabricHost3 }\n",
	  "t.yaml:15:24: step 1 (kill): unknown component 'host:FabricHost3'; did you mean "
	  "'host:FabricHost1'?" },
	{ BASE_HEAD "  - kill: { component: hgs, restart: sometimes }\n",
	  "t.yaml:15:38: step 1 (kill): bad value 'sometimes' for 'restart': use on or off "
	  "(yes/no, true/false)" },
	{ BASE_HEAD "  - reboot_host: { host: FabricHost1, profile: { secure_bot: off } }\n",
	  "t.yaml:15:50: unknown key 'secure_bot' in the profile; did you mean 'secure_boot'?" },
	{ BASE_HEAD "  - attest: { host: FabricHost1 }\n    start: { vm: ShieldedVM1 }\n",
	  "t.yaml:16:5: step 1 has two kinds, 'attest' and 'start'; put each in its own list item" },
	{ BASE_HEAD "  - explain: lonely\n",
	  "t.yaml:15:5: step 1 has no kind; use one of register, unregister, attest, shield, "
	  "start, stop, connect, offline_read, set_trust, enable_policy, disable_policy, "
	  "reboot_host, clock, kill, protect_template, alter_template, deploy, secret_scan, attack, "
	  "key_caching, backup_hgs, restore_hgs" },
	{ BASE_HEAD "  - restore_hgs: {}\n",
	  "t.yaml:15:5: step 1 (restore_hgs): no backup_hgs step comes before it; back HGS up first" },
	{ BASE_HEAD "  - key_caching: { allow: maybe }\n",
	  "t.yaml:15:27: step 1 (key_caching): bad value 'maybe' for 'allow': use on or off "
	  "(yes/no, true/false)" },
	{ BASE_HEAD "  - key_caching: {}\n",
	  "t.yaml:15:18: missing 'allow' in step 1 (key_caching)" },
	{ BASE_HEAD "  - attest\n",
	  "t.yaml:15:5: step 1 must be a map with one key, its kind (e.g. '- attest: { host: "
	  "FabricHost1 }'), not a text" },
	{ BASE_HEAD "  - attest: { host: FabricHost1, explain: a }\n    explain: b\n",
	  "t.yaml:15:43: step 1 (attest): 'explain' given twice (beside and inside the step)" },
	{ BASE_HEAD "  - stop:\n",
	  "t.yaml:15:10: step 1 (stop) must be a map of its arguments (e.g. { vm: ... }), not "
	  "empty" },
	/* templates, shielding data, specialization, clouds */
	{ SECTION_HEAD "templates:\n  - { name: WS2016, version: 1.0.0, signer: Contoso }\n" SECTION_TAIL,
	  "t.yaml:10:30: template 'WS2016': bad version '1.0.0': give four numbers a.b.c.d, e.g. "
	  "1.0.0.0" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, versoin: 1.0.0.0, signer: Contoso }\n" SECTION_TAIL,
	  "t.yaml:10:21: unknown key 'versoin' in template 'WS2016'; did you mean 'version'?" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, version: 1.0.0.0, signer: Con/toso }\n"
	  SECTION_TAIL,
	  "t.yaml:10:47: template 'WS2016': signer name 'Con/toso' contains '/': use letters, "
	  "digits, '.', '_' and '-' only" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, version: 1.0.0.0, signer: Contoso, files: "
	  "{ ../x: y } }\n" SECTION_TAIL,
	  "t.yaml:10:65: template 'WS2016': bad file path '../x': a relative path without '..', '.' "
	  "or '=' parts" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, version: 1.0.0.0, signer: Contoso, files: "
	  "{ a=b: y } }\n" SECTION_TAIL,
	  "t.yaml:10:65: template 'WS2016': bad file path 'a=b': a relative path without '..', '.' "
	  "or '=' parts" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, version: 1.0.0.0, signer: Contoso }\n"
	  "  - { name: WS2016, version: 2.0.0.0, signer: Contoso }\n" SECTION_TAIL,
	  "t.yaml:11:13: duplicate template name 'WS2016' (first at line 10, column 5)" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, template_name: \" x\", version: 1.0.0.0, "
	  "signer: Contoso }\n" SECTION_TAIL,
	  "t.yaml:10:36: template 'WS2016': template name ' x' has a leading or trailing space" },
	{ SECTION_HEAD "templates:\n  - { name: WS2016, version: 1.0.0.0 }\n" SECTION_TAIL,
	  "t.yaml:10:5: missing 'signer' in template 'WS2016'" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [{ template: T, "
	  "version_rule: greater }] }\n" SECTION_TAIL,
	  "t.yaml:11:72: shielding data 'S': unknown version_rule 'greater' (use equals, "
	  "greater-than, greater-than-or-equals)" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [U] }\n" SECTION_TAIL,
	  "t.yaml:11:43: shielding data 'S': no template 'U' in templates" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Ownr, qualifiers: [T] }\n" SECTION_TAIL,
	  "t.yaml:11:23: shielding data 'S': no guardian 'Ownr' in tenant.guardians; did you mean "
	  "'Owner'?" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [T], answer_file: "
	  "{ name: /x, content: y } }\n" SECTION_TAIL,
	  "t.yaml:11:68: shielding data 'S': bad answer file name '/x': use 1 to 64 of A-Z a-z 0-9 "
	  ". _ - (not starting with '.')" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [T], answer_file: "
	  "{ name: u.txt } }\n" SECTION_TAIL,
	  "t.yaml:11:60: missing 'content' in the answer file" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner }\n" SECTION_TAIL,
	  "t.yaml:11:5: missing 'qualifiers' in shielding data 'S'" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [T], policy: shieldd }\n"
	  SECTION_TAIL,
	  "t.yaml:11:55: shielding data 'S': unknown policy 'shieldd'; did you mean 'shielded'?" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [[T]] }\n" SECTION_TAIL,
	  "t.yaml:11:43: shielding data 'S': a qualifier is a template's name or a map { template, "
	  "version_rule }, not a list" },
	{ SECTION_HEAD ONE_TEMPLATE "  - { name: S, owner: Owner, qualifiers: [T], guardians: "
	  "[Other] }\n" SECTION_TAIL,
	  "t.yaml:11:59: shielding data 'S': no HGS 'Other' in hgs or other_hgs" },
	{ SECTION_HEAD "specialization:\n  Web01: { ComputerName: Web01 }\n" SECTION_TAIL,
	  "t.yaml:10:12: specialization 'Web01': bad placeholder 'ComputerName': write '@', 1 to 64 "
	  "of A-Z a-z 0-9 _, and '@', e.g. @ComputerName@" },
	{ SECTION_HEAD "specialization:\n  Web01: [x]\n" SECTION_TAIL,
	  "t.yaml:10:10: the values in specialization 'Web01' must be a map, not a list" },
	{ SECTION_HEAD "specialization:\n  Web01: { \"@ComputerName@\": [x] }\n" SECTION_TAIL,
	  "t.yaml:10:30: value '@ComputerName@' in specialization 'Web01' must be a text, not a list" },
	{ SECTION_HEAD "clouds:\n  - { name: Cloud1, hosts: [FabricHost2] }\n" SECTION_TAIL,
	  "t.yaml:10:29: cloud 'Cloud1': no host 'FabricHost2' in hosts; did you mean 'FabricHost1'?" },
	{ SECTION_HEAD "clouds:\n  - { name: Cloud1, hosts: [] }\n" SECTION_TAIL,
	  "t.yaml:10:28: cloud 'Cloud1': 'hosts' is empty: list the guarded hosts that may run its "
	  "VMs, e.g. hosts: [FabricHost1]" },
	{ SECTION_HEAD "clouds:\n  - { name: Cloud1 }\n" SECTION_TAIL,
	  "t.yaml:10:5: missing 'hosts' in cloud 'Cloud1': list the guarded hosts that may run its "
	  "VMs, e.g. hosts: [FabricHost1]" },
	{ SECTION_HEAD "clouds:\n  - { name: .c, hosts: [FabricHost1] }\n" SECTION_TAIL,
	  "t.yaml:10:13: invalid cloud name '.c': it must not start with '.'" },
	{ SECTION_HEAD "clouds:\n  - { name: C, hosts: [FabricHost1] }\n  - { name: C, hosts: "
	  "[FabricHost1] }\n" SECTION_TAIL,
	  "t.yaml:11:13: duplicate cloud name 'C' (first at line 10, column 5)" },
	{ SECTION_HEAD "clouds:\n  - { name: C, hosts: [FabricHost1], host: [x] }\n" SECTION_TAIL,
	  "t.yaml:10:38: unknown key 'host' in cloud 'C'; did you mean 'hosts'?" },
	/* deploy and the steps on templates and deployed VMs */
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2061, shielding_data: WebTier, cloud: Cloud1 }\n",
	  "t.yaml:23:36: step 1 (deploy): no template 'WS2061' in templates; did you mean 'WS2016'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, cloud: Cloud2 }\n",
	  "t.yaml:23:76: step 1 (deploy): no cloud 'Cloud2' in clouds; did you mean 'Cloud1'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTeir, cloud: Cloud1 }\n",
	  "t.yaml:23:60: step 1 (deploy): no shielding data 'WebTeir' in shielding_data; did you mean "
	  "'WebTier'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, specialization: "
	  "Web1, cloud: Cloud1 }\n",
	  "t.yaml:23:85: step 1 (deploy): no specialization 'Web1' in specialization; did you mean "
	  "'Web01'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, cloud: Small, "
	  "placed_on: FabricHost2 }\n",
	  "t.yaml:23:94: step 1 (deploy): no host 'FabricHost2' in cloud 'Small'; did you mean "
	  "'FabricHost1'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, cloud: Cloud1, "
	  "expect: refused, placed_on: FabricHost1 }\n",
	  "t.yaml:23:112: step 1 (deploy): 'placed_on' given, but expect is refused, which places the "
	  "VM nowhere; expect running or drop it" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, cloud: Small, "
	  "skipped: [FabricHost3] }\n",
	  "t.yaml:23:93: step 1 (deploy): no host 'FabricHost3' in cloud 'Small'; did you mean "
	  "'FabricHost1'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, cloud: Cloud1, "
	  "placed_on: FabricHost1, skipped: [FabricHost1] }\n",
	  "t.yaml:23:118: step 1 (deploy): host 'FabricHost1' is both placed_on and skipped" },
	{ VMM_HEAD "  - deploy: { vm: VM1, template: WS2016, shielding_data: WebTier, cloud: Cloud1 }\n",
	  "t.yaml:23:19: step 1 (deploy): VM 'VM1' is a tenant VM (line 10); a deploy makes a new VM "
	  "from a template: give it another name" },
	{ VMM_HEAD "  - deploy: { vm: Web/01, template: WS2016, shielding_data: WebTier, cloud: Cloud1 }\n",
	  "t.yaml:23:19: bad VM name 'Web/01': use 1 to 64 of A-Z a-z 0-9 . _ - (not starting with "
	  "'.')" },
	{ VMM_HEAD "  - start: { vm: Web01 }\n  - deploy: { vm: Web01, template: WS2016, "
	  "shielding_data: WebTier, cloud: Cloud1 }\n",
	  "t.yaml:23:18: step 1 (start): VM 'Web01' is deployed only at step 2; move this step after "
	  "it" },
	{ VMM_HEAD "  - connect: { vm: Web02 }\n  - deploy: { vm: Web01, template: WS2016, "
	  "shielding_data: WebTier, cloud: Cloud1 }\n",
	  "t.yaml:23:20: step 1 (connect): no vm 'Web02' in tenant.vms or the deploy steps; did you "
	  "mean 'Web01'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: Later, shielding_data: LaterTier, cloud: Cloud1 }\n"
	  "  - protect_template: Later\n",
	  "t.yaml:23:36: step 1 (deploy): template 'Later' is protected only at step 2 "
	  "(protect_template); move this step after it" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: LaterTier, cloud: Cloud1 }\n"
	  "  - protect_template: { template: Later }\n",
	  "t.yaml:23:60: step 1 (deploy): shielding data 'LaterTier' trusts template 'Later', which is "
	  "protected only at step 2 (protect_template); move this step after it" },
	{ VMM_HEAD "  - alter_template: Later\n  - protect_template: Later\n",
	  "t.yaml:23:21: step 1 (alter_template): template 'Later' is protected only at step 2 "
	  "(protect_template); move this step after it" },
	{ VMM_HEAD "  - protect_template: [WS2016]\n",
	  "t.yaml:23:23: step 1 (protect_template) must be a map ({ template: ... }) or just the "
	  "template, not a list" },
	{ VMM_HEAD "  - secret_scan: abc\n",
	  "t.yaml:23:18: step 1 (secret_scan): the text 'abc' is shorter than 6 characters: it would "
	  "match by chance" },
	{ VMM_HEAD "  - secret_scan: { text: some-secret, expect: absnt }\n",
	  "t.yaml:23:47: step 1 (secret_scan): unknown expect 'absnt'; did you mean 'absent'?" },
	{ VMM_HEAD "  - start: { vm: VM1 }\n", "t.yaml:23:12: missing 'host' in step 1 (start)" },
	{ VMM_HEAD "  - connect: { vm: VM1 }\n", "t.yaml:23:14: missing 'host' in step 1 (connect)" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, clod: Cloud1 }\n",
	  "t.yaml:23:69: unknown key 'clod' in step 1 (deploy); did you mean 'cloud'?" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier }\n",
	  "t.yaml:23:13: missing 'cloud' in step 1 (deploy)" },
	{ VMM_HEAD "  - deploy: { vm: Web01, template: WS2016, shielding_data: WebTier, cloud: Cloud1, "
	  "expect: runing }\n",
	  "t.yaml:23:92: step 1 (deploy): unknown expect 'runing'; did you mean 'running'?" },
	{ VMM_HEAD "  - deploy: Web01\n",
	  "t.yaml:23:13: step 1 (deploy) must be a map of its arguments (e.g. { vm: ... }), not a "
	  "text" },
	/* nesting */
	{ "version: 1\nname: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]"
	  "]]]]]]]]]]]]]]]]]]]]\n",
	  "t.yaml:2:39: the file nests more than 32 levels deep" },
};

/* Every error class gives its message with the right position. */
/* A cluster: nodes, a node's kill, an outage; components name the nodes that exist. */
static void test_cluster(void **state)
{
	static const char text[] =
		"version: 1\n"
		"name: cluster\n"
		"description: d\n"
		"hgs: { name: MyHgsService, domain: relecloud.com, nodes: 3 }\n"
		"other_hgs: [{ name: OtherHgs, domain: contoso.com, nodes: 2 }]\n"
		"hosts: [{ name: FabricHost1 }]\n"
		"steps:\n"
		"  - kill: { component: 'hgs:HGS02', restart: false }\n"
		"  - kill: { component: 'hgs:HGS03' }\n"
		"  - kill: { component: 'hgs:OtherHgs:HGS02' }\n"
		"  - kill: { component: 'hgs:MyHgsService', restart: false }\n"
		"  - kill: { component: hgs }\n";
	const struct sc_hgs *g;
	struct scenario *s = NULL;

	(void)state;
	if (scenario_parse("c.yaml", text, sizeof(text) - 1, &s) < 0)
		fail_msg("%s", hl_error_last());
	assert_int_equal(s->hgs.nodes, 3);
	assert_int_equal(s->other_hgs[0].nodes, 2);
	assert_int_equal(s->n_steps, 5);
	assert_string_equal(s->steps[0].component, "hgs:HGS02");
	assert_int_equal(s->steps[0].restart, 0);
	assert_int_equal(scenario_component_hgs(s, "hgs:HGS02", &g), 2);
	assert_ptr_equal(g, &s->hgs);
	assert_int_equal(scenario_component_hgs(s, "hgs:HGS03", &g), 3);
	assert_int_equal(scenario_component_hgs(s, "hgs:OtherHgs:HGS02", &g), 2);
	assert_ptr_equal(g, &s->other_hgs[0]);
	assert_int_equal(scenario_component_hgs(s, "hgs:MyHgsService", &g), 0);
	assert_ptr_equal(g, &s->hgs);
	assert_int_equal(scenario_component_hgs(s, "hgs", &g), 0);
	assert_ptr_equal(g, &s->hgs);
	assert_int_equal(scenario_component_hgs(s, "hgs:OtherHgs", &g), 0);
	assert_ptr_equal(g, &s->other_hgs[0]);
	/* nodes that do not exist, other components */
	assert_int_equal(scenario_component_hgs(s, "hgs:HGS04", &g), -1);
	assert_null(g);
	assert_int_equal(scenario_component_hgs(s, "hgs:OtherHgs:HGS03", &g), -1);
	assert_int_equal(scenario_component_hgs(s, "hgs:Nope:HGS01", &g), -1);
	assert_int_equal(scenario_component_hgs(s, "dc", &g), -1);
	assert_int_equal(scenario_component_hgs(s, "host:FabricHost1", &g), -1);
	scenario_free(s);
	/* a node beyond the HGS's nodes is an error at its position */
	{
		static const char bad[] =
			"version: 1\nname: c\ndescription: d\n"
			"hgs: { name: MyHgsService, domain: relecloud.com, nodes: 3 }\n"
			"hosts: [{ name: FabricHost1 }]\n"
			"steps:\n"
			"  - kill: { component: 'hgs:HGS04' }\n";

		s = NULL;
		assert_int_equal(scenario_parse("c.yaml", bad, sizeof(bad) - 1, &s), -1);
		assert_null(s);
		assert_string_equal(hl_error_last(), "c.yaml:7:24: step 1 (kill): unknown component "
				    "'hgs:HGS04'; did you mean 'hgs:HGS01'?");
	}
}

static void test_errors(void **state)
{
	size_t i, failures = 0;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct scenario *s = (struct scenario *)1;
		int r = parse(bad_cases[i].text, &s);

		if (r == -1 && s == NULL && strcmp(hl_error_last(), bad_cases[i].message) == 0)
			continue;
		failures++;
		print_error("case %zu: %s\n  got      %s\n  expected %s\n", i,
			    r == 0 ? "parsed" : "wrong message", r == 0 ? "(none)" : hl_error_last(),
			    bad_cases[i].message);
		if (r == 0)
			scenario_free(s);
	}
	assert_int_equal(failures, 0);
}

/* Check one parse of possibly broken TEXT: a scenario, or an error with a position. */
static void check_robust(const char *text, size_t len)
{
	struct scenario *s = (struct scenario *)1;
	const char *m;
	int r = scenario_parse("f.yaml", text, len, &s);

	if (r == 0) {
		assert_non_null(s);
		scenario_free(s);
		return;
	}
	assert_int_equal(r, -1);
	assert_null(s);
	m = hl_error_last();
	if (strncmp(m, "f.yaml:", 7) != 0 || !isdigit((unsigned char)m[7])) {
		print_error("no position in: %s\n", m);
		fail();
	}
	m += 7 + strspn(m + 7, "0123456789");
	if (*m != ':' || !isdigit((unsigned char)m[1])) {
		print_error("no column in: %s\n", hl_error_last());
		fail();
	}
	m += 1 + strspn(m + 1, "0123456789");
	assert_memory_equal(m, ": ", 2);
}

/* Every truncation of the example parses or gives a positioned error. */
static void test_truncations(void **state)
{
	size_t len = strlen(design_example), i;
	char *buf = malloc(len + 1);

	(void)state;
	assert_non_null(buf);
	for (i = 0; i <= len; i++) {
		memcpy(buf, design_example, i);     /* no NUL: the parser gets exactly I bytes */
		check_robust(buf, i);
	}
	free(buf);
}

/* xorshift64*, for reproducible corruption. */
static uint64_t rnd(uint64_t *st)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 2685821657736338717ULL;
}

/* Random byte flips of the example never crash. */
static void test_byte_flips(void **state)
{
	static const char interesting[] = "{}[]:,-#&*!|>'\"%@`\n\t \\?0~";
	size_t len = strlen(design_example), i, j;
	uint64_t st = 0x9e3779b97f4a7c15ULL;
	char *buf = malloc(len);

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < 600; i++) {
		size_t flips = 1 + rnd(&st) % 4;

		memcpy(buf, design_example, len);
		for (j = 0; j < flips; j++) {
			size_t at = rnd(&st) % len;
			uint64_t r = rnd(&st);

			if (r & 1)
				buf[at] = interesting[(r >> 8) % (sizeof(interesting) - 1)];
			else
				buf[at] = (char)(r >> 8);
		}
		check_robust(buf, len);
	}
	free(buf);
}

/* scenario_load reads a file; a missing file is an error naming it. */
static void test_load(void **state)
{
	char path[64];
	struct scenario *s = NULL;

	(void)state;
	tu_write_temp(design_example, strlen(design_example), "scenario", path, sizeof(path));
	assert_int_equal(scenario_load(path, &s), 0);
	assert_non_null(s);
	assert_string_equal(s->path, path);
	assert_int_equal(s->n_steps, 9);
	scenario_free(s);
	unlink(path);
	s = (struct scenario *)1;
	assert_int_equal(scenario_load(path, &s), -1);
	assert_null(s);
	assert_non_null(strstr(hl_error_last(), path));
}

/* lib/suggest: nearest word, only when close enough. */
static void test_suggest(void **state)
{
	static const char *const keys[] = { "version", "name", "hosts", "hgs", "steps", NULL };
	static const char *const modes[] = { "tpm", "ad", "hostkey", NULL };
	static const char *const statuses[] = { "Passed", "InsecureHostConfiguration", NULL };

	(void)state;
	assert_int_equal(hl_edit_distance("", ""), 0);
	assert_int_equal(hl_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(hl_edit_distance("abc", ""), 3);
	assert_string_equal(hl_suggest("hots", keys), "hosts");
	assert_string_equal(hl_suggest("STEPS", keys), "steps");
	assert_string_equal(hl_suggest("vresion", keys), "version");
	assert_null(hl_suggest("zzzzzz", keys));
	assert_string_equal(hl_suggest("tmp", modes), "tpm");
	assert_null(hl_suggest("x", modes));        /* distance 2 >= length 1 */
	assert_null(hl_suggest("a", modes));        /* distance 1, not below length 1 */
	assert_string_equal(hl_suggest("dd", modes), "ad");
	assert_null(hl_suggest(NULL, modes));
	assert_null(hl_suggest("tpm", NULL));
	/* longer words allow more edits: max(2, length / 3) */
	assert_string_equal(hl_suggest("InsecureHostConfigur", statuses), "InsecureHostConfiguration");
	assert_null(hl_suggest("InsecureHostConfi", statuses));
	assert_null(hl_suggest("InsecureHost", statuses));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_all_steps),
		cmocka_unit_test(test_templates_and_deploy),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_key_caching),
		cmocka_unit_test(test_store_and_backup),
		cmocka_unit_test(test_host_count),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_byte_flips),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_suggest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
