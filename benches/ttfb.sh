#!/usr/bin/env bash
# Time to first byte of a page that flushes its first bytes at once and ends a second
# later (tests/serve/docroot/flush.php), through a Function URL, buffered against
# streaming (LAMPHP_RESPONSE_MODE), side by side in one run: `bootstrap lambda` polling
# `cargo lambda watch` (a Runtime API we did not write, with its Function URL endpoint).
# Prints the median of ROUNDS requests' time to first byte and total time, for each mode.
#   benches/ttfb.sh            (ROUNDS=5 SECONDS_=1)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SLEEP=${SECONDS_:-1}
for tool in curl cargo-lambda; do
  command -v "$tool" >/dev/null || { echo "benches/ttfb.sh: $tool is missing (pip install cargo-lambda; apt-get install curl)" >&2; exit 1; }
done
cargo build --release -q -p lamphp-bootstrap
bootstrap=$PWD/target/release/bootstrap
work=$(mktemp -d /tmp/lamphp-ttfb.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-10s %12s %12s\n' mode "ttfb ms" "total ms"
for mode in buffered streaming; do
  api=$(port)
  # It wants a crate to stand in; with --only-lambda-apis it builds nothing.
  (cd bootstrap && exec cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$api" >"$work/watch-$mode.log" 2>&1) &
  watch=$!
  until curl -s -o /dev/null "http://127.0.0.1:$api/"; do sleep 0.1; done
  AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$api/.rt AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' LAMPHP_LOG=warn LAMPHP_RESPONSE_MODE=$mode \
    LAMPHP_ROOT=$PWD/tests/serve/docroot LAMPHP_RUNTIME_DIR=$work/rt-$mode "$bootstrap" lambda >"$work/lambda-$mode.log" 2>&1 &
  runtime=$!
  url="http://127.0.0.1:$api/lambda-url/_/flush.php?s=$SLEEP"
  until curl -fs -o /dev/null "$url"; do sleep 0.2; done
  for _ in $(seq "$ROUNDS"); do
    curl -s -o /dev/null -w '%{time_starttransfer} %{time_total}\n' "$url"
  done > "$work/times-$mode"
  ttfb=$(awk '{print $1 * 1000}' "$work/times-$mode" | median)
  total=$(awk '{print $2 * 1000}' "$work/times-$mode" | median)
  kill "$runtime" "$watch"; wait "$runtime" "$watch" 2>/dev/null || true
  printf '%-10s %12.1f %12.1f\n' "$mode" "$ttfb" "$total"
done
