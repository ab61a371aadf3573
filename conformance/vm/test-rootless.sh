#!/bin/bash
# test-rootless.sh [HUSK]: run the rootless test set (rootless-tests.sh) in a
# throwaway cgroup-v2 guest with systemd as PID 1, and return its status: an
# unprivileged user with its own systemd manager runs husk --systemd-cgroup with
# limits, and rootless podman with husk as its runtime. Builds nothing. Skips
# (exit 0, saying why) where the guest cannot run, like test-v2.sh;
# RL_REQUIRE=1 (or CI=true) turns skips into failures. RL_RUNTIMES picks the
# runtimes compared (default: husk only, to keep `make test` short;
# "husk runc crun" for the side-by-side table).
set -u
vm_test=test-rootless vm_set=rootless vm_require=RL_REQUIRE
. "$(dirname "$0")/lib.sh"

[ -x "$HUSK" ] || { echo "test-rootless: no husk binary at $HUSK" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 not installed"
case $REPO in /tmp/*|/run/*) skip "the checkout is under $REPO, which the guest hides";; esac

export HUSK RL_RUNTIMES=${RL_RUNTIMES:-husk}
export VM_INIT=systemd VM_TIMEOUT=${VM_TIMEOUT:-900}
export VM_PASSENV="${VM_PASSENV:-} HUSK RL_RUNTIMES"
echo "test-rootless: booting the systemd guest with $HUSK (runtimes: $RL_RUNTIMES)"
(cd "$REPO" && "$HERE/run-in-vm.sh" "bash $(printf %q "$HERE/rootless-tests.sh")" "$REPO")
vm_finish $?
