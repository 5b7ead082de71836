/*
 * test_keycache.c - the key material cache of a guarded host
 * (hosts/keycache, hosts/tpm_host's sealing) against real swtpm TPMs: a
 * host made once by host_create (its TPM manufactured), copied for each
 * test, whose TPM the cache opens as production does (host_tpm_open with
 * the measured boot replayed).  Sealing round trip; the TPM's refusal after
 * a PCR extend and after a reboot into debug, which no edit of the entry
 * file undoes; a tampered blob; no clear key in any file; invalidation; the
 * entry folder never followed through a link; the reader of HGS's fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts/agent.h"
#include "hosts/host.h"
#include "hosts/keycache.h"
#include "hosts/kps_client.h"
#include "hosts/profile.h"
#include "hosts/tpm_host.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/tpm.h"
#include "tests/unit/testutil.h"

static char group_dir[PATH_MAX];
static char template_dir[PATH_MAX];

/* One test's sandbox: a copy of the template host in DIR/host. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char host[128];
	struct host *h;
	unsigned char tk[HL_KP_TK_LEN];
	char kp[64];                /* stands for the VM's KP file */
};

/* Make the template host FabricHost1 (and its TPM) once. */
static int group_setup(void **state)
{
	struct host_new_params p = { 0 };

	(void)state;
	if (tu_mkdtemp(group_dir, sizeof(group_dir), "keycache") < 0)
		return -1;
	snprintf(template_dir, sizeof(template_dir), "%s/template", group_dir);
	p.dir = template_dir;
	p.name = "FabricHost1";
	p.domain = "fabrikam.com";
	p.listen = "127.0.0.1";
	if (host_create(&p) < 0) {
		fprintf(stderr, "host_create: %s\n", hl_error_last());
		return -1;
	}
	return 0;
}

/* Remove the template host. */
static int group_teardown(void **state)
{
	(void)state;
	return tu_rmtree(group_dir);
}

/* A test's own copy of the template host, open, with a random TK. */
static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "keycache1");

	if (!s)
		return -1;
	snprintf(s->host, sizeof(s->host), "%s/host", s->dir);
	snprintf(s->kp, sizeof(s->kp), "{\"format\": \"hgslab-kp\", \"id\": \"kp-1\"}");
	if (tu_sh("cp -a '%s' '%s'", template_dir, s->host) < 0 || host_open(s->host, &s->h) < 0 ||
	    hl_crypto_random(s->tk, sizeof(s->tk)) < 0) {
		tu_sandbox_free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* Close the test's host and remove its sandbox. */
static int sandbox_teardown(void **state)
{
	struct sandbox *s = *state;

	host_close(s->h);
	return tu_sandbox_free(s);
}

/* The sandbox's TK as an hl_buf (not owned). */
static struct hl_buf tk_of(struct sandbox *s)
{
	struct hl_buf b = { s->tk, sizeof(s->tk) };

	return b;
}

/* Store the sandbox's TK for VM with generation GEN. */
static void store(struct sandbox *s, const char *vm, const char *gen)
{
	struct hl_buf tk = tk_of(s);

	assert_int_equal(hosts_keycache_store(s->h, vm, s->kp, strlen(s->kp), gen, &tk), 0);
}

/* Open VM's entry: the result; on OPENED the key must be the sandbox's TK. */
static int open_entry(struct sandbox *s, const char *vm, char *why, size_t size)
{
	struct hl_buf tk = { NULL, 0 };
	int r = hosts_keycache_open(s->h, vm, s->kp, strlen(s->kp), &tk, why, size);

	if (r == HOSTS_KEYCACHE_OPENED) {
		assert_int_equal(tk.len, sizeof(s->tk));
		assert_memory_equal(tk.data, s->tk, sizeof(s->tk));
	} else {
		assert_null(tk.data);
	}
	hl_buf_free(&tk);
	return r;
}

/* Reboot the host into profile SPEC (the cache replays that boot into the TPM). */
static void set_profile(struct sandbox *s, const char *spec)
{
	struct hl_profile p;

	assert_int_equal(hl_profile_parse(spec, &p), 0);
	assert_int_equal(host_set_profile(s->h, &p), 0);
}

/* Rewrite member NAME of VM's entry with jq program EDIT. */
static void entry_edit(struct sandbox *s, const char *vm, const char *edit)
{
	assert_int_equal(tu_sh("cd '%s/keycache' && jq -c '%s' %s > .e && cat .e > %s && rm .e",
			       s->host, edit, vm, vm), 0);
}

static void test_round_trip(void **state)
{
	struct sandbox *s = *state;
	char why[1024], *text;
	json_t *e = NULL, *pcrs;

	store(s, "ShieldedVM1", "GEN1");
	assert_int_equal(tu_mode_of(tu_path("%s/keycache", s->host)), 0700);
	assert_int_equal(tu_mode_of(tu_path("%s/keycache/ShieldedVM1", s->host)), 0600);
	text = tu_slurp(tu_path("%s/keycache/ShieldedVM1", s->host), NULL);
	assert_int_equal(hl_json_parse(text, strlen(text), 0, &e), 0);
	free(text);
	assert_string_equal(json_string_value(json_object_get(e, "PolicyGeneration")), "GEN1");
	assert_string_equal(json_string_value(json_object_get(e, "Bank")), "sha256");
	pcrs = json_object_get(e, "Pcrs");
	assert_int_equal(json_array_size(pcrs), 12);
	assert_int_equal(json_integer_value(json_array_get(pcrs, 7)), 7);
	assert_int_equal(json_integer_value(json_array_get(pcrs, 8)), 11);
	json_decref(e);
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_OPENED);
	/* a second start from the same entry */
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_OPENED);
	/* no entry, or an entry of another KP: nothing to open */
	assert_int_equal(open_entry(s, "ShieldedVM2", why, sizeof(why)), HOSTS_KEYCACHE_NONE);
	assert_non_null(strstr(why, "holds no cached key material for VM 'ShieldedVM2'"));
	snprintf(s->kp, sizeof(s->kp), "{\"format\": \"hgslab-kp\", \"id\": \"kp-2\"}");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_NONE);
	assert_non_null(strstr(why, "another key protector"));
	/* a VM name that is not one never becomes a path */
	assert_int_equal(open_entry(s, "../state.json", why, sizeof(why)), -1);
}

/* The TPM itself: a sealed object opens only while the PCRs are as they were. */
static void test_tpm_refuses_after_extend(void **state)
{
	struct sandbox *s = *state;
	struct hosts_tpm_key sealed = { { NULL, 0 }, { NULL, 0 } };
	struct hl_buf out = { NULL, 0 };
	uint8_t digest[HL_TPM_SHA256_LEN];
	struct host_tpm *t = NULL;
	struct hl_tpm *tpm;

	assert_int_equal(host_tpm_open(s->h, 1, 0, &t), 0);
	assert_non_null(tpm = host_tpm_connect(t));
	assert_int_equal(hosts_tpm_seal(tpm, HOSTS_KEYCACHE_PCRS, s->tk, sizeof(s->tk), &sealed),
			 0);
	assert_int_equal(hosts_tpm_unseal(tpm, &sealed, HOSTS_KEYCACHE_PCRS, &out), 0);
	assert_int_equal(out.len, sizeof(s->tk));
	assert_memory_equal(out.data, s->tk, sizeof(s->tk));
	hl_buf_free(&out);
	/* a PCR outside the policy changes nothing */
	memset(digest, 0x5a, sizeof(digest));
	assert_int_equal(hl_tpm_pcr_extend(tpm, 16, digest), 0);
	assert_int_equal(hosts_tpm_unseal(tpm, &sealed, HOSTS_KEYCACHE_PCRS, &out), 0);
	hl_buf_free(&out);
	/* one of the policy's PCRs extended: the TPM refuses */
	assert_int_equal(hl_tpm_pcr_extend(tpm, 12, digest), 0);
	assert_int_equal(hosts_tpm_unseal(tpm, &sealed, HOSTS_KEYCACHE_PCRS, &out),
			 HOSTS_TPM_POLICY_FAIL);
	assert_error_has("the PCRs it is sealed to have other values now");
	assert_null(out.data);
	hl_error_clear();
	/* nothing left loaded in the TPM, success or refusal */
	assert_int_equal(hl_tpm_transient_count(tpm), 0);
	/* too much to seal */
	hosts_tpm_key_release(&sealed);
	assert_int_equal(hosts_tpm_seal(tpm, HOSTS_KEYCACHE_PCRS, s->tk, HOSTS_TPM_SEAL_MAX + 1,
					&sealed), -1);
	hosts_tpm_key_release(&sealed);
	host_tpm_close(t);
}

/* A reboot with debug on changes PCR 12: the TPM refuses, whatever the file says. */
static void test_refused_after_debug_reboot(void **state)
{
	struct sandbox *s = *state;
	char why[1024];

	store(s, "ShieldedVM1", "GEN1");
	set_profile(s, "baseline,debug=on");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_MISMATCH);
	assert_non_null(strstr(why, "does not match the measured boot"));
	assert_non_null(strstr(why, "the PCRs it is sealed to have other values now"));
	/* the entry's generation, PCR list or creation time are no flags: still refused */
	entry_edit(s, "ShieldedVM1", ".PolicyGeneration = \"ANYTHING\" | .Pcrs = [16] | "
		   ".Created = 0");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_MISMATCH);
	/* back in the configuration it was sealed to, it opens again */
	set_profile(s, "baseline");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_OPENED);
	/* another change of the boot configuration (IOMMU off: PCR 12 too) is refused as well */
	set_profile(s, "baseline,iommu=off");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_MISMATCH);
}

/* A changed byte in either blob: the TPM refuses to load the object. */
static void test_tampered_blob(void **state)
{
	struct sandbox *s = *state;
	char why[1024];

	store(s, "ShieldedVM1", "GEN1");
	assert_int_equal(tu_sh("cp '%s/keycache/ShieldedVM1' '%s/entry'", s->host, s->dir), 0);
	/* a byte near the end of the private blob (its encrypted sensitive part) */
	entry_edit(s, "ShieldedVM1", ".Private |= (@base64d | explode | .[-3] = ((.[-3] + 1) % 256)"
		   " | implode | @base64)");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), -1);
	hl_error_clear();
	/* the public area: an attacker's own authPolicy (any change of its name) */
	assert_int_equal(tu_sh("cp '%s/entry' '%s/keycache/ShieldedVM1'", s->dir, s->host), 0);
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), HOSTS_KEYCACHE_OPENED);
	entry_edit(s, "ShieldedVM1", ".Public |= (@base64d | explode | .[-3] = ((.[-3] + 1) % 256)"
		   " | implode | @base64)");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), -1);
	hl_error_clear();
	/* not an entry at all */
	tu_put(tu_path("%s/keycache/ShieldedVM1", s->host), "not json");
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), -1);
	hl_error_clear();
}

/* The TK appears in no file of the host directory, in bytes, hex or base64. */
static void test_no_clear_key(void **state)
{
	struct sandbox *s = *state;
	char hex[2 * HL_KP_TK_LEN + 1];
	struct hl_buf b64 = { NULL, 0 };

	store(s, "ShieldedVM1", "GEN1");
	assert_int_equal(hl_crypto_hex_encode(s->tk, sizeof(s->tk), hex, sizeof(hex)), 0);
	assert_int_equal(hl_crypto_base64_encode(s->tk, sizeof(s->tk), &b64), 0);
	tu_put(tu_path("%s/needle.hex", s->dir), hex);
	tu_put(tu_path("%s/needle.b64", s->dir), (const char *)b64.data);
	hl_buf_free(&b64);
	{
		FILE *f = fopen(tu_path("%s/needle.bin", s->dir), "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(s->tk, 1, sizeof(s->tk), f), sizeof(s->tk));
		fclose(f);
	}
	/* grep -F -f with a binary needle: no file under the host directory holds it */
	assert_int_not_equal(tu_sh("grep -rqiF -f '%s/needle.hex' '%s'", s->dir, s->host), 0);
	assert_int_not_equal(tu_sh("grep -rqF -f '%s/needle.b64' '%s'", s->dir, s->host), 0);
	assert_int_not_equal(tu_sh("LC_ALL=C grep -rqaF -f '%s/needle.bin' '%s'", s->dir,
				   s->host), 0);
	/* the check itself finds a planted copy */
	assert_int_equal(tu_sh("cp '%s/needle.bin' '%s/planted'", s->dir, s->host), 0);
	assert_int_equal(tu_sh("LC_ALL=C grep -rqaF -f '%s/needle.bin' '%s'", s->dir, s->host), 0);
}

/* What HGS says drops stale entries; a refusal or clear-key-cache too. */
static void test_invalidation(void **state)
{
	struct sandbox *s = *state;
	struct hosts_keycache_policy p = { 0 };
	size_t removed = 9;

	store(s, "ShieldedVM1", "GEN1");
	store(s, "ShieldedVM2", "GEN1");
	store(s, "ShieldedVM3", "GEN2");
	/* an answer without the fields (an older HGS) changes nothing */
	assert_int_equal(hosts_keycache_learn(s->h, &p, &removed), 0);
	assert_int_equal(removed, 0);
	/* the same generation keeps, another drops */
	p.known = 1;
	p.allowed = 1;
	snprintf(p.generation, sizeof(p.generation), "GEN1");
	assert_int_equal(hosts_keycache_learn(s->h, &p, &removed), 0);
	assert_int_equal(removed, 1);
	assert_false(tu_exists(tu_path("%s/keycache/ShieldedVM3", s->host)));
	assert_true(tu_exists(tu_path("%s/keycache/ShieldedVM1", s->host)));
	/* one VM's entry (KPS refused it) */
	assert_int_equal(hosts_keycache_remove(s->h, "ShieldedVM2", &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(hosts_keycache_remove(s->h, "ShieldedVM2", &removed), 0);
	assert_int_equal(removed, 0);
	/* caching off: everything */
	store(s, "ShieldedVM3", "GEN1");
	p.allowed = 0;
	assert_int_equal(hosts_keycache_learn(s->h, &p, &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(tu_count_prefix(tu_path("%s/keycache", s->host), "Shielded"), 0);
	/* clear-key-cache */
	store(s, "ShieldedVM1", "GEN1");
	assert_int_equal(hosts_keycache_clear(s->h, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(hosts_keycache_clear(s->h, &removed), 0);
	assert_int_equal(removed, 0);
}

/* The resolve step start-vm takes: KPS first, the cache only when HGS is down. */
static void test_resolve(void **state)
{
	struct sandbox *s = *state;
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { NULL, 0 };
	char why[1024];

	memset(&u, 0, sizeof(u));
	/* released, caching allowed: sealed */
	u.outcome = HOSTS_KPS_OPENED;
	u.release.caching.known = u.release.caching.allowed = 1;
	snprintf(u.release.caching.generation, sizeof(u.release.caching.generation), "GEN1");
	tk = tk_of(s);
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_KPS);
	assert_true(tu_exists(tu_path("%s/keycache/ShieldedVM1", s->host)));
	/* HGS down (KPS unreachable): from the cache */
	memset(&u, 0, sizeof(u));
	u.outcome = HOSTS_KPS_UNREACHABLE;
	tk.data = NULL;
	tk.len = 0;
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_CACHE);
	assert_memory_equal(tk.data, s->tk, sizeof(s->tk));
	hl_buf_free(&tk);
	/* HGS down after a reboot (attestation TransientError): from the cache too */
	u.outcome = HOSTS_KPS_NOT_HEALTHY;
	snprintf(u.status, sizeof(u.status), "TransientError");
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_CACHE);
	hl_buf_free(&tk);
	/* a host HGS refused is refused: the cache is not a way around attestation */
	snprintf(u.status, sizeof(u.status), "InsecureHostConfiguration");
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_NONE);
	assert_null(tk.data);
	/* debug on, HGS down: the TPM refuses */
	set_profile(s, "baseline,debug=on");
	u.outcome = HOSTS_KPS_UNREACHABLE;
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_CACHE_MISMATCH);
	assert_non_null(strstr(why, "does not match the measured boot"));
	/* KPS refused the key: its entry goes */
	u.outcome = HOSTS_KPS_REFUSED;
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_NONE);
	assert_false(tu_exists(tu_path("%s/keycache/ShieldedVM1", s->host)));
	/* released while HGS no longer allows caching: nothing is sealed */
	set_profile(s, "baseline");
	u.outcome = HOSTS_KPS_OPENED;
	u.release.caching.known = 1;
	u.release.caching.allowed = 0;
	tk = tk_of(s);
	assert_int_equal(hosts_keycache_resolve(s->h, "ShieldedVM1", s->kp, strlen(s->kp), &u, &tk,
						why, sizeof(why)), HOSTS_KEY_KPS);
	assert_false(tu_exists(tu_path("%s/keycache/ShieldedVM1", s->host)));
}

/* Links are never followed: not the folder, not an entry. */
static void test_links(void **state)
{
	struct sandbox *s = *state;
	char why[1024];

	store(s, "ShieldedVM1", "GEN1");
	assert_int_equal(tu_sh("cp '%s/keycache/ShieldedVM1' '%s/elsewhere' && rm "
			       "'%s/keycache/ShieldedVM1' && ln -s '%s/elsewhere' "
			       "'%s/keycache/ShieldedVM1'", s->host, s->dir, s->host, s->dir,
			       s->host), 0);
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), -1);
	assert_error_has("symbolic link");
	hl_error_clear();
	/* a new entry replaces the link, the file it pointed to is untouched */
	assert_int_equal(tu_sh("cp '%s/elsewhere' '%s/before'", s->dir, s->dir), 0);
	store(s, "ShieldedVM1", "GEN2");
	assert_int_equal(tu_sh("test ! -L '%s/keycache/ShieldedVM1' && cmp -s '%s/elsewhere' "
			       "'%s/before'", s->host, s->dir, s->dir), 0);
	/* the folder itself a link */
	assert_int_equal(tu_sh("mv '%s/keycache' '%s/kc' && ln -s '%s/kc' '%s/keycache'", s->host,
			       s->dir, s->dir, s->host), 0);
	assert_int_equal(open_entry(s, "ShieldedVM1", why, sizeof(why)), -1);
	hl_error_clear();
}

/* The one reader of HGS's two fields. */
static void test_policy_read(void **state)
{
	struct hosts_keycache_policy p;
	json_t *o;

	(void)state;
	o = json_pack("{s:s}", "status", "Passed");
	assert_int_equal(hosts_keycache_policy_read(o, &p), 0);
	assert_false(p.known);
	json_decref(o);
	o = json_pack("{s:b}", "KeyMaterialCaching", 0);
	assert_int_equal(hosts_keycache_policy_read(o, &p), 0);
	assert_true(p.known);
	assert_false(p.allowed);
	json_decref(o);
	o = json_pack("{s:b, s:s}", "KeyMaterialCaching", 1, "PolicyGeneration", "0A1B2C3D4E5F6071");
	assert_int_equal(hosts_keycache_policy_read(o, &p), 0);
	assert_true(p.known && p.allowed);
	assert_string_equal(p.generation, "0A1B2C3D4E5F6071");
	json_decref(o);
	o = json_pack("{s:b}", "KeyMaterialCaching", 1);
	assert_int_equal(hosts_keycache_policy_read(o, &p), -1);
	assert_error_has("policy generation");
	json_decref(o);
	o = json_pack("{s:s}", "KeyMaterialCaching", "yes");
	assert_int_equal(hosts_keycache_policy_read(o, &p), -1);
	json_decref(o);
	hl_error_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_read),
		cmocka_unit_test_setup_teardown(test_round_trip, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_tpm_refuses_after_extend, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_refused_after_debug_reboot, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_blob, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_no_clear_key, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_invalidation, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_resolve, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_links, sandbox_setup, sandbox_teardown),
	};

	return cmocka_run_group_tests_name("keycache", tests, group_setup, group_teardown);
}
