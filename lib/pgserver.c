/*
 * pgserver.c - the throw-away PostgreSQL server of pgserver.h: initdb into
 * DIR/data, configuration appended to its postgresql.conf, pg_ctl start and
 * stop (each run as a child that drops root for HL_PGSERVER_RUN_AS), and
 * the database created over libpq.  Every program is run from an argv,
 * never a shell string; its output goes to a log in DIR whose last line
 * ends the error message when it fails.
 */
#include "lib/pgserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lib/child.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/served.h"

/* Who runs the server programs: uid/gid (-1 when this process's own user) and the name. */
struct runas {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* The user the programs run as: HL_PGSERVER_RUN_AS when root, else ourselves. */
static int runas_get(struct runas *r)
{
	struct passwd *pw;

	r->uid = (uid_t)-1;
	r->gid = (gid_t)-1;
	r->name[0] = '\0';
	if (geteuid() != 0)
		return 0;
	pw = getpwnam(HL_PGSERVER_RUN_AS);
	if (!pw)
		return hl_error("cannot run the PostgreSQL server as root, and there is no user "
				"'%s' to run it as; install Debian's postgresql package (it creates "
				"that user) or run hgslab as an unprivileged user", HL_PGSERVER_RUN_AS);
	r->uid = pw->pw_uid;
	r->gid = pw->pw_gid;
	snprintf(r->name, sizeof(r->name), "%s", pw->pw_name);
	return 0;
}

/* The directory of PROGRAM ("initdb") into BUF, "" for a PATH lookup. */
static void bindir_find(const char *program, char *buf, size_t size)
{
	const char *env = getenv("HGSLAB_PG_BINDIR");
	glob_t g;
	long best = -1, v;
	char path[PATH_MAX];

	buf[0] = '\0';
	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return;
	}
	snprintf(path, sizeof(path), "/usr/lib/postgresql/*/bin/%s", program);
	if (glob(path, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
		if (v > best) {
			best = v;
			snprintf(buf, size, "%.*s", (int)(strrchr(g.gl_pathv[i], '/') - g.gl_pathv[i]),
				 g.gl_pathv[i]);
		}
	}
	globfree(&g);
}

/* The last non-empty line of file PATH into BUF ("" when none). */
static void last_line(const char *path, char *buf, size_t size)
{
	char *text = NULL, *end, *start;
	size_t len = 0;

	buf[0] = '\0';
	if (hl_file_read(path, 1 << 20, &text, &len) < 0) {
		hl_error_clear();
		return;
	}
	end = text + len;
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	start = strrchr(text, '\n');
	snprintf(buf, size, "%s", start ? start + 1 : text);
	free(text);
}

/*
 * Run PROGRAM (from the PostgreSQL bin directory) with ARGV[1..] as R's
 * user in DIR, output to LOG (appended, created 0600), and wait for it:
 * 0 when it exited 0, else -1 naming it, its status and the log's last line.
 */
static int run_prog(const struct runas *r, const char *dir, const char *log, char *const argv[])
{
	char bin[PATH_MAX], prog[PATH_MAX], msg[256] = "", tail[512];
	int pipefd[2], logfd, status = 0;
	ssize_t n;
	pid_t pid;

	bindir_find(argv[0], bin, sizeof(bin));
	if (bin[0])
		snprintf(prog, sizeof(prog), "%s/%s", bin, argv[0]);
	else
		snprintf(prog, sizeof(prog), "%s", argv[0]);
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return hl_error_errno("cannot open the log '%s'", log);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(logfd);
		return hl_error_errno("cannot run '%s'", argv[0]);
	}
	pid = fork();
	if (pid < 0) {
		close(logfd);
		close(pipefd[0]);
		close(pipefd[1]);
		return hl_error_errno("cannot run '%s'", argv[0]);
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		umask(077);
		if (r->uid != (uid_t)-1 &&
		    (setgid(r->gid) < 0 || initgroups(r->name, r->gid) < 0 || setuid(r->uid) < 0)) {
			snprintf(msg, sizeof(msg), "cannot switch to user '%s': %s", r->name,
				 strerror(errno));
			goto fail;
		}
		if (chdir(dir) < 0) {
			snprintf(msg, sizeof(msg), "user '%s' cannot enter '%s': %s; make every "
				 "folder above it searchable (chmod o+x) or choose another folder",
				 r->name[0] ? r->name : "(self)", dir, strerror(errno));
			goto fail;
		}
		if (bin[0])
			execv(prog, argv);
		else
			execvp(prog, argv);
		snprintf(msg, sizeof(msg), "cannot run '%s': %s; install Debian's postgresql "
			 "package or set HGSLAB_PG_BINDIR", prog, strerror(errno));
fail:
		if (write(pipefd[1], msg, strlen(msg)) < 0)
			_exit(126);
		_exit(127);
	}
	close(logfd);
	close(pipefd[1]);
	n = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n > 0) {
		msg[n] = '\0';
		return hl_error("%s", msg);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	last_line(log, tail, sizeof(tail));
	return hl_error("%s failed (%s %d): %s; see '%s'", argv[0],
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			tail[0] ? tail : "no message", log);
}

/* A free TCP port on ADDR into *PORT (bound, read, released). */
static int free_port(const char *addr, unsigned short *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return hl_error_errno("cannot pick a free port");
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		close(fd);
		return hl_error("invalid listen address '%s': give an IPv4 address", addr);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		hl_error_errno("cannot pick a free port on %s", addr);
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	close(fd);
	return 0;
}

/* DIR/NAME into BUF. */
static const char *dir_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

/* Read DIR/listen ("ADDR:PORT") into ADDR and *PORT. */
static int listen_read(const char *dir, char addr[16], unsigned short *port)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int rc;

	if (hl_file_read(dir_path(path, sizeof(path), dir, "listen"), 64, &text, &len) < 0)
		return hl_error_wrap("'%s' holds no PostgreSQL server made by `hgslab pgsql start`",
				     dir);
	text[strcspn(text, "\r\n")] = '\0';
	rc = hl_served_parse_listen(text, addr, port);
	free(text);
	return rc;
}

/* Create the cluster of DIR: password, initdb, configuration, listen file. */
static int cluster_create(const char *dir, const struct runas *r, const char *addr,
			  unsigned short port)
{
	unsigned char rnd[16];
	char pw[33], path[PATH_MAX], data[PATH_MAX], pwfile[PATH_MAX], log[PATH_MAX];
	char conf[512], listen[32], arg_pw[PATH_MAX + 16];
	char *argv[] = { "initdb", "-D", data, "-U", HL_PGSERVER_USER, arg_pw,
			 "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
			 "--no-instructions", NULL };
	int rc = -1, fd;

	if (hl_crypto_random(rnd, sizeof(rnd)) < 0 ||
	    hl_crypto_hex_encode(rnd, sizeof(rnd), pw, sizeof(pw)) < 0)
		return -1;
	dir_path(data, sizeof(data), dir, "data");
	dir_path(pwfile, sizeof(pwfile), dir, "initdb.pw");
	dir_path(log, sizeof(log), dir, "initdb.log");
	snprintf(arg_pw, sizeof(arg_pw), "--pwfile=%s", pwfile);
	if (hl_file_write_private(dir_path(path, sizeof(path), dir, "password"), pw, strlen(pw)) < 0 ||
	    hl_file_write_private(pwfile, pw, strlen(pw)) < 0)
		goto out;
	if (mkdir(data, 0700) < 0) {
		hl_error_errno("cannot create '%s'", data);
		goto out;
	}
	if (r->uid != (uid_t)-1 && (chown(data, r->uid, r->gid) < 0 ||
				    chown(pwfile, r->uid, r->gid) < 0)) {
		hl_error_errno("cannot hand '%s' to user '%s'", data, r->name);
		goto out;
	}
	if (run_prog(r, dir, log, argv) < 0) {
		hl_error_wrap("cannot create the PostgreSQL cluster in '%s'", data);
		goto out;
	}
	snprintf(conf, sizeof(conf), "\n# hgslab pgsql start\nlisten_addresses = '%s'\nport = %u\n"
		 "unix_socket_directories = ''\nmax_connections = 200\n", addr, port);
	dir_path(path, sizeof(path), data, "postgresql.conf");
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, conf, strlen(conf)) != (ssize_t)strlen(conf)) {
		hl_error_errno("cannot configure '%s'", path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	snprintf(listen, sizeof(listen), "%s:%u\n", addr, port);
	if (hl_file_write(dir_path(path, sizeof(path), dir, "listen"), listen, strlen(listen),
			  0644) < 0)
		goto out;
	rc = 0;
out:
	unlink(pwfile);
	hl_crypto_cleanse(pw, sizeof(pw));
	if (rc < 0 && hl_file_exists(data) && hl_file_rmtree(data) < 0)
		hl_error_clear();   /* the first error is the one to tell */
	return rc;
}

/* The pid of DIR's running postmaster (DIR/data/postmaster.pid), 0 when none. */
pid_t hl_pgserver_pid(const char *dir)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	long pid;

	snprintf(path, sizeof(path), "%s/data/postmaster.pid", dir);
	if (hl_file_read(path, 4096, &text, &len) < 0) {
		hl_error_clear();
		return 0;
	}
	pid = strtol(text, NULL, 10);
	free(text);
	return pid > 0 && hl_proc_alive((pid_t)pid) ? (pid_t)pid : 0;
}

/* Create (when new) and start DIR's server, then its database. */
int hl_pgserver_start(const char *dir, const char *addr, unsigned short port)
{
	char data[PATH_MAX], log[PATH_MAX], ctl_log[PATH_MAX], have_addr[16], timeout[16];
	char *argv[] = { "pg_ctl", "-D", data, "-l", log, "-w", "-t", timeout, "-s", "start", NULL };
	unsigned short have_port;
	struct runas r;
	pid_t pid;

	if (runas_get(&r) < 0)
		return -1;
	if (hl_file_mkdirs(dir, 0700) < 0 || (r.uid != (uid_t)-1 && chmod(dir, 0711) < 0))
		return hl_error_wrap("cannot prepare the PostgreSQL server folder '%s'", dir);
	dir_path(data, sizeof(data), dir, "data");
	dir_path(log, sizeof(log), data, "server.log");
	snprintf(timeout, sizeof(timeout), "%d", HL_PGSERVER_TIMEOUT_S);
	if (!hl_file_exists(data)) {
		if (!addr)
			addr = "127.0.0.1";
		if (!port && free_port(addr, &port) < 0)
			return -1;
		if (cluster_create(dir, &r, addr, port) < 0)
			return -1;
	} else {
		if (listen_read(dir, have_addr, &have_port) < 0)
			return -1;
		if ((addr && strcmp(addr, have_addr) != 0) || (port && port != have_port))
			return hl_error("the PostgreSQL server in '%s' listens on %s:%u; start it "
					"without --listen, or make a new one in another folder", dir,
					have_addr, have_port);
	}
	pid = hl_pgserver_pid(dir);
	if (pid)
		return hl_error("the PostgreSQL server in '%s' runs already (pid %ld); stop it with "
				"`hgslab pgsql stop --dir %s`", dir, (long)pid, dir);
	if (run_prog(&r, dir, dir_path(ctl_log, sizeof(ctl_log), dir, "pg_ctl.log"), argv) < 0) {
		char why[1024], tail[512];

		snprintf(why, sizeof(why), "%s", hl_error_last());
		last_line(log, tail, sizeof(tail));
		return hl_error("cannot start the PostgreSQL server in '%s': %s%s%s", dir, why,
				tail[0] ? "; the server says: " : "", tail);
	}
	return hl_pgserver_createdb(dir, HL_PGSERVER_DB, 0);
}

/* Stop DIR's server and wait until it is gone. */
int hl_pgserver_stop(const char *dir)
{
	char data[PATH_MAX], log[PATH_MAX], timeout[16];
	char *argv[] = { "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", timeout, "-s", "stop",
			 NULL };
	struct runas r;
	pid_t pid = hl_pgserver_pid(dir);

	if (!pid)
		return 0;
	if (runas_get(&r) < 0)
		return -1;
	dir_path(data, sizeof(data), dir, "data");
	snprintf(timeout, sizeof(timeout), "%d", HL_PGSERVER_TIMEOUT_S);
	if (run_prog(&r, dir, dir_path(log, sizeof(log), dir, "pg_ctl.log"), argv) < 0)
		return hl_error_wrap("cannot stop the PostgreSQL server in '%s' (pid %ld)", dir,
				     (long)pid);
	if (hl_proc_wait(&pid, 1, HL_PGSERVER_TIMEOUT_S * 1000) != 0)
		return hl_error("the PostgreSQL server in '%s' (pid %ld) still runs after pg_ctl "
				"stop", dir, (long)pid);
	return 0;
}

/* The URI of DBNAME on DIR's server. */
int hl_pgserver_uri(const char *dir, const char *dbname, char *buf, size_t size)
{
	char path[PATH_MAX], addr[16], *pw = NULL;
	unsigned short port;
	size_t len;
	int n;

	buf[0] = '\0';
	if (listen_read(dir, addr, &port) < 0)
		return -1;
	if (hl_file_read(dir_path(path, sizeof(path), dir, "password"), 256, &pw, &len) < 0)
		return hl_error_wrap("cannot read the password of the PostgreSQL server in '%s'", dir);
	pw[strcspn(pw, "\r\n")] = '\0';
	n = snprintf(buf, size, "postgresql://%s:%s@%s:%u/%s", HL_PGSERVER_USER, pw, addr, port,
		     dbname ? dbname : HL_PGSERVER_DB);
	hl_crypto_cleanse(pw, len);
	free(pw);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return hl_error("the URI of the PostgreSQL server in '%s' is too long", dir);
	}
	return 0;
}

int hl_pgserver_can_enter(const char *path)
{
	struct runas r;
	pid_t pid;
	int status;

	if (runas_get(&r) < 0)
		return -1;
	if (r.uid == (uid_t)-1)
		return 1;               /* the server runs as this user */
	pid = fork();
	if (pid < 0)
		return hl_error_errno("cannot check whether '%s' can enter '%s'", r.name, path);
	if (pid == 0) {
		if (setgid(r.gid) < 0 || initgroups(r.name, r.gid) < 0 || setuid(r.uid) < 0)
			_exit(2);
		_exit(chdir(path) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return hl_error_errno("cannot check whether '%s' can enter '%s'", r.name,
					      path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return hl_error("cannot switch to the user '%s' to check '%s'", r.name, path);
	return WEXITSTATUS(status) == 0;
}

int hl_pgserver_uri_passfile(const char *dir, const char *dbname, char *buf, size_t size)
{
	char abs[PATH_MAX], path[PATH_MAX], addr[16], line[512], *pw = NULL;
	unsigned short port;
	size_t len;
	int n, rc = -1;

	buf[0] = '\0';
	if (!realpath(dir, abs))
		return hl_error_errno("cannot find the PostgreSQL server folder '%s'", dir);
	if (strspn(abs, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") !=
	    strlen(abs))
		return hl_error("the folder '%s' of the PostgreSQL server has characters a URI would "
				"need escaped: give one named with letters, digits, '/', '.', '_', '-'",
				abs);
	if (listen_read(dir, addr, &port) < 0)
		return -1;
	if (hl_file_read(dir_path(path, sizeof(path), dir, "password"), 256, &pw, &len) < 0)
		return hl_error_wrap("cannot read the password of the PostgreSQL server in '%s'", dir);
	pw[strcspn(pw, "\r\n")] = '\0';
	n = snprintf(line, sizeof(line), "%s:%u:*:%s:%s\n", addr, port, HL_PGSERVER_USER, pw);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		hl_error("the password line of the PostgreSQL server in '%s' is too long", dir);
		goto out;
	}
	if (hl_file_write_private(dir_path(path, sizeof(path), dir, "pgpass"), line,
				  (size_t)n) < 0)
		goto out;
	n = snprintf(buf, size, "postgresql://%s@%s:%u/%s?passfile=%s/pgpass", HL_PGSERVER_USER,
		     addr, port, dbname ? dbname : HL_PGSERVER_DB, abs);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		hl_error("the URI of the PostgreSQL server in '%s' is too long", dir);
		goto out;
	}
	rc = 0;
out:
	hl_crypto_cleanse(line, sizeof(line));
	if (pw)
		hl_crypto_cleanse(pw, len);
	free(pw);
	return rc;
}

/* Server notices (NOTICE: database does not exist, skipping) are not errors: drop them. */
static void notice_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Create database NAME (dropped first when DROP) on DIR's server. */
int hl_pgserver_createdb(const char *dir, const char *name, int drop)
{
	char uri[HL_PGSERVER_URI_SIZE], sql[160];
	PGconn *c = NULL;
	PGresult *res = NULL;
	const char *state;
	int rc = -1;

	if (!name || !*name || strlen(name) > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(name))
		return hl_error("invalid database name '%s': use letters, digits and '_'",
				name ? name : "");
	if (hl_pgserver_uri(dir, "postgres", uri, sizeof(uri)) < 0)
		return -1;
	c = PQconnectdb(uri);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		hl_error("cannot connect to the PostgreSQL server in '%s': %s", dir,
			 c ? PQerrorMessage(c) : "out of memory");
		goto out;
	}
	PQsetNoticeProcessor(c, notice_quiet, NULL);
	if (drop) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
		res = PQexec(c, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			hl_error("cannot drop database '%s': %s", name, PQresultErrorMessage(res));
			goto out;
		}
		PQclear(res);
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	res = PQexec(c, sql);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && !(state && strcmp(state, "42P04") == 0)) {
		hl_error("cannot create database '%s': %s", name, PQresultErrorMessage(res));
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	PQfinish(c);
	return rc;
}
