/*
 * loft-admin's own parsers (admin/form.c): form bodies whole and split at
 * every byte (a split body parses to the fields of its two halves), every
 * limit, bad input; client addresses against network lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/form.h"
#include "tap.h"

static int parses(const char *body, const char **why)
{
	struct form f;
	int rc = admin_form_parse(&f, body, strlen(body), why);

	if (rc == 0)
		admin_form_free(&f);
	return rc;
}

static void test_basic(void)
{
	struct form f;
	const char *why = NULL;
	const char *b = "csrf=abc123&step=2&domain=Example.ORG&hostname=&x=a%2Bb+c%26d%3D";

	is_int(admin_form_parse(&f, b, strlen(b), &why), 0, "a wizard form parses");
	is_int(f.n, 5, "five fields");
	is_str(admin_form_get(&f, "csrf"), "abc123", "csrf");
	is_str(admin_form_get(&f, "domain"), "Example.ORG", "domain kept as typed");
	is_str(admin_form_get(&f, "hostname"), "", "empty value");
	is_str(admin_form_get(&f, "x"), "a+b c&d=", "escapes and + decoded");
	ok(admin_form_get(&f, "missing") == NULL, "absent field is NULL");
	admin_form_free(&f);

	b = "flag&&a=1&";
	is_int(admin_form_parse(&f, b, strlen(b), &why), 0, "empty pieces and a bare name");
	is_int(f.n, 2, "two fields");
	is_str(admin_form_get(&f, "flag"), "", "bare name has an empty value");
	admin_form_free(&f);

	b = "p=%C3%A9t%C3%A9%0D%0Aline2%09tab";
	is_int(admin_form_parse(&f, b, strlen(b), &why), 0,
	       "UTF-8, CR LF and TAB allowed in values");
	is_str(admin_form_get(&f, "p"), "\xc3\xa9t\xc3\xa9\r\nline2\ttab", "decoded");
	admin_form_free(&f);

	b = "a=1&a=2";
	is_int(admin_form_parse(&f, b, strlen(b), &why), 0, "a repeated name");
	is_str(admin_form_get(&f, "a"), "1", "the first one counts");
	admin_form_free(&f);

	is_int(admin_form_parse(&f, "", 0, &why), 0, "an empty body");
	is_int(f.n, 0, "no fields");
	admin_form_free(&f);
}

static void test_bad(void)
{
	const char *why;
	char big[FORM_MAX_BODY + 2];

	is_int(parses("a=%zz", &why), -1, "bad hex escape refused");
	is_str(why, "bad %-escape", "reason");
	is_int(parses("a=%4", &why), -1, "escape cut short at the end");
	is_int(parses("a=%", &why), -1, "lone % at the end");
	is_int(parses("a=x%", &why), -1, "% as the last byte");
	is_int(parses("a=%00", &why), -1, "NUL refused");
	is_int(parses("a=%01", &why), -1, "control character refused");
	is_int(parses("a=%7F", &why), -1, "DEL refused");
	is_int(parses("a=%C3%28", &why), -1, "invalid UTF-8 refused");
	is_int(parses("a=%ED%A0%80", &why), -1, "a surrogate refused");
	is_int(parses("=1", &why), -1, "empty name refused");
	is_int(parses("a%20b=1", &why), -1, "space in a name refused");
	is_int(parses("<script>=1", &why), -1, "markup in a name refused");
	{
		char name[FORM_MAX_NAME + 4];
		memset(name, 'n', sizeof(name));
		strcpy(name + FORM_MAX_NAME, "=1");
		is_int(parses(name, &why), 0, "a name of FORM_MAX_NAME bytes");
		memset(name, 'n', sizeof(name));
		strcpy(name + FORM_MAX_NAME + 1, "=");
		is_int(parses(name, &why), -1, "one byte more refused");
	}
	{
		char many[FORM_MAX_FIELDS * 4 + 8] = "";
		for (int i = 0; i < FORM_MAX_FIELDS; i++)
			strcat(many, "a=1&");
		is_int(parses(many, &why), 0, "FORM_MAX_FIELDS fields");
		strcat(many, "b=2");
		is_int(parses(many, &why), -1, "one field more refused");
		is_str(why, "too many fields", "reason");
	}
	memset(big, 'a', sizeof(big));
	big[0] = 'x';
	big[1] = '=';
	{
		struct form f;
		is_int(admin_form_parse(&f, big, FORM_MAX_BODY, &why), 0,
		       "a body of FORM_MAX_BODY");
		admin_form_free(&f);
		is_int(admin_form_parse(&f, big, FORM_MAX_BODY + 1, &why), -1,
		       "one byte more refused");
		is_str(why, "form too long", "reason");
	}
}

/* Every split point: the fields of body[0..i) followed by body[i..) equal
 * the fields of the whole when the split falls on '&' (how a body arrives
 * does not change what it means), and parsing a prefix never crashes. */
static void test_split(void)
{
	const char *b = "csrf=0f0f&step=6&local=J%C3%BCrgen&password=p%26ss+w%3Drd";
	size_t n = strlen(b);
	int all = 1;

	for (size_t i = 0; i <= n; i++) {
		struct form f;
		const char *why;
		if (admin_form_parse(&f, b, i, &why) == 0)
			admin_form_free(&f);
		if (admin_form_parse(&f, b + i, n - i, &why) == 0)
			admin_form_free(&f);
		if (b[i] == '&') {
			struct form f1, f2, w;
			admin_form_parse(&w, b, n, &why);
			if (admin_form_parse(&f1, b, i, &why) != 0 ||
			    admin_form_parse(&f2, b + i + 1, n - i - 1, &why) != 0 ||
			    f1.n + f2.n != w.n)
				all = 0;
			for (size_t k = 0; all && k < f1.n; k++)
				if (strcmp(f1.f[k].value, w.f[k].value) != 0)
					all = 0;
			for (size_t k = 0; all && k < f2.n; k++)
				if (strcmp(f2.f[k].value, w.f[f1.n + k].value) != 0)
					all = 0;
			admin_form_free(&f1);
			admin_form_free(&f2);
			admin_form_free(&w);
		}
	}
	ok(all, "a body split at each '&' parses to the same fields");
	{
		struct form f;
		const char *why;
		admin_form_parse(&f, b, n, &why);
		is_str(admin_form_get(&f, "local"), "J\xc3\xbcrgen", "UTF-8 name decoded");
		is_str(admin_form_get(&f, "password"), "p&ss w=rd",
		       "password with & and = decoded");
		admin_form_free(&f);
	}
}

static void test_nets(void)
{
	is_int(admin_form_ip_in_nets("127.0.0.1", NULL), 1, "loopback is local");
	is_int(admin_form_ip_in_nets("192.168.1.20", NULL), 1, "RFC 1918 192.168/16");
	is_int(admin_form_ip_in_nets("172.31.255.255", NULL), 1, "172.16/12 upper end");
	is_int(admin_form_ip_in_nets("172.32.0.1", NULL), 0, "172.32 is not");
	is_int(admin_form_ip_in_nets("10.1.2.3", NULL), 1, "10/8");
	is_int(admin_form_ip_in_nets("169.254.3.4", NULL), 1, "link-local v4");
	is_int(admin_form_ip_in_nets("8.8.8.8", NULL), 0, "a public v4 address is not");
	is_int(admin_form_ip_in_nets("100.64.0.1", NULL), 0, "CGNAT space is not the home network");
	is_int(admin_form_ip_in_nets("::1", NULL), 1, "v6 loopback");
	is_int(admin_form_ip_in_nets("fe80::1", NULL), 1, "v6 link-local");
	is_int(admin_form_ip_in_nets("fd12:3456::1", NULL), 1, "v6 unique local");
	is_int(admin_form_ip_in_nets("2001:db8::1", NULL), 0, "a global v6 address is not");
	is_int(admin_form_ip_in_nets("::ffff:192.168.0.9", NULL), 1, "v4-mapped private");
	is_int(admin_form_ip_in_nets("::ffff:8.8.8.8", NULL), 0, "v4-mapped public");
	is_int(admin_form_ip_in_nets("not an ip", NULL), 0, "garbage is not local");
	is_int(admin_form_ip_in_nets("127.0.0.1", "10.0.0.0/8"), 0, "a narrower list");
	is_int(admin_form_ip_in_nets("10.9.9.9", "10.0.0.0/8,192.168.0.0/16"), 1, "comma list");
	is_int(admin_form_ip_in_nets("10.9.9.9", "10.0.0.0/33"), -1, "bad v4 prefix length");
	is_int(admin_form_ip_in_nets("10.9.9.9", "10.0.0.0"), 0, "a bare address is one host");
	is_int(admin_form_ip_in_nets("10.0.0.0", "10.0.0.0"), 1, "which matches itself");
	is_int(admin_form_ip_in_nets("10.9.9.9", "10.0.0.0/8x"), -1, "junk after the length");
	is_int(admin_form_ip_in_nets("10.9.9.9", "banana/8"), -1, "not an address");
	is_int(admin_form_ip_in_nets("1.2.3.4", "0.0.0.0/0"), 1, "/0 matches every v4");
	is_int(admin_form_ip_in_nets("::2", "0.0.0.0/0"), 0, "but no v6");
	is_int(admin_form_ip_in_nets("10.0.0.1", ""), 0, "an empty list matches nothing");
}

static const char CT[] = "multipart/form-data; boundary=----b0undary";

static void test_multipart(void)
{
	const char *d, *why;
	size_t n;
	const char body[] = "------b0undary\r\n"
			    "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
			    "hello\r\n"
			    "------b0undary\r\n"
			    "Content-Disposition: form-data; name=\"backup\"; filename=\"x.db\"\r\n"
			    "Content-Type: application/octet-stream\r\n\r\n"
			    "SQLite\r\n--not-the-boundary\0binary\r\n"
			    "------b0undary--\r\n";
	size_t bl = sizeof(body) - 1;

	is_int(admin_form_multipart_part(CT, body, bl, "backup", &d, &n, &why), 0,
	       "file part found");
	is_mem(d, n, "SQLite\r\n--not-the-boundary\0binary", 33, "its bytes, NUL and all");
	is_int(admin_form_multipart_part(CT, body, bl, "note", &d, &n, &why), 0,
	       "first part found");
	is_mem(d, n, "hello", 5, "its value");
	is_int(admin_form_multipart_part(CT, body, bl, "x.db", &d, &n, &why), -1,
	       "a filename is not a name");
	is_int(admin_form_multipart_part(CT, body, bl, "missing", &d, &n, &why), -1, "absent part");
	is_str(why, "no such part", "reason");
	is_int(admin_form_multipart_part("multipart/form-data; boundary=\"----b0undary\"", body, bl,
					 "note", &d, &n, &why),
	       0, "quoted boundary");
	is_int(admin_form_multipart_part("multipart/form-data", body, bl, "note", &d, &n, &why), -1,
	       "no boundary");
	is_int(admin_form_multipart_part("text/plain; boundary=----b0undary", body, bl, "note", &d,
					 &n, &why),
	       -1, "not multipart");
	is_int(admin_form_multipart_part(NULL, body, bl, "note", &d, &n, &why), -1,
	       "no content type");
	{
		char ct[120];
		snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 0);
		is_int(admin_form_multipart_part(ct, body, bl, "note", &d, &n, &why), -1,
		       "a boundary over 70 bytes");
	}
	/* every prefix of the body: cut short, never a crash, and the file
	 * part is found only once its closing delimiter is there */
	{
		int found_early = 0;
		size_t end_of_file =
		    (size_t)((const char *)memmem(body, bl, "\r\n------b0undary--", 18) - body);
		for (size_t i = 0; i < bl; i++) {
			int rc = admin_form_multipart_part(CT, body, i, "backup", &d, &n, &why);
			if (rc == 0 && i < end_of_file + 16)
				found_early = 1;
		}
		ok(!found_early, "a cut body never yields the file part");
	}
	{
		char big[FORM_MAX_PART_HEAD + 200];
		size_t k = (size_t)snprintf(big, sizeof(big), "------b0undary\r\nX: ");
		memset(big + k, 'a', sizeof(big) - k);
		is_int(admin_form_multipart_part(CT, big, sizeof(big), "x", &d, &n, &why), -1,
		       "part headers over the limit");
		is_str(why, "multipart headers too long", "reason");
	}
}

static void test_xml_text(void)
{
	char out[64];
	const char *req = "<?xml version=\"1.0\"?><Autodiscover><Request><EMailAddress>"
			  "a@example.org</EMailAddress></Request></Autodiscover>";

	is_int(admin_form_xml_text(req, strlen(req), "EMailAddress", out, sizeof(out)), 0, "found");
	ok(strcmp(out, "a@example.org") == 0, "its text");
	is_int(admin_form_xml_text(req, strlen(req), "Missing", out, sizeof(out)), -1, "absent");
	is_int(admin_form_xml_text(req, strlen(req), "EMailAddress", out, 5), -1,
	       "too long for out");
	is_int(admin_form_xml_text("<E></E>", 7, "E", out, sizeof(out)), -1, "empty");
	is_int(admin_form_xml_text("<E>a<b/>c</E>", 13, "E", out, sizeof(out)), -1,
	       "markup inside");
	is_int(admin_form_xml_text("<E>abc", 6, "E", out, sizeof(out)), -1, "not closed");
	{
		int bad = 0;
		for (size_t i = 0; i < strlen(req); i++) {
			int rv = admin_form_xml_text(req, i, "EMailAddress", out, sizeof(out));
			/* a cut request either lacks the element or holds all of it */
			if (rv != -1 && !(rv == 0 && strcmp(out, "a@example.org") == 0))
				bad++;
		}
		is_int(bad, 0, "every prefix: absent or the whole value");
	}
}

int main(void)
{
	test_multipart();
	test_xml_text();
	test_basic();
	test_bad();
	test_split();
	test_nets();
	return tap_done();
}
