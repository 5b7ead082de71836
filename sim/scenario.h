/*
 * scenario.h - a scenario file (DESIGN.md "Scenario file, version 1") as
 * the runner sees it: parsed from YAML with libyaml, validated as a whole
 * before anything starts, every element carrying the line and column it came
 * from so an error (or a failed expectation) can point at it.
 *
 * The file, top to bottom (fields may be added, never renamed):
 *
 *   version: 1                          required, must be 1
 *   name: article-walkthrough           required, [A-Za-z0-9._-]
 *   description: text                   required
 *   keywords: [tpm, vm]                 optional list of words (`run --keyword`)
 *   lab: { accel: auto }                auto | tcg | kvm
 *   hgs:                                required: the HGS this fabric trusts
 *     name: MyHgsService                HGS service name (the guardian's name)
 *     domain: relecloud.com
 *     nodes: 3                          1 (default) to SC_MAX_NODES: the cluster's
 *                                       nodes HGS01, HGS02... (at most
 *                                       SC_MAX_ALL_NODES of all HGS together)
 *     trust: tpm                        tpm | ad | hostkey
 *     store: sqlite                     sqlite (default: node 1's hgs.db) | postgresql
 *                                       (a PostgreSQL server the lab starts in
 *                                       WORK/pgsql; only this hgs:)
 *   other_hgs:                          optional: further, independent HGS
 *     - { name: OtherHgs, domain: contoso.com, trust: tpm }
 *   fabric:                             optional (needed for trust: ad)
 *     domain: fabrikam.com
 *     trust: one-way                    one-way | two-way
 *     groups: [GuardedHosts]
 *   hosts:                              at least one
 *     - name: FabricHost1               host names are unique
 *       groups: [GuardedHosts]          fabric groups the computer account is in
 *       profile: baseline               a SPEC string (hosts/profile.h) or a map
 *                                       { base: baseline, debug: on, ... }
 *       hgs: OtherHgs                   optional: attests to that HGS instead
 *     - { name: "FabricHost###", count: 50 }   one entry for many hosts (at most
 *                                       SC_MAX_HOSTS in all): FabricHost001...
 *                                       FabricHost050, the run of '#' the
 *                                       zero-padded number; the rest as above
 *   tenant:
 *     guardians: [Owner]                owner guardians the tenant creates
 *     vms:
 *       - name: ShieldedVM1
 *         owner: Owner                  one of tenant.guardians
 *         guardians: [MyHgsService]     HGS names (hgs or other_hgs)
 *         policy: shielded              shielded | encryption-supported
 *         files: { secret.txt: "tenant secret 42" }
 *         disk_size: 16M                optional
 *   templates:                          optional: signed template disks (Protect-TemplateDisk)
 *     - name: WS2016                    the disk's name in the lab (its file WS2016.tdisk)
 *       template_name: WindowsServer2016  the name the signature catalog gives (default: name)
 *       version: 1.0.0.0                a.b.c.d
 *       signer: Contoso                 a template signer the tenant makes
 *       files: { etc/hostname: "@ComputerName@" }   path: content, placeholders @Key@
 *       disk_size: 16M                  optional
 *   shielding_data:                     optional: the tenant's .pdk files
 *     - name: WebData
 *       owner: Owner                    one of tenant.guardians
 *       guardians: [MyHgsService]       HGS names whose hosts may provision
 *       qualifiers:                     the templates it trusts (volume ID qualifiers)
 *         - { template: WS2016, version_rule: greater-than-or-equals }
 *         - WS2016                      a template's name: version_rule equals
 *       answer_file: { name: unattend.txt, content: "..." }   optional, secret
 *       other_files: { key.txt: "..." }                       optional, secret
 *       policy: shielded                shielded | encryption-supported
 *   specialization:                     optional: the .fsk files
 *     Web01: { "@ComputerName@": Web01 }
 *   clouds:                             optional: the fabric controller's clouds
 *     - { name: Cloud1, hosts: [FabricHost2, FabricHost1] }   deploys try them in order
 *   steps:                              at least one; each a one-key map
 *     - attest: { host: FabricHost1, expect: Passed }
 *
 * Steps (every step may also carry `explain: "text"`, shown in the human
 * report as the concept the step teaches):
 *   register:       { host, mode?, baseline? }   make HGS know the host in
 *                   MODE (default: the HGS's trust mode at that point):
 *                   tpm: add-tpm-host, and when baseline (default: the host's
 *                   profile has no overrides) its TCG log as a TPM baseline
 *                   and its CI policy; ad: add-host-group for the host's
 *                   groups; hostkey: add-host-key
 *   unregister:     { host, mode? }              the reverse (ad: the host
 *                   leaves its groups)
 *   attest:         { host, expect?, substatus?, reason? }
 *                   expect: an AttestationStatus (default Passed)
 *   shield:         { vm, expect? }              expect: shielded (default) | failed
 *   start:          { vm, host, expect?, substatus?, reason? }
 *                   expect: running (default) | refused; host may be left out
 *                   for a deployed VM (then: where it was placed)
 *   stop:           { vm, host? }                host: where it runs
 *   connect:        { vm, host, expect? }        console access: allowed | refused
 *                   (host optional for a deployed VM: where it runs or was placed)
 *   offline_read:   { vm, expect? }              unreadable (default) | readable
 *   set_trust:      { mode } or `set_trust: ad`
 *   enable_policy:  { name } or `enable_policy: Hgs_BitLockerEnabled`
 *   disable_policy: { name, expect? }            expect: ok (default) | refused
 *   reboot_host:    { host, profile? }           profile as in hosts:
 *   clock:          { offset } or `clock: +9h`   moves the lab clock
 *                   ([+-]N[smhd])
 *   kill:           { component, restart? }      component: hgs | hgs:NAME
 *                   (every node of that HGS: an outage) | hgs:HGS02 (one
 *                   node of hgs:, which must exist) | hgs:NAME:HGS02 |
 *                   dc | host:NAME; restart (default true): the runner
 *                   brings it back, as a service manager would
 *   protect_template: { template } or `protect_template: WS2016`: makes the
 *                   template disk and signs it (new-template-disk,
 *                   protect-template-disk); a template no step protects is
 *                   protected at bring-up
 *   alter_template: { template }                 flips a byte of the protected
 *                   image after it was signed (the refusal lessons)
 *   deploy:         { vm, template, shielding_data, specialization?, cloud,
 *                   expect?, placed_on?, skipped?, substatus?, reason? }
 *                   `vmm deploy`: expect running (default) | refused;
 *                   placed_on: the host that must get it; skipped: exactly the
 *                   hosts skipped; substatus / reason: in the hosts' reasons
 *   secret_scan:    { text, expect? } or `secret_scan: TEXT`: every file of
 *                   the lab searched for TEXT: absent (default) | present
 *   key_caching:    { allow } or `key_caching: true`: the first HGS's
 *                   Set-HgsKeyProtectionConfiguration -AllowKeyMaterialCaching
 *                   (docs/key-caching.md)
 *   backup_hgs:     {}: Export-HgsServerState of the first HGS into
 *                   WORK/backup/NAME.hgsbak under a password the runner makes
 *                   and keeps in memory (never in the lab)
 *   restore_hgs:    {}: every node of the first HGS lost (stopped, its folder
 *                   wiped: the SQLite store with it), then Import-HgsServerState
 *                   of the last backup_hgs into node 1 and the others joined
 *                   again; needs an earlier backup_hgs and store: sqlite
 * A deployed VM (a deploy's vm) is a VM of start, stop, connect and
 * offline_read after its deploy step.
 * substatus: a list of AttestationSubStatus names that must all appear;
 * reason: a text the reason must contain.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); parse/validation
 * errors read "FILE:LINE:COLUMN: what is wrong" and, for an unknown key or
 * value, "; did you mean 'X'?" with the nearest known one.
 */
#ifndef HGSLAB_SIM_SCENARIO_H
#define HGSLAB_SIM_SCENARIO_H

#include <stddef.h>

#define SC_MAX_LIST 16  /* groups, keywords, guardians, substatus, files per VM */
#define SC_MAX_NODES 5  /* nodes of one HGS */
#define SC_MAX_HOSTS 200 /* hosts of a scenario (the lab gives them 127.X.Y.20 and up) */
#define SC_MAX_ALL_NODES 9  /* nodes of every HGS of a scenario (the lab's .1-.9) */
#define SC_NODE_NAME_FMT "HGS%02d"  /* node i (1-based): HGS01, HGS02... */

/* Where an element starts in the file, 1-based. */
struct sc_pos {
	int line;
	int col;
};

enum sc_trust { SC_TRUST_TPM, SC_TRUST_AD, SC_TRUST_HOSTKEY };
enum sc_accel { SC_ACCEL_AUTO, SC_ACCEL_TCG, SC_ACCEL_KVM };
enum sc_vm_policy { SC_VM_SHIELDED, SC_VM_ENCRYPTION_SUPPORTED };

/* A list of short strings (names, keywords). */
struct sc_list {
	size_t n;
	char *v[SC_MAX_LIST];
	struct sc_pos pos[SC_MAX_LIST];
};

struct sc_hgs {
	char *name;             /* MyHgsService */
	char *domain;           /* relecloud.com */
	int nodes;              /* 1..SC_MAX_NODES */
	enum sc_trust trust;
	int store_pg;           /* store: postgresql (the lab's own server), else sqlite */
	struct sc_pos pos;
};

struct sc_fabric {
	int present;            /* 0 when the file has no fabric: */
	char *domain;           /* fabrikam.com */
	int two_way;            /* trust: two-way */
	struct sc_list groups;
	struct sc_pos pos;
};

struct sc_host {
	char *name;
	struct sc_list groups;
	char *profile;          /* canonical SPEC (hl_profile_to_spec), e.g. "baseline,debug=on" */
	int has_overrides;      /* the profile differs from its base profile */
	char *hgs;              /* HGS name this host attests to (default: hgs.name) */
	struct sc_pos pos;
};

struct sc_file {
	char *name;             /* secret.txt */
	char *content;
};

/* A template disk (templates:). */
struct sc_template {
	char *name;             /* WS2016: the file WORK/templates/WS2016.tdisk */
	char *template_name;    /* the catalog's name (default: name) */
	char *version;          /* a.b.c.d */
	char *signer;           /* a template signer of the tenant */
	size_t n_files;
	struct sc_file files[SC_MAX_LIST];    /* relative paths, may hold @Key@ */
	char *disk_size;        /* NULL: the default */
	int protect_step;       /* index of the first protect_template step naming it, -1: bring-up */
	struct sc_pos pos;
};

/* One volume ID qualifier of shielding data. */
struct sc_qualifier {
	char *template;         /* a template of templates: */
	char *rule;             /* equals, greater-than, greater-than-or-equals */
};

/* Shielding data, a .pdk (shielding_data:). */
struct sc_shielding {
	char *name;
	char *owner;
	struct sc_list guardians;
	size_t n_qualifiers;
	struct sc_qualifier qualifiers[SC_MAX_LIST];
	char *answer_name;      /* NULL: no answer file */
	char *answer_content;
	size_t n_other;
	struct sc_file other[SC_MAX_LIST];
	enum sc_vm_policy policy;
	struct sc_pos pos;
};

/* Specialization data, a .fsk (specialization:): NAME: { "@Key@": value }. */
struct sc_specialization {
	char *name;
	size_t n_values;
	struct sc_file values[SC_MAX_LIST];   /* name = the placeholder, content = its value */
	struct sc_pos pos;
};

/* A cloud of the fabric controller (clouds:). */
struct sc_cloud {
	char *name;
	struct sc_list hosts;   /* in the order deploys try them */
	struct sc_pos pos;
};

struct sc_vm {
	char *name;
	char *owner;
	struct sc_list guardians;
	enum sc_vm_policy policy;
	size_t n_files;
	struct sc_file files[SC_MAX_LIST];
	char *disk_size;        /* NULL: the default */
	struct sc_pos pos;
};

enum sc_step_kind {
	SC_STEP_REGISTER,
	SC_STEP_UNREGISTER,
	SC_STEP_ATTEST,
	SC_STEP_SHIELD,
	SC_STEP_START,
	SC_STEP_STOP,
	SC_STEP_CONNECT,
	SC_STEP_OFFLINE_READ,
	SC_STEP_SET_TRUST,
	SC_STEP_ENABLE_POLICY,
	SC_STEP_DISABLE_POLICY,
	SC_STEP_REBOOT_HOST,
	SC_STEP_CLOCK,
	SC_STEP_KILL,
	SC_STEP_PROTECT_TEMPLATE,
	SC_STEP_ALTER_TEMPLATE,
	SC_STEP_DEPLOY,
	SC_STEP_SECRET_SCAN,
	SC_STEP_ATTACK,
	SC_STEP_KEY_CACHING,
	SC_STEP_BACKUP_HGS,
	SC_STEP_RESTORE_HGS,
	SC_STEP_COUNT
};

/* "register", "attest", ... (the YAML key); NULL for an invalid kind. */
const char *sc_step_name(enum sc_step_kind k);

/*
 * One step.  Fields a kind does not take are NULL / 0; the validator has
 * checked every name against the scenario (hosts, vms, HGS) and every value
 * against its set, and filled the defaults documented above.
 */
struct sc_step {
	enum sc_step_kind kind;
	struct sc_pos pos;      /* of the step's key */
	char *host;             /* register unregister attest start stop connect reboot_host */
	char *vm;               /* shield start stop connect offline_read */
	char *name;             /* enable_policy disable_policy: an Hgs_* policy name */
	char *profile;          /* reboot_host: canonical SPEC, NULL = keep */
	char *component;        /* kill: "hgs", "hgs:OtherHgs", "hgs:HGS02", "dc", "host:FabricHost1" */
	int restart;            /* kill: 1 = bring it back (default) */
	int allow;              /* key_caching: 1 = hosts may cache key material */
	int has_mode;           /* register unregister: mode given */
	enum sc_trust mode;     /* register unregister set_trust */
	int baseline;           /* register: -1 default (the host's profile has no overrides), 0, 1 */
	long long offset_s;     /* clock: seconds, may be negative */
	char *template;         /* protect_template alter_template deploy */
	char *shielding_data;   /* deploy */
	char *specialization;   /* deploy, or NULL */
	char *cloud;            /* deploy */
	char *placed_on;        /* deploy: the host that must get the VM, or NULL */
	int has_skipped;        /* deploy: skipped given (possibly empty) */
	struct sc_list skipped; /* deploy: exactly the hosts skipped */
	char *text;             /* secret_scan */
	char *attack;           /* attack: the attack's name (sim/attack.h) */
	char *by;               /* attack: the attacker's host, or NULL */
	char *expect;           /* the expected outcome word, defaults filled */
	struct sc_list substatus;
	char *reason;           /* substring the reason must contain, or NULL */
	char *explain;          /* teaching text, or NULL */
};

struct scenario {
	char *path;             /* the file as given */
	int version;
	char *name;
	char *description;
	struct sc_list keywords;
	enum sc_accel accel;
	struct sc_hgs hgs;
	size_t n_other_hgs;
	struct sc_hgs *other_hgs;
	struct sc_fabric fabric;
	size_t n_hosts;
	struct sc_host *hosts;
	struct sc_list tenant_guardians;
	size_t n_vms;
	struct sc_vm *vms;
	size_t n_templates;
	struct sc_template *templates;
	size_t n_shielding;
	struct sc_shielding *shielding;
	size_t n_specializations;
	struct sc_specialization *specializations;
	size_t n_clouds;
	struct sc_cloud *clouds;
	size_t n_deployed;      /* the VMs deploy steps name, in order of their first deploy */
	char **deployed;
	size_t n_steps;
	struct sc_step *steps;
};

/*
 * Parse and validate PATH into a new *OUT.  Nothing is started; on an error
 * the message is "PATH:LINE:COL: ..." (hl_error) and *OUT stays NULL.
 */
int scenario_load(const char *path, struct scenario **out);

/* The same from a buffer (PATH is only used in messages). */
int scenario_parse(const char *path, const char *text, size_t len, struct scenario **out);

/* Free S; NULL-safe. */
void scenario_free(struct scenario *s);

/* The host / VM / HGS named NAME, or NULL. */
const struct sc_host *scenario_host(const struct scenario *s, const char *name);
const struct sc_vm *scenario_vm(const struct scenario *s, const char *name);
const struct sc_hgs *scenario_hgs(const struct scenario *s, const char *name);
const struct sc_template *scenario_template(const struct scenario *s, const char *name);
const struct sc_shielding *scenario_shielding(const struct scenario *s, const char *name);
const struct sc_specialization *scenario_specialization(const struct scenario *s,
							const char *name);
const struct sc_cloud *scenario_cloud(const struct scenario *s, const char *name);

/*
 * The last deploy step of VM NAME before step BEFORE (an index; s->n_steps
 * for any), or NULL: a deployed VM's template, shielding data and cloud.
 */
const struct sc_step *scenario_deploy_of(const struct scenario *s, const char *name,
					 size_t before);

/*
 * The HGS kill component COMP names (scenario_parse checked it) into *HGS:
 * 0 for every node of it ("hgs", "hgs:NAME"), the 1-based node for one
 * node ("hgs:HGS02", "hgs:NAME:HGS02"), -1 (*HGS NULL) when COMP is no HGS
 * component of S.
 */
int scenario_component_hgs(const struct scenario *s, const char *comp, const struct sc_hgs **hgs);

/* "tpm", "ad", "hostkey". */
const char *sc_trust_name(enum sc_trust t);

/* 1 when S has keyword K (case-insensitive) or K occurs in its name, else 0. */
int scenario_matches(const struct scenario *s, const char *k);

#endif
