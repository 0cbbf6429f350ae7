#!/usr/bin/env bash
# `bootstrap serve` against nginx + php-fpm (the reference config, same php-fpm, same
# pool size), side by side in one run, on loopback with wrk at concurrency 16:
#   - a hello-world PHP page
#   - a 100 KB static file
# Prints requests/s and p99 latency for both and their ratio, and the bootstrap's RSS
# idle and at its peak under load.
#   benches/run.sh                 (DURATION=10 CHILDREN=2 CONNECTIONS=16 THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CHILDREN=${CHILDREN:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
for tool in wrk nginx curl; do
  command -v $tool >/dev/null || { echo "error: $tool not found: run 'make bench' (it installs wrk, nginx, php8.2-fpm)" >&2; exit 1; }
done

cargo build --release -q -p lamphp-bootstrap
work=$(mktemp -d /tmp/lamphp-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/ref/nginx.pid" ] && kill "$(cat "$work/ref/nginx.pid")" 2>/dev/null || true
  [ -f "$work/ref/fpm.pid" ] && kill "$(cat "$work/ref/fpm.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/root"
printf '<?php echo "Hello, world!\\n";\n' > "$work/root/hello.php"
head -c 102400 /dev/urandom > "$work/root/static.bin"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ref_port=$(port); alb_port=$(port); lam_port=$(port)

tests/reference/start.sh "$work/root" "$work/ref" "$ref_port" "$alb_port" "$CHILDREN"
LAMPHP_LOG=warn ./target/release/bootstrap serve --root "$work/root" \
  --listen "127.0.0.1:$lam_port" --workers "$CHILDREN" --runtime-dir "$work/lamphp" &
lam_pid=$!; pids+=("$lam_pid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$lam_port/hello.php" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$lam_port/hello.php" >/dev/null || { echo "error: bootstrap serve did not come up" >&2; exit 1; }
rss() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
idle_rss=$(rss "$lam_pid" VmRSS)

# wrk prints "Requests/sec: N" and, with --latency, "99% Xms"; normalise latency to ms.
measure() {
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  echo "$rps $p99"
}

printf '%-8s %-8s %12s %10s\n' target server 'req/s' 'p99 ms'
declare -A R P
for target in hello.php static.bin; do
  for server in nginx lamphp; do
    p=$ref_port; [ $server = lamphp ] && p=$lam_port
    wrk -t1 -c4 -d1s "http://127.0.0.1:$p/$target" >/dev/null  # warm up
    read -r rps p99 < <(measure "http://127.0.0.1:$p/$target")
    R[$target.$server]=$rps; P[$target.$server]=$p99
    printf '%-10s %-8s %12.0f %10.2f\n' "$target" "$server" "$rps" "$p99"
  done
done
peak_rss=$(rss "$lam_pid" VmHWM)
echo
for target in hello.php static.bin; do
  awk -v t="$target" -v a="${R[$target.lamphp]}" -v b="${R[$target.nginx]}" -v pa="${P[$target.lamphp]}" -v pb="${P[$target.nginx]}" \
    'BEGIN { printf "%-10s lamphp/nginx: %.2fx requests/s, p99 %.2f ms vs %.2f ms\n", t, a/b, pa, pb }'
done
echo "bootstrap RSS: ${idle_rss} kB idle, ${peak_rss} kB peak under load"
