#!/bin/sh
# make deb: build/deb/loft_VERSION_ARCH.deb from one build directory.
#   images/deb.sh ARCH BUILD PROG...
# ARCH is amd64 (BUILD=build) or arm64 (BUILD=build-aarch64, make cross).
# dpkg-deb only, no debian/ source tree: the layout is small and fixed.
#   /usr/lib/loft/        loftd and every daemon (loftd finds its daemons
#                         beside itself)
#   /usr/sbin/loftd       link to /usr/lib/loft/loftd
#   /usr/bin/loftctl      the command line
#   /etc/loft/loft.conf   conffile; copied to /var/lib/loft at each start
#   /lib/systemd/system/loft.service
#   /var/lib/loft         made by postinst: root:loft 1770
# Depends come from dpkg-shlibdeps on the binaries (the arm64 ones resolve
# against the :arm64 libraries that make cross installs).
set -eu

arch=$1
build=$2
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

case "$arch" in
amd64) strip=strip multiarch=x86_64-linux-gnu ;;
arm64) strip=aarch64-linux-gnu-strip multiarch=aarch64-linux-gnu ;;
*) echo "deb: unknown arch $arch" >&2; exit 2 ;;
esac

# 0.1~gitDATE.HASH: later commits sort later; a dirty tree is marked
when=$(git log -1 --format=%cd --date=format-local:%Y%m%d%H%M 2>/dev/null || date -u +%Y%m%d%H%M)
rev=$(git rev-parse --short=8 HEAD 2>/dev/null || echo 0)
dirty=""
git diff --quiet HEAD -- 2>/dev/null || dirty="+dirty"
version=${LOFT_DEB_VERSION:-0.1~git$when.$rev$dirty}

out=$top/build/deb
stage=$out/stage-$arch
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/lib/loft" "$stage/usr/sbin" "$stage/usr/bin" \
	"$stage/etc/loft" "$stage/lib/systemd/system" "$stage/usr/share/doc/loft"

# A program that is a link to the static multi-call binary (make static:
# BUILD/loft, each program a symlink to it) stays a link to one copy.
for p in "$@"; do
	[ -x "$build/$p" ] || { echo "deb: $build/$p missing (make first)" >&2; exit 1; }
	if [ -L "$build/$p" ]; then
		t=$(readlink "$build/$p")
		if [ ! -e "$stage/usr/lib/loft/$t" ]; then
			install -m 0755 "$build/$t" "$stage/usr/lib/loft/$t"
			$strip --strip-unneeded "$stage/usr/lib/loft/$t"
		fi
		ln -s "$t" "$stage/usr/lib/loft/$p"
		[ "$p" = loftctl ] && ln -s "../lib/loft/$t" "$stage/usr/bin/loftctl"
		continue
	fi
	case "$p" in
	loftctl) dest=usr/bin ;;
	*) dest=usr/lib/loft ;;
	esac
	install -m 0755 "$build/$p" "$stage/$dest/$p"
	$strip --strip-unneeded "$stage/$dest/$p"
done
ln -s ../lib/loft/loftd "$stage/usr/sbin/loftd"
install -m 0755 images/deb/loft-config "$stage/usr/lib/loft/loft-config"
install -m 0644 board/systemd/loft.service "$stage/lib/systemd/system/loft.service"
install -m 0644 images/deb/loft.conf "$stage/etc/loft/loft.conf"
install -m 0644 README.md "$stage/usr/share/doc/loft/README.md"
install -m 0644 images/README.md "$stage/usr/share/doc/loft/README.image.md"
cat >"$stage/usr/share/doc/loft/copyright" <<'EOC'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: loft

Files: *
Copyright: the Loft authors
EOC
for s in postinst prerm postrm; do
	install -m 0755 "images/deb/$s" "$stage/DEBIAN/$s"
done
echo /etc/loft/loft.conf >"$stage/DEBIAN/conffiles"

# Depends from the ELF files' NEEDED entries, through a throwaway
# debian/control (dpkg-shlibdeps wants one)
sh=$out/shlibs-$arch
rm -rf "$sh"
mkdir -p "$sh/debian"
printf 'Source: loft\n\nPackage: loft\nArchitecture: any\n' >"$sh/debian/control"
elfs=""
for f in "$stage"/usr/lib/loft/* "$stage"/usr/bin/*; do
	[ -L "$f" ] && continue
	head -c 4 "$f" | grep -q ELF && elfs="$elfs $f"
done
# a static build needs no library: no NEEDED entry, no shlibs
needed=$(for f in $elfs; do readelf -d "$f" | grep -c NEEDED || true; done | awk '{n += $1} END {print n + 0}')
shlibs=""
if [ "${needed:-0}" -gt 0 ]; then
	shlibs=$(cd "$sh" && DEB_HOST_ARCH=$arch DEB_HOST_MULTIARCH=$multiarch \
		dpkg-shlibdeps -O -l/usr/lib/$multiarch $elfs 2>"$sh/err" | sed -n 's/^shlibs:Depends=//p') ||
		{ cat "$sh/err" >&2; exit 1; }
	[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found nothing" >&2; cat "$sh/err" >&2; exit 1; }
	shlibs="$shlibs, "
fi

# Built-Using: the source packages whose static archives the multi-call
# program carries (Debian policy 7.8: their sources must stay available
# while this binary is distributed).  Taken from the link map that
# make static writes (BUILD/loft.map, GNU ld's or lld's): every archive a member was pulled
# from, mapped to the dpkg package owning it, then to that package's
# source name and version.  The compiler's own runtime (libgcc, crt
# files: source gcc-N) is left out, as for every C program, under the GCC
# runtime library exception.  The cross toolchain's libc6-dev-ARCH-cross
# (source cross-toolchain-base) carries glibc's archives: its own
# Built-Using names the glibc version they were built from.
builtusing=""
if [ "${needed:-0}" -eq 0 ] && [ -L "$build/loftd" ]; then
	map=$build/loft.map
	[ -f "$map" ] || { echo "deb: $map missing (the static link writes it; make static again)" >&2; exit 1; }
	# absolute archive paths followed by "(member)": GNU ld's map lists
	# them under "Archive member included", lld's on each input line
	archives=$(grep -oE '(^|[[:space:]])/[^ ()]*\.a\(' "$map" | sed 's/^[[:space:]]*//; s/($//' |
		xargs -r realpath -e | sort -u)
	[ -n "$archives" ] || { echo "deb: no system archive in $map" >&2; exit 1; }
	builtusing=$(for a in $archives; do
		pkg=$(dpkg-query -S "$a" 2>/dev/null | head -1 | sed 's/: .*//') || pkg=""
		[ -n "$pkg" ] || { echo "deb: $a belongs to no Debian package" >&2; echo "!"; continue; }
		src=$(dpkg-query -W -f='${source:Package} ${source:Version}\n' "$pkg" | head -1)
		case "$src" in
		gcc-*) ;;
		cross-toolchain-base\ *)
			dpkg-query -W -f='${Built-Using}\n' "$pkg" | head -1 | tr ',' '\n' |
				sed -n 's/^ *\(glibc (= [^)]*)\).*/\1/p' ;;
		*) echo "$src" | sed 's/^\([^ ]*\) \(.*\)$/\1 (= \2)/' ;;
		esac
	done | sort -u)
	case "$builtusing" in *!*) exit 1 ;; esac
	builtusing=$(echo "$builtusing" | paste -sd, | sed 's/,/, /g')
	echo "deb: Built-Using ($arch): $builtusing"
fi

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOC
Package: loft
Version: $version
Architecture: $arch
Maintainer: Loft <dev@loft.invalid>
Installed-Size: $size
Depends: ${shlibs}passwd, init-system-helpers, procps, ca-certificates
${builtusing:+Built-Using: $builtusing
}Section: mail
Priority: optional
Description: personal mail server for a small board
 SMTP in and out, IMAP and POP3, a SQLite mailstore and a web admin with
 a setup wizard; finds out whether the home connection can deliver mail
 directly and relays through a smarthost when it cannot.  One supervisor,
 loftd, runs every daemon as the unprivileged loft user.
EOC
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
	xargs -0 md5sum >DEBIAN/md5sums)

mkdir -p "$out"
deb=$out/loft_${version}_$arch.deb
rm -f "$out"/loft_*_"$arch".deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "deb: $deb ($(du -k "$deb" | cut -f1) KB)"
