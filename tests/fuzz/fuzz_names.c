/*
 * fuzz_names.c - libFuzzer target: the name validators every verb, the
 * scenario checker and HGS apply to names from outside (proto/names.h, the
 * DNS names of lib/dnsname.h, the template, file, placeholder and path
 * names of proto/vsc, pdk and fsk), and the small text forms parsed beside
 * them (versions, rules, statuses, modes, SIDs in a domain).
 *
 * The input is the name (NUL-terminated copy; a NUL inside cuts it as C
 * code would).  Beyond "never crashes", every accepted name must fit the
 * buffer its *_SIZE constant promises: a name that validates but does not
 * fit aborts (a wrong constant would truncate or overflow callers), and so
 * does a template version that does not read back as itself once written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dnsname.h"
#include "lib/err.h"
#include "proto/ad_ticket.h"
#include "proto/attest.h"
#include "proto/fsk.h"
#include "proto/names.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "tests/fuzz/fuzzutil.h"

/* Fail when validator result RC accepted NAME but NAME needs more than SIZE bytes (WHAT names it). */
static void fits(int rc, const char *name, size_t size, const char *what)
{
	char msg[128];

	if (rc == 0 && strlen(name) + 1 > size) {
		snprintf(msg, sizeof(msg), "%s accepts %zu characters, its buffers hold %zu",
			 what, strlen(name), size - 1);
		fz_fail(msg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size);
	const char *value = s + strlen(s);
	struct hl_vsc_version v, again;
	char vbuf[HL_VSC_VERSION_SIZE];
	enum hl_viq_rule rule;
	enum hgs_status status;
	enum hgs_mode mode;
	uint32_t bit;

	if (value < s + size)     /* "NAME\0VALUE": a placeholder and its value */
		value++;
	fits(hl_name_computer("host name", s), s, HL_NAME_COMPUTER_SIZE, "hl_name_computer");
	fits(hl_name_group(s), s, HL_NAME_GROUP_SIZE, "hl_name_group");
	fits(hl_name_sid(s), s, AD_SID_MAX, "hl_name_sid");
	fits(hl_name_hgs(s), s, HL_NAME_HGS_SIZE, "hl_name_hgs");
	fits(hl_name_vm(s), s, HL_NAME_VM_SIZE, "hl_name_vm");
	fits(hl_name_registration("host name", s), s, HL_NAME_REG_SIZE, "hl_name_registration");
	fits(hl_name_guardian(s), s, HL_NAME_GUARDIAN_SIZE, "hl_name_guardian");
	fits(hl_name_signer(s), s, HL_NAME_GUARDIAN_SIZE, "hl_name_signer");
	fits(hl_dnsname_check(s), s, HL_DNSNAME_MAX, "hl_dnsname_check");
	fits(hl_vsc_name_check(s), s, HL_VSC_NAME_SIZE, "hl_vsc_name_check");
	fits(hl_pdk_file_name_check(s, "file"), s, HL_PDK_FILE_NAME_SIZE, "hl_pdk_file_name_check");
	fits(hl_fsk_key_check(s), s, HL_FSK_KEY_SIZE, "hl_fsk_key_check");
	fits(hl_fsk_path_check(s), s, HL_FSK_PATH_MAX + 1, "hl_fsk_path_check");
	hl_fsk_value_check(s, value);
	hl_pdk_policy_check(s);
	if (hl_vsc_version_parse(s, &v) == 0) {      /* a version reads back as itself */
		hl_vsc_version_format(&v, vbuf);
		if (hl_vsc_version_parse(vbuf, &again) < 0 || hl_vsc_version_cmp(&v, &again) != 0)
			fz_fail("a template version does not read back as itself");
	}
	hl_viq_rule_parse(s, &rule);
	hgs_status_parse(s, &status);
	hgs_substatus_parse(s, &bit);
	hgs_mode_parse(s, &mode);
	ad_sid_in_domain(s, value);
	hl_error_clear();
	free(s);
	return 0;
}
