#!/bin/bash
# rootless-host.sh [HUSK]: rootless husk, runc and crun side by side on this host
# (cgroup v1/hybrid, no delegation), as one throwaway unprivileged user (removed at
# exit, even on failure), run through `setpriv --reuid --regid --init-groups env -i`.
# Only husk's results count; runc's and crun's are shown for comparison. crun refuses
# a hybrid host, so it runs in a private mount namespace without the cgroup2 mount.
# Prints a markdown table and "N passed, M failed". Run as root.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
HUSK=${1:-${HUSK:-$HERE/../target/debug/husk}}
case $HUSK in /*) ;; *) HUSK=$PWD/$HUSK ;; esac
RUNTIMES=${RL_RUNTIMES:-"husk runc crun"}
[ "$(id -u)" = 0 ] || { echo "rootless-host: run as root (it makes a user)"; exit 2; }
for t in useradd setpriv newuidmap busybox; do
  command -v $t >/dev/null || { echo "rootless-host: $t missing"; exit 2; }
done

U=husk-rl-$$-$RANDOM
W=$(mktemp -d /tmp/husk-rl-host.XXXXXX)
cleanup() {
  # The user's processes only (by pid), then the user, its ranges and files.
  for p in $(ps -o pid= -u "$U" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  userdel -r "$U" >/dev/null 2>&1
  sed -i "/^$U:/d" /etc/subuid /etc/subgid
  rm -rf "$W"
}
trap cleanup EXIT
useradd -m "$U" || exit 2
grep -q "^$U:" /etc/subuid || usermod --add-subuids 3000000000-3000065535 --add-subgids 3000000000-3000065535 "$U"
UID_=$(id -u "$U") GID_=$(id -g "$U")
SUB=$(sed -n "s/^$U:\([0-9]*\):.*/\1/p" /etc/subuid | head -1)
chmod 755 "$W"
mkdir -p "$W/xdg" && chown "$U:" "$W/xdg" && chmod 700 "$W/xdg"
install -m 0755 "$HUSK" "$W/husk"

declare -A RES
ROWS=()
pass=0 fail=0
check() { # rt name got want
  local rt=$1 name=$2 got=$3 want=$4
  [[ " ${ROWS[*]} " == *" $name "* ]] || ROWS+=("$name")
  if [ "$got" = "$want" ]; then
    RES[$rt,$name]=ok; echo "ok   - [$rt] $name"
    [ "$rt" = husk ] && pass=$((pass + 1))
  else
    RES[$rt,$name]=FAIL; echo "FAIL - [$rt] $name: got '$got' want '$want'"
    [ "$rt" = husk ] && fail=$((fail + 1))
  fi
  return 0
}
as_user() {
  setpriv --reuid="$U" --regid="$U" --init-groups env -i HOME="/home/$U" \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin XDG_RUNTIME_DIR="$W/xdg" "$@"
}
rtc() { # rt args... (as the user, stdio its own files)
  local rt=$1
  shift
  case $rt in
    husk) as_user "$W/husk" "$@" ;;
    runc) as_user runc "$@" ;;
    crun) unshare -m sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh \
            setpriv --reuid="$U" --regid="$U" --init-groups env -i HOME="/home/$U" \
            PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin XDG_RUNTIME_DIR="$W/xdg" crun "$@" ;;
  esac
}
bundle() { # dir maps(single|multi) args-json [limit]
  local b=$1
  rm -rf "$b" && mkdir -p "$b/rootfs/bin"
  cp /bin/busybox "$b/rootfs/bin/"
  for a in sh sleep cat id grep true echo; do ln -s busybox "$b/rootfs/bin/$a"; done
  chown -R "$U:" "$b"
  as_user sh -c "cd $b && runc spec --rootless"
  python3 - "$b/config.json" "$2" "$3" "${4:-}" "$UID_" "$GID_" "$SUB" <<'PY'
import json, sys
p, maps, args, limit, uid, gid, sub = sys.argv[1:]
c = json.load(open(p))
c['process']['terminal'] = False
c['process']['args'] = json.loads(args)
if maps == 'multi':
    c['linux']['uidMappings'] = [{'containerID': 0, 'hostID': int(uid), 'size': 1}, {'containerID': 1, 'hostID': int(sub), 'size': 65536}]
    c['linux']['gidMappings'] = [{'containerID': 0, 'hostID': int(gid), 'size': 1}, {'containerID': 1, 'hostID': int(sub), 'size': 65536}]
if limit:
    c['linux']['resources'] = {'memory': {'limit': int(limit)}}
c['mounts'] = [m for m in c['mounts'] if m['type'] != 'cgroup']
json.dump(c, open(p, 'w'), indent=1)
PY
  chown -R "$U:" "$b"
}
out() { tr -s ' \n' '  ' <"$W/out" | sed 's/^ //; s/ $//'; }

T0=$(date +%s)
for rt in $RUNTIMES; do
  echo "=== $rt as $U"
  b=$W/b-$rt
  bundle "$b" single '["sh","-c","cat /proc/self/uid_map; id -u"]'
  (cd "$b" && rtc $rt run ${rt}1 </dev/null >"$W/out" 2>&1)
  check $rt "single mapping: run, uid_map, id" "$(out)" "0 $UID_ 1 0"
  bundle "$b" multi '["sh","-c","cat /proc/self/uid_map"]'
  (cd "$b" && rtc $rt run ${rt}2 </dev/null >"$W/out" 2>&1)
  check $rt "several ranges (newuidmap)" "$(out)" "0 $UID_ 1 1 $SUB 65536"
  bundle "$b" multi '["sleep","1000"]'
  (cd "$b" && rtc $rt run -d ${rt}3 </dev/null >"$W/out" 2>&1)
  check $rt "run -d" "$(out)" ""
  rtc $rt exec --user 1000:1000 ${rt}3 id -u </dev/null >"$W/out" 2>&1
  check $rt "exec as a subordinate uid" "$(out)" 1000
  rtc $rt kill ${rt}3 KILL </dev/null >"$W/out" 2>&1
  check $rt "kill" "$(out)" ""
  sleep 0.3
  rtc $rt delete ${rt}3 </dev/null >"$W/out" 2>&1
  check $rt "delete" "$(out)" ""
  bundle "$b" single '["true"]' 67108864
  (cd "$b" && rtc $rt run ${rt}4 </dev/null >"$W/out" 2>&1); r=$?
  check $rt "memory limit without delegation: refused" "$([ $r != 0 ] && echo refused || echo ran)" refused
  rtc $rt delete -f ${rt}4 >/dev/null 2>&1
  bundle "$b" single '["sh","-c","grep -c \" /sys/fs/cgroup[^ ]* rw,\" /proc/self/mountinfo"]'
  (cd "$b" && rtc $rt run ${rt}5 </dev/null >"$W/out" 2>&1)
  check $rt "/sys rbind: no writable cgroupfs submount" "$(out)" 0
  left=$(ls "$W/xdg/$rt" 2>/dev/null | wc -l)
  check $rt "nothing left (state, processes)" "$left $(ps -o pid= -u "$U" | wc -l)" "0 0"
done
# Rootless podman (cgroupfs manager, vfs storage, no network) with each runtime:
# a busybox docker-archive built here, `podman load`ed by the user.
if command -v podman >/dev/null; then
  python3 "$HERE/vm/busybox-archive.py" "$W/busybox.tar" && chown "$U:" "$W/busybox.tar"
  for rt in $RUNTIMES; do
    echo "=== podman --runtime $rt as $U"
    case $rt in husk) path=$W/husk ;; *) path=$(command -v $rt) ;; esac
    pm() { as_user podman --runtime "$path" --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"; }
    pm load -i "$W/busybox.tar" >/dev/null 2>&1
    pm run --rm --network none localhost/busybox:rl id -u </dev/null >"$W/out" 2>&1
    check $rt "podman run --rm" "$(out)" 0
    pm run -d --name "rl-$rt" --network none localhost/busybox:rl sleep 1000 </dev/null >"$W/out" 2>&1
    check $rt "podman run -d" "$?" 0
    pm exec "rl-$rt" echo hi </dev/null >"$W/out" 2>&1
    check $rt "podman exec" "$(out)" hi
    pm stop -t 1 "rl-$rt" </dev/null >/dev/null 2>&1
    check $rt "podman stop" "$?" 0
    pm rm -f "rl-$rt" </dev/null >/dev/null 2>&1
    check $rt "podman rm, nothing left" "$?:$(pm ps -aq 2>/dev/null | wc -l)" 0:0
  done
  as_user podman system reset -f >/dev/null 2>&1
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
