#!/bin/bash
# test-lsm.sh [HUSK]: run the LSM test set (lsm-tests.sh) in two throwaway qemu
# guests, one booted with AppArmor on ("apparmor=1 security=apparmor"), one
# with SELinux ("security=selinux selinux=1", policy loaded, permissive), and
# return their status. Builds nothing: HUSK (default target/debug/husk) must
# exist. Runs on the host, as root; the guests use the host's apparmor,
# apparmor-utils, selinux-policy-default, policycoreutils, selinux-utils and jq
# packages (`make deps` installs them).
#
# LSM_RUNTIMES picks the runtimes (default here: husk only, to keep `make test`
# short; "husk runc" for the side-by-side table). LSM_MODES picks the guests
# (default "apparmor selinux"). LSM_CONTAINERD=1 and LSM_DOCKER=1 add the
# AppArmor rows driven through containerd (ctr, the shims) and dockerd
# (`make conformance` sets both). Skips (exit 0, saying why) where the guest
# cannot run, like test-v2.sh; LSM_REQUIRE=1 (or CI=true) turns skips into failures.
set -u
vm_test=test-lsm vm_set=LSM vm_require=LSM_REQUIRE
. "$(dirname "$0")/lib.sh"

[ -x "$HUSK" ] || { echo "test-lsm: no husk binary at $HUSK; build it first (cargo build -p husk-cli)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (qemu 9p passthrough)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
case $REPO in /tmp/*|/run/*) skip "the checkout is under $REPO, which the guest hides behind its own tmpfs";; esac
case $HUSK in /tmp/*|/run/*) skip "$HUSK is under /tmp or /run, which the guest hides";; esac
command -v jq >/dev/null 2>&1 || skip "jq not installed (make deps)"

export LSM_RUNTIMES=${LSM_RUNTIMES:-husk}
export VM_TIMEOUT=${VM_TIMEOUT:-900}
export VM_PASSENV="${VM_PASSENV:-} LSM_RUNTIMES LSM_CONTAINERD LSM_DOCKER"
status=0
for mode in ${LSM_MODES:-apparmor selinux}; do
  case $mode in
    apparmor)
      command -v apparmor_parser >/dev/null 2>&1 || skip "apparmor_parser not installed (apt-get install apparmor)"
      append="apparmor=1 security=apparmor" ;;
    selinux)
      command -v load_policy >/dev/null 2>&1 && [ -d /etc/selinux/default ] \
        || skip "no SELinux policy (apt-get install selinux-policy-default policycoreutils selinux-utils)"
      append="security=selinux selinux=1" ;;
    *) echo "test-lsm: unknown mode $mode" >&2; exit 1 ;;
  esac
  echo "test-lsm: booting the $mode guest (VM_APPEND=\"$append\") with $HUSK (runtimes: $LSM_RUNTIMES)"
  VM_APPEND="${VM_APPEND:-} $append" "$HERE/run-in-vm.sh" \
    "bash $(printf %q "$HERE/lsm-tests.sh") $mode $(printf %q "$HUSK")" "$REPO"
  rc=$?
  case $rc in
    0) ;;
    125|124) vm_finish $rc ;;
    *) echo "test-lsm: the $mode set failed (exit $rc)" >&2; status=$rc ;;
  esac
done
vm_finish $status
