#!/bin/sh
# setup-guest.sh BUILD: the --systemd-setup step of the systemd suite, run chrooted in the test
# VM's root (the checkout is the working directory) before systemd starts. Installs ublkd with
# `make install PREFIX=/usr` (binary, ublkd.service, ublkd.socket, ublkd-generator, man pages) and
# enables it, with:
# - two filesystems from fstab, each an ext4 image on / mounted through a loop device:
#   /var/lib/ublkd (the images of the first tests; a separate /var in miniature) and /srv,
#   mounted late on purpose (it waits 2 s for ublkd-test-late.service), each with an image
#   made before boot and one that `create = yes` makes at boot;
# - images in /tmp and in a /home directory with a space in its name (nothing is refused);
# - one device that cannot come up (its file does not exist);
# - fstab lines that mount two of the devices (x-systemd.requires=ublkd.service): one whose
#   image lives on /var/lib/ublkd, one whose image lives on /srv; and a noauto line for the
#   memory device, which a test formats and mounts, ordered after the service only
#   (x-systemd.after=): before systemd 254 a restart of the service also restarts the mounts
#   that require it;
# - a oneshot unit that adds a device (not enabled: a test starts it).
# Every image made before boot is an ext4 with a marker file that says where it lives.
set -eu
build=${1:?usage: setup-guest.sh BUILD}

# The way an admin installs it: the Makefile's own install, nothing copied by hand.
make --no-print-directory -s BUILD="$build" install PREFIX=/usr
# systemd's kmod cannot read the guest's modules.dep: the loop mounts need the driver now. And
# ext4 too: two fstab mounts that both make the kernel load it race, and one of them can fail
# ("request_module fs-ext4 succeeded, but still no fs?", seen once on 6.12).
modprobe loop
modprobe ext4

# An ext4 image of SIZE at IMAGE holding a marker file with TEXT (and FILES copied in).
make_ext4() { # IMAGE SIZE TEXT [FILES...]
	local image=$1 size=$2 text=$3 tree
	shift 3
	tree=$(mktemp -d)
	echo "$text" >"$tree/marker"
	[ $# -eq 0 ] || cp --sparse=always "$@" "$tree/"
	rm -f "$image"
	truncate -s "$size" "$image"
	mkfs.ext4 -q -F -d "$tree" "$image"
	rm -rf "$tree"
}

staging=/tmp/ublkd-staging
rm -rf "$staging" /ublkd-vm-disks
mkdir -p "$staging" /ublkd-vm-disks /var/lib/ublkd /srv /mnt/ublk /mnt/ublk-srv \
	"/home/ublkd images"
make_ext4 "$staging/fs.img" 64M "written before boot"
make_ext4 "$staging/data.img" 32M "on /srv before boot"
# The filesystems themselves: what they hold must be visible only once they are mounted.
make_ext4 /ublkd-vm-disks/var-lib-ublkd.ext4 128M "the /var/lib/ublkd filesystem" \
	"$staging/fs.img"
make_ext4 /ublkd-vm-disks/srv.ext4 128M "the /srv filesystem" "$staging/data.img"
rm -rf "$staging"
truncate -s 16M /tmp/ublkd-tmp.img "/home/ublkd images/home disk.img"

cat >/etc/systemd/system/ublkd-test-late.service <<'UNIT'
[Unit]
Description=ublkd test: holds the /srv mount back, as a slow disk would
DefaultDependencies=no
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sleep 2
UNIT

# Started by test_add_via_socket while ublkd.service is stopped (written now: a daemon-reload
# in the test would cost seconds under TCG).
cat >/etc/systemd/system/ublkd-test-add.service <<'UNIT'
[Unit]
Description=ublkd test: a device made by a oneshot unit
[Service]
Type=oneshot
ExecStart=/usr/sbin/ublkd add --backend memory --size 32M --id 21 --name viasock
UNIT

cat >/etc/ublkd.conf <<'CONF'
[device "nul"]
backend = null
size = 1G
id = 10

[device "ram"]
backend = memory
size = 64M
id = 11

[device "fs"]
backend = file
path = /var/lib/ublkd/fs.img
id = 12

# Valid, but its file does not exist: the unit must start anyway and name it.
[device "broken"]
backend = file
path = /var/lib/ublkd/missing.img
id = 13

# On /srv, which is mounted late: opened only once it is there.
[device "srvdata"]
backend = file
path = /srv/data.img
id = 15

# Made at boot: on the mounted /srv, not on / under the mount point.
[device "srvnew"]
backend = file
path = /srv/new.img
create = yes
size = 16M
id = 16

[device "statenew"]
backend = file
path = /var/lib/ublkd/new.img
create = yes
size = 16M
id = 17

# Anywhere an admin names works under the shipped unit.
[device "tmp"]
backend = file
path = /tmp/ublkd-tmp.img
id = 18

[device "home"]
backend = file
path = "/home/ublkd images/home disk.img"
id = 19
CONF
cat >>/etc/fstab <<'FSTAB'
/ublkd-vm-disks/var-lib-ublkd.ext4 /var/lib/ublkd ext4 loop 0 0
/ublkd-vm-disks/srv.ext4 /srv ext4 loop,x-systemd.requires=ublkd-test-late.service 0 0
/dev/ublkb12 /mnt/ublk ext4 defaults,x-systemd.requires=ublkd.service 0 0
/dev/ublkb15 /mnt/ublk-srv ext4 defaults,x-systemd.requires=ublkd.service 0 0
/dev/ublkb11 /mnt/ram ext4 noauto,x-systemd.after=ublkd.service 0 0
FSTAB
mkdir -p /mnt/ram
systemctl enable ublkd.service
