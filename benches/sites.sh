#!/usr/bin/env bash
# What many sites in one `serve` cost: `serve` with 1 and with N sites (each its own
# php-fpm, W workers each), against the alternative of one php-fpm master holding N pools
# (what a hand-made nginx + php-fpm host would run). For each: the time until the health
# check says ready, and the PSS (proportional set size: shared pages split between the
# processes that share them) of the whole process tree; and for `serve`, hello-world
# requests per second on one site with wrk, to show what choosing a site by host costs.
#
#   benches/sites.sh [N] [W]        (default 12 sites, 2 workers each)
set -euo pipefail
n=${1:-12} w=${2:-2}
cd "$(dirname "$0")/.."
for tool in wrk curl php-fpm8.2; do
  command -v "$tool" >/dev/null || { echo "benches/sites.sh: $tool is missing (make bench installs it)" >&2; exit 1; }
done
cargo build --release -q -p lamphp-bootstrap
bootstrap=$PWD/target/release/bootstrap
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

for i in $(seq 1 "$n"); do
  mkdir -p "$work/site$i/public"
  echo '<?php echo "Hello, world!\n";' > "$work/site$i/public/index.php"
done

# pss_kb PID: the PSS of PID and all its descendants, in kB.
pss_kb() {
  local pids=$1 all=$1
  while [ -n "$pids" ]; do
    pids=$(for p in $pids; do cat /proc/"$p"/task/*/children 2>/dev/null; done | tr ' ' '\n' | sed '/^$/d' | tr '\n' ' ')
    all="$all $pids"
  done
  for p in $all; do awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null; done | awk '{s += $1} END {print s}'
}

port=18480
# serve_with K: `serve` with sites 1..K; prints "ready_ms pss_kb req/s".
serve_with() {
  local k=$1 args=()
  for i in $(seq 1 "$k"); do args+=(--site "site$i.test $work/site$i/public $work/site$i"); done
  local start=$(date +%s%N)
  LAMPHP_RUNTIME_DIR=$work/run$k "$bootstrap" serve --listen 127.0.0.1:$port --workers "$w" "${args[@]}" >"$work/serve$k.log" 2>&1 &
  local pid=$!
  until curl -fs -o /dev/null http://127.0.0.1:$port/_lamphp/health; do sleep 0.005; done
  local ready=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 1
  local pss=$(pss_kb $pid)
  local rps=$(wrk -t2 -c8 -d5s -H "Host: site$k.test" http://127.0.0.1:$port/index.php | awk '/Requests\/sec/ {print $2}')
  kill -TERM $pid; wait $pid || true
  echo "$ready $pss $rps"
}

# one_master K: one php-fpm master with K pools of W workers; prints "ready_ms pss_kb".
one_master() {
  local k=$1
  local conf=$work/fpm$k.conf
  printf '[global]\nerror_log = /proc/self/fd/2\ndaemonize = no\n' > "$conf"
  for i in $(seq 1 "$k"); do
    printf '[site%s]\nlisten = %s/fpm%s-%s.sock\npm = static\npm.max_children = %s\nphp_admin_value[open_basedir] = %s\n' \
      "$i" "$work" "$k" "$i" "$w" "$work/site$i" >> "$conf"
  done
  local start=$(date +%s%N)
  php-fpm8.2 -F -R -y "$conf" >"$work/fpm$k.log" 2>&1 &
  local pid=$!
  until [ -S "$work/fpm$k-$k.sock" ] && [ "$(pgrep -c -P $pid)" -ge $((k * w)) ]; do sleep 0.005; done
  local ready=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 1
  local pss=$(pss_kb $pid)
  kill -QUIT $pid; wait $pid || true
  echo "$ready $pss"
}

read -r ready1 pss1 rps1 < <(serve_with 1)
read -r readyn pssn rpsn < <(serve_with "$n")
read -r mready1 mpss1 < <(one_master 1)
read -r mreadyn mpssn < <(one_master "$n")
echo "sites=$n workers_per_site=$w (PSS of the whole process tree)"
printf '%-34s %10s %10s %10s\n' "" "ready ms" "PSS MB" "req/s"
printf '%-34s %10s %10.1f %10s\n' "serve, 1 site" "$ready1" "$(echo "$pss1/1024" | bc -l)" "$rps1"
printf '%-34s %10s %10.1f %10s\n' "serve, $n sites (a php-fpm each)" "$readyn" "$(echo "$pssn/1024" | bc -l)" "$rpsn"
printf '%-34s %10s %10.1f %10s\n' "php-fpm alone, 1 pool" "$mready1" "$(echo "$mpss1/1024" | bc -l)" "-"
printf '%-34s %10s %10.1f %10s\n' "php-fpm alone, $n pools, 1 master" "$mreadyn" "$(echo "$mpssn/1024" | bc -l)" "-"
