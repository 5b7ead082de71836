/*
 * manufacture.c - the lab's TPM vendor CA and host TPM manufacturing (see
 * manufacture.h).
 *
 * `hgslab host new` calls hosts_tpm_manufacture() to give a guarded host its
 * "physical" TPM: swtpm_setup creates the EK and stores an EK certificate
 * that swtpm_localca issues with the lab's vendor CA.  The CA key and
 * certificate are made here with lib/crypto (OpenSSL); swtpm_localca only
 * reads them through the configuration files written beside them.  HGS
 * trusts the CA certificate (hosts_vendor_ca_cert_path) to check EK
 * certificates at registration and attestation.  swtpm_setup runs as a
 * supervised child (lib/child) from an argv, bounded in time.
 */
#include "hosts/manufacture.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* The TPM state file swtpm writes for a TPM 2.0 (its presence means "manufactured"). */
#define STATE_FILE "tpm2-00.permall"

/* Longest host name accepted (a DNS label). */
#define HOST_MAX 63

/* CA certificate lifetime. */
#define CA_YEARS 20

/* swtpm_cert options every EK / platform certificate of this vendor gets. */
static const char base_options[] =
	"--platform-manufacturer hgslab\n"
	"--platform-version 1.0\n"
	"--platform-model guarded-host\n";

/* malloc'd "DIR/NAME", or NULL after hl_error(). */
static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (!p) {
		hl_error("cannot build path '%s/%s': out of memory", dir, name);
		return NULL;
	}
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/*
 * Make PATH absolute into *OUT and check it can be written into swtpm's
 * "key = value" configuration files (no newline, '#' or '$').
 */
static int config_path(const char *path, const char *what, char **out)
{
	*out = NULL;
	if (!path || !path[0])
		return hl_error("no %s directory given", what);
	if (strpbrk(path, "\n\r#$"))
		return hl_error("%s directory '%s' contains a newline, '#' or '$', which swtpm's "
				"configuration files cannot hold; choose another path", what, path);
	return hl_file_abspath(path, out);
}

/* Write TEXT to DIR/NAME (mode 0644). */
static int write_text(const char *dir, const char *name, const char *text)
{
	char *p = path_join(dir, name);
	int ret;

	if (!p)
		return -1;
	ret = hl_file_write(p, text, strlen(text), HL_FILE_MODE_PUBLIC);
	free(p);
	return ret;
}

/*
 * Write swtpm_setup.conf into DIR, pointing at the localca configuration of
 * VENDOR and at the options file OPTIONS.
 */
static int write_setup_conf(const char *dir, const char *vendor, const char *options)
{
	char text[3 * PATH_MAX + 512];

	snprintf(text, sizeof(text),
		 "# hgslab TPM vendor: swtpm_setup uses swtpm_localca with this lab's CA\n"
		 "create_certs_tool = swtpm_localca\n"
		 "create_certs_tool_config = %s/%s\n"
		 "create_certs_tool_options = %s\n"
		 "active_pcr_banks = sha1,sha256\n",
		 vendor, HOSTS_VENDOR_LOCALCA_CONF, options);
	return write_text(dir, HOSTS_VENDOR_SETUP_CONF, text);
}

/* Write the swtpm_localca configuration files of vendor directory DIR. */
static int write_vendor_configs(const char *dir)
{
	char text[4 * PATH_MAX + 512], options[PATH_MAX + 64];

	snprintf(text, sizeof(text),
		 "# hgslab TPM vendor CA: swtpm_localca signs EK and platform certificates\n"
		 "statedir = %s\n"
		 "signingkey = %s/%s\n"
		 "issuercert = %s/%s\n"
		 "certserial = %s/certserial\n",
		 dir, dir, HOSTS_VENDOR_CA_KEY_FILE, dir, HOSTS_VENDOR_CA_CERT_FILE, dir);
	snprintf(options, sizeof(options), "%s/%s", dir, HOSTS_VENDOR_LOCALCA_OPTIONS);
	if (write_text(dir, HOSTS_VENDOR_LOCALCA_CONF, text) < 0 ||
	    write_text(dir, HOSTS_VENDOR_LOCALCA_OPTIONS, base_options) < 0 ||
	    write_setup_conf(dir, dir, options) < 0)
		return -1;
	return 0;
}

/* Issue the self-signed vendor CA certificate for KEY. */
static int issue_ca_cert(EVP_PKEY *key, X509 **out)
{
	char fp[HL_SHA256_HEX_SIZE], cn[64];
	struct hl_cert_spec spec;
	time_t now = time(NULL);

	*out = NULL;
	if (hl_key_fingerprint(key, fp) < 0)
		return -1;
	snprintf(cn, sizeof(cn), "hgslab TPM Vendor CA %.8s", fp);
	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.org = "hgslab";
	spec.not_before = now - 3600;
	spec.not_after = now + (time_t)CA_YEARS * 365 * 24 * 3600;
	spec.is_ca = 1;
	spec.path_len = 0;
	return hl_cert_issue_self_signed(&spec, key, out);
}

int hosts_vendor_ca_init(const char *dir)
{
	char *abs = NULL, *key_path = NULL, *cert_path = NULL;
	struct hl_buf pem = { NULL, 0 };
	EVP_PKEY *key = NULL, *cert_key = NULL;
	X509 *cert = NULL;
	char *text = NULL;
	size_t len = 0;
	int have_key, have_cert, ret = -1;

	if (config_path(dir, "vendor ca", &abs) < 0)
		return -1;
	key_path = path_join(abs, HOSTS_VENDOR_CA_KEY_FILE);
	cert_path = path_join(abs, HOSTS_VENDOR_CA_CERT_FILE);
	if (!key_path || !cert_path || hl_file_mkdirs(abs, 0700) < 0)
		goto out;
	have_key = hl_file_exists(key_path);
	have_cert = hl_file_exists(cert_path);
	if (have_key < 0 || have_cert < 0)
		goto out;
	if (have_cert && !have_key) {
		hl_error("vendor ca '%s' has a certificate but no key '%s'; restore the key or "
			 "remove the directory to make a new vendor (every TPM it issued must "
			 "then be manufactured again)", abs, HOSTS_VENDOR_CA_KEY_FILE);
		goto out;
	}
	if (have_key) {
		if (hl_key_priv_load_file(key_path, &key) < 0)
			goto out;
	} else {
		if (hl_key_generate(HL_KEY_RSA2048, &key) < 0 || hl_key_priv_to_pem(key, &pem) < 0 ||
		    hl_file_write_private(key_path, pem.data, pem.len) < 0)
			goto out;
		hl_buf_free(&pem);
	}
	if (have_cert) {
		if (hl_file_read(cert_path, HL_FILE_READ_MAX, &text, &len) < 0 ||
		    hl_cert_from_pem(text, len, &cert) < 0 || hl_cert_pubkey(cert, &cert_key) < 0)
			goto out;
		if (!hl_key_pub_equal(key, cert_key)) {
			hl_error("vendor ca '%s': '%s' does not belong to the key '%s'; remove the "
				 "directory to make a new vendor", abs, HOSTS_VENDOR_CA_CERT_FILE,
				 HOSTS_VENDOR_CA_KEY_FILE);
			goto out;
		}
	} else {
		if (issue_ca_cert(key, &cert) < 0 || hl_cert_to_pem(cert, &pem) < 0 ||
		    hl_file_write(cert_path, pem.data, pem.len, HL_FILE_MODE_PUBLIC) < 0)
			goto out;
	}
	if (write_vendor_configs(abs) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		hl_error_wrap("cannot initialise tpm vendor ca '%s'", dir ? dir : "");
	hl_buf_free(&pem);
	hl_key_free(key);
	hl_key_free(cert_key);
	hl_cert_free(cert);
	free(text);
	free(abs);
	free(key_path);
	free(cert_path);
	return ret;
}

int hosts_vendor_ca_copy(const char *from, const char *to)
{
	static const char *const files[] = { HOSTS_VENDOR_CA_KEY_FILE, HOSTS_VENDOR_CA_CERT_FILE };
	char *src = NULL, *dst = NULL, *data = NULL;
	size_t len = 0;
	int ex, ret = -1;

	if (config_path(to, "vendor ca", &dst) < 0 || hl_file_mkdirs(dst, 0700) < 0)
		goto out;
	free(dst);
	if (!(dst = path_join(to, HOSTS_VENDOR_CA_KEY_FILE)) || (ex = hl_file_exists(dst)) < 0)
		goto out;
	if (ex) {
		hl_error("'%s' holds a vendor CA already", to);
		goto out;
	}
	free(dst);
	dst = NULL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!(src = path_join(from, files[i])) || !(dst = path_join(to, files[i])) ||
		    hl_file_read(src, HL_FILE_READ_MAX, &data, &len) < 0)
			goto out;
		/* the key stays private; the certificate is public */
		if ((i == 0 ? hl_file_write_private(dst, data, len) :
		     hl_file_write(dst, data, len, HL_FILE_MODE_PUBLIC)) < 0)
			goto out;
		hl_crypto_cleanse(data, len);
		free(data);
		free(src);
		free(dst);
		data = src = dst = NULL;
	}
	ret = hosts_vendor_ca_init(to);
out:
	if (ret < 0)
		hl_error_wrap("cannot copy the TPM vendor CA '%s' to '%s'", from, to);
	if (data)
		hl_crypto_cleanse(data, len);
	free(data);
	free(src);
	free(dst);
	return ret;
}

int hosts_vendor_ca_cert_path(const char *dir, char **out)
{
	char *abs = NULL, *p = NULL;
	int ex;

	*out = NULL;
	if (config_path(dir, "vendor ca", &abs) < 0)
		return -1;
	p = path_join(abs, HOSTS_VENDOR_CA_CERT_FILE);
	free(abs);
	if (!p)
		return -1;
	ex = hl_file_exists(p);
	if (ex <= 0) {
		if (ex == 0)
			hl_error("vendor ca certificate '%s' does not exist; initialise the vendor "
				 "ca first", p);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int hosts_vendor_ca_cert(const char *dir, X509 **out)
{
	char *path = NULL, *text = NULL;
	size_t len = 0;
	int ret = -1;

	*out = NULL;
	if (hosts_vendor_ca_cert_path(dir, &path) < 0)
		return -1;
	if (hl_file_read(path, HL_FILE_READ_MAX, &text, &len) == 0 &&
	    hl_cert_from_pem(text, len, out) == 0)
		ret = 0;
	else
		hl_error_wrap("cannot load vendor ca certificate '%s'", path);
	free(text);
	free(path);
	return ret;
}

/* Check HOST can be a certificate CN and a swtpm_cert option word. */
static int check_host(const char *host)
{
	size_t i, n = host ? strlen(host) : 0;

	if (n == 0 || n > HOST_MAX)
		return hl_error("cannot manufacture a tpm: host name must be 1 to %d characters",
				HOST_MAX);
	for (i = 0; i < n; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return hl_error("cannot manufacture a tpm for '%s': host names may hold only "
					"letters, digits, '.', '_' and '-'", host);
	}
	return 0;
}

/* The last non-empty line of the file at PATH into BUF ("" when none). */
static void last_line(const char *path, char *buf, size_t size)
{
	char *text = NULL, *end, *start;
	size_t len = 0;

	buf[0] = '\0';
	if (hl_file_read(path, HL_FILE_READ_MAX, &text, &len) < 0) {
		hl_error_clear();
		return;
	}
	end = text + len;
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	start = strrchr(text, '\n');
	snprintf(buf, size, "%s", start ? start + 1 : text);
	free(text);
}

/* Run swtpm_setup (ARGV) with its output appended to LOG; 0 when it exits with 0. */
static int run_setup(const char *const *argv, const char *log)
{
	struct hl_child_opts o;
	struct hl_child *c = NULL;
	char line[512];
	int status = -1, ret = -1;

	memset(&o, 0, sizeof(o));
	o.name = "swtpm_setup";
	o.log_path = log;
	if (hl_child_spawn(argv, &o, &c) < 0)
		return -1;
	if (hl_child_wait(c, HOSTS_MANUFACTURE_TIMEOUT_MS, &status) < 0) {
		hl_child_stop(c, 1000, NULL);
		goto out;
	}
	if (status != 0) {
		last_line(log, line, sizeof(line));
		hl_error("swtpm_setup exited with status %d: %s; see '%s'", status,
			 line[0] ? line : "(no output)", log);
		goto out;
	}
	ret = 0;
out:
	hl_child_free(c);
	return ret;
}

int hosts_tpm_manufacture(const char *vendor_dir, const char *state_dir, const char *host)
{
	char *vendor = NULL, *state = NULL, *cert = NULL, *state_file = NULL, *log = NULL;
	char *tmp = NULL, *options = NULL, *conf = NULL, *opt_text = NULL;
	int ex, made_tmp = 0, created_state = 0, ret = -1;
	double t0 = hl_clock_s();

	if (check_host(host) < 0)
		return -1;
	if (config_path(vendor_dir, "vendor ca", &vendor) < 0 ||
	    config_path(state_dir, "tpm state", &state) < 0)
		goto out;
	if (hosts_vendor_ca_cert_path(vendor, &cert) < 0)
		goto out;
	state_file = path_join(state, STATE_FILE);
	log = path_join(state, HOSTS_MANUFACTURE_LOG);
	tmp = path_join(vendor, ".setup-XXXXXX");
	if (!state_file || !log || !tmp || hl_file_mkdirs(state, 0700) < 0)
		goto out;
	ex = hl_file_exists(state_file);
	if (ex != 0) {
		if (ex > 0)
			hl_error("'%s' already holds a manufactured tpm; remove it to make a new "
				 "one (the host then needs registering again)", state);
		goto out;
	}

	/* per-call configuration: the vendor's options plus this host's subject */
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create '%s'", tmp);
		goto out;
	}
	made_tmp = 1;
	options = path_join(tmp, HOSTS_VENDOR_LOCALCA_OPTIONS);
	conf = path_join(tmp, HOSTS_VENDOR_SETUP_CONF);
	if (!options || !conf)
		goto out;
	if (asprintf(&opt_text, "%s--subject CN=%s\n", base_options, host) < 0) {
		opt_text = NULL;
		hl_error("cannot manufacture a tpm: out of memory");
		goto out;
	}
	if (write_text(tmp, HOSTS_VENDOR_LOCALCA_OPTIONS, opt_text) < 0 ||
	    write_setup_conf(tmp, vendor, options) < 0)
		goto out;

	{
		const char *argv[] = {
			"swtpm_setup", "--tpm2", "--tpmstate", state, "--create-ek-cert",
			"--create-platform-cert", "--create-spk", "--lock-nvram",
			"--pcr-banks", "sha1,sha256", "--config", conf, NULL
		};

		created_state = 1;
		if (run_setup(argv, log) < 0)
			goto out;
	}
	if (hl_file_exists(state_file) != 1) {
		hl_error("swtpm_setup succeeded but wrote no '%s'; see '%s'", STATE_FILE, log);
		goto out;
	}
	hl_log_info("manufactured tpm for '%s' in '%s' (%.0f ms)", host, state,
		    (hl_clock_s() - t0) * 1e3);
	ret = 0;
out:
	if (ret < 0) {
		if (created_state && state_file)
			unlink(state_file);
		hl_error_wrap("cannot manufacture tpm for '%s'", host ? host : "");
	}
	if (made_tmp) {
		char saved[HL_ERROR_MAX];

		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		if (hl_file_rmtree(tmp) < 0)
			hl_log_warn("cannot remove '%s': %s", tmp, hl_error_last());
		if (ret < 0)
			hl_error("%s", saved);
	}
	free(vendor);
	free(state);
	free(cert);
	free(state_file);
	free(log);
	free(tmp);
	free(options);
	free(conf);
	free(opt_text);
	return ret;
}
