/*
 * dnsname.h - DNS domain names as the lab uses them (an HGS domain, a
 * fabric AD domain, the O of certificates): 1..HL_DNSNAME_MAX-1 characters,
 * dot-separated labels of letters, digits and inner hyphens, 63 at most each.
 *
 * Contract (lib/err.h): 0 when valid, -1 after hl_error() saying what is
 * expected.
 */
#ifndef HGSLAB_LIB_DNSNAME_H
#define HGSLAB_LIB_DNSNAME_H

/* A DNS domain name, NUL included. */
#define HL_DNSNAME_MAX 64

/* Check the DNS domain name DOMAIN (NULL is refused). */
int hl_dnsname_check(const char *domain);

#endif
