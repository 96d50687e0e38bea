#!/bin/sh
# setup-guest.sh BUILD: the --systemd-setup step of the systemd suite, run chrooted in the test
# VM's root (the checkout is the working directory) before systemd starts. Installs ublkd as
# `make install PREFIX=/usr` would, a config of three good devices and one that cannot come up,
# an ext4 image with a marker file behind the file device, an fstab line that mounts it with
# x-systemd.requires=ublkd.service, and enables the unit.
set -eu
build=${1:?usage: setup-guest.sh BUILD}

install -D -m 0755 "$build/ublkd" /usr/sbin/ublkd
sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@SYSCONFDIR@|/etc|g' systemd/ublkd.service \
	>/etc/systemd/system/ublkd.service
install -D -m 0644 systemd/ublk_drv.conf /etc/modules-load.d/ublk_drv.conf
install -D -m 0644 man/ublkd.8 /usr/share/man/man8/ublkd.8
install -D -m 0644 man/ublkd.conf.5 /usr/share/man/man5/ublkd.conf.5

mkdir -p /var/lib/ublkd /mnt/ublk /tmp/ublkd-populate
echo "written before boot" >/tmp/ublkd-populate/marker
rm -f /var/lib/ublkd/fs.img
truncate -s 64M /var/lib/ublkd/fs.img
mkfs.ext4 -q -F -d /tmp/ublkd-populate /var/lib/ublkd/fs.img

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
CONF
echo "/dev/ublkb12 /mnt/ublk ext4 defaults,x-systemd.requires=ublkd.service 0 0" >>/etc/fstab
systemctl enable ublkd.service
