# shellcheck shell=bash
# A MongoDB-compatible server for the tests: FerretDB v1 on SQLite, loopback only.
#
# Source it (from .ci/run): `source .ci/ferretdb.sh`. It builds FerretDB with Go into a cache
# directory (once; later runs reuse the binary and Go's module and build caches), starts it in
# the background with its state in a fresh temporary directory, waits until it answers a
# `ping`, and exports MONGODB_URL and TEST_MONGODB_URL (no database in the path), plus
# FERRETDB_PID, FERRETDB_DIR and FERRETDB_LOG. The server is stopped when the sourcing shell
# exits (unless FERRETDB_KEEP=1); `ferretdb_stop` stops it earlier.
#
# Why not `go install .../cmd/ferretdb@v1.24.2`: the module zip lacks the generated
# build/version/version.txt, so that binary panics at start ("Invalid build/version/version.txt
# file content"), and `go -overlay` may not replace files in GOMODCACHE. So the module source
# is copied, the file written, and `go build` run there.
#
# Settings (environment): FERRETDB_PORT (default 27017, or a free port when that is taken),
# FERRETDB_CACHE_DIR, FERRETDB_BUILD_JOBS (go build -p, default 2), FERRETDB_WAIT (seconds,
# default 30), FERRETDB_LOG_LEVEL (default error: warn logs every refused command in full).
#
# FerretDB is not MongoDB: findAndModify/update are read-then-write without isolation, so
# concurrent `$inc` on one document loses updates and concurrent upserts raise E11000; no
# transactions, change streams, `$facet`, or `$group` `$max`.
set -euo pipefail

FERRETDB_VERSION=v1.24.2
FERRETDB_MODULE=github.com/FerretDB/FerretDB

_ferretdb_now() { date +%s.%N; }
_ferretdb_since() { awk -v a="$1" -v b="$(_ferretdb_now)" 'BEGIN { printf "%.1fs", b - a }'; }
_ferretdb_fail() {
  echo "ferretdb: $*" >&2
  exit 1
}

# Print the path of a FerretDB binary of the wanted version, building it if needed.
_ferretdb_binary() {
  local cache bin src dir json start
  cache=${FERRETDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fastscaffold/ferretdb-$FERRETDB_VERSION}
  bin=$cache/bin/ferretdb
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | head -n 1)" = "version: $FERRETDB_VERSION" ]; then
    echo "ferretdb: reusing $bin" >&2
    echo "$bin"
    return
  fi
  command -v go >/dev/null || _ferretdb_fail "go is not installed (needed to build FerretDB $FERRETDB_VERSION)"
  start=$(_ferretdb_now)
  mkdir -p "$cache/bin"
  # Outside any module, so the download and the build see only FerretDB's own go.mod.
  json=$(cd "$cache" && GOWORK=off GOFLAGS='' go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION") ||
    _ferretdb_fail "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed: $json"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$json")
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    _ferretdb_fail "no module directory in: $json"
  fi
  echo "ferretdb: module source ready ($(_ferretdb_since "$start"))" >&2
  src=$cache/src
  rm -rf "$src"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  (cd "$src" && GOWORK=off GOFLAGS='' go build -p "${FERRETDB_BUILD_JOBS:-2}" -trimpath -buildvcs=false \
    -o "$bin.tmp.$$" ./cmd/ferretdb) >&2 || _ferretdb_fail "go build of FerretDB $FERRETDB_VERSION failed"
  mv -f "$bin.tmp.$$" "$bin"
  rm -rf "$src"
  [ "$("$bin" --version | head -n 1)" = "version: $FERRETDB_VERSION" ] ||
    _ferretdb_fail "the built $bin does not report $FERRETDB_VERSION"
  echo "ferretdb: built $bin ($(_ferretdb_since "$start"))" >&2
  echo "$bin"
}

# Exit 0 when something accepts TCP connections on 127.0.0.1:$1.
_ferretdb_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_ferretdb_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Exit 0 when the server on 127.0.0.1:$1 answers {ping: 1} with ok: 1 (an OP_MSG by hand, so
# no driver is needed); without python3, a TCP connect has to do.
_ferretdb_ping() {
  command -v python3 >/dev/null || {
    _ferretdb_listening "$1"
    return
  }
  python3 - "$1" <<'EOF' 2>/dev/null
import socket, struct, sys

def cstring(s): return s.encode() + b"\0"
body = b"\x10" + cstring("ping") + struct.pack("<i", 1)
body += b"\x02" + cstring("$db") + struct.pack("<i", 6) + cstring("admin")
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
msg = struct.pack("<I", 0) + b"\0" + doc  # flagBits, section kind 0, the document
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg)
    reply = b""
    while len(reply) < 4 or len(reply) < struct.unpack("<i", reply[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(1)
        reply += chunk
ok = b"\x01ok\x00" + struct.pack("<d", 1.0)
sys.exit(0 if struct.unpack("<i", reply[12:16])[0] == 2013 and ok in reply else 1)
EOF
}

ferretdb_stop() {
  if [ -n "${FERRETDB_PID:-}" ] && kill -0 "$FERRETDB_PID" 2>/dev/null; then
    kill "$FERRETDB_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$FERRETDB_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "${FERRETDB_DIR:-}" ] && [ -d "$FERRETDB_DIR" ]; then
    rm -rf "$FERRETDB_DIR"
  fi
  FERRETDB_PID=
}

_ferretdb_start() {
  local bin port start deadline
  local -a previous
  start=$(_ferretdb_now)
  bin=$(_ferretdb_binary)

  port=${FERRETDB_PORT:-27017}
  if _ferretdb_listening "$port"; then
    [ -z "${FERRETDB_PORT:-}" ] || _ferretdb_fail "port $port (FERRETDB_PORT) is taken"
    port=$(_ferretdb_free_port)
    echo "ferretdb: 27017 is taken, using $port" >&2
  fi

  FERRETDB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferretdb.XXXXXX")
  FERRETDB_LOG=$FERRETDB_DIR/ferretdb.log
  mkdir "$FERRETDB_DIR/data"  # the SQLite handler wants an existing directory
  "$bin" --handler=sqlite --sqlite-url="file:$FERRETDB_DIR/data/" --state-dir="$FERRETDB_DIR" \
    --listen-addr="127.0.0.1:$port" --debug-addr=- --telemetry=disable \
    --log-level="${FERRETDB_LOG_LEVEL:-error}" >"$FERRETDB_LOG" 2>&1 </dev/null &
  FERRETDB_PID=$!
  export FERRETDB_PID FERRETDB_DIR FERRETDB_LOG

  if [ "${FERRETDB_KEEP:-0}" != 1 ]; then
    # Run after whatever EXIT trap the sourcing shell already has.
    eval "previous=($(trap -p EXIT))"  # (trap -- 'command' EXIT) or ()
    if [ ${#previous[@]} -eq 4 ]; then
      trap -- "${previous[2]}
ferretdb_stop" EXIT
    else
      trap ferretdb_stop EXIT
    fi
  fi

  deadline=$(($(date +%s) + ${FERRETDB_WAIT:-30}))
  until _ferretdb_ping "$port"; do
    if ! kill -0 "$FERRETDB_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
      if kill -0 "$FERRETDB_PID" 2>/dev/null; then
        echo "ferretdb: no answer on 127.0.0.1:$port in ${FERRETDB_WAIT:-30}s; its log ends:" >&2
      else
        echo "ferretdb: exited before answering on 127.0.0.1:$port; its log ends:" >&2
      fi
      tail -n 30 "$FERRETDB_LOG" >&2 || true
      ferretdb_stop
      exit 1
    fi
    sleep 0.1
  done

  export MONGODB_URL="mongodb://127.0.0.1:$port"
  export TEST_MONGODB_URL=$MONGODB_URL
  echo "ferretdb: $FERRETDB_VERSION answering at $MONGODB_URL (pid $FERRETDB_PID, $(_ferretdb_since "$start") in all)" >&2
}

_ferretdb_start
unset -f _ferretdb_start _ferretdb_binary _ferretdb_free_port _ferretdb_ping _ferretdb_listening \
  _ferretdb_now _ferretdb_since _ferretdb_fail
