#!/usr/bin/env bash
# Time to first byte of a page that flushes its first bytes at once and ends a second
# later (tests/serve/docroot/flush.php), through a Function URL, buffered against
# streaming, side by side in one run: `bootstrap local --function-url MODE` (the local
# Function URL emulator in front of the Lambda loop, which runs with LAMPHP_RESPONSE_MODE
# to match). Prints the median of ROUNDS requests' time to first byte and total time.
#   benches/ttfb.sh            (ROUNDS=5 SLEEP=1)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SLEEP=${SLEEP:-1}
command -v curl >/dev/null || { echo "benches/ttfb.sh: curl is missing (apt-get install curl)" >&2; exit 1; }
cargo build --release -q -p lamphp-bootstrap
bootstrap=$PWD/target/release/bootstrap
work=$(mktemp -d /tmp/lamphp-ttfb.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-10s %12s %12s\n' mode "ttfb ms" "total ms"
for mode in buffered streaming; do
  p=$(port)
  LAMPHP_LOG=warn LAMPHP_RUNTIME_DIR=$work/rt-$mode "$bootstrap" local --function-url "$mode" \
    --root tests/serve/docroot --listen "127.0.0.1:$p" >"$work/local-$mode.log" 2>&1 &
  local_pid=$!
  url="http://127.0.0.1:$p/flush.php?s=$SLEEP"
  until curl -fs -m 10 -o /dev/null "$url"; do
    kill -0 "$local_pid" 2>/dev/null || { cat "$work/local-$mode.log" >&2; exit 1; }
    sleep 0.1
  done
  for _ in $(seq "$ROUNDS"); do
    curl -s -o /dev/null -w '%{time_starttransfer} %{time_total}\n' "$url"
  done > "$work/times-$mode"
  ttfb=$(awk '{print $1 * 1000}' "$work/times-$mode" | median)
  total=$(awk '{print $2 * 1000}' "$work/times-$mode" | median)
  kill "$local_pid"; wait "$local_pid" 2>/dev/null || true
  printf '%-10s %12.1f %12.1f\n' "$mode" "$ttfb" "$total"
done
