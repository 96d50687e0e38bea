#!/bin/bash
# bench.sh --build BUILDDIR: `make bench`. For each kernel and CPU layout, boots one VM
# (tests/vm/vmrun.sh, idle=poll) that runs tests/bench/bench-guest.sh: fio on ublkd's null,
# memory and file devices, in every I/O mode the kernel offers, and on the kernel's null_blk,
# brd and loop, interleaved, in rounds. Prints one table per kernel and layout
# (tests/bench/bench-report.py): medians, ublkd / kernel ratios and their spread over rounds,
# CPU per I/O, the daemon's RSS. Under TCG absolute figures mean nothing; ratios within one boot do.
# Raw results (fio JSON, CPU ticks, console) and the tables go to
# BENCH_OUT/DATE-KERNEL/{LAYOUT/,table.txt}. Exits non-zero when a VM, a device or a fio run fails;
# an I/O mode that ublkd or the kernel does not offer is reported and skipped.
# Env (all optional):
#   BENCH_KERNELS   kernel aliases (default "6.12 7")
#   BENCH_LAYOUTS   shared (1 vCPU: fio and ublkd on it) and/or split (2 vCPUs: fio on CPU 0,
#                   ublkd on CPU 1); default "shared split"
#   BENCH_ROUNDS    rounds (default 3)
#   BENCH_RUNTIME   measured seconds per run (default 3), after BENCH_RAMP seconds (default 1)
#   BENCH_JOBS      fio jobs (default all: 4k-randread-qd64 4k-randwrite-qd64 4k-randread-qd1
#                   128k-read-qd8 128k-write-qd8)
#   BENCH_TARGETS   ublkd backends, each with its kernel reference (default "null memory file")
#   BENCH_MODES     --io-mode values tried besides the plain add (default
#                   "copy user_copy zero_copy batch"; "" for the plain add only)
#   BENCH_SIZE      RAM disks and the file (default 256M)
#   BENCH_MEM       guest RAM (default: enough for the RAM disks)
#   BENCH_OUT       where the results go (default BUILDDIR/bench)
# Quick run: BENCH_KERNELS=7 BENCH_LAYOUTS=split BENCH_ROUNDS=1 BENCH_RUNTIME=2 make bench
set -euo pipefail

checkout=$(cd "$(dirname "$0")/../.." && pwd)
usage() {
	sed -n '2,26s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
{ [ $# = 2 ] && [ "$1" = --build ]; } || usage
build=$(cd "$2" && pwd) || exit 2
ublkd=$build/ublkd
[ -x "$ublkd" ] || { echo "bench: no $ublkd (make ublkd first)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench: python3 is needed for the tables" >&2; exit 2; }

kernels=${BENCH_KERNELS:-6.12 7}
layouts=${BENCH_LAYOUTS:-shared split}
rounds=${BENCH_ROUNDS:-3}
runtime=${BENCH_RUNTIME:-3}
ramp=${BENCH_RAMP:-1}
jobs=${BENCH_JOBS:-$("$checkout/tests/bench/bench-guest.sh" --list-jobs | tr '\n' ' ')}
targets=${BENCH_TARGETS:-null memory file}
modes=${BENCH_MODES-copy user_copy zero_copy batch}
size=${BENCH_SIZE:-256M}
results=${BENCH_OUT:-$build/bench}

for n in "$rounds" "$runtime" "$ramp"; do
	case $n in '' | *[!0-9]*) echo "bench: BENCH_ROUNDS, BENCH_RUNTIME, BENCH_RAMP take whole numbers" >&2; exit 2 ;; esac
done
if [ "$rounds" -lt 1 ] || [ "$runtime" -lt 1 ]; then
	echo "bench: BENCH_ROUNDS and BENCH_RUNTIME must be 1 or more" >&2
	exit 2
fi
size_bytes=$(numfmt --from=iec "$size") || { echo "bench: BENCH_SIZE=$size: not a size" >&2; exit 2; }
size_mib=$((size_bytes >> 20))
set -f # the lists below are split on spaces, never globbed
nr_targets=$(wc -w <<<"$targets") nr_modes=$(wc -w <<<"$modes") nr_jobs=$(wc -w <<<"$jobs")
# The guest holds the file and brd, and a memory device per mode, besides its own ~768 MiB.
mem=${BENCH_MEM:-$((768 + size_mib * (3 + nr_modes)))M}
# Room for every mode to be offered; a run that hangs is stopped sooner by the guest's timeout.
max_runs=$((rounds * nr_jobs * nr_targets * (2 + nr_modes)))
vm_timeout=$((600 + max_runs * (ramp + runtime + 5) + rounds * nr_jobs * 30))

stamp=$(date +%Y%m%d-%H%M%S)
failed=() dirs=()
for kernel in $kernels; do
	dir=$results/$stamp-$kernel
	dirs+=("$dir")
	mkdir -p "$dir"
	for layout in $layouts; do
		case $layout in
		shared) cpus=1 ;;
		split) cpus=2 ;;
		*) echo "bench: unknown layout \"$layout\" (shared, split)" >&2; exit 2 ;;
		esac
		echo "bench: Linux $kernel, layout $layout: one VM (vCPUs: $cpus, RAM: $mem), results in $dir/$layout"
		guest=$(printf '%q ' "$checkout/tests/bench/bench-guest.sh" --ublkd "$ublkd" \
			--out "$dir/$layout" --layout "$layout" --rounds "$rounds" --runtime "$runtime" \
			--ramp "$ramp" --jobs "$jobs" --targets "$targets" --modes "$modes" --size "$size")
		mkdir -p "$dir/$layout"
		rc=0
		"$checkout/tests/vm/vmrun.sh" --kernel "$kernel" --idle-poll --cpus "$cpus" --mem "$mem" \
			--timeout "$vm_timeout" --out "$dir" -- "$guest" | tee "$dir/$layout/console.log" ||
			rc=$?
		if [ $rc != 0 ]; then
			failed+=("Linux $kernel, layout $layout: the VM ended with status $rc (see $dir/$layout/console.log)")
			continue
		fi
		python3 "$checkout/tests/bench/bench-report.py" "$dir/$layout" | tee -a "$dir/table.txt" ||
			failed+=("Linux $kernel, layout $layout: no table from the results in $dir/$layout")
	done
done
printf 'bench: results and tables (table.txt) in %s\n' "${dirs[@]}"
if [ ${#failed[@]} != 0 ]; then
	printf 'bench: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
