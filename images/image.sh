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
	# scripts copy the firmware and kernel there.  The initramfs takes
	# only the modules that boot the root (MODULES=list plus
	# images/initramfs-hook): with Debian's default (most) mkinitramfs
	# copies some thousand modules one emulated process at a time, which
	# took over an hour here; with the list, four minutes.  apt keeps no
	# recommends: every package the image needs is listed.  The host keys
	# are made on the board at first boot, never shipped.
	nice -n 15 mmdebstrap --variant=minbase --architectures=arm64 \
		--components=main,non-free-firmware \
		--include="$incl" \
		--aptopt='APT::Install-Recommends "false"' \
		--essential-hook='mkdir -p "$1/boot/firmware" "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"' \
		--essential-hook='printf "MODULES=list\n" >"$1/etc/initramfs-tools/conf.d/loft.conf"' \
		--essential-hook="install -m 0755 '$top/images/initramfs-hook' \"\$1/etc/initramfs-tools/hooks/loft\"" \
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

# --- 2. the image from the base --------------------------------------
deb=$(ls "$top"/build/deb/loft_*_arm64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "image: no build/deb/loft_*_arm64.deb (make deb)" >&2; exit 1; }
need_binfmt
root=$out/root
mounted=""
cleanup() {
	for m in $mounted; do umount -R "$root/$m" 2>/dev/null || umount -l "$root/$m" || true; done
	mounted=""
}
trap cleanup EXIT INT TERM
for m in proc sys dev; do
	mountpoint -q "$root/$m" 2>/dev/null && umount -R "$root/$m"
done
rm -rf --one-file-system "$root" "$out/fat"
say "copying the base root"
cp -a "$base" "$root"
for m in proc sys dev; do
	mount --rbind "/$m" "$root/$m"
	mount --make-rslave "$root/$m"
	mounted="$m $mounted"
done
inside() {
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$1"
}

say "installing $(basename "$deb") (apt, emulated)"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/loft.deb"
inside 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/loft.deb' \
	>"$out/install.log" 2>&1 || { tail -30 "$out/install.log"; exit 1; }
inside 'dpkg-query -W -f="\${Version}\n" loft' | sed 's/^/image: loft /'
inside 'apt-get clean' && rm -rf "$root"/var/lib/apt/lists/* "$root/tmp/loft.deb"

say "the board's files"
cp -r "$top"/images/rootfs/. "$root/"
install -d "$root/usr/lib/loft-image"
install -m 0755 "$top/images/firstboot.sh" "$root/usr/lib/loft-image/firstboot.sh"
install -m 0755 "$top/images/led.sh" "$root/usr/lib/loft-image/led.sh"
echo loft >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'EOH'
127.0.0.1	localhost
127.0.1.1	loft
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOH
# the box resolves through its own unbound
printf 'nameserver 127.0.0.1\nnameserver ::1\n' >"$root/etc/resolv.conf"
cat >"$root/etc/fstab" <<'EOH'
# the SD card: ext4 root, FAT firmware partition (kernel, initrd, config.txt)
LABEL=LOFTROOT	/		ext4	rw,noatime,errors=remount-ro	0	1
LABEL=LOFTBOOT	/boot/firmware	vfat	rw,noatime,umask=0022	0	2
EOH
# raspi-firmware writes cmdline.txt from this at each kernel update
if [ -f "$root/etc/default/raspi-firmware" ]; then
	sed -i 's|^#\{0,1\}ROOTPART=.*|ROOTPART=LABEL=LOFTROOT|' "$root/etc/default/raspi-firmware"
	grep -q '^ROOTPART=' "$root/etc/default/raspi-firmware" ||
		echo 'ROOTPART=LABEL=LOFTROOT' >>"$root/etc/default/raspi-firmware"
fi
if [ -f "$root/boot/firmware/cmdline.txt" ]; then
	sed -i 's|root=[^ ]*|root=LABEL=LOFTROOT|' "$root/boot/firmware/cmdline.txt"
	grep -q 'root=LABEL=LOFTROOT' "$root/boot/firmware/cmdline.txt" ||
		{ echo "image: cmdline.txt has no root=" >&2; exit 1; }
fi
# each board makes its own machine-id and SSH host keys at first boot
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
# a plausible clock before NTP answers: the build time (fake-hwclock
# loads it at boot; timesyncd never goes back past its clock file)
date -u '+%Y-%m-%d %H:%M:%S' >"$root/etc/fake-hwclock.data"
install -d "$root/var/lib/systemd/timesync"
touch "$root/var/lib/systemd/timesync/clock"
for u in systemd-networkd.service systemd-timesyncd.service loft-firstboot.service \
	loft-led.timer loft.service unbound.service avahi-daemon.service ssh.service; do
	systemctl --root="$root" enable "$u" >/dev/null 2>&1 || { echo "image: cannot enable $u" >&2; exit 1; }
done
# kernel updates on the board rebuild the initramfs (a base built while
# this was off, to spare a second emulated mkinitramfs, gets it back)
sed -i 's/^update_initramfs=no/update_initramfs=yes/' "$root/etc/initramfs-tools/update-initramfs.conf"
# systemd's own first-boot wizard would ask for a locale, a time zone and
# a root password on the console (an empty machine-id makes a first
# boot): nobody is at the console of this box
systemctl --root="$root" mask systemd-firstboot.service >/dev/null 2>&1
cleanup

# --- partitions without loop mounts ----------------------------------
# FAT: what raspi-firmware put in /boot/firmware (firmware, kernel,
# initrd, device trees, config.txt, cmdline.txt); the root keeps an empty
# mount point for it.
mv "$root/boot/firmware" "$out/fat"
mkdir "$root/boot/firmware"
fatmb=256
usedmb=$(du -sm "$root" | cut -f1)
# room for the first apt upgrades before first boot grows the partition
rootmb=$((usedmb * 5 / 4 + 300))
say "filesystems: FAT ${fatmb} MiB, ext4 ${rootmb} MiB (${usedmb} MiB used)"
rm -f "$out/fat.img" "$out/root.ext4"
mkfs.vfat -n LOFTBOOT -F 32 -C "$out/fat.img" $((fatmb * 1024)) >/dev/null
mcopy -s -p -i "$out/fat.img" "$out/fat"/* ::/
truncate -s "${rootmb}M" "$out/root.ext4"
mkfs.ext4 -q -F -L LOFTROOT -d "$root" "$out/root.ext4"

img=$top/build/loft-rpi-arm64.img
rm -f "$img" "$img.xz"
truncate -s $((4 + fatmb + rootmb))M "$img"
# 4 MiB before the first partition (the card's erase blocks); the Pi's
# boot ROM reads the first FAT partition of an MBR table
sfdisk -q "$img" <<EOS
label: dos
unit: sectors
start=8192, size=$((fatmb * 2048)), type=c, bootable
start=$((8192 + fatmb * 2048)), size=$((rootmb * 2048)), type=83
EOS
dd if="$out/fat.img" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$out/root.ext4" of="$img" bs=1M seek=$((4 + fatmb)) conv=notrunc,sparse status=none
rm -f "$out/fat.img" "$out/root.ext4"
say "compressing (xz)"
nice -n 15 xz -T2 -4 -k "$img"
say "build/loft-rpi-arm64.img.xz: $(du -m "$img.xz" | cut -f1) MB compressed, $(du -m --apparent-size "$img" | cut -f1) MB raw"
