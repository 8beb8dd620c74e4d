# loft-imapd: IMAP4rev1 (imapd/*.c except pop3) and POP3 (imapd/pop3*.c).
PROGS += loft-imapd
loft-imapd_SRCS := imapd/main.c imapd/parser.c imapd/session.c imapd/mailbox.c \
	imapd/fetch.c imapd/search.c imapd/mutf7.c imapd/imapdate.c imapd/seqset.c \
	$(wildcard imapd/pop3*.c)

test_imap_parser_EXTRA := imapd/parser.c
test_imap_util_EXTRA := imapd/mutf7.c imapd/imapdate.c imapd/seqset.c
fuzz_imap_parser_EXTRA := imapd/parser.c
fuzz_imap_seqset_EXTRA := imapd/seqset.c
fuzz_imap_date_EXTRA := imapd/imapdate.c
fuzz_mutf7_EXTRA := imapd/mutf7.c
