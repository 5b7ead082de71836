/*
 * dnsname.c - checking DNS domain names (dnsname.h), label by label.
 */
#include "lib/dnsname.h"

#include <ctype.h>
#include <string.h>

#include "lib/err.h"

/* Check a DNS domain name, label by label. */
int hl_dnsname_check(const char *domain)
{
	size_t n = domain ? strlen(domain) : 0, label = 0;

	if (n == 0 || n >= HL_DNSNAME_MAX)
		return hl_error("invalid domain '%s': it must have 1 to %d characters",
				domain ? domain : "", HL_DNSNAME_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c == '.') {
			if (label == 0 || domain[i - 1] == '-')
				goto bad;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			goto bad;
		if (c == '-' && label == 0)
			goto bad;
		if (++label > 63)
			goto bad;
	}
	if (label == 0 || domain[n - 1] == '-')
		goto bad;
	return 0;
bad:
	return hl_error("invalid domain '%s': expected a DNS name such as relecloud.com", domain);
}
