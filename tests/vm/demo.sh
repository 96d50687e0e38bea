#!/bin/bash
# demo.sh --kernel ALIAS: "make demo", the main job. On a host whose kernel has ublk_drv it runs
# tests/vm/demo-run.sh here; otherwise it boots a test VM with that kernel and runs it inside.
# Exits with the demo's status (124/125 if the VM timed out or did not boot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
if [ "${1:-}" != --kernel ] || [ $# -ne 2 ]; then
	echo "usage: demo.sh --kernel ALIAS" >&2
	exit 2
fi
ublkd=$checkout/${BUILD:-build}/ublkd

if [ -e /dev/ublk-control ] || modprobe ublk_drv 2>/dev/null; then
	echo "demo: this kernel ($(uname -r)) has ublk: running here"
	exec "$here/demo-run.sh" "$ublkd"
fi
release=$("$here/setup.sh" --kernels "$2" | cut -f2)
echo "demo: this kernel ($(uname -r)) has no ublk: running in a VM on Linux $release (qemu TCG)"
exec "$here/vmrun.sh" --kernel "$2" --quiet --timeout 600 -- \
	"$(printf '%q' "$here/demo-run.sh") $(printf '%q' "$ublkd")"
