#!/usr/bin/env bash
# run.sh - run the OCI runtime-tools validation suite against one runtime.
#
# usage: run.sh RUNTIME_BINARY [OUTDIR]
#
# Runs each validation program built by setup.sh (all 58, or those named in
# OCIV_TESTS) once, in a private mount namespace and under a timeout, with
# RUNTIME pointing at a logging wrapper around RUNTIME_BINARY. Prints one row
# per program as it finishes and then
#   validation: N passed, M failed, S skipped (programs: P ok / Q total)
#
# Counting (all per TAP test point):
#   passed   "ok" points;  skipped  "# SKIP" and "# TODO" points
#   failed   "not ok" points, plus one when the program ended abnormally:
#            non-zero exit, timeout, no TAP output, a missing or wrong plan,
#            or "Bail out!"
#   A program that exits 0 without printing anything counts as 1 passed: the
#   *_fail programs do that when the runtime rejects the bad config, as it
#   must. A program that prints a stream without any test point (the hook
#   programs) counts as 1 failed when it reported an "error" in a YAML block
#   and as 1 passed otherwise. A program is "ok" when nothing failed.
#
# After every program, whatever it left behind is removed: containers it
# created are killed and force-deleted through RUNTIME_BINARY (in the same
# isolation the program ran in), processes still in the test cgroups or in
# cgroups named after its containers are killed and those cgroup directories
# rmdir'ed, and anything still mounted below the run's temporary directory is
# unmounted. The row's note says what had to be cleaned up.
#
# OUTDIR (default $HUSK_OCIV_DIR/results/<binary>-<date>) receives:
#   <program>.tap     its standard output (TAP)
#   <program>.stderr  its standard error (runtime messages end up here)
#   <program>.calls   the runtime invocations, each with its exit status
#   summary.txt       header, table and closing line; summary.tsv: table as TSV
#
# Environment:
#   HUSK_OCIV_DIR      suite cache (default /var/tmp/husk-oci-validation);
#                      setup.sh runs first when the suite is not built yet
#   OCIV_TESTS         programs to run, comma- or space-separated (default all)
#   OCIV_TIMEOUT       seconds allowed per program (default 120)
#   OCIV_HIDE_CGROUP2  0 (default) | 1 | auto: inside each program's private
#                      mount namespace, unmount the hybrid host's cgroup2 tree
#                      /sys/fs/cgroup/unified so the runtime sees pure cgroup
#                      v1. crun 1.8 needs it here ("cgroups in hybrid mode not
#                      supported"); auto does it only for a runtime whose
#                      --version says crun. The host is not affected.
#
# Exit status: 0 when nothing failed, 1 when something failed, 2 for usage or
# setup errors. Needs root. Runs hold a lock, so only one runs at a time.
set -uo pipefail

OCIV_PROG=run.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '4p' "$0" | sed 's/^# //' >&2; echo '(see the comments at the top of run.sh)' >&2; exit 2; }
case "${1:-}" in ''|-h|--help) usage ;; esac
[ $# -le 2 ] || usage

OCIV_TIMEOUT=${OCIV_TIMEOUT:-120}
OCIV_HIDE_CGROUP2=${OCIV_HIDE_CGROUP2:-0}
[[ "$OCIV_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || ociv_die "OCIV_TIMEOUT must be a number of seconds" 2
[ "$(id -u)" = 0 ] || ociv_die "must run as root" 2

# ------------------------------------------------------------------ runtime
RT=$1
[[ "$RT" == */* ]] || RT=$(command -v -- "$RT" || echo "$RT")
[ -f "$RT" ] && [ -x "$RT" ] || ociv_die "'$1' is not an executable file" 2
RT=$(readlink -f -- "$RT")
RT_VERSION=$("$RT" --version 2>/dev/null | head -n1 || true)

# ------------------------------------------------------------------ suite
if ! ociv_suite_ready; then
  ociv_say "the suite is not built yet; running setup.sh"
  bash "$OCIV_HOME/setup.sh" || ociv_die "setup.sh failed" 2
fi

programs=()
if [ -n "${OCIV_TESTS:-}" ]; then
  for p in ${OCIV_TESTS//,/ }; do
    p=${p%.t}
    [ -x "$OCIV_SUITE_DIR/validation/$p.t" ] || ociv_die "unknown program '$p' (see $OCIV_SUITE_DIR/validation)" 2
    programs+=("$p")
  done
else
  for f in "$OCIV_SUITE_DIR"/validation/*.t; do
    f=${f##*/}; programs+=("${f%.t}")
  done
fi

# One run at a time: programs share fixed cgroup names (cgrouptest, testdir).
mkdir -p "$HUSK_OCIV_DIR"
exec 9>"$HUSK_OCIV_DIR/run.lock"
if ! flock -n 9; then
  ociv_say "another run.sh holds $HUSK_OCIV_DIR/run.lock; waiting for it"
  flock 9
fi

OUTDIR=${2:-$HUSK_OCIV_DIR/results/$(basename "$RT")-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUTDIR" || ociv_die "cannot create $OUTDIR" 2
OUTDIR=$(cd "$OUTDIR" && pwd)

# ------------------------------------------------------------------ work dir
# $WORK/tmp is the programs' TMPDIR: util.PrepareBundle makes every bundle
# there. Hook command lines embed bundle paths unquoted: no spaces allowed.
WORK=$(mktemp -d /tmp/husk-ociv.XXXXXX) || exit 2
chmod 0755 "$WORK"            # a container with a user namespace must reach its bundle
mkdir -m 0755 "$WORK/tmp" "$WORK/bin"

# The runtime the suite calls: logs each call and its exit status to the file
# named by $HUSK_OCIV_CALLS, otherwise behaves exactly like the real binary.
WRAPPER=$WORK/bin/$(basename "$RT")
cat > "$WRAPPER" <<EOF
#!/bin/sh
log=\${HUSK_OCIV_CALLS:-/dev/null}
echo "call \$*" >> "\$log"
'$RT' "\$@"
rc=\$?
echo "exit \$rc \$*" >> "\$log"
exit \$rc
EOF
chmod 0755 "$WRAPPER"

# Command prefix that gives a program (or a cleanup call) its own mount
# namespace, so mounts made for a container without a mount namespace of its
# own (linux_ns_itype) or by a misbehaving runtime die with it.
hide=0
case "$OCIV_HIDE_CGROUP2" in
  1) hide=1 ;;
  auto) [[ "$RT_VERSION" == crun* ]] && hide=1 ;;
  0) ;;
  *) ociv_die "OCIV_HIDE_CGROUP2 must be 0, 1 or auto" 2 ;;
esac
ISOLATE=(unshare --mount --propagation private --)
ISOLATION="private mount namespace"
if [ "$hide" = 1 ]; then
  if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    ISOLATE+=(sh -c 'umount -l /sys/fs/cgroup/unified || exit 125; exec "$@"' hide-cgroup2)
    ISOLATION+=" without /sys/fs/cgroup/unified"
  else
    ociv_say "OCIV_HIDE_CGROUP2: /sys/fs/cgroup/unified is not a cgroup2 mount; nothing to hide"
  fi
fi

# ------------------------------------------------------------------ cleanup
# IDs of the containers created during one program.
# (Only plausible IDs: a create call without an ID ends with the bundle path.)
created_ids() {
  awk '$1 == "call" && $2 == "create" {print $NF}' "$1" 2>/dev/null \
    | grep -E '^[A-Za-z0-9][A-Za-z0-9_.-]*$' | sort -u
}

rt() { timeout -k 5 30 "${ISOLATE[@]}" "$RT" "$@" >/dev/null 2>&1 </dev/null; }

# Kill and force-delete the containers from a calls log that still exist.
# Prints "<deleted> <stuck>"; warns about each container that would not go.
reap_containers() {
  local id deleted=0 stuck=0 try
  for id in $(created_ids "$1"); do
    rt state "$id" || continue
    rt kill "$id" KILL
    for try in 1 2 3; do
      rt delete --force "$id" && break
      sleep 1
    done
    if rt state "$id"; then
      stuck=$((stuck + 1))
      ociv_say "warning: $(basename "$RT") could not delete leftover container $id (its processes are killed below)"
    else
      deleted=$((deleted + 1))
    fi
  done
  echo "$deleted $stuck"
}

# Test cgroup directories left behind, deepest first: those named after the
# program's containers and the suite's fixed ones (absolute "/cgrouptest",
# relative "testdir/cgrouptest/container").
leftover_cgroups() {
  local ids
  ids=$(created_ids "$1" | paste -sd'|')
  find /sys/fs/cgroup -mindepth 2 -maxdepth 9 -depth -type d \
      \( -name cgrouptest -o -name testdir -o -path '*/testdir/cgrouptest/container' \) 2>/dev/null
  [ -n "$ids" ] && find /sys/fs/cgroup -mindepth 2 -maxdepth 9 -depth -type d 2>/dev/null \
      | grep -E "/($ids)\$"
  return 0
}

# Empty and remove them; prints how many a runtime should have removed itself
# (not counted: the parents testdir and testdir/cgrouptest of the relative
# path, which runtimes create but need not remove). Only rmdir is used, which
# cannot remove a cgroup that still has children or processes.
reap_cgroups() {
  local d n=0 pids
  while IFS= read -r d; do
    [ -d "$d" ] || continue
    pids=$(cat "$d/cgroup.procs" 2>/dev/null)
    if [ -n "$pids" ]; then
      [ -f "$d/freezer.state" ] && echo THAWED > "$d/freezer.state" 2>/dev/null
      kill -KILL $pids 2>/dev/null
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
    rmdir "$d" 2>/dev/null || continue
    case "$d" in */testdir|*/testdir/cgrouptest) ;; *) n=$((n + 1)) ;; esac
  done < <(leftover_cgroups "$1" | awk '!seen[$0]++')
  echo "$n"
}

# Unmount everything mounted at or below $1 (host mount namespace), deepest first.
unmount_below() {
  local m
  awk -v top="$1" '$5 == top || index($5, top "/") == 1 {print $5}' /proc/self/mountinfo \
    | sort -r | while IFS= read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
      done
}

# Everything after one program; prints a note ("" when nothing was left).
clean_after() {
  local calls=$1 c stuck g m notes=()
  read -r c stuck < <(reap_containers "$calls")
  g=$(reap_cgroups "$calls")
  m=$(awk -v top="$WORK" 'index($5, top "/") == 1' /proc/self/mountinfo | wc -l)
  [ "$m" -gt 0 ] && unmount_below "$WORK/tmp"
  rm -rf --one-file-system "$WORK/tmp"/* 2>/dev/null
  [ "$c" -gt 0 ] && notes+=("cleanup: deleted $c container(s)")
  [ "$stuck" -gt 0 ] && notes+=("cleanup: $stuck container(s) could not be deleted")
  [ "$g" -gt 0 ] && notes+=("cleanup: removed $g cgroup dir(s)")
  [ "$m" -gt 0 ] && notes+=("cleanup: unmounted $m mount(s)")
  local IFS=';'; echo "${notes[*]:-}"
}

CURRENT_CALLS= CHILD=
finish() {
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then     # interrupted: stop the program (timeout passes it on)
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
  fi
  [ -n "$CURRENT_CALLS" ] && clean_after "$CURRENT_CALLS" >/dev/null
  unmount_below "$WORK"
  rm -rf --one-file-system "$WORK"
}
trap finish EXIT
trap 'ociv_say "interrupted; cleaning up"; exit 130' INT TERM

# ------------------------------------------------------------------ report
# A short, telling line from a program's stderr: skip the suite's own
# generic lines, unwrap logrus-style messages and drop runc-style wrapper
# prefixes so that the cause fits in the row.
stderr_hint() {
  grep -v -E '^[[:space:]]*$|^failed to (create|start|delete|read)|^exit status [0-9]+$|^Clean: ' "$1" 2>/dev/null \
    | head -n1 \
    | sed -E -e 's/^time="[^"]*" level=[a-z]+ msg="(.*)"$/\1/' -e 's/\\"/"/g' \
             -e 's/^[^ :]+ (create|start|kill|delete|state) failed: //' \
             -e 's/(unable to start container process|error during container init|error setting cgroup config for procHooks process): //g' \
    | cut -c1-140
}

ROW='%-34s %-6s %5s %5s %5s %6s  %s\n'
header() {
  echo "# runtime:   $RT${RT_VERSION:+ ($RT_VERSION)}"
  echo "# suite:     $OCIV_SUITE_DIR ($(sed 's/ (.*//' "$HUSK_OCIV_DIR/gopath/src/github.com/opencontainers/runtime-tools/.husk-source" 2>/dev/null))"
  echo "# output:    $OUTDIR"
  echo "# isolation: $ISOLATION; timeout ${OCIV_TIMEOUT}s per program"
  printf "$ROW" PROGRAM RESULT PASS FAIL SKIP SECS NOTE
}
header | tee "$OUTDIR/summary.txt"
printf 'program\tresult\tpass\tfail\tskip\tsecs\tnote\n' > "$OUTDIR/summary.tsv"

# ------------------------------------------------------------------ run
sum_pass=0 sum_fail=0 sum_skip=0 progs_ok=0
t_start=$SECONDS
for name in "${programs[@]}"; do
  tap=$OUTDIR/$name.tap err=$OUTDIR/$name.stderr calls=$OUTDIR/$name.calls
  : > "$calls"
  CURRENT_CALLS=$calls
  t0=$(date +%s%N)
  # In the background, so that an interrupt does not have to wait for it.
  ( cd "$OCIV_SUITE_DIR" &&
    exec env TMPDIR="$WORK/tmp" RUNTIME="$WRAPPER" HUSK_OCIV_CALLS="$calls" \
      timeout -k 10 "$OCIV_TIMEOUT" "${ISOLATE[@]}" "./validation/$name.t"
  ) > "$tap" 2> "$err" < /dev/null &
  CHILD=$!
  wait "$CHILD"
  rc=$?
  CHILD=
  secs=$(( ($(date +%s%N) - t0) / 100000000 )); secs="$((secs / 10)).$((secs % 10))"

  read -r pass fail skip points streams plan_problems bailouts yaml_errors \
    < <(awk -f "$OCIV_HOME/lib/tap-summary.awk" "$tap")
  notes=() abnormal=0
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    notes+=("timed out after ${OCIV_TIMEOUT}s"); abnormal=1
  elif [ "$rc" != 0 ]; then
    notes+=("exit status $rc"); abnormal=1
  fi
  if [ "$streams" = 0 ]; then
    if [ "$rc" = 0 ] && [ ! -s "$tap" ]; then
      pass=1; notes+=("no output and exit 0: the runtime rejected the config")
    else
      notes+=("no TAP output"); abnormal=1
    fi
  else
    [ "$plan_problems" -gt 0 ] && { notes+=("missing or wrong TAP plan"); abnormal=1; }
    [ "$bailouts" -gt 0 ] && { notes+=("bailed out"); abnormal=1; }
    if [ "$points" = 0 ] && [ "$abnormal" = 0 ]; then
      if [ "$yaml_errors" -gt 0 ]; then
        fail=1
        notes+=("error: $(sed -n 's/^    "error": "\(.*\)",\{0,1\}$/\1/p' "$tap" | head -n1 | sed 's/\\n.*//' | cut -c1-110)")
      else
        pass=1
      fi
    fi
  fi
  fail=$((fail + abnormal))
  if [ "$fail" -gt 0 ]; then
    result=FAIL
    first=$(grep -E '^not ok' "$tap" | grep -v -i '# *todo' | head -n1 | sed -E 's/^not ok [0-9]+ *-? *//' | cut -c1-100)
    [ -n "$first" ] && notes+=("first: $first")
    hint=$(stderr_hint "$err")
    [ -n "$hint" ] && notes+=("stderr: $hint")
  elif [ "$pass" = 0 ] && [ "$skip" -gt 0 ]; then
    result=skip; progs_ok=$((progs_ok + 1))
  else
    result=ok; progs_ok=$((progs_ok + 1))
  fi
  cleaned=$(clean_after "$calls")
  CURRENT_CALLS=
  [ -n "$cleaned" ] && notes+=("$cleaned")
  note=$(IFS=';'; echo "${notes[*]:-}" | sed 's/;/; /g')

  sum_pass=$((sum_pass + pass)) sum_fail=$((sum_fail + fail)) sum_skip=$((sum_skip + skip))
  printf "$ROW" "$name" "$result" "$pass" "$fail" "$skip" "$secs" "$note" | tee -a "$OUTDIR/summary.txt"
  printf '%s\t%s\t%d\t%d\t%d\t%s\t%s\n' "$name" "$result" "$pass" "$fail" "$skip" "$secs" "$note" >> "$OUTDIR/summary.tsv"
done

{
  echo "# wall time: $((SECONDS - t_start))s"
  echo "validation: $sum_pass passed, $sum_fail failed, $sum_skip skipped (programs: $progs_ok ok / ${#programs[@]} total)"
} | tee -a "$OUTDIR/summary.txt"
[ "$sum_fail" = 0 ]
