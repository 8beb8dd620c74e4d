# Shared by the image scripts (sourced, not run).

# Debian's sources from this machine's apt (the only mirror it reaches),
# never a third-party repository that the host may also list.
debian_sources() {
	# Debian 12's installer writes sources.list, its cloud images
	# sources.list.d/debian.sources, mmdebstrap sources.list.d/0000*.sources:
	# the first file that lists bookworm from a Debian mirror
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		if grep -v '^[[:space:]]*#' "$f" | grep -q 'bookworm' &&
			grep -v '^[[:space:]]*#' "$f" | grep -q '/debian'; then
			echo "$f"
			return 0
		fi
	done
	echo "image: no Debian bookworm source in /etc/apt (sources.list or sources.list.d)" >&2
	echo /etc/apt/sources.list
}

# arm64 programs run under qemu-user-static through binfmt_misc; a
# container may come without binfmt_misc mounted or the handler enabled.
need_binfmt() {
	if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	fi
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
		update-binfmts --enable qemu-aarch64
	fi
	grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || {
		echo "image: binfmt_misc handler for aarch64 not enabled" >&2
		exit 1
	}
}

# The mirror (and security mirror) of this machine's Debian sources; the
# image also takes the non-free-firmware component, where Debian 12 keeps
# raspi-firmware.
debian_uri() {
	sed -n 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
		"$(debian_sources)" | grep -v -e security -e '^$' | head -1
}
debian_security_uri() {
	sed -n 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
		"$(debian_sources)" | grep security | head -1
}
