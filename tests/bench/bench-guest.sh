#!/bin/bash
# bench-guest.sh --ublkd BIN --out DIR --layout shared|split [OPTIONS]: the guest side of
# `make bench` (tests/bench/bench.sh boots it; also runs as root on a host with ublk_drv).
# fio against ublkd's devices and the kernel's own in one boot, so that ratios mean something
# even under TCG, where absolute figures do not:
#   ublkd null   vs null_blk (no data, completion in submission): the ublk round trip
#   ublkd memory vs brd (the kernel's RAM disk): the same plus a copy each way
#   ublkd file   vs loop with direct I/O, both on one file in a tmpfs
# Each ublkd backend runs as a plain `add` (the default I/O mode) and once per --io-mode the
# kernel and backend offer. Every target is set up first; then each round runs every job on
# every target in turn, so slow drift of the VM's speed hits all targets alike.
# Writes the raw results to DIR (bench-report.py turns them into the table): meta.txt,
# targets.tsv, runs.tsv (one line a run: CPU ticks of the measured window), notes.txt (modes not
# offered), fio/*.json, ublkd-status.txt and ublkd-threads.txt (the daemon after the runs).
#   --rounds N        rounds (default 3)
#   --runtime SECS    measured seconds per run (default 3)
#   --ramp SECS       unmeasured seconds before each run (default 1)
#   --jobs "LIST"     jobs to run (default: all, as listed by --list-jobs)
#   --targets "LIST"  ublkd backends, each with its kernel reference (default "null memory file")
#   --modes "LIST"    --io-mode values to try besides the plain add
#                     (default "copy user_copy zero_copy batch")
#   --size SIZE       RAM disks and the file, as fio and losetup take it (default 256M)
set -euo pipefail

# name rw bs iodepth. QD1 latency is fio's total latency (lat), since null_blk and brd complete
# inside submission and their completion latency (clat) is close to nothing.
all_jobs="4k-randread-qd64 randread 4k 64
4k-randwrite-qd64 randwrite 4k 64
4k-randread-qd1 randread 4k 1
128k-read-qd8 read 128k 8
128k-write-qd8 write 128k 8"

usage() {
	sed -n '2,23s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

ublkd='' out='' layout='' rounds=3 runtime=3 ramp=1 jobs='' targets='null memory file'
modes='copy user_copy zero_copy batch' size=256M
while [ $# -gt 0 ]; do
	case $1 in
	--list-jobs) echo "$all_jobs" | cut -d' ' -f1; exit 0 ;;
	--ublkd | --out | --layout | --rounds | --runtime | --ramp | --jobs | --targets | --modes | --size)
		[ $# -ge 2 ] || usage
		case $1 in
		--ublkd) ublkd=$2 ;;
		--out) out=$2 ;;
		--layout) layout=$2 ;;
		--rounds) rounds=$2 ;;
		--runtime) runtime=$2 ;;
		--ramp) ramp=$2 ;;
		--jobs) jobs=$2 ;;
		--targets) targets=$2 ;;
		--modes) modes=$2 ;;
		--size) size=$2 ;;
		esac
		shift
		;;
	*) usage ;;
	esac
	shift
done
{ [ -n "$ublkd" ] && [ -n "$out" ] && [ -n "$layout" ]; } || usage
ublkd=$(realpath "$ublkd")
read -ra job_list <<<"${jobs:-$(echo "$all_jobs" | cut -d' ' -f1 | tr '\n' ' ')}"

die() {
	echo "bench: $*" >&2
	exit 1
}

declare -A job_spec
while read -r name rw bs qd; do
	job_spec[$name]="$rw $bs $qd"
done <<<"$all_jobs"
for job in "${job_list[@]}"; do
	[ -n "${job_spec[$job]:-}" ] || die "unknown job \"$job\" ($(echo "$all_jobs" | cut -d' ' -f1 | tr '\n' ' '))"
done

# Only two layouts are defensible under TCG (see tests/vm/vm-notes: an unpinned server thread
# that lands on fio's vCPU halves its figure).
#   split:  2 vCPUs, fio on CPU 0, the daemon and its queue thread on CPU 1.
#   shared: 1 vCPU for fio and the server. A VM booted with one vCPU, not two with both pinned
#           to one: kernel work that is not bound to the submitting task (loop's workqueue,
#           io_uring's io-wq workers, softirqs) would otherwise get the idle second vCPU, which
#           favours whichever target leans on it and leaves the comparison unclear.
case $layout in
split)
	fio_cpu=0 server_cpu=1
	[ "$(nproc)" -ge 2 ] || die "layout split needs 2 CPUs, this system has $(nproc)"
	;;
shared)
	fio_cpu=0 server_cpu=0
	[ "$(nproc)" = 1 ] ||
		echo "bench: layout shared on $(nproc) CPUs: kernel helpers may use the other CPUs" >&2
	;;
*) usage ;;
esac

mkdir -p "$out/fio"
out=$(realpath "$out")
work=$(mktemp -d /tmp/ublkd-bench.XXXXXX)
export UBLKD_RUN_DIR=$work/run
loop_dev='' daemon_pid=''
cleanup() {
	"$ublkd" del --all >/dev/null 2>&1 || true
	[ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
	[ -z "$loop_dev" ] || losetup -d "$loop_dev" 2>/dev/null || true
	umount "$work/tmpfs" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

size_bytes=$(numfmt --from=iec "$size") || die "--size $size: not a size"
clk_tck=$(getconf CLK_TCK)

# stat_ticks LINE: sets busy and total, the ticks of all CPUs in the "cpu" LINE of /proc/stat.
# idle and iowait are idle time; so is idle=poll's spinning (an idle guest shows ~1% busy).
# Sets variables rather than printing: a subshell is a fork, which costs under TCG.
stat_ticks() {
	local _cpu user nice system idle iowait irq softirq steal _rest
	read -r _cpu user nice system idle iowait irq softirq steal _rest <<<"$1"
	busy=$((user + nice + system + irq + softirq + steal))
	total=$((busy + idle + iowait))
}

{
	echo "kernel=$(uname -r)"
	echo "layout=$layout"
	echo "cpus=$(nproc)"
	echo "fio_cpu=$fio_cpu"
	echo "server_cpu=$server_cpu"
	echo "rounds=$rounds"
	echo "runtime=$runtime"
	echo "ramp=$ramp"
	echo "size=$size"
	echo "clk_tck=$clk_tck"
	echo "fio=$(fio --version)"
	echo "cmdline=$(sed 's/ ublkd\.cmd=[^ ]*//' /proc/cmdline)"
	echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
} >"$out/meta.txt"

# ---- targets ----
# targets.tsv: id, kind (kernel or ublkd), device, kernel reference (ublkd rows), io mode.
target_ids=()
declare -A target_dev
add_target() {
	target_ids+=("$1")
	target_dev[$1]=$3
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" "${5:-}" >>"$out/targets.tsv"
}
: >"$out/targets.tsv"
: >"$out/notes.txt"

has_target() { case " $targets " in *" $1 "*) return 0 ;; esac; return 1; }
for t in $targets; do
	case $t in null | memory | file) ;; *) die "unknown target \"$t\" (null, memory, file)" ;; esac
done

echo "bench: setting up (Linux $(uname -r), layout $layout, $(nproc) CPUs, ${size} RAM disks)"
file=$work/tmpfs/data
mkdir -p "$work/tmpfs"
if has_target memory || has_target file; then
	# tmpfs: the same medium as brd and the memory backend, and since Linux 6.6 it takes
	# O_DIRECT, which loop's and ublkd's direct I/O need. Random data, so that reads copy real
	# pages everywhere (a hole or the zero page would be cheaper).
	mount -t tmpfs -o size=$((size_bytes + (16 << 20))) ublkd-bench "$work/tmpfs" ||
		die "cannot mount a tmpfs for the file targets"
	head -c "$size_bytes" /dev/urandom >"$file" || die "cannot fill $file"
	echo "bench: [${SECONDS}s] filled $file"
fi
# fill DEVICE: the random data onto a RAM disk.
fill() {
	# Large writes: several requests in flight, fewer round trips to a slow server.
	dd if="$file" of="$1" bs=8M oflag=direct status=none || die "cannot fill $1"
	echo "bench: [${SECONDS}s] filled $1"
}

# irqmode=0: completion inside submission, the cheapest the kernel can do.
if has_target null; then
	modprobe null_blk nr_devices=1 queue_mode=2 irqmode=0 submit_queues=1 hw_queue_depth=128 \
		gb=1 || die "modprobe null_blk failed"
	add_target null_blk kernel /dev/nullb0
fi
if has_target memory; then
	modprobe brd rd_nr=1 rd_size=$((size_bytes >> 10)) || die "modprobe brd failed"
	fill /dev/ram0
	add_target brd kernel /dev/ram0
fi
if has_target file; then
	modprobe loop 2>/dev/null || true # built in, or already loaded
	loop_dev=$(losetup --direct-io=on -f --show "$file") || die "losetup --direct-io=on $file failed"
	[ "$(cat "/sys/block/${loop_dev#/dev/}/loop/dio")" = 1 ] ||
		die "loop: direct I/O did not take on $file ($loop_dev)"
	add_target loop kernel "$loop_dev"
fi

# One daemon for every ublkd device, pinned like its queue threads (--cpus), so that nothing
# of the server runs on fio's CPU.
taskset -c "$server_cpu" "$ublkd" serve || die "ublkd serve failed"
daemon_pid=$(cat "$UBLKD_RUN_DIR/ublkd.pid")

# ublkd_add BACKEND MODE: add the device (MODE auto: no --io-mode); prints the device. Fails
# with ublkd's message on stderr.
ublkd_add() {
	local backend=$1 mode=$2 args
	args=(--name "bench-$backend-$mode" --backend "$backend" --queues 1 --cpus "$server_cpu"
		--depth 128)
	case $backend in
	null) args+=(--size 1G) ;;
	memory) args+=(--size "$size_bytes") ;;
	file) args+=(--path "$file" --direct-io=yes) ;;
	esac
	[ "$mode" = auto ] || args+=(--io-mode "$mode")
	"$ublkd" add "${args[@]}"
}

declare -A ref=([null]=null_blk [memory]=brd [file]=loop)
declare -A added # "backend/mode" -> device
for backend in $targets; do
	dev=$(ublkd_add "$backend" auto 2>"$work/err") ||
		die "ublkd add --backend $backend failed: $(cat "$work/err")"
	added[$backend/auto]=$dev
	for mode in $modes; do
		rc=0
		dev=$(ublkd_add "$backend" "$mode" 2>"$work/err") || rc=$?
		if [ $rc = 0 ]; then
			added[$backend/$mode]=$dev
		else
			msg=$(head -n1 "$work/err")
			msg="$backend/$mode: not offered: ${msg:-ublkd add exited with status $rc}"
			echo "bench: $msg"
			echo "$msg" >>"$out/notes.txt"
		fi
	done
done

# The io_mode each device got, by name, from `ublkd list --json` (none until ublkd reports it).
"$ublkd" list --json >"$out/list.json" || die "ublkd list --json failed"
declare -A io_mode
while read -r name m; do
	io_mode[$name]=$m
done < <(python3 -c '
import json, sys
for d in json.load(open(sys.argv[1])):
    print(d.get("name"), d.get("io_mode") or "")
' "$out/list.json")

for backend in $targets; do
	auto_mode=${io_mode[bench-$backend-auto]:-}
	add_target "$backend/${auto_mode:-default}" ublkd "${added[$backend/auto]}" "${ref[$backend]}" \
		"${auto_mode:+auto=$auto_mode}"
	for mode in $modes; do
		[ -n "${added[$backend/$mode]:-}" ] || continue
		got=${io_mode[bench-$backend-$mode]:-}
		if [ -n "$auto_mode" ] && [ "$mode" = "$auto_mode" ]; then
			# The same device twice would double the run time and tell nothing new.
			"$ublkd" del "bench-$backend-$mode" >/dev/null || die "ublkd del bench-$backend-$mode failed"
			echo "$backend/$mode: the default add chose $mode: measured once, as $backend/$mode" >>"$out/notes.txt"
			continue
		fi
		[ -z "$got" ] || [ "$got" = "$mode" ] ||
			echo "$backend/$mode: ublkd list reports io_mode $got" >>"$out/notes.txt"
		add_target "$backend/$mode" ublkd "${added[$backend/$mode]}" "${ref[$backend]}" "$mode"
	done
done
if has_target memory; then
	for id in "${target_ids[@]}"; do
		case $id in memory/*) fill "${target_dev[$id]}" ;; esac
	done
fi

# ---- runs ----
# One fio process per job and round, as its start costs ~1.5 s under TCG (it links 64
# libraries): one fio job per target, each waiting for the one before (stonewall). Each reads
# /proc/stat just before its first I/O and after its last one (fio's exec_prerun and
# exec_postrun, which write JOBNAME.prerun.txt in the current directory): the share of busy
# CPU time in that window, over fio's IOPS, is the CPU per I/O. The window holds the ramp too
# (steady state as well) but not fio's start and teardown. The reads are shell builtins, one
# fork of sh each: ~0.1 s of CPU in a window of seconds, alike for every target.
# shellcheck disable=SC2016 # expanded by fio's sh
stat_cmd='read -r l </proc/stat; echo "$l"'
mkdir -p "$work/fio"
: >"$out/runs.tsv"
run_job() { # ROUND JOB TARGET...
	local round=$1 job=$2 rw bs qd json id name line busy total busy0 total0 args=()
	shift 2
	read -r rw bs qd <<<"${job_spec[$job]}"
	json=fio/r$round-$job.json
	for id in "$@"; do
		name=${id//\//_}
		args+=(--name="$name" --filename="${target_dev[$id]}" --stonewall
			--exec_prerun="$stat_cmd" --exec_postrun="$stat_cmd")
	done
	rm -f "$work/fio"/*.txt
	(
		cd "$work/fio"
		timeout -k 10 $(($# * (ramp + runtime + 30) + 60)) taskset -c "$fio_cpu" \
			fio --output-format=json --output="$out/$json" --ioengine=io_uring --direct=1 \
			--time_based --ramp_time="$ramp" --runtime="$runtime" --norandommap --disk_util=0 \
			--eta=never --lat_percentiles=1 --percentile_list=50:99 --rw="$rw" --bs="$bs" \
			--iodepth="$qd" "${args[@]}" \
			>"$work/fio.log" 2>&1
	) || die "fio failed: job $job, round $round, on $* ($(for id in "$@"; do printf '%s=%s ' "$id" "${target_dev[$id]}"; done)): $(tail -n5 "$work/fio.log")"
	for id in "$@"; do
		name=${id//\//_}
		{ [ -s "$work/fio/$name.prerun.txt" ] && [ -s "$work/fio/$name.postrun.txt" ]; } ||
			die "fio ran no exec_prerun/exec_postrun: job $job on $id"
		read -r line <"$work/fio/$name.prerun.txt"
		stat_ticks "$line"
		busy0=$busy total0=$total
		read -r line <"$work/fio/$name.postrun.txt"
		stat_ticks "$line"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$job" "$id" $((busy - busy0)) \
			$((total - total0)) "$json" "$name" >>"$out/runs.tsv"
	done
}

# "NAME IOPS" of each measured job in a fio JSON file, for the progress lines (the report
# parses the JSON properly): the first "iops" after a job's name is its read side, the second
# its write side.
fio_iops() {
	awk '/"jobname" : / { name = $3; gsub(/[",]/, "", name); n = 0; s = 0 }
		name != "" && /"iops" :/ {
			s += $3
			if (++n == 2) { printf " %s %.0f", name, s; name = "" }
		}' "$1"
}

n=${#target_ids[@]}
# What the guest spends doing nothing (the daemon and its devices idle), as a reference for the
# CPU per I/O figures. Shell builtins only, as a fork and exec costs ~0.1 s of CPU under TCG:
# read times out on a FIFO that nothing writes.
mkfifo "$work/never"
read -r idle0 </proc/stat
read -rt 5 _ <>"$work/never" || true
read -r idle1 </proc/stat
stat_ticks "$idle0"
busy0=$busy total0=$total
stat_ticks "$idle1"
echo "idle_busy_pct=$(awk -v b=$((busy - busy0)) -v t=$((total - total0)) 'BEGIN { printf "%.1f", t ? 100 * b / t : 0 }')" >>"$out/meta.txt"

echo "bench: [${SECONDS}s] $n targets: ${target_ids[*]}"
echo "bench: $rounds rounds x ${#job_list[@]} jobs x $n targets, ${ramp}+${runtime} s a run"
for round in $(seq 1 "$rounds"); do
	# Each round starts at another target, so none always runs first or right after another.
	order=()
	for i in $(seq 0 $((n - 1))); do
		order+=("${target_ids[$(((i + round - 1) % n))]}")
	done
	for job in "${job_list[@]}"; do
		run_job "$round" "$job" "${order[@]}"
		echo "bench: [${SECONDS}s] round $round/$rounds $job IOPS:$(fio_iops "$out/fio/r$round-$job.json")"
	done
done

# The daemon after the runs: its memory and where its threads ran.
cp "/proc/$daemon_pid/status" "$out/ublkd-status.txt"
ps -L -o tid,psr,time,comm -p "$daemon_pid" >"$out/ublkd-threads.txt" || true
echo "bench: done, results in $out"
