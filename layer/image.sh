#!/usr/bin/env bash
# Turn an unpacked lamphp layer tree (layer/build.sh's php<PHP>-<ARCH>/base) into an OCI
# image archive, without Docker: for Lambda container images and ECS, loaded with
# `podman load -i` / `docker load -i` or pushed with `skopeo copy oci-archive:OUT docker://...`.
#
#   layer/image.sh TREE ARCH OUT [EXTRA]
#   layer/image.sh target/layer/php8.4-x86_64/base x86_64 target/layer/lamphp-php8.4-x86_64.oci.tar
#
# ARCH is x86_64 or arm64. EXTRA (or env EXTRA) is the extra layer's tree (intl, gd,
# imagick), added at /opt as a second image layer, so the base layer stays one shared blob.
# Env REF names the image (default lamphp:php<major.minor>-<ARCH>, the version from
# TREE/lamphp-manifest.json).
#
# From scratch: the tree is self-contained (every ELF's interpreter is /opt/lib/ld-linux-*),
# so the root file system is only /opt plus the empty /tmp and /var/task (the site), and
# /etc with nsswitch.conf alone (runtimes bind-mount /etc/hosts and /etc/resolv.conf there). The entry point is
# `bootstrap container`: the Runtime API loop in a Lambda sandbox, `serve` elsewhere.
# Unlike a layer, an image can set PHP's ini variables, so `php` run by itself (a task's
# command, `docker run --entrypoint /opt/bin/php`) reads the same ini as php-fpm.
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH or else the tree's own (build.sh stamps
# the tree with the commit's date), so the same tree and umoci give the same archive, byte
# for byte, as root or not.
set -euo pipefail

me=layer/image.sh
need() {
  command -v "$1" >/dev/null || { echo "$me: $1 is missing: apt-get install $2" >&2; exit 1; }
}
need umoci umoci
need python3 python3
tar --version 2>/dev/null | grep -q 'GNU tar' || { echo "$me: GNU tar is missing: apt-get install tar" >&2; exit 1; }

[ $# -ge 3 ] && [ $# -le 4 ] || { echo "usage: $me TREE ARCH OUT [EXTRA]" >&2; exit 2; }
tree=$1 arch=$2 out=$3 extra=${4:-${EXTRA:-}}
[ "$arch" = aarch64 ] && arch=arm64
case "$arch" in
  x86_64) oci_arch=amd64 ;;
  arm64) oci_arch=arm64 ;;
  *) echo "$me: ARCH=$arch: x86_64 or arm64" >&2; exit 2 ;;
esac
[ -x "$tree/bootstrap" ] || { echo "$me: $tree/bootstrap is missing: not a lamphp layer tree" >&2; exit 1; }
[ -z "$extra" ] || [ -d "$extra" ] || { echo "$me: $extra: no such directory" >&2; exit 1; }

# field KEY: a string of the tree's lamphp-manifest.json (build.sh writes one per line).
field() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$tree/lamphp-manifest.json" | head -n 1; }
php=$(field php)
[ -n "$php" ] || { echo "$me: no \"php\" version in $tree/lamphp-manifest.json" >&2; exit 1; }
tree_arch=$(field architecture)
[ "${tree_arch:-$arch}" = "$arch" ] || { echo "$me: $tree is an $tree_arch layer, not $arch" >&2; exit 1; }
ref=${REF:-lamphp:php${php%.*}-$arch}
# Docker's containerd image store keeps an image under its full name, which it reads from
# io.containerd.image.name; org.opencontainers.image.ref.name alone would be stored verbatim.
case "$ref" in
  *.*/* | *:*/* | localhost/*) full=$ref ;;
  */*) full=docker.io/$ref ;;
  *) full=docker.io/library/$ref ;;
esac
epoch=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$tree/lamphp-manifest.json")}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

# Beside OUT, so that the finished archive is renamed into place, never half-written there.
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(realpath -m "$out").XXXXXX")
trap 'rm -rf "$work"' EXIT
layout=$work/layout bundle=$work/bundle
# Unprivileged, umoci maps the caller to root in the layers.
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)

umoci init --layout "$layout"
umoci new --image "$layout:$ref"
umoci config --image "$layout:$ref" --no-history --created "$created" \
  --architecture "$oci_arch" --os linux \
  --config.entrypoint /opt/bootstrap --config.entrypoint container --config.cmd serve \
  --config.env PATH=/opt/bin --config.env LAMBDA_TASK_ROOT=/var/task \
  --config.env LAMPHP_ROOT=/var/task/public \
  --config.env PHPRC=/opt/etc/php --config.env PHP_INI_SCAN_DIR=/opt/etc/php/conf.d:/var/task/php/conf.d \
  --config.workingdir /var/task \
  --config.exposedports 8080/tcp \
  --config.label org.opencontainers.image.title=lamphp \
  --config.label "org.opencontainers.image.description=lamphp: PHP $php (php-fpm) behind the lamphp bootstrap, for AWS Lambda and ECS"
umoci unpack "${rootless[@]}" --image "$layout:$ref" "$bundle"

# add DIR COMMENT: DIR's files at /opt, as one new layer. Not `umoci insert`: 0.4.7's
# leaves the layer's tar unterminated. Not cp -a: no xattrs or host owners in the image.
add() {
  cp -dR --preserve=mode,timestamps,links "$1/." "$bundle/rootfs/opt/"
  umoci repack --refresh-bundle --image "$layout:$ref" --history.created "$created" --history.created_by "$2" "$bundle"
}
rootfs=$bundle/rootfs
mkdir -p "$rootfs"/{opt,tmp,var/task,etc}
chmod 1777 "$rootfs/tmp"
# Without this file glibc asks DNS first and reads /etc/hosts only when DNS is unreachable,
# so names a task adds there (ECS extraHosts, --add-host) would not resolve.
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
touch -h -d "@$epoch" "$rootfs/etc/nsswitch.conf"
# The layer records these directories' mtimes too: the build's, not today's.
touch -h -d "@$epoch" "$rootfs" "$rootfs"/{opt,tmp,var,var/task,etc}
add "$tree" "lamphp layer at /opt, /tmp, /var/task, /etc"
[ -z "$extra" ] || add "$extra" "lamphp extra layer at /opt"
umoci gc --layout "$layout"

# umoci 0.4.7 leaves out the manifest's own mediaType (optional in OCI 1.0, but ECR has
# refused manifests without it) and writes no name but org.opencontainers.image.ref.name.
# Docker's `docker save` writes the full name too, and a manifest.json for Docker's classic
# image store, whose `docker load` reads nothing else.
python3 - "$layout" "$ref" "$full" <<'EOF'
import hashlib, json, os, sys
layout, ref, full = sys.argv[1:]
path = lambda d: "blobs/" + d["digest"].replace(":", "/")
def write(name, value):
    data = json.dumps(value, separators=(",", ":")).encode()
    with open(f"{layout}/{name}", "wb") as f:
        f.write(data)
with open(f"{layout}/index.json") as f:
    index = json.load(f)
[desc] = index["manifests"]
with open(f"{layout}/{path(desc)}") as f:
    manifest = {"schemaVersion": 2, "mediaType": desc["mediaType"], **json.load(f)}
os.remove(f"{layout}/{path(desc)}")
data = json.dumps(manifest, separators=(",", ":")).encode()
desc.update(digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data))
write(path(desc), manifest)
desc["annotations"]["io.containerd.image.name"] = full
write("index.json", index)
write("manifest.json", [{"Config": path(manifest["config"]), "RepoTags": [ref],
                         "Layers": [path(layer) for layer in manifest["layers"]]}])
EOF

tar --create --file "$work/image.tar" --directory "$layout" --format=ustar --sort=name \
  --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX .
mv "$work/image.tar" "$out"
echo "$me: $out: $ref ($oci_arch), $(du -b "$out" | awk '{ printf "%.1f MB", $1 / 1e6 }')" >&2
