#!/usr/bin/env bash
# Assemble the lamphp Lambda layer from the bootstrap and a PHP installed on this machine.
#
#   layer/build.sh            (or `make layer`)
#
# Output: target/layer/lamphp-layer-<arch>.zip, unpacked by Lambda into /opt:
#
#   /opt/bootstrap                 the runtime (Lambda runs /opt/bootstrap for provided.al2023)
#   /opt/bin/php-fpm, /opt/bin/php PHP itself; the bootstrap looks for /opt/bin/php-fpm first
#   /opt/lib/*.so*                 every shared library the ELF files need beyond glibc
#   /opt/lib/php/extensions/*.so   PHP's shared extensions
#   /opt/etc/php/php.ini           defaults for Lambda (layer/php.ini)
#   /opt/etc/php/conf.d/*.ini      one file per extension, enabling it
#
# How the pieces find each other, with no environment set by Lambda or the user:
#   - libraries: every ELF file carries a RUNPATH relative to itself ($ORIGIN/../lib for
#     bin/, $ORIGIN for lib/, ...), set with patchelf. Nothing depends on LD_LIBRARY_PATH,
#     so programs a PHP script runs from the base image are not handed our libraries.
#   - ini: the bootstrap sets PHPRC=/opt/etc/php and
#     PHP_INI_SCAN_DIR=/opt/etc/php/conf.d:$LAMBDA_TASK_ROOT/php/conf.d when it runs
#     /opt/bin/php-fpm (a PHP build's own paths are compiled in); php.ini sets
#     extension_dir=/opt/lib/php/extensions.
#
# Environment:
#   PHP_FPM, PHP_CLI   the host PHP to package (default: Debian's php-fpm8.2 and php8.2)
#   BOOTSTRAP          a prebuilt bootstrap to package instead of building one (the tests
#                      pass theirs); else it is built with cargo-zigbuild for GLIBC
#   GLIBC              the newest glibc the bootstrap may need (default 2.34: Amazon Linux
#                      2023's); checked with objdump
#   OUT                output directory (default: target/layer)
#   SKIP_EXTENSIONS    extensions of the host PHP to leave out, e.g. "gd" (`make layer` and
#                      tests/layer: Debian's gd.so links the system libgd, whose AV1/HEIF/X11
#                      codecs weigh 34 MB; php-build's gd is PHP's bundled one)
#
# The layer made from Debian's PHP is what the tests run (these machines have no Docker);
# it needs Debian 12's glibc (2.36), newer than Amazon Linux 2023's 2.34, so it is a test
# artifact: the layers to publish come from php-build/.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
arch=$(uname -m)
out=${OUT:-$repo/target/layer}
php_fpm=${PHP_FPM:-/usr/sbin/php-fpm8.2}
php_cli=${PHP_CLI:-/usr/bin/php8.2}

need() {
  command -v "$1" >/dev/null || {
    echo "layer/build.sh: $1 is missing: apt-get install $2 (or run \`make test\`)" >&2
    exit 1
  }
}
need patchelf patchelf
need zip zip
need readelf binutils
need strip binutils
need objdump binutils
for f in "$php_fpm" "$php_cli"; do
  [ -x "$f" ] || { echo "layer/build.sh: $f is missing: apt-get install php8.2-fpm php8.2-cli" >&2; exit 1; }
done

# glibc's own libraries: every Lambda base image has them, and they must match the
# loader, so they are never bundled. (libcrypt is libxcrypt, not glibc: it is bundled.)
is_glibc() {
  case "$1" in
    ld-linux*.so.* | libc.so.6 | libm.so.6 | libmvec.so.1 | libdl.so.2 | libpthread.so.0 | \
      librt.so.1 | libresolv.so.2 | libutil.so.1 | libanl.so.1 | libnss_*.so.2 | \
      libBrokenLocale.so.1 | libthread_db.so.1 | linux-vdso.so.1 | linux-gate.so.1) return 0 ;;
    *) return 1 ;;
  esac
}

# --- the bootstrap -------------------------------------------------------------------
# The newest GLIBC_x.y symbol version an ELF file asks for.
glibc_needed() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1
}
if [ -n "${BOOTSTRAP:-}" ]; then
  bootstrap=$BOOTSTRAP
else
  # Built on this machine the bootstrap would need this machine's glibc (2.36 on Debian
  # 12); zig links it against the given glibc's symbol versions instead.
  glibc=${GLIBC:-2.34}
  cargo zigbuild --help >/dev/null 2>&1 || {
    echo "layer/build.sh: cargo-zigbuild is missing: pip install ziglang cargo-zigbuild (or run \`make layer\`)" >&2
    exit 1
  }
  target=$arch-unknown-linux-gnu
  cargo zigbuild --release --locked -p lamphp-bootstrap --target "$target.$glibc"
  bootstrap=$repo/target/$target/release/bootstrap
  needed=$(glibc_needed "$bootstrap")
  if [ "$(printf '%s\n' "$needed" "$glibc" | sort -V | tail -n 1)" != "$glibc" ]; then
    echo "layer/build.sh: $bootstrap needs glibc $needed, newer than $glibc" >&2
    exit 1
  fi
fi

# --- the tree ------------------------------------------------------------------------
stage=$out/$arch
rm -rf "$stage"
mkdir -p "$stage"/{bin,lib/php/extensions,etc/php/conf.d}
install -m 0755 "$bootstrap" "$stage/bootstrap"
install -m 0755 "$php_fpm" "$stage/bin/php-fpm"
install -m 0755 "$php_cli" "$stage/bin/php"

# The extensions the host PHP loads, and the ini files that enable them (Debian keeps them
# as symlinks into mods-available; copy the contents). The extension= lines name bare
# files, found through extension_dir, so they need no change.
ext_dir=$("$php_cli" -n -r 'echo ini_get("extension_dir");')
scan_dir=$("$php_fpm" -i 2>/dev/null | sed -n 's/^Scan this dir for additional .ini files => //p')
cp "$ext_dir"/*.so "$stage/lib/php/extensions/"
if [ -d "$scan_dir" ]; then
  for ini in "$scan_dir"/*.ini; do
    cp -L "$ini" "$stage/etc/php/conf.d/$(basename "$ini")"
  done
fi
for ext in ${SKIP_EXTENSIONS:-}; do
  rm -f "$stage/lib/php/extensions/$ext.so"
  grep -lE "^\s*(zend_)?extension\s*=\s*\"?$ext(\.so)?\"?\s*$" "$stage"/etc/php/conf.d/*.ini 2>/dev/null |
    xargs -r rm -f
done
install -m 0644 layer/php.ini "$stage/etc/php/php.ini"

# --- shared libraries ----------------------------------------------------------------
# ldd resolves the whole tree of dependencies of each file on this machine; bundle every
# library that is not glibc's, under its soname (the name DT_NEEDED asks for).
elves=("$stage/bootstrap" "$stage"/bin/* "$stage"/lib/php/extensions/*.so)
declare -A bundled=()
for elf in "${elves[@]}"; do
  while read -r name _ path _; do
    is_glibc "$name" && continue
    if [ "$path" = "not" ]; then
      echo "layer/build.sh: $elf needs $name, which is not installed here" >&2
      exit 1
    fi
    [ -n "${bundled[$name]:-}" ] && continue
    bundled[$name]=1
    cp -L "$path" "$stage/lib/$name"
  done < <(ldd "$elf" | awk '$2 == "=>" { print $1, $2, $3, $4 }')
done

# --- strip and set RUNPATHs ----------------------------------------------------------
# strip first: patchelf rewrites the headers that strip would otherwise rewrite again.
runpath() { patchelf --set-rpath "$2" "$1"; }
for f in "$stage/bootstrap" "$stage"/bin/* "$stage"/lib/*.so* "$stage"/lib/php/extensions/*.so; do
  chmod u+w "$f"
  strip --strip-unneeded "$f"
done
runpath "$stage/bootstrap" '$ORIGIN/lib'
for f in "$stage"/bin/*; do runpath "$f" '$ORIGIN/../lib'; done
for f in "$stage"/lib/*.so*; do runpath "$f" '$ORIGIN'; done
for f in "$stage"/lib/php/extensions/*.so; do runpath "$f" '$ORIGIN/../..'; done

# --- zip -----------------------------------------------------------------------------
zipfile=$out/lamphp-layer-$arch.zip
rm -f "$zipfile"
# -y keeps symlinks as symlinks (there are none today; a PHP build may bring some).
(cd "$stage" && zip -q -r -y -9 "$zipfile" .)

size() { du -sb "$@" | awk '{ s += $1 } END { printf "%.1f MB", s / 1e6 }'; }
echo "lamphp layer: $zipfile"
echo "  bootstrap         $(size "$stage/bootstrap")"
echo "  php-fpm + php     $(size "$stage/bin")"
echo "  extensions        $(size "$stage/lib/php") ($(ls "$stage/lib/php/extensions" | wc -l) files)"
echo "  libraries         $(du -cb "$stage"/lib/*.so* | awk 'END { printf "%.1f MB", $1 / 1e6 }') (${#bundled[@]} files)"
echo "  unpacked total    $(size "$stage")"
echo "  zip               $(size "$zipfile")"
php_glibc=$(for f in "$stage"/bin/* "$stage"/lib/*.so* "$stage"/lib/php/extensions/*.so; do
  glibc_needed "$f" || true
done | sort -V | tail -n 1)
echo "  needs glibc       bootstrap $(glibc_needed "$stage/bootstrap"), PHP and its libraries $php_glibc (Amazon Linux 2023 has 2.34)"
