#include "pages.h"
#include "html.h"
#define STUB(n)                                                                                    \
	void n(struct admin *a, struct req *q, struct resp *r)                                     \
	{                                                                                          \
		(void)a;                                                                           \
		(void)q;                                                                           \
		h_error(r, 404, "Not yet", "not yet");                                             \
	}
STUB(page_autoconfig)
STUB(page_autodiscover) STUB(page_mobileconfig) STUB(page_user_qr)
    STUB(page_acme_challenge) void admin_phone_setup(struct admin *a, struct resp *r,
						     const char *address)
{
	(void)a;
	(void)address;
	h_raw(r, "<p>phone</p>");
}
