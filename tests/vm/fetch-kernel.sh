#!/bin/sh
# fetch-kernel.sh ALIAS: download and unpack the Debian kernel that ALIAS names into the cache,
# print the unpacked directory. ALIAS: 6.12 (trixie) or 7 (trixie-backports), generic amd64
# flavour (the cloud flavour has no 9p, which the harness needs to share the host root).
# The kernel is resolved through the linux-image-amd64 metapackage at run time, never pinned,
# and the apt source is derived from this system's own configuration: no mirror is named here.
set -eu
CACHE=${UBLKD_TEST_CACHE:-/var/cache/ublkd-test}
alias=${1:?usage: fetch-kernel.sh 6.12|7}
case $alias in
6.12) suite=trixie ;;
7) suite=trixie-backports ;;
*) echo "fetch-kernel: unknown kernel '$alias' (known: 6.12, 7)" >&2; exit 2 ;;
esac

apt_dir=$CACHE/apt/$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$CACHE/kernels"

# The first non-security Debian URI of the system's apt configuration (deb822, then one-line).
uri=$(awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
	/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[ -n "$uri" ] || uri=$(awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:/ && $i !~ /security/) { print $i; exit } }' \
	/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
[ -n "$uri" ] || { echo "fetch-kernel: no Debian archive URI in /etc/apt/sources.list{,.d}" >&2; exit 1; }
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$uri" "$suite" \
	> "$apt_dir/sources.list"

apt_opts="-o Dir::Etc::SourceList=$apt_dir/sources.list -o Dir::Etc::SourceParts=-
 -o Dir::State::Lists=$apt_dir/lists -o Dir::Cache::Archives=$apt_dir/archives
 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root -o Debug::NoLocking=1"

# Refresh the package list at most once a day: cached runs stay offline-fast, and a new
# point release is still picked up.
stamp=$apt_dir/lists/.updated
if [ -z "$(find "$stamp" -mtime -1 2>/dev/null)" ]; then
	# shellcheck disable=SC2086
	if apt-get $apt_opts -q update >&2; then
		touch "$stamp"
	elif ! ls "$apt_dir"/lists/*Packages* >/dev/null 2>&1; then
		echo "fetch-kernel: apt-get update for $suite failed and nothing is cached" >&2
		exit 1
	fi
fi

# shellcheck disable=SC2086
pkg=$(apt-cache $apt_opts depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve linux-image-amd64 in $suite" >&2; exit 1; }
rel=${pkg#linux-image-}
dest=$CACHE/kernels/$rel
if [ ! -d "$dest" ]; then
	# From 7.x Debian splits the image: linux-image-REL is empty and depends on these.
	# shellcheck disable=SC2086
	parts="$pkg $(apt-cache $apt_opts depends "$pkg" | awk '/Depends: linux-(binary|modules|base)-[0-9]/ { print $2 }')"
	rm -f "$apt_dir"/archives/*.deb
	# shellcheck disable=SC2086
	(cd "$apt_dir/archives" && apt-get $apt_opts -q download $parts >&2)
	rm -rf "$dest.tmp"
	for deb in "$apt_dir"/archives/*.deb; do
		dpkg -x "$deb" "$dest.tmp"
	done
	mv "$dest.tmp" "$dest"
	rm -f "$apt_dir"/archives/*.deb
fi
echo "$dest"
