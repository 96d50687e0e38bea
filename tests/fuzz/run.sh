#!/bin/bash
# run.sh --build DIR [--seconds N] [--jobs J] [TARGET...]: runs each libFuzzer target of
# DIR/tests/fuzz (make fuzz-build) for N seconds (default 60), J at a time (default 1).
# Each starts from its seed corpus, tests/fuzz/corpus/TARGET (hand-written seeds and every
# crash found so far, so they are regression cases), and from DIR/corpus/TARGET, where the
# inputs it finds are kept for the next run. A crash leaves its input in DIR/crashes/ and fails
# the run: add it to tests/fuzz/corpus/TARGET once fixed. Prints one line per target:
#   fuzz TARGET: N runs in S s, corpus C, crashes K
# Exit status: 0 when every target ran its time without a crash, 1 otherwise, 2 on usage.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build='' seconds=60 jobs=1 targets=()
usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--build | --seconds | --jobs)
		[ $# -ge 2 ] || usage
		case $1 in
		--build) build=$2 ;;
		--seconds) seconds=$2 ;;
		--jobs) jobs=$2 ;;
		esac
		shift
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*) targets+=("$1") ;;
	esac
	shift
done
[ -n "$build" ] || usage
case $seconds$jobs in *[!0-9]*) usage ;; esac
build=$(cd "$build" && pwd) || exit 2
if [ ${#targets[@]} = 0 ]; then
	for f in "$here"/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

# One target: its libFuzzer output in DIR/logs/TARGET.log, its summary line on stdout.
run_one() {
	local t=$1 bin=$build/tests/fuzz/$1 log=$build/logs/$1.log rc runs corpus crashes
	mkdir -p "$build/corpus/$t" "$build/crashes" "$build/logs" "$here/corpus/$t"
	if [ ! -x "$bin" ]; then
		echo "fuzz $t: no $bin (make fuzz-build)"
		return 1
	fi
	# -rss_limit_mb: the targets allocate little; a leak or blow-up shows as a crash.
	"$bin" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=1024 \
		-artifact_prefix="$build/crashes/$t-" -timeout=10 \
		"$build/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	corpus=$(find "$build/corpus/$t" -type f | wc -l)
	crashes=$(find "$build/crashes" -name "$t-*" -type f -newer "$log.start" 2>/dev/null | wc -l)
	echo "fuzz $t: ${runs:-0} runs in $seconds s, corpus $corpus, crashes $crashes"
	if [ $rc != 0 ] || [ "$crashes" != 0 ] || [ -z "$runs" ]; then
		echo "fuzz $t: FAILED (exit status $rc); the end of $log:"
		tail -n 30 "$log" | sed 's/^/  /'
		return 1
	fi
}

status=0
running=0
pids=()
for t in "${targets[@]}"; do
	mkdir -p "$build/logs"
	touch "$build/logs/$t.log.start"
	run_one "$t" &
	pids+=($!)
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait "${pids[0]}" || status=1
		pids=("${pids[@]:1}")
		running=$((running - 1))
	fi
done
for pid in "${pids[@]}"; do
	wait "$pid" || status=1
done
exit $status
