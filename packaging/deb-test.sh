#!/bin/bash
# `make deb-test`: the .deb in a clean Debian root. A bookworm minbase root (made
# once with debootstrap, cached in target/deb/bookworm-base) is the lower layer of an
# overlayfs, so every run starts from the same clean tree and writes only to a
# scratch upper dir. In a private mount namespace (everything unmounts when it ends)
# the script installs the package with dpkg, runs husk --version, husk spec, the
# "A container with husk alone" commands of docs/getting-started.md, man husk, and
# loads the bash completion the way bash-completion does; then dpkg -r and dpkg -P
# must leave the root as it was (apart from dpkg's own records).
# Usage: packaging/deb-test.sh path/to/husk_VERSION_ARCH.deb
set -euo pipefail
DEB=$(realpath "${1:?usage: $0 DEB}")
cd "$(dirname "$0")/.."
REPO=$PWD
BASE=${DEB_TEST_BASE:-$REPO/target/deb/bookworm-base}
MIRROR=${DEB_TEST_MIRROR:-http://deb.debian.org/debian}
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ ! -x "$BASE/usr/bin/dpkg" ]; then
  command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
  echo "making the clean root $BASE (debootstrap bookworm, once)"
  rm -rf "$BASE.tmp"
  debootstrap --variant=minbase --include=man-db,bash-completion,busybox-static \
    bookworm "$BASE.tmp" "$MIRROR" >"$BASE.log" 2>&1 || fail "debootstrap failed: see $BASE.log"
  mv "$BASE.tmp" "$BASE"
fi

S=$(mktemp -d /tmp/husk-deb-test.XXXXXX)
trap 'rm -rf "$S"' EXIT
mkdir -p "$S/upper" "$S/work" "$S/root"
cp "$DEB" "$S/husk.deb"
# The getting-started commands, as the reader would paste them.
python3 - docs/getting-started.md "A container with husk alone" > "$S/guide.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sec = text.split("## ")[1:]
body = next(s for s in sec if sys.argv[2] in s.splitlines()[0])
blocks = re.findall(r"```sh\n(.*?)```", body, re.S)
assert blocks, "no sh block in the section"
print("set -ex"); print("".join(blocks))
PY

# Everything below runs in a private mount namespace: the overlay and the binds go
# away with it, even when a step fails.
unshare --mount --propagation private bash -s "$S" "$BASE" <<'INNER'
set -euo pipefail
S=$1; BASE=$2; R=$S/root
fail() { echo "FAIL: $*" >&2; exit 1; }
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$S/upper,workdir=$S/work" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
cp "$S/husk.deb" "$S/guide.sh" "$R/tmp/"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb "$@"; }
snapshot() {
  (cd "$R" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp \
     -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/man -o -path ./var/cache/debconf \) -prune \
     -o -print | LC_ALL=C sort)
}
snapshot > "$S/before"
[ -z "$(in_root sh -c 'command -v husk' || true)" ] || fail "husk already in the clean root"

echo "# dpkg -i husk.deb"
in_root dpkg -i /tmp/husk.deb
in_root dpkg -L husk > "$S/files"
echo "# husk --version"
in_root husk --version | tee "$S/version"
grep -q '^husk version ' "$S/version" || fail "husk --version"
in_root containerd-shim-husk-v2 -v | head -1
echo "# husk spec"
in_root sh -c 'mkdir -p /tmp/spec && cd /tmp/spec && husk spec && test -s config.json && echo "config.json: $(wc -c < config.json) bytes"'
echo "# getting-started: a container with husk alone"
in_root bash /tmp/guide.sh 2>&1 | tee "$S/guide.out"
grep -qx 'hello from husk' "$S/guide.out" || fail "the container did not print 'hello from husk'"
in_root husk list
echo "# man husk"
in_root man -P cat husk > "$S/man.txt" 2>"$S/man.err" || { cat "$S/man.err"; fail "man husk"; }
head -4 "$S/man.txt"
grep -q 'husk-create(8)' "$S/man.txt" || fail "man husk lacks the subcommand list"
in_root man -w husk-run
echo "# bash completion (loaded on demand by bash-completion)"
in_root bash -c 'source /usr/share/bash-completion/bash_completion; _completion_loader husk; complete -p husk
  COMP_WORDS=(husk sp); COMP_CWORD=1; _husk husk sp husk; echo "husk sp<TAB>: ${COMPREPLY[*]}"' | tee "$S/comp"
grep -q 'husk sp<TAB>: spec' "$S/comp" || fail "bash completion of husk sp"

echo "# dpkg -r husk"
in_root dpkg -r husk
while read -r f; do
  [ -d "$R$f" ] && continue
  [ ! -e "$R$f" ] || fail "dpkg -r left $f"
done < "$S/files"
echo "# dpkg -P husk"
in_root dpkg -P husk
in_root dpkg -s husk >/dev/null 2>&1 && fail "husk still known to dpkg"
snapshot > "$S/after"
diff -u "$S/before" "$S/after" || fail "the root differs after dpkg -P (outside dpkg's records)"
echo "ok: after dpkg -r and dpkg -P the root has the same files as before the install"
INNER
