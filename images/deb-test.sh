#!/bin/sh
# make deb-test: the amd64 .deb in a throwaway Debian 12 root, as a person
# with Debian on the board would use it: apt install ./loft_*.deb, loftd
# started from its unit, upgraded over itself (same version, then a newer
# one) keeping the mail and an edited conffile, removed (data kept),
# purged (data gone).
#
# "Started from its unit": PID 1 on this machine is not systemd, so no
# systemd-nspawn boot; the unit's ExecStartPre and ExecStart lines are
# read from the installed unit and run as written, in a chroot, in a
# network namespace of their own (loftd binds the real ports 25, 143, ...
# there, never the host's); the unit itself is checked by
# systemd-analyze verify against that root.
#
# The minbase root is cached in build/deb-test/base.tar; each run unpacks
# a fresh copy.  Needs root and Debian's mirror (apt resolves Depends).
set -eu

[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root (chroot, mounts)" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/images/common.sh"
out=$top/build/deb-test
mkdir -p "$out"
deb=$(ls "$top"/build/deb/loft_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "deb-test: no build/deb/loft_*_amd64.deb (make deb)" >&2; exit 1; }
t0=$(date +%s)
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok $((passed + failed)) - $1"; }
notok() {
	failed=$((failed + 1))
	echo "not ok $((passed + failed)) - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /' | tail -30
	return 0
}
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
	d=$1
	shift
	if o=$("$@" 2>&1); then ok "$d"; else notok "$d" "$o"; fi
}

if [ ! -f "$out/base.tar" ]; then
	echo "deb-test: mmdebstrap minbase bookworm amd64 (cached in $out/base.tar)"
	mmdebstrap --quiet --variant=minbase bookworm "$out/base.part.tar" \
		"$(debian_sources)" >"$out/base.log" 2>&1 || { tail -30 "$out/base.log"; exit 1; }
	mv "$out/base.part.tar" "$out/base.tar"
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/loft-debtest.XXXXXX")
mounted=""
nspid=""
kill_inside() {
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] && kill -KILL "${d#/proc/}" 2>/dev/null
	done
	return 0
}
cleanup() {
	[ -n "$nspid" ] && kill "$nspid" 2>/dev/null
	kill_inside
	sleep 1
	for m in $mounted; do umount -R "$root/$m" 2>/dev/null || umount -l "$root/$m" || true; done
	if [ "${DEBTEST_KEEP:-0}" = 1 ]; then
		echo "deb-test: root kept in $root"
	else
		rm -rf --one-file-system "$root"
	fi
}
trap cleanup EXIT INT TERM

tar -C "$root" -xf "$out/base.tar"
chmod 0755 "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
for m in proc sys dev; do
	mount --rbind "/$m" "$root/$m"
	mount --make-rslave "$root/$m"
	mounted="$m $mounted"
done
cp "$deb" "$root/tmp/loft.deb"

inside() {
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$1"
}

# A network namespace with only loopback, held open by a sleeping
# process; loftd and the clients enter it with nsenter.
unshare --net sh -c 'ip link set lo up && exec sleep 3600' &
nspid=$!
sleep 1
innet() { nsenter --net=/proc/$nspid/ns/net "$@"; }

# Runs the unit's ExecStartPre and ExecStart as the unit has them, loftd
# in the background inside the network namespace.
unit_start() {
	unit="$root/lib/systemd/system/loft.service"
	pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
	start=$(sed -n 's/^ExecStart=//p' "$unit")
	[ -n "$start" ] || return 1
	if [ -n "$pre" ]; then inside "$pre" || return 1; fi
	# nsenter itself in the background (not a function, which would be
	# a subshell): its pid becomes loftd's through the execs
	nsenter --net=/proc/$nspid/ns/net chroot "$root" /usr/bin/env -i LANG=C.UTF-8 \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin $start >>"$out/loftd.log" 2>&1 &
	loftd_pid=$!
	return 0
}
# Waits for a greeting on 127.0.0.1:PORT inside the namespace (30 s).
greeting() {
	innet /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, want = int(sys.argv[1]), sys.argv[2].encode()
end = time.time() + 60
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        line = s.makefile("rb").readline()
        s.close()
        if line.startswith(want):
            print(line.decode(errors="replace").strip()); sys.exit(0)
        print("got %r" % line); sys.exit(1)
    except OSError as e:
        if time.time() > end:
            print(e); sys.exit(1)
        time.sleep(0.5)
PY
}
# owner and mode as the root's own passwd and group name them
owner() { inside "stat -c '%U:%G %a' '/$1'"; }

status_is() { test "$(inside 'dpkg-query -W -f="\${Status}" loft' 2>/dev/null)" = "$1"; }
version_is() { test "$(inside 'dpkg-query -W -f="\${Version}" loft')" = "$1"; }
system_user() {
	inside 'getent passwd loft' | awk -F: '$3 < 1000 && $7 ~ /nologin/ {f = 1} END {exit !f}'
}
is_conffile() { inside 'dpkg-query -W -f="\${Conffiles}" loft' | grep -q '^ /etc/loft/loft.conf '; }
on_path() { test "$(inside 'command -v loftctl')" = /usr/bin/loftctl; }
# systemd-analyze verify against the root: nothing but what a root
# without systemd cannot have (its targets) may be reported
verify_unit() {
	v=$(systemd-analyze verify --root="$root" /lib/systemd/system/loft.service 2>&1 || true)
	printf '%s\n' "$v" | grep -v -e 'Unit sysinit.target not found' -e '^$' | grep . && return 1
	return 0
}
# loftd (pid loftd_pid) is root; the daemons it spawned run as loft
users_right() {
	lu=$(inside 'id -u loft')
	test "$(ps -o uid= -p "$loftd_pid" | tr -d ' ')" = 0 || { ps -o uid=,comm= -p "$loftd_pid"; return 1; }
	kids=$(ps -o uid=,comm= --ppid "$loftd_pid" | awk '{print $1, $2}')
	printf '%s\n' "$kids"
	printf '%s\n' "$kids" | grep -qx "$lu loft-smtpd" &&
		printf '%s\n' "$kids" | grep -qx "$lu loft-imapd" &&
		! printf '%s\n' "$kids" | grep -q '^0 '
}
# purged: dpkg has no status for loft (or not-installed), while it still
# answers for itself (so a broken chroot cannot pass this)
forgotten() {
	inside 'dpkg-query -W dpkg' >/dev/null || return 1
	case "$(inside 'dpkg-query -W -f="\${Status}" loft' 2>/dev/null)" in
	"" | *not-installed) return 0 ;;
	*) return 1 ;;
	esac
}
mailbox_listed() { inside 'loftctl user list' | grep -qx a@example.org; }
gone() { for f in "$@"; do test -e "$root/$f" -o -L "$root/$f" && { echo "$f still there"; return 1; }; done; return 0; }
# stops loftd as the unit would (KillSignal=SIGTERM) and reaps it here
# an HTTP GET / inside the namespace answers 200, or a redirect within
# the box (the wizard or its login page)
http_ok() {
	innet /usr/bin/python3 - "$1" <<'PY'
import http.client, sys, time
end = time.time() + 60
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read(4096)
        print(r.status, r.getheader("Location"), body[:200])
        sys.exit(0 if r.status == 200 or (300 <= r.status < 400) else 1)
    except OSError as e:
        if time.time() > end:
            print(e); sys.exit(1)
        time.sleep(0.5)
PY
}
stop_loftd() {
	kill -TERM "$loftd_pid" 2>/dev/null || true
	i=0
	while [ -d "/proc/$loftd_pid" ] && [ "$(cut -d' ' -f3 "/proc/$loftd_pid/stat" 2>/dev/null)" != Z ] && [ $i -lt 60 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	if wait "$loftd_pid"; then ok "loftd stops on SIGTERM (the unit's KillSignal), exit 0"; else notok "loftd stops on SIGTERM, exit 0" "exit $?"; fi
}

# Built-Using of a .deb names, with this machine's versions, the source
# of each Debian static archive the multi-call program links (what make
# static links: SQLite, mbedTLS, c-ares, zlib, libxcrypt, glibc, and
# loft-admin's and loft-netwatch's libmicrohttpd, qrcodegen, libnatpmp,
# miniupnpc), each once, as "name (= version)", and not the compiler's
# runtime (gcc).  PACKAGE[:ARCH]... are the -dev packages to find there.
built_using() {
	f=$(dpkg-deb -f "$1" Built-Using)
	shift
	echo "Built-Using: $f"
	[ -n "$f" ] || return 1
	for p in "$@"; do
		want=$(dpkg-query -W -f='${source:Package} (= ${source:Version})' "$p") || return 1
		case ", $f," in *", $want,"*) ;; *) echo "missing: $want (from $p)"; return 1 ;; esac
	done
	echo "$f" | tr ',' '\n' | sed 's/^ *//' | grep -v -x '[a-z0-9][a-z0-9.+-]* (= [0-9][A-Za-z0-9.+~:-]*)' && return 1
	echo "$f" | grep -q 'gcc' && return 1
	test "$(echo "$f" | tr ',' '\n' | sed 's/^ *//; s/ *(.*//' | sort | uniq -d)" = ""
}
static_devs="libsqlite3-dev libmbedtls-dev libc-ares-dev zlib1g-dev libcrypt-dev libmicrohttpd-dev libqrcodegen-dev libnatpmp-dev libminiupnpc-dev"
devs() { for d in $static_devs; do echo "$d:$1"; done; }
# arm64: glibc comes from the cross toolchain (libc6-dev-arm64-cross),
# whose own Built-Using names the glibc it was built from
built_using_arm64() {
	dpkg-deb -f "$1" Built-Using | grep -q "glibc (= " || { echo "no glibc"; return 1; }
	built_using "$@"
}
check "Built-Using (amd64) names glibc and each statically linked library's source" \
	built_using "$deb" libc6-dev:amd64 $(devs amd64)
debarm=$(ls "$top"/build/deb/loft_*_arm64.deb 2>/dev/null | head -1)
[ -z "$debarm" ] ||
	check "Built-Using (arm64) names glibc and each statically linked library's source" \
		built_using_arm64 "$debarm" $(devs arm64)

echo "deb-test: $(basename "$deb") into a fresh minbase root"
check "apt install ./loft.deb (Depends from the mirror)" \
	inside 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/loft.deb'
check "dpkg says installed" status_is "install ok installed"
check "loft is a system user with no login" system_user
check "/var/lib/loft is root:loft 1770" test "$(owner var/lib/loft)" = "root:loft 1770"
check "/etc/loft/loft.conf is a conffile" is_conffile
# (through the multi-call binary when the build is static)
check "/usr/sbin/loftd leads to /usr/lib/loft/loftd" test "$(readlink -f "$root/usr/sbin/loftd")" = "$(readlink -f "$root/usr/lib/loft/loftd")"
check "/usr/lib/loft/loftd is an executable" test -x "$(readlink -f "$root/usr/lib/loft/loftd")"
check "loftctl is on PATH" on_path
check "the unit is enabled (multi-user.target wants it)" \
	test -L "$root/etc/systemd/system/multi-user.target.wants/loft.service"
check "systemd-analyze verify accepts the unit" verify_unit

# loftd from its unit, then a domain and a mailbox that must survive
if unit_start; then ok "the unit's ExecStartPre and ExecStart ran"; else notok "unit start"; fi
check "loftd answers SMTP on port 25 (220)" greeting 25 220
check "loftd answers IMAP on port 143 (* OK)" greeting 143 "* OK"
check "loft-admin answers HTTP on port 80 (the wizard)" http_ok 80
check "loftd runs as root, loft-smtpd and loft-imapd as loft" users_right
# loft-queue needs the CA store for outbound TLS (a Depends, not a
# Recommends: apt here installs no recommends)
check "no daemon logged an error at start" sh -c "! grep 'level=err' '$out/loftd.log'"

check "loft.conf copied into the data directory, root:loft 0640" test "$(owner var/lib/loft/loft.conf)" = "root:loft 640"
check "the database is loft's" test "$(inside 'stat -c %U /var/lib/loft/loft.db')" = loft
check "loftctl adds a domain and a mailbox" inside \
	'loftctl domain add example.org && echo "deb test password" | loftctl user add a@example.org'
stop_loftd

# Upgrade over itself: the same version again, then a newer one; an
# edited conffile and the mailbox stay
echo "log_level = debug" >>"$root/etc/loft/loft.conf"
check "reinstall of the same .deb" inside 'apt-get install -y -qq --reinstall /tmp/loft.deb'
check "the mailbox survived the reinstall" mailbox_listed
v=$(dpkg-deb -f "$deb" Version)
rm -rf "$out/up"
dpkg-deb -R "$deb" "$out/up"
sed -i "s/^Version: .*/Version: $v+up1/" "$out/up/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$out/up" "$root/tmp/loft-up.deb" >/dev/null
check "upgrade to a newer version" inside 'apt-get install -y -qq /tmp/loft-up.deb'
check "dpkg has the newer version" version_is "$v+up1"
check "the edited conffile was kept" grep -qx "log_level = debug" "$root/etc/loft/loft.conf"
check "the mailbox survived the upgrade" mailbox_listed
if unit_start; then ok "the unit starts again after the upgrade"; else notok "unit start after upgrade"; fi
check "SMTP answers after the upgrade" greeting 25 220
check "the edited conffile reached loftd's copy" grep -qx "log_level = debug" "$root/var/lib/loft/loft.conf"
stop_loftd

check "apt remove loft" inside 'apt-get remove -y -qq loft'
check "binaries and unit gone after remove" gone usr/lib/loft/loftd usr/bin/loftctl usr/sbin/loftd lib/systemd/system/loft.service
check "mail and settings kept after remove" test -f "$root/var/lib/loft/loft.db" -a -f "$root/etc/loft/loft.conf"
check "dpkg keeps only the config files" status_is "deinstall ok config-files"
check "apt purge loft" inside 'apt-get purge -y -qq loft'
check "data, config and unit links gone after purge" gone var/lib/loft etc/loft \
	etc/systemd/system/multi-user.target.wants/loft.service
check "dpkg no longer knows loft" forgotten
check "the loft user stays after purge (Debian's way)" system_user
check "install again after purge" inside 'apt-get install -y -qq /tmp/loft.deb'
check "a fresh data directory after reinstall" test "$(owner var/lib/loft)" = "root:loft 1770"

echo "deb-test: $(($(date +%s) - t0))s; loftd's log in $out/loftd.log"
echo "deb-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
