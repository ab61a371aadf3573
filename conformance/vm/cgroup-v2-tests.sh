#!/bin/bash
# cgroup-v2-tests.sh [HUSK]: the cgroup-v2 test set. Runs INSIDE the guest
# that conformance/vm/run-in-vm.sh boots (pure cgroup v2, shell mode, the
# host's / read-only + tmpfs overlay); conformance/vm/test-v2.sh starts it.
#
# HUSK is the husk binary from the host build (default: target/debug/husk
# of this checkout). V2_RUNTIMES="husk" limits the runtimes (default: husk
# plus runc and crun where installed). The rootfs is /bin/busybox, built under /tmp in the
# guest; container state lives under /run. Every check runs for husk with
# the cgroupfs driver; the same checks run for runc (/usr/sbin/runc) and
# crun when installed, side by side and for information only: only husk's
# results decide the exit status.
#
# Checks: memory/pids/cpu limits read back (memory.max, pids.max, cpu.max,
# cpu.weight); the memory limit OOM-kills an allocating process (exit 137)
# and memory.events / `events --stats` / `events` report it; the pids limit
# stops a fork loop; pause freezes (cgroup.freeze = 1, a counter stops) and
# resume thaws; `update --memory 128m` changes memory.max; device rules (the
# eBPF filter): an allowed device opens, a denied one and a denied access
# mode do not; absolute and relative cgroupsPath; delete leaves no cgroup.
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HUSK=${1:-${HUSK:-$REPO/target/debug/husk}}
T=/tmp/husk-v2-tests
STATE=/run/husk-v2-tests
CG=/sys/fs/cgroup
SLOW=${V2_WAIT:-90}          # seconds to wait for something inside a container (TCG is slow)

# ------------------------------------------------------------------ results
declare -A RES               # RES[check|runtime] = ok | FAIL | n/a, DETAIL[...] = why
declare -A DETAIL
CHECKS=()                    # check names in order of first appearance
RUNTIMES=()
pass=0 fail=0

record() { # record RT CHECK STATUS DETAIL
  local rt=$1 check=$2 st=$3 detail=${4:-}
  local seen=0 c
  for c in "${CHECKS[@]}"; do [ "$c" = "$check" ] && seen=1; done
  [ $seen = 1 ] || CHECKS+=("$check")
  # A check made for several containers shows its worst result.
  if [ "${RES["$check|$rt"]:-}" != FAIL ]; then
    RES["$check|$rt"]=$st
    DETAIL["$check|$rt"]=$detail
  fi
  local tag=$rt; [ "$rt" = husk ] || tag="$rt (info)"
  case $st in
    ok) echo "ok   - $tag: $check${detail:+ ($detail)}" ;;
    n/a) echo "n/a  - $tag: $check${detail:+ ($detail)}" ;;
    *) echo "FAIL - $tag: $check${detail:+: $detail}" ;;
  esac
  if [ "$rt" = husk ]; then
    if [ "$st" = ok ]; then pass=$((pass + 1)); elif [ "$st" = FAIL ]; then fail=$((fail + 1)); fi
  fi
}
# check RT NAME GOT WANT
check() { if [ "$3" = "$4" ]; then record "$1" "$2" ok "$3"; else record "$1" "$2" FAIL "got '$3' want '$4'"; fi; }
# check_cmd RT NAME CMD...: the command succeeds
check_cmd() {
  local rt=$1 name=$2; shift 2
  local out; out=$("$@" 2>&1); local rc=$?
  if [ $rc = 0 ]; then record "$rt" "$name" ok; else record "$rt" "$name" FAIL "rc=$rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"; fi
  return $rc
}

# wait_until SECONDS CMD...: poll CMD every 0.2 s
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}
readf() { cat "$1" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
keyed() { awk -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null; }   # keyed FILE KEY
gone() { [ ! -e "$1" ]; }
has() { grep -q -- "$2" "$1"; }                                     # has FILE TEXT

# ------------------------------------------------------------------ setup
[ "$(id -u)" = 0 ] || { echo "cgroup-v2-tests: must run as root (inside the guest)"; exit 2; }
[ "$(stat -fc %T $CG)" = cgroup2fs ] || { echo "cgroup-v2-tests: $CG is not cgroup2 (run me in the guest: conformance/vm/test-v2.sh)"; exit 2; }
[ -x "$HUSK" ] || { echo "cgroup-v2-tests: no husk binary at $HUSK (build it on the host first)"; exit 2; }
command -v python3 >/dev/null || { echo "cgroup-v2-tests: python3 is needed to write config.json"; exit 2; }
BUSYBOX=/bin/busybox
[ -x $BUSYBOX ] || { echo "cgroup-v2-tests: $BUSYBOX missing (apt-get install busybox-static)"; exit 2; }

echo "kernel $(uname -r); cgroup controllers: $(cat $CG/cgroup.controllers); my cgroup: $(cat /proc/self/cgroup)"
echo "husk: $HUSK"
RUNTIMES=(husk)
command -v /usr/sbin/runc >/dev/null && RUNTIMES+=(runc) && echo "runc: $(/usr/sbin/runc --version | head -1)"
command -v crun >/dev/null && RUNTIMES+=(crun) && echo "crun: $(crun --version | head -1)"
if [ -n "${V2_RUNTIMES:-}" ]; then      # e.g. V2_RUNTIMES=husk for a quicker run
  keep=(); for r in "${RUNTIMES[@]}"; do [[ " $V2_RUNTIMES " == *" $r "* ]] && keep+=("$r"); done
  RUNTIMES=("${keep[@]}")
fi

rm -rf "$T" "$STATE"; mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/sys" "$T/rootfs/dev" "$T/rootfs/tmp" "$STATE"
cp $BUSYBOX "$T/rootfs/bin/busybox"
for a in $($BUSYBOX --list); do [ "$a" = busybox ] || ln -s busybox "$T/rootfs/bin/$a"; done
mkdir -p "$T/rootfs/etc" && echo 'root:x:0:0:root:/:/bin/sh' > "$T/rootfs/etc/passwd"
ROOTFS=$T/rootfs
OWN=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup); OWN=${OWN%/}

# bundle NAME CGROUPS_PATH ARGS_JSON [RESOURCES_JSON] [EXTRA_MOUNTS_JSON]
# writes $T/NAME/config.json (runc-spec-like, rootfs shared and writable)
bundle() {
  mkdir -p "$T/$1"
  python3 - "$T/$1/config.json" "$ROOTFS" "$2" "$3" "${4:-{\}}" "${5:-[]}" <<'PY'
import json, sys
path, rootfs, cgpath, args, res, mounts = sys.argv[1:7]
caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
resources = {"devices": [{"allow": False, "access": "rwm"}]}
extra = json.loads(res)
resources["devices"] += extra.pop("devices", [])
resources.update(extra)
c = {
  "ociVersion": "1.0.2",
  "process": {
    "terminal": False, "user": {"uid": 0, "gid": 0}, "args": json.loads(args),
    "env": ["PATH=/bin", "TERM=dumb"], "cwd": "/",
    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": True,
  },
  "root": {"path": rootfs, "readonly": False},
  "hostname": "v2test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
  ] + json.loads(mounts),
  "linux": {
    "resources": resources,
    "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
  },
}
if cgpath:
    c["linux"]["cgroupsPath"] = cgpath
json.dump(c, open(path, "w"), indent=1)
PY
}

# rt RUNTIME ARGS...: the runtime with its own state root
rt() {
  local r=$1; shift
  case $r in
    husk) "$HUSK" --root "$STATE/husk" "$@" ;;
    runc) /usr/sbin/runc --root "$STATE/runc" "$@" ;;
    crun) crun --root "$STATE/crun" "$@" ;;
  esac
}
# start RUNTIME ID BUNDLE: run -d with stdio to $T/ID.log; checked
start() {
  local rc
  rt "$1" run -d --bundle "$T/$3" "$2" </dev/null >"$T/$2.log" 2>&1; rc=$?
  if [ $rc != 0 ]; then record "$1" "${4:-run -d}" FAIL "rc=$rc: $(tail -n 3 "$T/$2.log" | tr '\n' ' ')"; return 1; fi
  return 0
}
# finish RUNTIME ID DIR: delete -f, then the cgroup dir must be gone
finish() {
  local rc
  rt "$1" delete -f "$2" >"$T/$2.delete.log" 2>&1; rc=$?
  if [ $rc = 0 ]; then record "$1" "delete -f" ok
  else record "$1" "delete -f" FAIL "rc=$rc: $(tail -n 2 "$T/$2.delete.log" | tr '\n' ' ')"; fi
  if [ -n "${3:-}" ]; then
    if wait_until 10 gone "$3"; then record "$1" "delete leaves no cgroup dir" ok
    else record "$1" "delete leaves no cgroup dir" FAIL "$3 still exists"; fi
  fi
}

# ------------------------------------------------------------------ the checks
# cpu.weight husk writes for cpu.shares 512: current runc's conversion
# (opencontainers/cgroups >= v0.0.3); runc 1.1 and crun 1.8 use the older
# linear one and write 20.
WEIGHT_512=59

suite() {
  local r=$1 id dir

  # --- limits, update, pause/resume, absolute cgroupsPath, delete
  id=lim-$r; dir=$CG/husk-v2/abs-$r
  bundle "$id" "/husk-v2/abs-$r" \
    "[\"sh\",\"-c\",\"i=0; while :; do i=\$((i+1)); echo \$i > /cnt-$r; sleep 0.1; done\"]" \
    '{"memory":{"limit":67108864},"pids":{"limit":32},"cpu":{"shares":512,"quota":50000,"period":100000}}'
  if start "$r" "$id" "$id" "run -d with limits"; then
    record "$r" "run -d with limits" ok
    if [ -d "$dir" ]; then record "$r" "absolute cgroupsPath" ok "$dir"; else record "$r" "absolute cgroupsPath" FAIL "no $dir"; fi
    check "$r" "memory.max" "$(readf "$dir/memory.max")" 67108864
    check "$r" "pids.max" "$(readf "$dir/pids.max")" 32
    check "$r" "cpu.max" "$(readf "$dir/cpu.max")" "50000 100000"
    check "$r" "cpu.weight (shares 512)" "$(readf "$dir/cpu.weight")" $WEIGHT_512
    # crun 1.8 takes no size suffix (it pastes the text into JSON).
    local m128=128m; [ "$r" = crun ] && m128=134217728
    if check_cmd "$r" "update --memory 128m" rt "$r" update --memory $m128 "$id"; then
      check "$r" "memory.max after update" "$(readf "$dir/memory.max")" 134217728
    fi
    wait_until $SLOW test -s "$ROOTFS/cnt-$r"
    if check_cmd "$r" "pause" rt "$r" pause "$id"; then
      check "$r" "cgroup.freeze after pause" "$(readf "$dir/cgroup.freeze")" 1
      check "$r" "cgroup.events frozen" "$(keyed "$dir/cgroup.events" frozen)" 1
      local a b c
      a=$(cat "$ROOTFS/cnt-$r" 2>/dev/null); sleep 1.5; b=$(cat "$ROOTFS/cnt-$r" 2>/dev/null)
      if [ -n "$a" ] && [ "$a" = "$b" ]; then record "$r" "paused counter stops" ok "$a"
      else record "$r" "paused counter stops" FAIL "$a -> $b"; fi
      if check_cmd "$r" "resume" rt "$r" resume "$id"; then
        check "$r" "cgroup.freeze after resume" "$(readf "$dir/cgroup.freeze")" 0
        if wait_until $SLOW eval '[ "$(cat "$ROOTFS/cnt-$r" 2>/dev/null)" -gt "${b:-0}" ]'; then
          record "$r" "resumed counter continues" ok "$b -> $(cat "$ROOTFS/cnt-$r")"
        else record "$r" "resumed counter continues" FAIL "still $(cat "$ROOTFS/cnt-$r" 2>/dev/null)"; fi
      fi
    fi
    finish "$r" "$id" "$dir"
  fi

  # --- OOM: the allocation is killed (137), memory.events and events report it
  id=oom-$r; dir=$CG/husk-v2/oom-$r
  rm -f "$ROOTFS/go-$r"
  bundle "$id" "/husk-v2/oom-$r" \
    "[\"sh\",\"-c\",\"while [ ! -e /go-$r ]; do sleep 0.1; done; dd if=/dev/zero of=/dev/null bs=200M count=1; echo dd-exit=\$?; exec sleep 1000\"]" \
    '{"memory":{"limit":67108864}}'
  if start "$r" "$id" "$id" "run -d (oom)"; then
    local evpid=
    if [ "$r" != crun ]; then
      rt "$r" events --interval 60s "$id" >"$T/$id.events" 2>&1 &
      evpid=$!
      sleep 1
    fi
    touch "$ROOTFS/go-$r"
    if wait_until $SLOW has "$T/$id.log" dd-exit=; then
      check "$r" "memory limit OOM-kills the allocation" "$(sed -n 's/^dd-exit=//p' "$T/$id.log")" 137
    else
      record "$r" "memory limit OOM-kills the allocation" FAIL "no dd exit status: $(tail -n 2 "$T/$id.log" | tr '\n' ' ')"
    fi
    local kills; kills=$(keyed "$dir/memory.events" oom_kill)
    if [ "${kills:-0}" -ge 1 ]; then record "$r" "memory.events oom_kill" ok "$kills"
    else record "$r" "memory.events oom_kill" FAIL "'$(readf "$dir/memory.events")'"; fi
    if [ "$r" = crun ]; then
      record "$r" "events --stats memory failcnt" n/a "crun has no events command"
      record "$r" "events reports the oom" n/a "crun has no events command"
    else
      local st; st=$(rt "$r" events --stats "$id" 2>&1)
      local fc; fc=$(echo "$st" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["memory"]["usage"].get("failcnt", 0))' 2>/dev/null)
      if [ "${fc:-0}" -ge 1 ] 2>/dev/null; then record "$r" "events --stats memory failcnt" ok "$fc"
      else record "$r" "events --stats memory failcnt" FAIL "failcnt '${fc}': $(echo "$st" | head -c 200)"; fi
      if wait_until 15 has "$T/$id.events" '"oom"'; then record "$r" "events reports the oom" ok
      else record "$r" "events reports the oom" FAIL "$(head -c 200 "$T/$id.events")"; fi
      kill "$evpid" 2>/dev/null; wait "$evpid" 2>/dev/null
    fi
    finish "$r" "$id" "$dir"
  fi

  # --- pids: a fork loop stops at the limit; relative cgroupsPath. (busybox
  # sh exits when a fork fails, so the loop runs in a child shell; the
  # orphaned sleeps stay.)
  id=pids-$r; dir=$CG${OWN}/husk-v2-rel/$r
  bundle "$id" "husk-v2-rel/$r" \
    '["sh","-c","sh -c '"'"'i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done'"'"'; echo spawned; exec sleep 1000"]' \
    '{"pids":{"limit":16}}'
  if start "$r" "$id" "$id" "run -d (pids)"; then
    if [ -d "$dir" ]; then record "$r" "relative cgroupsPath" ok "$dir"; else record "$r" "relative cgroupsPath" FAIL "no $dir"; fi
    if wait_until $SLOW has "$T/$id.log" spawned; then
      local cur max; cur=$(readf "$dir/pids.current"); max=$(keyed "$dir/pids.events" max)
      if [ "${cur:-99}" -le 16 ] && [ "${max:-0}" -ge 1 ] && grep -qiE "fork|resource temporarily" "$T/$id.log"; then
        record "$r" "pids limit stops a fork loop" ok "pids.current $cur, pids.events max $max"
      else
        record "$r" "pids limit stops a fork loop" FAIL "pids.current '$cur', pids.events max '$max', log: $(head -n 2 "$T/$id.log" | tr '\n' ' ')"
      fi
    else
      record "$r" "pids limit stops a fork loop" FAIL "loop did not finish: $(tail -n 2 "$T/$id.log" | tr '\n' ' ')"
    fi
    finish "$r" "$id" "$dir"
  fi

  # --- devices (eBPF filter): the guest's /dev/ttyS0 (c 4:64, the serial
  # console, CLOCAL so opens never block; in no runtime's default allow
  # list) bind-mounted in; one container may write to it, the other has no
  # rule for it.
  # (`true`, not `:`: a failed redirection of a special builtin ends sh.)
  local script='if echo v2test > /dev/hostserial; then echo WRITE-OK; else echo WRITE-DENIED; fi; if true < /dev/hostserial; then echo READ-OK; else echo READ-DENIED; fi; if echo x > /dev/null && true < /dev/zero; then echo NULL-OK; fi'
  local mount='[{"destination":"/dev/hostserial","type":"bind","source":"/dev/ttyS0","options":["bind"]}]'
  id=dev-allow-$r
  bundle "$id" "/husk-v2/$id" "[\"sh\",\"-c\",\"$script\"]" \
    '{"devices":[{"allow":true,"type":"c","major":4,"minor":64,"access":"w"}]}' "$mount"
  rt "$r" run --bundle "$T/$id" "$id" </dev/null >"$T/$id.log" 2>&1
  if has "$T/$id.log" WRITE-OK; then record "$r" "device allowed (c 4:64 w) opens for writing" ok
  else record "$r" "device allowed (c 4:64 w) opens for writing" FAIL "$(tr '\n' ' ' < "$T/$id.log" | head -c 300)"; fi
  if has "$T/$id.log" READ-DENIED; then record "$r" "access mode not in the rule (r) is denied" ok
  else record "$r" "access mode not in the rule (r) is denied" FAIL "$(tr '\n' ' ' < "$T/$id.log" | head -c 300)"; fi
  if has "$T/$id.log" NULL-OK; then record "$r" "default devices (/dev/null, /dev/zero) open" ok
  else record "$r" "default devices (/dev/null, /dev/zero) open" FAIL "$(tr '\n' ' ' < "$T/$id.log" | head -c 300)"; fi
  rt "$r" delete -f "$id" >/dev/null 2>&1
  id=dev-deny-$r
  bundle "$id" "/husk-v2/$id" "[\"sh\",\"-c\",\"$script\"]" '{}' "$mount"
  rt "$r" run --bundle "$T/$id" "$id" </dev/null >"$T/$id.log" 2>&1
  if has "$T/$id.log" WRITE-DENIED && has "$T/$id.log" READ-DENIED && has "$T/$id.log" NULL-OK; then
    record "$r" "device without a rule cannot be opened" ok
  else record "$r" "device without a rule cannot be opened" FAIL "$(tr '\n' ' ' < "$T/$id.log" | head -c 300)"; fi
  rt "$r" delete -f "$id" >/dev/null 2>&1
  if gone "$CG/husk-v2/$id"; then record "$r" "run leaves no cgroup dir" ok
  else record "$r" "run leaves no cgroup dir" FAIL "$CG/husk-v2/$id still exists"; fi
}

for r in "${RUNTIMES[@]}"; do
  echo "=== $r"
  t0=$SECONDS
  suite "$r"
  echo "=== $r: $((SECONDS - t0)) s"
done

# ------------------------------------------------------------------ table
echo
echo "=== cgroup v2, cgroupfs driver (husk decides; runc/crun for comparison)"
printf '%-46s' check; for r in "${RUNTIMES[@]}"; do printf ' | %-8s' "$r"; done; echo
printf '%-46s' "----"; for r in "${RUNTIMES[@]}"; do printf ' | %-8s' "----"; done; echo
for c in "${CHECKS[@]}"; do
  printf '%-46s' "$c"
  for r in "${RUNTIMES[@]}"; do printf ' | %-8s' "${RES["$c|$r"]:--}"; done
  echo
done
for r in "${RUNTIMES[@]}"; do
  [ "$r" = husk ] && continue
  for c in "${CHECKS[@]}"; do
    [ "${RES["$c|$r"]:-}" = FAIL ] && echo "  $r: $c: ${DETAIL["$c|$r"]}"
  done
done
echo
echo "$pass passed, $fail failed"
[ $fail = 0 ]
