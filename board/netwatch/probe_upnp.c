/*
 * The router's WAN address by UPnP IGD GetExternalIPAddress (libminiupnpc),
 * for routers that do not speak NAT-PMP: is the box behind carrier-grade
 * NAT?  libminiupnpc blocks (discovery waits for SSDP answers, the SOAP
 * call goes over HTTP), so a worker thread asks and hands the answer to
 * the loop through a pipe.  The address the router gives is only text to
 * us: it is checked to be an IPv4 address before anyone uses it.
 */
#include <arpa/inet.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "log.h"
#include "netwatch.h"

struct nw_upnp {
	struct evloop *ev;
	char upnp[NW_TARGET_MAX];
	unsigned timeout_ms;
	struct nw_worker *w;
	int ok;
	char text[160];
	nw_router_fn fn;
	void *arg;
};

static void upnp_work(void *arg)
{
	struct nw_upnp *u = arg;
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[64] = "", wan[64] = "";
	struct in_addr a;
	int found, err = 0;

	memset(&urls, 0, sizeof(urls));
	memset(&data, 0, sizeof(data));
	if (strcmp(u->upnp, "auto") == 0) {
		struct UPNPDev *devs = upnpDiscover((int)u->timeout_ms, NULL, NULL, 0, 0, 2, &err);
		found = devs ? UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof(lan)) : 0;
		freeUPNPDevlist(devs);
	} else {
		found = UPNP_GetIGDFromUrl(u->upnp, &urls, &data, lan, sizeof(lan));
	}
	if (found <= 0 || !urls.controlURL || !urls.controlURL[0]) {
		snprintf(u->text, sizeof(u->text), "no UPnP IGD answered");
	} else {
		int r = UPNP_GetExternalIPAddress(urls.controlURL, data.first.servicetype, wan);
		if (r != UPNPCOMMAND_SUCCESS) {
			const char *why = strupnperror(r);
			snprintf(u->text, sizeof(u->text), "GetExternalIPAddress failed: %d %s", r,
				 why ? why : "error");
		} else if (inet_pton(AF_INET, wan, &a) != 1) {
			char show[48];
			size_t k = 0;
			for (size_t i = 0; wan[i] && k < sizeof(show) - 1; i++)
				show[k++] =
				    wan[i] >= 0x20 && wan[i] < 0x7f && wan[i] != '"' ? wan[i] : '?';
			show[k] = '\0';
			snprintf(u->text, sizeof(u->text), "the IGD answered nonsense: \"%s\"",
				 show);
		} else {
			u->ok = 1;
			snprintf(u->text, sizeof(u->text), "%s", wan);
		}
	}
	if (found > 0)
		FreeUPNPUrls(&urls);
}

static void upnp_done(void *arg)
{
	struct nw_upnp *u = arg;
	nw_router_fn fn = u->fn;
	void *farg = u->arg;
	int ok = u->ok;
	char text[sizeof(u->text)];

	memcpy(text, u->text, sizeof(text));
	free(u);
	fn(farg, ok, text);
}

struct nw_upnp *nw_upnp_wan_start(struct evloop *ev, const char *upnp, unsigned timeout_ms,
				  nw_router_fn fn, void *arg)
{
	struct nw_upnp *u = calloc(1, sizeof(*u));

	if (!u)
		bug("out of memory");
	u->ev = ev;
	snprintf(u->upnp, sizeof(u->upnp), "%s", upnp);
	u->timeout_ms = timeout_ms ? timeout_ms : 2000;
	u->fn = fn;
	u->arg = arg;
	u->w = nw_worker_start(ev, upnp_work, upnp_done, u);
	return u;
}

void nw_upnp_cancel(struct nw_upnp *u)
{
	if (!u)
		return;
	/* bounded by libminiupnpc's own timeouts */
	nw_worker_join(u->w);
	free(u);
}
