/*
 * fuzz_tpm_verify.c - libFuzzer target: the TPM structures a host sends HGS
 * in TPM mode, as hgs/tpm_verify.h unmarshals and checks them with
 * libtss2-mu and OpenSSL: public areas (AK, transport key, EK), quotes and
 * TPM2_Certify results with their signatures, and the TPM vendor CA bundle
 * an EK certificate is checked against.
 *
 * Fixture: an ECC P-256 attestation key (a software key in an AK's
 * TPM2B_PUBLIC, parsed with hgs_tpm_key_parse) and an RSA-2048 "EK".  The
 * first input byte (mod 4) picks how the rest is used:
 *   0  a TPM2B_PUBLIC: parsed, checked as AK and as transport key, and
 *      credential activation made for it with the EK;
 *   1  ATTEST FZ_SEP SIGNATURE FZ_SEP NONCE: a quote and a certify checked
 *      with the fixture AK;
 *   2  ATTEST FZ_SEP NONCE: ATTEST signed here with the AK (TPMT_SIGNATURE
 *      ECDSA), so the checks after the signature are reached;
 *   3  VENDOR-CA-PEM FZ_SEP EK-CERT-DER: the vendor CA bundle read and the
 *      certificate verified against it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <tss2/tss2_mu.h>

#include "hgs/tpm_verify.h"
#include "lib/err.h"
#include "tests/fuzz/fuzzutil.h"

static struct fz_keypair ak_pair, ek_pair;
static struct hgs_tpm_key *ak;

/* The AK's TPM2B_PUBLIC: a restricted ECDSA-SHA256 signing key holding AK_PAIR's public point. */
static void ak_make(void)
{
	TPM2B_PUBLIC pub;
	unsigned char point[65], buf[sizeof(TPM2B_PUBLIC)];
	size_t plen = 0, off = 0;
	TPMT_PUBLIC *p = &pub.publicArea;

	fz_keypair_make(HL_KEY_EC_P256, "Fuzz AK", &ak_pair);
	if (!EVP_PKEY_get_octet_string_param(ak_pair.key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					     sizeof(point), &plen) || plen != 65)
		fz_die("cannot read the AK's point");
	memset(&pub, 0, sizeof(pub));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	p->unique.ecc.x.size = 32;
	memcpy(p->unique.ecc.x.buffer, point + 1, 32);
	p->unique.ecc.y.size = 32;
	memcpy(p->unique.ecc.y.buffer, point + 33, 32);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
	    hgs_tpm_key_parse(buf, off, &ak) < 0 || hgs_tpm_key_check_ak(ak, NULL) < 0)
		fz_die("cannot make the AK fixture");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	ak_make();
	fz_keypair_make(HL_KEY_RSA2048, "Fuzz EK", &ek_pair);
	return 0;
}

/* Mode 0: a public area. */
static void public_area(const uint8_t *p, size_t n)
{
	static const unsigned char secret[32] = { 7 };
	struct hgs_tpm_key *k = NULL;
	struct hl_buf pem = { 0 }, id = { 0 }, enc = { 0 };

	if (hgs_tpm_key_parse(p, n, &k) < 0)
		return;
	hgs_tpm_key_check_transport(k, NULL);
	hgs_tpm_key_pem(k, &pem);
	if (hgs_tpm_key_check_ak(k, NULL) == 0)
		hgs_tpm_make_credential(ek_pair.key, k, secret, sizeof(secret), &id, &enc);
	hl_buf_free(&pem);
	hl_buf_free(&id);
	hl_buf_free(&enc);
	hgs_tpm_key_free(k);
}

/* The quote and certify checks of ATTEST with SIG and NONCE. */
static void check(const uint8_t *attest, size_t alen, const uint8_t *sig, size_t slen,
		  const uint8_t *nonce, size_t nlen)
{
	struct hgs_tpm_quote q;

	hgs_tpm_verify_quote(ak, attest, alen, sig, slen, nonce, nlen, &q);
	hgs_tpm_verify_certify(ak, ak, attest, alen, sig, slen, nonce, nlen);
}

/* Mode 2: sign ATTEST with the AK as a TPM would (TPMT_SIGNATURE, ECDSA SHA-256), then check. */
static void signed_attest(struct fz_in *in)
{
	const uint8_t *attest, *nonce;
	size_t alen, nlen, off = 0;
	struct hl_buf der = { 0 };
	const unsigned char *dp;
	const BIGNUM *r, *s;
	ECDSA_SIG *es = NULL;
	TPMT_SIGNATURE sig;
	uint8_t buf[sizeof(TPMT_SIGNATURE)];

	fz_part(in, &attest, &alen);
	fz_part(in, &nonce, &nlen);
	if (hl_crypto_sign(ak_pair.key, HL_SIG_ECDSA, attest, alen, &der) < 0)
		fz_die("cannot sign");
	dp = der.data;
	if (!(es = d2i_ECDSA_SIG(NULL, &dp, (long)der.len)))
		fz_die("cannot read an ECDSA signature");
	ECDSA_SIG_get0(es, &r, &s);
	memset(&sig, 0, sizeof(sig));
	sig.sigAlg = TPM2_ALG_ECDSA;
	sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
	sig.signature.ecdsa.signatureR.size = 32;
	sig.signature.ecdsa.signatureS.size = 32;
	if (BN_bn2binpad(r, sig.signature.ecdsa.signatureR.buffer, 32) != 32 ||
	    BN_bn2binpad(s, sig.signature.ecdsa.signatureS.buffer, 32) != 32 ||
	    Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		fz_die("cannot marshal a signature");
	check(attest, alen, buf, off, nonce, nlen);
	ECDSA_SIG_free(es);
	hl_buf_free(&der);
}

/* Mode 3: a vendor CA bundle and an EK certificate. */
static void vendor_ca(struct fz_in *in)
{
	const uint8_t *pem, *der;
	size_t plen, dlen;
	char *bundle;
	X509 *cert = NULL;

	fz_part(in, &pem, &plen);
	fz_part(in, &der, &dlen);
	bundle = fz_strndup(pem, plen);
	if (hgs_vendor_ca_check(bundle) == 0 && hl_cert_from_der(der, dlen, &cert) == 0)
		hgs_vendor_ca_verify(bundle, cert, time(NULL));
	hl_cert_free(cert);
	free(bundle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	const uint8_t *attest, *sig, *nonce;
	size_t alen, slen, nlen;

	switch (fz_byte(&in) % 4) {
	case 0:
		public_area(in.p, in.n);
		break;
	case 1:
		fz_part(&in, &attest, &alen);
		fz_part(&in, &sig, &slen);
		fz_part(&in, &nonce, &nlen);
		check(attest, alen, sig, slen, nonce, nlen);
		break;
	case 2:
		signed_attest(&in);
		break;
	default:
		vendor_ca(&in);
		break;
	}
	hl_error_clear();
	return 0;
}
