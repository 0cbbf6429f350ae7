#!/usr/bin/env bash
# A soak: `bootstrap serve` under a steady half of its measured capacity for DURATION
# seconds (10 minutes by default), sampling the bootstrap's RSS and open file descriptors
# and the PHP processes' RSS every INTERVAL seconds. A leak shows as growth from the first
# sample to the last; the load's errors and latency are wrk's.
#   benches/soak.sh                 (DURATION=600 INTERVAL=30 CHILDREN=2 CONNECTIONS=64)
# Not part of `make test`: it is a benchmark, run by hand (`make soak`).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
INTERVAL=${INTERVAL:-30}
CHILDREN=${CHILDREN:-2}
CONNECTIONS=${CONNECTIONS:-64}
for tool in wrk curl; do
  command -v $tool >/dev/null || { echo "error: $tool not found: apt-get install wrk curl" >&2; exit 1; }
done

cargo build --release -q -p lamphp-bootstrap
work=$(mktemp -d /tmp/lamphp-soak.XXXXXX)
cleanup() { [ -n "${lam_pid:-}" ] && kill "$lam_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/root"
# A page that does some work and sets a cookie, and a static file.
cat > "$work/root/index.php" <<'PHP'
<?php
setcookie('seen', (string) time());
$rows = [];
for ($i = 0; $i < 200; $i++) { $rows[] = ['n' => $i, 'h' => md5((string) $i)]; }
echo json_encode(['rows' => count($rows), 'uri' => $_SERVER['REQUEST_URI']]);
PHP
head -c 20000 /dev/urandom > "$work/root/static.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LAMPHP_LOG=warn ./target/release/bootstrap serve --root "$work/root" \
  --listen "127.0.0.1:$port" --workers "$CHILDREN" --runtime-dir "$work/run" &
lam_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/index.php" >/dev/null && break; sleep 0.1; done

# Capacity: as fast as wrk can for 5 s.
capacity=$(wrk -t2 -c16 -d5s "http://127.0.0.1:$port/index.php" | awk '/Requests\/sec/ {print int($2)}')
rate=$((capacity / 2))
# wrk has no rate limit, but a script's delay() paces each connection.
delay_ms=$(( CONNECTIONS * 1000 / rate ))
[ "$delay_ms" -ge 1 ] || delay_ms=1
cat > "$work/pace.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then return wrk.format("GET", "/static.bin") end
  return wrk.format("GET", "/index.php?n=" .. n)
end
delay = function() return $delay_ms end
LUA

php_rss() { # the PHP processes' RSS, KiB
  local total=0
  for p in $(cat /proc/$lam_pid/task/*/children); do
    total=$((total + $(awk '/VmRSS/ {print $2}' /proc/$p/status)))
    for c in $(cat /proc/$p/task/*/children 2>/dev/null); do
      total=$((total + $(awk '/VmRSS/ {print $2}' /proc/$c/status 2>/dev/null || echo 0)))
    done
  done
  echo $total
}
sample() {
  printf '%6s s  bootstrap RSS %6s KiB  fds %4s  PHP RSS %7s KiB\n' "$1" \
    "$(awk '/VmRSS/ {print $2}' /proc/$lam_pid/status)" "$(ls /proc/$lam_pid/fd | wc -l)" "$(php_rss)"
}

echo "capacity ${capacity} req/s; soaking at about ${rate} req/s (${CONNECTIONS} connections, ${delay_ms} ms apart) for ${DURATION} s"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/pace.lua" "http://127.0.0.1:$port/" > "$work/wrk.txt" &
wrk_pid=$!
start=$(date +%s)
sample 0
while kill -0 $wrk_pid 2>/dev/null; do
  sleep "$INTERVAL"
  kill -0 $wrk_pid 2>/dev/null && sample $(( $(date +%s) - start ))
done
wait $wrk_pid
sample "end"
grep -E "requests in|Requests/sec|Non-2xx|Socket errors|50%|99%" "$work/wrk.txt"
