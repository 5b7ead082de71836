/*
 * helper_memscan.c - looks for a secret in the memory of a running process,
 * for the black-box tests that check a secret is gone once it was handed on
 * (the TK in a VM keeper after swtpm has it, tests/cli/shielded_vm.sh).
 *
 *   helper_memscan PID HEX      read every readable mapping of PID
 *                               (/proc/PID/maps, /proc/PID/mem) and look
 *                               for the bytes HEX encodes (raw, 16 to 64
 *                               bytes), and for HEX itself as text in lower
 *                               and upper case
 *
 * Prints one line per place found ("found raw at 0x... in [heap]") and exits
 * 0 when the secret is somewhere, 1 when it is nowhere, 2 when the scan
 * could not be done (no such process, no permission to read it).  The
 * secret reaches this program through its command line: a test passes it
 * only for a TK it already holds and no lab process sees.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes read from the process at a time; a pattern may cross a chunk (overlap kept). */
#define CHUNK ((size_t)1 << 20)

/* Decode HEX into OUT (at most MAX bytes); the length, or 0 when HEX is not even-length hex. */
static size_t unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t n = strlen(hex), i;

	if (n % 2 || n / 2 > max)
		return 0;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (unsigned char)v;
	}
	return n / 2;
}

/* Look for the N patterns in mapping [START, END) of MEM; print each hit; how many. */
static int scan_range(int mem, unsigned long start, unsigned long end, const char *what,
		      const unsigned char *const *pat, const size_t *len, const char *const *name,
		      size_t n)
{
	static unsigned char buf[CHUNK + 256];
	size_t keep = 0, i;
	unsigned long at = start;
	int hits = 0;

	while (at < end) {
		size_t want = end - at < CHUNK ? end - at : CHUNK, total;
		ssize_t got = pread(mem, buf + keep, want, (off_t)at);

		if (got <= 0)
			break;
		total = keep + (size_t)got;
		for (i = 0; i < n; i++) {
			const unsigned char *p = memmem(buf, total, pat[i], len[i]);

			if (p) {
				printf("found %s at 0x%lx in %s\n", name[i],
				       at - keep + (unsigned long)(p - buf), what);
				hits++;
			}
		}
		/* keep the tail, so a pattern across two chunks is seen */
		keep = total < 127 ? total : 127;
		memmove(buf, buf + total - keep, keep);
		at += (unsigned long)got;
	}
	return hits;
}

int main(int argc, char **argv)
{
	unsigned char raw[64];
	char lower[130], upper[130], path[64], line[512];
	const unsigned char *pat[3];
	const char *name[3] = { "raw", "hex", "HEX" };
	size_t len[3], i, n;
	FILE *maps;
	int mem, hits = 0;

	if (argc != 3 || (n = unhex(argv[2], raw, sizeof(raw))) < 16) {
		fprintf(stderr, "usage: helper_memscan PID HEX (16 to 64 bytes)\n");
		return 2;
	}
	for (i = 0; i < 2 * n; i++) {
		lower[i] = (char)tolower((unsigned char)argv[2][i]);
		upper[i] = (char)toupper((unsigned char)argv[2][i]);
	}
	lower[2 * n] = upper[2 * n] = '\0';
	pat[0] = raw, len[0] = n;
	pat[1] = (const unsigned char *)lower, len[1] = 2 * n;
	pat[2] = (const unsigned char *)upper, len[2] = 2 * n;
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if (!(maps = fopen(path, "r"))) {
		perror(path);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	if ((mem = open(path, O_RDONLY)) < 0) {
		perror(path);
		fclose(maps);
		return 2;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end;
		char perms[8] = "", what[256] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255[^\n]", &start, &end, perms, what) < 3)
			continue;
		/* readable mappings only; the kernel's own pages cannot be read this way */
		if (perms[0] != 'r' || !strcmp(what, "[vvar]") || !strcmp(what, "[vsyscall]"))
			continue;
		hits += scan_range(mem, start, end, what[0] ? what : "[anon]", pat, len, name, 3);
	}
	close(mem);
	fclose(maps);
	return hits ? 0 : 1;
}
