#!/bin/bash
# mkinitramfs.sh KERNEL_DIR OUT.cpio: build the test VM's initramfs from an unpacked Debian kernel
# (from fetch-kernel.sh): static busybox, our init, and the kernel modules the tests need.
# setup.sh calls this and caches the result; run it by hand only to debug the image.
#
# BOOT_MODULES are loaded by init (ublk, the 9p host-root share, virtio-blk for --scratch-disk,
# overlayfs, configfs);
# SHIPPED_MODULES are only installed, for "modprobe NAME [params]" in the guest. Dependencies
# come from each module's depends= field and crypto soft dependencies (ext4, jbd2: crc32c) from
# the providers' alias= fields, so no kmod is needed on the host. Modules are stored
# decompressed and busybox depmod writes modules.dep and modules.alias.
set -euo pipefail

BOOT_MODULES="ublk_drv 9pnet_virtio 9p virtio_pci virtio_blk overlay configfs"
SHIPPED_MODULES="null_blk loop ext4 brd"
BUSYBOX=/bin/busybox # Debian package busybox-static

usage() { echo "usage: mkinitramfs.sh KERNEL_DIR OUT.cpio" >&2; exit 2; }
[ $# -eq 2 ] || usage
kdir=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)

moddir=
for d in "$kdir"/usr/lib/modules/* "$kdir"/lib/modules/*; do
	[ -d "$d/kernel" ] && { moddir=$d; break; }
done
[ -n "$moddir" ] || { echo "mkinitramfs: no modules directory in $kdir" >&2; exit 1; }
rel=${moddir##*/}
if [ ! -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "mkinitramfs: need a static $BUSYBOX (apt-get install busybox-static)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
dest=$root/lib/modules/$rel
mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" \
	"$root/newroot" "$dest"
cp "$BUSYBOX" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

# "name path" for every module file; names use underscores, as the kernel does.
find "$moddir/kernel" -name '*.ko*' |
	awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n); print n, $0 }' \
		>"$work/index"
: >"$work/added"

decompress() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -qdc "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

modinfo_field() { # FIELD KO: the values of one modinfo field, one per line
	tr '\0' '\n' <"$2" | sed -n "s/^$1=//p"
}

add_module() { # NAME: install it and, recursively, what it needs; built-ins are fine
	local name file dep soft cand cands
	name=${1//-/_}
	grep -qx "$name" "$work/added" && return 0
	echo "$name" >>"$work/added"
	file=$(awk -v n="$name" '$1 == n { print $2; exit }' "$work/index")
	if [ -z "$file" ]; then
		sed 's|.*/||; s|\.ko$||; s|-|_|g' "$moddir/modules.builtin" | grep -qx "$name" ||
			echo "mkinitramfs: module $name is not in $rel (skipped)" >&2
		return 0
	fi
	decompress "$file" >"$dest/$name.ko"
	for dep in $(modinfo_field depends "$dest/$name.ko" | tr , ' '); do
		add_module "$dep"
	done
	# Soft dependencies name an alias ("pre: crypto-crc32c"): ship each crypto module that
	# declares it.
	for soft in $(modinfo_field softdep "$dest/$name.ko" | sed 's/pre://g; s/post://g'); do
		mapfile -t cands < <(find "$moddir/kernel" -path '*crypto*' -name "*${soft#crypto-}*")
		for cand in "${cands[@]}"; do
			decompress "$cand" >"$work/candidate.ko"
			if modinfo_field alias "$work/candidate.ko" | grep -qx "$soft"; then
				cand=${cand##*/}
				add_module "${cand%%.ko*}"
			fi
		done
	done
}

: >"$root/etc/modules.load"
for m in $BOOT_MODULES; do
	add_module "$m"
	[ ! -f "$dest/$m.ko" ] || echo "$m" >>"$root/etc/modules.load"
done
for m in $SHIPPED_MODULES; do
	add_module "$m"
done
"$BUSYBOX" depmod -b "$root" "$rel"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out ($rel): boot-loaded: $(tr '\n' ' ' <"$root/etc/modules.load")" >&2
shipped=
for ko in "$dest"/*.ko; do
	ko=${ko##*/}
	shipped="$shipped ${ko%.ko}"
done
echo "mkinitramfs: modules:$shipped" >&2
