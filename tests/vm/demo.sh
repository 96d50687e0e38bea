#!/bin/bash
# demo.sh --kernel ALIAS: "make demo", the main job for now: boot a test VM with that kernel and
# run "<checkout>/ublkd features" inside as root, showing only its output. Exits with its status
# (124/125 if the VM timed out or did not boot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
if [ "${1:-}" != --kernel ] || [ $# -ne 2 ]; then
	echo "usage: demo.sh --kernel ALIAS" >&2
	exit 2
fi

release=$("$here/setup.sh" --kernels "$2" | cut -f2)
echo "demo: ublkd features, on Linux $release (qemu TCG)"
exec "$here/vmrun.sh" --kernel "$2" --quiet --timeout 300 -- \
	"cd $(printf '%q' "$checkout") && exec ./ublkd features"
