# loft-netwatch: the route verdict (see board/netwatch/README.md).  loftctl
# links the same probes for "loftctl route check".
NETWATCH_SRCS := board/netwatch/check.c board/netwatch/targets.c \
	board/netwatch/probe_port25.c board/netwatch/probe_router.c board/netwatch/probe_upnp.c \
	board/netwatch/ddns.c board/netwatch/dyndns2.c board/netwatch/worker.c
PROGS += loft-netwatch
loft-netwatch_SRCS := board/netwatch/main.c board/netwatch/mapping.c $(NETWATCH_SRCS)
loft-netwatch_LIBS := -lnatpmp -lminiupnpc -lpthread
loftctl_SRCS += board/ctl_route.c $(NETWATCH_SRCS)
loftctl_LIBS += -lnatpmp -lminiupnpc -lpthread
test_netwatch_probe_EXTRA := board/netwatch/probe_port25.c
fuzz_netverdict_EXTRA := board/netwatch/probe_port25.c
test_netwatch_targets_EXTRA := board/netwatch/targets.c
