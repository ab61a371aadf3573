#!/bin/bash
# lsm-tests.sh MODE [HUSK]: the LSM test set, MODE apparmor or selinux. Runs
# INSIDE the guest that conformance/vm/test-lsm.sh boots with the LSM on
# (apparmor: "apparmor=1 security=apparmor"; selinux: "security=selinux
# selinux=1", the policy loaded and permissive). The host's / is the guest's
# (read-only + tmpfs overlay), so the host's apparmor / selinux packages are
# there. LSM_RUNTIMES picks the runtimes (default "husk runc"); only husk's
# results decide the exit status, runc's are shown side by side.
#
# AppArmor: a test profile (deny writes under /tmp) loaded with apparmor_parser;
# /proc/self/attr/current of the container names it in enforce mode; the write
# it denies fails in the container and works without it; exec inherits the
# container's profile, `exec --apparmor` and a --process file's apparmorProfile
# set the exec'd process's; an unloaded profile fails create naming it, leaving
# nothing; "unconfined" is accepted. LSM_CONTAINERD=1: containerd's default
# profile (as its CRI passes it) on a container and its execs through
# containerd-shim-husk-v2 (and containerd-shim-runc-v2 for runc); LSM_DOCKER=1:
# dockerd --add-runtime husk, docker-default on run and exec.
# SELinux: the process label in /proc/self/attr/current (init, exec inherits,
# exec --process-label, --process selinuxLabel); linux.mountLabel as context= on
# the tmpfs and devpts mounts and not on proc or sysfs, as an xattr on mqueue.
set -u

MODE=${1:?usage: lsm-tests.sh apparmor|selinux [HUSK]}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HUSK=${2:-${HUSK:-$REPO/target/debug/husk}}
T=/tmp/husk-lsm-tests
STATE=/run/husk-lsm-tests

# ------------------------------------------------------------------ results
declare -A RES
CHECKS=()
pass=0 fail=0
record() { # record RT CHECK STATUS DETAIL
  local rt=$1 check=$2 st=$3 detail=${4:-} c seen=0
  for c in "${CHECKS[@]}"; do [ "$c" = "$check" ] && seen=1; done
  [ $seen = 1 ] || CHECKS+=("$check")
  RES["$check|$rt"]=$st
  local tag=$rt; [ "$rt" = husk ] || tag="$rt (info)"
  if [ "$st" = ok ]; then echo "ok   - $tag: $check${detail:+ ($detail)}"; else echo "FAIL - $tag: $check${detail:+: $detail}"; fi
  if [ "$rt" = husk ]; then
    if [ "$st" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  fi
}
# check RT NAME GOT WANT
check() { if [ "$3" = "$4" ]; then record "$1" "$2" ok "$3"; else record "$1" "$2" FAIL "got '$3' want '$4'"; fi; }
# check_has RT NAME TEXT NEEDLE
check_has() {
  case $3 in *"$4"*) record "$1" "$2" ok ;; *) record "$1" "$2" FAIL "'$4' not in: $(echo "$3" | tail -n 2 | tr '\n' ' ')" ;; esac
}

# ------------------------------------------------------------------ setup
[ "$(id -u)" = 0 ] || { echo "lsm-tests: must run as root (inside the guest)"; exit 2; }
[ -x "$HUSK" ] || { echo "lsm-tests: no husk binary at $HUSK"; exit 2; }
command -v jq >/dev/null || { echo "lsm-tests: jq is needed to write config.json"; exit 2; }
# A build on the host can replace the binary while this runs: use a copy.
cp "$HUSK" /run/husk-lsm-under-test || exit 2
HUSK_SRC=$HUSK HUSK=/run/husk-lsm-under-test
RUNTIMES=()
for r in ${LSM_RUNTIMES:-husk runc}; do
  case $r in
    husk) RUNTIMES+=(husk) ;;
    runc) command -v runc >/dev/null && RUNTIMES+=(runc) || echo "lsm-tests: runc not installed, skipped" ;;
  esac
done
echo "kernel $(uname -r), LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null || echo '?'); husk: $HUSK_SRC; runtimes: ${RUNTIMES[*]}"
command -v runc >/dev/null && echo "runc: $(runc --version | head -1)"

rtc() { # rtc RT ARGS...: the runtime with its private state root
  local rt=$1; shift
  case $rt in
    husk) "$HUSK" --root "$STATE/husk" "$@" ;;
    runc) runc --root "$STATE/runc" "$@" ;;
  esac
}

rm -rf "$T" "$STATE"; mkdir -p "$T/rootfs" "$STATE"
for d in bin proc sys dev tmp etc; do mkdir -p "$T/rootfs/$d"; done
cp /bin/busybox "$T/rootfs/bin/busybox"
# One process for every applet link (a fork per link costs ~50 ms under TCG).
chroot "$T/rootfs" /bin/busybox --install -s /bin || exit 2
echo 'root:x:0:0:root:/:/bin/sh' > "$T/rootfs/etc/passwd"
(cd "$T" && "$HUSK" spec) || exit 2
jq --arg r "$T/rootfs" '.root = {path: $r, readonly: false} | .process.terminal = false' \
  "$T/config.json" > "$T/base.json" || exit 2

# mkb NAME JQ_FILTER [JQ ARGS...]: bundle $T/NAME from the base config
mkb() {
  local d=$T/$1 f=$2; shift 2
  mkdir -p "$d"
  jq "$@" "$f" "$T/base.json" > "$d/config.json" || echo "lsm-tests: jq failed: $f" >&2
}
# run RT BUNDLE: runs it in the foreground, stdout and stderr merged
run() { local id=lsm-$1-$RANDOM; rtc "$1" run --bundle "$2" "$id" </dev/null 2>&1; rtc "$1" delete -f "$id" >/dev/null 2>&1; }
# start RT BUNDLE: a detached container; prints its id
start() {
  local id=lsm-$1-$RANDOM
  rtc "$1" run -d --bundle "$2" "$id" </dev/null >/dev/null 2>"$T/start-$id.err" || { cat "$T/start-$id.err" >&2; }
  echo "$id"
}
attr() { tr -d '\0' | tr '\n' ' ' | sed 's/ $//'; }
# nothing_left RT ID: no state, no container in list, no cgroup named after it
nothing_left() {
  local rt=$1 id=$2
  if rtc "$rt" list -q 2>/dev/null | grep -qx "$id"; then echo "listed"; return; fi
  if [ -e "$STATE/$rt/$id" ]; then echo "state dir left"; return; fi
  if find /sys/fs/cgroup -maxdepth 3 -name "*$id*" 2>/dev/null | grep -q .; then echo "cgroup left"; return; fi
  echo none
}

# ------------------------------------------------------------------ AppArmor
apparmor_tests() {
  [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] || { echo "lsm-tests: AppArmor is not on (boot with apparmor=1 security=apparmor)"; exit 2; }
  mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security || exit 2
  local P=husk-lsm-test PX=husk-lsm-exec
  cat > "$T/profiles" <<EOF
profile $P flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
  deny /tmp/** w,
}
profile $PX flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  deny /tmp/** w,
}
EOF
  apparmor_parser -r -W "$T/profiles" || { echo "lsm-tests: apparmor_parser failed"; exit 2; }
  grep "^husk-lsm" /sys/kernel/security/apparmor/profiles
  local write='(echo x > /tmp/new-file) 2>/dev/null && echo allowed || echo denied'
  local missing=husk-lsm-not-loaded
  local confined=$T/confined plain=$T/plain sleeper=$T/sleeper confined_sleeper=$T/confined-sleeper
  local bad=$T/bad unconf=$T/unconf
  mkb confined '.process.apparmorProfile = $p | .process.args = ["sh","-c","cat /proc/self/attr/current; " + $w]' --arg p $P --arg w "$write"
  mkb plain '.process.args = ["sh","-c","cat /proc/self/attr/current; " + $w]' --arg w "$write"
  mkb sleeper '.process.args = ["sleep","1000"]'
  mkb confined-sleeper '.process.apparmorProfile = $p | .process.args = ["sleep","1000"]' --arg p $P
  mkb bad '.process.apparmorProfile = $p | .process.args = ["true"]' --arg p $missing
  mkb unconf '.process.apparmorProfile = "unconfined" | .process.args = ["cat","/proc/self/attr/current"]'
  jq -c '.process.apparmorProfile = $p | .process.args = ["cat","/proc/self/attr/current"]' --arg p $PX \
    "$T/base.json" | jq -c .process > "$T/process-exec.json"
  local rt out id st
  for rt in "${RUNTIMES[@]}"; do
    out=$(run $rt "$confined")
    check $rt "container runs confined (attr/current)" "$(echo "$out" | head -1)" "$P (enforce)"
    check $rt "a write the profile denies is denied" "$(echo "$out" | tail -1)" denied
    out=$(run $rt "$plain")
    check $rt "the same write without a profile is allowed" "$(echo "$out" | tail -1)" allowed
    check $rt "without a profile the container is unconfined" "$(echo "$out" | head -1)" unconfined
    id=$(start $rt "$sleeper")
    check $rt "exec --apparmor confines the exec'd process" \
      "$(rtc $rt exec --apparmor $PX "$id" cat /proc/self/attr/current 2>&1 | attr)" "$PX (enforce)"
    check $rt "exec --apparmor: the denied write is denied" \
      "$(rtc $rt exec --apparmor $PX "$id" sh -c "$write" 2>&1)" denied
    check $rt "exec --process with apparmorProfile" \
      "$(rtc $rt exec --process "$T/process-exec.json" "$id" 2>&1 | attr)" "$PX (enforce)"
    check $rt "exec without a profile in an unconfined container" \
      "$(rtc $rt exec "$id" cat /proc/self/attr/current 2>&1 | attr)" unconfined
    rtc $rt delete -f "$id" >/dev/null 2>&1
    id=$(start $rt "$confined_sleeper")
    check $rt "exec inherits the container's profile" \
      "$(rtc $rt exec "$id" cat /proc/self/attr/current 2>&1 | attr)" "$P (enforce)"
    st=$(rtc $rt state "$id" 2>/dev/null | jq -r .pid)
    check $rt "the init is confined (host view)" "$(attr < /proc/$st/attr/current 2>&1)" "$P (enforce)"
    rtc $rt delete -f "$id" >/dev/null 2>&1
    id=lsm-$rt-bad-$RANDOM
    out=$(rtc $rt create --bundle "$bad" "$id" </dev/null 2>&1); st=$?
    check $rt "an unloaded profile fails create" "$([ $st != 0 ] && echo failed || echo created)" failed
    check_has $rt "the error names the profile" "$out" "$missing"
    check $rt "nothing is left after the failed create" "$(nothing_left $rt "$id")" none
    rtc $rt delete -f "$id" >/dev/null 2>&1
    id=$(start $rt "$sleeper")
    out=$(rtc $rt exec --apparmor $missing "$id" true 2>&1); st=$?
    check $rt "exec with an unloaded profile fails" "$([ $st != 0 ] && echo failed || echo ran)" failed
    check_has $rt "the exec error names the profile" "$out" "$missing"
    rtc $rt delete -f "$id" >/dev/null 2>&1
    check $rt "apparmorProfile unconfined is accepted" "$(run $rt "$unconf" | attr)" unconfined
  done
  [ "${LSM_CONTAINERD:-0}" = 1 ] && containerd_apparmor_tests
  [ "${LSM_DOCKER:-0}" = 1 ] && docker_apparmor_tests
  check husk "features: apparmor.host annotation" \
    "$("$HUSK" features | jq -r '.annotations["io.github.husk.apparmor.host"]')" enabled
}

# containerd as its CRI drives exec: the container's spec carries containerd's
# default profile (ctr --apparmor-default-profile loads it as the CRI does) and
# every exec's process inherits it, through containerd-shim-husk-v2 (rows "husk")
# and containerd-shim-runc-v2 with runc (rows "runc").
containerd_apparmor_tests() {
  local shim; shim=$(dirname "$HUSK_SRC")/containerd-shim-husk-v2
  [ -x "$shim" ] && command -v containerd >/dev/null && command -v ctr >/dev/null \
    || { record husk "containerd: shim and containerd present" FAIL "$shim or containerd missing"; return; }
  local CD=/run/husk-lsm-containerd PROF=cri-containerd.apparmor.d
  mkdir -p "$CD/bin"
  cp "$shim" "$CD/bin/containerd-shim-husk-v2"
  cat > "$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CD/sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
EOF
  PATH=$CD/bin:$PATH containerd --config "$CD/config.toml" > "$CD/log" 2>&1 &
  local cpid=$! i
  for i in $(seq 300); do [ -S "$CD/sock" ] && ctr -a "$CD/sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  local c="ctr -a $CD/sock -n lsm" rt runtime id out pid
  for rt in "${RUNTIMES[@]}"; do
    case $rt in husk) runtime=io.containerd.husk.v2 ;; runc) runtime=io.containerd.runc.v2 ;; esac
    id=lsm-cd-$rt
    $c run -d --rootfs --runtime $runtime --env PATH=/bin --apparmor-default-profile $PROF "$T/rootfs" $id /bin/sleep 1000 \
      </dev/null >"$CD/run-$rt.log" 2>&1
    pid=$($c t ls 2>/dev/null | awk -v id=$id '$1 == id { print $2 }')
    [ -n "$pid" ] || { echo "ctr run ($rt) failed:"; tail -n 5 "$CD/run-$rt.log"; tail -n 5 "$CD/log"; }
    check $rt "containerd: the container gets the default profile" "$(attr < /proc/${pid:-0}/attr/current 2>&1)" "$PROF (enforce)"
    out=$($c t exec --exec-id e1 $id cat /proc/self/attr/current 2>&1 | attr)
    check $rt "containerd: exec gets the default profile (CRI's exec)" "$out" "$PROF (enforce)"
    $c t kill -s KILL $id >/dev/null 2>&1; sleep 0.5
    $c t rm -f $id >/dev/null 2>&1; $c c rm $id >/dev/null 2>&1
  done
  kill $cpid 2>/dev/null; wait $cpid 2>/dev/null
}

# docker as a user drives it: `dockerd --add-runtime husk=...` loads its own
# docker-default profile and passes it for the container and every exec.
docker_apparmor_tests() {
  command -v dockerd >/dev/null && [ -x /usr/bin/docker ] \
    || { record husk "docker: dockerd present" FAIL "dockerd or /usr/bin/docker missing"; return; }
  local D=/run/husk-lsm-docker img=$T/image
  mkdir -p "$D" "$img"
  # A docker-save archive of the busybox rootfs (no registry here).
  tar -C "$T/rootfs" --numeric-owner -cf "$img/layer.tar" .
  local diff; diff=$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" > "$img/config.json"
  printf '[{"Config":"config.json","RepoTags":["husk-lsm:latest"],"Layers":["layer.tar"]}]' > "$img/manifest.json"
  tar -C "$img" -cf "$D/image.tar" config.json manifest.json layer.tar
  dockerd --data-root "$D/root" --exec-root "$D/exec" -H "unix://$D/sock" --pidfile "$D/pid" \
    --storage-driver vfs --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --add-runtime husk="$HUSK" > "$D/log" 2>&1 &
  local dpid=$! i
  local d="/usr/bin/docker -H unix://$D/sock" rt out
  for i in $(seq 600); do $d version >/dev/null 2>&1 && break; sleep 0.2; done
  $d load -i "$D/image.tar" >/dev/null 2>&1 || { record husk "docker: image loads" FAIL "$(tail -n 3 "$D/log")"; }
  for rt in "${RUNTIMES[@]}"; do
    out=$($d run --rm --runtime $rt --network none husk-lsm cat /proc/self/attr/current 2>&1 | attr)
    check $rt "docker: the container gets docker-default" "$out" "docker-default (enforce)"
    $d run -d --name lsm-d-$rt --runtime $rt --network none husk-lsm sleep 1000 >/dev/null 2>&1
    out=$($d exec lsm-d-$rt cat /proc/self/attr/current 2>&1 | attr)
    check $rt "docker: exec gets docker-default" "$out" "docker-default (enforce)"
    $d rm -f lsm-d-$rt >/dev/null 2>&1
  done
  kill $dpid 2>/dev/null; wait $dpid 2>/dev/null
}

# ------------------------------------------------------------------ SELinux
selinux_tests() {
  mountpoint -q /sys/fs/selinux || mount -t selinuxfs selinuxfs /sys/fs/selinux || { echo "lsm-tests: no selinuxfs (boot with security=selinux selinux=1)"; exit 2; }
  if [ "$(cat /proc/self/attr/current | tr -d '\0')" = kernel ]; then
    load_policy -i || { echo "lsm-tests: load_policy failed"; exit 2; }
  fi
  setenforce 0
  echo "SELinux: $(getenforce), policy $(cat /sys/fs/selinux/policyvers), my label $(attr < /proc/self/attr/current)"
  # The first container types the loaded policy knows (Debian's default policy has
  # no container module: initrc_t and tmpfs_t there); MCS categories put commas
  # in the labels. A write to selinuxfs's context file checks a label.
  valid() { printf %s "$1" > /sys/fs/selinux/context 2>/dev/null; }
  local t L LX ML
  for t in container_t svirt_lxc_net_t initrc_t; do
    valid "system_u:system_r:$t:s0:c1,c2" && break
  done
  L=system_u:system_r:$t:s0:c1,c2 LX=system_u:system_r:$t:s0:c3,c4
  for t in container_file_t svirt_sandbox_file_t tmpfs_t; do
    valid "system_u:object_r:$t:s0:c1,c2" && break
  done
  ML=system_u:object_r:$t:s0:c1,c2
  valid "$L" && valid "$ML" || { echo "lsm-tests: no valid container labels in this policy"; exit 2; }
  echo "labels: process $L, exec $LX, mount $ML"
  local labelled=$T/labelled sleeper=$T/se-sleeper mounted=$T/mounted
  mkb labelled '.process.selinuxLabel = $l | .process.args = ["cat","/proc/self/attr/current"]' --arg l $L
  mkb se-sleeper '.process.selinuxLabel = $l | .linux.mountLabel = $m | .process.args = ["sleep","1000"]' --arg l $L --arg m $ML
  mkb mounted '.linux.mountLabel = $m | .process.args = ["cat","/proc/self/mountinfo"]' --arg m $ML
  jq -c '.process.selinuxLabel = $l | .process.args = ["cat","/proc/self/attr/current"]' --arg l $LX \
    "$T/base.json" | jq -c .process > "$T/process-exec.json"
  local rt out id pid ctx
  for rt in "${RUNTIMES[@]}"; do
    check $rt "the process label (attr/current)" "$(run $rt "$labelled" | attr)" "$L"
    id=$(start $rt "$sleeper")
    pid=$(rtc $rt state "$id" 2>/dev/null | jq -r .pid)
    check $rt "the init's label (host view)" "$(attr < /proc/$pid/attr/current 2>&1)" "$L"
    check $rt "exec inherits the container's label" \
      "$(rtc $rt exec "$id" cat /proc/self/attr/current 2>&1 | attr)" "$L"
    check $rt "exec --process-label" \
      "$(rtc $rt exec --process-label $LX "$id" cat /proc/self/attr/current 2>&1 | attr)" "$LX"
    check $rt "exec --process with selinuxLabel" \
      "$(rtc $rt exec --process "$T/process-exec.json" "$id" 2>&1 | attr)" "$LX"
    check $rt "mountLabel on mqueue (xattr)" "$(stat -c %C /proc/$pid/root/dev/mqueue 2>&1)" "$ML"
    rtc $rt delete -f "$id" >/dev/null 2>&1
    out=$(run $rt "$mounted")
    # mountinfo: mount point is field 5; the super options (after " - ") carry context=.
    ctx=$(echo "$out" | awk -v l="$ML" 'index($0, "context=") && index($0, l) { print $5 }' | sort | tr '\n' ' ')
    for mp in /dev /dev/pts /dev/shm; do
      check $rt "mountLabel on $mp (context=)" "$(case " $ctx " in *" $mp "*) echo yes ;; *) echo no ;; esac)" yes
    done
    for mp in /proc /sys; do
      check $rt "no mountLabel on $mp" "$(case " $ctx " in *" $mp "*) echo yes ;; *) echo no ;; esac)" no
    done
  done
  local badl=system_u:system_r:husk_no_such_t:s0 id st
  mkb bad-label '.process.selinuxLabel = $l | .process.args = ["true"]' --arg l $badl
  for rt in "${RUNTIMES[@]}"; do
    id=lsm-$rt-badlabel-$RANDOM
    out=$(rtc $rt create --bundle "$T/bad-label" "$id" </dev/null 2>&1); st=$?
    check $rt "a label the policy lacks fails create" "$([ $st != 0 ] && echo failed || echo created)" failed
    check_has $rt "the error names the label" "$out" "$badl"
    check $rt "nothing is left after the failed create" "$(nothing_left $rt "$id")" none
    rtc $rt delete -f "$id" >/dev/null 2>&1
  done
  check husk "features: selinux.host annotation" \
    "$("$HUSK" features | jq -r '.annotations["io.github.husk.selinux.host"]')" enabled
}

case $MODE in
  apparmor) apparmor_tests ;;
  selinux) selinux_tests ;;
  *) echo "lsm-tests: unknown mode $MODE"; exit 2 ;;
esac

# ------------------------------------------------------------------ table
echo
echo "### $MODE"
echo
printf '| check |'; for rt in "${RUNTIMES[@]}"; do printf ' %s |' "$rt"; done; echo
printf '|---|'; for rt in "${RUNTIMES[@]}"; do printf -- '---|'; done; echo
for c in "${CHECKS[@]}"; do
  printf '| %s |' "$c"
  for rt in "${RUNTIMES[@]}"; do printf ' %s |' "${RES["$c|$rt"]:--}"; done
  echo
done
echo
echo "lsm-tests ($MODE): husk $pass passed, $fail failed"
[ "$fail" = 0 ]
