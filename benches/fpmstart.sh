#!/usr/bin/env bash
# What php-fpm's start spends, in a root holding nothing but the layer (bubblewrap, the
# layer at /opt): the bootstrap's own measure of it, `ready_ms` (php-fpm's spawn to its
# socket accepting), the median of RUNS starts, for
#   - no ini at all (no php.ini, no conf.d: the extensions compiled in only);
#   - the layer's php.ini alone;
#   - php.ini and the layer's conf.d with each extension added in turn, in its load order
#     (the increment is that extension's cost, its libraries' loading included);
#   - the layer as shipped, with 1, 2 and 4 workers.
#   benches/fpmstart.sh                (RUNS=15, PHP=8.4)
# The layer is built for this machine from this tree (layer/build.sh into
# target/layer-bench, with the release bootstrap). Each start is a `bootstrap serve` of an
# empty site, stopped once php-fpm is ready.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
PHP=${PHP:-8.4}
arch=$(uname -m | sed s/aarch64/arm64/)
command -v bwrap >/dev/null || { echo "error: bwrap not found: apt-get install bubblewrap" >&2; exit 1; }
cargo build --release -q -p lamphp-bootstrap
BOOTSTRAP=$PWD/target/release/bootstrap OUT=$PWD/target/layer-bench PHP=$PHP layer/build.sh >/dev/null
tree=$PWD/target/layer-bench/php$PHP-$arch/base
work=$(mktemp -d /tmp/lamphp-fpmstart.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"/{opt,tmp,proc,dev,var/task/public,ini/none,ini/php,ini/conf.d}
cp "$tree/etc/php/php.ini" "$work/root/ini/php/"

# ready_ms of one start with PHPRC=$1, PHP_INI_SCAN_DIR=$2 (paths in the sandbox) and $3
# workers; the sandbox is stopped as soon as it has said it.
start() {
  local line ms=
  coproc SANDBOX {
    exec bwrap --unshare-all --share-net --die-with-parent --clearenv \
      --bind "$work/root" / --ro-bind "$tree" /opt --proc /proc --dev /dev --tmpfs /tmp \
      --setenv PHPRC "$1" --setenv PHP_INI_SCAN_DIR "$2" --setenv LAMPHP_LOG info \
      /opt/bootstrap serve --root /var/task/public --listen 127.0.0.1:0 --workers "$3" 2>/dev/null
  }
  while read -r -t 20 line <&"${SANDBOX[0]}"; do
    case $line in *'"ready_ms":'*)
      ms=${line#*\"ready_ms\":}
      ms=${ms%%[,\}]*}
      break ;;
    esac
  done
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  [ -n "$ms" ] || { echo "error: php-fpm did not start (PHPRC=$1 PHP_INI_SCAN_DIR=$2)" >&2; exit 1; }
  echo "$ms"
}

# The median of RUNS starts.
median() {
  for _ in $(seq "$RUNS"); do start "$@"; done | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

printf '%-36s %9s %9s\n' 'php-fpm started with' 'ready ms' 'increment'
none=$(median /ini/none /ini/none 1)
printf '%-36s %9.1f\n' 'no ini at all' "$none"
prev=$(median /ini/php /ini/none 1)
printf '%-36s %9.1f %+9.1f\n' 'the layer php.ini' "$prev" "$(echo "$prev - $none" | bc)"
for ini in "$tree"/etc/php/conf.d/*.ini; do
  cp "$ini" "$work/root/ini/conf.d/"
  now=$(median /ini/php /ini/conf.d 1)
  printf '%-36s %9.1f %+9.1f\n' "+ $(basename "$ini" .ini)" "$now" "$(echo "$now - $prev" | bc)"
  prev=$now
done
for workers in 1 2 4; do
  printf '%-36s %9.1f\n' "as shipped, $workers worker(s)" "$(median /opt/etc/php /opt/etc/php/conf.d "$workers")"
done
