# Sourced by the bench scripts: median ARGS... prints the median of the
# arguments that are whole numbers (others, such as "no (why)" for a run
# that failed, are left out), or "none" if there are none.
median() {
  local numbers
  numbers=$(printf '%s\n' "$@" | grep -E '^[0-9]+$' || true)
  [[ -z $numbers ]] && { echo "none"; return; }
  echo "$numbers" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
# median_any ARGS...: the same for decimal numbers (throughputs), negative
# ones included (nested_versus_qemu.sh's CPU split has a difference of counts).
median_any() {
  local numbers
  numbers=$(printf '%s\n' "$@" | grep -E '^-?[0-9]+(\.[0-9]+)?$' || true)
  [[ -z $numbers ]] && { echo "none"; return; }
  echo "$numbers" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
