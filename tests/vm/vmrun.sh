#!/bin/bash
# vmrun.sh [OPTIONS] [-- COMMAND]: boot a test kernel under qemu (TCG) with the host's root shared
# read-only, run COMMAND (a shell command line) as root inside, power off. The booter behind
# run-checks.sh, shell.sh and demo.sh.
#   --kernel ALIAS      a kernel prepared by setup.sh (6.12, 7); or give both of:
#   --vmlinux FILE      kernel image (ELF vmlinux or bzImage)
#   --initrd FILE       initramfs from mkinitramfs.sh
#   --cpus N            vCPUs (default 2)
#   --mem SIZE          guest RAM (default 1G)
#   --scratch-disk MB   attach an empty disk of MB MiB as virtio-blk (serial "ublkd-scratch", so
#                       /dev/vda): a sparse file on the host (cache=unsafe), removed after the VM
#   --out DIR           share host DIR read-write, mounted at the same path in the guest
#   --no-host-root      run COMMAND in the initramfs (busybox) instead of in the host's root
#   --idle-poll         boot with idle=poll (steadier timings for benchmarks)
#   --append ARGS       extra kernel command line
#   --timeout SECS      kill the VM after SECS (default 600)
#   --interactive       console on this terminal (Ctrl-A X quits); COMMAND defaults to a shell
#   --quiet             hide the guest init's own lines and the exit marker
#   --systemd           boot the host's systemd as PID 1 and run COMMAND as a oneshot unit after
#                       multi-user.target, in this directory (see tests/vm/README.md)
#   --systemd-setup CMD with --systemd: run shell command CMD chrooted in the guest's root (in this
#                       directory) before systemd starts: install units, /etc files, systemctl enable
# The console goes to stdout. Exit status: COMMAND's (from the "UBLKD-VM-EXIT rc=N" marker),
# 124 if the VM timed out, 125 if it ended without the marker (did not boot, crashed), 2 on usage.
# Env: VMRUN_SHOW=1 prints the qemu command line on stderr. VMRUN_TSC replaces the default
# "tsc=unstable" (which leaves the guest on the hpet clocksource): "tsc=reliable clocksource=tsc"
# for a cheap guest clock, at the price of the rare boot oops described below.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kernel_alias='' vmlinux='' initrd='' out='' append=''
cpus=2 mem=1G scratch_mb='' host_root=1 idle_poll=0 timeout_s=600 interactive=0 quiet=0 systemd=0 setup=''

usage() {
	sed -n '2,29s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--kernel | --vmlinux | --initrd | --cpus | --mem | --scratch-disk | --out | --append | --timeout | \
		--systemd-setup)
		[ $# -ge 2 ] || usage
		case $1 in
		--kernel) kernel_alias=$2 ;;
		--vmlinux) vmlinux=$2 ;;
		--initrd) initrd=$2 ;;
		--cpus) cpus=$2 ;;
		--mem) mem=$2 ;;
		--scratch-disk) scratch_mb=$2 ;;
		--out) out=$2 ;;
		--append) append=$2 ;;
		--timeout) timeout_s=$2 ;;
		--systemd-setup) setup=$2 ;;
		esac
		shift
		;;
	--no-host-root) host_root=0 ;;
	--idle-poll) idle_poll=1 ;;
	--interactive) interactive=1 ;;
	--quiet) quiet=1 ;;
	--systemd) systemd=1 ;;
	--) shift; break ;;
	*) usage ;;
	esac
	shift
done
command=$*

if [ -n "$kernel_alias" ]; then
	IFS=$'\t' read -r _ _ vmlinux initrd < <("$here/setup.sh" --kernels "$kernel_alias")
fi
if [ -z "$vmlinux" ] || [ -z "$initrd" ]; then
	echo "vmrun: no kernel (give --kernel ALIAS, or --vmlinux and --initrd)" >&2
	exit 2
fi
for f in "$vmlinux" "$initrd"; do
	[ -r "$f" ] || { echo "vmrun: cannot read $f" >&2; exit 2; }
done

# tsc=unstable: otherwise sched_clock is marked stable ~1 s into boot by patching kernel text
# while other vCPUs run, which multi-threaded TCG races on ("Oops: int3", ~4% of boots).
cmdline="console=ttyS0 panic=-1 quiet ${VMRUN_TSC:-tsc=unstable}"
[ $idle_poll = 0 ] || cmdline="$cmdline idle=poll"
qemu=(qemu-system-x86_64 -accel tcg -M pc -cpu max -smp "$cpus" -m "$mem"
	-nodefaults -nographic -no-reboot -kernel "$vmlinux" -initrd "$initrd")
# qboot starts as fast as SeaBIOS and prints nothing on the console.
[ ! -f /usr/share/qemu/qboot.rom ] || qemu+=(-bios qboot.rom)
# shellcheck disable=SC2054 # commas separate qemu's sub-options, not array elements
if [ $host_root = 1 ]; then
	cmdline="$cmdline ublkd.root=9p"
	qemu+=(-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot)
	if [ -n "$out" ]; then
		mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
		case $out in *[[:space:],]*)
			echo "vmrun: --out path must not contain spaces or commas: $out" >&2
			exit 2
			;;
		esac
		cmdline="$cmdline ublkd.out=$out"
		qemu+=(-fsdev "local,id=out,path=$out,security_model=none,multidevs=remap"
			-device virtio-9p-pci,fsdev=out,mount_tag=out)
	fi
elif [ -n "$out" ]; then
	echo "vmrun: --out needs the host root (drop --no-host-root)" >&2
	exit 2
fi
if [ $systemd = 1 ]; then
	[ $host_root = 1 ] || { echo "vmrun: --systemd needs the host root (drop --no-host-root)" >&2; exit 2; }
	cmdline="$cmdline ublkd.systemd ublkd.cwd=$(printf '%s' "$PWD" | base64 -w0)"
	# A host without udev (a container) gets Debian's udev package unpacked into the guest.
	udev=$("$here/setup.sh" --udev) || echo "vmrun: no udev in the guest (device units will not appear)" >&2
	[ -z "$udev" ] || cmdline="$cmdline ublkd.udev=$udev"
	[ -z "$setup" ] || cmdline="$cmdline ublkd.setup=$(printf '%s' "$setup" | base64 -w0)"
elif [ -n "$setup" ]; then
	echo "vmrun: --systemd-setup needs --systemd" >&2
	exit 2
fi
scratch=''
if [ -n "$scratch_mb" ]; then
	case $scratch_mb in
	'' | *[!0-9]*) echo "vmrun: --scratch-disk takes MiB: $scratch_mb" >&2; exit 2 ;;
	esac
	# On disk, not in the guest's RAM overlay: tests that fill it need room beyond the RAM.
	scratch=$(mktemp "${TMPDIR:-/var/tmp}/ublkd-scratch.XXXXXX") &&
		truncate -s "${scratch_mb}M" "$scratch" || exit 2
	qemu+=(-drive "file=$scratch,format=raw,if=none,id=scratch,cache=unsafe"
		-device virtio-blk-pci,drive=scratch,serial=ublkd-scratch)
fi
[ $interactive = 0 ] || cmdline="$cmdline ublkd.tty ublkd.term=${TERM:-dumb}"
[ -z "$command" ] || cmdline="$cmdline ublkd.cmd=$(printf '%s' "$command" | base64 -w0)"
cmdline="$cmdline $append"
if [ ${#cmdline} -ge 2000 ]; then
	echo "vmrun: kernel command line too long (${#cmdline} chars; put the command in a script)" >&2
	exit 2
fi
[ -z "${VMRUN_SHOW:-}" ] || { printf '%q ' "${qemu[@]}" -append "$cmdline"; echo; } >&2

if [ $interactive = 1 ]; then
	"${qemu[@]}" -serial mon:stdio -append "$cmdline"
	rc=$?
	[ -z "$scratch" ] || rm -f "$scratch"
	exit $rc
fi
[ -n "$command" ] || { echo "vmrun: no COMMAND (or use --interactive)" >&2; rm -f "$scratch"; exit 2; }

# --quiet: show only what COMMAND printed: what comes between init's "run" line and the marker,
# without the empty line init prints before the marker.
drop_harness_lines() {
	awk '!started { started = /^ublkd-vm: run /; next }
		ended || /^ublkd-vm: / { next }
		/^UBLKD-VM-EXIT / { ended = 1; next }
		{ if (held) print ""; held = 0 }
		/^$/ { held = 1; next }
		{ print; fflush() }'
}

# --foreground: qemu stays in our process group, so Ctrl-C reaches it.
log=$(mktemp)
trap 'rm -f "$log" ${scratch:+"$scratch"}' EXIT
# Serial lines end in \r\n; a bare \r (progress output) becomes a line break.
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" -serial stdio -monitor none -append "$cmdline" </dev/null 2>&1 |
	sed -u 's/\r$//; s/\r/\n/g' | tee "$log" |
	if [ $quiet = 1 ]; then drop_harness_lines; else cat; fi
qemu_rc=${PIPESTATUS[0]}
rc=$(sed -n 's/.*UBLKD-VM-EXIT rc=\([0-9]*\).*/\1/p' "$log" | tail -n1)
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
	why="timed out after ${timeout_s}s" rc=124
elif [ -z "$rc" ]; then
	why="ended without an exit marker (qemu exit status $qemu_rc)" rc=125
fi
if [ -n "${why:-}" ]; then
	[ $quiet = 0 ] || { echo "vmrun: last console lines:"; tail -n 40 "$log"; } >&2
	echo "vmrun: the VM $why" >&2
fi
exit "$rc"
