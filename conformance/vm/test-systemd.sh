#!/bin/bash
# test-systemd.sh [HUSK]: run the systemd cgroup driver test set
# (systemd-tests.sh) in a throwaway cgroup-v2 guest with systemd as PID 1, and
# return its status. Builds nothing. Skips (exit 0, saying why) where the guest
# cannot run, like test-v2.sh; SD_REQUIRE=1 (or CI=true) turns skips into failures.
# SD_RUNTIMES picks the runtimes compared (default: husk only, to keep
# `make test` short; "husk runc crun" for the side-by-side table).
set -u
vm_test=test-systemd vm_set=systemd vm_require=SD_REQUIRE
. "$(dirname "$0")/lib.sh"

[ -x "$HUSK" ] || { echo "test-systemd: no husk binary at $HUSK" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 not installed"
case $REPO in /tmp/*|/run/*) skip "the checkout is under $REPO, which the guest hides";; esac

export HUSK SD_RUNTIMES=${SD_RUNTIMES:-husk}
export VM_INIT=systemd VM_TIMEOUT=${VM_TIMEOUT:-900}
export VM_PASSENV="${VM_PASSENV:-} HUSK SD_RUNTIMES"
echo "test-systemd: booting the systemd guest with $HUSK (runtimes: $SD_RUNTIMES)"
(cd "$REPO" && "$HERE/run-in-vm.sh" "bash $(printf %q "$HERE/systemd-tests.sh")" "$REPO")
vm_finish $?
