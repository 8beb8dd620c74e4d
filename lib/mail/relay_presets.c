/*
 * Smarthost presets.  Ports are the STARTTLS submission port (587) that
 * every one of these offers; the hosts and SPF includes are the ones the
 * providers document for SMTP relaying.
 */
#include "relay_presets.h"

#include <string.h>
#include <strings.h>

#define SES(region)                                                                                \
	{                                                                                          \
		"ses-" region, "Amazon SES (" region ")", "email-smtp." region ".amazonaws.com",   \
		    587, "starttls", NULL, "include:amazonses.com"                                 \
	}

const struct relay_preset relay_presets[] = {
    SES("us-east-1"),
    SES("us-east-2"),
    SES("us-west-2"),
    SES("ca-central-1"),
    SES("eu-west-1"),
    SES("eu-west-2"),
    SES("eu-west-3"),
    SES("eu-central-1"),
    SES("eu-north-1"),
    SES("ap-south-1"),
    SES("ap-southeast-1"),
    SES("ap-southeast-2"),
    SES("ap-northeast-1"),
    SES("sa-east-1"),
    {"mailgun-us", "Mailgun (US)", "smtp.mailgun.org", 587, "starttls", NULL,
     "include:mailgun.org"},
    {"mailgun-eu", "Mailgun (EU)", "smtp.eu.mailgun.org", 587, "starttls", NULL,
     "include:mailgun.org"},
    {"sendgrid", "SendGrid", "smtp.sendgrid.net", 587, "starttls", "apikey",
     "include:sendgrid.net"},
    {"postmark", "Postmark", "smtp.postmarkapp.com", 587, "starttls", NULL,
     "include:spf.mtasv.net"},
    {"brevo", "Brevo (Sendinblue)", "smtp-relay.brevo.com", 587, "starttls", NULL,
     "include:spf.brevo.com"},
    {"mailjet", "Mailjet", "in-v3.mailjet.com", 587, "starttls", NULL, "include:spf.mailjet.com"},
    {"smtp2go", "SMTP2GO", "mail.smtp2go.com", 587, "starttls", NULL, "include:spf.smtp2go.com"},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};

const struct relay_preset *relay_preset_find(const char *name)
{
	for (const struct relay_preset *p = relay_presets; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

const struct relay_preset *relay_preset_by_host(const char *host)
{
	for (const struct relay_preset *p = relay_presets; p->name; p++)
		if (strcasecmp(p->host, host) == 0)
			return p;
	return NULL;
}
