# loft-smtpd: inbound MX and authenticated submission (see smtpd/README.md)
PROGS += loft-smtpd
loft-smtpd_SRCS := smtpd/main.c smtpd/session.c smtpd/reply.c smtpd/txn.c smtpd/auth.c smtpd/parser.c smtpd/data.c smtpd/deliver.c smtpd/commit.c smtpd/greetpass.c smtpd/stats.c

test_smtp_parser_EXTRA := smtpd/parser.c
test_smtp_data_EXTRA := smtpd/data.c
fuzz_smtp_parser_EXTRA := smtpd/parser.c
fuzz_smtp_data_EXTRA := smtpd/data.c
test_smtp_deliver_EXTRA := smtpd/deliver.c smtpd/parser.c
test_smtp_session_EXTRA := smtpd/session.c smtpd/reply.c smtpd/txn.c smtpd/auth.c smtpd/deliver.c smtpd/parser.c smtpd/data.c \
	smtpd/commit.c smtpd/greetpass.c smtpd/stats.c
test_smtp_commit_EXTRA := smtpd/deliver.c smtpd/parser.c
test_greetpass_EXTRA := smtpd/greetpass.c

# loft-queue: outbound delivery (see smtpd/README.md)
PROGS += loft-queue
loft-queue_SRCS := smtpd/queue_main.c smtpd/queue_route.c smtpd/queue_deliver.c smtpd/queue_prepare.c \
	smtpd/queue_result.c smtpd/queue_sign.c smtpd/queue_slowstart.c \
	smtpd/queue_sync.c
test_queue_route_EXTRA := smtpd/queue_route.c smtpd/queue_slowstart.c
