#!/bin/bash
# The cheap install test (part of `make test`): `make install-files` into a scratch
# DESTDIR with the given binaries, then checks
#   - the file list (one man page per visible subcommand, completions, docs, examples),
#   - that nothing outside PREFIX is written (no manager configuration under /etc),
#   - man pages render without groff warnings and document every flag of --help,
#   - the bash completion loads and completes subcommands and flags,
#   - the examples parse (JSON, TOML, YAML) and name the installed binaries,
#   - a second install changes nothing (idempotent), and uninstall leaves no file.
#   - with a launcher: bin/husk is the launcher and runs the CLI in libexec/husk,
# Usage: packaging/test-install.sh HUSK SHIM [LAUNCHER]
set -euo pipefail
HUSK=$(realpath "${1:?usage: $0 HUSK SHIM [LAUNCHER]}")
SHIM=$(realpath "${2:?usage: $0 HUSK SHIM [LAUNCHER]}")
LAUNCHER=${3:+$(realpath "$3")}
cd "$(dirname "$0")/.."
S=$(mktemp -d /tmp/husk-install-test.XXXXXX)
trap 'rm -rf "$S"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PREFIX=/usr
D=$S/dest
inst() { make --no-print-directory -s install-files DESTDIR="$D" PREFIX=$PREFIX HUSK="$HUSK" SHIM="$SHIM" LAUNCHER="$LAUNCHER" MANBUILD="$S/man" >/dev/null; }

inst
# Expected files: computed from the CLI itself, so a new subcommand needs no edit here.
subs=$("$HUSK" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR>1 && NF {print $1}' | grep -vx help)
[ -n "$subs" ] || fail "no subcommands in husk --help"
{
  echo usr/bin/containerd-shim-husk-v2
  echo usr/bin/husk
  [ -z "$LAUNCHER" ] || echo usr/libexec/husk/husk
  echo usr/share/man/man8/husk.8
  echo usr/share/man/man8/containerd-shim-husk-v2.8
  for s in $subs; do echo "usr/share/man/man8/husk-$s.8"; done
  echo usr/share/bash-completion/completions/husk
  echo usr/share/zsh/vendor-completions/_husk
  echo usr/share/fish/vendor_completions.d/husk.fish
  for f in README.md getting-started.md user-guide.md cli.md containerd.md security.md config-fields.md; do
    echo "usr/share/doc/husk/$f"
  done
  for f in daemon.json containers.conf config.toml runtimeclass.yaml; do echo "usr/share/doc/husk/examples/$f"; done
} | LC_ALL=C sort > "$S/want"
(cd "$D" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort) > "$S/got"
diff -u "$S/want" "$S/got" || fail "installed file list differs from the expected one"
[ ! -e "$D/etc" ] || fail "install wrote below /etc"
echo "ok: file list ($(wc -l < "$S/got") files)"

# Modes: binaries 0755, everything else 0644.
bad=$(cd "$D" && find . -type f ! -path './usr/bin/*' ! -path './usr/libexec/*' ! -perm 0644; find "$D/usr/bin" "$D/usr/libexec" -type f ! -perm 0755 2>/dev/null)
[ -z "$bad" ] || fail "wrong modes: $bad"

# The installed command runs the installed CLI (through the launcher, if any).
[ "$("$D/usr/bin/husk" --version)" = "$("$HUSK" --version)" ] || fail "the installed husk --version differs from the CLI's"
if [ -n "$LAUNCHER" ]; then
  cmp -s "$LAUNCHER" "$D/usr/bin/husk" || fail "usr/bin/husk is not the launcher"
  cmp -s "$HUSK" "$D/usr/libexec/husk/husk" || fail "usr/libexec/husk/husk is not the CLI"
  echo "ok: usr/bin/husk is the launcher and runs usr/libexec/husk/husk"
fi

# Man pages: render cleanly; each documents every long flag its --help shows.
for p in "$D"/usr/share/man/man8/*.8; do
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null) || fail "man -l $p failed: $warn"
  [ -z "$warn" ] || fail "groff warnings for $p: $warn"
done
for s in $subs; do
  page=$(MANWIDTH=200 man -l "$D/usr/share/man/man8/husk-$s.8" 2>/dev/null)
  for flag in $("$HUSK" "$s" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -q -- "$flag" <<<"$page" || fail "husk-$s.8 does not document $flag"
  done
done
echo "ok: man pages ($(echo "$subs" | wc -w) subcommands + husk.8)"

# bash completion: loads, registers _husk, completes subcommands and flags.
out=$(bash --norc --noprofile -c '
  source "$1"
  complete -p husk
  COMP_WORDS=(husk cr); COMP_CWORD=1; COMP_LINE="husk cr"; COMP_POINT=${#COMP_LINE}
  _husk husk cr husk; echo "subs: ${COMPREPLY[*]}"
  COMPREPLY=()
  COMP_WORDS=(husk create --pid); COMP_CWORD=2; COMP_LINE="husk create --pid"; COMP_POINT=${#COMP_LINE}
  _husk husk --pid create; echo "flags: ${COMPREPLY[*]}"
' _ "$D/usr/share/bash-completion/completions/husk")
grep -q '^complete .* _husk husk$' <<<"$out" || fail "bash completion not registered: $out"
grep -q '^subs: .*create' <<<"$out" || fail "bash completion of 'husk cr': $out"
grep -q '^flags: .*--pid-file' <<<"$out" || fail "bash completion of 'husk create --pid': $out"
grep -q '#compdef husk' "$D/usr/share/zsh/vendor-completions/_husk" || fail "zsh completion lacks #compdef"
grep -q "complete -c husk" "$D/usr/share/fish/vendor_completions.d/husk.fish" || fail "fish completion lacks complete -c husk"
if command -v zsh >/dev/null; then zsh -n "$D/usr/share/zsh/vendor-completions/_husk" || fail "zsh syntax"; fi
if command -v fish >/dev/null; then fish -n "$D/usr/share/fish/vendor_completions.d/husk.fish" || fail "fish syntax"; fi
echo "ok: completions (bash loads and completes; zsh, fish generated)"

# Examples: parse, and point at the binaries of this PREFIX.
E=$D/usr/share/doc/husk/examples
python3 - "$E" "$PREFIX/bin" <<'PY'
import json, sys, tomllib, yaml
e, bindir = sys.argv[1], sys.argv[2]
d = json.load(open(f"{e}/daemon.json"))
assert d["runtimes"]["husk"]["path"] == f"{bindir}/husk", d
p = tomllib.load(open(f"{e}/containers.conf", "rb"))
assert p["engine"]["runtimes"]["husk"] == [f"{bindir}/husk"], p
assert "husk" in p["engine"]["runtime_supports_json"], p
c = tomllib.load(open(f"{e}/config.toml", "rb"))
rts = c["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
assert rts["husk"]["runtime_type"] == "io.containerd.husk.v2", rts
assert rts["husk-runc"]["runtime_type"] == "io.containerd.runc.v2", rts
assert rts["husk-runc"]["options"]["BinaryName"] == f"{bindir}/husk", rts
docs = list(yaml.safe_load_all(open(f"{e}/runtimeclass.yaml")))
assert docs and all(x["apiVersion"] == "node.k8s.io/v1" and x["kind"] == "RuntimeClass" for x in docs), docs
for x in docs:
    assert x["handler"] in rts, f"RuntimeClass {x['metadata']['name']} names handler {x['handler']} absent from config.toml"
print("ok: examples parse (daemon.json, containers.conf, config.toml, runtimeclass.yaml)")
PY

# Idempotent: a second install leaves the same files with the same contents.
(cd "$D" && find . -type f | LC_ALL=C sort | xargs sha256sum) > "$S/sum1"
inst
(cd "$D" && find . -type f | LC_ALL=C sort | xargs sha256sum) > "$S/sum2"
diff -u "$S/sum1" "$S/sum2" || fail "second install changed files"
echo "ok: install twice gives the same tree"

make --no-print-directory -s uninstall DESTDIR="$D" PREFIX=$PREFIX >/dev/null
left=$(find "$D" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"
[ ! -e "$D/usr/share/doc/husk" ] || fail "uninstall left usr/share/doc/husk"
echo "ok: uninstall leaves no file"
