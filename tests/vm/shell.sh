#!/bin/bash
# shell.sh --kernel ALIAS [VMRUN_OPTIONS] [-- COMMAND]: an interactive root shell in a test VM, for
# debugging. The host's root is shared read-only with a RAM overlay, so the checkout and the build
# are at their usual paths (the shell starts in the checkout); busybox modprobe loads the shipped
# modules (null_blk, loop, brd, ext4). Writes are lost at exit; quit with "exit" or Ctrl-A X.
# VMRUN_OPTIONS are passed to vmrun.sh (--cpus, --mem, --out DIR, --idle-poll, --append ...).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
if [ "${1:-}" != --kernel ] || [ $# -lt 2 ]; then
	echo "usage: shell.sh --kernel ALIAS [VMRUN_OPTIONS] [-- COMMAND]" >&2
	exit 2
fi
options=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	options+=("$1")
	shift
done
[ $# -eq 0 ] || shift
command=${*:-exec bash --norc -i}

# The guest cannot ask this terminal for its size: tell it.
size=$(stty size 2>/dev/null) || size=
resize=
[ -z "$size" ] || resize="stty rows ${size% *} cols ${size#* } 2>/dev/null;"
export_ps1="export PS1='ublkd-vm:\\w# ';"
exec "$here/vmrun.sh" "${options[@]}" --interactive -- \
	"$resize $export_ps1 cd $(printf '%q' "$checkout") && $command"
