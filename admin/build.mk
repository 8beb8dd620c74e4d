# loft-admin: the web admin, setup wizard and phone set-up (admin/README.md)
PROGS += loft-admin
ADMIN_SRCS := admin/http.c admin/route.c admin/session.c admin/html.c admin/form.c \
	admin/pages.c admin/wizard.c admin/outbound.c admin/dnsrec.c admin/manage.c \
	admin/autoconfig.c admin/acme.c
loft-admin_SRCS := admin/main.c $(ADMIN_SRCS)
# libqrencode draws the QR code on each user's page (a phone scans it to
# set itself up); Debian ships it, and drawing a QR code by hand is a
# Reed-Solomon encoder nobody here should maintain
loft-admin_LIBS := -lqrencode
# Not in the static multi-call program (make static): Debian ships no
# libqrencode.a, and its libmicrohttpd.a references GnuTLS (its HTTPS
# code, unused: loft-admin does TLS with mbedTLS), whose libgnutls.a needs
# p11-kit, of which Debian ships no static archive either.  It stays a
# dynamic program beside loft.
loft-admin_STATIC := no

test_admin_form_EXTRA := admin/form.c
fuzz_admin_form_EXTRA := admin/form.c
