/*
 * remedy.c - the remedy table of remedy.h: a sentence per attestation
 * status, sub-status and KPS refusal reason, and the lookup a report uses
 * to find the one a refusal calls for.  Each sentence says what to do in
 * the real world and, where hgslab models it, how to do it in the lab.
 */
#include "proto/remedy.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

const struct hl_remedy hl_remedies[] = {
	{ HL_REMEDY_STATUS, "UnauthorizedHost", "Register the host with the HGS it attests to: its platform identifier in TPM mode (host get-platform-identifier, then hgs add-tpm-host), its host key in host key mode (host get-host-key, then hgs add-host-key), a group it belongs to in AD mode (hgs add-host-group); then attest again" },
	{ HL_REMEDY_STATUS, "TpmError", "HGS could not verify the host's TPM evidence (EK, AK or quote): check that the host's TPM is the one registered, re-register the host if its TPM was replaced or cleared, then attest again" },
	{ HL_REMEDY_STATUS, "InsecureHostConfiguration", "Fix each boot setting the sub-status names and reboot the host, or register its boot as a new baseline if the change is trusted" },
	{ HL_REMEDY_STATUS, "TransientError", "HGS did not answer or failed: check that HGS runs and is reachable from the host (hgslab status, hgslab diagnose), restart it if needed, then attest again" },
	{ HL_REMEDY_STATUS, "Expired", "The health certificate ran out: let the host attest again (host test-client-configuration), and check that the host's and HGS's clocks agree" },
	{ HL_REMEDY_SUBSTATUS, "SecureBoot", "Turn Secure Boot on in the host's firmware (profile secure_boot=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "SecureBootSettings", "The host's boot measurements (PCRs 0-7) match no registered baseline: if the change is trusted (a firmware update, new hardware), capture the host's boot (host get-baseline-policy) and register it as a new baseline (hgs add-tpm-policy); otherwise find out what changed" },
	{ HL_REMEDY_SUBSTATUS, "CodeIntegrityPolicy", "Make the host enforce a code integrity policy HGS knows (profile ci_policy=NAME here), or register the host's policy if it is trusted (host get-ci-policy, then hgs add-ci-policy), and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "HypervisorEnforcedCodeIntegrityPolicy", "Turn hypervisor-enforced code integrity on (HVCI; profile hvci=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "FullBoot", "Restart the host with a full boot instead of resuming it from hibernation (profile resumed=no here)" },
	{ HL_REMEDY_SUBSTATUS, "VirtualSecureMode", "Turn virtualization-based security (VSM) on (profile vsm=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "PagefileEncryption", "Turn page file encryption on (fsutil behavior set encryptpagingfile 1 in the real world; profile pagefile_encryption=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "BitLocker", "Turn BitLocker on for the host's operating system volume (profile bitlocker=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "Iommu", "Turn the IOMMU on in the host's firmware (Intel VT-d or AMD-Vi; profile iommu=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "HibernationEnabled", "Turn hibernation off (powercfg /hibernate off in the real world; profile hibernation=off here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "DumpsEnabled", "Turn crash dumps off (profile dumps=off here), or encrypt them with a key HGS knows, and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "DumpEncryption", "Turn crash dump encryption on (profile dump_encryption=on here) and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "DumpEncryptionKey", "Encrypt crash dumps with a key a registered baseline measures (profile dump_key=NAME here), or register a baseline that measures the host's key, and reboot the host" },
	{ HL_REMEDY_SUBSTATUS, "TcgLogVerification", "The host's TCG log does not describe its TPM's PCRs or is malformed: reboot the host so that its log and PCRs agree; if it persists, its firmware or boot chain is faulty" },
	{ HL_REMEDY_SUBSTATUS, "DebugMode", "Turn boot debugging off (bcdedit /debug off in the real world; profile debug=off here) and reboot the host" },
	{ HL_REMEDY_KPS, "MalformedRequest", "The host's request to KPS was not well-formed: use the same hgslab on the host and on HGS, then start the VM again" },
	{ HL_REMEDY_KPS, "MalformedKeyProtector", "The VM's key protector is damaged: restore it from the tenant (tenant shield-vm, or the tenant's copy of the key protector)" },
	{ HL_REMEDY_KPS, "MalformedHealthCertificate", "The host sent something that is not a certificate as its health certificate: let the host attest again for a fresh one (host test-client-configuration)" },
	{ HL_REMEDY_KPS, "NoHealthCertificate", "The host has no health certificate: let it pass attestation first (host test-client-configuration), then start the VM again" },
	{ HL_REMEDY_KPS, "NotAHealthCertificate", "The host presented a certificate that is not an HGS health certificate: let it attest to this HGS for one, then start the VM again" },
	{ HL_REMEDY_KPS, "UntrustedHealthCertificate", "The health certificate was signed by another HGS: point the host at the HGS whose KPS holds the VM's key (host set-client-configuration) and attest again" },
	{ HL_REMEDY_KPS, "HostFailedAttestation", "The host failed attestation: fix what its attestation status and sub-status say (hgslab diagnose), attest again, then start the VM" },
	{ HL_REMEDY_KPS, "HealthCertificateExpired", "The health certificate ran out: let the host attest again, and check that the host's and HGS's clocks agree" },
	{ HL_REMEDY_KPS, "HealthCertificateNotYetValid", "The health certificate is not valid yet: set the host's and HGS's clocks right (NTP in the real world; DIR/clock-offset here), then attest again" },
	{ HL_REMEDY_KPS, "HealthCertificateIssuedBeforeCutoff", "The health certificate predates KPS's cut-off (hgs set-key-protection-policy): let the host attest again for a new one" },
	{ HL_REMEDY_KPS, "OwnerSignatureInvalid", "The key protector's owner signature does not verify, so it was altered: restore it from the tenant or shield the VM again" },
	{ HL_REMEDY_KPS, "GuardianNotListed", "The key protector does not name this HGS's guardian: the tenant grants this fabric access (tenant import-guardian with the HGS's guardian metadata, then tenant grant-key-protector-access)" },
	{ HL_REMEDY_KPS, "EncryptionCertificateDisabled", "The KPS encryption certificate the key protector names is disabled: enable it again (hgs set-key-protection-certificate) or have the tenant protect the VM to the current one" },
	{ HL_REMEDY_KPS, "KeyProtectorUnwrapFailed", "KPS could not unwrap the transport key with its certificate: the key protector was made for another key; have the tenant protect the VM to this HGS's current guardian" },
	{ HL_REMEDY_KPS, "InternalError", "KPS failed on its side: read the HGS node's log (hgs.log in its directory), fix the node and start the VM again" },
	{ 0, NULL, NULL },
};

const char *hl_remedy_kind_name(enum hl_remedy_kind kind)
{
	return kind == HL_REMEDY_STATUS ? "AttestationStatus" :
	       kind == HL_REMEDY_SUBSTATUS ? "AttestationSubStatus" : "KPS reason";
}

/* The remedy of row NAME of KIND, or NULL. */
static const char *lookup(enum hl_remedy_kind kind, const char *name, size_t len)
{
	for (const struct hl_remedy *r = hl_remedies; r->name; r++)
		if (r->kind == kind && strlen(r->name) == len && !strncmp(r->name, name, len))
			return r->remedy;
	return NULL;
}

const char *hl_remedy_status(enum hgs_status s)
{
	const char *name = s == HGS_STATUS_PASSED ? NULL : hgs_status_name(s);

	return name ? lookup(HL_REMEDY_STATUS, name, strlen(name)) : NULL;
}

const char *hl_remedy_substatus(uint32_t bit)
{
	const char *name = hgs_substatus_name(bit);

	return name ? lookup(HL_REMEDY_SUBSTATUS, name, strlen(name)) : NULL;
}

const char *hl_remedy_kps(const char *name)
{
	return name ? lookup(HL_REMEDY_KPS, name, strlen(name)) : NULL;
}

/* The remedy of the first row of KIND whose name is a whole word of TEXT, or NULL. */
static const char *first_named(enum hl_remedy_kind kind, const char *text)
{
	const char *best = NULL, *best_at = NULL;

	if (!text)
		return NULL;
	for (const struct hl_remedy *r = hl_remedies; r->name; r++) {
		size_t n = strlen(r->name);

		if (r->kind != kind)
			continue;
		for (const char *p = strstr(text, r->name); p; p = strstr(p + 1, r->name)) {
			if ((p > text && isalnum((unsigned char)p[-1])) || isalnum((unsigned char)p[n]))
				continue;
			if (!best_at || p < best_at) {
				best_at = p;
				best = r->remedy;
			}
			break;
		}
	}
	return best;
}

const char *hl_remedy_find(const char *got, const char *substatus, const char *reason)
{
	enum hgs_status s = HGS_STATUS_PASSED;
	size_t n;
	const char *r;

	if (!got)
		return NULL;
	n = strcspn(got, " (");
	if (n != strlen("refused") || strncmp(got, "refused", n) != 0) {
		for (int i = HGS_STATUS_PASSED + 1; i < HGS_STATUS_COUNT && s == HGS_STATUS_PASSED; i++)
			if (strlen(hgs_status_name((enum hgs_status)i)) == n &&
			    !strncmp(got, hgs_status_name((enum hgs_status)i), n))
				s = (enum hgs_status)i;
		if (s == HGS_STATUS_PASSED)        /* Passed, "running", "allowed", ... */
			return NULL;
	}
	if ((r = first_named(HL_REMEDY_SUBSTATUS, substatus)) ||
	    (r = first_named(HL_REMEDY_KPS, reason)) ||
	    (r = first_named(HL_REMEDY_SUBSTATUS, got)) ||
	    (r = first_named(HL_REMEDY_SUBSTATUS, reason)))
		return r;
	if (s != HGS_STATUS_PASSED)
		return hl_remedy_status(s);
	return first_named(HL_REMEDY_STATUS, reason);
}
