PROGS += loftd loftctl
loftd_SRCS := board/loftd.c board/logring.c
loftctl_SRCS := board/loftctl.c board/ctl_data.c board/ctl_user.c board/ctl_queue.c board/ctl_status.c board/ctl_outbound.c board/ctl_inbound.c
-include board/netwatch/build.mk
