#!/bin/bash
# test-criu.sh [HUSK]: run the checkpoint/restore test set (criu-tests.sh) in a
# throwaway qemu guest (Debian kernel: CRIU's kernel feature detection fails on this
# host's kernel, not there) and return its status. Builds nothing: HUSK (default
# target/debug/husk of this checkout) must exist. Runs on the host, as root; the guest
# uses the host's files, so `criu` must be installed here (make deps does).
#
# Skips (exit 0, saying why) where the guest cannot run: not root, no qemu, the VM
# harness fails to boot (exit 125). CRIU_REQUIRE=1 (or CI=true) turns skips into failures.
# The containerd part uses containerd-shim-husk-v2 beside HUSK (or HUSK_SHIM); without
# one it is left out, saying so. Knobs: CRIU_RUNTIMES (default "husk runc"), CRIU_WAIT,
# CRIU_CONTAINERD=0 / CRIU_PODMAN=0 (leave containerd / podman out), VM_TIMEOUT (default 2400 s).
set -u

vm_test=test-criu vm_set=checkpoint/restore vm_require=CRIU_REQUIRE
. "$(dirname "$0")/lib.sh"

[ -x "$HUSK" ] || { echo "test-criu: no husk binary at $HUSK; build it first (cargo build -p husk-cli)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (qemu 9p passthrough)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
command -v criu >/dev/null 2>&1 || skip "criu not installed (apt-get install criu)"
case $REPO in /tmp/*|/run/*) skip "the checkout is under $REPO, which the guest hides behind its own tmpfs";; esac
case $HUSK in /tmp/*|/run/*) skip "$HUSK is under /tmp or /run, which the guest hides";; esac

export VM_TIMEOUT=${VM_TIMEOUT:-2400}
export CRIU_RUNTIMES=${CRIU_RUNTIMES:-husk runc}
export VM_PASSENV="${VM_PASSENV:-} CRIU_RUNTIMES CRIU_WAIT CRIU_CONTAINERD CRIU_PODMAN HUSK_SHIM"
echo "test-criu: booting the guest (qemu) with $HUSK; runtimes: $CRIU_RUNTIMES"
"$HERE/run-in-vm.sh" "bash $(printf %q "$HERE/criu-tests.sh") $(printf %q "$HUSK")" "$REPO"
vm_finish $?
