/*
 * base64url.c - unpadded base64url (base64url.h) as a translation of the
 * alphabet over lib/crypto's strict standard base64: '+' and '/' become '-'
 * and '_', the padding is dropped on the way out and put back on the way in.
 * The strict decoder refuses non-zero bits under the padding, which makes
 * the unpadded form canonical too.
 */
#include "lib/base64url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* Encode DATA as unpadded base64url. */
int hl_base64url_encode(const void *data, size_t len, char **out)
{
	struct hl_buf b = { 0 };
	char *s;
	size_t n;

	*out = NULL;
	if (hl_crypto_base64_encode(data, len, &b) < 0)
		return -1;
	s = (char *)b.data;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	*out = s;
	return 0;
}

/* Decode unpadded base64url, strictly. */
int hl_base64url_decode(const char *text, size_t len, const char *what, struct hl_buf *out)
{
	char *std;
	size_t n = 0;
	int rc;

	out->data = NULL;
	out->len = 0;
	if (len % 4 == 1)
		return hl_error("%s is not base64url: its length %zu is impossible", what, len);
	if (!(std = malloc(len + 4)))
		return hl_error("out of memory");
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '-') {
			c = '+';
		} else if (c == '_') {
			c = '/';
		} else if (!isalnum((unsigned char)c)) {
			free(std);
			return hl_error("%s is not base64url: character %zu is not in [A-Za-z0-9_-]",
					what, i + 1);
		}
		std[n++] = c;
	}
	while (n % 4)
		std[n++] = '=';
	std[n] = '\0';
	rc = hl_crypto_base64_decode(std, n, out);
	free(std);
	if (rc < 0)
		return hl_error_wrap("%s", what);
	return 0;
}
