#!/bin/bash
# The systemd cgroup driver, in a cgroup-v2 guest with systemd as PID 1.
# Runs INSIDE the VM:
#   VM_INIT=systemd conformance/vm/run-in-vm.sh conformance/vm/systemd-tests.sh .
# from the repository root, after building husk on the host (cargo build; the
# newer of target/{debug,release}/husk is used, or $HUSK).
#
# husk --systemd-cgroup is checked, and the same checks run for
# runc --systemd-cgroup and crun --cgroup-manager=systemd side by side: only
# husk's results count; runc's and crun's are shown for comparison.
# Needs the Debian packages runc, crun, busybox-static on the host.
set -u
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD

[ "$(cat /proc/1/comm)" = systemd ] || { echo "PID 1 is not systemd: run with VM_INIT=systemd"; exit 2; }
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || { echo "not on cgroup v2"; exit 2; }
if [ -z "${HUSK:-}" ]; then
  HUSK=
  for b in target/release/husk target/debug/husk; do
    [ -x "$b" ] || continue
    if [ -z "$HUSK" ] || [ "$b" -nt "$HUSK" ]; then HUSK=$b; fi
  done
  [ -n "$HUSK" ] || { echo "no husk binary: run cargo build first"; exit 2; }
  HUSK=$REPO/$HUSK
fi
# A build on the host can replace the binary while this runs: use a copy.
cp "$HUSK" /run/husk-under-test || exit 2
echo "husk: $HUSK"
HUSK=/run/husk-under-test
echo "systemd $(systemctl --version | head -1 | cut -d' ' -f2), runc $(runc --version | head -1 | cut -d' ' -f3), crun $(crun --version | head -1 | cut -d' ' -f3)"

RUNTIMES=${SD_RUNTIMES:-"husk runc crun"}
declare -A RES
ROWS=()
pass=0 fail=0
# rt: runtime; name: check; got; want
check() {
  local rt=$1 name=$2 got=$3 want=$4
  [[ " ${ROWS[*]} " == *" $name "* ]] || ROWS+=("$name")
  if [ "$got" = "$want" ]; then
    RES[$rt,$name]=ok
    echo "ok   - [$rt] $name ($got)"
    [ "$rt" = husk ] && pass=$((pass + 1))
  else
    RES[$rt,$name]=FAIL
    echo "FAIL - [$rt] $name: got '$got' want '$want'"
    [ "$rt" = husk ] && fail=$((fail + 1))
  fi
  return 0
}
# The runtime command line with its systemd option and a private state root.
rtc() {
  local rt=$1
  shift
  case $rt in
    husk) "$HUSK" --root /run/sdt-husk --systemd-cgroup "$@" ;;
    runc) runc --root /run/sdt-runc --systemd-cgroup "$@" ;;
    crun) crun --root /run/sdt-crun --cgroup-manager=systemd "$@" ;;
  esac
}
json_field() { tr -d ' \n' | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
status_of() { rtc "$1" state "$2" 2>/dev/null | json_field status; }
pid_of() { rtc "$1" state "$2" 2>/dev/null | json_field pid; }
# Wait (10 s at most) until the container's status is $3.
wait_status() {
  local i s
  for i in $(seq 100); do
    s=$(status_of "$1" "$2")
    [ "$s" = "$3" ] && break
    sleep 0.1
  done
  echo "${s:-gone}"
}
# systemd's view of a unit: active/inactive/... and not-found once unloaded.
unit_state() {
  local load
  load=$(systemctl show -p LoadState --value "$1" 2>/dev/null)
  if [ "$load" = not-found ]; then echo gone; else systemctl is-active "$1" 2>/dev/null; fi
}
# Wait (10 s at most) for a unit to disappear.
wait_unit_gone() {
  local i s
  for i in $(seq 100); do
    s=$(unit_state "$1")
    [ "$s" = gone ] && break
    sleep 0.1
  done
  echo "$s"
}
bundle() { # dir cgroupsPath
  local b=$1
  rm -rf "$b"
  mkdir -p "$b/rootfs/bin"
  cp /bin/busybox "$b/rootfs/bin/"
  for a in sh sleep cat; do ln -s busybox "$b/rootfs/bin/$a"; done
  (cd "$b" && runc spec)
  python3 - "$b/config.json" "$2" <<'PY'
import json, sys
p, cg = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c['process']['terminal'] = False
c['process']['args'] = ['sleep', '1000']
c['linux']['resources']['memory'] = {'limit': 64 << 20}
c['linux']['resources']['pids'] = {'limit': 32}
if cg:
    c['linux']['cgroupsPath'] = cg
else:
    c['linux'].pop('cgroupsPath', None)
if not any(n['type'] == 'cgroup' for n in c['linux']['namespaces']):
    c['linux']['namespaces'].append({'type': 'cgroup'})
json.dump(c, open(p, 'w'), indent=1)
PY
}
# Run a runtime command; show its output when it fails.
try() { # rt args...
  rtc "$@" </dev/null >/tmp/try.log 2>&1
  local r=$?
  [ $r = 0 ] || sed 's/^/    | /' /tmp/try.log
  return $r
}
run_d() { # rt id bundle -> rc, log in /tmp/$rt-$id.log
  (cd "$3" && rtc "$1" run -d "$2" </dev/null >"/tmp/$1-$2.log" 2>&1)
  local r=$?
  [ $r = 0 ] || sed 's/^/    | /' "/tmp/$1-$2.log"
  return $r
}

T0=$(date +%s)
for rt in $RUNTIMES; do
  echo "=== $rt"
  # 1. A nested slice: husktest-<rt>.slice is /husktest.slice/husktest-<rt>.slice.
  slice=husktest-$rt.slice unit=sdt-$rt-c1.scope
  bundle /tmp/b-$rt "$slice:sdt-$rt:c1"
  scope=/sys/fs/cgroup/husktest.slice/$slice/$unit
  cg=$scope
  [ $rt = crun ] && cg=$scope/container   # crun's payload sits in a sub-cgroup
  run_d $rt c1 /tmp/b-$rt; check $rt "run -d" $? 0
  pid=$(pid_of $rt c1)
  check $rt "scope active" "$(unit_state $unit)" active
  check $rt "scope in its slice" "$(systemctl show -p Slice --value $unit)" "$slice"
  check $rt "Delegate=yes" "$(systemctl show -p Delegate --value $unit)" yes
  check $rt "MemoryMax property" "$(systemctl show -p MemoryMax --value $unit)" 67108864
  check $rt "TasksMax property" "$(systemctl show -p TasksMax --value $unit)" 32
  check $rt "memory.max file" "$(cat $cg/memory.max 2>&1)" 67108864
  check $rt "pids.max file" "$(cat $cg/pids.max 2>&1)" 32
  check $rt "init in the scope (/proc/pid/cgroup)" "$(cat /proc/$pid/cgroup 2>&1)" "0::${cg#/sys/fs/cgroup}"
  rtc $rt ps c1 >/tmp/ps.out 2>&1
  check $rt "ps lists the init" "$(grep -cw "$pid" /tmp/ps.out)" 1
  try $rt pause c1; check $rt "pause" $? 0
  check $rt "paused status" "$(status_of $rt c1)" paused
  check $rt "cgroup frozen" "$(grep frozen $cg/cgroup.events 2>&1)" "frozen 1"
  try $rt resume c1; check $rt "resume" $? 0
  check $rt "running after resume" "$(status_of $rt c1)" running
  check $rt "cgroup thawed" "$(grep frozen $cg/cgroup.events 2>&1)" "frozen 0"
  rtc $rt update --memory 134217728 --pids-limit 40 c1 >/tmp/upd.out 2>&1
  r=$?; [ $r = 0 ] || sed 's/^/    | /' /tmp/upd.out; check $rt "update" $r 0
  check $rt "update: MemoryMax property" "$(systemctl show -p MemoryMax --value $unit)" 134217728
  check $rt "update: memory.max file" "$(cat $cg/memory.max 2>&1)" 134217728
  check $rt "update: TasksMax property" "$(systemctl show -p TasksMax --value $unit)" 40
  if [ $rt != crun ]; then   # crun has no `events`
    check $rt "events --stats counts the pids" \
      "$(rtc $rt events --stats c1 2>&1 | tr -d ' \n' | grep -o '"pids":{"current":[0-9]*')" '"pids":{"current":1'
  fi
  try $rt delete -f c1; check $rt "delete -f (running)" $? 0
  check $rt "scope gone after delete" "$(wait_unit_gone $unit)" gone
  check $rt "scope cgroup removed" "$([ -d $scope ] && echo exists || echo removed)" removed
  check $rt "state removed" "$(status_of $rt c1)" ""

  # 2. kill --all ends every process; systemd collects the empty scope; delete.
  unit=sdt-$rt-c2.scope
  bundle /tmp/b2-$rt "system.slice:sdt-$rt:c2"
  run_d $rt c2 /tmp/b2-$rt; check $rt "run -d (2nd)" $? 0
  try $rt kill --all c2 KILL; check $rt "kill --all" $? 0
  check $rt "stopped after kill --all" "$(wait_status $rt c2 stopped)" stopped
  try $rt delete c2; check $rt "delete (stopped)" $? 0
  check $rt "scope gone after kill+delete" "$(wait_unit_gone $unit)" gone
  check $rt "scope cgroup removed (2nd)" \
    "$([ -d /sys/fs/cgroup/system.slice/$unit ] && echo exists || echo removed)" removed
done

echo "=== husk only"
# 3. No cgroupsPath: system.slice:husk:<id>.
bundle /tmp/b3 ""
run_d husk c3 /tmp/b3; check husk "default path: run -d" $? 0
check husk "default path: husk-c3.scope active" "$(unit_state husk-c3.scope)" active
check husk "default path: in system.slice" "$(cat /proc/$(pid_of husk c3)/cgroup)" "0::/system.slice/husk-c3.scope"
check husk "state.json names the unit" \
  "$(grep -o '"unit":"husk-c3.scope"' /run/sdt-husk/c3/state.json)" '"unit":"husk-c3.scope"'
rtc husk delete -f c3
check husk "default path: gone after delete" "$(wait_unit_gone husk-c3.scope)" gone

# 4. A unit that exists already: refused, and the other container's scope lives on.
bundle /tmp/b4 "system.slice:sdt-dup:x"
run_d husk c4 /tmp/b4; check husk "dup: first run -d" $? 0
(cd /tmp/b4 && rtc husk run -d c5 </dev/null >/tmp/c5.log 2>&1); r=$?
check husk "dup: second run -d fails" "$([ $r != 0 ] && echo failed)" failed
check husk "dup: error says the unit exists" "$(grep -c 'already exists' /tmp/c5.log)" 1
check husk "dup: nothing left of the 2nd" "$(ls /run/sdt-husk | grep -c '^c5$')" 0
check husk "dup: first scope still active" "$(unit_state sdt-dup-x.scope)" active
check husk "dup: first init still running" "$(status_of husk c4)" running
rtc husk delete -f c4
check husk "dup: gone after delete" "$(wait_unit_gone sdt-dup-x.scope)" gone

# 5. A cgroupfs path with the systemd driver: a clear error, nothing made.
bundle /tmp/b5 "/not/a/slice"
(cd /tmp/b5 && rtc husk run -d c6 </dev/null >/tmp/c6.log 2>&1); r=$?
check husk "bad path: refused" "$([ $r != 0 ] && echo failed)" failed
check husk "bad path: error names the format" "$(grep -c 'slice:prefix:name' /tmp/c6.log)" 1
check husk "bad path: no state left" "$(ls /run/sdt-husk | grep -c '^c6$')" 0

# 5b. A multi-threaded embedder (the library's tokio example: 4 worker threads)
#     with the systemd driver: its D-Bus calls go through husk's exec'd helper
#     (never a fork of the threaded process). 20 containers, 4 at once.
TOKIO=$REPO/target/debug/examples/tokio_many
if [ -x "$TOKIO" ]; then
  bundle /tmp/b8 ""
  python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["process"]["args"]=["sleep","0"]; json.dump(c,open(p,"w"))' /tmp/b8/config.json
  cp "$TOKIO" /run/tokio-many-under-test
  out=$(/run/tokio-many-under-test /tmp/b8 20 4 systemd 2>&1); r=$?
  echo "$out" | sed 's/^/    | /'
  check husk "threaded embedder, systemd: 20 created+deleted" "$r $(echo "$out" | grep -c ' 0 failed')" "0 1"
  check husk "threaded embedder, systemd: no scope left" \
    "$(systemctl list-units --all --no-legend 'husk-tokio-many-*' | wc -l)" 0
else
  check husk "threaded embedder, systemd: example built" "no $TOKIO" built
fi

# 6. Without the bus daemon: husk needs it and says so, leaving nothing. runc
#    falls back to systemd's private socket, crun does not (informational).
systemctl stop dbus.socket dbus.service >/dev/null 2>&1
check husk "no bus daemon: dbus stopped" "$(systemctl is-active dbus.service)" inactive
bundle /tmp/b7 "system.slice:sdt-husk:c7"
(cd /tmp/b7 && rtc husk run -d c7 </dev/null >/tmp/c7.log 2>&1); r=$?
sed 's/^/    | /' /tmp/c7.log
check husk "no bus daemon: refused" "$([ $r != 0 ] && echo failed)" failed
check husk "no bus daemon: error names the bus" "$(grep -c 'no D-Bus system bus' /tmp/c7.log)" 1
check husk "no bus daemon: no state left" "$(ls /run/sdt-husk | grep -c '^c7$')" 0
check husk "no bus daemon: no scope left" "$(unit_state sdt-husk-c7.scope)" gone
for rt in runc crun; do
  bundle /tmp/b7-$rt "system.slice:sdt-$rt:c7"
  run_d $rt c7 /tmp/b7-$rt; check $rt "no bus daemon: run -d (private socket)" $? 0
  rtc $rt delete -f c7 >/dev/null 2>&1
done
echo "took $(( $(date +%s) - T0 )) s"

echo
printf '| %-42s | %-4s | %-4s | %-4s |\n' check husk runc crun
printf '|%s|------|------|------|\n' "--------------------------------------------"
for row in "${ROWS[@]}"; do
  printf '| %-42s | %-4s | %-4s | %-4s |\n' "$row" "${RES[husk,$row]:--}" "${RES[runc,$row]:--}" "${RES[crun,$row]:--}"
done
for rt in runc crun; do
  ok=0 all=0
  for row in "${ROWS[@]}"; do
    v=${RES[$rt,$row]:-}
    [ -n "$v" ] || continue
    all=$((all + 1)); [ "$v" = ok ] && ok=$((ok + 1))
  done
  echo "$rt (informational): $ok of $all ok"
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
