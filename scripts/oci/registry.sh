#!/usr/bin/env bash
# A local OCI registry for development: Debian's `docker-registry` (distribution 2.8) serving plain HTTP on
# 127.0.0.1:PORT, storing into a throwaway directory.
#
#   scripts/oci/registry.sh up     [--port P] [--user U --password W]   # start; prints the URL as its last line
#   scripts/oci/registry.sh status [--port P]                           # exit 0 if it is up
#   scripts/oci/registry.sh down   [--port P]                           # stop it and delete its directory
#
# Directory: ${AIOS_REGISTRY_DIR:-/tmp/aios-registry-P}: config.yml, storage/, registry.pid, registry.log,
# htpasswd (with --user). With --user/--password the registry wants HTTP basic auth (htpasswd file, bcrypt
# hashes, the only kind distribution accepts). The hash comes from the first of: `htpasswd -nbB` (apt-get
# install apache2-utils), python `bcrypt` (python3's, or the repository's .venv), python3's `crypt` module
# with METHOD_BLOWFISH (Python <= 3.12 on glibc/libxcrypt: Debian 12, Ubuntu 22.04/24.04).
# Clients: `podman push/pull --tls-verify=false [--creds U:W] 127.0.0.1:P/NAME:TAG`.
set -euo pipefail

die() { echo "registry: error: $*" >&2; exit 1; }
usage() { sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
CMD=$1; shift
PORT=5000 USER_NAME="" PASSWORD=""
while [ $# -gt 0 ]; do
    case $1 in
        --port) PORT=${2:?--port needs a value}; shift 2 ;;
        --port=*) PORT=${1#*=}; shift ;;
        --user) USER_NAME=${2?--user needs a value}; shift 2 ;;
        --user=*) USER_NAME=${1#*=}; shift ;;
        --password) PASSWORD=${2?--password needs a value}; shift 2 ;;
        --password=*) PASSWORD=${1#*=}; shift ;;
        -h|--help) usage ;;
        *) echo "registry: unknown argument $1" >&2; usage ;;
    esac
done
case $PORT in ''|*[!0-9]*) die "--port must be a number, got '$PORT'" ;; esac
if [ -n "$USER_NAME" ] || [ -n "$PASSWORD" ]; then
    [ -n "$USER_NAME" ] && [ -n "$PASSWORD" ] || die "--user and --password go together"
    case $USER_NAME in *:*) die "--user must not contain ':'" ;; esac
fi

DIR=${AIOS_REGISTRY_DIR:-/tmp/aios-registry-$PORT}
URL="http://127.0.0.1:$PORT"
PIDFILE="$DIR/registry.pid"
LOG="$DIR/registry.log"
HERE=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)

# The registry's pid, if the pid file names a live docker-registry process.
running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "serve $DIR/config.yml" || return 1
    echo "$pid"
}
# HTTP status of GET /v2/ (000 when nothing answers).
v2_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/v2/" 2>/dev/null || true; }

# Prints "USER:BCRYPT_HASH" (an htpasswd line).
htpasswd_line() {
    if command -v htpasswd >/dev/null 2>&1; then
        htpasswd -nbB "$USER_NAME" "$PASSWORD" | head -n 1
        return
    fi
    local py
    for py in python3 "$REPO_ROOT/.venv/bin/python"; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import bcrypt' 2>/dev/null; then
            AIOS_U=$USER_NAME AIOS_P=$PASSWORD "$py" -c 'import bcrypt, os
print(os.environ["AIOS_U"] + ":" + bcrypt.hashpw(os.environ["AIOS_P"].encode(), bcrypt.gensalt()).decode())'
            return
        fi
    done
    if command -v python3 >/dev/null 2>&1 && AIOS_U=$USER_NAME AIOS_P=$PASSWORD python3 -W ignore -c 'import crypt, os, sys
h = crypt.crypt(os.environ["AIOS_P"], crypt.mksalt(crypt.METHOD_BLOWFISH))
if not h or not h.startswith("$2"):
    sys.exit(1)
print(os.environ["AIOS_U"] + ":" + h)' 2>/dev/null; then
        return
    fi
    die "cannot make a bcrypt hash: install apache2-utils (htpasswd) or python3-bcrypt"
}

up() {
    local pid code
    if pid=$(running_pid); then
        local want=none have=none
        [ -n "$USER_NAME" ] && want=$USER_NAME
        [ -f "$DIR/auth-user" ] && have=$(cat "$DIR/auth-user")
        [ "$want" = "$have" ] || die "already running at $URL (pid $pid) with auth user '$have', not '$want': run 'registry.sh down --port $PORT' first"
        echo "registry: already running at $URL (pid $pid)" >&2
        echo "$URL"
        return
    fi
    code=$(v2_status)
    [ "$code" = 000 ] || die "port $PORT already answers (HTTP $code) but not from a registry started here ($PIDFILE): pick another --port"
    command -v docker-registry >/dev/null 2>&1 || die "docker-registry is not installed (apt-get install docker-registry)"

    mkdir -p "$DIR/storage"
    rm -f "$DIR/htpasswd" "$DIR/auth-user"
    local auth=""
    if [ -n "$USER_NAME" ]; then
        ( umask 077; htpasswd_line >"$DIR/htpasswd" )
        grep -q '^[^:]*:\$2' "$DIR/htpasswd" || die "could not write a bcrypt htpasswd file"
        echo "$USER_NAME" >"$DIR/auth-user"
        auth="auth:
  htpasswd:
    realm: aios-registry
    path: $DIR/htpasswd"
    fi
    cat >"$DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: aios-registry
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  headers:
    X-Content-Type-Options: [nosniff]
$auth
EOF
    # setsid: its own session, so it outlives this script and the caller's terminal.
    setsid docker-registry serve "$DIR/config.yml" >>"$LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + 20)) ok=200
    [ -n "$USER_NAME" ] && ok=401
    while :; do
        code=$(v2_status)
        [ "$code" = "$ok" ] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LOG" >&2
            rm -f "$PIDFILE"
            die "docker-registry exited (log above, $LOG)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$LOG" >&2
            die "no answer from $URL/v2/ after 20 s (last HTTP $code; log $LOG; pid $pid still running: 'registry.sh down --port $PORT')"
        fi
        sleep 0.2
    done
    echo "registry: up at $URL (pid $pid, ${USER_NAME:+basic auth user $USER_NAME, }storage $DIR/storage, log $LOG)" >&2
    echo "$URL"
}

down() {
    local pid
    if pid=$(running_pid); then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        echo "registry: stopped (pid $pid)" >&2
    else
        echo "registry: not running at $URL" >&2
    fi
    # Delete only a directory this script made.
    if [ -d "$DIR" ]; then
        if [ -f "$DIR/config.yml" ] && [ -d "$DIR/storage" ]; then
            rm -rf "$DIR"
            echo "registry: removed $DIR" >&2
        else
            echo "registry: left $DIR alone (not a registry directory made by this script)" >&2
        fi
    fi
}

status() {
    local pid code
    if pid=$(running_pid); then
        code=$(v2_status)
        case $code in
            200|401) echo "registry: up at $URL (pid $pid, HTTP $code on /v2/)"; return 0 ;;
            *) echo "registry: process $pid runs but $URL/v2/ answers HTTP $code"; return 1 ;;
        esac
    fi
    echo "registry: down ($URL)"
    return 1
}

# up and down of one registry take turns (the lock sits beside the directory, which down removes).
if [ "$CMD" = up ] || [ "$CMD" = down ]; then
    exec 9>"$DIR.lock"
    flock -w 30 9 || die "another registry.sh holds $DIR.lock"
fi

case $CMD in
    up) up ;;
    down) down ;;
    status) status ;;
    *) usage ;;
esac
