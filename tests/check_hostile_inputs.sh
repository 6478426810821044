#!/usr/bin/env bash
# Keeps tests/HOSTILE-INPUTS.md true: every item of TESTING.md's "Hostile
# input every release must survive" is a "### " heading there, every heading
# lists at least one test, and every test it names is one ctest knows.
#
#   check_hostile_inputs.sh TESTING.md HOSTILE-INPUTS.md BUILD_DIR [UNBUILT_DIR...]
#
# UNBUILT_DIRs hold the sources of test tiers this build does not configure
# (the Linux tier without EMBER_GUEST_KERNEL_DIR): a test named there is
# found in its source instead, and counted apart.
set -euo pipefail
testing=$1 map=$2 build=$3
unbuilt_dirs=("${@:4}")
if [[ ! -f $testing ]]; then
  echo "skipped: $testing is not beside the repository (../shared)"
  exit 77
fi
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# TESTING.md's items: from the "## Hostile input" heading on, "- " starts an
# item and indented lines continue it. Whitespace is squeezed on both sides.
items=$(awk '
  /^## Hostile input/ { on = 1; next }
  on && /^## / { on = 0 }
  on && /^- / { if (item != "") print item; item = substr($0, 3); next }
  on && /^  +[^ ]/ && item != "" { sub(/^ +/, ""); item = item " " $0; next }
  on && item != "" { print item; item = "" }
  END { if (item != "") print item }' "$testing" | tr -s ' ')
headings=$(sed -n 's/^### //p' "$map" | tr -s ' ')
[[ -n $items ]] || fail "no hostile-input items found in $testing"
while IFS= read -r item; do
  grep -qxF -- "$item" <<<"$headings" || fail "TESTING.md item has no section in $map: $item"
done <<<"$items"

# Every section names at least one test.
empty=$(awk '
  /^### / { if (title != "" && !tests) print title; title = $0; tests = 0; next }
  /^## / { if (title != "" && !tests) print title; title = ""; next }
  title != "" && /`[A-Z][A-Za-z0-9_]*\.[A-Z][A-Za-z0-9_\/]*`/ { tests = 1 }
  END { if (title != "" && !tests) print title }' "$map")
while IFS= read -r title; do
  [[ -z $title ]] || fail "section lists no test: $title"
done <<<"$empty"

# Every test named is registered with ctest (parameterised ones by suffix).
registered=$(cd "$build" && ctest -N)
names=$(grep -oE '`[A-Z][A-Za-z0-9_]*\.[A-Z][A-Za-z0-9_/]*`' "$map" | tr -d '`' | sort -u)
count=0 unbuilt=0
while IFS= read -r name; do
  count=$((count + 1))
  grep -qE "(: |/)${name//./\\.}( |$)" <<<"$registered" && continue
  suite=${name%%.*} test=${name#*.}
  if ((${#unbuilt_dirs[@]} > 0)) && grep -rqE "^TEST(_F|_P)?\($suite, ${test%%/*}\)" "${unbuilt_dirs[@]}"; then
    unbuilt=$((unbuilt + 1))
    echo "not built here: $name"
    continue
  fi
  fail "no such test: $name"
done <<<"$names"

echo "$(wc -l <<<"$items") TESTING.md items, $count tests named ($unbuilt in tiers this build leaves out), $failures problems"
[[ $failures -eq 0 ]]
