#!/bin/bash
# Rootless containers in a cgroup-v2 guest with systemd as PID 1. Runs INSIDE the VM:
#   VM_INIT=systemd conformance/vm/run-in-vm.sh conformance/vm/rootless-tests.sh .
# (test-rootless.sh does that), from the repository root, after building husk.
#
# A user is made in the guest (its /etc is a tmpfs overlay: nothing reaches the
# host), given a running systemd user manager (loginctl enable-linger), and runs,
# through `systemd-run --user` so that it and its children live in a cgroup it owns:
# 1. each runtime with --systemd-cgroup (crun: --cgroup-manager=systemd) and memory
#    and pids limits: the scope under user@UID.service, the limits seen inside,
#    exec, kill, delete;
# 2. rootless podman with each runtime (vfs storage, a busybox image built here
#    and loaded with `podman load`, --network none): run, exec, stop, rm.
# Only husk's results count; runc's and crun's are shown for comparison
# (RL_RUNTIMES, default "husk runc crun"). Few processes: the guest is slow.
set -u
# All of it is parsed before it runs (a { } block): editing this file while a guest
# runs it cannot break that run.
{
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD

[ "$(cat /proc/1/comm)" = systemd ] || { echo "PID 1 is not systemd: run with VM_INIT=systemd"; exit 2; }
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || { echo "not on cgroup v2"; exit 2; }
if [ -z "${HUSK:-}" ]; then
  for b in target/release/husk target/debug/husk; do
    [ -x "$b" ] || continue
    if [ -z "${HUSK:-}" ] || [ "$b" -nt "$HUSK" ]; then HUSK=$b; fi
  done
  [ -n "${HUSK:-}" ] || { echo "no husk binary: run cargo build first"; exit 2; }
  HUSK=$REPO/$HUSK
fi
# Root-owned and not writable by the user (as an installed binary is).
install -m 0755 "$HUSK" /usr/local/bin/husk-under-test || exit 2
echo "husk: $HUSK"
HUSK=/usr/local/bin/husk-under-test
RUNTIMES=${RL_RUNTIMES:-"husk runc crun"}

declare -A RES
ROWS=()
pass=0 fail=0
check() { # rt name got want
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

# The user and its manager.
U=husk-rl-$$
useradd -m "$U" || exit 2
grep -q "^$U:" /etc/subuid || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$U"
UID_=$(id -u "$U")
loginctl enable-linger "$U" || exit 2
for i in $(seq 150); do
  [ "$(systemctl is-active "user@$UID_.service")" = active ] && [ -S "/run/user/$UID_/bus" ] && break
  sleep 0.2
done
check husk "user manager running" "$(systemctl is-active "user@$UID_.service")" active
W=/tmp/rl-work
mkdir -p $W && chown "$U:" $W
# As the user, inside a transient unit of the user's manager (a cgroup the user owns).
as_user() {
  setpriv --reuid="$U" --regid="$U" --init-groups env -i HOME="/home/$U" \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin XDG_RUNTIME_DIR="/run/user/$UID_" \
    DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$UID_/bus" \
    systemd-run --user --quiet --wait --pipe --collect -p Delegate=yes \
    --working-directory=$W "$@"
}
rtc() { # rt args... (as the user)
  local rt=$1
  shift
  case $rt in
    husk) as_user "$HUSK" --systemd-cgroup "$@" ;;
    runc) as_user runc --systemd-cgroup "$@" ;;
    crun) as_user crun --cgroup-manager=systemd "$@" ;;
  esac
}

# A busybox bundle the user owns, its config from `<rt> spec --rootless` (crun:
# runc's), with memory and pids limits.
bundle() { # rt dir
  local b=$2
  rm -rf "$b" && mkdir -p "$b/rootfs/bin"
  cp /bin/busybox "$b/rootfs/bin/"
  for a in sh sleep cat id grep; do ln -s busybox "$b/rootfs/bin/$a"; done
  chown -R "$U:" "$b"
  local spec=$1
  [ "$spec" = crun ] && spec=runc
  if [ "$spec" = husk ]; then as_user "$HUSK" spec --rootless --bundle "$b"; else as_user sh -c "cd $b && runc spec --rootless"; fi
  python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c['process']['terminal'] = False
c['process']['args'] = ['sh', '-c', 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; sleep 1000']
c['linux'].setdefault('resources', {})
c['linux']['resources']['memory'] = {'limit': 64 << 20}
c['linux']['resources']['pids'] = {'limit': 32}
if not any(n['type'] == 'cgroup' for n in c['linux']['namespaces']):
    c['linux']['namespaces'].append({'type': 'cgroup'})
json.dump(c, open(p, 'w'), indent=1)
PY
  chown "$U:" "$b/config.json"
}

T0=$(date +%s)
for rt in $RUNTIMES; do
  echo "=== $rt --systemd-cgroup as $U"
  b=$W/b-$rt id=rl-$rt
  bundle $rt "$b"
  rtc $rt run -d --bundle "$b" $id >$W/$rt.log 2>&1 </dev/null
  r=$?; [ $r = 0 ] || sed 's/^/    | /' $W/$rt.log
  check $rt "run -d with limits" $r 0
  pid=$(rtc $rt state $id 2>/dev/null | tr -d ' \n' | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
  cg=$(cut -d: -f3 "/proc/${pid:-0}/cgroup" 2>/dev/null)
  # runc and husk use user.slice by default, crun app.slice (and a sub-cgroup).
  case $cg in "/user.slice/user-$UID_.slice/user@$UID_.service/"*.slice/*.scope*) where=user-scope ;; *) where="$cg" ;; esac
  check $rt "scope under user@UID.service" "$where" user-scope
  inside=$(rtc $rt exec $id cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>&1 | tr '\n' ' ')
  check $rt "limits seen inside (exec)" "$inside" "67108864 32 "
  check $rt "exec id -u" "$(rtc $rt exec $id id -u 2>&1)" 0
  rtc $rt pause $id >/dev/null 2>&1
  check $rt "pause (delegated freezer)" "$(cat "/sys/fs/cgroup$cg/cgroup.freeze" 2>/dev/null)" 1
  rtc $rt resume $id >/dev/null 2>&1
  check $rt "resume" "$(cat "/sys/fs/cgroup$cg/cgroup.freeze" 2>/dev/null)" 0
  rtc $rt kill $id KILL >/dev/null 2>&1
  for i in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  rtc $rt delete -f $id >/dev/null 2>&1
  check $rt "delete: state gone" "$(rtc $rt state $id >/dev/null 2>&1 && echo present || echo gone)" gone
  check $rt "delete: scope gone" "$([ -n "$cg" ] && [ -d "/sys/fs/cgroup$cg" ] && echo present || echo gone)" gone
done

# Rootless podman with each runtime (podman's default here: the systemd cgroup
# manager, so the runtime gets --systemd-cgroup as root of podman's user namespace).
# A docker-archive of busybox, built here and loaded with `podman load`.
if command -v podman >/dev/null; then
  python3 "$REPO/conformance/vm/busybox-archive.py" $W/busybox.tar
  chown "$U:" $W/busybox.tar
  for rt in $RUNTIMES; do
    echo "=== podman --runtime $rt as $U"
    case $rt in husk) path=$HUSK ;; *) path=$(command -v $rt) ;; esac
    pm() { as_user podman --runtime "$path" --storage-driver vfs --events-backend file "$@"; }
    pm load -i $W/busybox.tar >$W/pm.log 2>&1; r=$?
    [ $r = 0 ] || sed 's/^/    | /' $W/pm.log
    check $rt "podman load" $r 0
    check $rt "podman run --rm id -u" "$(pm run --rm --network none localhost/busybox:rl id -u 2>&1)" 0
    pm run -d --name rl-$rt --network none localhost/busybox:rl sleep 1000 >$W/pm.log 2>&1
    echo "    podman run -d exit status $? (through systemd-run --wait)"
    check $rt "podman run -d: running" "$(pm inspect -f '{{.State.Running}}' rl-$rt 2>&1)" true
    check $rt "podman exec" "$(pm exec rl-$rt echo hi 2>&1)" hi
    pm stop -t 1 rl-$rt >$W/pm.log 2>&1; r=$?
    [ $r = 0 ] || sed 's/^/    | /' $W/pm.log
    check $rt "podman stop" $r 0
    pm rm rl-$rt >$W/pm.log 2>&1; r=$?
    [ $r = 0 ] || sed 's/^/    | /' $W/pm.log
    check $rt "podman rm" $r 0
    check $rt "podman: no container left" "$(pm ps -aq 2>/dev/null | wc -l)" 0
  done
else
  check husk "podman installed" no yes
fi
echo "took $(( $(date +%s) - T0 )) s"

echo
printf '| %-42s | %-4s | %-4s | %-4s |\n' check husk runc crun
printf '|%s|------|------|------|\n' "--------------------------------------------"
for row in "${ROWS[@]}"; do
  printf '| %-42s | %-4s | %-4s | %-4s |\n' "$row" "${RES[husk,$row]:--}" "${RES[runc,$row]:--}" "${RES[crun,$row]:--}"
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
exit
}
