#!/bin/bash
# setup.sh: prepare what building and testing ublkd needs.
#   setup.sh --host-packages     install the Debian packages the build and the tests use (as root),
#                                or print the apt-get command that would (not root: exit 1).
#                                One dpkg-query when everything is there.
#   setup.sh --kernels "6.12 7"  for each kernel alias: fetch the Debian kernel (fetch-kernel.sh),
#                                extract its ELF vmlinux (PVH boot skips the decompressor) and build
#                                its initramfs (mkinitramfs.sh). Cached under $UBLKD_TEST_CACHE
#                                (default /var/cache/ublkd-test); the initramfs is rebuilt when
#                                the kernel, init, mkinitramfs.sh or busybox change.
#                                Prints per kernel: ALIAS RELEASE VMLINUX INITRD (tab-separated).
#   setup.sh --udev              the host's systemd without udev (a container): fetch the Debian
#                                udev package of the same version as the host's systemd, unpack it
#                                under the cache and print that directory, for vmrun.sh --systemd
#                                (which copies it into the guest); prints nothing if the host has
#                                udev. Exit 1 if it cannot be fetched.
# Options may be given together.
set -euo pipefail

HOST_PACKAGES="gcc make pkg-config check clang qemu-system-x86 busybox-static cpio xz-utils zstd fio e2fsprogs man-db groff-base"
here=$(cd "$(dirname "$0")" && pwd)
cache=${UBLKD_TEST_CACHE:-/var/cache/ublkd-test}

usage() {
	sed -n '2,18s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

host_packages() {
	local installed missing=() wanted p
	read -ra wanted <<<"$HOST_PACKAGES"
	installed=$(dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' "${wanted[@]}" 2>/dev/null |
		awk '$1 == "ii" { print $2 }') || true
	for p in "${wanted[@]}"; do
		grep -qx "$p" <<<"$installed" || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	install_packages "${missing[@]}"
}

install_packages() {
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages: $*; as root, run:" >&2
		echo "  apt-get install -y --no-install-recommends $*" >&2
		exit 1
	fi
	echo "setup: installing $*" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package lists only if apt does not know one of the packages yet.
	apt-cache show "$@" >/dev/null 2>&1 || apt-get -q update
	apt-get install -y -q --no-install-recommends "$@"
}

# libFuzzer's runtime comes in a package named after clang's major version (make fuzz).
fuzzer_runtime() {
	local major
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
		clang -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && return 0
	major=$(clang -dumpversion | cut -d. -f1)
	install_packages "libclang-rt-$major-dev"
}

extract_vmlinux() { # BZIMAGE OUT: find the compressed ELF kernel inside a bzImage
	local magic unpack off
	for magic in '\x28\xb5\x2f\xfd:zstd' '\xfd7zXZ\x00:xz' '\x02\x21\x4c\x18:lz4'; do
		unpack=${magic##*:}
		command -v "$unpack" >/dev/null || continue
		while read -r off; do
			tail -c +$((off + 1)) "$1" | "$unpack" -qdc >"$2" 2>/dev/null || true
			[ "$(head -c4 "$2" | tail -c3)" != ELF ] || return 0
		done < <(LC_ALL=C grep -aboP "${magic%:*}" "$1" | cut -d: -f1)
	done
	rm -f "$2"
	return 1
}

prepare_kernel() { # ALIAS: print "ALIAS RELEASE VMLINUX INITRD"
	local kdir rel img bzimage f vmlinux key initrd
	kdir=$("$here/fetch-kernel.sh" "$1") || { echo "setup: cannot fetch kernel '$1'" >&2; return 1; }
	rel=${kdir##*/}
	img=$cache/images/$rel
	mkdir -p "$img"
	bzimage=
	for f in "$kdir"/boot/vmlinuz-* "$kdir"/usr/lib/modules/*/vmlinuz; do
		[ ! -f "$f" ] || bzimage=$f
	done
	[ -n "$bzimage" ] || { echo "setup: no vmlinuz in $kdir" >&2; return 1; }
	vmlinux=$img/vmlinux
	if [ ! -s "$vmlinux" ]; then
		if extract_vmlinux "$bzimage" "$vmlinux.tmp"; then
			mv "$vmlinux.tmp" "$vmlinux"
		else
			echo "setup: cannot extract vmlinux from $bzimage, booting the bzImage" >&2
			vmlinux=$bzimage
		fi
	fi
	key=$(cat <(echo "$rel") "$here/init" "$here/mkinitramfs.sh" /bin/busybox | sha256sum | cut -c1-16)
	initrd=$img/initrd-$key.cpio
	if [ ! -s "$initrd" ]; then
		echo "setup: building the initramfs for $rel" >&2
		rm -f "$img"/initrd-*.cpio
		"$here/mkinitramfs.sh" "$kdir" "$initrd" || return 1
	fi
	printf '%s\t%s\t%s\t%s\n' "$1" "$rel" "$vmlinux" "$initrd"
}

prepare_udev() { # print the unpacked udev package's root, or nothing if the host has udev
	local version dir
	[ ! -e /lib/systemd/systemd-udevd ] || return 0
	version=$(dpkg-query -W -f='${Version}' systemd) || return 1
	dir=$cache/udev/$version
	if [ ! -d "$dir/root" ]; then
		echo "setup: fetching udev $version for the guest" >&2
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		(cd "$dir.tmp" && apt-get download -q -o APT::Sandbox::User=root "udev=$version" >&2 &&
			dpkg-deb -x udev_*.deb root) || { rm -rf "$dir.tmp"; return 1; }
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir/root"
}

do_packages=0
do_udev=0
kernels=
[ $# -gt 0 ] || usage
while [ $# -gt 0 ]; do
	case $1 in
	--host-packages) do_packages=1 ;;
	--udev) do_udev=1 ;;
	--kernels)
		[ $# -ge 2 ] || usage
		kernels=$2
		shift
		;;
	*) usage ;;
	esac
	shift
done

[ $do_packages = 0 ] || { host_packages && fuzzer_runtime; }
[ -n "$kernels" ] || [ $do_udev = 1 ] || exit 0
mkdir -p "$cache/images" || {
	echo "setup: cannot create $cache (set UBLKD_TEST_CACHE to a writable directory)" >&2
	exit 1
}
# Concurrent runs (parallel make check) share the cache: one prepares at a time.
exec 9>"$cache/setup.lock"
flock 9
rc=0
if [ $do_udev = 1 ]; then
	prepare_udev || { echo "setup: cannot fetch udev for the guest" >&2; rc=1; }
fi
for alias in $kernels; do
	prepare_kernel "$alias" || rc=1
done
exit $rc
