#!/bin/bash
# systemd-guest.sh: the CRI part of the end-to-end suite in a throwaway cgroup-v2 guest
# with systemd as PID 1 (conformance/vm/run-in-vm.sh, VM_INIT=systemd), with
# SystemdCgroup = true for the runc-shim handlers and pods under kubelet-shaped slices
# (kubepods-burstable-pod<uid>.slice), so containerd passes cgroupsPath as
# slice:prefix:name. Builds nothing; run as root from anywhere.
#
#   RUNTIMES="husk runc" bash conformance/e2e/systemd-guest.sh
#
# Knobs: RUNTIMES (default husk), E2E/HUSK/SHIM (binaries; default target/release),
# VM_APPEND (e.g. "apparmor=0": containerd's CRI gives every container its AppArmor
# profile when the guest kernel has AppArmor on), VM_TIMEOUT (default 2400 s).
# Writes target/e2e-systemd-guest.md; exits with the suite's status.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
E2E=${E2E:-$REPO/target/release/husk-e2e}
HUSK=${HUSK:-$REPO/target/release/husk}
SHIM=${SHIM:-$REPO/target/release/containerd-shim-husk-v2}
RUNTIMES=${RUNTIMES:-husk}
for b in "$E2E" "$HUSK" "$SHIM"; do
    [ -x "$b" ] || { echo "systemd-guest: no binary at $b" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "systemd-guest: needs root" >&2; exit 1; }
case $REPO in /tmp/*|/run/*) echo "systemd-guest: the checkout is under $REPO, which the guest hides" >&2; exit 1;; esac

export VM_INIT=systemd VM_TIMEOUT=${VM_TIMEOUT:-2400} VM_MEM=${VM_MEM:-3G}
# Keep the guest's scratch dir (its /tmp is a tmpfs that dies with it) for the diagnostics.
export VM_PASSENV="${VM_PASSENV:-} HUSK_E2E_KEEP HUSK_E2E_RPC_TIMEOUT" HUSK_E2E_KEEP=1
# The guest has no network device: the CNI bridge and veth are local. /tmp is a tmpfs
# there, so containerd's overlay snapshots do not sit on the guest's overlayfs root.
cmd="modprobe bridge; modprobe veth; modprobe overlay; \
echo guest: \$(uname -r), \$(cat /sys/fs/cgroup/cgroup.controllers), pid1 \$(cat /proc/1/comm), apparmor \$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo absent); \
$(printf %q "$E2E") --parts cri --systemd --runtimes $(printf %q "$RUNTIMES") \
--husk $(printf %q "$HUSK") --shim $(printf %q "$SHIM") --markdown $(printf %q "$REPO/target/e2e-systemd-guest.md"); rc=\$?; if [ \$rc != 0 ]; then echo '--- diagnostics'; tail -n 80 /tmp/hske2e-*/containerd/containerd.log; systemctl list-units --all --no-pager 'kubepods*' 'cri-containerd*' | tail -n 30; ps -eo pid,ppid,stat,args | tail -n 40; fi; exit \$rc"
echo "systemd-guest: booting (runtimes: $RUNTIMES, VM_APPEND=${VM_APPEND:-})"
cd "$REPO" && exec "$REPO/conformance/vm/run-in-vm.sh" "$cmd" "$REPO"
