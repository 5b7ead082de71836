/*
 * attest.c - names and parsing for the attestation vocabulary of attest.h.
 */
#include "proto/attest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

static const char *const status_names[HGS_STATUS_COUNT] = {
	"Passed", "UnauthorizedHost", "TpmError", "InsecureHostConfiguration",
	"TransientError", "Expired",
};

static const char *const substatus_names[HGS_SUB_COUNT] = {
	"SecureBoot", "SecureBootSettings", "CodeIntegrityPolicy",
	"HypervisorEnforcedCodeIntegrityPolicy", "FullBoot", "VirtualSecureMode",
	"PagefileEncryption", "BitLocker", "Iommu", "HibernationEnabled", "DumpsEnabled",
	"DumpEncryption", "DumpEncryptionKey", "TcgLogVerification", "DebugMode",
};

static const char *const mode_names[] = { "tpm", "ad", "hostkey" };

const char *hgs_status_name(enum hgs_status s)
{
	return (unsigned)s < HGS_STATUS_COUNT ? status_names[s] : NULL;
}

int hgs_status_parse(const char *name, enum hgs_status *out)
{
	for (int i = 0; i < HGS_STATUS_COUNT; i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*out = (enum hgs_status)i;
			return 0;
		}
	}
	return hl_error("unknown attestation status '%s'", name);
}

const char *hgs_substatus_name(uint32_t bit)
{
	for (int i = 0; i < HGS_SUB_COUNT; i++)
		if (bit == (1u << i))
			return substatus_names[i];
	return NULL;
}

int hgs_substatus_parse(const char *name, uint32_t *bit)
{
	for (int i = 0; i < HGS_SUB_COUNT; i++) {
		if (strcmp(name, substatus_names[i]) == 0) {
			*bit = 1u << i;
			return 0;
		}
	}
	return hl_error("unknown attestation sub-status '%s'", name);
}

void hgs_substatus_format(uint32_t bits, char *buf, size_t size)
{
	size_t used = 0;

	if (size)
		buf[0] = '\0';
	for (int i = 0; i < HGS_SUB_COUNT && used < size; i++) {
		if (!(bits & (1u << i)))
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
					 substatus_names[i]);
	}
}

const char *hgs_mode_name(enum hgs_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : NULL;
}

int hgs_mode_parse(const char *name, enum hgs_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*out = (enum hgs_mode)i;
			return 0;
		}
	}
	return hl_error("unknown trust mode '%s'; use tpm, ad or hostkey", name);
}

int hgs_result_fail(struct hgs_result *r, enum hgs_status status, uint32_t substatus,
		    const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	r->substatus = substatus;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return 0;
}

void hgs_result_pass(struct hgs_result *r)
{
	r->status = HGS_STATUS_PASSED;
	r->substatus = 0;
	r->reason[0] = '\0';
}
