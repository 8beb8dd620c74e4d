#!/bin/sh
# Installs the Debian packages a make target needs, when any is missing.
# Usage: deps.sh run|test|cross|fuzz|bench|fresh|deb|image
# As root it runs apt-get itself; otherwise through sudo.
set -e

# lld links the static program in board/static.order (Makefile, issue 14)
build="build-essential pkg-config libmbedtls-dev libsqlite3-dev libmicrohttpd-dev libc-ares-dev libcrypt-dev zlib1g-dev libqrcodegen-dev openssl libnatpmp-dev libminiupnpc-dev lld"
# loft-admin runs uacme (ACME certificates) on the box
run_extra="uacme"
# clients nobody here wrote, and the real servers the tests talk to
fuzz="$build clang libclang-rt-14-dev"
# swaks speaks TLS only through Net::SSLeay/IO::Socket::SSL; the TLS tests
# verify against the system CA store (ca-certificates)
test="$fuzz python3 python3-pytest python3-aiosmtpd python3-dkim swaks libnet-ssleay-perl libio-socket-ssl-perl ca-certificates curl dnsmasq-base isync sqlite3 procps iproute2 python3-selenium chromium chromium-driver knot knot-dnsutils uacme pebble"
cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross file qemu-user"
cross_arm64="libc6:arm64 libmbedtls-dev:arm64 libsqlite3-dev:arm64 libmicrohttpd-dev:arm64 libc-ares-dev:arm64 libcrypt-dev:arm64 zlib1g-dev:arm64 libnatpmp-dev:arm64 libqrcodegen-dev:arm64 libminiupnpc-dev:arm64"
bench="$test postfix dovecot-imapd dovecot-pop3d"
fresh="mmdebstrap"
deb="$build dpkg-dev"
# the image: arm64 root by emulation, partitions without loop mounts, the
# boot test in qemu-system-aarch64 (python3 speaks SMTP/IMAP/HTTP to it)
image="mmdebstrap arch-test qemu-user-static binfmt-support dosfstools mtools fdisk e2fsprogs xz-utils qemu-system-arm openssh-client python3 systemd"

case "$1" in
run) want="$build $run_extra" ;;
test) want="$test" ;;
cross) want="$build $cross $cross_arm64" ;;
fuzz) want="$fuzz" ;;
bench) want="$bench" ;;
fresh) want="$fresh" ;;
deb) want="$deb" ;;
image) want="$image" ;;
*) echo "usage: $0 run|test|cross|fuzz|bench|fresh|deb|image" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	# dpkg-query names a foreign-arch package with its :arch suffix
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ "$1" = cross ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	$SUDO dpkg --add-architecture arm64
fi
export DEBIAN_FRONTEND=noninteractive
# postfix asks questions at install time; answer them up front
if echo "$missing" | grep -q postfix; then
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
fi
# another apt may be running (parallel builds): wait for dpkg's lock; the
# lists' lock has no wait, and a concurrent update refreshes them anyway
$SUDO apt-get update -qq -o DPkg::Lock::Timeout=600 ||
	echo "deps: apt-get update failed (another running?); going on" >&2
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null
