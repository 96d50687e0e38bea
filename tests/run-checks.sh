#!/bin/bash
# run-checks.sh --build BUILDDIR [--fuzz-build DIR] [--san-build DIR] [--kernels "6.12 7"]
# [--no-host]: the test driver of "make check". Runs BUILDDIR/tests/unit/test_* on the host, and
# with --fuzz-build each libFuzzer target of DIR (tests/fuzz/run.sh) for UBLKD_FUZZ_SECONDS
# (default 60), all at once; then, for each kernel alias, every
# BUILDDIR/tests/integration/test_* as root inside one VM booted with that kernel (tests/vm/).
# Prints each suite's output, one summary line per suite and kernel, and last
# "check: N passed, N failed" (individual tests). Exits 0 only if every expected suite ran and
# passed: a missing, crashed or timed-out suite, a suite without check's summary line, a kernel
# that cannot be fetched and a VM that does not boot or finish all count as failures.
# The plain VM also runs tests/stress/test_* at their small default size; --vm-kind stress runs
# only those (make stress, which sets UBLKD_STRESS_* to full size), and no systemd VM.
# With --san-build, the first kernel's suites run DIR/ublkd (ASan, UBSan, LeakSanitizer) and
# each report it writes counts as a failure (row "sanitizers").
# Per-suite output, exit status, the guest console and its dmesg stay in BUILDDIR/check-results/.
#   --kernels ""   host suites only
#   --no-host      VM suites only
# The kernels run side by side, one VM each at a time (UBLKD_CHECK_JOBS=1: one after the other);
# their VMs' lines are shown as they come, prefixed with the kernel, their suites' output at the end.
# Env: UBLKD_SUITE_TIMEOUT (seconds per suite, default 600), UBLKD_VM_TIMEOUT (seconds per VM,
# default: room for every suite to time out), UBLKD_CHECK_JOBS (kernels at once, default 2);
# CK_RUN_SUITE, CK_RUN_CASE, CK_FORK, CK_VERBOSITY, CK_TIMEOUT_MULTIPLIER, CK_INCLUDE_TAGS,
# CK_EXCLUDE_TAGS and UBLKD_STRESS_* (see tests/stress/test_stress.c) reach the suites; in the VM
# CK_DEFAULT_TIMEOUT is 120 (TCG is 50-100x slower). See tests/vm/README.md.
set -uo pipefail

checkout=$(cd "$(dirname "$0")/.." && pwd)
vm=$checkout/tests/vm
suite_timeout=${UBLKD_SUITE_TIMEOUT:-600}
check_jobs=${UBLKD_CHECK_JOBS:-2}

usage() {
	sed -n '2,/^set /s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

build='' kernels='' run_host=1 fuzz_build='' san_build='' vm_kind=integration
while [ $# -gt 0 ]; do
	case $1 in
	--build | --kernels | --fuzz-build | --san-build | --vm-kind)
		[ $# -ge 2 ] || usage
		case $1 in
		--vm-kind) vm_kind=$2 ;;
		--build) build=$2 ;;
		--kernels) kernels=$2 ;;
		--fuzz-build) fuzz_build=$2 ;;
		--san-build) san_build=$(cd "$2" && pwd) || exit 2 ;;
		esac
		shift
		;;
	--no-host) run_host=0 ;;
	*) usage ;;
	esac
	shift
done
[ -n "$build" ] || usage
[ -d "$build" ] || { echo "check: no build directory $build" >&2; exit 2; }
build=$(cd "$build" && pwd)
results=$build/check-results

# The suites of one kind (unit, integration): one per tests/KIND/test_*.c of the checkout, so a
# suite that failed to build is missing rather than forgotten, plus any built one. Full paths.
expected_suites() {
	local f
	{
		for f in "$checkout/tests/$1"/test_*.c; do
			[ ! -f "$f" ] || basename "$f" .c
		done
		for f in "$build/tests/$1"/test_*; do
			[ ! -f "$f" ] || [ ! -x "$f" ] || basename "$f"
		done
	} | LC_ALL=C sort -u | sed "s|^|$build/tests/$1/|"
}

# Summary rows go to a file per part (host, each kernel), which may run in a subshell of its own.
rows_file=''
add_row() { # LABEL SUITE CHECKS PASSED FAILED [REASON]
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >>"$rows_file"
}

# Turns one suite's log and exit status into its summary row. check prints
# "NN%: Checks: N, Failures: N, Errors: N"; anything else is a failure with a reason.
tally() { # LABEL SUITE LOG RC
	local label=$1 name=$2 log=$3 rc=$4 counts checks failed reason=''
	counts=$(sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\)$/\1 \2 \3/p' \
		"$log" 2>/dev/null | awk '{ c += $1; f += $2 + $3 } END { if (NR) print c, f }')
	case $rc in
	0) ;;
	124) reason="timed out after ${suite_timeout}s" ;;
	127) reason="not built" ;;
	*) if [ "$rc" -gt 128 ]; then reason="killed by signal $((rc - 128))"; else reason="exit status $rc"; fi ;;
	esac
	if [ -z "$counts" ]; then
		[ "$rc" = 124 ] || [ "$rc" = 127 ] || [ "$rc" -gt 128 ] || reason="no summary line, exit status $rc"
		add_row "$label" "$name" - 0 1 "$reason"
		return
	fi
	read -r checks failed <<<"$counts"
	if [ "$checks" = 0 ]; then
		reason="ran no test"
	elif [ "$failed" -gt 0 ] && [ "$rc" -le 1 ]; then
		reason='' # ordinary test failures: the row says enough
	fi
	[ -z "$reason" ] || [ "$failed" -gt 0 ] || failed=1
	add_row "$label" "$name" "$checks" $((checks - failed < 0 ? 0 : checks - failed)) "$failed" "$reason"
}

# The sanitized run's reports, one file per process that had any, and any that reached a suite's
# output instead (a report on stderr, shown by the test): none is a pass.
tally_sanitizers() { # LABEL DIR
	local reports
	reports=$({
		find "$2" -type f
		grep -lE '(^|: )runtime error: |ERROR: (AddressSanitizer|LeakSanitizer)' "$2"/../*.log
	} 2>/dev/null | LC_ALL=C sort)
	if [ -z "$reports" ]; then
		add_row "$1" sanitizers 1 1 0
		return
	fi
	echo "--- $1 sanitizers: $(wc -l <<<"$reports") report(s)"
	while IFS= read -r f; do
		echo "$f:"
		head -n 60 "$f" | sed 's/^/  /'
	done <<<"$reports"
	add_row "$1" sanitizers 1 0 1 "$(wc -l <<<"$reports") report(s) in $2"
}

show_log() { # LABEL SUITE LOG RC
	echo "--- $1 $2 (exit status $4)"
	cat "$3" 2>/dev/null
}

run_host_suites() {
	local suites suite name rc
	mkdir -p "$results/host"
	mapfile -t suites < <(expected_suites unit)
	if [ ${#suites[@]} -eq 0 ]; then
		add_row host "(none)" - 0 1 "no unit suites in $build/tests/unit"
		return
	fi
	echo "check: host: ${#suites[@]} unit suite(s)"
	for suite in "${suites[@]}"; do
		name=${suite##*/}
		if [ -x "$suite" ]; then
			(cd "$checkout" && UBLKD_BIN=$build/ublkd timeout -k 10 "$suite_timeout" "$suite") \
				>"$results/host/$name.log" 2>&1 </dev/null
			rc=$?
		else
			echo "check: $suite: not built" >"$results/host/$name.log"
			rc=127
		fi
		show_log host "$name" "$results/host/$name.log" "$rc"
		tally host "$name" "$results/host/$name.log" "$rc"
	done
	[ -z "$fuzz_build" ] || run_fuzzers
}

# One row per tests/fuzz/fuzz_*.c: passed when it ran its time with runs and no crash.
run_fuzzers() {
	local log=$results/host/fuzz.log f t line
	echo "check: host: fuzzing each target for ${UBLKD_FUZZ_SECONDS:-60} s"
	"$checkout/tests/fuzz/run.sh" --build "$fuzz_build" --seconds "${UBLKD_FUZZ_SECONDS:-60}" \
		--jobs 8 >"$log" 2>&1 </dev/null
	show_log host fuzz "$log" $?
	for f in "$checkout"/tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		line=$(grep "^fuzz $t: [0-9]* runs" "$log")
		if [ -z "$line" ]; then
			add_row host "$t" - 0 1 "did not run (see $log)"
		elif grep -q "^fuzz $t: FAILED" "$log" || ! grep -q "crashes 0$" <<<"$line"; then
			add_row host "$t" 1 0 1 "${line#fuzz "$t": }"
		else
			add_row host "$t" 1 1 0
		fi
	done
}

# MODE plain: our init runs the suites; MODE systemd: the guest boots systemd as PID 1 after
# tests/systemd/setup-guest.sh installed ublkd.service, and the suites run as a unit.
run_vm_suites() { # ALIAS MODE SUITE...
	local alias=$1 mode=$2 line rel vmlinux initrd label dir console suite name vm_rc why='' start var
	local vm_opts=()
	shift 2
	if ! line=$("$vm/setup.sh" --kernels "$alias") || [ -z "$line" ]; then
		for suite in "$@"; do
			add_row "$alias" "${suite##*/}" - 0 1 "kernel $alias could not be prepared"
		done
		return
	fi
	IFS=$'\t' read -r _ rel vmlinux initrd <<<"$line"
	label=${rel%%[+-]*}
	dir=$results/$rel
	if [ "$mode" = systemd ]; then
		dir=$results/$rel-systemd
		vm_opts=(--systemd --systemd-setup "$(printf '%q %q' "$checkout/tests/systemd/setup-guest.sh" "$build")")
	else
		# test_io's memory pressure test puts its backing file there, beyond the guest's RAM.
		vm_opts=(--scratch-disk 3072)
	fi
	console=$dir/console.log
	mkdir -p "$dir"
	local bin=$build/ublkd sanitized=0
	if [ -n "$san_build" ] && [ "$mode" = plain ] && [ "$alias" = "${kernels%% *}" ]; then
		bin=$san_build/ublkd sanitized=1
		mkdir -p "$dir/san"
	fi
	{
		echo "checkout=$checkout"
		echo "suite_timeout=$suite_timeout"
		echo "env=UBLKD_BIN=$bin"
		if [ $sanitized = 1 ]; then
			# Reports go to files (the daemon's stderr is often a log or /dev/null).
			echo "env=ASAN_OPTIONS=log_path=$dir/san/asan:detect_leaks=1:abort_on_error=1"
			echo "env=UBSAN_OPTIONS=log_path=$dir/san/ubsan:print_stacktrace=1"
			# What measures the daemon's own memory (huge pages, RSS) runs the plain one.
			echo "env=UBLKD_TEST_SANITIZED=1"
			echo "env=UBLKD_PLAIN_BIN=$build/ublkd"
		fi
		echo "env=CK_DEFAULT_TIMEOUT=120"
		for var in CK_RUN_SUITE CK_RUN_CASE CK_VERBOSITY CK_FORK CK_TIMEOUT_MULTIPLIER CK_INCLUDE_TAGS \
			CK_EXCLUDE_TAGS UBLKD_STRESS_DEVICES UBLKD_STRESS_CYCLES UBLKD_STRESS_KILLS \
			UBLKD_STRESS_CLIENTS; do
			[ -z "${!var:-}" ] || echo "env=$var=${!var}"
		done
		printf 'suite=%s\n' "$@"
	} >"$dir/params"

	echo "check: $rel: booting a VM ($mode) to run $# suite(s)"
	start=$SECONDS
	# The VM's own limit only matters when the guest hangs: each suite has its own timeout.
	# The console goes to console.log; only the guest's progress lines are shown.
	"$vm/vmrun.sh" --vmlinux "$vmlinux" --initrd "$initrd" --out "$dir" "${vm_opts[@]}" \
		--timeout "${UBLKD_VM_TIMEOUT:-$((120 + $# * (suite_timeout + 15)))}" \
		-- "exec $(printf '%q %q' "$vm/guest-suites.sh" "$dir")" 2>&1 </dev/null |
		tee "$console" | sed -u -n 's/^guest: /  /p'
	vm_rc=${PIPESTATUS[0]}
	echo "check: $rel: VM finished after $((SECONDS - start))s (vmrun exit status $vm_rc)"

	if ! grep -q '^ublkd-vm: run ' "$console"; then
		why="VM did not boot"
	elif [ "$vm_rc" = 124 ]; then
		why="VM timed out"
	elif [ "$vm_rc" = 125 ] || [ ! -e "$dir/done" ]; then
		why="VM ended early"
		! grep -q 'Kernel panic' "$console" || why="$why: kernel panic"
	fi
	for suite in "$@"; do
		name=${suite##*/}
		[ ! -e "$dir/$name.rc" ] || show_log "$label" "$name" "$dir/$name.log" "$(cat "$dir/$name.rc")"
	done
	if [ -n "$why" ]; then
		echo "check: $rel: $why; last console lines ($console):"
		tail -n 40 "$console" | sed 's/^/    /'
		for suite in "$@"; do
			add_row "$label" "${suite##*/}" - 0 1 "$why"
		done
		return
	fi
	for suite in "$@"; do
		name=${suite##*/}
		tally "$label" "$name" "$dir/$name.log" "$(cat "$dir/$name.rc" 2>/dev/null || echo 127)"
	done
	[ $sanitized = 0 ] || tally_sanitizers "$label" "$dir/san"
	if grep -qE 'BUG:|WARNING:|Oops|Call Trace:' "$dir/dmesg.log" 2>/dev/null; then
		echo "check: $rel: note: the guest kernel logged a warning or bug, see $dir/dmesg.log"
	fi
}

# One kernel's VMs, one after the other: the plain suites, then the systemd ones.
run_kernel() { # ALIAS
	run_vm_suites "$1" plain "${integration[@]}"
	[ ${#systemd_suites[@]} -eq 0 ] || run_vm_suites "$1" systemd "${systemd_suites[@]}"
}

# check_jobs kernels at a time. Each writes its output to a file of its own, shown at the end in
# the order given; its progress lines ("check: ..." and the guest's) are shown live, prefixed.
run_kernels() {
	local alias batch=0
	for alias in $kernels; do
		(
			rows_file=$results/rows.$alias
			run_kernel "$alias" >"$results/output.$alias" 2>&1
		) &
		tail -n +1 --pid=$! -F "$results/output.$alias" 2>/dev/null |
			sed -u -n "/^check: \\|^  [a-z_]*: exit status /s/^/[$alias] /p" &
		batch=$((batch + 1))
		if [ "$batch" -ge "$check_jobs" ]; then
			wait
			batch=0
		fi
	done
	wait
	for alias in $kernels; do
		cat "$results/output.$alias"
	done
}

rm -rf "$results"
mkdir -p "$results"
if [ $run_host = 1 ]; then
	rows_file=$results/rows.host
	run_host_suites
fi
if [ -n "${kernels// /}" ]; then
	# make check: the stress suite too, at its small default size, in the same plain VM.
	mapfile -t integration < <(expected_suites "$vm_kind"
		[ "$vm_kind" != integration ] || expected_suites stress)
	rows_file=$results/rows.vm
	if [ ${#integration[@]} -eq 0 ]; then
		add_row vm "(none)" - 0 1 "no integration suites in $build/tests/integration"
	else
		[ -x "$build/ublkd" ] || echo "check: note: $build/ublkd is not built"
		systemd_suites=()
		[ "$vm_kind" != integration ] || mapfile -t systemd_suites < <(expected_suites systemd)
		run_kernels
	fi
fi

rows=()
passed_total=0
failed_total=0
for part in host vm $kernels; do
	f=$results/rows.$part
	[ -f "$f" ] || continue
	while IFS= read -r row; do
		rows+=("$row")
		IFS=$'\t' read -r _ _ _ passed failed _ <<<"$row"
		passed_total=$((passed_total + passed))
		failed_total=$((failed_total + failed))
	done <"$f"
done
# A kernel whose part left no row at all (its subshell died) is a failure too.
for alias in $kernels; do
	[ ${#integration[@]} -eq 0 ] || [ -s "$results/rows.$alias" ] || {
		rows+=("$alias"$'\t'"(all)"$'\t'-$'\t'0$'\t'1$'\t'"no result")
		failed_total=$((failed_total + 1))
	}
done

echo "check: summary"
width=14
for row in "${rows[@]}"; do
	IFS=$'\t' read -r _ name _ <<<"$row"
	[ "${#name}" -le "$width" ] || width=${#name}
done
for row in "${rows[@]}"; do
	IFS=$'\t' read -r label name checks passed failed reason <<<"$row"
	printf '  %-11s %-*s %3s checks %3s passed %2s failed%s\n' "$label" "$width" "$name" "$checks" \
		"$passed" "$failed" "${reason:+  ($reason)}"
done
[ -n "${kernels// /}" ] || echo "check: note: VM suites were not run (no kernels given)"
if [ ${#rows[@]} -eq 0 ]; then
	echo "check: nothing was run"
	failed_total=1
fi
echo "check: $passed_total passed, $failed_total failed"
[ "$failed_total" = 0 ]
