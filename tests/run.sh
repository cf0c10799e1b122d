#!/bin/bash
# Run every test layer against one build: unit tests (cmocka), fuzz-corpus
# replay, integration tests (pytest). Each layer prints its runner's own
# summary; the script fails if any layer fails, after running them all.
#
#   tests/run.sh BUILD_DIR PYTHON [PYTEST_ARGS...]
set -u
O=${1:?build directory}
PYTHON=${2:?python}
shift 2
cd "$(dirname "$0")/.."

status=0
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

echo "== unit tests ($O/tests/unit)"
units=0 unit_failed=0
for t in "$O"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	units=$((units + 1))
	if "$t" >"$logdir/$name.log" 2>&1; then
		# cmocka's own summary line, e.g. "[  PASSED  ] 12 test(s)."
		printf '  %-24s %s\n' "$name" "$(grep -o '\[  PASSED  \].*' "$logdir/$name.log" | tail -1)"
	else
		unit_failed=$((unit_failed + 1))
		printf '  %-24s FAILED\n' "$name"
		sed 's/^/    /' "$logdir/$name.log"
	fi
done
echo "unit: $units suites, $unit_failed failed"
[ "$units" -gt 0 ] && [ "$unit_failed" -eq 0 ] || status=1

echo "== fuzz corpus replay ($O/tests/fuzz)"
targets=0 replay_failed=0
for r in "$O"/tests/fuzz/replay_*; do
	[ -x "$r" ] || continue
	name=${r##*/replay_}
	corpus=tests/fuzz/corpus/$name
	targets=$((targets + 1))
	if "$r" "$corpus" >"$logdir/replay_$name.log" 2>&1; then
		printf '  %-24s %s\n' "$name" "$(tail -1 "$logdir/replay_$name.log")"
	else
		replay_failed=$((replay_failed + 1))
		printf '  %-24s FAILED\n' "$name"
		sed 's/^/    /' "$logdir/replay_$name.log"
	fi
done
echo "fuzz replay: $targets targets, $replay_failed failed"
[ "$targets" -gt 0 ] && [ "$replay_failed" -eq 0 ] || status=1

echo "== integration tests (pytest)"
HOMEPORT_BUILD=$PWD/$O "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration "$@" || status=1
exit $status
