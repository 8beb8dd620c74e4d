#ifndef LOFT_ADMIN_RELAYTEST_H
#define LOFT_ADMIN_RELAYTEST_H
/*
 * "Test connection" for the relay: with the smarthost.* settings, connect
 * (each address of the host in turn), greeting, EHLO, TLS as set, AUTH
 * when a user is set, QUIT; no message is sent.  Runs on the event loop
 * (lib/net/smtp_client, c-ares) while the page's request is suspended;
 * the outcome, in words, lands in q->relay_msg and the request resumes.
 */
#include "admin.h"

/* Starts the test for q.  Returns 0 (q is resumed when it is done, with
 * q->relay_state 2), or -1 with q->relay_msg set (nothing to wait for). */
int admin_relaytest_start(struct admin *a, struct req *q);

#endif
