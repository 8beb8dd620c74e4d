PROGS += loftd loftctl
loftd_SRCS := board/loftd.c
loftctl_SRCS := board/loftctl.c
