#!/bin/sh
# make image: build/loft-rpi-arm64.img.xz, Debian 12 arm64 for the
# Raspberry Pi 3, 4 and Zero 2 W (64-bit), carrying the loft .deb.
#
#   images/image.sh base   only the cached base root (the long step)
#   images/image.sh        base if missing, then the image from it
#
# Two steps, so that a new .deb does not rebuild everything:
#  1. base: mmdebstrap arm64 (qemu-user-static through binfmt_misc) of
#     images/base-packages.txt into build/image/base-HASH/, HASH being
#     that of the package list.  Half an hour or more on 2 shared cores
#     (every maintainer script and the initramfs run emulated).
#  2. image: a copy of the base, the .deb installed with apt inside (so
#     its Depends come from the mirror), the board's files (firstboot,
#     LED, network, avahi, unbound, fstab), then a FAT firmware partition
#     and an ext4 root made without loop mounts: mkfs.vfat + mcopy from
#     /boot/firmware, mkfs.ext4 -d from the root directory, both written
#     into one file partitioned with sfdisk; then xz.
# Needs root (chroot, device nodes, file ownership) and Debian's mirror.
set -eu

[ "$(id -u)" -eq 0 ] || { echo "image: needs root (chroot, file ownership)" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/image
mkdir -p "$out"
. "$top/images/common.sh"

pkglist=$(grep -v '^#' "$top/images/base-packages.txt" | grep -v '^$' | tr '\n' ' ')
hash=$(printf '%s' "$pkglist" | sha256sum | cut -c1-12)
base=$out/base-$hash

t0=$(date +%s)
say() { echo "image: [$(($(date +%s) - t0))s] $*"; }

build_base() {
	need_binfmt
	say "mmdebstrap bookworm arm64 into $base (long: emulated)"
	incl=$(echo $pkglist | tr ' ' ',')
	m=$(debian_uri)
	sec=$(debian_security_uri)
	rm -rf "$base.part"
	# The FAT partition's mount point must exist before raspi-firmware's
	# scripts copy the firmware and kernel there.  apt keeps no
	# recommends: every package the image needs is listed.  The host
	# keys are made on the board at first boot, never shipped.
	nice -n 15 mmdebstrap --variant=minbase --architectures=arm64 \
		--components=main,non-free-firmware \
		--include="$incl" \
		--aptopt='APT::Install-Recommends "false"' \
		--essential-hook='mkdir -p "$1/boot/firmware"' \
		--customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
		bookworm "$base.part" \
		"deb $m bookworm main non-free-firmware" \
		"deb $m bookworm-updates main non-free-firmware" \
		${sec:+"deb $sec bookworm-security main non-free-firmware"} \
		>"$out/base.log" 2>&1 ||
		{ tail -40 "$out/base.log"; rm -rf "$base.part"; exit 1; }
	mv "$base.part" "$base"
	say "base root ready: $(du -sm "$base" | cut -f1) MB"
}

[ -d "$base" ] || build_base
[ "${1:-}" = base ] && exit 0
