# loft-admin: the web admin, setup wizard and phone set-up (admin/README.md)
PROGS += loft-admin
ADMIN_SRCS := admin/http.c admin/route.c admin/session.c admin/html.c admin/form.c \
	admin/pages.c admin/wizard.c admin/outbound.c admin/dnsrec.c admin/manage.c \
	admin/autoconfig.c
loft-admin_SRCS := admin/main.c $(ADMIN_SRCS)
# libqrencode draws the QR code on each user's page (a phone scans it to
# set itself up); Debian ships it, and drawing a QR code by hand is a
# Reed-Solomon encoder nobody here should maintain
loft-admin_LIBS := -lqrencode

test_admin_form_EXTRA := admin/form.c
fuzz_admin_form_EXTRA := admin/form.c
