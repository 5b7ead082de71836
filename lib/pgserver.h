/*
 * pgserver.h - a throw-away PostgreSQL server in a directory of its own, for
 * labs and tests that want the PostgreSQL store (lib/store.h) without a
 * machine service: no pg_ctlcluster, no systemd, nothing outside DIR.
 *
 * DIR holds:
 *   DIR/data/        the cluster (initdb), owned by the user the server runs as
 *   DIR/data/server.log   the server's log
 *   DIR/password     the password of the server's one role, mode 0600
 *   DIR/listen       "ADDR:PORT" the server listens on
 *
 * hl_pgserver_start() creates the cluster when DIR/data does not exist yet:
 * initdb with UTF-8 and the C locale (text sorts by bytes, as SQLite's
 * BINARY collation does), one superuser role HL_PGSERVER_USER with a
 * generated password (32 hex digits), SCRAM-SHA-256 authentication for
 * every connection (pg_hba.conf as initdb writes it: local connections and
 * 127.0.0.1/::1 only), no Unix socket, TCP on the given address (default
 * 127.0.0.1) and port (default: a free one).  A password rather than trust:
 * trust on 127.0.0.1 would let every local user (and every other lab on the
 * machine) into the database; the password file is private to DIR's owner.
 * It then starts the server (pg_ctl start: postgres in the background, its
 * pid in DIR/data/postmaster.pid, waited for until it accepts connections)
 * and creates the database HL_PGSERVER_DB when missing.  The server outlives
 * the calling process: hl_pgserver_stop() ends it (pg_ctl stop -m fast,
 * waited for until the postmaster and its children are gone).
 *
 * Users.  initdb and postgres refuse to run as root.  When the effective uid
 * is 0, every server program runs as the unprivileged user
 * HL_PGSERVER_RUN_AS (the one Debian's postgresql package creates): forked,
 * setgid / initgroups / setuid to it, DIR/data chowned to it, DIR made
 * searchable (0711); every folder above DIR must be searchable by that user
 * too (a clear error says so otherwise).  As any other user the programs run
 * as that user.
 *
 * Programs.  initdb, pg_ctl and postgres are taken from $HGSLAB_PG_BINDIR
 * when set, else the newest /usr/lib/postgresql/VERSION/bin (Debian's
 * layout), else the PATH.
 */
#ifndef HGSLAB_LIB_PGSERVER_H
#define HGSLAB_LIB_PGSERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* The role every URI names, and the database the HGS uses. */
#define HL_PGSERVER_USER "hgslab"
#define HL_PGSERVER_DB "hgs"

/* The user the server programs run as when started by root. */
#define HL_PGSERVER_RUN_AS "postgres"

/* How long start and stop wait for the server (seconds). */
#define HL_PGSERVER_TIMEOUT_S 60

/* Room for a URI (postgresql://hgslab:PASSWORD@ADDR:PORT/DBNAME). */
#define HL_PGSERVER_URI_SIZE 1024

/*
 * Create (when DIR/data is missing) and start the server of DIR, listening
 * on ADDR (NULL: 127.0.0.1) and PORT (0: a free one; for an existing
 * cluster both must be NULL/0 or what DIR/listen says).  DIR is created
 * (mode 0700, or 0711 as root) when missing.  A server already running in
 * DIR is an error naming its pid.
 */
int hl_pgserver_start(const char *dir, const char *addr, unsigned short port);

/*
 * Whether the user the server programs run as (postgres when root, else
 * this one) can enter the folder PATH: 1 yes, 0 no, -1 error.  A server
 * folder must be inside one it can enter.
 */
int hl_pgserver_can_enter(const char *path);

/* Stop DIR's server (fast shutdown) and wait until it is gone; 0 when none ran. */
int hl_pgserver_stop(const char *dir);

/* The pid of DIR's running server, 0 when none runs. */
pid_t hl_pgserver_pid(const char *dir);

/* The URI of database DBNAME (NULL: HL_PGSERVER_DB) of DIR's server into BUF. */
int hl_pgserver_uri(const char *dir, const char *dbname, char *buf, size_t size);

/*
 * The same URI without the password: it names a libpq password file
 * instead, DIR/pgpass (written here, mode 0600: "ADDR:PORT:*:USER:PASSWORD"),
 * as postgresql://USER@ADDR:PORT/DBNAME?passfile=ABSOLUTE-DIR/pgpass.  Such a
 * URI may go on a command line or into a node's `store` file: the secret
 * stays in the file.  DIR's absolute path must need no URI escaping
 * (letters, digits, '/', '.', '_', '-'; refused otherwise).
 */
int hl_pgserver_uri_passfile(const char *dir, const char *dbname, char *buf, size_t size);

/*
 * Create database NAME on DIR's running server (a fresh one for a test;
 * NAME: letters, digits, '_'); when it exists already it is dropped first
 * if DROP, else kept.
 */
int hl_pgserver_createdb(const char *dir, const char *name, int drop);

#endif
