#!/usr/bin/env bash
# bench/run.sh: drive Tandem's hub and the reference Node.js Socket.IO 4.8
# server (bench/node) with the same cmd/hubbench load, one after the other,
# and print the two results side by side.
#
#   bench/run.sh [hubbench flags...]        e.g. bench/run.sh --clients 10000 --rooms 10 --idle 30s
#
# Environment:
#   USERS=N        distinct hub users (tokens) shared round-robin by the clients;
#                  default 1. Each distinct user is one entry of the hub's
#                  presence list, which the hub sends to the whole room on
#                  every join and every changeTrack.
#   NODE_ARGS=...  extra arguments of bench/node/server.js, e.g. --presence
#                  to make it send the same presence events as the hub.
#   HUB_PORT, NODE_PORT   loopback ports (default 17878, 17879)
#   PPROF=ADDR     build the hub with bench/hubpprof laid over cmd/hub (go build
#                  -overlay; cmd/hub is not changed) and serve net/http/pprof on
#                  ADDR while it runs, e.g. PPROF=127.0.0.1:6060, then
#                  go tool pprof http://127.0.0.1:6060/debug/pprof/heap
#   OUT=DIR        where results and logs go (default: a new temporary dir)
#   DATA=DIR       the hub's data directory, wiped first (default $OUT/hub-data);
#                  DATA=/dev/shm/hubbench takes fsync out of the hub's command path
#
# The defaults (1000 clients in 10 rooms, 1 sender per room, 20 commands
# each at 50/s) suit a 2-core machine; every hubbench flag given here
# overrides them.
set -euo pipefail
export LANG=en_US.UTF-8

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
USERS=${USERS:-1}
HUB_PORT=${HUB_PORT:-17878}
NODE_PORT=${NODE_PORT:-17879}
NODE_ARGS=${NODE_ARGS:-}
OUT=${OUT:-$(mktemp -d -t hubbench.XXXXXX)}
mkdir -p "$OUT"

# Each side holds one file descriptor per connection.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "run.sh: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
}

echo "== building into $OUT" >&2
if [ -n "${PPROF:-}" ]; then
  printf '{"Replace":{"%s":"%s"}}\n' "$root/cmd/hub/zz_hubpprof.go" "$root/bench/hubpprof/pprof.go" >"$OUT/overlay.json"
  CGO_ENABLED=0 go build -tags hubpprof -overlay "$OUT/overlay.json" -o "$OUT/hub" ./cmd/hub
  export HUB_PPROF=$PPROF
else
  CGO_ENABLED=0 go build -o "$OUT/hub" ./cmd/hub
fi
go build -o "$OUT/hubbench" ./cmd/hubbench
if [ ! -d bench/node/node_modules/socket.io ] || [ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]; then
  (cd bench/node && npm ci --no-audit --no-fund)
fi

pid=
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=
}
trap stop EXIT

# wait_port PORT: until something listens on 127.0.0.1:PORT (at most 20 s).
wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: the server exited" >&2; return 1; }
    sleep 0.1
  done
  echo "run.sh: nothing listens on port $1" >&2
  return 1
}

status=0
common=(--clients 1000 --rooms 10 --senders 1 --messages 20 --rate 50 --idle 5s)

# Tandem's hub, with the demo library so that the rooms have tracks. The
# tokens are made while the hub is stopped: bbolt locks its file.
data=${DATA:-$OUT/hub-data}
rm -rf "$data"
"$OUT/hubbench" tokens --data "$data" --users "$USERS" >"$OUT/tokens"
# Rooms are open to every friend and the rate limit is off: the reference
# server has neither, and hubbench sends faster than a person does.
"$OUT/hub" serve --addr "127.0.0.1:$HUB_PORT" --data "$data" --demo --open-rooms --rate-limit 1000000 --rate-burst 1000000 2>"$OUT/hub.log" &
pid=$!
wait_port "$HUB_PORT"
echo "== hub (pid $pid)" >&2
"$OUT/hubbench" --url "http://127.0.0.1:$HUB_PORT" --label hub --pid "$pid" --tokens "$OUT/tokens" \
  --json "$OUT/hub.json" "${common[@]}" "$@" | tee "$OUT/hub.txt" || status=1
stop

# The reference Node.js server checks no token; it shows each client under
# its token, so the presence lists (with --presence) are as long as the hub's.
# shellcheck disable=SC2086 # NODE_ARGS is a list of words
node bench/node/server.js "$NODE_PORT" $NODE_ARGS >"$OUT/node.log" 2>&1 &
pid=$!
wait_port "$NODE_PORT"
echo "== node (pid $pid)" >&2
"$OUT/hubbench" --url "http://127.0.0.1:$NODE_PORT" --label node --pid "$pid" --tokens "$OUT/tokens" \
  --json "$OUT/node.json" "${common[@]}" "$@" | tee "$OUT/node.txt" || status=1
stop

echo
echo "== side by side ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)); results in $OUT"
"$OUT/hubbench" compare "$OUT/hub.json" "$OUT/node.json" | tee "$OUT/compare.md"

# What one write(2) to a loopback connection costs here, alone: the least
# CPU any server spends on a delivery sent with its own write.
echo
"$OUT/hubbench" floor | tee "$OUT/floor.txt" || status=1
exit "$status"
