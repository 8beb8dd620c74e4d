# loft-admin: the web admin, setup wizard and phone set-up (admin/README.md)
PROGS += loft-admin
ADMIN_SRCS := admin/http.c admin/route.c admin/session.c admin/html.c admin/form.c \
	admin/pages.c admin/wizard.c admin/outbound.c admin/dnsrec.c admin/manage.c \
	admin/autoconfig.c admin/acme.c admin/gateway.c \
	admin/relaytest.c admin/dnscheck.c admin/work.c
loft-admin_SRCS := admin/main.c $(ADMIN_SRCS)
# libqrcodegen draws the QR code on each user's page (a phone scans it to
# set itself up): Debian ships it with a static archive, which the
# static build needs (libqrencode-dev has none), and a QR encoder is a
# Reed-Solomon coder nobody here should maintain
loft-admin_LIBS := -lqrcodegen -lmicrohttpd

test_admin_form_EXTRA := admin/form.c
fuzz_admin_form_EXTRA := admin/form.c

# The static build links Debian's libmicrohttpd.a, whose GnuTLS calls
# are never reached here: admin/gnutls_stubs.c stands in for GnuTLS.
ifeq ($(STATIC),1)
$(BUILD)/loft: $(BUILD)/obj/admin/gnutls_stubs.o
endif
