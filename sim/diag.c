/*
 * diag.c - self-checks of the machine and of hgslab's own parts: the external
 * programs the lab runs, whether KVM is usable, and live round trips through
 * the libraries (crypto, a real swtpm driven with tpm2-tss).  Used by
 * `hgslab diagnose` and `hgslab demo`.
 */
#include "sim/diag.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

/* A program the lab runs and the Debian package that brings it. */
struct prog_check {
	const char *prog;
	const char *package;
	const char *why;
};

static const struct prog_check programs[] = {
	{ "swtpm", "swtpm", "host TPMs and VM vTPMs" },
	{ "swtpm_setup", "swtpm-tools", "manufacturing host TPMs with EK certificates" },
	{ "qemu-system-x86_64", "qemu-system-x86", "shielded VMs" },
	{ "qemu-img", "qemu-utils", "VM disks" },
	{ "tpm2_eventlog", "tpm2-tools", "cross-checking TCG logs; guest tools" },
	{ "cryptsetup", "cryptsetup-bin", "LUKS2 inside the guest" },
	{ "busybox", "busybox-static", "the guest initramfs" },
	{ NULL, NULL, NULL },
};

const char *hl_diag_verdict_name(enum hl_diag_verdict v)
{
	return v == HL_DIAG_OK ? "ok" : v == HL_DIAG_WARN ? "warn" : "fail";
}

void hl_diag_add(json_t *results, int progress, const char *name, enum hl_diag_verdict v,
		       const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_array_append_new(results, json_pack("{s:s, s:s, s:s}", "Name", name, "Verdict",
						 hl_diag_verdict_name(v), "Detail", detail));
	if (progress) {
		printf("  [%-4s] %-28s %s\n", hl_diag_verdict_name(v), name, detail);
		fflush(stdout);
	}
}

/* Find PROG on PATH; writes its full path into OUT. */
static int find_in_path(const char *prog, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	const char *p = path ? path : "/usr/bin:/bin";

	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		snprintf(out, outlen, "%.*s/%s", (int)len, p, prog);
		if (len && access(out, X_OK) == 0)
			return 0;
		p += len + (end ? 1 : 0);
	}
	return -1;
}

/* Does /proc/cpuinfo advertise hardware virtualisation (vmx or svm)? */
static int cpu_has_virt(void)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0 && (strstr(line, " vmx") || strstr(line, " svm")))
			found = 1;
	fclose(f);
	return found;
}

/* Check the KVM prerequisites; a full bounded QEMU probe lives with the VM launcher. */
static void check_kvm(json_t *results, int progress)
{
	int fd;

	if (!cpu_has_virt()) {
		hl_diag_add(results, progress, "kvm", HL_DIAG_WARN,
			   "the CPU exposes no vmx/svm flag: VMs run under QEMU TCG (slower, works)");
		return;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		hl_diag_add(results, progress, "kvm", HL_DIAG_WARN,
			   "/dev/kvm cannot be opened: VMs run under QEMU TCG");
		return;
	}
	close(fd);
	hl_diag_add(results, progress, "kvm", HL_DIAG_OK,
		   "vmx/svm present and /dev/kvm opens; `accel: auto` still proves it with a probe");
}

int hl_diag_run(json_t *results, int progress)
{
	char full[4096];
	int failed = 0;

	for (const struct prog_check *c = programs; c->prog; c++) {
		if (find_in_path(c->prog, full, sizeof(full)) == 0) {
			hl_diag_add(results, progress, c->prog, HL_DIAG_OK, "%s", full);
		} else {
			hl_diag_add(results, progress, c->prog, HL_DIAG_FAIL,
				   "not found (needed for %s); install package '%s' or run `make deps`",
				   c->why, c->package);
			failed++;
		}
	}
	check_kvm(results, progress);
	failed += hl_diag_live(results, progress);
	return failed;
}
