/*
 * attack_host_proc.c - the host family's attacks on running processes
 * (sim/attack_host.h): QMP asked for the guest's memory or a debugger
 * through any socket of the lab, the TK looked for in the VM keeper's
 * memory, the tenant's contents looked for in logs and command lines,
 * process identity (a pid file or lab.json naming an unrelated process), and
 * availability (a start while HGS is down, the host's swtpm killed).
 */
#include "sim/attack_host.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hosts/host.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "sim/search.h"

/* The host the step's VM runs on, or -1 with the error set (the scenario starts it first). */
static int running_host(struct attack_run *a)
{
	int vi = lab_vm_index(a->L, a->st->vm);

	if (vi < 0 || a->L->vms[vi].running_on < 0)
		return hl_error("the attack needs VM %s running (a start step first)", a->st->vm);
	return a->L->vms[vi].running_on;
}

/* ---- QMP ---- */

#define QMP_MAX_SOCKETS 64

/* The unix sockets found under the lab (nftw has no user argument: one walk at a time). */
static char *qmp_socks[QMP_MAX_SOCKETS];
static size_t qmp_n;

/* nftw callback: keep each socket's path. */
static int qmp_walk(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)flag;
	(void)f;
	if (S_ISSOCK(st->st_mode) && qmp_n < QMP_MAX_SOCKETS)
		qmp_socks[qmp_n++] = strdup(path);
	return 0;
}

/*
 * Connect to socket PATH, send LINES (QMP commands, one a line) and read
 * what comes back within 1.5 s into REPLY (SIZE); 1 when it speaks QMP (a
 * greeting or a "return"), 0 when not (or it refuses the connection).
 */
static int qmp_try(const char *path, const char *lines, char *reply, size_t size)
{
	struct sockaddr_un sa;
	struct pollfd p;
	size_t got = 0;
	int fd, i;

	reply[0] = '\0';
	if (strlen(path) >= sizeof(sa.sun_path) || (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return 0;
	}
	if (send(fd, lines, strlen(lines), MSG_NOSIGNAL) < 0)
		hl_error_clear();
	p.fd = fd;
	p.events = POLLIN;
	for (i = 0; i < 15 && got + 1 < size; i++) {
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((n = recv(fd, reply + got, size - 1 - got, MSG_DONTWAIT)) <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	close(fd);
	return strstr(reply, "\"QMP\"") || strstr(reply, "\"return\"");
}

/*
 * Every socket under the lab asked COMMAND (after qmp_capabilities); then
 * QEMU's command line checked for a QMP or gdb option.  Refused ("no QMP
 * socket") when nothing answered and QEMU has none; PROOF is a file the
 * command would create, which must not exist afterwards.
 */
static int qmp_attack(struct attack_run *a, const char *command, const char *proof)
{
	struct lab *L = a->L;
	int hi = running_host(a), rc = -1;
	char *lines = NULL, reply[4096], *vmdir = NULL, *cmd = NULL, why[256];
	const char *answered = NULL;
	size_t i, len;
	pid_t qemu;

	if (hi < 0)
		return -1;
	if (asprintf(&lines, "{\"execute\":\"qmp_capabilities\"}\n%s\n", command) < 0 ||
	    asprintf(&vmdir, "%s/vms/%s", L->hosts[hi].dir, a->st->vm) < 0) {
		hl_error("out of memory");
		goto out;
	}
	qmp_n = 0;
	if (nftw(L->work, qmp_walk, 16, FTW_PHYS) < 0) {
		hl_error_errno("cannot walk '%s'", L->work);
		goto out;
	}
	for (i = 0; i < qmp_n && !answered; i++)
		if (qmp_socks[i] && qmp_try(qmp_socks[i], lines, reply, sizeof(reply)))
			answered = qmp_socks[i];
	{
		const char *const needles[] = { "qemu-system", vmdir, NULL };
		char path[64];

		if (!(qemu = attack_host_find_proc(needles))) {
			hl_error("no QEMU runs for VM %s: the attack needs it running", a->st->vm);
			goto out;
		}
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)qemu);
		if (hl_file_read(path, 1 << 16, &cmd, &len) < 0)
			goto out;
		for (i = 0; i + 1 < len; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
	}
	if (answered)
		rc = attack_succeeded(a, "%s answered QMP: %.200s", answered, reply);
	else if (proof && hl_file_exists(proof) == 1)
		rc = attack_succeeded(a, "the command ran: %s exists", proof);
	else if (strstr(cmd, "-qmp ") || strstr(cmd, "-gdb ") || strstr(cmd, " -s ") ||
		 strstr(cmd, "qmp.sock"))
		rc = attack_succeeded(a, "QEMU's command line offers QMP or a gdbstub: %.300s", cmd);
	else {
		snprintf(why, sizeof(why), "none of the %zu sockets under the lab answered QMP, and "
			 "QEMU (pid %ld) has no -qmp, -gdb or -s option", qmp_n, (long)qemu);
		rc = attack_refused(a, "no QMP socket", why);
	}
out:
	for (i = 0; i < qmp_n; i++) {
		free(qmp_socks[i]);
		qmp_socks[i] = NULL;
	}
	qmp_n = 0;
	free(lines);
	free(vmdir);
	free(cmd);
	return rc;
}

int attack_host_qmp_dump(struct attack_run *a)
{
	char *dir = NULL, *dump = NULL, *cmd = NULL;
	int rc = -1;

	if (attack_host_scratch(a, "qmp", &dir) < 0)
		return -1;
	if (asprintf(&dump, "%s/guest-memory", dir) < 0 ||
	    asprintf(&cmd, "{\"execute\":\"dump-guest-memory\",\"arguments\":{\"paging\":false,"
		     "\"protocol\":\"file:%s\"}}", dump) < 0)
		hl_error("out of memory");
	else
		rc = qmp_attack(a, cmd, dump);
	hl_file_rmtree(dir);
	free(dir);
	free(dump);
	free(cmd);
	return rc;
}

int attack_host_qmp_gdbserver(struct attack_run *a)
{
	return qmp_attack(a, "{\"execute\":\"human-monitor-command\",\"arguments\":"
			  "{\"command-line\":\"gdbserver tcp:127.0.0.1:0\"}}", NULL);
}

/* ---- secrets in memory ---- */

/* Bytes read from a process at a time; a pattern may cross two chunks (the tail is kept). */
#define MEM_CHUNK ((size_t)1 << 20)
#define MEM_KEEP 256
/*
 * Larger mappings are skipped: reservations such as the sanitizers' shadow
 * memory (terabytes, mostly never touched), not where a program keeps a key.
 */
#define MEM_MAP_MAX ((unsigned long)1 << 32)

/*
 * Look for the N patterns PAT (LEN bytes each) in every readable mapping of
 * process PID of at most MEM_MAP_MAX bytes (/proc/PID/maps, /proc/PID/mem);
 * how many places were found,
 * the first into WHERE (SIZE); -1 when the process cannot be read.
 */
static int mem_scan(pid_t pid, const unsigned char *const *pat, const size_t *len, size_t n,
		    char *where, size_t size)
{
	char path[64], line[512];
	unsigned char *buf;
	FILE *maps;
	int mem, hits = 0;

	where[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	if (!(maps = fopen(path, "r")))
		return hl_error_errno("cannot read '%s'", path);
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	if ((mem = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fclose(maps);
		return hl_error_errno("cannot read '%s'", path);
	}
	if (!(buf = malloc(MEM_CHUNK + MEM_KEEP))) {
		close(mem);
		fclose(maps);
		return hl_error("out of memory");
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end, at;
		char perms[8] = "";
		size_t keep = 0, i;

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || perms[0] != 'r' ||
		    strstr(line, "[vvar") || strstr(line, "[vsyscall]") || end - start > MEM_MAP_MAX)
			continue;
		for (at = start; at < end && !lab_interrupted();) {
			size_t want = end - at < MEM_CHUNK ? end - at : MEM_CHUNK, total;
			ssize_t got = pread(mem, buf + keep, want, (off_t)at);

			if (got <= 0)
				break;
			total = keep + (size_t)got;
			for (i = 0; i < n; i++) {
				const unsigned char *p = memmem(buf, total, pat[i], len[i]);

				if (p && hits++ == 0)
					snprintf(where, size, "at 0x%lx (%.*s)",
						 at - keep + (unsigned long)(p - buf),
						 (int)strcspn(line, "\n"), line);
			}
			keep = total < MEM_KEEP ? total : MEM_KEEP;
			memmove(buf, buf + total - keep, keep);
			at += (unsigned long)got;
		}
	}
	hl_crypto_cleanse(buf, MEM_CHUNK + MEM_KEEP);
	free(buf);
	close(mem);
	fclose(maps);
	return hits;
}

/*
 * tk-in-keeper-memory: the VM's TK (raw, lower and upper hex) in the running
 * keeper's memory.  The same scan of the VM's swtpm, which keeps the key,
 * must find it: else the scan is what failed, not the defence.
 */
int attack_host_tk_in_keeper(struct attack_run *a)
{
	struct lab *L = a->L;
	int hi = running_host(a), vi = lab_vm_index(L, a->st->vm), rc = -1, sw, kp;
	struct hl_buf tk = { NULL, 0 };
	char lo[2 * HL_KP_TK_LEN + 1], up[2 * HL_KP_TK_LEN + 1], where[600], *vmdir = NULL;
	struct host *h = NULL;
	pid_t keeper, swtpm;
	size_t i;

	if (hi < 0)
		return -1;
	if (asprintf(&vmdir, "%s/vms/%s", L->hosts[hi].dir, a->st->vm) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (attack_vm_tk(L, &L->vms[vi], &tk) < 0 || host_open(L->hosts[hi].dir, &h) < 0)
		goto out;
	if ((keeper = hosts_vm_keeper(h, a->st->vm)) <= 0) {
		hl_error("VM %s has no live keeper on host %s", a->st->vm, h->name);
		goto out;
	}
	{
		const char *const needles[] = { "swtpm", vmdir, NULL };

		if (!(swtpm = attack_host_find_proc(needles))) {
			hl_error("no swtpm runs for VM %s", a->st->vm);
			goto out;
		}
	}
	hl_crypto_hex_encode(tk.data, tk.len, up, sizeof(up));
	for (i = 0; up[i]; i++)
		lo[i] = (char)tolower((unsigned char)up[i]);
	lo[i] = '\0';
	{
		const unsigned char *pat[] = { tk.data, (unsigned char *)lo, (unsigned char *)up };
		const size_t len[] = { tk.len, strlen(lo), strlen(up) };

		if ((sw = mem_scan(swtpm, pat, len, 3, where, sizeof(where))) < 0)
			goto out;
		if (sw == 0) {
			hl_error("the scan finds the TK nowhere in swtpm (pid %ld), which holds it: the "
				 "scan cannot be trusted", (long)swtpm);
			goto out;
		}
		if ((kp = mem_scan(keeper, pat, len, 3, where, sizeof(where))) < 0)
			goto out;
	}
	if (kp > 0)
		rc = attack_succeeded(a, "the TK is in the keeper's memory (pid %ld), %d place(s), "
				      "first %s", (long)keeper, kp, where);
	else {
		char why[200];

		snprintf(why, sizeof(why), "the keeper (pid %ld) holds no copy of the TK; the same "
			 "scan finds it %d time(s) in swtpm (pid %ld)", (long)keeper, sw, (long)swtpm);
		rc = attack_refused(a, "not found", why);
	}
out:
	hl_crypto_cleanse(lo, sizeof(lo));
	hl_crypto_cleanse(up, sizeof(up));
	hl_buf_free(&tk);
	host_close(h);
	free(vmdir);
	return rc;
}

/* ---- secrets in logs and command lines ---- */

/* The first /proc/PID/FILE (cmdline, environ) of any process holding LEN bytes TEXT, into WHERE; 1 / 0. */
static int procs_hold(const char *file, const void *text, size_t len, char *where, size_t size)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], *buf = NULL;
		size_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/%s", e->d_name, file);
		if (hl_file_read(path, 1 << 20, &buf, &n) < 0) {
			hl_error_clear();
			continue;
		}
		if (memmem(buf, n, text, len)) {
			found = 1;
			snprintf(where, size, "%s", path);
		}
		free(buf);
	}
	closedir(d);
	return found;
}

/*
 * secret-in-command-logs: each tenant VM's file contents (at least 8
 * bytes) and TK (hex) in the runner's logs/ and in the command line and
 * environment of every process of this machine.
 */
int attack_host_secret_in_logs(struct attack_run *a)
{
	struct lab *L = a->L;
	char logs[PATH_MAX], where[PATH_MAX + 64] = "", what[128] = "";
	size_t i, k, texts = 0, files = 0;
	int rc = -1;

	snprintf(logs, sizeof(logs), "%s/logs", L->work);
	for (i = 0; i < L->n_vms && !where[0]; i++) {
		const struct sc_vm *v = L->vms[i].sc;
		struct hl_buf tk = { NULL, 0 };
		char up[2 * HL_KP_TK_LEN + 1] = "", lo[2 * HL_KP_TK_LEN + 1] = "";

		if (!v)
			continue;
		if (hl_file_exists(L->vms[i].kp) == 1) {
			if (attack_vm_tk(L, &L->vms[i], &tk) < 0)
				return -1;
			hl_crypto_hex_encode(tk.data, tk.len, up, sizeof(up));
			for (k = 0; up[k]; k++)
				lo[k] = (char)tolower((unsigned char)up[k]);
			hl_buf_free(&tk);
		}
		/* the files, then the TK as hex in both cases */
		for (k = 0; k < v->n_files + 2 && !where[0]; k++) {
			const char *t = k < v->n_files ? v->files[k].content : k == v->n_files ? up : lo;
			size_t tl = strlen(t);
			struct sim_search S;

			while (tl && t[tl - 1] == '\n')
				tl--;
			if (tl < 8)
				continue;
			texts++;
			snprintf(what, sizeof(what), k < v->n_files ? "VM %s's file %s" : "VM %s's TK%s",
				 v->name, k < v->n_files ? v->files[k].name : "");
			if (sim_search_run(&S, logs, t, tl, NULL) < 0) {
				sim_search_release(&S);
				hl_crypto_cleanse(up, sizeof(up));
				hl_crypto_cleanse(lo, sizeof(lo));
				return -1;
			}
			files = S.files;
			if (S.found)
				snprintf(where, sizeof(where), "%s", S.first);
			sim_search_release(&S);
			if (!where[0] && !procs_hold("cmdline", t, tl, where, sizeof(where)))
				procs_hold("environ", t, tl, where, sizeof(where));
		}
		hl_crypto_cleanse(up, sizeof(up));
		hl_crypto_cleanse(lo, sizeof(lo));
	}
	if (texts == 0)
		return hl_error("the attack needs a tenant VM with a file of at least 8 bytes");
	if (where[0])
		rc = attack_succeeded(a, "%s is in %s", what, where);
	else {
		char why[200];

		snprintf(why, sizeof(why), "%zu secret texts in none of the %zu log files, nor in "
			 "any process's command line or environment", texts, files);
		rc = attack_refused(a, "not found", why);
	}
	return rc;
}

/* ---- process identity ---- */

/* Write "PID\n" to DIR/FILE. */
static int write_pid(const char *dir, const char *file, pid_t pid)
{
	char *p = NULL, text[24];
	int rc;

	if (asprintf(&p, "%s/%s", dir, file) < 0)
		return hl_error("out of memory");
	snprintf(text, sizeof(text), "%ld\n", (long)pid);
	rc = hl_file_write(p, text, strlen(text), HL_FILE_MODE_PUBLIC);
	free(p);
	return rc;
}

/*
 * pidfile-squat: the lab's HGS stopped, its hgs.pid made to name an
 * unrelated live process, HGS started again by the runner as a service
 * manager would.  It must serve (it holds hgs.pid's lock) and the unrelated
 * process must live on.  Should HGS refuse, the runner removes the file and
 * starts it, so the lab goes on.
 */
int attack_host_pidfile_squat(struct attack_run *a)
{
	struct lab *L = a->L;
	struct lab_svc *svc = &L->hgs[0].nodes[0].svc;
	struct hl_child *imp = NULL;
	char *pidf = NULL, why[256];
	pid_t pid, owner = 0;
	int rc = -1, i, up;

	if (asprintf(&pidf, "%s/hgs.pid", L->hgs[0].dir) < 0)
		return hl_error("out of memory");
	if (attack_host_impostor("hgs-impostor", &imp, &pid) < 0)
		goto out;
	lab_svc_stop(svc);
	if (write_pid(L->hgs[0].dir, "hgs.pid", pid) < 0)
		goto restart;
	up = lab_svc_start(L, svc) == 0 && lab_svc_ready(svc) == 0;
	hl_error_clear();
	for (i = 0; up && i < 500 && (owner = hl_pidfile_owner(pidf)) != svc->pid; i++)
		usleep(10000);
	if (!up)
		rc = attack_succeeded(a, "HGS did not start while hgs.pid named pid %ld", (long)pid);
	else if (owner != svc->pid)
		rc = attack_succeeded(a, "HGS runs (pid %ld) but does not hold its pid file",
				      (long)svc->pid);
	else if (!hl_child_running(imp))
		rc = attack_succeeded(a, "the unrelated process %ld was killed", (long)pid);
	else {
		snprintf(why, sizeof(why), "HGS serves as pid %ld and holds hgs.pid's lock; pid %ld, "
			 "which the file named, still runs", (long)svc->pid, (long)pid);
		rc = attack_refused(a, "served anyway", why);
	}
restart:
	if (!svc->child || !hl_child_running(svc->child)) {
		unlink(pidf);
		if (lab_svc_start(L, svc) < 0 || lab_svc_ready(svc) < 0)
			rc = -1;
	}
	lab_save(L);
out:
	attack_host_impostor_end(imp);
	free(pidf);
	return rc;
}

/*
 * down-pid-reuse: a scratch lab.json (HGS, host, DC entries with folders of
 * their own) recording the pids of three unrelated live processes, their
 * pid files naming them too but unlocked, as a lab whose processes died and
 * whose pids were reused; `hgslab down --keep` on it must signal none.
 */
int attack_host_down_pid_reuse(struct attack_run *a)
{
	static const char *const comps[3] = { "hgs", "host", "fabric" };
	static const char *const files[3] = { "hgs.pid", "agent.pid", "dc.pid" };
	struct hl_child *imp[3] = { NULL };
	pid_t pid[3];
	char *dir = NULL, *sub[3] = { NULL }, *lj = NULL, *text = NULL, *err = NULL, why[256];
	struct lab_result r;
	json_t *j = NULL;
	int rc = -1, i, dead = -1;

	memset(&r, 0, sizeof(r));
	if (attack_host_scratch(a, "down-lab", &dir) < 0)
		return -1;
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "lab-impostor-%d", i);
		if (asprintf(&sub[i], "%s/%s", dir, comps[i]) < 0 || hl_file_mkdirs(sub[i], 0700) < 0 ||
		    attack_host_impostor(name, &imp[i], &pid[i]) < 0 ||
		    write_pid(sub[i], files[i], pid[i]) < 0)
			goto out;
	}
	j = json_pack("{s:s, s:s, s:[{s:s, s:s, s:I}], s:[{s:s, s:s, s:I}], s:{s:s, s:I}, s:[]}",
		      "Scenario", "attack-down-pid-reuse", "Work", dir,
		      "Hgs", "Name", "MyHgsService", "Dir", sub[0], "Pid", (json_int_t)pid[0],
		      "Hosts", "Name", "FabricHost9", "Dir", sub[1], "Pid", (json_int_t)pid[1],
		      "Dc", "Dir", sub[2], "Pid", (json_int_t)pid[2], "Vms");
	if (!j || asprintf(&lj, "%s/lab.json", dir) < 0 || hl_json_dump_pretty(j, &text) < 0 ||
	    hl_file_write(lj, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0) {
		if (!j)
			hl_error("out of memory");
		goto out;
	}
	if (lab_exec(a->L, &r, NULL, "down", "--workdir", dir, "--keep", NULL) < 0)
		goto out;
	for (i = 0; i < 3 && dead < 0; i++)
		if (!hl_child_running(imp[i]))
			dead = i;
	err = attack_err_line(r.err);
	if (dead >= 0)
		rc = attack_succeeded(a, "down killed pid %ld (recorded as the lab's %s)",
				      (long)pid[dead], comps[dead]);
	else if (r.rc != 0)
		rc = attack_succeeded(a, "down failed (exit %d): %s", r.rc, err ? err : "no message");
	else {
		snprintf(why, sizeof(why), "down signalled none of pids %ld, %ld, %ld (none holds "
			 "its pid file's lock): all still run", (long)pid[0], (long)pid[1],
			 (long)pid[2]);
		rc = attack_refused(a, "left alone", why);
	}
out:
	for (i = 0; i < 3; i++) {
		attack_host_impostor_end(imp[i]);
		free(sub[i]);
	}
	lab_result_clear(&r);
	json_decref(j);
	hl_file_rmtree(dir);
	free(dir);
	free(lj);
	free(text);
	free(err);
	return rc;
}

/*
 * stop-pid-reuse: the VM's state.json says Running with keeper_pid an
 * unrelated process whose command line reads like a keeper's, keeper.pid
 * names it too (unlocked); `host stop-vm` must signal nobody.
 */
int attack_host_stop_pid_reuse(struct attack_run *a)
{
	struct attack_host_vm S;
	struct hl_child *imp = NULL;
	struct lab_result r;
	char *name = NULL, *state = NULL, *sp = NULL, *err = NULL, why[256];
	pid_t pid = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = attack_host_vm_take(a, &S)) < 0)
		goto out;
	rc = -1;
	if (asprintf(&name, "hgslab host keep-vm --dir %s --name %s", a->L->hosts[S.hi].dir,
		     a->st->vm) < 0 ||
	    asprintf(&sp, "%s/state.json", S.dir) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (attack_host_impostor(name, &imp, &pid) < 0 || write_pid(S.dir, "keeper.pid", pid) < 0 ||
	    asprintf(&state, "{\"state\": \"Running\", \"since\": \"2026-01-01T00:00:00Z\", "
		     "\"policy\": \"shielded\", \"keeper_pid\": %ld}\n", (long)pid) < 0 ||
	    hl_file_write(sp, state, strlen(state), HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (lab_exec(a->L, &r, NULL, "host", "stop-vm", "--dir", a->L->hosts[S.hi].dir, "--name",
		     a->st->vm, "--wait-seconds", "1", NULL) < 0)
		goto out;
	err = attack_err_line(r.err);
	if (!hl_child_running(imp))
		rc = attack_succeeded(a, "stop-vm killed pid %ld, which only looked like the keeper",
				      (long)pid);
	else {
		snprintf(why, sizeof(why), "stop-vm (exit %d) signalled nobody: pid %ld holds no "
			 "keeper lock and still runs%s%s", r.rc, (long)pid, err ? "; " : "",
			 err ? err : "");
		rc = attack_refused(a, "left alone", why);
	}
out:
	attack_host_impostor_end(imp);
	if (attack_host_vm_give_back(a, &S) < 0)
		rc = -1;
	lab_result_clear(&r);
	free(name);
	free(state);
	free(sp);
	free(err);
	return rc;
}

/* ---- availability ---- */

/*
 * start-without-hgs: HGS stopped (as a crash or a cut network would), then
 * start-vm of the step's VM on the step's host: refused (exit 4) with
 * TransientError, whether or not the host holds a valid health certificate,
 * since only KPS can release the VM's key.  HGS is started again after.
 */
int attack_host_start_without_hgs(struct attack_run *a)
{
	struct lab *L = a->L;
	struct lab_svc *svc = &L->hgs[0].nodes[0].svc;
	struct attack_host_vm S;
	struct lab_result r;
	char st[32], *err = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = attack_host_vm_take(a, &S)) < 0)
		goto out;
	lab_svc_stop(svc);
	if ((rc = attack_host_start_vm(a, S.hi, &r)) < 0)
		goto out;
	err = attack_err_line(r.err);
	if (r.rc == 0) {
		rc = attack_succeeded(a, "start-vm ran the VM while HGS was down");
		if (attack_host_stop_vm(a, S.hi) < 0)
			rc = -1;
	} else {
		rc = attack_refused(a, attack_host_exit(&r, st, sizeof(st)), err);
	}
out:
	if (!svc->child || !hl_child_running(svc->child)) {
		if (lab_svc_start(L, svc) < 0 || lab_svc_ready(svc) < 0)
			rc = -1;
		lab_save(L);
	}
	if (attack_host_vm_give_back(a, &S) < 0)
		rc = -1;
	lab_result_clear(&r);
	free(err);
	return rc;
}

/*
 * swtpm-kill: the host's TPM (its swtpm) killed with SIGKILL under the
 * running agent; the agent must restart it (a fresh measured boot) within
 * 30 s, and the host must attest Passed again.
 */
int attack_host_swtpm_kill(struct attack_run *a)
{
	struct lab *L = a->L;
	int hi = lab_host_index(L, a->st->host), i, rc = -1;
	char *tpm = NULL, *err = NULL, why[256];
	struct lab_result r;
	pid_t old, now = 0;

	memset(&r, 0, sizeof(r));
	if (asprintf(&tpm, "dir=%s/tpm", L->hosts[hi].dir) < 0)
		return hl_error("out of memory");
	{
		const char *const needles[] = { "swtpm", tpm, NULL };

		if (!(old = attack_host_find_proc(needles))) {
			hl_error("no swtpm runs for host %s", a->st->host);
			goto out;
		}
		if (kill(old, SIGKILL) < 0) {
			hl_error_errno("cannot kill swtpm %ld", (long)old);
			goto out;
		}
		for (i = 0; i < 300; i++) {
			now = attack_host_find_proc(needles);
			if (now > 0 && now != old)
				break;
			usleep(100000);
		}
	}
	if (now <= 0 || now == old) {
		rc = attack_succeeded(a, "the host's swtpm (pid %ld) was not restarted within 30 s",
				      (long)old);
		goto out;
	}
	if (lab_exec(L, &r, NULL, "host", "test-client-configuration", "--dir", L->hosts[hi].dir,
		     NULL) < 0)
		goto out;
	err = attack_err_line(r.err);
	if (r.rc != 0)
		rc = attack_succeeded(a, "the host's swtpm was restarted (pid %ld) but the host does "
				      "not attest: %s", (long)now, err ? err : "no message");
	else {
		snprintf(why, sizeof(why), "the agent restarted its swtpm (pid %ld, was %ld) with a "
			 "fresh measured boot, and the host attests Passed again", (long)now,
			 (long)old);
		rc = attack_refused(a, "restarted", why);
	}
out:
	lab_result_clear(&r);
	free(tpm);
	free(err);
	return rc;
}
