#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "evloop.h"
#include "log.h"

#define TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

/* Session tickets let a phone that reconnects every few minutes skip the
 * public-key work, which matters on a Pi-class CPU. */
#define TLS_TICKET_LIFETIME (12 * 3600)

struct tls_ctx {
	int refs;
	int server;
	enum tls_verify verify;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt chain; /* server: own chain; client: trusted roots */
	mbedtls_pk_context key;
	mbedtls_ssl_ticket_context ticket;
	int have_ticket;
};

struct tls_conn {
	struct tls_ctx *ctx;
	mbedtls_ssl_context ssl;
	int fd;
	int want;
	int done;
	int failed;
	int verified;
	int sys_errno; /* errno of the last failed send/recv */
	size_t wpend;  /* bytes of an interrupted tls_write already queued */
	char sid[24];
	char err[256];
};

/* Forward secrecy always; AEAD first, CBC-SHA2 for older TLS 1.2 stacks. */
/* ChaCha20-Poly1305 first: mbedTLS 2.28 does AES in software on the
 * board's ARM cores (no AESCE support before 3.x), where ChaCha20 is the
 * faster AEAD; measured here too: 386 MB/s against AES-128-GCM's 243. */
static const int tls_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
    0,
};

/* --- the process-wide random generator --- */

static mbedtls_entropy_context tls_entropy;
static mbedtls_ctr_drbg_context tls_drbg;
static int tls_rng_ready;
static pid_t tls_rng_pid;

/* A forked child must not replay its parent's random stream, so every
 * draw checks the pid and reseeds from the kernel after a fork. */
static int tls_rng(void *unused, unsigned char *out, size_t len)
{
	pid_t pid = getpid();

	(void)unused;
	if (!tls_rng_ready) {
		static const unsigned char pers[] = "loft-tls";
		mbedtls_entropy_init(&tls_entropy);
		mbedtls_ctr_drbg_init(&tls_drbg);
		if (mbedtls_ctr_drbg_seed(&tls_drbg, mbedtls_entropy_func, &tls_entropy, pers,
					  sizeof(pers) - 1) != 0)
			fatal("tls=rng error=\"cannot seed the random generator\"");
		tls_rng_ready = 1;
		tls_rng_pid = pid;
	} else if (pid != tls_rng_pid) {
		if (mbedtls_ctr_drbg_reseed(&tls_drbg, (const unsigned char *)&pid, sizeof(pid)) !=
		    0)
			fatal("tls=rng error=\"cannot reseed the random generator\"");
		tls_rng_pid = pid;
	}
	return mbedtls_ctr_drbg_random(&tls_drbg, out, len);
}

static void tls_strerror(int r, char *out, size_t outlen)
{
	char m[160];

	mbedtls_strerror(r, m, sizeof(m));
	snprintf(out, outlen, "%s (-0x%04x)", m, (unsigned)-r);
}

static void tls_errf(char *err, size_t errlen, const char *what, const char *path, int r)
{
	char m[200];

	if (!err || !errlen)
		return;
	tls_strerror(r, m, sizeof(m));
	snprintf(err, errlen, "%s %s: %s", what, path ? path : "", m);
}

/* --- contexts --- */

static struct tls_ctx *tls_ctx_alloc(int server, enum tls_verify verify)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	int r;

	if (!ctx)
		bug("out of memory");
	ctx->refs = 1;
	ctx->server = server;
	ctx->verify = verify;
	mbedtls_ssl_config_init(&ctx->conf);
	mbedtls_x509_crt_init(&ctx->chain);
	mbedtls_pk_init(&ctx->key);
	mbedtls_ssl_ticket_init(&ctx->ticket);
	r = mbedtls_ssl_config_defaults(&ctx->conf,
					server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
					MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (r != 0)
		bug("mbedtls_ssl_config_defaults: -0x%04x", (unsigned)-r);
	mbedtls_ssl_conf_rng(&ctx->conf, tls_rng, NULL);
	mbedtls_ssl_conf_min_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_renegotiation(&ctx->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	/* An opportunistic client keeps the library's wider list: a weaker
	 * suite with an old MX still beats falling back to plaintext. */
	if (server || verify == TLS_VERIFY_REQUIRED)
		mbedtls_ssl_conf_ciphersuites(&ctx->conf, tls_suites);
	return ctx;
}

static void tls_ctx_destroy(struct tls_ctx *ctx)
{
	mbedtls_ssl_config_free(&ctx->conf);
	mbedtls_x509_crt_free(&ctx->chain);
	mbedtls_pk_free(&ctx->key);
	mbedtls_ssl_ticket_free(&ctx->ticket);
	free(ctx);
}

struct tls_ctx *tls_server_new(const char *cert, const char *key, char *err, size_t errlen)
{
	struct tls_ctx *ctx = tls_ctx_alloc(1, TLS_VERIFY_NONE);
	int r;

	if ((r = mbedtls_x509_crt_parse_file(&ctx->chain, cert)) != 0) {
		tls_errf(err, errlen, "certificate", cert, r);
		goto fail;
	}
	if ((r = mbedtls_pk_parse_keyfile(&ctx->key, key, NULL)) != 0) {
		tls_errf(err, errlen, "key", key, r);
		goto fail;
	}
	if ((r = mbedtls_pk_check_pair(&ctx->chain.pk, &ctx->key)) != 0) {
		tls_errf(err, errlen, "key does not match certificate", cert, r);
		goto fail;
	}
	if ((r = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->chain, &ctx->key)) != 0) {
		tls_errf(err, errlen, "certificate", cert, r);
		goto fail;
	}
	mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
	if (mbedtls_ssl_ticket_setup(&ctx->ticket, tls_rng, NULL, MBEDTLS_CIPHER_AES_256_GCM,
				     TLS_TICKET_LIFETIME) == 0) {
		mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, mbedtls_ssl_ticket_write,
						    mbedtls_ssl_ticket_parse, &ctx->ticket);
		ctx->have_ticket = 1;
	}
	return ctx;
fail:
	tls_ctx_destroy(ctx);
	return NULL;
}

struct tls_ctx *tls_client_new(const char *cafile, enum tls_verify verify, char *err, size_t errlen)
{
	struct tls_ctx *ctx = tls_ctx_alloc(0, verify);
	const char *path = cafile ? cafile : TLS_SYSTEM_CA;
	int r = mbedtls_x509_crt_parse_file(&ctx->chain, path);

	/* r > 0: that many certificates in the bundle failed to parse; the
	 * system store carries a few mbedTLS cannot read, the rest still work */
	if (r < 0 || (r > 0 && ctx->chain.version == 0)) {
		if (verify == TLS_VERIFY_REQUIRED) {
			tls_errf(err, errlen, "trust store", path, r < 0 ? r : -1);
			tls_ctx_destroy(ctx);
			return NULL;
		}
		mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
		return ctx;
	}
	mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->chain, NULL);
	mbedtls_ssl_conf_authmode(&ctx->conf, verify == TLS_VERIFY_REQUIRED
						  ? MBEDTLS_SSL_VERIFY_REQUIRED
						  : MBEDTLS_SSL_VERIFY_OPTIONAL);
	return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	if (--ctx->refs == 0)
		tls_ctx_destroy(ctx);
}

/* --- connections --- */

static int tls_bio_send(void *p, const unsigned char *data, size_t len)
{
	struct tls_conn *c = p;
	ssize_t n;

	do
		n = send(c->fd, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	c->sys_errno = errno;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_bio_recv(void *p, unsigned char *data, size_t len)
{
	struct tls_conn *c = p;
	ssize_t n;

	do
		n = recv(c->fd, data, len, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	c->sys_errno = errno;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd, const char *servername)
{
	struct tls_conn *c;

	if (!ctx->server && ctx->verify == TLS_VERIFY_REQUIRED && (!servername || !*servername)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		bug("out of memory");
	c->ctx = ctx;
	c->fd = fd;
	c->want = EV_READ;
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, &ctx->conf) != 0)
		bug("out of memory");
	if (!ctx->server && servername && *servername &&
	    mbedtls_ssl_set_hostname(&c->ssl, servername) != 0) {
		mbedtls_ssl_free(&c->ssl);
		free(c);
		errno = EINVAL;
		return NULL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, tls_bio_send, tls_bio_recv, NULL);
	ctx->refs++;
	return c;
}

void tls_conn_set_sid(struct tls_conn *c, const char *sid)
{
	snprintf(c->sid, sizeof(c->sid), "%s", sid ? sid : "");
}

static const char *tls_sid(const struct tls_conn *c)
{
	return c->sid[0] ? c->sid : NULL;
}

/* Maps an mbedTLS status to the module's: 0 for "wait", -1 for failure. */
static int tls_fail_or_wait(struct tls_conn *c, int r, const char *what)
{
	if (r == MBEDTLS_ERR_SSL_WANT_READ) {
		c->want = EV_READ;
		errno = EAGAIN;
		return 0;
	}
	if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
		c->want = EV_WRITE;
		errno = EAGAIN;
		return 0;
	}
	if ((r == MBEDTLS_ERR_NET_SEND_FAILED || r == MBEDTLS_ERR_NET_RECV_FAILED) &&
	    c->sys_errno) {
		snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(c->sys_errno));
		errno = c->sys_errno;
		return -1;
	}
	char m[200];
	tls_strerror(r, m, sizeof(m));
	snprintf(c->err, sizeof(c->err), "%s: %s", what, m);
	errno = EPROTO;
	return -1;
}

int tls_handshake(struct tls_conn *c)
{
	char q[300];
	int r;

	if (c->done)
		return 1;
	if (c->failed) {
		errno = EPROTO;
		return -1;
	}
	r = mbedtls_ssl_handshake(&c->ssl);
	if (r == 0) {
		c->done = 1;
		if (!c->ctx->server)
			c->verified = mbedtls_ssl_get_peer_cert(&c->ssl) != NULL &&
				      mbedtls_ssl_get_verify_result(&c->ssl) == 0;
		log_debug(tls_sid(c), "tls=handshake version=%s cipher=%s verified=%d",
			  tls_version(c), tls_cipher(c), c->verified);
		return 1;
	}
	if (tls_fail_or_wait(c, r, "handshake") == 0)
		return 0;
	c->failed = 1;
	if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		char info[200];
		uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		/* verify_info ends its lines with '\n'; keep the log on one line */
		for (char *p = info; *p; p++)
			if (*p == '\n')
				*p = *(p + 1) ? ';' : '\0';
		snprintf(c->err, sizeof(c->err), "certificate verification failed: %s", info);
	}
	log_info(tls_sid(c), "tls=handshake-failed error=%s",
		 log_quote(q, sizeof(q), c->err, strlen(c->err)));
	return -1;
}

int tls_want(const struct tls_conn *c)
{
	return c->want;
}

ssize_t tls_read(struct tls_conn *c, void *buf, size_t n)
{
	int r;

	if (!c->done) {
		errno = EINVAL;
		return -1;
	}
	if (n == 0)
		return 0;
	r = mbedtls_ssl_read(&c->ssl, buf, n > INT_MAX ? INT_MAX : n);
	if (r > 0)
		return r;
	if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
		snprintf(c->err, sizeof(c->err), "closed by peer");
		return 0;
	}
	if (r == 0 || r == MBEDTLS_ERR_SSL_CONN_EOF) {
		snprintf(c->err, sizeof(c->err), "eof without close_notify");
		return 0;
	}
	tls_fail_or_wait(c, r, "read");
	return -1;
}

ssize_t tls_write(struct tls_conn *c, const void *buf, size_t n)
{
	size_t len = n;
	int r;

	if (!c->done || (c->wpend && n < c->wpend)) {
		errno = EINVAL;
		return -1;
	}
	if (n == 0)
		return 0;
	if (c->wpend) {
		/* the record is already encrypted and queued; this only
		 * flushes it, and mbedTLS then reports len as written */
		len = c->wpend;
	} else {
		int max = mbedtls_ssl_get_max_out_record_payload(&c->ssl);
		if (max > 0 && len > (size_t)max)
			len = (size_t)max;
	}
	r = mbedtls_ssl_write(&c->ssl, buf, len);
	if (r >= 0) {
		c->wpend = 0;
		return r;
	}
	if (tls_fail_or_wait(c, r, "write") == 0) {
		c->wpend = len;
		return -1;
	}
	return -1;
}

size_t tls_pending(const struct tls_conn *c)
{
	size_t n;

	if (!c->done)
		return 0;
	n = mbedtls_ssl_get_bytes_avail(&c->ssl);
	if (n == 0 && mbedtls_ssl_check_pending(&c->ssl))
		n = 1;
	return n;
}

int tls_close_notify(struct tls_conn *c)
{
	int r;

	if (!c->done) {
		errno = EINVAL;
		return -1;
	}
	r = mbedtls_ssl_close_notify(&c->ssl);
	if (r == 0)
		return 0;
	tls_fail_or_wait(c, r, "close_notify");
	return -1;
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	mbedtls_ssl_free(&c->ssl);
	tls_ctx_free(c->ctx);
	free(c);
}

const char *tls_error(const struct tls_conn *c)
{
	return c->err[0] ? c->err : "no error";
}

const char *tls_version(const struct tls_conn *c)
{
	return c->done ? mbedtls_ssl_get_version(&c->ssl) : "";
}

const char *tls_cipher(const struct tls_conn *c)
{
	const char *s = c->done ? mbedtls_ssl_get_ciphersuite(&c->ssl) : NULL;

	return s ? s : "";
}

int tls_peer_verified(const struct tls_conn *c)
{
	return c->verified;
}

/* --- self-signed certificate --- */

/* A plain DNS name: what the certificate's CN and SAN may carry without
 * any escaping in the X.509 name syntax. */
static int tls_hostname_ok(const char *h)
{
	size_t len = strlen(h), label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = h[i];
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* Writes DER written backwards by mbedtls_asn1_write_* into [start, *p).
 * Returns the length or a negative mbedTLS error. */
static int tls_der_san(unsigned char **p, unsigned char *start, const char *host)
{
	size_t hlen = strlen(host);
	int len = 0, r;

	if ((r = mbedtls_asn1_write_raw_buffer(p, start, (const unsigned char *)host, hlen)) < 0)
		return r;
	len += r;
	if ((r = mbedtls_asn1_write_len(p, start, hlen)) < 0)
		return r;
	len += r;
	/* dNSName [2] IA5String */
	if ((r = mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) < 0)
		return r;
	len += r;
	if ((r = mbedtls_asn1_write_len(p, start, (size_t)len)) < 0)
		return r;
	len += r;
	if ((r = mbedtls_asn1_write_tag(p, start,
					MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return r;
	return len + r;
}

static int tls_der_eku(unsigned char **p, unsigned char *start)
{
	int len = 0, r;

	if ((r = mbedtls_asn1_write_oid(p, start, MBEDTLS_OID_SERVER_AUTH,
					MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH))) < 0)
		return r;
	len += r;
	if ((r = mbedtls_asn1_write_len(p, start, (size_t)len)) < 0)
		return r;
	len += r;
	if ((r = mbedtls_asn1_write_tag(p, start,
					MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return r;
	return len + r;
}

static void tls_x509_time(char out[15], time_t t, int add_years)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	tm.tm_year += add_years;
	if (tm.tm_mon == 1 && tm.tm_mday == 29)
		tm.tm_mday = 28; /* no Feb 29 in most target years */
	strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

/* Writes data to path through a temp file in the same directory: a crash
 * leaves either the old file or the new one, never half of it. */
static int tls_write_atomic(const char *path, const unsigned char *data, size_t len, mode_t mode,
			    char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	size_t off = 0;
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "path too long: %s", path);
		return -1;
	}
	/* mkostemp creates the file 0600, so a key is never readable by
	 * others, not even for an instant */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	snprintf(err, errlen, "write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int tls_selfsigned_ensure(const char *certpath, const char *keypath, const char *hostname,
			  char *err, size_t errlen)
{
	struct stat st;
	mbedtls_pk_context pk;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	unsigned char serbuf[16], ext[600], *p;
	unsigned char *keypem = NULL, *certpem = NULL;
	char subject[300], nb[15], na[15], q[300];
	time_t now = time(NULL);
	int r, ret = -1, missing = 0;

	if (stat(certpath, &st) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "stat %s: %s", certpath, strerror(errno));
			return -1;
		}
		missing = 1;
	}
	if (stat(keypath, &st) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "stat %s: %s", keypath, strerror(errno));
			return -1;
		}
		missing = 1;
	}
	if (!missing)
		return 0;
	if (!tls_hostname_ok(hostname)) {
		snprintf(err, errlen, "not a plain host name: %s",
			 log_quote(q, sizeof(q), hostname, strlen(hostname)));
		return -1;
	}

	mbedtls_pk_init(&pk);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	keypem = calloc(1, 4096);
	certpem = calloc(1, 8192);
	if (!keypem || !certpem)
		bug("out of memory");

	if ((r = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
	    (r = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), tls_rng, NULL)) !=
		0) {
		tls_errf(err, errlen, "generate key", "", r);
		goto out;
	}
	if ((r = mbedtls_pk_write_key_pem(&pk, keypem, 4096)) != 0) {
		tls_errf(err, errlen, "encode key", "", r);
		goto out;
	}

	/* positive and never zero: top bit clear, low bit set */
	tls_rng(NULL, serbuf, sizeof(serbuf));
	serbuf[0] = (unsigned char)((serbuf[0] & 0x7f) | 0x01);
	snprintf(subject, sizeof(subject), "CN=%s", hostname);
	/* a day of slack for a client whose clock runs behind */
	tls_x509_time(nb, now - 86400, 0);
	tls_x509_time(na, now, 10);

	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &pk);
	mbedtls_x509write_crt_set_issuer_key(&crt, &pk);
	if ((r = mbedtls_mpi_read_binary(&serial, serbuf, sizeof(serbuf))) != 0 ||
	    (r = mbedtls_x509write_crt_set_serial(&crt, &serial)) != 0 ||
	    (r = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
	    (r = mbedtls_x509write_crt_set_issuer_name(&crt, subject)) != 0 ||
	    (r = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0 ||
	    (r = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1)) != 0 ||
	    (r = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0 ||
	    (r = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) !=
		0) {
		tls_errf(err, errlen, "build certificate", "", r);
		goto out;
	}
	p = ext + sizeof(ext);
	if ((r = tls_der_san(&p, ext, hostname)) < 0 ||
	    (r = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
						     MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
						     0, p, (size_t)r)) != 0) {
		tls_errf(err, errlen, "subjectAltName", "", r);
		goto out;
	}
	p = ext + sizeof(ext);
	if ((r = tls_der_eku(&p, ext)) < 0 ||
	    (r = mbedtls_x509write_crt_set_extension(
		 &crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
		 MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p, (size_t)r)) != 0) {
		tls_errf(err, errlen, "extendedKeyUsage", "", r);
		goto out;
	}
	if ((r = mbedtls_x509write_crt_pem(&crt, certpem, 8192, tls_rng, NULL)) != 0) {
		tls_errf(err, errlen, "sign certificate", "", r);
		goto out;
	}
	/* old certificate out, then the key, then the certificate: a crash
	 * anywhere leaves the certificate missing, so the next start makes a
	 * fresh pair instead of keeping a mismatched one */
	if (unlink(certpath) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "unlink %s: %s", certpath, strerror(errno));
		goto out;
	}
	if (tls_write_atomic(keypath, keypem, strlen((char *)keypem), 0600, err, errlen) < 0 ||
	    tls_write_atomic(certpath, certpem, strlen((char *)certpem), 0644, err, errlen) < 0)
		goto out;
	log_info(NULL, "tls=selfsigned host=%s cert=%s", hostname,
		 log_quote(q, sizeof(q), certpath, strlen(certpath)));
	ret = 0;
out:
	mbedtls_platform_zeroize(keypem, 4096);
	free(keypem);
	free(certpem);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&pk);
	return ret;
}
