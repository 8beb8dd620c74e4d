/* placeholder, replaced below */
#include "pages.h"
#include "html.h"
#define STUB(n)                                                                                    \
	void n(struct admin *a, struct req *q, struct resp *r)                                     \
	{                                                                                          \
		(void)a;                                                                           \
		(void)q;                                                                           \
		h_error(r, 404, "Not yet", "not yet");                                             \
	}
STUB(page_users)
STUB(page_users_post) STUB(page_user) STUB(page_aliases) STUB(page_aliases_post) STUB(page_domains)
    STUB(page_domains_post) STUB(page_queue) STUB(page_queue_post) STUB(page_route)
	STUB(page_route_post) STUB(page_dns) STUB(page_log) STUB(page_system)
	    STUB(page_password_post) STUB(page_backup) STUB(page_restore_post)
