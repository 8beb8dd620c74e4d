#!/bin/sh
# The board's activity LED tells the state of the box:
#   setup     slow blink (1 s on, 1 s off): the wizard waits at http://loft.local/
#   running   heartbeat: set up, loft running
#   trouble   fast blink (0.1 s): loft is not running (failed, restarting)
#   led.sh STATE | auto      (auto: what the box is in now; loft-led.timer)
# Where the kernel exposes no LED (a VM, another board) it only says the
# state.  The state is also kept in /run/loft-led.state.
set -u
state=${1:-auto}

# Set up or not: loft-admin sends / to /setup until the wizard is done.
# Asked over loopback HTTP (bash's /dev/tcp), so nothing here reads the
# database.
setup_done() {
	r=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/80 &&
		printf "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && head -c 2048 <&3' 2>/dev/null) || return 2
	case "$r" in
	*"Location: /setup"*) return 1 ;;
	HTTP/1.?" 30"*) return 0 ;;
	*) return 2 ;;
	esac
}

if [ "$state" = auto ]; then
	if ! systemctl is-active -q loft.service; then
		state=trouble
	else
		setup_done
		case $? in
		0) state=running ;;
		1) state=setup ;;
		*) state=trouble ;;
		esac
	fi
fi
case "$state" in
setup) trig=timer on=1000 off=1000 ;;
running) trig=heartbeat on="" off="" ;;
trouble) trig=timer on=100 off=100 ;;
*) echo "usage: led.sh setup|running|trouble|auto" >&2; exit 2 ;;
esac
echo "$state" >/run/loft-led.state 2>/dev/null || true

led=""
for n in ACT led0 act; do
	if [ -d "/sys/class/leds/$n" ]; then
		led=/sys/class/leds/$n
		break
	fi
done
if [ -z "$led" ]; then
	echo "led: $state (no activity LED on this machine)"
	exit 0
fi
# unchanged state: leave the blinking alone (rewriting restarts it)
if [ "$(cat /run/loft-led.applied 2>/dev/null)" = "$state" ]; then
	exit 0
fi
echo "$trig" >"$led/trigger"
if [ -n "$on" ]; then
	echo "$on" >"$led/delay_on"
	echo "$off" >"$led/delay_off"
fi
echo "$state" >/run/loft-led.applied
echo "led: $state on $led"
