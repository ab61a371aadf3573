#!/bin/bash
# criu-tests.sh [HUSK]: the checkpoint/restore test set. Runs INSIDE the guest that
# conformance/vm/run-in-vm.sh boots (Debian kernel, where CRIU works; this host's
# kernel makes CRIU fail its feature detection); conformance/vm/test-criu.sh starts it.
#
# CRIU_RUNTIMES="husk runc" picks the runtimes (default: husk, plus runc when
# installed). Every check runs for each runtime side by side; only husk's results
# decide the exit status. The rootfs is /bin/busybox under /tmp in the guest; state
# under /run. Containers' stdio are pipes (CRIU hands a restored process the
# restoring runtime's pipes in their place, as runc's tests do).
#
# Checks: a counter keeps counting from where it was after checkpoint + restore
# (in-memory state survives, the container is gone after the dump, running with a
# new pid after the restore); --leave-running; --pre-dump then a dump with
# --parent-path; a bind mount and a tmpfs survive; restore into a new id; an
# established TCP connection with --tcp-established; a tty container restored with
# --console-socket; refusals (unknown container, stopped container, bad image path)
# that leave nothing behind; through containerd (ctr c checkpoint --task, ctr c
# restore --live) with husk's shim and runc's (CRIU_CONTAINERD=0 skips it); through
# podman (container checkpoint / restore --runtime; CRIU_PODMAN=0 skips it).
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HUSK=${1:-${HUSK:-$REPO/target/debug/husk}}
T=/tmp/husk-criu-tests
STATE=/run/husk-criu-tests
SLOW=${CRIU_WAIT:-120}

declare -A RES DETAIL
CHECKS=() RUNTIMES=()
pass=0 fail=0
record() { # record RT CHECK STATUS DETAIL
  local rt=$1 check=$2 st=$3 detail=${4:-} seen=0 c
  for c in "${CHECKS[@]}"; do [ "$c" = "$check" ] && seen=1; done
  [ $seen = 1 ] || CHECKS+=("$check")
  if [ "${RES["$check|$rt"]:-}" != FAIL ]; then RES["$check|$rt"]=$st; DETAIL["$check|$rt"]=$detail; fi
  local tag=$rt; [ "$rt" = husk ] || tag="$rt (info)"
  case $st in
    ok) echo "ok   - $tag: $check${detail:+ ($detail)}" ;;
    *) echo "FAIL - $tag: $check${detail:+: $detail}" ;;
  esac
  if [ "$rt" = husk ]; then if [ "$st" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; fi
}
ok() { record "$1" "$2" ok "${3:-}"; }
bad() { record "$1" "$2" FAIL "${3:-}"; }
wait_until() { local deadline=$((SECONDS + $1)); shift; until "$@" 2>/dev/null; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.3; done; }
last() { tail -n 1 "$1" 2>/dev/null | tr -dc 0-9; }
first() { head -n 1 "$1" 2>/dev/null | tr -dc 0-9; }
lines_ge() { [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
loginfo() { # the first CRIU errors of a log, for a failure message
  grep -h -m 3 'Error' "$@" 2>/dev/null | tr '\n' ' ' | head -c 400
}

[ "$(id -u)" = 0 ] || { echo "criu-tests: must run as root (inside the guest)"; exit 2; }
[ -x "$HUSK" ] || { echo "criu-tests: no husk binary at $HUSK"; exit 2; }
command -v criu >/dev/null || { echo "criu-tests: criu is not installed (apt-get install criu on the host)"; exit 2; }
echo "kernel $(uname -r); $(criu --version | head -1)"
echo "--- criu check"; criu check 2>&1; echo "--- criu check: exit $?"
RUNTIMES=(husk)
[ -x /usr/sbin/runc ] && RUNTIMES+=(runc) && echo "runc: $(/usr/sbin/runc --version | head -1)"
if [ -n "${CRIU_RUNTIMES:-}" ]; then
  keep=(); for r in "${RUNTIMES[@]}"; do [[ " $CRIU_RUNTIMES " == *" $r "* ]] && keep+=("$r"); done
  RUNTIMES=("${keep[@]}")
fi

rm -rf "$T" "$STATE"; mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/sys" "$T/rootfs/dev" "$T/rootfs/tmp" "$STATE"
cp /bin/busybox "$T/rootfs/bin/busybox"
for a in sh sleep echo cat nc wc true ps; do ln -s busybox "$T/rootfs/bin/$a"; done
ROOTFS=$T/rootfs

# bundle NAME ARGS_JSON [EXTRA_MOUNTS_JSON] [TERMINAL]: $T/NAME/config.json
bundle() {
  mkdir -p "$T/$1"
  python3 - "$T/$1/config.json" "$ROOTFS" "$2" "${3:-[]}" "${4:-false}" <<'PY'
import json, sys
path, rootfs, args, mounts, term = sys.argv[1:6]
caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
c = {
  "ociVersion": "1.0.2",
  "process": {"terminal": term == "true", "user": {"uid": 0, "gid": 0}, "args": json.loads(args),
    "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
    "noNewPrivileges": True},
  "root": {"path": rootfs, "readonly": False},
  "hostname": "criu",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
  ] + json.loads(mounts),
  "linux": {
    "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
    "maskedPaths": ["/proc/kcore", "/proc/timer_list", "/proc/acpi", "/sys/firmware"],
    "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
  },
}
json.dump(c, open(path, "w"), indent=1)
PY
}
rt() {
  local r=$1; shift
  case $r in
    husk) "$HUSK" --root "$STATE/husk" "$@" ;;
    runc) /usr/sbin/runc --root "$STATE/runc" "$@" ;;
  esac
}
status_of() { rt "$1" state "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }
pid_of() { rt "$1" state "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null; }
is_running() { [ "$(status_of "$1" "$2")" = running ]; }
has_status() { [ "$(status_of "$1" "$2")" = "$3" ]; }
tcp_lines() { rt "$1" exec "$2" sh -c 'wc -l < /tmp/got-tcp' 2>/dev/null; }
tcp_ge() { local n; n=$(tcp_lines "$1" "$2"); [ "${n:-0}" -ge "$3" ]; }
absent() { ! rt "$1" state "$2" >/dev/null 2>&1; }
# Stdio of detached containers: stdin a pipe held open by a sleep, stdout and
# stderr a pipe to cat writing OUT (a runtime's own errors land there too).
piped() { # piped OUT CMD...: runs CMD in the background with such stdio; waits for CMD
  local out=$1; shift
  # (A pipeline would wait for the sleep; a process substitution is not waited for.)
  ( "$@" < <(exec sleep 100000) > >(exec cat > "$out") 2>&1; echo $? > "$out.rc" ) &
  wait_until "$SLOW" test -s "$out.rc"
  return "$(cat "$out.rc" 2>/dev/null || echo 99)"
}
COUNTER='["sh","-c","i=0; while true; do i=$((i+1)); echo $i; sleep 0.3; done"]'

suite() {
  local r=$1 id img out n1 n2 p1 p2
  bundle counter "$COUNTER"

  # 1. counter: checkpoint, gone, restore, keeps counting
  id=ctr-$r img=$T/img-$id out=$T/$id
  if piped "$out.1" rt "$r" run -d -b "$T/counter" "$id" && wait_until "$SLOW" lines_ge "$out.1" 3; then
    p1=$(pid_of "$r" "$id")
    if rt "$r" checkpoint --image-path "$img" "$id" > "$out.ck" 2>&1; then
      ok "$r" "checkpoint a running counter"
      n1=$(last "$out.1"); sleep 1
      if [ "$(last "$out.1")" = "$n1" ] && absent "$r" "$id"; then ok "$r" "after checkpoint: stopped counting, container gone"
      else bad "$r" "after checkpoint: stopped counting, container gone" "last $n1 -> $(last "$out.1"), state: $(status_of "$r" "$id")"; fi
      if piped "$out.2" rt "$r" restore -d -b "$T/counter" --image-path "$img" "$id" && wait_until "$SLOW" lines_ge "$out.2" 2; then
        n2=$(first "$out.2"); p2=$(pid_of "$r" "$id")
        if is_running "$r" "$id" && [ "$n2" -gt "$n1" ] && [ "$n2" -le $((n1 + 3)) ]; then ok "$r" "restore: running, counting on from where it was" "$n1 -> $n2, pid $p1 -> $p2"
        else bad "$r" "restore: running, counting on from where it was" "last $n1, first after restore '$n2', status $(status_of "$r" "$id") $(head -c 300 "$out.2")"; fi
      else bad "$r" "restore: running, counting on from where it was" "$(tail -n 3 "$out.2" | tr '\n' ' ') $(loginfo "$img/restore.log")"; fi
    else bad "$r" "checkpoint a running counter" "$(tail -n 3 "$out.ck" | tr '\n' ' ') $(loginfo "$img/dump.log")"; fi
  else bad "$r" "checkpoint a running counter" "run -d: $(tail -n 3 "$out.1" | tr '\n' ' ')"; fi
  rt "$r" delete -f "$id" >/dev/null 2>&1

  # 2. --leave-running
  id=lr-$r img=$T/img-$id out=$T/$id
  if piped "$out.1" rt "$r" run -d -b "$T/counter" "$id" && wait_until "$SLOW" lines_ge "$out.1" 2; then
    if rt "$r" checkpoint --leave-running --image-path "$img" "$id" > "$out.ck" 2>&1; then
      n1=$(last "$out.1")
      if is_running "$r" "$id" && wait_until 20 lines_ge "$out.1" $((n1 + 2)); then ok "$r" "checkpoint --leave-running: still running and counting"
      else bad "$r" "checkpoint --leave-running: still running and counting" "status $(status_of "$r" "$id"), $n1 -> $(last "$out.1")"; fi
    else bad "$r" "checkpoint --leave-running: still running and counting" "$(tail -n 3 "$out.ck" | tr '\n' ' ') $(loginfo "$img/dump.log")"; fi
  else bad "$r" "checkpoint --leave-running: still running and counting" "run -d failed"; fi
  rt "$r" delete -f "$id" >/dev/null 2>&1

  # 3. --pre-dump, then a dump with --parent-path, then restore
  id=pre-$r out=$T/$id
  if piped "$out.1" rt "$r" run -d -b "$T/counter" "$id" && wait_until "$SLOW" lines_ge "$out.1" 2; then
    if rt "$r" checkpoint --pre-dump --image-path "$T/img-$id/pre" "$id" > "$out.ck" 2>&1 && is_running "$r" "$id"; then
      ok "$r" "checkpoint --pre-dump: still running"
      if rt "$r" checkpoint --parent-path ../pre --image-path "$T/img-$id/final" "$id" > "$out.ck2" 2>&1; then
        n1=$(last "$out.1")
        if piped "$out.2" rt "$r" restore -d -b "$T/counter" --image-path "$T/img-$id/final" "$id" && wait_until "$SLOW" lines_ge "$out.2" 1 \
           && [ "$(first "$out.2")" -gt "$n1" ]; then ok "$r" "dump --parent-path after pre-dump, restore counts on" "$n1 -> $(first "$out.2")"
        else bad "$r" "dump --parent-path after pre-dump, restore counts on" "$(tail -n 2 "$out.2" | tr '\n' ' ') $(loginfo "$T/img-$id/final/restore.log")"; fi
      else bad "$r" "dump --parent-path after pre-dump, restore counts on" "$(tail -n 3 "$out.ck2" | tr '\n' ' ') $(loginfo "$T/img-$id/final/dump.log")"; fi
    else bad "$r" "checkpoint --pre-dump: still running" "$(tail -n 3 "$out.ck" | tr '\n' ' ') $(loginfo "$T/img-$id/pre/dump.log")"; fi
  else bad "$r" "checkpoint --pre-dump: still running" "run -d failed"; fi
  rt "$r" delete -f "$id" >/dev/null 2>&1

  # 4. bind mount + tmpfs; restore into a new id
  id=mnt-$r img=$T/img-$id out=$T/$id
  mkdir -p "$T/data-$r"; echo "host-data" > "$T/data-$r/x"
  bundle "mnt-$r" '["sh","-c","echo in-tmpfs > /scratch/f; i=0; while true; do i=$((i+1)); echo $i; sleep 0.3; done"]' \
    "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"$T/data-$r\",\"options\":[\"rbind\",\"rw\"]},{\"destination\":\"/scratch\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"size=1m\"]}]"
  if piped "$out.1" rt "$r" run -d -b "$T/mnt-$r" "$id" && wait_until "$SLOW" lines_ge "$out.1" 2; then
    if rt "$r" checkpoint --image-path "$img" "$id" > "$out.ck" 2>&1; then
      ok "$r" "checkpoint with a bind mount and a tmpfs"
      if piped "$out.2" rt "$r" restore -d -b "$T/mnt-$r" --image-path "$img" "$id-new" && wait_until "$SLOW" lines_ge "$out.2" 1; then
        if is_running "$r" "$id-new" && absent "$r" "$id"; then ok "$r" "restore into a new container id"
        else bad "$r" "restore into a new container id" "new: $(status_of "$r" "$id-new"), old: $(status_of "$r" "$id")"; fi
        local got; got="$(rt "$r" exec "$id-new" cat /scratch/f /data/x 2>&1 | tr '\n' ' ')"
        if [ "$got" = "in-tmpfs host-data " ]; then ok "$r" "restored: tmpfs content and bind mount are there"
        else bad "$r" "restored: tmpfs content and bind mount are there" "got '$got'"; fi
      else bad "$r" "restore into a new container id" "$(tail -n 3 "$out.2" | tr '\n' ' ') $(loginfo "$img/restore.log")"; fi
    else bad "$r" "checkpoint with a bind mount and a tmpfs" "$(tail -n 3 "$out.ck" | tr '\n' ' ') $(loginfo "$img/dump.log")"; fi
  else bad "$r" "checkpoint with a bind mount and a tmpfs" "run -d: $(tail -n 3 "$out.1" | tr '\n' ' ')"; fi
  rt "$r" delete -f "$id-new" >/dev/null 2>&1; rt "$r" delete -f "$id" >/dev/null 2>&1

  # 5. established TCP connection (both ends in the container's network namespace)
  id=tcp-$r img=$T/img-$id out=$T/$id
  # The client retries until the listener is up (a slow guest may take seconds); the
  # listener's stdin stays open (at EOF busybox nc would close the connection).
  bundle "tcp-$r" '["sh","-c","sleep 100000 | nc -l -p 5000 > /tmp/got-tcp & i=0; while true; do i=$((i+1)); echo $i; sleep 0.3; done | while ! nc 127.0.0.1 5000; do sleep 0.5; done"]'
  if ! piped "$out.1" rt "$r" run -d -b "$T/tcp-$r" "$id"; then
    bad "$r" "--tcp-established: the connection carries data after restore" "run -d: $(tail -n 3 "$out.1" | tr '\n' ' ')"
  elif ! wait_until "$SLOW" tcp_ge "$r" "$id" 2; then
    bad "$r" "--tcp-established: the connection carries data after restore" "no data through the connection before the checkpoint: lines '$(tcp_lines "$r" "$id")', $(rt "$r" exec "$id" ps 2>&1 | tr '\n' ' ' | head -c 300) $(tail -n 3 "$out.1" | tr '\n' ' ')"
  else
    if rt "$r" checkpoint --tcp-established --image-path "$img" "$id" > "$out.ck" 2>&1; then
      if piped "$out.2" rt "$r" restore -d --tcp-established -b "$T/tcp-$r" --image-path "$img" "$id"; then
        local c1 c2; c1=$(tcp_lines "$r" "$id"); sleep 3
        c2=$(tcp_lines "$r" "$id")
        if [ -n "$c1" ] && [ -n "$c2" ] && [ "$c2" -gt "$c1" ]; then ok "$r" "--tcp-established: the connection carries data after restore" "$c1 -> $c2 lines"
        else bad "$r" "--tcp-established: the connection carries data after restore" "lines $c1 -> $c2"; fi
      else bad "$r" "--tcp-established: the connection carries data after restore" "restore: $(tail -n 3 "$out.2" | tr '\n' ' ') $(loginfo "$img/restore.log")"; fi
    else bad "$r" "--tcp-established: the connection carries data after restore" "checkpoint: $(tail -n 3 "$out.ck" | tr '\n' ' ') $(loginfo "$img/dump.log")"; fi
  fi
  rt "$r" delete -f "$id" >/dev/null 2>&1

  # 6. tty: run with --console-socket, restore with --console-socket
  id=tty-$r img=$T/img-$id out=$T/$id
  bundle "tty-$r" "$COUNTER" '[]' true
  python3 "$REPO/conformance/vm/console-recv.py" "$T/$id.sock1" "$out.tty1" & local cr1=$!
  wait_until 20 test -S "$T/$id.sock1"
  if rt "$r" run -d --console-socket "$T/$id.sock1" -b "$T/tty-$r" "$id" </dev/null >"$out.run" 2>&1 && wait_until "$SLOW" lines_ge "$out.tty1" 2; then
    if rt "$r" checkpoint --image-path "$img" "$id" > "$out.ck" 2>&1; then
      n1=$(last "$out.tty1")
      python3 "$REPO/conformance/vm/console-recv.py" "$T/$id.sock2" "$out.tty2" & local cr2=$!
      wait_until 20 test -S "$T/$id.sock2"
      if rt "$r" restore -d --console-socket "$T/$id.sock2" -b "$T/tty-$r" --image-path "$img" "$id" </dev/null >"$out.rs" 2>&1 \
         && wait_until "$SLOW" lines_ge "$out.tty2" 2; then
        n2=$(sed -n 2p "$out.tty2" | tr -dc 0-9)
        if [ -n "$n2" ] && [ "$n2" -gt "$n1" ]; then ok "$r" "tty: restore --console-socket gets a working pty" "$n1 -> $n2"
        else bad "$r" "tty: restore --console-socket gets a working pty" "$n1 -> '$n2'"; fi
      else bad "$r" "tty: restore --console-socket gets a working pty" "$(tail -n 3 "$out.rs" | tr '\n' ' ') $(loginfo "$img/restore.log")"; fi
      kill "$cr2" 2>/dev/null
    else bad "$r" "tty: restore --console-socket gets a working pty" "checkpoint: $(tail -n 3 "$out.ck" | tr '\n' ' ') $(loginfo "$img/dump.log")"; fi
  else bad "$r" "tty: restore --console-socket gets a working pty" "run -d: $(tail -n 3 "$out.run" | tr '\n' ' ')"; fi
  kill "$cr1" 2>/dev/null
  rt "$r" delete -f "$id" >/dev/null 2>&1

  # 7. refusals leave nothing behind
  if ! rt "$r" checkpoint --image-path "$T/img-none-$r" "no-such-$r" >/dev/null 2>&1 && [ ! -e "$T/img-none-$r" ]; then ok "$r" "refused: checkpoint an unknown container (no images made)"
  else bad "$r" "refused: checkpoint an unknown container (no images made)" "$(ls "$T/img-none-$r" 2>&1)"; fi
  id=stopped-$r
  bundle stopped '["true"]'
  rt "$r" create -b "$T/stopped" "$id" </dev/null >/dev/null 2>&1; rt "$r" start "$id" >/dev/null 2>&1
  wait_until "$SLOW" has_status "$r" "$id" stopped
  if ! rt "$r" checkpoint --image-path "$T/img-$id" "$id" > "$T/$id.ck" 2>&1; then ok "$r" "refused: checkpoint a stopped container" "$(tail -n 1 "$T/$id.ck" | head -c 120)"
  else bad "$r" "refused: checkpoint a stopped container" "checkpoint succeeded"; fi
  rt "$r" delete -f "$id" >/dev/null 2>&1
  if ! rt "$r" restore -d -b "$T/counter" --image-path "$T/no-such-images" "bad-$r" </dev/null > "$T/bad-$r.rs" 2>&1 && absent "$r" "bad-$r" \
     && [ ! -e "$STATE/$r/bad-$r" ] && [ ! -e "/sys/fs/cgroup/bad-$r" ]; then ok "$r" "refused: restore from a bad image path, nothing left" "$(tail -n 1 "$T/bad-$r.rs" | head -c 120)"
  else bad "$r" "refused: restore from a bad image path, nothing left" "$(ls "$STATE/$r" 2>&1 | tr '\n' ' ')"; fi
}

# ---------------------------------------------------------------- containerd
# ctr c checkpoint --task / ctr c restore --live through a shim: husk's
# (io.containerd.husk.v2, this checkout's containerd-shim-husk-v2) and runc's.
SHIM=${HUSK_SHIM:-$(dirname "$HUSK")/containerd-shim-husk-v2}
CTD=$T/ctd SOCK=$T/ctd/c.sock IMG=localhost/husk-criu-busybox:latest
ctr_() { timeout -k 5 300 ctr -a "$SOCK" -n criu "$@"; }
ctd_start() {
  mkdir -p "$CTD/bin" "$CTD/img/rootfs/bin" "$CTD/img/rootfs/tmp" "$CTD/layout/blobs/sha256"
  ln -sf "$SHIM" "$CTD/bin/containerd-shim-husk-v2"
  cat > "$CTD/config.toml" <<TOML
version = 2
root = "$CTD/root"
state = "/run/husk-criu-ctd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
TOML
  PATH=$CTD/bin:$PATH containerd --config "$CTD/config.toml" > "$CTD/containerd.log" 2>&1 &
  wait_until 60 ctr_ version >/dev/null || return 1
  # A one-layer busybox image, as an OCI layout tar.
  cp /bin/busybox "$CTD/img/rootfs/bin/"; for a in sh sleep echo cat; do ln -sf busybox "$CTD/img/rootfs/bin/$a"; done
  mkdir -p "$CTD/img/rootfs/proc" "$CTD/img/rootfs/sys" "$CTD/img/rootfs/dev" "$CTD/img/rootfs/etc"
  tar -C "$CTD/img/rootfs" --numeric-owner -cf "$CTD/layer.tar" .
  blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$CTD/layout/blobs/sha256/$d"; echo "$d $(stat -c %s "$1")"; }
  read -r ld ls < <(blob "$CTD/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ld" > "$CTD/config.json"
  read -r cd cs < <(blob "$CTD/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" > "$CTD/manifest.json"
  read -r md ms < <(blob "$CTD/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' "$md" "$ms" "$IMG" > "$CTD/layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$CTD/layout/oci-layout"
  tar -C "$CTD/layout" -cf "$CTD/image.tar" .
  ctr_ images import "$CTD/image.tar" >/dev/null
}
task_pid() { ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
task_status() { ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
status_is() { [ "$(task_status "$1")" = "$2" ]; }
count_of() { local p; p=$(task_pid "$1"); cat "/proc/$p/root/tmp/count" 2>/dev/null; }
count_ge() { local n; n=$(count_of "$1"); [ "${n:-0}" -ge "$2" ]; }
ctr_suite() { # ctr_suite LABEL RUNTIME_NAME
  local r=$1 rtn=$2 id=cc-$1 n1 n2 check="containerd: ctr c checkpoint --task, ctr c restore --live"
  ctr_ run -d --runtime "$rtn" "$IMG" "$id" sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.3; done' > "$T/$id.run" 2>&1
  if ! wait_until "$SLOW" count_ge "$id" 3; then bad "$r" "$check" "run: $(tail -n 3 "$T/$id.run" | tr '\n' ' ')"; return; fi
  if ! ctr_ c checkpoint --rw --task "$id" "localhost/ckpt-$id:1" > "$T/$id.ck" 2>&1; then
    bad "$r" "$check" "checkpoint: $(tail -n 3 "$T/$id.ck" | tr '\n' ' ')"; ctr_ t kill -s SIGKILL "$id"; return
  fi
  n1=$(count_of "$id")
  ctr_ t kill -s SIGKILL "$id" >/dev/null 2>&1; wait_until 60 status_is "$id" STOPPED
  ctr_ t rm "$id" >/dev/null 2>&1; ctr_ c rm "$id" >/dev/null 2>&1
  if ! ctr_ c restore --rw --live "$id" "localhost/ckpt-$id:1" > "$T/$id.rs" 2>&1; then
    bad "$r" "$check" "restore: $(tail -n 3 "$T/$id.rs" | tr '\n' ' ')"; return
  fi
  if wait_until "$SLOW" status_is "$id" RUNNING && sleep 2 && n2=$(count_of "$id") && [ "${n2:-0}" -gt 1 ] && [ "$n2" -lt $((n1 + 30)) ]; then
    ok "$r" "$check" "counter $n1 at the checkpoint, $n2 after"
  else bad "$r" "$check" "status $(task_status "$id"), counter $n1 -> ${n2:-?} $(tail -n 2 "$T/$id.rs" | tr '\n' ' ')"; fi
  ctr_ t kill -s SIGKILL "$id" >/dev/null 2>&1; sleep 1; ctr_ t rm -f "$id" >/dev/null 2>&1; ctr_ c rm "$id" >/dev/null 2>&1
}

# ---------------------------------------------------------------- podman
# podman container checkpoint / restore with --runtime (vfs storage, no network).
POD_ROOT=$T/pod
pod_() { timeout -k 5 300 podman --root "$POD_ROOT/root" --runroot /run/husk-criu-pod --storage-driver vfs \
  --cgroup-manager cgroupfs --events-backend file "$@"; }
pod_count() { local p; p=$(pod_ inspect -f '{{.State.Pid}}' "$1" 2>/dev/null); cat "/proc/$p/root/tmp/count" 2>/dev/null; }
pod_count_ge() { local n; n=$(pod_count "$1"); [ "${n:-0}" -ge "$2" ]; }
pod_running() { [ "$(pod_ inspect -f '{{.State.Status}}' "$1" 2>/dev/null)" = running ]; }
pod_suite() { # pod_suite LABEL RUNTIME_PATH
  local r=$1 bin=$2 id=pc-$1 n1 n2 check="podman: container checkpoint / restore --runtime"
  pod_ --runtime "$bin" run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name "$id" "$POD_IMG" \
    sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.3; done' > "$T/$id.run" 2>&1
  if ! wait_until "$SLOW" pod_count_ge "$id" 3; then bad "$r" "$check" "run: $(tail -n 3 "$T/$id.run" | tr '\n' ' ')"; pod_ rm -f -t 0 "$id" >/dev/null 2>&1; return; fi
  if ! pod_ --runtime "$bin" container checkpoint "$id" > "$T/$id.ck" 2>&1; then
    bad "$r" "$check" "checkpoint: $(tail -n 3 "$T/$id.ck" | tr '\n' ' ')"; pod_ rm -f -t 0 "$id" >/dev/null 2>&1; return
  fi
  if pod_running "$id"; then bad "$r" "$check" "still running after the checkpoint"; pod_ rm -f -t 0 "$id" >/dev/null 2>&1; return; fi
  if ! pod_ --runtime "$bin" container restore "$id" > "$T/$id.rs" 2>&1; then
    bad "$r" "$check" "restore: $(tail -n 3 "$T/$id.rs" | tr '\n' ' ')"; pod_ rm -f -t 0 "$id" >/dev/null 2>&1; return
  fi
  n1=$(pod_count "$id"); sleep 2; n2=$(pod_count "$id")
  if pod_running "$id" && [ "${n1:-0}" -gt 3 ] && [ "${n2:-0}" -gt "${n1:-0}" ]; then ok "$r" "$check" "counter $n1 -> $n2 after the restore"
  else bad "$r" "$check" "status $(pod_ inspect -f '{{.State.Status}}' "$id" 2>&1), counter ${n1:-?} -> ${n2:-?}"; fi
  pod_ rm -f -t 0 "$id" >/dev/null 2>&1
}

for r in "${RUNTIMES[@]}"; do
  echo "=== $r"; t0=$SECONDS
  suite "$r"
  echo "=== $r: $((SECONDS - t0)) s"
done

if [ "${CRIU_CONTAINERD:-1}" = 1 ] && command -v containerd >/dev/null && command -v ctr >/dev/null && [ -x "$SHIM" ]; then
  echo "=== containerd"; t0=$SECONDS
  if ctd_start; then
    for r in "${RUNTIMES[@]}"; do
      case $r in husk) ctr_suite husk io.containerd.husk.v2 ;; runc) ctr_suite runc io.containerd.runc.v2 ;; esac
    done
  else for r in "${RUNTIMES[@]}"; do bad "$r" "containerd: ctr c checkpoint --task, ctr c restore --live" "containerd did not start: $(tail -n 3 "$CTD/containerd.log" | tr '\n' ' ')"; done; fi
  echo "=== containerd: $((SECONDS - t0)) s"
else echo "=== containerd: not run (CRIU_CONTAINERD=0, no containerd/ctr, or no shim at $SHIM)"; fi

if [ "${CRIU_PODMAN:-1}" = 1 ] && command -v podman >/dev/null && command -v conmon >/dev/null; then
  echo "=== podman"; t0=$SECONDS
  mkdir -p "$POD_ROOT/rootfs/bin" "$POD_ROOT/rootfs/tmp" "$POD_ROOT/rootfs/proc" "$POD_ROOT/rootfs/sys" "$POD_ROOT/rootfs/dev" "$POD_ROOT/rootfs/etc"
  cp /bin/busybox "$POD_ROOT/rootfs/bin/"; for a in sh sleep echo cat; do ln -sf busybox "$POD_ROOT/rootfs/bin/$a"; done
  tar -C "$POD_ROOT/rootfs" --numeric-owner -cf "$POD_ROOT/rootfs.tar" .
  POD_IMG=localhost/husk-criu-busybox-pod
  if pod_ import "$POD_ROOT/rootfs.tar" "$POD_IMG" > "$POD_ROOT/import.log" 2>&1; then
    for r in "${RUNTIMES[@]}"; do
      case $r in husk) pod_suite husk "$HUSK" ;; runc) pod_suite runc /usr/sbin/runc ;; esac
    done
  else for r in "${RUNTIMES[@]}"; do bad "$r" "podman: container checkpoint / restore --runtime" "podman import: $(tail -n 2 "$POD_ROOT/import.log" | tr '\n' ' ')"; done; fi
  echo "=== podman: $((SECONDS - t0)) s"
else echo "=== podman: not run (CRIU_PODMAN=0, or no podman/conmon)"; fi

echo
echo "=== checkpoint/restore (CRIU $(criu --version | awk '/Version/{print $2}'), kernel $(uname -r); husk decides, the others for comparison)"
printf '%-62s' check; for r in "${RUNTIMES[@]}"; do printf ' | %-5s' "$r"; done; echo
printf '%-62s' "----"; for r in "${RUNTIMES[@]}"; do printf ' | %-5s' "----"; done; echo
for c in "${CHECKS[@]}"; do
  printf '%-62s' "$c"; for r in "${RUNTIMES[@]}"; do printf ' | %-5s' "${RES["$c|$r"]:--}"; done; echo
done
echo
echo "$pass passed, $fail failed"
[ $fail = 0 ]
