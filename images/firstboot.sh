#!/bin/sh
# First boot of the Loft image (loft-firstboot.service, before loft and
# ssh): the root partition and filesystem grown to the card, the host
# name, the SSH host keys, the owner's SSH key from the FAT partition, the
# LED set to "setup needed".  loftd then makes its self-signed
# certificate for this host name at its first start, and loft-admin shows
# the wizard at http://loft.local/.  Runs once: the unit's condition is
# the absence of /var/lib/loft-image/firstboot-done.
set -u
log() { echo "loft-firstboot: $*"; }
fw=/boot/firmware

# 1. grow the root partition to the end of the card, then its ext4
#    (online; the kernel learns the new size through partx)
rootdev=$(findmnt -no SOURCE /)
name=$(basename "$rootdev")
disk=/dev/$(lsblk -no PKNAME "$rootdev" | head -1)
partn=$(cat "/sys/class/block/$name/partition" 2>/dev/null || echo "")
if [ -b "$disk" ] && [ -n "$partn" ]; then
	before=$(lsblk -bno SIZE "$rootdev")
	if echo ", +" | sfdisk --force --no-reread --no-tell-kernel -N "$partn" "$disk" >/dev/null 2>&1 &&
		partx -u -n "$partn" "$disk" && resize2fs "$rootdev" >/dev/null 2>&1; then
		log "root grown: $before -> $(lsblk -bno SIZE "$rootdev") bytes on $disk"
	else
		log "root not grown (partition $partn of $disk); the card may already be full size"
	fi
else
	log "root device $rootdev: no partition table found; not grown"
fi

# 2. the host name: loft (so the box is http://loft.local/), or the one
#    line of loft-hostname.txt on the FAT partition
host=loft
if [ -f "$fw/loft-hostname.txt" ]; then
	h=$(tr -d '\r' <"$fw/loft-hostname.txt" | head -1 | tr -cd 'a-zA-Z0-9-')
	[ -n "$h" ] && host=$h
fi
echo "$host" >/etc/hostname
hostname "$host"
sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$host/" /etc/hosts
log "host name $host ($host.local on the network)"

# 3. keys: SSH host keys of this box (the image carries none)
ssh-keygen -A >/dev/null && log "SSH host keys made"

# 4. the owner's SSH key, if put on the FAT partition (README)
if [ -f "$fw/authorized_keys" ]; then
	install -d -m 0700 /root/.ssh
	tr -d '\r' <"$fw/authorized_keys" >/root/.ssh/authorized_keys
	chmod 0600 /root/.ssh/authorized_keys
	log "root's authorized_keys taken from the FAT partition"
fi

/usr/lib/loft-image/led.sh setup || true
mkdir -p /var/lib/loft-image
date -u +%FT%TZ >/var/lib/loft-image/firstboot-done
log "done"
