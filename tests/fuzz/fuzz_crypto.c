/*
 * fuzz_crypto.c - libFuzzer target: the certificate and key readers of
 * lib/crypto.h through which the lab takes every PEM or DER it is given
 * (guardian and KPS certificates, EK certificates and vendor CA bundles,
 * health certificates, host and transport keys, imported key pairs).
 *
 * The first input byte picks the reader; the rest is its input:
 *   0 hl_cert_from_pem   1 hl_cert_from_der   2 hl_cert_bundle_from_pem
 *   3 hl_key_pub_from_pem   4 hl_key_pub_from_der   5 hl_key_priv_from_pem
 *   6 hl_cms_parse   7 hl_crypto_base64_decode / hl_crypto_hex_decode
 * A certificate that reads is taken apart as the lab does (thumbprint,
 * names, validity, public key, the health certificate's extensions as KPS
 * reads them: hgs_healthcert_parse) and must read back from
 * its own DER with the same thumbprint; a public key must read back from
 * its own DER with the same fingerprint (abort otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "hgs/healthcert.h"
#include "lib/err.h"
#include "tests/fuzz/fuzzutil.h"

/* A public key read back from its DER must have the same fingerprint. */
static void key_use(EVP_PKEY *key)
{
	struct hl_buf der = { 0 }, pem = { 0 };
	char fp[HL_SHA256_HEX_SIZE], fp2[HL_SHA256_HEX_SIZE];
	enum hl_key_type type;
	EVP_PKEY *back = NULL;

	hl_key_type_of(key, &type);
	if (hl_key_fingerprint(key, fp) < 0)
		goto out;
	if (hl_key_pub_to_der(key, &der) < 0 || hl_key_pub_from_der(der.data, der.len, &back) < 0 ||
	    hl_key_fingerprint(back, fp2) < 0 || strcmp(fp, fp2) != 0 || hl_key_pub_equal(key, back) != 1)
		fz_fail("a public key does not read back from its own DER");
	hl_key_pub_to_pem(key, &pem);
out:
	hl_key_free(back);
	hl_buf_free(&der);
	hl_buf_free(&pem);
}

/* What the lab reads of a certificate; it must read back from its own DER the same. */
static void cert_use(X509 *cert)
{
	static const char *const oids[] = { HGS_OID_HC_MODE, HGS_OID_HC_STATUS,
					    HGS_OID_HC_SUBSTATUS, HGS_OID_HC_NODE, "2.5.29.19" };
	struct hgs_healthcert_info info;
	struct hl_buf der = { 0 }, ext = { 0 };
	char t1[HL_SHA256_HEX_SIZE], t2[HL_SHA256_HEX_SIZE], cn[256];
	time_t nb, na, from, until;
	EVP_PKEY *key = NULL;
	X509 *back = NULL;

	if (hl_cert_thumbprint(cert, t1) < 0 || hl_cert_to_der(cert, &der) < 0)
		goto out;
	if (hl_cert_from_der(der.data, der.len, &back) < 0 || hl_cert_thumbprint(back, t2) < 0 ||
	    strcmp(t1, t2) != 0)
		fz_fail("a certificate does not read back from its own DER");
	hl_cert_subject_cn(cert, cn, sizeof(cn));
	hl_cert_issuer_cn(cert, cn, sizeof(cn));
	if (hl_cert_validity(cert, &nb, &na) == 0)
		hl_cert_validity_stable(&cert, 1, nb, &from, &until);
	for (size_t i = 0; i < sizeof(oids) / sizeof(oids[0]); i++) {
		hl_cert_ext_get(cert, oids[i], &ext);
		hl_buf_free(&ext);
		hl_cert_ext_get_utf8(cert, oids[i], &ext);
		hl_buf_free(&ext);
		hl_cert_ext_get_octets(cert, oids[i], &ext);
		hl_buf_free(&ext);
	}
	hgs_healthcert_parse(cert, &info);
	hl_cert_verify(cert, cert, NULL, 0, 0);
	if (hl_cert_pubkey(cert, &key) == 0)
		key_use(key);
out:
	hl_key_free(key);
	hl_cert_free(back);
	hl_buf_free(&der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct hl_buf buf = { 0 };
	X509 *cert = NULL, **certs = NULL;
	EVP_PKEY *key = NULL;
	size_t n = 0;
	char *text;

	switch (fz_byte(&in) % 8) {
	case 0:
		if (hl_cert_from_pem(in.p, in.n, &cert) == 0)
			cert_use(cert);
		break;
	case 1:
		if (hl_cert_from_der(in.p, in.n, &cert) == 0)
			cert_use(cert);
		break;
	case 2:
		if (hl_cert_bundle_from_pem(in.p, in.n, &certs, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				cert_use(certs[i]);
			hl_cert_verify_bundle(certs[0], certs, n, 0);
			hl_cert_array_free(certs, n);
		}
		break;
	case 3:
		if (hl_key_pub_from_pem(in.p, in.n, &key) == 0)
			key_use(key);
		break;
	case 4:
		if (hl_key_pub_from_der(in.p, in.n, &key) == 0)
			key_use(key);
		break;
	case 5:
		if (hl_key_priv_from_pem(in.p, in.n, &key) == 0)
			key_use(key);
		break;
	case 6:
		if (hl_cms_parse(in.p, in.n, 65536, &buf, &cert) == 0) {
			hl_cms_verify(in.p, in.n);
			cert_use(cert);
		}
		break;
	default:
		hl_crypto_base64_decode((const char *)in.p, in.n, &buf);
		hl_buf_free(&buf);
		text = fz_strndup(in.p, in.n);
		hl_crypto_hex_decode(text, &buf);
		free(text);
		break;
	}
	hl_buf_free(&buf);
	hl_cert_free(cert);
	hl_key_free(key);
	hl_error_clear();
	return 0;
}
