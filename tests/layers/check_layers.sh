#!/usr/bin/env bash
# The layering rule (ARCHITECTURE.md, "Layers"): a file may include headers
# of its own folder, of any lower layer, and of the few same-layer folders
# listed below; never of a higher layer. Prints every include that breaks
# the rule and fails if there is one. The link checks in CMakeLists.txt
# hold the same rule for symbols.
#
#   check_layers.sh REPOSITORY_ROOT
set -euo pipefail
root=$1
cd "$root"

# Each folder's layer, 0 (the floor) to 4 (the roof).
declare -A layer=(
  [src/base]=0 [src/platform]=0 [src/run]=0
  [src/memory]=1 [src/snapshot]=1 [src/bus]=1 [src/console]=1 [src/security]=1
  [src/kvm]=2 [src/irq]=2 [src/pci]=2 [src/emulation]=2 [src/boot]=2
  [devices]=3 [virtio]=3
  [src/vcpu]=4 [src/machine]=4 [cli]=4
)
# Same-layer includes that are part of the design; any other between two
# folders of one layer (devices and virtio above all) is refused too.
declare -A sideways=([src/boot:src/kvm]=1 [src/pci:src/irq]=1 [src/machine:src/vcpu]=1 [cli:src/machine]=1)

folder_of() {  # a path relative to the root: its folder in the table
  case $1 in
    src/*) local rest=${1#src/}; echo "src/${rest%%/*}" ;;
    *) echo "${1%%/*}" ;;
  esac
}

violations=0 checked=0
while IFS= read -r file; do
  from=$(folder_of "$file")
  [[ -n ${layer[$from]+set} ]] || { echo "FAIL: $file is in $from, which has no layer (add it to check_layers.sh and ARCHITECTURE.md)"; violations=$((violations + 1)); continue; }
  while IFS= read -r header; do
    # Project headers are named from src/ or from the root.
    if [[ -f src/$header ]]; then target=src/$header; elif [[ -f $header ]]; then target=$header; else continue; fi
    to=$(folder_of "$target")
    [[ $to == "$from" ]] && continue
    checked=$((checked + 1))
    if [[ -z ${layer[$to]+set} ]]; then
      echo "FAIL: $file includes $header from $to, which has no layer"; violations=$((violations + 1))
    elif ((layer[$to] > layer[$from])); then
      echo "FAIL: $file (layer ${layer[$from]}, $from) includes $header (layer ${layer[$to]}, $to): upward"
      violations=$((violations + 1))
    elif ((layer[$to] == layer[$from])) && [[ -z ${sideways[$from:$to]+set} ]]; then
      echo "FAIL: $file ($from) includes $header ($to): sideways within layer ${layer[$from]}"
      violations=$((violations + 1))
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(find src devices virtio cli -name '*.h' -o -name '*.cpp' | sort)

echo "$checked includes between folders checked, $violations against the layering"
((violations == 0))
