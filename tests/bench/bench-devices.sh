#!/bin/bash
# bench-devices.sh UBLKD: run as root in the test VM (or on a host with ublk_drv). fio against
# ublkd's devices and the kernel's own equivalents in the same boot, so the ratio means
# something even under TCG, where absolute figures do not:
#   ublkd null   vs null_blk (no data, completion at once): the cost of the ublk round trip
#   ublkd memory vs brd (the kernel's RAM disk): the same, plus a copy each way
# Prints one line per pair: IOPS of each and ublkd's share of the kernel's.
set -euo pipefail

ublkd=$(realpath "${1:?usage: bench-devices.sh UBLKD}")
runtime=${BENCH_RUNTIME:-5}
export UBLKD_RUN_DIR=$(mktemp -d /tmp/ublkd-bench.XXXXXX)
trap '"$ublkd" del --all >/dev/null 2>&1 || true; rm -rf "$UBLKD_RUN_DIR"' EXIT

# iops DEVICE RW BS QD: IOPS of a time-based fio job
iops() {
	fio --name=bench --filename="$1" --rw="$2" --bs="$3" --iodepth="$4" --direct=1 \
		--ioengine=io_uring --time_based --runtime="$runtime" --ramp_time=2 --size=256M \
		--group_reporting --output-format=terse --terse-version=3 |
		awk -F';' -v rw="$2" '{ print (rw ~ /write/) ? $49 : $8 }'
}

row() {
	local what=$1 ours=$2 theirs=$3
	awk -v w="$what" -v a="$ours" -v b="$theirs" \
		'BEGIN { printf "%-34s ublkd %9d IOPS   kernel %9d IOPS   ratio %.2f\n", w, a, b, b ? a / b : 0 }'
}

modprobe null_blk nr_devices=1 queue_mode=2 hw_queue_depth=128 gb=1 2>/dev/null ||
	{ echo "bench: modprobe null_blk failed" >&2; exit 1; }
modprobe brd rd_nr=1 rd_size=262144 2>/dev/null || { echo "bench: modprobe brd failed" >&2; exit 1; }
null_dev=$("$ublkd" add --backend null --size 1G --depth 128)
mem_dev=$("$ublkd" add --backend memory --size 256M --depth 128)
# Fill both RAM disks so reads copy real pages, not the zero page.
dd if=/dev/urandom of="$mem_dev" bs=1M count=256 oflag=direct status=none
dd if=/dev/urandom of=/dev/ram0 bs=1M count=256 oflag=direct status=none

echo "bench: fio ${runtime}s per job, io_uring engine, O_DIRECT, $(nproc) CPUs, Linux $(uname -r)"
for job in "randread 4k 1" "randread 4k 32" "randwrite 4k 32" "read 128k 8"; do
	set -- $job
	row "null   $1 $2 QD$3" "$(iops "$null_dev" "$1" "$2" "$3")" "$(iops /dev/nullb0 "$1" "$2" "$3")"
	row "memory $1 $2 QD$3" "$(iops "$mem_dev" "$1" "$2" "$3")" "$(iops /dev/ram0 "$1" "$2" "$3")"
done
