#!/bin/bash
# test-v2.sh [HUSK]: run the cgroup-v2 test set (cgroup-v2-tests.sh) in a
# throwaway cgroup-v2 qemu guest and return its status. Builds nothing: HUSK
# (default target/debug/husk of this checkout, what `cargo build` makes) must
# exist. Runs on the host, as root.
#
# Skips (exit 0, with a message saying why) where the guest cannot run: not
# root, no qemu-system-x86_64, or the VM harness itself fails to boot (exit
# 125 of run-in-vm.sh, e.g. no kernel package to download offline). Set
# V2_REQUIRE=1 (or CI=true) to turn those skips into failures.
# Knobs: V2_RUNTIMES (e.g. "husk"), V2_WAIT, VM_TIMEOUT (default 900 s
# here) and the others of run-in-vm.sh.
set -u

vm_test=test-v2 vm_set=cgroup-v2 vm_require=V2_REQUIRE
. "$(dirname "$0")/lib.sh"

[ -x "$HUSK" ] || { echo "test-v2: no husk binary at $HUSK; build it first (cargo build -p husk-cli)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (qemu 9p passthrough)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
qemu-system-x86_64 -version >/dev/null 2>&1 || skip "qemu-system-x86_64 does not run here"
case $REPO in /tmp/*|/run/*) skip "the checkout is under $REPO, which the guest hides behind its own tmpfs";; esac
case $HUSK in "$REPO"/*|/usr/*|/opt/*|/work/*|/home/*|/root/*|/srv/*|/var/*) ;;
  /tmp/*|/run/*) skip "$HUSK is under /tmp or /run, which the guest hides";; esac

export VM_TIMEOUT=${VM_TIMEOUT:-900}
export VM_PASSENV="${VM_PASSENV:-} V2_RUNTIMES V2_WAIT"
echo "test-v2: booting the cgroup-v2 guest (qemu, kernel cgroup_no_v1=all) with $HUSK"
"$HERE/run-in-vm.sh" "bash $(printf %q "$HERE/cgroup-v2-tests.sh") $(printf %q "$HUSK")" "$REPO"
vm_finish $?
