#include "dnsname.h"
#include <string.h>

static int
dnsname_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int
dnsname_check(const char *s, size_t len, unsigned flags)
{
	size_t label = 0;

	if (len == 0 || len > DNSNAME_MAX)
		return -1;
	if ((flags & DNSNAME_WILDCARD) && len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!dnsname_ldh(s[i]))
			return -1;
		if (label == 0 && s[i] == '-')
			return -1;
		if (++label > DNSNAME_LABEL_MAX)
			return -1;
	}
	if (label == 0 || s[len - 1] == '-')
		return -1;
	return 0;
}

static char
dnsname_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

int
dnsname_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		if (dnsname_lower(a[i]) != dnsname_lower(b[i]))
			return 0;
	}
	return 1;
}

int
dnsname_list_add(const char **list, size_t *n, size_t cap, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < *n; i++) {
		if (dnsname_equal(list[i], strlen(list[i]), name, len))
			return 0;
	}
	if (*n >= cap)
		return 0;
	list[(*n)++] = name;
	return 1;
}
