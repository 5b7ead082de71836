/*
 * template.h - the tenant's template disks: making a generalized template
 * image from files (new-template-disk), the signers that sign templates
 * (new-template-signer), and Protect-TemplateDisk (protect-template-disk),
 * which appends a volume signature catalog to a template.  Reading a
 * protected template is vm/template.h's; the formats are proto/vsc*.h and
 * proto/fsk.h (docs/templates.md).
 *
 * A template image is an ext4 file system made with `mke2fs -d` (no root),
 * like new-vm's plain disk (tenant/vm.h's staging and mkfs steps), holding
 * /.hgslab/generalized.json: the files that hold placeholders (@Name@) for
 * specialization to fill in.  It is plaintext and holds no secret: it is
 * written 0644.
 *
 * Signers live in the tenant directory:
 *
 *   DIR/signers/NAME/signer.crt   PEM, 0644 (the certificate; give it to
 *                                 whoever checks the templates, e.g.
 *                                 `openssl cms -verify -CAfile`)
 *   DIR/signers/NAME/signer.key   PKCS#8 PEM, 0600
 *
 * Every file here is made whole beside its place and renamed in, so a
 * failure leaves nothing behind; protecting a template replaces the file in
 * one rename.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); where a function
 * says so, -2 (after hl_error()) when the input is refused (a bad or foreign
 * file, a rule not met): the command exits 2 then.
 */
#ifndef HGSLAB_TENANT_TEMPLATE_H
#define HGSLAB_TENANT_TEMPLATE_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "proto/vsc.h"
#include "tenant/vm.h"

/* A signer name: as a guardian's, 1 to 64 of A-Z a-z 0-9 . _ - (proto/names.h). */
#define HL_TEMPLATE_SIGNER_NAME_SIZE 65
/* Validity of the certificates new-template-signer makes (10 years). */
#define HL_TEMPLATE_SIGNER_DAYS 3650

/*
 * new-template-disk: make OUT, an ext4 template image of SIZE bytes
 * (1M to 16G, rounded up to a multiple of 4096), holding SRCDIR's tree
 * (when not NULL) and the N FILES, plus /.hgslab/generalized.json listing
 * every regular file that holds a placeholder (their count into
 * *N_GENERALIZED).  An existing OUT is refused unless FORCE.  Returns -2
 * for refused input (a bad size or file name, an existing OUT, a SRCDIR
 * that brings its own .hgslab/generalized.json).
 */
int hl_template_new(const char *out, size_t size, const struct hl_vm_file *files, size_t n,
		    const char *srcdir, int force, size_t *n_generalized);

/*
 * new-template-signer: make signer NAME in DIR (created 0700 when missing)
 * with a fresh key of TYPE and a self-signed certificate
 * "Template Disk Signing Certificate (NAME)" (digitalSignature, codeSigning).
 * An existing signer is refused (-2).
 */
int hl_template_signer_new(const char *dir, const char *name, enum hl_key_type type);

/* Load signer NAME of DIR: its certificate into *CERT and, when KEY is not NULL, its key. */
int hl_template_signer_load(const char *dir, const char *name, X509 **cert, EVP_PKEY **key);

/*
 * The name of the signer of DIR whose certificate has THUMBPRINT into NAME;
 * -1 with a message when DIR has none.
 */
int hl_template_signer_find(const char *dir, const char *thumbprint,
			    char name[HL_TEMPLATE_SIGNER_NAME_SIZE]);

/* What protect-template-disk is asked (Protect-TemplateDisk). */
struct hl_template_protect {
	const char *disk;           /* the template file, replaced in one rename */
	const char *name;           /* NULL: --populate-from's name */
	const char *version;        /* "a.b.c.d", required */
	X509 *cert;                 /* the signer; both NULL: --populate-from's signer, */
	EVP_PKEY *key;              /*   looked up by thumbprint in dir's signers */
	const char *dir;            /* tenant directory for that lookup, or NULL */
	const char *populate_from;  /* an earlier protected template, or NULL */
	time_t signed_at;
};

/*
 * Protect P->disk: a plain image (its size a multiple of 4096) or a
 * protected template (its trailer is replaced; the image is what is
 * signed).  With populate_from, the earlier template's name and signer are
 * taken unless given, and the version must be greater than or equal to its
 * version.  The image is copied into a new file beside the disk while it
 * is hashed, the VSC signed and appended with its footer, and the new file
 * renamed over the old.  *OUT (may be NULL) gets the new VSC, parsed.
 * Returns -2 for refused input (not a template image, a bad version or
 * name, an earlier template that does not open or whose version is higher,
 * no signer).
 */
int hl_template_protect(const struct hl_template_protect *p, struct hl_vsc **out);

#endif
