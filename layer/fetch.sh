#!/usr/bin/env bash
# Download Debian packages, with every dependency, for one Debian release and architecture,
# and unpack them into a sysroot: what layer/build.sh assembles a layer from.
#
#   layer/fetch.sh SUITE DEB_ARCH SYSROOT PACKAGE...
#   layer/fetch.sh trixie arm64 target/layer/sysroot php8.4-fpm php8.4-cli
#
# apt runs with a private configuration and state under $APT_STATE (default
# target/apt/SUITE-DEB_ARCH): its own sources list (SUITE, SUITE-updates, SUITE-security),
# package lists, cache, and an empty dpkg status, so it resolves the whole dependency tree
# as for an empty machine. Nothing of the host's apt (sources, apt.conf.d, preferences,
# installed packages) is read or changed. Debian's archive keyring verifies the lists
# (debian-archive-keyring, which every Debian machine has). Packages are unpacked with
# `dpkg-deb -x`: no maintainer script runs.
#
# Writes SYSROOT/ (the packages' files) and SYSROOT.packages, one line per package:
#   name<TAB>version<TAB>architecture<TAB>sha256 of the .deb<TAB>path of the .deb
# and SYSROOT.files: path<TAB>package, for every file the packages hold (so build.sh can
# name the package each layer file came from).
set -euo pipefail

[ $# -ge 4 ] || { echo "usage: layer/fetch.sh SUITE DEB_ARCH SYSROOT PACKAGE..." >&2; exit 2; }
suite=$1 deb_arch=$2 sysroot=$3
shift 3
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${APT_STATE:-$repo/target/apt/$suite-$deb_arch}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

for tool in apt-get dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || { echo "layer/fetch.sh: $tool is missing (a Debian machine has it)" >&2; exit 1; }
done
[ -r "$keyring" ] || {
  echo "layer/fetch.sh: $keyring is missing: apt-get install debian-archive-keyring" >&2
  exit 1
}

mkdir -p "$state"/{lists/partial,cache/archives/partial,apt.conf.d,preferences.d,sources.list.d}
: >"$state/status"
cat >"$state/sources.list" <<EOF
deb [signed-by=$keyring] http://deb.debian.org/debian $suite main
deb [signed-by=$keyring] http://deb.debian.org/debian $suite-updates main
deb [signed-by=$keyring] http://deb.debian.org/debian-security $suite-security main
EOF
# APT_CONFIG is read before anything else, so the Dir::Etc settings below keep apt from
# reading the host's apt.conf.d, sources and preferences at all.
cat >"$state/apt.conf" <<EOF
Dir::Etc::main "$state/apt.conf";
Dir::Etc::parts "$state/apt.conf.d";
Dir::Etc::sourcelist "$state/sources.list";
Dir::Etc::sourceparts "$state/sources.list.d";
Dir::Etc::preferences "$state/preferences";
Dir::Etc::preferencesparts "$state/preferences.d";
Dir::State "$state";
Dir::State::Lists "$state/lists";
Dir::State::status "$state/status";
Dir::Cache "$state/cache";
Dir::Log "$state";
APT::Architecture "$deb_arch";
APT::Architectures { "$deb_arch"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Debug::NoLocking "true";
EOF
export APT_CONFIG=$state/apt.conf

# The lists are fetched again when older than a day: security updates land daily.
if [ -z "$(find "$state/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  apt-get -q update >&2 || {
    echo "layer/fetch.sh: apt-get update for $suite/$deb_arch failed (see above)" >&2
    exit 1
  }
fi
# The exact versions, resolved as for an empty machine, then downloaded (cached debs whose
# checksum matches are kept).
apt-get -q -y install --download-only "$@" >&2 || {
  echo "layer/fetch.sh: resolving or downloading $* for $suite/$deb_arch failed (see above)" >&2
  exit 1
}
# What an install on an empty machine would unpack: "Inst NAME (VERSION SUITES [ARCH])".
mapfile -t debs < <(apt-get -q -s install "$@" |
  awk '$1 == "Inst" && match($0, /\[[a-z0-9]+\]\)/) {
    v = $3; sub(/^\(/, "", v); gsub(/:/, "%3a", v)
    print $2 "_" v "_" substr($0, RSTART + 1, RLENGTH - 3) ".deb" }')
[ ${#debs[@]} -gt 0 ] || { echo "layer/fetch.sh: apt resolved no packages for $*" >&2; exit 1; }

rm -rf "$sysroot"
mkdir -p "$sysroot"
: >"$sysroot.packages"
: >"$sysroot.files"
for name in "${debs[@]}"; do
  deb=$state/cache/archives/$name
  [ -f "$deb" ] || { echo "layer/fetch.sh: $deb was not downloaded" >&2; exit 1; }
  read -r package version arch <<<"$(dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}' "$deb")"
  printf '%s\t%s\t%s\t%s\t%s\n' "$package" "$version" "$arch" \
    "$(sha256sum "$deb" | cut -d' ' -f1)" "$deb" >>"$sysroot.packages"
  dpkg-deb -x "$deb" "$sysroot"
  dpkg-deb -c "$deb" | awk -v p="$package" '{ f = $6; sub(/^\./, "", f); if (f != "/") print f "\t" p }' >>"$sysroot.files"
done
echo "layer/fetch.sh: $suite/$deb_arch: ${#debs[@]} packages unpacked into $sysroot" >&2
