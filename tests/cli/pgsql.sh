#!/usr/bin/env bash
# pgsql.sh - `hgslab pgsql start|stop|url`: a throw-away PostgreSQL server in a
# folder of its own (lib/pgserver.h): created on the first start, loopback
# only, a password in a private file, its database reachable by the printed
# URI; started again with its data; stopped with nothing left running; as
# root it runs as the user 'postgres'.  Usage errors exit 2.
. "$(dirname "$0")/lib.sh"
require psql jq
chmod 711 "$T"    # as root the server runs as 'postgres', which must pass through
D="$T/pg"
# gone PID: the process ended (a zombie waiting for init, which adopted the daemon, counts as ended)
gone() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ]; }
trap '"$HGSLAB" pgsql stop --dir "$D" >/dev/null 2>&1; "$HGSLAB" pgsql stop --dir "$T/pg2" >/dev/null 2>&1; rm -rf "$T"' EXIT

run "$HGSLAB" pgsql start --dir "$D"
ok $RC "start creates and starts a server (exit $RC: $ERR)"
URI=$OUT
[[ $URI =~ ^postgresql://hgslab:[0-9A-F]{32}@127\.0\.0\.1:[0-9]+/hgs$ ]]
ok $? "start prints postgresql://hgslab:PASSWORD@127.0.0.1:PORT/hgs"
[ "$(stat -c %a "$D/password")" = 600 ]
ok $? "the password file is mode 600"
grep -q "^listen_addresses = '127.0.0.1'" "$D/data/postgresql.conf" &&
	grep -q "^unix_socket_directories = ''" "$D/data/postgresql.conf"
ok $? "the server listens on loopback TCP only"
[ "$(psql "$URI" -Atc 'SELECT current_user || current_database()')" = hgslabhgs ]
ok $? "the URI reaches the database 'hgs' as 'hgslab'"
BAD=${URI/hgslab:/hgslab:00}
psql "$BAD" -Atc 'SELECT 1' >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "a wrong password is refused (SCRAM)"
run "$HGSLAB" pgsql url --dir "$D"
[ $RC -eq 0 ] && [ "$OUT" = "$URI" ]
ok $? "url prints the same URI"
run "$HGSLAB" pgsql url --dir "$D" --passfile
PF=$OUT
[ $RC -eq 0 ] && [[ $PF =~ ^postgresql://hgslab@127\.0\.0\.1:[0-9]+/hgs\?passfile=/.*/pgpass$ ]] &&
	! grep -q "$(cat "$D/password")" <<<"$PF" && [ "$(stat -c %a "$D/pgpass")" = 600 ]
ok $? "url --passfile: a URI without the password, naming DIR/pgpass (mode 600)"
[ "$(psql "$PF" -Atc 'SELECT current_user')" = hgslab ]
ok $? "the --passfile URI reaches the database (libpq reads the password from the file)"
run "$HGSLAB" pgsql url --dir "$D" --json
PID=$(jq -r .Pid <<<"$OUT")
[ $RC -eq 0 ] && [ "$(jq -r .Uri <<<"$OUT")" = "$URI" ] && [ "$PID" -gt 0 ] && kill -0 "$PID"
ok $? "url --json gives Uri and the running server's Pid"
if [ "$(id -u)" -eq 0 ]; then
	[ "$(ps -o user= -p "$PID")" = postgres ] && [ "$(stat -c %U "$D/data")" = postgres ]
	ok $? "as root the server runs as 'postgres', which owns the data"
else
	[ "$(ps -o user= -p "$PID")" = "$(id -un)" ]
	ok $? "as a normal user the server runs as that user"
fi
run "$HGSLAB" pgsql start --dir "$D"
[ $RC -eq 1 ] && [[ $ERR == *"runs already (pid $PID)"* ]]
ok $? "a second start is refused while it runs"
psql "$URI" -qAtc 'CREATE TABLE kept(x BIGINT); INSERT INTO kept VALUES (42)' >/dev/null

run "$HGSLAB" pgsql stop --dir "$D"
[ $RC -eq 0 ] && [[ $OUT == *"stopped the server"* ]]
ok $? "stop stops it"
gone "$PID" && ! pgrep -f -- "-D $D/data" >/dev/null && [ ! -e "$D/data/postmaster.pid" ]
ok $? "no server process is left"
run "$HGSLAB" pgsql stop --dir "$D"
[ $RC -eq 0 ] && [[ $OUT == *"no server runs"* ]]
ok $? "stop when none runs is exit 0"
run "$HGSLAB" pgsql url --dir "$D" --json
[ $RC -eq 0 ] && [ "$(jq -r .Pid <<<"$OUT")" = 0 ]
ok $? "url of a stopped server says Pid 0"

run "$HGSLAB" pgsql start --dir "$D" --json
[ $RC -eq 0 ] && [ "$(jq -r .Uri <<<"$OUT")" = "$URI" ]
ok $? "start again: the same URI"
[ "$(psql "$URI" -Atc 'SELECT x FROM kept')" = 42 ]
ok $? "the data survived the restart"
run "$HGSLAB" pgsql start --dir "$D" --listen 127.0.0.1:1
[ $RC -eq 1 ] && [[ $ERR == *"listens on 127.0.0.1:"* ]]
ok $? "an existing server keeps its address (another --listen is refused)"
check "stop it again" "$HGSLAB" pgsql stop --dir "$D"

PORT=$((20000 + RANDOM % 20000))
run "$HGSLAB" pgsql start --dir "$T/pg2" --listen "127.0.0.1:$PORT"
[ $RC -eq 0 ] && [[ $OUT == *"@127.0.0.1:$PORT/hgs" ]]
ok $? "--listen ADDR:PORT picks the port ($ERR)"
check "and it stops" "$HGSLAB" pgsql stop --dir "$T/pg2"

run "$HGSLAB" pgsql url --dir "$T/nothing"
[ $RC -eq 1 ] && [[ $ERR == *"holds no PostgreSQL server"* ]]
ok $? "url of a folder without a server is a clear error"
run "$HGSLAB" pgsql start --dir "$T/pg3" --listen nonsense
[ $RC -eq 2 ]
ok $? "a bad --listen is a usage error (exit $RC)"
run "$HGSLAB" pgsql start
[ $RC -eq 2 ]
ok $? "--dir is required"
done_testing
