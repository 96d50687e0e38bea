#!/bin/bash
# demo-run.sh UBLKD: the main job's work, as root on a kernel with ublk_drv (a host, or the test
# VM): serve the devices of ublkd.conf.example, list them, make a filesystem on one, write
# files, remount and read them back, then stop the daemon and show that no device is left.
# The example's disk image goes to a temporary directory, and the daemon's run directory too,
# so a real ublkd on the same host is not disturbed.
set -euo pipefail

ublkd=$(realpath "${1:?usage: demo-run.sh UBLKD}")
checkout=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ublkd-demo.XXXXXX)
export UBLKD_RUN_DIR=$work/run
mnt=$work/mnt
daemon_pid=

cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid"
		while kill -0 "$daemon_pid" 2>/dev/null; do sleep 0.2; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

modprobe ublk_drv 2>/dev/null || true
sed "s|^path = /var/lib/ublkd/disk.img|path = $work/disk.img|" \
	"$checkout/ublkd.conf.example" >"$work/ublkd.conf"
mkdir -p "$mnt"

step ublkd serve --config ublkd.conf.example
"$ublkd" serve --config "$work/ublkd.conf"
daemon_pid=$(cat "$UBLKD_RUN_DIR/ublkd.pid")

step ublkd list
"$ublkd" list

dev=$("$ublkd" list --json | sed -n 's/.*"name": "scratch".*"block_device": "\([^"]*\)".*/\1/p')
[ -n "$dev" ] || { echo "demo: no scratch device in ublkd list --json" >&2; exit 1; }

step mkfs.ext4 -q "$dev" "&&" mount "$dev" "$mnt"
mkfs.ext4 -q -F "$dev"
mount "$dev" "$mnt"
step "write 3 files of random data, note their sha256"
for i in 1 2 3; do head -c $((i * 3))M /dev/urandom >"$mnt/file$i"; done
(cd "$mnt" && sha256sum file1 file2 file3) | tee "$work/sums"
step umount "&&" mount again "&&" sha256sum -c
umount "$mnt"
mount "$dev" "$mnt"
(cd "$mnt" && sha256sum -c "$work/sums")
df -h "$mnt" | tail -1
umount "$mnt"

step add one more from the command line: ublkd add --backend memory --size 256M --name extra
"$ublkd" add --backend memory --size 256M --name extra
"$ublkd" list

step kill -TERM "<ublkd pid>" "   # every device is stopped and deleted"
kill -TERM "$daemon_pid"
while kill -0 "$daemon_pid" 2>/dev/null; do sleep 0.2; done
daemon_pid=
tail -n 6 "$UBLKD_RUN_DIR/ublkd.log"
step ublkd list
"$ublkd" list
