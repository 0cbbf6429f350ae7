#!/usr/bin/env bash
# Build the lamphp Lambda layers for one PHP version and architecture from Debian's
# packages: a self-contained base layer, and an optional one with the heavy extensions.
#
#   layer/build.sh                    PHP 8.4 for this machine's architecture (`make layer`)
#   PHP=8.2 ARCH=arm64 layer/build.sh  (`make layer PHP=8.2 ARCH=arm64`)
#
# Output, in $OUT (default target/layer):
#   lamphp-php<PHP>-<ARCH>.zip         the base layer
#   lamphp-php<PHP>-<ARCH>-extra.zip   intl (ICU), gd and imagick (ImageMagick), for the base
#                                      layer of the same build only
#   php<PHP>-<ARCH>/{base,extra}/      the same trees unpacked, as Lambda puts them in /opt
#
# The base layer, as /opt:
#   bootstrap                  the runtime (Lambda runs /opt/bootstrap for provided.al2023)
#   bin/php-fpm, php-cgi, php  PHP; the bootstrap looks for /opt/bin/php-fpm first
#   lib/                       every library any of them needs, glibc and its loader included
#   lib/<triplet>/gconv/       glibc's iconv modules (the common charsets)
#   lib/php/extensions/        PHP's shared extensions
#   etc/php/php.ini, conf.d/   Lambda's defaults (layer/php.ini); one ini per enabled extension
#   etc/ssl/certs/             Mozilla's CA bundle (php.ini points openssl and curl at it)
#   share/zoneinfo/            the time zone database Debian's PHP reads
#   lamphp-manifest.json       PHP's version, the bootstrap's, every package with its sha256
#
# Self-contained: nothing of the base image is used but the kernel. Every executable's
# PT_INTERP is /opt/lib/<loader>, and every ELF file carries a RUNPATH relative to itself
# ($ORIGIN/lib, $ORIGIN/../lib, ...), so no library comes from the image and nothing needs
# LD_LIBRARY_PATH, which a program a script starts (`exec('ls')`) would inherit. The few
# paths Debian compiled into glibc and PHP (/usr/share/zoneinfo, glibc's gconv directory)
# are rewritten in the binaries to the same-length /opt/... path (layer/relocate.pl).
#
# Environment:
#   PHP       8.4 (Debian 13 "trixie", default) or 8.2 (Debian 12 "bookworm")
#   ARCH      x86_64 or arm64 (default: this machine's)
#   BOOTSTRAP a prebuilt bootstrap for ARCH (the tests pass theirs); else built with
#             cargo-zigbuild for glibc 2.34, so the same binary also runs on Amazon
#             Linux 2023's own glibc
#   OUT       output directory (default: target/layer)
#   SKIP_EXTENSIONS  extensions to leave out of both layers, e.g. "ffi imagick"
#   APT_STATE where apt keeps its private lists and cache (default target/apt/<suite>-<arch>)
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
php=${PHP:-8.4}
arch=${ARCH:-$(uname -m)}
[ "$arch" = aarch64 ] && arch=arm64
out=${OUT:-$repo/target/layer}

case "$php" in
  8.2) suite=bookworm ;;
  8.4) suite=trixie ;;
  *) echo "layer/build.sh: PHP=$php: 8.2 or 8.4" >&2; exit 2 ;;
esac
case "$arch" in
  x86_64) deb_arch=amd64 triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 machine=X86-64 ;;
  arm64) deb_arch=arm64 triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 machine=AArch64 ;;
  *) echo "layer/build.sh: ARCH=$arch: x86_64 or arm64" >&2; exit 2 ;;
esac
rust_target=${triplet%%-*}-unknown-linux-gnu

need() {
  command -v "$1" >/dev/null || {
    echo "layer/build.sh: $1 is missing: apt-get install $2 (or run \`make layer\`)" >&2
    exit 1
  }
}
need patchelf patchelf
need zip zip
need readelf binutils
need perl perl

# --- packages ------------------------------------------------------------------------
# Extensions that Debian packages from PECL: shipped, but off until a site's php/conf.d
# loads them (redis needs igbinary loaded first).
pecl=(apcu igbinary redis)
# Heavy ones, for the extra layer: intl brings ICU (30 MB of data), gd Debian's libgd with
# its AVIF, HEIF, TIFF and X11 libraries (28 MB), imagick ImageMagick and its codecs.
extra=(intl gd imagick)
packages=(libc6 libgcc-s1 tzdata ca-certificates "php$php-fpm" "php$php-cgi" "php$php-cli")
for ext in opcache curl xml mbstring bcmath mysql sqlite3 pgsql zip bz2 "${pecl[@]}" "${extra[@]}"; do
  packages+=("php$php-$ext")
done
build=$out/php$php-$arch
sysroot=$build/sysroot
layer/fetch.sh "$suite" "$deb_arch" "$sysroot" "${packages[@]}"

# --- the bootstrap -------------------------------------------------------------------
if [ -n "${BOOTSTRAP:-}" ]; then
  bootstrap=$BOOTSTRAP
else
  cargo zigbuild --help >/dev/null 2>&1 || {
    echo "layer/build.sh: cargo-zigbuild is missing: pip install ziglang cargo-zigbuild (or run \`make layer\`)" >&2
    exit 1
  }
  cargo zigbuild --release --locked -p lamphp-bootstrap --target "$rust_target.2.34"
  bootstrap=$repo/target/$rust_target/release/bootstrap
fi
readelf -hW "$bootstrap" | grep -q "Machine: *.*$machine" || {
  echo "layer/build.sh: $bootstrap is not a bootstrap for $arch ($(readelf -hW "$bootstrap" | sed -n 's/^ *Machine: *//p'))" >&2
  exit 1
}
newest_glibc=$(readelf -VW "$bootstrap" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
echo "layer/build.sh: the bootstrap needs glibc ${newest_glibc:-(none)}" >&2

# --- the trees -----------------------------------------------------------------------
base=$build/base
extra_tree=$build/extra
rm -rf "$base" "$extra_tree"
mkdir -p "$base"/{bin,lib/php/extensions,etc/php/conf.d,etc/ssl/certs,share} \
  "$extra_tree"/{lib/php/extensions,etc/php/conf.d,share}
# take SRC DEST: copies a file of the sysroot into a tree, noting where it came from
# (<tree>.from: one sysroot path per line) for the manifest.
take() {
  local from
  case "$2" in
    "$base"/*) from=$base.from ;;
    "$extra_tree"/*) from=$extra_tree.from ;;
  esac
  mkdir -p "$(dirname "$2")"
  cp -a "$1" "$2"
  find "$1" -type f | sed "s|^$sysroot||" >>"$from"
}
: >"$base.from"
: >"$extra_tree.from"
install -m 0755 "$bootstrap" "$base/bootstrap"
take "$sysroot/usr/sbin/php-fpm$php" "$base/bin/php-fpm"
take "$sysroot/usr/bin/php-cgi$php" "$base/bin/php-cgi"
take "$sysroot/usr/bin/php$php" "$base/bin/php"
install -m 0644 layer/php.ini "$base/etc/php/php.ini"

# Extensions: every shared one Debian built, each enabled by its own ini file as Debian's
# phpenmod would (conf.d/<priority>-<name>.ini), but the PECL ones and the skipped ones.
ext_dir=$(echo "$sysroot"/usr/lib/php/20*)
for name in ${SKIP_EXTENSIONS:-}; do
  [ -f "$ext_dir/$name.so" ] || {
    echo "layer/build.sh: SKIP_EXTENSIONS names $name, which is not a shared extension of PHP $php (those are: $(cd "$ext_dir" && ls ./*.so | sed 's|^\./||; s|\.so$||' | tr '\n' ' '))" >&2
    exit 1
  }
done
in_list() { local x=$1; shift; for y; do [ "$x" = "$y" ] && return 0; done; return 1; }
for so in "$ext_dir"/*.so; do
  name=$(basename "$so" .so)
  # shellcheck disable=SC2086
  in_list "$name" ${SKIP_EXTENSIONS:-} && continue
  tree=$base
  in_list "$name" "${extra[@]}" && tree=$extra_tree
  take "$so" "$tree/lib/php/extensions/$name.so"
  in_list "$name" "${pecl[@]}" && continue
  ini=$(ls "$sysroot"/usr/share/php"$php"-*/*/"$name.ini" "$sysroot/etc/php/$php/mods-available/$name.ini" 2>/dev/null | head -n 1 || true)
  [ -n "$ini" ] || { echo "layer/build.sh: no ini file for the $name extension" >&2; exit 1; }
  priority=$(sed -n 's/^; *priority=\([0-9]*\).*/\1/p' "$ini")
  install -m 0644 "$ini" "$tree/etc/php/conf.d/${priority:-20}-$name.ini"
done

# glibc's run-time files: iconv's modules for the charsets sites meet (all of them would
# be 20 MB), and the configuration that names them.
gconv_from=$(echo "$sysroot"/usr/lib/"$triplet"/gconv)
gconv=$base/lib/$triplet/gconv
mkdir -p "$gconv"
for f in "$gconv_from"/gconv-modules "$gconv_from"/gconv-modules.cache; do
  [ -f "$f" ] && take "$f" "$gconv/"
done
if [ -d "$gconv_from/gconv-modules.d" ]; then
  mkdir -p "$gconv/gconv-modules.d"
  for f in "$gconv_from"/gconv-modules.d/*; do take "$f" "$gconv/gconv-modules.d/"; done
fi
for module in ISO8859-{1..16} CP125{0..8} KOI8-{R,U} IBM437 IBM850 IBM852 IBM866 \
  MACINTOSH UTF-7 UTF-16 UTF-32 UNICODE EUC-{JP,KR,CN,TW} SJIS CP932 EUC-JP-MS \
  ISO-2022-{JP,KR,CN} GBK GB18030 BIG5 BIG5HKSCS libJIS libGB libKSC libCNS ISO646 \
  TIS-620 CP874 ARMSCII-8 GEORGIAN-PS TCVN5712-1 VISCII; do
  if [ -f "$gconv_from/$module.so" ]; then take "$gconv_from/$module.so" "$gconv/"; fi
done
mkdir -p "$base/share/zoneinfo"
for zone in "$sysroot"/usr/share/zoneinfo/*; do
  [ "${zone##*/}" = right ] || take "$zone" "$base/share/zoneinfo/${zone##*/}"
done
# What update-ca-certificates would write from ca-certificates' default configuration.
cat "$sysroot"/usr/share/ca-certificates/mozilla/*.crt >"$base/etc/ssl/certs/ca-certificates.crt"
find "$sysroot/usr/share/ca-certificates/mozilla" -name '*.crt' | sed "s|^$sysroot||" >>"$base.from"
# ImageMagick's coders (PNG, JPEG, ...), filters and configuration, which it loads by path.
for dir in "$sysroot"/usr/lib/"$triplet"/ImageMagick-*; do take "$dir" "$extra_tree/lib/$triplet/${dir##*/}"; done
for dir in "$sysroot"/etc/ImageMagick-*; do take "$dir" "$extra_tree/${dir##*/}"; done
for dir in "$sysroot"/usr/share/ImageMagick-*; do take "$dir" "$extra_tree/share/${dir##*/}"; done
# libheif's decoders (HEIC through libde265, AVIF through dav1d) are plugins it loads by
# path (Debian 13; Debian 12's libheif has them built in).
if [ -d "$sysroot/usr/lib/$triplet/libheif" ]; then
  take "$sysroot/usr/lib/$triplet/libheif" "$extra_tree/lib/$triplet/libheif"
fi

# --- shared libraries ----------------------------------------------------------------
# The path a symlink inside the sysroot leads to, read as if the sysroot were /.
inside() {
  local path=$1 target hops=0
  while [ -L "$path" ] && [ $hops -lt 40 ]; do
    target=$(readlink "$path")
    case "$target" in
      /*) path=$sysroot$target ;;
      *) path=$(dirname "$path")/$target ;;
    esac
    hops=$((hops + 1))
  done
  echo "$path"
}
lib_dirs=("$sysroot/usr/lib/$triplet" "$sysroot/lib/$triplet" "$sysroot/usr/lib" "$sysroot/lib")
find_lib() {
  local dir
  for dir in "${lib_dirs[@]}"; do
    [ -e "$dir/$1" ] && { inside "$dir/$1"; return 0; }
  done
  return 1
}
needed() { readelf -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# Copies into $1/lib every library the ELF files in the tree $1 need, directly or not,
# that is not already in $1/lib or in $2/lib (the base layer, for the extra one).
bundle_libraries() {
  local tree=$1 also=${2:-} queue name path
  mapfile -t queue < <(find "$tree" -type f \( -name '*.so*' -o -path '*/bin/*' -o -name bootstrap \) \
    -exec sh -c 'head -c 4 "$1" | grep -q ELF' _ {} \; -print)
  while [ ${#queue[@]} -gt 0 ]; do
    for name in $(needed "${queue[0]}"); do
      [ -e "$tree/lib/$name" ] && continue
      # gconv's CJK modules share helpers that sit beside them.
      [ -e "$(dirname "${queue[0]}")/$name" ] && continue
      [ -n "$also" ] && [ -e "$also/lib/$name" ] && continue
      path=$(find_lib "$name") || {
        echo "layer/build.sh: ${queue[0]#"$build"/} needs $name, which no package here holds" >&2
        exit 1
      }
      take "$path" "$tree/lib/$name"
      queue+=("$tree/lib/$name")
    done
    queue=("${queue[@]:1}")
  done
}
bundle_libraries "$base"
# The loader, and what glibc itself loads by name (libgcc_s: unwinding, pthread_cancel).
take "$(find_lib "$loader")" "$base/lib/$loader"
[ -e "$base/lib/libgcc_s.so.1" ] || take "$(find_lib libgcc_s.so.1)" "$base/lib/libgcc_s.so.1"
bundle_libraries "$extra_tree" "$base"

# --- relocate, interpreter, RUNPATHs ---------------------------------------------------
is_elf() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(head -c 4 "$1")" = $'\x7fELF' ]; }
for tree in "$base" "$extra_tree"; do
  while IFS= read -r -d '' f; do
    # iconv's module cache names each module by its full path.
    [ "${f##*/}" = gconv-modules.cache ] && perl layer/relocate.pl "$triplet" "$f"
    is_elf "$f" || continue
    [ "${f##*/}" = "$loader" ] && continue
    chmod u+w "$f"
    perl layer/relocate.pl "$triplet" "$f"
    # Executables, and the libraries that can run as programs too (libc, libcap).
    if readelf -lW "$f" | grep -q 'Requesting program interpreter'; then
      patchelf --set-interpreter "/opt/lib/$loader" "$f"
    fi
    # The layer's lib/, from where the file is; gconv's CJK modules also share helpers
    # that sit beside them.
    dir=$(dirname "$f")
    to_lib=$(realpath -m --relative-to="$dir" "$tree/lib")
    rpath='$ORIGIN'
    [ "$to_lib" = . ] || rpath+=/$to_lib
    case "$f" in */gconv/*) rpath="\$ORIGIN:$rpath" ;; esac
    patchelf --set-rpath "$rpath" "$f"
  done < <(find "$tree" -type f -print0)
done

# --- manifest ------------------------------------------------------------------------
# Every package a file of the tree came from, with the .deb's version and sha256.
php_version=$(awk -F'\t' -v p="php$php-cli" '$1 == p { v = $2; sub(/^[0-9]+:/, "", v); sub(/-.*/, "", v); print v }' "$sysroot.packages")
bootstrap_version=$(sed -n 's/^version = "\(.*\)"/\1/p' bootstrap/Cargo.toml | head -n 1)
bootstrap_version+=+$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || bootstrap_version+=-dirty
manifest() {
  local tree=$1 kind=$2
  printf '{\n  "layer": "%s",\n  "php": "%s",\n  "architecture": "%s",\n  "debian": "%s",\n  "bootstrap": "%s",\n  "packages": [\n' \
    "$kind" "$php_version" "$arch" "$suite" "$bootstrap_version"
  awk -F'\t' 'FILENAME == ARGV[1] { from[$0] = 1; next }
    FILENAME == ARGV[2] { if ($1 in from) owner[$2] = 1; next }
    $1 in owner { printf "%s    {\"name\": \"%s\", \"version\": \"%s\", \"architecture\": \"%s\", \"sha256\": \"%s\"}", sep, $1, $2, $3, $4; sep = ",\n" }
    END { print "" }' "$tree.from" "$sysroot.files" "$sysroot.packages"
  printf '  ]\n}\n'
}
manifest "$base" base >"$base/lamphp-manifest.json"
manifest "$extra_tree" extra >"$extra_tree/lamphp-extra-manifest.json"

# --- zip -----------------------------------------------------------------------------
# Same input, same zip: files in name order, one timestamp (the commit's), no extra fields.
stamp=$(git -C "$repo" log -1 --format=%cd --date=format:%Y%m%d%H%M.%S 2>/dev/null || echo 202601010000)
zip_tree() {
  local tree=$1 zipfile=$2
  rm -f "$zipfile"
  find "$tree" -exec touch -h -t "$stamp" {} +
  (cd "$tree" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | zip -q -X -y -9 "$zipfile" -@)
}
name=lamphp-php$php-$arch
zip_tree "$base" "$out/$name.zip"
zip_tree "$extra_tree" "$out/$name-extra.zip"

# --- sizes ---------------------------------------------------------------------------
mb() { du -scb "$@" 2>/dev/null | awk 'END { printf "%.1f MB", $1 / 1e6 }'; }
glibc_files=()
for f in "$base"/lib/*; do
  owner=$(awk -F'\t' -v n="${f##*/}" '{ k = split($1, p, "/") } p[k] == n { print $2; exit }' "$sysroot.files")
  [ "$owner" = libc6 ] && glibc_files+=("$f")
done
cat <<EOF
lamphp layer: $out/$name.zip (PHP $php, $arch, Debian $suite)
  bootstrap         $(mb "$base/bootstrap")
  php-fpm, php-cgi, php  $(mb "$base/bin")
  extensions        $(mb "$base/lib/php") ($(ls "$base/lib/php/extensions" | wc -l) files, $(ls "$base/etc/php/conf.d" | wc -l) enabled)
  libraries         $(mb $(ls -d "$base"/lib/*.so* | grep -vxF -f <(printf '%s\n' "${glibc_files[@]}"))) ($(($(ls "$base"/lib/*.so* | wc -l) - ${#glibc_files[@]})) files)
  glibc             $(mb "${glibc_files[@]}" "$base/lib/$triplet") (${#glibc_files[@]} files and gconv)
  zoneinfo, CAs     $(mb "$base/share" "$base/etc/ssl")
  unpacked          $(mb "$base")
  zip               $(mb "$out/$name.zip")
extra layer: $out/$name-extra.zip ($(ls "$extra_tree/lib/php/extensions" | tr '\n' ' '))
  unpacked          $(mb "$extra_tree")
  zip               $(mb "$out/$name-extra.zip")
EOF
