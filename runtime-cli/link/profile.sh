#!/bin/bash
# Writes runtime-cli/link/symbol-order.txt: the functions of the husk CLI that its hot
# commands run (run, create/start/state/delete, kill, exec), hottest first, from a
# `perf record` of the binary `make build` links (target/<host>/release/husk, which
# keeps its symbol table). The next `make build` puts them first in the text.
#
# Usage (root, from the repository): runtime-cli/link/profile.sh [ROUNDS]
# Needs perf (Debian: linux-perf) and busybox-static. Re-run it after large changes:
# a stale list is harmless (names it lists that no longer exist are skipped), it only
# orders less of the hot code.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-100}
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN=$PWD/target/$HOST/release/husk
OUT=runtime-cli/link/symbol-order.txt
[ -x "$BIN" ] || { echo "no $BIN: run make build first" >&2; exit 1; }
nm "$BIN" >/dev/null 2>&1 || { echo "$BIN has no symbol table" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }

S=$(mktemp -d /var/tmp/husk-profile.XXXXXX)
trap 'for c in $("$BIN" --root "$S/state" list -q 2>/dev/null); do "$BIN" --root "$S/state" delete -f "$c"; done; rm -rf "$S"' EXIT
mkdir -p "$S/b/rootfs/bin" "$S/b/rootfs/proc" "$S/b/rootfs/sys" "$S/b/rootfs/dev"
cp /bin/busybox "$S/b/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$S/b/rootfs/bin/$a"; done
"$BIN" spec --bundle "$S/b"
cp -r "$S/b" "$S/s"
jq '.process.terminal = false | .process.args = ["true"]' "$S/b/config.json" >"$S/c" && mv "$S/c" "$S/b/config.json"
jq '.process.terminal = false | .process.args = ["sleep", "1000"]' "$S/s/config.json" >"$S/c" && mv "$S/c" "$S/s/config.json"

cat >"$S/work.sh" <<EOF
#!/bin/bash
H=$BIN; R=$S/state
for i in \$(seq $ROUNDS); do
  \$H --root \$R run --bundle $S/b r\$i >/dev/null
  \$H --root \$R create --bundle $S/b c\$i && \$H --root \$R start c\$i && sleep 0.005
  \$H --root \$R state c\$i >/dev/null && \$H --root \$R delete c\$i
  \$H --root \$R create --bundle $S/s k\$i && \$H --root \$R kill k\$i KILL && sleep 0.005
  \$H --root \$R delete k\$i
done
\$H --root \$R run -d --bundle $S/s e >/dev/null
for i in \$(seq $ROUNDS); do \$H --root \$R exec e /bin/true; done
\$H --root \$R delete -f e
EOF
chmod +x "$S/work.sh"
perf record -q -o "$S/perf.data" -e cpu-clock:u -c 20000 -- "$S/work.sh"
# Samples in the binary (run directly or from its guarded copy), by symbol: first
# what the processes husk forks run (the container's init, exec's process: their
# resident code is the container's to pay for), then the rest, hottest first.
perf script -i "$S/perf.data" --show-task-events -F comm,pid,ip,sym,dso --no-demangle 2>/dev/null |
  python3 -c '
import re, sys, collections
comm, forked = {}, set()
child, parent = collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = re.search(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)", line)
    if m:
        kid, dad = m.groups()
        comm[kid] = comm.get(dad, "")
        if comm[kid].startswith("husk"):
            forked.add(kid)
        continue
    m = re.search(r"PERF_RECORD_COMM exec: (.*):(\d+)/", line)
    if m:
        comm[m.group(2)] = m.group(1)
        forked.discard(m.group(2))
        continue
    m = re.match(r"\s*(\S+)\s+(\d+)(?:/\d+)?\s+[0-9a-f]+\s+(\S+)\s+\((.*)\)\s*$", line)
    if not m or "husk" not in m.group(4) or m.group(3) == "[unknown]":
        continue
    c, pid, sym = m.group(1), m.group(2), m.group(3)
    comm.setdefault(pid, c)
    (child if pid in forked else parent)[sym] += 1
seen = set()
for counter in (child, parent):
    for sym, _ in counter.most_common():
        if sym not in seen:
            seen.add(sym)
            print(sym)
' >"$OUT"
echo "$(wc -l <"$OUT") symbols in $OUT"
