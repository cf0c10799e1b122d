#!/bin/bash
# Run each libFuzzer target for SECONDS, starting from its seed corpus in
# tests/fuzz/corpus/NAME. New inputs go to build/fuzz/work/NAME (the seed
# corpus in git is never written); crashes to build/fuzz/artifacts/.
# tests/fuzz/NAME.options, if present, holds more libFuzzer flags for that
# target on one line (e.g. -max_len for units larger than the default 4096).
#
#   tests/fuzz/run.sh SECONDS build/fuzz/fuzz_NAME...
set -u
seconds=${1:?seconds}
shift
cd "$(dirname "$0")/../.."
status=0
mkdir -p build/fuzz/artifacts
for bin in "$@"; do
	name=${bin##*/fuzz_}
	work=build/fuzz/work/$name
	mkdir -p "$work"
	opts=()
	if [ -f "tests/fuzz/$name.options" ]; then
		read -ra opts < "tests/fuzz/$name.options"
	fi
	echo "== fuzz $name for ${seconds}s ${opts[*]}"
	if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 "${opts[@]}" \
		-artifact_prefix="build/fuzz/artifacts/$name-" \
		"$work" "tests/fuzz/corpus/$name" 2>"build/fuzz/$name.log"; then
		status=1
		echo "fuzz $name: FAILED, see build/fuzz/$name.log and build/fuzz/artifacts/"
		tail -40 "build/fuzz/$name.log"
	else
		grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "build/fuzz/$name.log" |
			sed "s/^/  $name /"
	fi
done
exit $status
