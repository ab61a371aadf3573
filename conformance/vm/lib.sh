# lib.sh: the host side shared by test-v2.sh and test-systemd.sh, sourced by
# them (not run). Before sourcing, a script sets vm_test (its name, for
# messages), vm_set (its test set, for the skip message) and vm_require (the
# name of its *_REQUIRE knob). Sets HERE, REPO and HUSK (the script's $1, else
# $HUSK, else target/debug/husk of this checkout; made absolute).

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HUSK=${1:-${HUSK:-$REPO/target/debug/husk}}
case $HUSK in /*) ;; *) HUSK=$PWD/$HUSK ;; esac

# Exits 0 saying why the guest cannot run; exit 1 when the *_REQUIRE knob is 1
# or under CI (CI=true), where a test that cannot run must not pass.
skip() {
  if [ "${!vm_require:-0}" = 1 ]; then echo "$vm_test: FAIL ($vm_require=1): $*" >&2; exit 1; fi
  case ${CI:-} in [Tt][Rr][Uu][Ee]|1) echo "$vm_test: FAIL (CI=$CI): $*" >&2; exit 1 ;; esac
  echo "$vm_test: SKIP: $* (the $vm_set guest tests did not run)" >&2
  exit 0
}

# Reports run-in-vm.sh's status $1 and exits with it; 125 (no guest) is a skip.
vm_finish() {
  case $1 in
    0) echo "$vm_test: passed" ;;
    125) skip "the VM harness failed to boot the guest (run-in-vm.sh exit 125; see its messages above)" ;;
    124) echo "$vm_test: FAIL: the guest timed out after ${VM_TIMEOUT}s" >&2 ;;
    *) echo "$vm_test: FAIL (exit $1)" >&2 ;;
  esac
  exit "$1"
}
