#!/bin/sh
# systemd-smoke.sh [--setup]: proof that vmrun.sh --systemd boots systemd in the test VM.
#   tests/vm/vmrun.sh --kernel 7 --systemd --systemd-setup 'tests/vm/systemd-smoke.sh --setup' \
#       -- tests/vm/systemd-smoke.sh
# --setup (the --systemd-setup command, chrooted in the guest root before systemd starts):
# installs and enables ublkd-smoke.service (a oneshot that echoes a line at boot) and adds an fstab
# line for a tmpfs on /mnt/ublkd-smoke. Without an option (the test command, under systemd):
# checks that PID 1 is systemd, that the boot finished with no failed unit, that the unit ran at
# boot and its line is in the journal, that the fstab mount is there and that udev makes device
# units (null_blk's /dev/nullb0). Exit 0 only if all hold.
set -u
unit=ublkd-smoke.service
line="ublkd-smoke: started at boot"
mnt=/mnt/ublkd-smoke

if [ "${1:-}" = --setup ]; then
	set -e
	cat >/etc/systemd/system/$unit <<-EOF
	[Unit]
	Description=ublkd VM smoke test: a unit enabled before boot
	[Service]
	Type=oneshot
	RemainAfterExit=yes
	ExecStart=/bin/echo "$line"
	[Install]
	WantedBy=multi-user.target
	EOF
	systemctl enable $unit
	mkdir -p $mnt
	echo "tmpfs $mnt tmpfs mode=0755,size=1M 0 0" >>/etc/fstab
	exit 0
fi

failed=0
check() { # WHAT COMMAND...: run COMMAND, report
	what=$1
	shift
	if "$@"; then
		echo "smoke: ok: $what"
	else
		echo "smoke: FAILED: $what"
		failed=$((failed + 1))
	fi
}

check "PID 1 is systemd ($(cat /proc/1/comm))" [ "$(cat /proc/1/comm)" = systemd ]
state=$(systemctl is-system-running)
check "system state is running ($state)" [ "$state" = running ]
systemctl --failed --no-legend --no-pager
check "$unit is active" systemctl -q is-active $unit
ran=$(systemctl show -P ActiveEnterTimestampMonotonic $unit)
test_start=$(systemctl show -P ExecMainStartTimestampMonotonic ublkd-vm-test.service)
check "$unit ran during the boot (at ${ran}us, the test at ${test_start}us)" \
	[ "${ran:-0}" -gt 0 ] && [ "$ran" -lt "${test_start:-0}" ]
check "the journal has $unit's output" sh -c "journalctl -b -u $unit -o cat --no-pager | grep -qx '$line'"
check "journald is running" systemctl -q is-active systemd-journald.service
check "the fstab tmpfs is mounted at $mnt" sh -c "findmnt -n -t tmpfs $mnt >/dev/null"
check "/dev/ublk-control exists" [ -c /dev/ublk-control ]
check "systemd-udevd is active" systemctl -q is-active systemd-udevd.service
modprobe null_blk nr_devices=1 && udevadm settle --timeout=30
check "udev gave /dev/nullb0 its device unit" systemctl -q is-active dev-nullb0.device
echo "smoke: $failed failed; boot: $(systemd-analyze 2>/dev/null | head -n1)"
[ $failed = 0 ]
