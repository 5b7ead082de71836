/*
 * measured_boot.c - turns a host's boot profile into its measured boot: a
 * crypto-agile TCG event log (lib/tcglog writer, SHA-1 + SHA-256 banks) that
 * looks like a UEFI firmware booting Windows Server on a Hyper-V-capable
 * machine, and the list of PCR extends the host agent replays into its swtpm
 * (see measured_boot.h for what goes into which PCR).
 *
 * Firmware structures (UEFI_VARIABLE_DATA, EFI_SIGNATURE_LIST, EFI device
 * paths, UEFI_GPT_DATA, UEFI_IMAGE_LOAD_EVENT...) are laid out as the UEFI and
 * PFP specifications define them, so tpm2_eventlog decodes them; the objects
 * they describe (firmware volume, option ROM, boot manager image, key
 * hashes) are stand-in byte strings derived from the profile, so the same
 * profile always yields the same log.  The boot-configuration events of PCRs
 * 12-14 come from lib/wbcl.
 */
#include "hosts/measured_boot.h"

#include "lib/crypto.h"
#include "lib/endian.h"
#include "lib/err.h"
#include "proto/tcglog.h"
#include "proto/wbcl.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EFI_GUIDs, in memory byte order. */
static const uint8_t guid_smbios3[16] = {     /* F2FD1544-9794-4A2C-992E-E5BBCF20E394 */
	0x44, 0x15, 0xfd, 0xf2, 0x94, 0x97, 0x2c, 0x4a,
	0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94,
};
static const uint8_t guid_microsoft[16] = {   /* 77FA9ABD-0359-4D32-BD60-28F4E78F784B */
	0xbd, 0x9a, 0xfa, 0x77, 0x59, 0x03, 0x32, 0x4d,
	0xbd, 0x60, 0x28, 0xf4, 0xe7, 0x8f, 0x78, 0x4b,
};
static const uint8_t guid_hgslab_oem[16] = {  /* 48474C41-4221-4F45-8D00-4847534C4142 */
	0x41, 0x4c, 0x47, 0x48, 0x21, 0x42, 0x45, 0x4f,
	0x8d, 0x00, 0x48, 0x47, 0x53, 0x4c, 0x41, 0x42,
};
static const uint8_t guid_esp_type[16] = {    /* C12A7328-F81F-11D2-BA4B-00A0C93EC93B */
	0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
	0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
};
static const uint8_t guid_msr_type[16] = {    /* E3C9E316-0B5C-4DB8-817D-F92DF00215AE */
	0x16, 0xe3, 0xc9, 0xe3, 0x5c, 0x0b, 0xb8, 0x4d,
	0x81, 0x7d, 0xf9, 0x2d, 0xf0, 0x02, 0x15, 0xae,
};
static const uint8_t guid_basic_data[16] = {  /* EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 */
	0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44,
	0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7,
};

#define BOOTMGR_PATH "\\EFI\\Microsoft\\Boot\\bootmgfw.efi"
#define ESP_START_LBA 2048
#define ESP_SIZE_LBA 204800

/* Write ASCII S as UTF-16LE at P (plus a NUL when NUL); returns the bytes written. */
static size_t put_utf16(uint8_t *p, const char *s, int nul)
{
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++)
		hl_put_le16(p + 2 * i, (uint8_t)s[i]);
	if (nul)
		hl_put_le16(p + 2 * n, 0);
	return 2 * (n + (nul ? 1 : 0));
}

/* CRC-32 (IEEE, as GPT uses) of LEN bytes at P. */
static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* SHA-256 of the text "hgslab " + WHAT (+ " " + ARG) into OUT: a stand-in object hash. */
static int standin_sha256(const char *what, const char *arg, uint8_t out[32])
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "hgslab %s%s%s", what, arg ? " " : "", arg ? arg : "");

	return hl_crypto_sha256(buf, (size_t)n, out);
}

/* Append an event with data BUF (LEN bytes), digests H(data); frees BUF in every case. */
static int add_owned(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type, uint8_t *buf,
		     size_t len)
{
	int ret = hl_tcglog_writer_add(w, pcr, type, buf, len);

	free(buf);
	return ret;
}

/* A device path: ACPI PNP0A03, PCI DEVICE.0, then (when FILE) HD(1,GPT) and FILE; + end. */
static size_t device_path(uint8_t *p, uint8_t device, const char *file)
{
	static const uint8_t acpi[12] = { 0x02, 0x01, 0x0c, 0x00, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0 };
	size_t n = 0, flen;

	memcpy(p, acpi, sizeof(acpi));
	n += sizeof(acpi);
	p[n] = 0x01;   /* hardware device path, PCI */
	p[n + 1] = 0x01;
	hl_put_le16(p + n + 2, 6);
	p[n + 4] = 0;   /* function */
	p[n + 5] = device;
	n += 6;
	if (file) {
		/* media device path, hard drive: partition 1 of a GPT disk */
		p[n] = 0x04;
		p[n + 1] = 0x01;
		hl_put_le16(p + n + 2, 42);
		hl_put_le32(p + n + 4, 1);
		hl_put_le64(p + n + 8, ESP_START_LBA);
		hl_put_le64(p + n + 16, ESP_SIZE_LBA);
		memcpy(p + n + 24, guid_hgslab_oem, 16);   /* the ESP's unique partition GUID */
		p[n + 40] = 0x02;   /* MBRType: GPT */
		p[n + 41] = 0x02;   /* SignatureType: GUID */
		n += 42;
		/* media device path, file path */
		flen = 4 + 2 * (strlen(file) + 1);
		p[n] = 0x04;
		p[n + 1] = 0x04;
		hl_put_le16(p + n + 2, (uint16_t)flen);
		put_utf16(p + n + 4, file, 1);
		n += flen;
	}
	memcpy(p + n, "\x7f\xff\x04\x00", 4);   /* end of hardware device path */
	return n + 4;
}

/* PCR 0: S-CRTM version, firmware volume, POST code. */
static int measure_pcr0(struct hl_tcglog_writer *w, const struct hl_profile *p)
{
	uint8_t ver[2 * (HL_PROFILE_NAME_MAX + 1)], blob[16], obj[32];
	char fv[128];
	size_t n;

	/*
	 * No StartupLocality event: the TPM starts at locality 0 anyway, and
	 * tpm2_eventlog 5.4 extends that EV_NO_ACTION event's zero digest into
	 * PCR 0, so its replay would disagree with the TPM's.
	 */
	n = put_utf16(ver, p->firmware, 1);
	if (hl_tcglog_writer_add(w, 0, HL_EV_S_CRTM_VERSION, ver, n) < 0)
		return -1;
	/* UEFI_PLATFORM_FIRMWARE_BLOB {base, length}; the volume depends on the version */
	hl_put_le64(blob, 0xffc00000u);
	hl_put_le64(blob + 8, 0x00400000u);
	n = (size_t)snprintf(fv, sizeof(fv), "hgslab platform firmware volume %s", p->firmware);
	if (hl_tcglog_writer_add_measured(w, 0, HL_EV_EFI_PLATFORM_FIRMWARE_BLOB, fv, n, blob,
					  sizeof(blob)) < 0)
		return -1;
	hl_put_le64(blob, 0xffbf0000u);
	hl_put_le64(blob + 8, 0x00010000u);
	if (standin_sha256("POST code", p->firmware, obj) < 0)
		return -1;
	return hl_tcglog_writer_add_measured(w, 0, HL_EV_POST_CODE, obj, sizeof(obj), blob,
					     sizeof(blob));
}

/* PCR 1: handoff tables (SMBIOS), BootOrder and Boot0000. */
static int measure_pcr1(struct hl_tcglog_writer *w)
{
	uint8_t tables[8 + 24], order[2] = { 0, 0 }, opt[512], obj[32], *var;
	size_t n, dp, var_len;

	hl_put_le64(tables, 1);
	memcpy(tables + 8, guid_smbios3, 16);
	hl_put_le64(tables + 24, 0x7f8e0000u);
	if (standin_sha256("SMBIOS 3.0 tables", NULL, obj) < 0 ||
	    hl_tcglog_writer_add_measured(w, 1, HL_EV_EFI_HANDOFF_TABLES, obj, sizeof(obj), tables,
					  sizeof(tables)) < 0)
		return -1;
	if (hl_wbcl_uefi_variable_encode(hl_efi_global_variable_guid, "BootOrder", order,
					 sizeof(order), &var, &var_len) < 0 ||
	    add_owned(w, 1, HL_EV_EFI_VARIABLE_BOOT, var, var_len) < 0)
		return -1;
	/* EFI_LOAD_OPTION: Attributes, FilePathListLength, Description, FilePathList */
	hl_put_le32(opt, 1);   /* LOAD_OPTION_ACTIVE */
	n = 6 + put_utf16(opt + 6, "Windows Boot Manager", 1);
	dp = device_path(opt + n, 4, BOOTMGR_PATH);
	hl_put_le16(opt + 4, (uint16_t)dp);
	n += dp;
	if (hl_wbcl_uefi_variable_encode(hl_efi_global_variable_guid, "Boot0000", opt, n, &var,
					 &var_len) < 0)
		return -1;
	return add_owned(w, 1, HL_EV_EFI_VARIABLE_BOOT, var, var_len);
}

/* A UEFI_IMAGE_LOAD_EVENT for an image at ADDR of LEN bytes with device path DP. */
static size_t image_load_event(uint8_t *p, uint64_t addr, uint64_t len, const uint8_t *dp,
			       size_t dp_len)
{
	hl_put_le64(p, addr);
	hl_put_le64(p + 8, len);
	hl_put_le64(p + 16, 0);
	hl_put_le64(p + 24, dp_len);
	memcpy(p + 32, dp, dp_len);
	return 32 + dp_len;
}

/* PCR 2: a NIC option ROM driver. */
static int measure_pcr2(struct hl_tcglog_writer *w)
{
	uint8_t dp[64], ev[128], obj[32];
	size_t dp_len = device_path(dp, 3, NULL), n;

	n = image_load_event(ev, 0x7e5f0018u, 133728, dp, dp_len);
	if (standin_sha256("network adapter option ROM", NULL, obj) < 0)
		return -1;
	return hl_tcglog_writer_add_measured(w, 2, HL_EV_EFI_BOOT_SERVICES_DRIVER, obj,
					     sizeof(obj), ev, n);
}

/* An EFI_SIGNATURE_LIST of EFI_CERT_SHA256 entries, one per text of WHAT, owned by OWNER. */
static int sha256_siglist(const char *const *what, size_t count, const uint8_t owner[16],
			  uint8_t *out, size_t *out_len)
{
	size_t i, n = 28;

	memcpy(out, hl_efi_cert_sha256_guid, 16);
	hl_put_le32(out + 16, (uint32_t)(28 + 48 * count));
	hl_put_le32(out + 20, 0);    /* SignatureHeaderSize */
	hl_put_le32(out + 24, 48);   /* SignatureSize: owner GUID + SHA-256 */
	for (i = 0; i < count; i++) {
		memcpy(out + n, owner, 16);
		if (standin_sha256(what[i], NULL, out + n + 16) < 0)
			return -1;
		n += 48;
	}
	*out_len = n;
	return 0;
}

/* One Secure Boot configuration variable in PCR 7. */
static int add_sb_variable(struct hl_tcglog_writer *w, const uint8_t guid[16], const char *name,
			   const uint8_t *data, size_t len)
{
	uint8_t *var;
	size_t var_len;

	if (hl_wbcl_uefi_variable_encode(guid, name, data, len, &var, &var_len) < 0)
		return -1;
	return add_owned(w, 7, HL_EV_EFI_VARIABLE_DRIVER_CONFIG, var, var_len);
}

static const char *const pk_keys[] = { "platform key: hgslab Lab OEM PK" };
static const char *const kek_keys[] = { "key exchange key: Microsoft Corporation KEK CA 2011" };
static const char *const db_keys[] = {
	"signature database: Microsoft Windows Production PCA 2011",
	"signature database: Microsoft Corporation UEFI CA 2011",
};
static const char *const dbx_keys[] = { "forbidden signature: revoked boot manager 2016" };

/* PCR 7: SecureBoot, PK, KEK, db, dbx. */
static int measure_pcr7(struct hl_tcglog_writer *w, const struct hl_profile *p)
{
	uint8_t sb = p->secure_boot ? 1 : 0, list[28 + 48 * 2];
	size_t n;

	if (add_sb_variable(w, hl_efi_global_variable_guid, "SecureBoot", &sb, 1) < 0)
		return -1;
	if (sha256_siglist(pk_keys, 1, guid_hgslab_oem, list, &n) < 0 ||
	    add_sb_variable(w, hl_efi_global_variable_guid, "PK", list, n) < 0)
		return -1;
	if (sha256_siglist(kek_keys, 1, guid_microsoft, list, &n) < 0 ||
	    add_sb_variable(w, hl_efi_global_variable_guid, "KEK", list, n) < 0)
		return -1;
	if (sha256_siglist(db_keys, 2, guid_microsoft, list, &n) < 0 ||
	    add_sb_variable(w, hl_efi_image_security_database_guid, "db", list, n) < 0)
		return -1;
	if (sha256_siglist(dbx_keys, 1, guid_microsoft, list, &n) < 0 ||
	    add_sb_variable(w, hl_efi_image_security_database_guid, "dbx", list, n) < 0)
		return -1;
	return 0;
}

/* PCR 7 after the separator: the db entry that verified the boot manager. */
static int measure_authority(struct hl_tcglog_writer *w)
{
	uint8_t sig[48], *var;
	size_t var_len;

	memcpy(sig, guid_microsoft, 16);
	if (standin_sha256(db_keys[0], NULL, sig + 16) < 0)
		return -1;
	if (hl_wbcl_uefi_variable_encode(hl_efi_image_security_database_guid, "db", sig,
					 sizeof(sig), &var, &var_len) < 0)
		return -1;
	return add_owned(w, 7, HL_EV_EFI_VARIABLE_AUTHORITY, var, var_len);
}

/* Fill one 128-byte GPT partition entry; UNIQUE is the last byte of its unique GUID. */
static void gpt_entry(uint8_t *e, const uint8_t type[16], uint8_t unique, uint64_t first,
		      uint64_t last, const char *name)
{
	memset(e, 0, 128);
	memcpy(e, type, 16);
	memcpy(e + 16, guid_hgslab_oem, 16);
	e[31] = unique;
	hl_put_le64(e + 32, first);
	hl_put_le64(e + 40, last);
	put_utf16(e + 56, name, 0);
}

/* PCR 5: the boot disk's GPT (UEFI_GPT_DATA). */
static int measure_gpt(struct hl_tcglog_writer *w)
{
	uint8_t ev[92 + 8 + 3 * 128], array[128 * 128];
	uint8_t *h = ev, *parts = ev + 100;
	const uint64_t last_lba = 0x3ffffdeu;

	memset(ev, 0, sizeof(ev));
	gpt_entry(parts, guid_esp_type, 0x42, ESP_START_LBA, ESP_START_LBA + ESP_SIZE_LBA - 1,
		  "EFI system partition");
	gpt_entry(parts + 128, guid_msr_type, 0x43, ESP_START_LBA + ESP_SIZE_LBA,
		  ESP_START_LBA + ESP_SIZE_LBA + 32767, "Microsoft reserved partition");
	gpt_entry(parts + 256, guid_basic_data, 0x44, ESP_START_LBA + ESP_SIZE_LBA + 32768, last_lba,
		  "Basic data partition");
	memset(array, 0, sizeof(array));
	memcpy(array, parts, 3 * 128);
	memcpy(h, "EFI PART", 8);
	hl_put_le32(h + 8, 0x00010000);   /* revision 1.0 */
	hl_put_le32(h + 12, 92);          /* header size */
	hl_put_le64(h + 24, 1);           /* MyLBA */
	hl_put_le64(h + 32, last_lba + 33);
	hl_put_le64(h + 40, 34);          /* FirstUsableLBA */
	hl_put_le64(h + 48, last_lba);
	memcpy(h + 56, guid_hgslab_oem, 16);   /* DiskGUID */
	h[71] = 0xd1;
	hl_put_le64(h + 72, 2);           /* PartitionEntryLBA */
	hl_put_le32(h + 80, 128);         /* NumberOfPartitionEntries */
	hl_put_le32(h + 84, 128);         /* SizeOfPartitionEntry */
	hl_put_le32(h + 88, crc32_ieee(array, sizeof(array)));
	hl_put_le32(h + 16, crc32_ieee(h, 92));
	hl_put_le64(ev + 92, 3);          /* NumberOfPartitions */
	return hl_tcglog_writer_add(w, 5, HL_EV_EFI_GPT_EVENT, ev, sizeof(ev));
}

/* PCR 4: the boot manager application. */
static int measure_bootmgr(struct hl_tcglog_writer *w)
{
	uint8_t dp[256], ev[320], obj[32];
	size_t dp_len = device_path(dp, 4, BOOTMGR_PATH), n;

	n = image_load_event(ev, 0x7d2c4018u, 1564672, dp, dp_len);
	if (standin_sha256("Windows Boot Manager image 10.0.17763.1", NULL, obj) < 0)
		return -1;
	return hl_tcglog_writer_add_measured(w, 4, HL_EV_EFI_BOOT_SERVICES_APPLICATION, obj,
					     sizeof(obj), ev, n);
}

/* Append a bool- or u32-kind tagged event (PCR from the tag table). */
static int add_tag_number(struct hl_tcglog_writer *w, uint32_t tag, uint32_t value)
{
	const struct hl_wbcl_tag_def *def = hl_wbcl_tag_find(tag);
	uint8_t *buf;
	size_t len;
	int r;

	if (def->kind == HL_WBCL_BOOL)
		r = hl_wbcl_encode_bool(tag, (int)value, &buf, &len);
	else
		r = hl_wbcl_encode_u32(tag, value, &buf, &len);
	if (r < 0)
		return -1;
	return add_owned(w, def->pcr, HL_EV_EVENT_TAG, buf, len);
}

/* PCRs 12-14: the boot configuration of P as tagged events. */
static int measure_config(struct hl_tcglog_writer *w, const struct hl_profile *p)
{
	const struct {
		uint32_t tag;
		uint32_t value;
	} numbers[] = {
		{ HL_WBCL_TAG_BOOTDEBUGGING, (uint32_t)p->debug },
		{ HL_WBCL_TAG_OSKERNELDEBUG, (uint32_t)p->debug },
		{ HL_WBCL_TAG_BOOT_TYPE, p->resumed ? HL_WBCL_BOOT_RESUME : HL_WBCL_BOOT_FULL },
		{ HL_WBCL_TAG_HYPERVISOR_LAUNCH_TYPE, 1 },
		{ HL_WBCL_TAG_HYPERVISOR_IOMMU_POLICY, (uint32_t)p->iommu },
		{ HL_WBCL_TAG_VSM_LAUNCH_TYPE, (uint32_t)p->vsm },
		{ HL_WBCL_TAG_HVCI_POLICY, (uint32_t)p->hvci },
		{ HL_WBCL_TAG_PAGEFILE_ENCRYPTION, (uint32_t)p->pagefile_encryption },
		{ HL_WBCL_TAG_HIBERNATION_DISABLED, (uint32_t)!p->hibernation },
		{ HL_WBCL_TAG_DUMPS_DISABLED, (uint32_t)!p->dumps },
		{ HL_WBCL_TAG_DUMP_ENCRYPTION, (uint32_t)p->dump_encryption },
	};
	uint8_t digest[32], *buf;
	size_t i, len;

	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (add_tag_number(w, numbers[i].tag, numbers[i].value) < 0)
			return -1;
	if (p->dump_encryption) {
		if (hl_profile_dump_key_sha256(p->dump_key, digest) < 0 ||
		    hl_wbcl_encode(HL_WBCL_TAG_DUMP_ENCRYPTION_KEY, digest, 32, &buf, &len) < 0 ||
		    add_owned(w, 12, HL_EV_EVENT_TAG, buf, len) < 0)
			return -1;
	}
	if (add_tag_number(w, HL_WBCL_TAG_BITLOCKER, (uint32_t)p->bitlocker) < 0)
		return -1;
	if (hl_profile_ci_policy_sha256(p->ci_policy, digest) < 0 ||
	    hl_wbcl_encode_si_policy(p->ci_policy, digest, &buf, &len) < 0 ||
	    add_owned(w, 13, HL_EV_EVENT_TAG, buf, len) < 0)
		return -1;
	if (p->vsm) {
		if (standin_sha256("VSM identity key (IDK) public key", NULL, digest) < 0 ||
		    hl_wbcl_encode_idk(digest, &buf, &len) < 0 ||
		    add_owned(w, 14, HL_EV_EVENT_TAG, buf, len) < 0)
			return -1;
	}
	return 0;
}

/* Write every measurement of P into W, in boot order. */
static int measure_all(struct hl_tcglog_writer *w, const struct hl_profile *p)
{
	static const uint8_t sep[4] = { 0, 0, 0, 0 };
	static const char calling[] = "Calling EFI Application from Boot Option";
	static const char ebs[] = "Exit Boot Services Invocation";
	static const char ebs_ok[] = "Exit Boot Services Returned with Success";
	uint32_t pcr;

	if (measure_pcr0(w, p) < 0 || measure_pcr1(w) < 0 || measure_pcr2(w) < 0 ||
	    measure_pcr7(w, p) < 0 || hl_tcglog_writer_add(w, 7, HL_EV_SEPARATOR, sep, 4) < 0)
		return -1;
	if (hl_tcglog_writer_add(w, 4, HL_EV_EFI_ACTION, calling, strlen(calling)) < 0)
		return -1;
	for (pcr = 0; pcr <= 6; pcr++)
		if (hl_tcglog_writer_add(w, pcr, HL_EV_SEPARATOR, sep, 4) < 0)
			return -1;
	if (measure_gpt(w) < 0 || measure_bootmgr(w) < 0)
		return -1;
	if (p->secure_boot && measure_authority(w) < 0)
		return -1;
	if (hl_tcglog_writer_add(w, 5, HL_EV_EFI_ACTION, ebs, strlen(ebs)) < 0 ||
	    hl_tcglog_writer_add(w, 5, HL_EV_EFI_ACTION, ebs_ok, strlen(ebs_ok)) < 0)
		return -1;
	return measure_config(w, p);
}

int hl_measured_boot_build(const struct hl_profile *p, struct hl_measured_boot **out)
{
	static const uint16_t algs[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };
	struct hl_tcglog_writer *w = NULL;
	struct hl_measured_boot *mb = NULL;
	size_t i, count;
	int ret = -1;

	*out = NULL;
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return hl_error("cannot build the measured boot: out of memory");
	if (hl_tcglog_writer_new(algs, 2, &w) < 0 || measure_all(w, p) < 0) {
		hl_error_wrap("cannot build the measured boot");
		goto out;
	}
	count = hl_tcglog_writer_count(w);
	mb->extends = calloc(count, sizeof(*mb->extends));
	if (!mb->extends) {
		hl_error("cannot build the measured boot: out of memory");
		goto out;
	}
	for (i = 1; i < count; i++) {
		const struct hl_tcglog_event *ev = hl_tcglog_writer_event(w, i);
		const struct hl_tcglog_digest *d1, *d256;
		struct hl_mb_extend *x = &mb->extends[mb->n_extends];

		if (ev->type == HL_EV_NO_ACTION)
			continue;
		d1 = hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA1);
		d256 = hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA256);
		x->pcr = ev->pcr;
		x->type = ev->type;
		memcpy(x->sha1, d1->value, sizeof(x->sha1));
		memcpy(x->sha256, d256->value, sizeof(x->sha256));
		mb->n_extends++;
	}
	if (hl_tcglog_writer_serialize(w, &mb->log, &mb->log_len) < 0)
		goto out;
	*out = mb;
	mb = NULL;
	ret = 0;
out:
	hl_tcglog_writer_free(w);
	hl_measured_boot_free(mb);
	return ret;
}

void hl_measured_boot_free(struct hl_measured_boot *mb)
{
	if (!mb)
		return;
	free(mb->log);
	free(mb->extends);
	free(mb);
}

int hl_measured_boot_pcr(const struct hl_measured_boot *mb, uint16_t alg, uint32_t pcr,
			 uint8_t *out)
{
	const EVP_MD *md;
	uint8_t buf[64];
	size_t size, i;
	unsigned int n;

	if (alg == HL_TCGLOG_ALG_SHA1) {
		md = EVP_sha1();
		size = 20;
	} else if (alg == HL_TCGLOG_ALG_SHA256) {
		md = EVP_sha256();
		size = 32;
	} else {
		return hl_error("cannot compute PCR %u: the measured boot has sha1 and sha256 banks "
				"only", (unsigned)pcr);
	}
	if (pcr >= HL_TCGLOG_PCRS)
		return hl_error("cannot compute PCR %u: out of range (0-%d)", (unsigned)pcr,
				HL_TCGLOG_PCRS - 1);
	memset(out, 0, size);
	for (i = 0; i < mb->n_extends; i++) {
		if (mb->extends[i].pcr != pcr)
			continue;
		memcpy(buf, out, size);
		memcpy(buf + size, size == 20 ? mb->extends[i].sha1 : mb->extends[i].sha256, size);
		if (EVP_Digest(buf, 2 * size, out, &n, md, NULL) != 1)
			return hl_error("cannot compute PCR %u: OpenSSL failed", (unsigned)pcr);
	}
	return (int)size;
}
