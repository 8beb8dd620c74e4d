#!/bin/sh
# make image-test: boots build/loft-rpi-arm64.img.xz in qemu-system-aarch64
# -M virt (software emulation; the kernel and initrd taken from the
# image's FAT partition) and uses it as a person would; see image_test.py.
# The guest's network is slirp with restrict=on: nothing leaves this
# machine; its ports are forwarded to free ports on 127.0.0.1.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$top/build/loft-rpi-arm64.img.xz" ] || { echo "image-test: no build/loft-rpi-arm64.img.xz (make image)" >&2; exit 1; }
exec /usr/bin/python3 "$top/images/image_test.py" "$top" "$@"
