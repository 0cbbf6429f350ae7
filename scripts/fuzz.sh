#!/usr/bin/env bash
# Run each cargo-fuzz target for a bounded time (default 20 s each):
#   scripts/fuzz.sh [SECONDS]
# cargo fuzz needs nightly's -Z flags: the nightly toolchain when rustup has one, else
# the stable compiler with RUSTC_BOOTSTRAP=1. Installs cargo-fuzz if it is missing.
# No sanitizer: the fuzzed code is safe Rust, where a bug is a panic libFuzzer already
# catches, and AddressSanitizer would double the build of every dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! cargo fuzz --help >/dev/null 2>&1; then
  echo "installing: cargo-fuzz (crates.io)" >&2
  cargo install --locked --quiet cargo-fuzz
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
for target in event_decode cgi_response; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  # The committed seeds (and for events the test fixtures), so a fresh clone does not
  # start from nothing; what a run finds stays in the git-ignored corpus.
  cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  [ "$target" = event_decode ] && cp -n tests/fixtures/events/*.json "$corpus"/ 2>/dev/null || true
  log=$(mktemp)
  echo "fuzzing $target for ${seconds}s"
  if ! cargo "${toolchain[@]}" fuzz run --sanitizer none "$target" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzzing $target failed: the crashing input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log" || tail -3 "$log"
  rm -f "$log"
done
