#!/usr/bin/env bash
# compare.sh - run the validation suite against several runtimes and show the
# results side by side.
#
# usage: compare.sh NAME=RUNTIME_BINARY|NAME=RESULT_DIR ...
#   e.g. compare.sh husk=target/release/husk runc=/usr/sbin/runc
#
# Each NAME=RUNTIME_BINARY is run with run.sh, one after the other (never in
# parallel). NAME=RESULT_DIR reuses an earlier run.sh output directory (one
# with a summary.tsv) instead of running again, e.g. a stored runc baseline.
#
# Prints one row per program with one column per runtime ("ok", "N fail", or
# "-" when the program was not run for it), a "*" in the last column where the
# runtimes disagree, and the totals. The table is also saved in
# $OUT/compare.txt; each runtime's run.sh output is in $OUT/NAME/ and its
# console log in $OUT/NAME.log.
#
# Environment: OCIV_COMPARE_OUT (default $HUSK_OCIV_DIR/compare-<date>), and
# everything run.sh reads (OCIV_TESTS, OCIV_TIMEOUT, OCIV_HIDE_CGROUP2, ...).
# With several runtimes, OCIV_HIDE_CGROUP2=auto applies the crun workaround
# to crun only.
set -uo pipefail

OCIV_PROG=compare.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '5,6p' "$0" | sed 's/^# //' >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac

names=() sources=()
for arg in "$@"; do
  name=${arg%%=*} src=${arg#*=}
  [[ "$arg" == *=* && "$name" =~ ^[A-Za-z0-9_.+-]+$ && -n "$src" ]] \
    || ociv_die "bad argument '$arg' (want NAME=BINARY or NAME=RESULT_DIR)" 2
  for n in "${names[@]}"; do [ "$n" != "$name" ] || ociv_die "name '$name' given twice" 2; done
  if [ -d "$src" ]; then
    [ -f "$src/summary.tsv" ] || ociv_die "$src has no summary.tsv from run.sh" 2
  elif [[ "$src" != */* ]] && command -v -- "$src" >/dev/null; then
    src=$(command -v -- "$src")
  elif [ ! -x "$src" ]; then
    ociv_die "'$src' is neither an executable nor a run.sh result directory" 2
  fi
  names+=("$name") sources+=("$src")
done

OUT=${OCIV_COMPARE_OUT:-$HUSK_OCIV_DIR/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || ociv_die "cannot create $OUT" 2
OUT=$(cd "$OUT" && pwd)

tsv=()
for i in "${!names[@]}"; do
  name=${names[$i]} src=${sources[$i]}
  if [ -d "$src" ]; then
    ociv_say "$name: using the results in $src"
    tsv+=("$(cd "$src" && pwd)/summary.tsv")
    continue
  fi
  ociv_say "$name: running the suite against $src (log: $OUT/$name.log)"
  bash "$OCIV_HOME/run.sh" "$src" "$OUT/$name" > "$OUT/$name.log" 2>&1
  rc=$?
  [ "$rc" -le 1 ] && [ -f "$OUT/$name/summary.tsv" ] \
    || ociv_die "run.sh failed for $name (exit $rc); see $OUT/$name.log" 2
  ociv_say "$name: $(grep '^validation:' "$OUT/$name.log")"
  tsv+=("$OUT/$name/summary.tsv")
done

# One awk pass over all summary.tsv files (one per runtime, in argument order).
names_csv=$(IFS=,; echo "${names[*]}")
awk -F'\t' -v names="$names_csv" '
  BEGIN { nr = split(names, name, ",") }
  FNR == 1 { r++; next }                       # header line of each file
  {
    p = $1
    if (!(p in known)) { known[p] = 1; order[++np] = p }
    cell[p, r] = ($4 > 0) ? $4 " fail" : "ok"
    pass[r] += $3; fail[r] += $4; skip[r] += $5; progs[r]++
    if ($4 == 0) okprogs[r]++
  }
  END {
    w = 34
    for (i = 1; i <= nr; i++) cw[i] = (length(name[i]) > 9) ? length(name[i]) + 2 : 11
    printf "%-" w "s", "PROGRAM"
    for (i = 1; i <= nr; i++) printf "%" cw[i] "s", name[i]
    printf "\n"
    for (k = 1; k <= np; k++) {
      p = order[k]; line = sprintf("%-" w "s", p); differ = 0
      for (i = 1; i <= nr; i++) {
        c = ((p, i) in cell) ? cell[p, i] : "-"
        if (i > 1 && c != first) differ = 1
        if (i == 1) first = c
        line = line sprintf("%" cw[i] "s", c)
      }
      print line (differ ? "  *" : "")
    }
    printf "\n"
    row("passed", pass); row("failed", fail); row("skipped", skip)
    printf "%-" w "s", "programs ok"
    for (i = 1; i <= nr; i++) printf "%" cw[i] "s", (okprogs[i] + 0) "/" (progs[i] + 0)
    printf "\n"
  }
  function row(label, arr,   i) {
    printf "%-" w "s", label
    for (i = 1; i <= nr; i++) printf "%" cw[i] "d", arr[i]
    printf "\n"
  }
' "${tsv[@]}" | tee "$OUT/compare.txt"
echo "(saved in $OUT)"
