#ifndef LOFT_QP_H
#define LOFT_QP_H
/*
 * Quoted-printable encoding (RFC 2045 6.7), streaming: loft-queue turns
 * an 8-bit body into 7-bit for a server without 8BITMIME (RFC 6152 3).
 * Line ends (CRLF, or a bare LF) stay hard line ends; lines are kept to
 * 76 characters with soft breaks; whitespace before a line end, '=', a
 * lone CR and every byte outside 33..126 are encoded.
 */
#include <stddef.h>

struct qp_enc {
	int col; /* characters on the current output line */
	int ws;	 /* a space or tab held back: encoded if a line end follows */
	int cr;	 /* a CR held back: a line end if LF follows */
};

/* Bytes of output qp_encode may write for n bytes of input, at most. */
#define QP_MAX_OUT(n) ((n)*6 + 16)

void qp_init(struct qp_enc *q);
/* Encodes in[0..n) into out (room for QP_MAX_OUT(n)); returns the bytes
 * written. */
size_t qp_encode(struct qp_enc *q, const char *in, size_t n, char *out);
/* What was held back at the end of the input; returns the bytes written
 * (room for 16). */
size_t qp_finish(struct qp_enc *q, char *out);

#endif
