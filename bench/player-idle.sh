#!/usr/bin/env bash
# Measures the desktop player (issue 7's targets): the time from starting
# bin/player to an interactive window (its table drawn and answering), and
# its CPU while paused with the window visible, under Xvfb, with the
# built-in hub and a fresh home. Usage: bench/player-idle.sh [seconds] [runs]
# With PULSE=1 the player's sound goes to a PulseAudio null sink (a real
# output stream, as on a desktop) instead of the muted output. The sink has
# norewinds=1, as in the tests (internal/testhub.Pulse says why).
set -euo pipefail
secs=${1:-60}
runs=${2:-3}
bin=${TANDEM_PLAYER_BIN:-$(dirname "$0")/../bin/player}
tck=$(getconf CLK_TCK)
display=""
for n in $(seq 150 199); do [ -e /tmp/.X$n-lock ] || { display=:$n; break; }; done
Xvfb $display -screen 0 1400x900x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; wait $xvfb 2>/dev/null' EXIT
for _ in $(seq 100); do xdpyinfo -display $display >/dev/null 2>&1 && break; sleep 0.1; done
pulse_env=()
if [ "${PULSE:-}" = 1 ]; then
  rt=$(mktemp -d)
  XDG_RUNTIME_DIR=$rt HOME=$rt pulseaudio -n --daemonize=no --exit-idle-time=-1 -L module-native-protocol-unix \
    -L "module-null-sink sink_name=nullsink norewinds=1" -L module-always-sink >/dev/null 2>&1 &
  pulse=$!
  trap 'kill $xvfb $pulse 2>/dev/null; wait $xvfb $pulse 2>/dev/null; rm -rf "$rt"' EXIT
  for _ in $(seq 100); do [ -S "$rt/pulse/native" ] && break; sleep 0.1; done
  pulse_env=(XDG_RUNTIME_DIR="$rt")
fi
for run in $(seq "$runs"); do
  home=$(mktemp -d)
  start=$(date +%s.%N)
  env "${pulse_env[@]}" DISPLAY=$display HOME=$home XDG_CONFIG_HOME=$home/config XDG_DATA_HOME=$home/data LANG=en_US.UTF-8 \
    DBUS_SESSION_BUS_ADDRESS=unix:path=$home/none \
    "$bin" --listen 127.0.0.1:0 --debug-addr 127.0.0.1:0 ${PLAYER_ARGS:-} >"$home/log" 2>&1 &
  pid=$!
  url=""
  for _ in $(seq 1500); do
    url=$(grep -o 'url=http://[^ ]*/debug/state' "$home/log" | head -1 | cut -d= -f2 || true)
    if [ -n "$url" ] && curl -fs "$url?row=0" | grep -q '"row":{'; then break; fi
    if ! kill -0 $pid 2>/dev/null; then echo "the player exited; its log:"; cat "$home/log"; exit 1; fi
    sleep 0.02
  done
  ready=$(date +%s.%N)
  sleep 10 # let the connection and the clock settle
  if ! kill -0 $pid 2>/dev/null; then echo "the player exited; its log:"; tail -20 "$home/log"; exit 1; fi
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
  sleep "$secs"
  read -r u2 s2 < <(awk '{print $14, $15}' /proc/$pid/stat)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  if ! kill $pid 2>/dev/null; then echo "the player exited:"; tail -20 "$home/log"; exit 1; fi; wait $pid 2>/dev/null || true
  awk -v r="$run" -v st="$start" -v rd="$ready" -v u="$((u2 - u1))" -v s="$((s2 - s1))" -v t="$tck" -v secs="$secs" -v rss="$rss" \
    'BEGIN { printf "run %d: interactive window in %.2f s; paused CPU %.2f%% of one core over %d s (user %.2f s, sys %.2f s); RSS %.0f MB\n", r, rd - st, 100 * (u + s) / t / secs, secs, u / t, s / t, rss / 1024 }'
  rm -rf "$home"
done
