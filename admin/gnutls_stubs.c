/*
 * Only in the static build (make static): Debian's libmicrohttpd.a is
 * built with HTTPS through GnuTLS, and its objects name GnuTLS functions
 * even when, as here, MHD never does TLS itself (loft-admin terminates
 * TLS with Loft's mbedTLS and hands MHD plaintext: http.c).  Linking
 * GnuTLS statically would drag in nettle, gmp, p11-kit and more for code
 * that never runs, so these stand in for it: global init succeeds (MHD's
 * library constructor calls it), everything else fails with GnuTLS's
 * "internal error", and none of it is reachable without MHD_USE_TLS.
 */
#include <stddef.h>
#include <stdlib.h>

#define GNUTLS_E_INTERNAL_ERROR (-59)

#define STUB(name)                                                                                 \
	int name(void);                                                                            \
	int name(void)                                                                             \
	{                                                                                          \
		return GNUTLS_E_INTERNAL_ERROR;                                                    \
	}

int gnutls_global_init(void);
int gnutls_global_init(void)
{
	return 0;
}
void gnutls_global_deinit(void);
void gnutls_global_deinit(void)
{
}
const char *gnutls_strerror(int code);
const char *gnutls_strerror(int code)
{
	(void)code;
	return "TLS is not built into this libmicrohttpd";
}
void *(*gnutls_malloc)(size_t) = malloc;

STUB(gnutls_alpn_set_protocols)
STUB(gnutls_bye)
STUB(gnutls_certificate_allocate_credentials)
STUB(gnutls_certificate_free_credentials)
STUB(gnutls_certificate_server_set_request)
STUB(gnutls_certificate_set_dh_params)
STUB(gnutls_certificate_set_retrieve_function2)
STUB(gnutls_certificate_set_retrieve_function3)
STUB(gnutls_certificate_set_x509_key_mem)
STUB(gnutls_certificate_set_x509_key_mem2)
STUB(gnutls_certificate_set_x509_trust_mem)
STUB(gnutls_cipher_get)
STUB(gnutls_credentials_set)
STUB(gnutls_deinit)
STUB(gnutls_dh_params_deinit)
STUB(gnutls_dh_params_import_pkcs3)
STUB(gnutls_dh_params_init)
STUB(gnutls_handshake)
STUB(gnutls_init)
STUB(gnutls_priority_deinit)
STUB(gnutls_priority_init)
STUB(gnutls_priority_set)
STUB(gnutls_protocol_get_version)
STUB(gnutls_psk_allocate_server_credentials)
STUB(gnutls_psk_free_server_credentials)
STUB(gnutls_psk_set_server_credentials_function)
STUB(gnutls_record_check_pending)
STUB(gnutls_record_get_direction)
STUB(gnutls_record_recv)
STUB(gnutls_record_send)
STUB(gnutls_session_get_ptr)
STUB(gnutls_session_set_ptr)
STUB(gnutls_transport_set_int2)
