#!/usr/bin/env bash
# setup.sh - build the OCI runtime-tools validation suite for husk.
#
# Produces, under $HUSK_OCIV_DIR/suite (default /var/tmp/husk-oci-validation):
#   runtimetest              static binary the suite copies into each bundle
#   rootfs-<goarch>.tar.gz   the busybox rootfs each bundle is unpacked from
#   validation/<name>.t      one TAP-printing program per validation/<name>/
#
# Safe to re-run: each stage is skipped when its result is already there and
# up to date. Everything comes from Debian's package registry through apt-get:
#
#   * bookworm packages: golang-go (1.19), busybox-static, and the Go -dev
#     libraries the suite imports; the build runs in GOPATH mode against
#     /usr/share/gocode (GO111MODULE=off, no module downloads).
#   * the suite's sources: bookworm's golang-github-opencontainers-runtime-tools
#     ships neither cmd/runtimetest nor validation/, and bookworm's source
#     tarball is not served, so the *trixie* source package is downloaded with
#     `apt-get source` under a private apt configuration ($HUSK_OCIV_DIR/apt;
#     the system's sources are left alone) and its orig tarball is checked
#     against the SHA-256 listed in the signed Sources index.
#   * github.com/mndrix/tap-go is not in Debian: go/tap-go/tap.go (in this
#     directory) stands in for it.
#   * runtimetest gets one addition (go/runtimetest-nofile/) so that it can see
#     the soft RLIMIT_NOFILE the runtime set; Go >= 1.19 raises that limit
#     when a program starts. A self-test checks that the fix works.
#
# Environment:
#   HUSK_OCIV_DIR        cache directory (default /var/tmp/husk-oci-validation)
#   OCIV_SRC_SUITE       Debian suite to take the sources from (default trixie)
#   OCIV_SRC_VERSION     wanted source version (default 0.9.0.109.ge931285-1;
#                        if the suite no longer has it, its current one is used)
#   OCIV_ROOTFS          upstream (default): the rootfs tarball shipped in the
#                        sources, as upstream's CI uses; busybox: build one from
#                        busybox-static (also the fallback for other arches)
#   OCIV_REBUILD=1       rebuild the binaries and the rootfs unconditionally
#   OCIV_WITH_RUNC_CRUN=1  also install runc and crun (reference runtimes)
set -euo pipefail

OCIV_PROG=setup
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

OCIV_SRC_SUITE=${OCIV_SRC_SUITE:-trixie}
OCIV_SRC_VERSION=${OCIV_SRC_VERSION:-0.9.0.109.ge931285-1}
OCIV_ROOTFS=${OCIV_ROOTFS:-upstream}
OCIV_REBUILD=${OCIV_REBUILD:-0}
# Bump when the build steps below change, so existing caches get rebuilt.
BUILD_RECIPE=2
SRC_PACKAGE=golang-github-opencontainers-runtime-tools
GO_IMPORT=github.com/opencontainers/runtime-tools
export DEBIAN_FRONTEND=noninteractive

GOPATH_DIR=$HUSK_OCIV_DIR/gopath
RT_SRC=$GOPATH_DIR/src/$GO_IMPORT

[ "$(id -u)" = 0 ] || ociv_die "run me as root (apt-get; the suite itself needs root too)"
mkdir -p "$HUSK_OCIV_DIR"

# ------------------------------------------------------------------ packages
need_packages() {
  local wanted=(
    golang-go busybox-static
    golang-github-opencontainers-specs-dev    # runtime-spec/specs-go
    golang-github-opencontainers-selinux-dev  # go-selinux/label
    golang-github-google-uuid-dev
    golang-github-mrunalp-fileutils-dev
    golang-gocapability-dev                   # syndtr/gocapability
    golang-github-hashicorp-go-multierror-dev
    golang-github-blang-semver-dev            # v4 code at the v1 path
    golang-github-sirupsen-logrus-dev
    golang-github-urfave-cli-dev
    golang-github-xeipuuv-gojsonschema-dev
    golang-golang-x-sys-dev
    debian-archive-keyring tar xz-utils gzip coreutils util-linux
  )
  [ "${OCIV_WITH_RUNC_CRUN:-0}" = 1 ] && wanted+=(runc crun)
  local p missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  ociv_say "installing ${missing[*]}"
  # Refresh the package lists first when one of them is unknown (a fresh
  # machine may never have run apt-get update), and once more on failure.
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      apt-get update -q >/dev/null
      break
    fi
  done
  local install=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold)
  if ! "${install[@]}" "${missing[@]}" >/dev/null; then
    ociv_say "apt-get install failed; updating the package lists and retrying"
    apt-get update -q >/dev/null
    "${install[@]}" "${missing[@]}" >/dev/null
  fi
}

# ------------------------------------------------------------------ sources
# Private apt configuration: only a deb-src line for $OCIV_SRC_SUITE, with its
# own lists and cache directories.
APT_DIR=$HUSK_OCIV_DIR/apt
apt_private() {
  local tool=$1; shift
  "$tool" -o "Dir::Etc::SourceList=$APT_DIR/sources.list" \
          -o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d" \
          -o "Dir::State::Lists=$APT_DIR/lists" \
          -o "Dir::Cache=$APT_DIR/cache" \
          -o "APT::Sandbox::User=root" "$@"
}

fetch_sources() {
  local have
  have=$(cat "$RT_SRC/.husk-source" 2>/dev/null || true)
  if [ -n "$have" ] && [ -d "$RT_SRC/validation/util" ] && [ -d "$RT_SRC/cmd/runtimetest" ]; then
    return 0
  fi
  mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,sources.list.d} "$HUSK_OCIV_DIR/download"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $OCIV_SRC_SUITE main" \
    > "$APT_DIR/sources.list"
  ociv_say "reading the $OCIV_SRC_SUITE source index (private apt state in $APT_DIR)"
  apt_private apt-get update -q >/dev/null
  local record version
  record=$(apt_private apt-cache showsrc "$SRC_PACKAGE" 2>/dev/null) || true
  [ -n "$record" ] || ociv_die "$OCIV_SRC_SUITE has no source package $SRC_PACKAGE"
  if grep -qx "Version: $OCIV_SRC_VERSION" <<<"$record"; then
    version=$OCIV_SRC_VERSION
  else
    version=$(sed -n 's/^Version: //p' <<<"$record" | head -n1)
    ociv_say "$SRC_PACKAGE $OCIV_SRC_VERSION is gone from $OCIV_SRC_SUITE; using $version"
  fi
  # The paragraph of that version, its orig tarball and the tarball's hash.
  local para upstream tarball sum
  para=$(awk -v v="$version" '/^$/{keep=0} /^Version: /{keep=($2==v)} keep' <<<"$record")
  upstream=${version#*:}; upstream=${upstream%-*}
  tarball=$(awk -v u="${SRC_PACKAGE}_$upstream.orig.tar." 'index($3, u) == 1 {print $3; exit}' <<<"$para")
  [ -n "$tarball" ] || ociv_die "no orig tarball listed for $SRC_PACKAGE $version"
  sum=$(awk -v f="$tarball" '/^Checksums-Sha256:/{on=1; next} /^[^ ]/{on=0} on && $3 == f {print $1}' <<<"$para")
  [ -n "$sum" ] || ociv_die "no SHA-256 listed for $tarball"

  cd "$HUSK_OCIV_DIR/download"
  if ! echo "$sum  $tarball" | sha256sum -c --status - 2>/dev/null; then
    rm -f "$tarball"
    ociv_say "downloading $tarball"
    # The registry does not serve the .dsc, so apt-get source reports an
    # error; the orig tarball is all that is needed, and it is checked below.
    apt_private apt-get source -q --download-only "$SRC_PACKAGE=$version" >/dev/null 2>&1 || true
  fi
  [ -f "$tarball" ] || ociv_die "could not download $tarball through apt-get source"
  echo "$sum  $tarball" | sha256sum -c --status - || ociv_die "$tarball does not match its SHA-256 $sum"

  local scratch=$HUSK_OCIV_DIR/download/unpacked top
  rm -rf "$scratch" "$RT_SRC"
  mkdir -p "$scratch" "$(dirname "$RT_SRC")"
  tar -xf "$tarball" -C "$scratch"
  top=$(find "$scratch" -mindepth 1 -maxdepth 1 -type d -print -quit)
  [ -d "$top/validation/util" ] && [ -d "$top/cmd/runtimetest" ] \
    || ociv_die "$tarball lacks validation/ or cmd/runtimetest/"
  mv "$top" "$RT_SRC"
  rmdir "$scratch"
  echo "$SRC_PACKAGE $version ($tarball sha256:$sum)" > "$RT_SRC/.husk-source"
  ociv_say "sources ready: $SRC_PACKAGE $version"
}

# Copy $1 to $2 unless $2 already has the same content.
put_file() {
  mkdir -p "$(dirname "$2")"
  cmp -s "$1" "$2" || cp "$1" "$2"
}

prepare_gopath() {
  # tap-go stand-in
  put_file "$OCIV_HOME/go/tap-go/tap.go" "$GOPATH_DIR/src/github.com/mndrix/tap-go/tap.go"
  # Debian installs blang/semver v4 under the v1 import path; GOPATH mode
  # needs it under .../semver/v4 as well.
  [ -f /usr/share/gocode/src/github.com/blang/semver/semver.go ] \
    || ociv_die "blang/semver is not where golang-github-blang-semver-dev should put it"
  mkdir -p "$GOPATH_DIR/src/github.com/blang/semver"
  ln -sfn /usr/share/gocode/src/github.com/blang/semver "$GOPATH_DIR/src/github.com/blang/semver/v4"
  # runtimetest: the RLIMIT_NOFILE fix (two new files, nothing edited)
  put_file "$OCIV_HOME/go/runtimetest-nofile/nofile.go" "$RT_SRC/cmd/runtimetest/nofile/nofile.go"
  put_file "$OCIV_HOME/go/runtimetest-nofile/0_nofile_restore.go.in" "$RT_SRC/cmd/runtimetest/0_nofile_restore.go"
}

# ------------------------------------------------------------------ build
go_env() {
  export GOPATH=$GOPATH_DIR:/usr/share/gocode GO111MODULE=off GOFLAGS= GOPROXY=off \
         GOTOOLCHAIN=local GOCACHE=$HUSK_OCIV_DIR/gocache
}

# Identifies everything a build depends on; a change triggers a rebuild.
fingerprint() {
  {
    echo "recipe=$BUILD_RECIPE"
    cat "$RT_SRC/.husk-source"
    go version
    echo "rootfs=$OCIV_ROOTFS"
    cat "$OCIV_HOME/go/tap-go/tap.go" "$OCIV_HOME/go/runtimetest-nofile/"*
    dpkg-query -W -f='${Package} ${Version}\n' 'golang-*-dev' busybox-static 2>/dev/null | sort
  } | sha256sum | cut -d' ' -f1
}

build_suite() {
  local stage=$HUSK_OCIV_DIR/stage
  rm -rf "$stage"
  mkdir -p "$stage/validation"
  cd "$RT_SRC"
  ociv_say "building runtimetest (static)"
  CGO_ENABLED=0 nice go build -trimpath -tags 'netgo osusergo' -ldflags '-s -w -extldflags -static' \
    -o "$stage/runtimetest" ./cmd/runtimetest
  ociv_say "building the validation programs"
  # One go build for all of them; executables land in $stage/bin as <name>.
  mkdir -p "$stage/bin"
  CGO_ENABLED=0 nice go build -trimpath -ldflags '-s -w' -o "$stage/bin/" ./validation/...
  local f n=0
  for f in "$stage"/bin/*; do
    mv "$f" "$stage/validation/$(basename "$f").t"
    n=$((n + 1))
  done
  rmdir "$stage/bin"
  [ "$n" -gt 0 ] || ociv_die "no validation program was built"
  ociv_say "built $n validation programs"
  check_nofile_fix "$stage/runtimetest"
  make_rootfs "$stage"
  fingerprint > "$stage/.fingerprint"
  # swap the new suite in
  rm -rf "$OCIV_SUITE_DIR.old"
  [ -d "$OCIV_SUITE_DIR" ] && mv "$OCIV_SUITE_DIR" "$OCIV_SUITE_DIR.old"
  mv "$stage" "$OCIV_SUITE_DIR"
  rm -rf "$OCIV_SUITE_DIR.old"
}

# Run runtimetest on the host under a soft RLIMIT_NOFILE below the hard one
# and check that it reports that soft limit (the other checks it prints are
# irrelevant here).
check_nofile_fix() {
  local bin=$1 dir hard soft out
  dir=$(mktemp -d)
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] && hard=1048576
  soft=$((hard > 1024 ? 1000 : hard / 2))
  cat > "$dir/config.json" <<EOF
{"ociVersion": "1.0.2", "root": {"path": "/"},
 "process": {"cwd": "/", "args": ["/runtimetest"], "user": {"uid": 0, "gid": 0},
             "rlimits": [{"type": "RLIMIT_NOFILE", "hard": $hard, "soft": $soft}]}}
EOF
  out=$(cd "$dir" && prlimit --nofile="$soft:$hard" "$bin" --path="$dir" 2>&1 || true)
  rm -rf "$dir"
  if grep -q '^ok [0-9]* - has expected soft RLIMIT_NOFILE' <<<"$out"; then
    ociv_say "runtimetest sees the soft RLIMIT_NOFILE ($soft) the runtime sets: fix works"
  else
    grep -i 'RLIMIT_NOFILE' <<<"$out" >&2 || true
    ociv_die "runtimetest still reports a raised soft RLIMIT_NOFILE; the init-order fix does not work with $(go version)"
  fi
}

# ------------------------------------------------------------------ rootfs
make_rootfs() {
  local dest=$1 arch tgz
  arch=$(go env GOARCH)
  tgz=$dest/rootfs-$arch.tar.gz
  if [ "$OCIV_ROOTFS" = upstream ] && [ -s "$RT_SRC/rootfs-$arch.tar.gz" ]; then
    cp "$RT_SRC/rootfs-$arch.tar.gz" "$tgz"
    ociv_say "rootfs: upstream's rootfs-$arch.tar.gz"
    return 0
  fi
  # Same shape as upstream's: /bin/busybox plus a link per applet, empty
  # /dev /proc /sys, /etc/passwd and /etc/group.
  local r=$HUSK_OCIV_DIR/rootfs-tree a
  rm -rf "$r"
  mkdir -p "$r"/{bin,dev,proc,sys,etc}
  # ldd fails on a static executable
  ! ldd /bin/busybox >/dev/null 2>&1 || ociv_die "/bin/busybox is not static (install busybox-static)"
  cp /bin/busybox "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'bin:x:1:1:bin:/bin:/bin/false' \
    'daemon:x:2:2:daemon:/sbin:/bin/false' 'nobody:x:65534:65534:nobody:/var/empty:/bin/false' \
    > "$r/etc/passwd"
  printf '%s\n' 'root:x:0:root' 'bin:x:1:root,bin,daemon' 'daemon:x:2:root,bin,daemon' \
    'tty:x:5:' 'wheel:x:10:root' 'users:x:100:' 'nogroup:x:65533:' 'nobody:x:65534:' \
    > "$r/etc/group"
  tar --numeric-owner --owner=0 --group=0 -C "$r" -czf "$tgz" .
  rm -rf "$r"
  ociv_say "rootfs: built rootfs-$arch.tar.gz from busybox-static"
}

# ------------------------------------------------------------------ main
need_packages
command -v go >/dev/null || ociv_die "no go command after installing golang-go"
fetch_sources
prepare_gopath
go_env
if [ "$OCIV_REBUILD" = 1 ] || ! ociv_suite_ready \
   || [ "$(cat "$OCIV_SUITE_DIR/.fingerprint")" != "$(fingerprint)" ]; then
  build_suite
else
  ociv_say "suite is up to date"
fi
ociv_say "ready: $OCIV_SUITE_DIR ($(compgen -G "$OCIV_SUITE_DIR/validation/*.t" | wc -l) programs; $(sed 's/ (.*//' "$RT_SRC/.husk-source"))"
