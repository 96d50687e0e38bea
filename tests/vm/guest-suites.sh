#!/bin/bash
# guest-suites.sh RESULTS_DIR: the part of tests/run-checks.sh that runs as root inside the test
# VM. RESULTS_DIR is the host directory shared read-write with the guest; run-checks.sh writes
# RESULTS_DIR/params there:
#   checkout=DIR          the suites' working directory
#   suite_timeout=SECS    each suite is killed after SECS
#   env=NAME=VALUE        exported for the suites (repeatable)
#   suite=PATH            a suite to run (repeatable, in order)
# For each suite this leaves NAME.log (its output), NAME.xml (check's XML log, with each test's
# duration) and NAME.rc (its exit status; 124: timed out),
# then dmesg.log and an empty "done"; it prints one "guest: ..." progress line per suite.
set -u

results=${1:?usage: guest-suites.sh RESULTS_DIR}
checkout=/
suite_timeout=600
suites=()
while IFS= read -r line; do
	case $line in
	checkout=*) checkout=${line#*=} ;;
	suite_timeout=*) suite_timeout=${line#*=} ;;
	env=*=*) export "${line#env=}" ;;
	suite=*) suites+=("${line#*=}") ;;
	esac
done <"$results/params"
cd "$checkout" || exit 1

for suite in "${suites[@]}"; do
	name=${suite##*/}
	start=$SECONDS
	if [ -x "$suite" ]; then
		# check's XML log carries each test's duration: what to trim when the suites grow slow.
		CK_XML_LOG_FILE_NAME=$results/$name.xml timeout -k 10 "$suite_timeout" "$suite" \
			>"$results/$name.log" 2>&1 </dev/null
		rc=$?
	else
		echo "guest-suites: $suite: not found or not executable" >"$results/$name.log"
		rc=127
	fi
	echo "$rc" >"$results/$name.rc"
	echo "guest: $name: exit status $rc after $((SECONDS - start))s"
done
dmesg >"$results/dmesg.log" 2>&1
: >"$results/done"
