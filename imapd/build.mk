# loft-imapd: IMAP4rev1 (imapd/*.c) and POP3 (imapd/pop3/*.c).
PROGS += loft-imapd
POP3_SRCS := imapd/pop3/session.c imapd/pop3/maildrop.c imapd/pop3/pop3_parse.c
loft-imapd_SRCS := imapd/main.c imapd/parser.c imapd/session.c imapd/reply.c imapd/view.c imapd/mailbox.c imapd/append.c imapd/indexer.c \
	imapd/fetch.c imapd/fetchitem.c imapd/search.c imapd/searchkey.c imapd/sort.c imapd/sortkey.c imapd/thread.c imapd/mutf7.c imapd/imapdate.c \
	imapd/seqset.c $(POP3_SRCS)

test_imap_parser_EXTRA := imapd/parser.c
test_imap_parser_limits_EXTRA := imapd/parser.c
test_imap_util_EXTRA := imapd/mutf7.c imapd/imapdate.c imapd/seqset.c
fuzz_imap_parser_EXTRA := imapd/parser.c
test_pop3_parse_EXTRA := imapd/pop3/pop3_parse.c
test_pop3_session_EXTRA := $(POP3_SRCS)
fuzz_pop3_EXTRA := imapd/pop3/pop3_parse.c
fuzz_imap_search_EXTRA := imapd/parser.c imapd/searchkey.c imapd/seqset.c imapd/imapdate.c
fuzz_imap_fetch_EXTRA := imapd/parser.c imapd/fetchitem.c
IMAPD_SESSION_SRCS := imapd/session.c imapd/reply.c imapd/view.c imapd/mailbox.c imapd/append.c imapd/indexer.c imapd/fetch.c \
	imapd/fetchitem.c imapd/search.c imapd/searchkey.c imapd/sort.c imapd/sortkey.c imapd/thread.c imapd/parser.c imapd/mutf7.c \
	imapd/imapdate.c imapd/seqset.c
test_imap_session_EXTRA := $(IMAPD_SESSION_SRCS)
fuzz_imap_seqset_EXTRA := imapd/seqset.c
fuzz_imap_date_EXTRA := imapd/imapdate.c
fuzz_mutf7_EXTRA := imapd/mutf7.c
test_imap_sortkey_EXTRA := imapd/sortkey.c imapd/parser.c imapd/imapdate.c imapd/searchkey.c imapd/seqset.c
fuzz_imap_sortkey_EXTRA := imapd/sortkey.c imapd/parser.c imapd/imapdate.c
