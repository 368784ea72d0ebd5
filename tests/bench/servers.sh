# Sourced by the shell benchmarks that run servers side by side (ab.sh,
# evalsha_pair.sh): a temp dir, free loopback ports, servers started there
# and always stopped. The caller sets PREFIX (the temp dir's name) and
# defines die() first.

TMP=$(mktemp -d "/tmp/$PREFIX.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME COMMAND [ARG...]: runs COMMAND --port P --bind 127.0.0.1 --dir
# $TMP/NAME (cairn-server or redis-server; its output in $TMP/NAME.log) and
# waits for its PING; sets PORT (not in a subshell: PIDS must reach cleanup).
start() {
    name=$1
    shift
    PORT=$(free_port)
    mkdir -p "$TMP/$name"
    "$@" --port "$PORT" --bind 127.0.0.1 --dir "$TMP/$name" >"$TMP/$name.log" 2>&1 &
    PIDS="$PIDS $!"
    i=0
    until redis-cli -p "$PORT" PING >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 300 ] || die "$name did not answer PING on port $PORT (log: $TMP/$name.log)"
        sleep 0.1
    done
}
