# tap-summary.awk - count one validation program's TAP output.
#
# Prints one line: pass fail skip points streams plan_problems bailouts yaml_errors
#
#   pass / fail   "ok" / "not ok" test points without a directive
#   skip          points with a "# SKIP" or "# TODO" directive (TODO points
#                 are expected failures, so they count neither way)
#   streams       TAP streams; a file can hold several (linux_cgroups_cpus
#                 prints two), each starting at a "TAP version" line
#   plan_problems streams whose plan is missing, repeated, or does not
#                 match the number of points in that stream
#   bailouts      "Bail out!" lines
#   yaml_errors   YAML diagnostics (the JSON-as-YAML blocks of the tap-go
#                 stand-in) that carry a top-level "error" key; the hook
#                 programs report problems only that way
function end_stream() {
  if (streams > 0 && (plans != 1 || planned != seen)) plan_problems++
  seen = 0; plans = 0; planned = -1
}
BEGIN { planned = -1 }
/^TAP version / { end_stream(); streams++; next }
/^(not )?ok($|[ \t])/ {
  if (streams == 0) streams = 1
  points++; seen++
  if (toupper($0) ~ /^[^#]*#[ \t]*(SKIP|TODO)/) skip++
  else if (substr($0, 1, 3) == "not") fail++
  else pass++
  next
}
/^1\.\.[0-9]+/ {
  if (streams == 0) streams = 1
  plans++; planned = substr($0, 4) + 0
  next
}
/^Bail out!/ { bailouts++; next }
/^  ---$/ { in_yaml = 1; next }
/^  \.\.\.$/ { in_yaml = 0; next }
in_yaml && /^    "error": / { yaml_errors++ }
END {
  end_stream()
  printf "%d %d %d %d %d %d %d %d\n", pass, fail, skip, points, streams, plan_problems, bailouts, yaml_errors
}
