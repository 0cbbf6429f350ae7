#!/usr/bin/env bash
# One Lambda Managed Instances environment against `serve` with the same PHP pool, side by
# side in one run: requests/s and p99 of a PHP page that takes 20 ms (a page that waits on
# a database, the kind of work concurrency pays for), with wrk at 2×N connections.
#   - Managed Instances: `bootstrap lambda` with AWS_LAMBDA_MAX_CONCURRENCY=N, polling
#     `cargo lambda watch --concurrency N` (a Runtime API we did not write); wrk posts ALB
#     events to its Invoke endpoint.
#   - serve: `bootstrap serve --workers N`; wrk GETs the page.
# The emulator's own cost is in the first figure: on AWS the Runtime API is not on the
# same two cores.
#   benches/managed.sh [N...]        (default 2 4 8; DURATION=8)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2 4 8)
for tool in wrk curl cargo-lambda; do
  command -v "$tool" >/dev/null || { echo "benches/managed.sh: $tool is missing (make bench; pip install cargo-lambda)" >&2; exit 1; }
done
cargo build --release -q -p lamphp-bootstrap
bootstrap=$PWD/target/release/bootstrap
work=$(mktemp -d /tmp/lamphp-managed.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/root"
printf '<?php usleep(20000); echo "Hello, world!\\n";\n' > "$work/root/index.php"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"requestContext":{"elb":{"targetGroupArn":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/0"}},"httpMethod":"GET","path":"/index.php","multiValueQueryStringParameters":{},"multiValueHeaders":{"host":["bench"]},"body":"","isBase64Encoded":false}'
EOF

# wrk_figures URL [wrk args]: "req/s p99"
wrk_figures() {
  wrk -t2 -c"$connections" -d"${DURATION}s" --latency "$@" |
    awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {print rps, p99}'
}

printf '%-4s %22s %22s %8s\n' N "managed req/s, p99" "serve req/s, p99" ratio
for n in "${sizes[@]}"; do
  connections=$((2 * n))
  api=$(port)
  # It wants a crate to stand in; with --only-lambda-apis it builds nothing.
  (cd bootstrap && exec cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$api" --concurrency "$n" >"$work/watch-$n.log" 2>&1) &
  watch=$!
  # Its root path never answers: wait for the port alone.
  until (exec 3<>"/dev/tcp/127.0.0.1/$api") 2>/dev/null; do sleep 0.1; done
  AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$api/.rt AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_MAX_CONCURRENCY=$n LAMPHP_LOG=warn \
    LAMPHP_ROOT=$work/root LAMPHP_RUNTIME_DIR=$work/rt-lambda-$n "$bootstrap" lambda >"$work/lambda-$n.log" 2>&1 &
  runtime=$!
  invoke=http://127.0.0.1:$api/2015-03-31/functions/_/invocations
  until curl -fs -o /dev/null -X POST -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$work/post.lua")" "$invoke"; do sleep 0.1; done
  read -r m_rps m_p99 < <(wrk_figures -s "$work/post.lua" "$invoke")
  kill "$runtime" "$watch" || { tail -n 5 "$work/lambda-$n.log" "$work/watch-$n.log" >&2; exit 1; }
  wait "$runtime" "$watch" 2>/dev/null || true

  sp=$(port)
  LAMPHP_LOG=warn "$bootstrap" serve --root "$work/root" --listen "127.0.0.1:$sp" --workers "$n" \
    --runtime-dir "$work/rt-serve-$n" >/dev/null 2>&1 &
  serve=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$sp/_lamphp/health"; do sleep 0.05; done
  read -r s_rps s_p99 < <(wrk_figures "http://127.0.0.1:$sp/index.php")
  kill "$serve"; wait "$serve" 2>/dev/null || true
  printf '%-4s %13s, %7s %13s, %7s %8.2f\n' "$n" "$m_rps" "$m_p99" "$s_rps" "$s_p99" "$(echo "$m_rps / $s_rps" | bc -l)"
done
