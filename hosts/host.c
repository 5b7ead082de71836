/*
 * host.c - a guarded host's directory (see host.h): creating it with a
 * manufactured TPM and a machine key, opening it, its boot profile, its HGS
 * client configuration and its attestation state.
 *
 * `hgslab host new` (hosts/cmd_host.c) calls host_create; the agent
 * (hosts/agent.c) and the other host verbs open the directory with
 * host_open and read or write the configuration and state kept here.  The
 * TPM itself is manufactured by hosts/manufacture (or adopted from a state made
 * ahead of time, hosts/tpm_state) and driven by
 * hosts/tpm_host; this file only decides where things live.
 */
#include "hosts/host.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hosts/manufacture.h"
#include "hosts/tpm_state.h"
#include "lib/dnsname.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proto/names.h"

#define HOST_FORMAT "hgslab-host"
#define HOST_VERSION 1
#define CLIENT_FORMAT "hgslab-host-client"
#define STATE_FORMAT "hgslab-host-state"

/* Largest configuration or state file read (they are small). */
#define SMALL_FILE_MAX ((size_t)1 << 20)

/* ---- small helpers ---- */

/* "A/B" into a new string *OUT. */
static int join(const char *a, const char *b, char **out)
{
	size_t n = strlen(a) + strlen(b) + 2;

	*out = malloc(n);
	if (!*out)
		return hl_error("out of memory");
	snprintf(*out, n, "%s/%s", a, b);
	return 0;
}

/* A copy of S (NULL stays NULL) into *OUT. */
static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : hl_error("out of memory");
}

/* Format T as "2026-11-28T17:21:05Z" into BUF. */
static void time_text(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
}

/* Write V as indented JSON to PATH (atomic, MODE). */
static int write_json(const char *path, const json_t *v, mode_t mode)
{
	char *s = NULL;
	int rc;

	if (hl_json_dump_pretty(v, &s) < 0)
		return -1;
	rc = hl_file_write(path, s, strlen(s), mode);
	free(s);
	return rc;
}

/* Read PATH as a JSON object into *OUT; WHAT names it in messages. */
static int read_json(const char *path, const char *what, json_t **out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	if (hl_file_read(path, SMALL_FILE_MAX, &buf, &len) < 0)
		return -1;
	if (hl_json_parse(buf, len, SMALL_FILE_MAX, out) < 0) {
		hl_error_wrap("the %s '%s' is damaged", what, path);
		goto out;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		hl_error("the %s '%s' is damaged: not a JSON object", what, path);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Write DIR/FILE as JSON V (MODE). */
static int write_in(const char *dir, const char *file, const json_t *v, mode_t mode)
{
	char *path = NULL;
	int rc;

	if (join(dir, file, &path) < 0)
		return -1;
	rc = write_json(path, v, mode);
	free(path);
	return rc;
}

/* Write DIR/FILE with LEN bytes of DATA (MODE). */
static int write_bytes_in(const char *dir, const char *file, const void *data, size_t len,
			  mode_t mode)
{
	char *path = NULL;
	int rc;

	if (join(dir, file, &path) < 0)
		return -1;
	rc = hl_file_write(path, data, len, mode);
	free(path);
	return rc;
}

/* ---- checks ---- */

int host_check_listen(const char *addr)
{
	struct in_addr a;

	if (!addr || inet_pton(AF_INET, addr, &a) != 1)
		return hl_error("invalid listen address '%s': expected an IPv4 loopback address such "
				"as 127.0.0.5", addr ? addr : "");
	if ((ntohl(a.s_addr) >> 24) != 127)
		return hl_error("invalid listen address '%s': a host's swtpm listens on a loopback "
				"address (127.0.0.0/8) only", addr);
	return 0;
}

/* ---- create ---- */

/* Generate the machine key into TMP's keys/ (private 0600, public 0644). */
static int make_host_key(const char *tmp)
{
	EVP_PKEY *key = NULL;
	struct hl_buf priv = { 0 }, pub = { 0 };
	int rc = -1;

	if (hl_key_generate(HL_KEY_EC_P256, &key) < 0 || hl_key_priv_to_pem(key, &priv) < 0 ||
	    hl_key_pub_to_pem(key, &pub) < 0)
		goto out;
	if (write_bytes_in(tmp, HOST_KEY_FILE, priv.data, priv.len, HL_FILE_MODE_PRIVATE) < 0 ||
	    write_bytes_in(tmp, HOST_KEY_PUB_FILE, pub.data, pub.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	hl_buf_free(&priv);
	hl_buf_free(&pub);
	hl_key_free(key);
	return rc;
}

/* Write the profile and its CI policy document into DIR. */
static int write_profile(const char *dir, const struct hl_profile *p)
{
	json_t *j = NULL;
	char *doc = NULL;
	size_t len = 0;
	int rc = -1;

	if (hl_profile_to_json(p, &j) < 0 || hl_profile_ci_policy_document(p->ci_policy, &doc, &len) < 0)
		goto out;
	/* the CI policy first: a profile never names a document that is not there */
	if (write_bytes_in(dir, HOST_CI_POLICY_FILE, doc, len, HL_FILE_MODE_PUBLIC) < 0 ||
	    write_in(dir, HOST_PROFILE_FILE, j, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	json_decref(j);
	free(doc);
	return rc;
}

/* Write host.json into DIR. */
static int write_identity(const char *dir, const char *name, const char *domain,
			  const char *listen, const char *vendor, time_t created)
{
	char when[32], fqdn[(HL_NAME_COMPUTER_SIZE - 1) + HOST_DOMAIN_MAX + 2];
	json_t *j = json_object();
	int rc;

	if (!j)
		return hl_error("out of memory");
	time_text(created, when, sizeof(when));
	snprintf(fqdn, sizeof(fqdn), "%s.%s", name, domain);
	json_object_set_new(j, "format", json_string(HOST_FORMAT));
	json_object_set_new(j, "version", json_integer(HOST_VERSION));
	json_object_set_new(j, "name", json_string(name));
	json_object_set_new(j, "domain", json_string(domain));
	json_object_set_new(j, "fqdn", json_string(fqdn));
	json_object_set_new(j, "listen", json_string(listen));
	json_object_set_new(j, "vendor_dir", json_string(vendor));
	json_object_set_new(j, "created", json_string(when));
	json_object_set_new(j, "created_unix", json_integer((json_int_t)created));
	rc = write_in(dir, HOST_CONFIG_FILE, j, HL_FILE_MODE_PUBLIC);
	json_decref(j);
	return rc;
}

/* 0 when DIR may become a host directory (missing or an empty directory). */
int host_new_target_check(const char *dir)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int empty = 1;

	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return hl_error_errno("cannot check '%s'", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return hl_error("'%s' exists and is not a directory", dir);
	if (!(d = opendir(dir)))
		return hl_error_errno("cannot read '%s'", dir);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	if (!empty)
		return hl_error("'%s' exists and is not empty (a host directory already?); remove "
				"it or choose a new directory to make a new host", dir);
	return 0;
}

int host_create(const struct host_new_params *p)
{
	struct hl_profile prof;
	char *dir = NULL, *parent = NULL, *vendor = NULL, *tmp = NULL, *tpm = NULL, *keys = NULL;
	char *ak = NULL, *tk = NULL;
	const char *listen = p->listen ? p->listen : HOST_LISTEN_DEFAULT, *base;
	int rc = -1, have_tmp = 0;

	if (hl_name_computer("host name", p->name) < 0 || hl_dnsname_check(p->domain) < 0 ||
	    host_check_listen(listen) < 0 ||
	    hl_profile_parse(p->profile ? p->profile : "baseline", &prof) < 0)
		return -1;
	if (!p->dir || !p->dir[0])
		return hl_error("no host directory given");
	if (hl_file_abspath(p->dir, &dir) < 0)
		return -1;
	base = strrchr(dir, '/');
	if (!base || !base[1] || strcmp(base + 1, ".") == 0 || strcmp(base + 1, "..") == 0) {
		hl_error("cannot create a host at '%s': name a directory", p->dir);
		goto out;
	}
	parent = strndup(dir, (size_t)(base - dir));
	if (!parent) {
		hl_error("out of memory");
		goto out;
	}
	if (!parent[0]) {
		free(parent);
		parent = strdup("/");
		if (!parent) {
			hl_error("out of memory");
			goto out;
		}
	}
	if (hl_file_mkdirs(parent, 0755) < 0 || host_new_target_check(dir) < 0)
		goto out;
	if (p->vendor_dir) {
		if (hl_file_abspath(p->vendor_dir, &vendor) < 0)
			goto out;
	} else if (join(parent, HOST_VENDOR_DIR_DEFAULT, &vendor) < 0) {
		goto out;
	}
	/* an adopted TPM comes from an existing vendor: its CA is not made here */
	if (!p->tpm_state && hosts_vendor_ca_init(vendor) < 0) {
		hl_error_wrap("cannot set up the TPM vendor CA in '%s'", vendor);
		goto out;
	}

	if (!(tmp = malloc(strlen(parent) + strlen(base) + 16))) {
		hl_error("out of memory");
		goto out;
	}
	sprintf(tmp, "%s/.%s.new.XXXXXX", parent, base + 1);
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a temporary directory beside '%s'", dir);
		goto out;
	}
	have_tmp = 1;
	if (join(tmp, HOST_TPM_DIR, &tpm) < 0 || join(tmp, HOST_KEYS_DIR, &keys) < 0)
		goto out;
	if (chmod(tmp, 0700) < 0 || mkdir(keys, 0700) < 0) {
		hl_error_errno("cannot create '%s'", keys);
		goto out;
	}
	if (p->tpm_state) {
		if (join(tmp, HOST_AK_FILE, &ak) < 0 || join(tmp, HOST_TK_FILE, &tk) < 0)
			goto out;
		hl_log_info("adopting the TPM state '%s' for host '%s' (vendor CA '%s')",
			    p->tpm_state, p->name, vendor);
		if (hosts_tpm_state_adopt(p->tpm_state, vendor, tpm, ak, tk) < 0)
			goto out;
	} else {
		hl_log_info("manufacturing the TPM of host '%s' (vendor CA '%s')", p->name, vendor);
		if (hosts_tpm_manufacture(vendor, tpm, p->name) < 0) {
			hl_error_wrap("cannot manufacture the TPM of host '%s'", p->name);
			goto out;
		}
	}
	if (make_host_key(tmp) < 0 || write_profile(tmp, &prof) < 0 ||
	    write_identity(tmp, p->name, p->domain, listen, vendor, time(NULL)) < 0)
		goto out;
	if (rename(tmp, dir) < 0) {
		hl_error_errno("cannot move the new host into '%s'", dir);
		goto out;
	}
	have_tmp = 0;
	rc = 0;
out:
	if (have_tmp) {
		char saved[HL_ERROR_MAX];

		/* keep the real error: the cleanup must not replace it */
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		if (hl_file_rmtree(tmp) < 0)
			hl_log_warn("cannot remove '%s': %s", tmp, hl_error_last());
		hl_error("%s", saved);
	}
	free(dir);
	free(parent);
	free(vendor);
	free(tmp);
	free(tpm);
	free(keys);
	free(ak);
	free(tk);
	return rc;
}

/* ---- open ---- */

/* Copy string member NAME of J into BUF (SIZE), which it must fit. */
static int get_fixed(const json_t *j, const char *name, char *buf, size_t size)
{
	const char *s;

	if (hl_json_get_string(j, name, &s) < 0)
		return -1;
	if (strlen(s) >= size)
		return hl_error("field '%s' is too long", name);
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

int host_open(const char *dir, struct host **out)
{
	struct host *h = NULL;
	json_t *j = NULL, *pj = NULL;
	char *path = NULL;
	const char *format, *vendor;
	json_int_t version = 0, created = 0;
	int ex, rc = -1;

	*out = NULL;
	if (!dir || !dir[0])
		return hl_error("no host directory given");
	if (!(h = calloc(1, sizeof(*h))))
		return hl_error("out of memory");
	if (hl_file_abspath(dir, &h->dir) < 0 || join(h->dir, HOST_CONFIG_FILE, &path) < 0)
		goto out;
	ex = hl_file_exists(path);
	if (ex <= 0) {
		if (ex == 0)
			hl_error("'%s' is not a host directory (no %s); create one with `hgslab host "
				 "new --dir %s --name NAME --domain DOMAIN`", dir, HOST_CONFIG_FILE, dir);
		goto out;
	}
	if (read_json(path, "host configuration", &j) < 0)
		goto out;
	if (hl_json_get_string(j, "format", &format) < 0 || strcmp(format, HOST_FORMAT) != 0 ||
	    hl_json_get_int(j, "version", &version) < 0 || version != HOST_VERSION) {
		hl_error("'%s' is not an hgslab host configuration of version %d", path, HOST_VERSION);
		goto out;
	}
	if (get_fixed(j, "name", h->name, sizeof(h->name)) < 0 ||
	    get_fixed(j, "domain", h->domain, sizeof(h->domain)) < 0 ||
	    get_fixed(j, "listen", h->listen, sizeof(h->listen)) < 0 ||
	    hl_json_get_string(j, "vendor_dir", &vendor) < 0 ||
	    hl_json_get_int_opt(j, "created_unix", 0, &created) < 0 ||
	    hl_name_computer("host name", h->name) < 0 || host_check_listen(h->listen) < 0) {
		hl_error_wrap("host configuration '%s'", path);
		goto out;
	}
	h->created = (time_t)created;
	if (!(h->vendor_dir = strdup(vendor))) {
		hl_error("out of memory");
		goto out;
	}
	free(path);
	path = NULL;
	if (join(h->dir, HOST_PROFILE_FILE, &path) < 0 || read_json(path, "boot profile", &pj) < 0)
		goto out;
	if (hl_profile_from_json(pj, &h->profile) < 0) {
		hl_error_wrap("boot profile '%s'", path);
		goto out;
	}
	*out = h;
	h = NULL;
	rc = 0;
out:
	json_decref(j);
	json_decref(pj);
	free(path);
	host_close(h);
	return rc;
}

void host_close(struct host *h)
{
	if (!h)
		return;
	free(h->dir);
	free(h->vendor_dir);
	free(h);
}

int host_path(const struct host *h, const char *file, char **out)
{
	*out = NULL;
	return join(h->dir, file, out);
}

int host_set_profile(struct host *h, const struct hl_profile *p)
{
	if (write_profile(h->dir, p) < 0)
		return -1;
	h->profile = *p;
	return 0;
}

int host_ci_policy(const struct host *h, char **out, size_t *len)
{
	*out = NULL;
	return hl_profile_ci_policy_document(h->profile.ci_policy, out, len);
}

int host_key_load(const struct host *h, EVP_PKEY **out)
{
	char *path = NULL;
	int rc;

	*out = NULL;
	if (host_path(h, HOST_KEY_FILE, &path) < 0)
		return -1;
	rc = hl_key_priv_load_file(path, out);
	if (rc < 0)
		hl_error_wrap("cannot load the machine key of host '%s'", h->name);
	free(path);
	return rc;
}

int host_key_pub_pem(const struct host *h, struct hl_buf *out)
{
	EVP_PKEY *key = NULL;
	int rc;

	out->data = NULL;
	out->len = 0;
	if (host_key_load(h, &key) < 0)
		return -1;
	rc = hl_key_pub_to_pem(key, out);
	hl_key_free(key);
	return rc;
}

/* ---- client configuration ---- */

/* Check URL (WHAT names it): http:// or https://, a host, no spaces. */
static int check_url(const char *url, const char *what)
{
	const char *rest;

	if (!url)
		return 0;
	if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		return hl_error("invalid %s '%s': expected an http:// or https:// URL, e.g. "
				"http://hgs.relecloud.com:8080/Attestation", what, url);
	if (!rest[0] || rest[0] == '/' || rest[0] == ':')
		return hl_error("invalid %s '%s': no host name", what, url);
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return hl_error("invalid %s '%s': spaces and control characters are not "
					"allowed", what, url);
	if (strlen(url) >= 480)
		return hl_error("invalid %s '%s': too long", what, url);
	return 0;
}

/*
 * 1 when E is a resolve entry "NAME:PORT:ADDR" (ADDR IPv4, or a list of
 * them "A1,A2,A3": a cluster's nodes, tried in turn), 0 otherwise.
 */
static int resolve_ok(const char *e)
{
	const char *c1 = strchr(e, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *p;
	char port[8], addr[64];
	struct in_addr a;
	long pv;
	char *end;

	if (!c1 || !c2 || c1 == e || c2 - c1 - 1 <= 0 || (size_t)(c2 - c1 - 1) >= sizeof(port) ||
	    strlen(c2 + 1) >= 8 * sizeof(addr))
		return 0;
	for (const char *c = e; c < c1; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
			return 0;
	memcpy(port, c1 + 1, (size_t)(c2 - c1 - 1));
	port[c2 - c1 - 1] = '\0';
	errno = 0;
	pv = strtol(port, &end, 10);
	if (errno || *end || pv < 1 || pv > 65535)
		return 0;
	for (p = c2 + 1;; p += strcspn(p, ",") + 1) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(addr))
			return 0;
		memcpy(addr, p, n);
		addr[n] = '\0';
		if (inet_pton(AF_INET, addr, &a) != 1)
			return 0;
		if (!p[n])
			return 1;
	}
}

/* Check one resolve entry "NAME:PORT:ADDR". */
static int check_resolve(const char *e)
{
	if (!resolve_ok(e))
		return hl_error("invalid resolve entry '%s': expected NAME:PORT:ADDR, e.g. "
				"hgs.relecloud.com:8080:127.0.0.2 (several addresses: "
				"127.0.0.1,127.0.0.2)", e);
	return 0;
}

int host_client_config_check(const struct host_client_config *c)
{
	if (!c->attestation_url || !c->key_protection_url) {
		if (c->attestation_url || c->key_protection_url)
			return hl_error("the attestation URL and the key protection URL are set "
					"together (Set-HgsClientConfiguration takes both)");
		if (c->fallback_attestation_url || c->fallback_key_protection_url)
			return hl_error("fallback URLs need the primary attestation and key "
					"protection URLs");
	}
	if (!c->fallback_attestation_url != !c->fallback_key_protection_url)
		return hl_error("the fallback attestation URL and the fallback key protection URL "
				"are set together");
	if (check_url(c->attestation_url, "attestation URL") < 0 ||
	    check_url(c->key_protection_url, "key protection URL") < 0 ||
	    check_url(c->fallback_attestation_url, "fallback attestation URL") < 0 ||
	    check_url(c->fallback_key_protection_url, "fallback key protection URL") < 0 ||
	    check_url(c->dc_url, "domain controller URL") < 0)
		return -1;
	if (c->n_resolve > HOST_RESOLVE_MAX)
		return hl_error("too many resolve entries (%zu): at most %d", c->n_resolve,
				HOST_RESOLVE_MAX);
	for (size_t i = 0; i < c->n_resolve; i++)
		if (check_resolve(c->resolve[i]) < 0)
			return -1;
	return 0;
}

/* Read optional string member NAME of J into a new string *OUT. */
static int get_str_dup(const json_t *j, const char *name, char **out)
{
	const char *s = NULL;

	*out = NULL;
	if (hl_json_get_string_opt(j, name, NULL, &s) < 0)
		return -1;
	return dup_opt(s, out);
}

/* Read the members of client configuration J into C (which the caller releases). */
static int client_from_json(const json_t *j, struct host_client_config *c)
{
	json_t *arr = NULL, *e;
	size_t i;

	if (get_str_dup(j, "attestation_url", &c->attestation_url) < 0 ||
	    get_str_dup(j, "key_protection_url", &c->key_protection_url) < 0 ||
	    get_str_dup(j, "fallback_attestation_url", &c->fallback_attestation_url) < 0 ||
	    get_str_dup(j, "fallback_key_protection_url", &c->fallback_key_protection_url) < 0 ||
	    get_str_dup(j, "dc_url", &c->dc_url) < 0 || hl_json_get_array_opt(j, "resolve", &arr) < 0)
		return -1;
	if (!(c->resolve = calloc(HOST_RESOLVE_MAX + 1, sizeof(char *))))
		return hl_error("out of memory");
	json_array_foreach(arr, i, e) {
		if (!json_is_string(e) || c->n_resolve >= HOST_RESOLVE_MAX)
			return hl_error("field 'resolve' must be an array of at most %d strings",
					HOST_RESOLVE_MAX);
		if (!(c->resolve[c->n_resolve] = strdup(json_string_value(e))))
			return hl_error("out of memory");
		c->n_resolve++;
	}
	return host_client_config_check(c);
}

int host_client_config_load(const struct host *h, struct host_client_config *out)
{
	struct host_client_config c = { 0 };
	json_t *j = NULL;
	char *path = NULL;
	int ex, rc = -1;

	memset(out, 0, sizeof(*out));
	if (host_path(h, HOST_CLIENT_FILE, &path) < 0)
		return -1;
	ex = hl_file_exists(path);
	if (ex <= 0) {
		free(path);
		return ex;
	}
	if (read_json(path, "client configuration", &j) < 0)
		goto out;
	if (client_from_json(j, &c) < 0) {
		hl_error_wrap("client configuration '%s'; set it again with `hgslab host "
			      "set-client-configuration`", path);
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	host_client_config_release(&c);
	json_decref(j);
	free(path);
	return rc;
}

/* Set member NAME of J to string S, or null. */
static void set_str(json_t *j, const char *name, const char *s)
{
	json_object_set_new(j, name, s ? json_string(s) : json_null());
}

int host_client_config_save(const struct host *h, const struct host_client_config *c)
{
	json_t *j, *arr;
	int rc;

	if (host_client_config_check(c) < 0)
		return -1;
	if (!(j = json_object()) || !(arr = json_array())) {
		json_decref(j);
		return hl_error("out of memory");
	}
	json_object_set_new(j, "format", json_string(CLIENT_FORMAT));
	json_object_set_new(j, "version", json_integer(1));
	set_str(j, "attestation_url", c->attestation_url);
	set_str(j, "key_protection_url", c->key_protection_url);
	set_str(j, "fallback_attestation_url", c->fallback_attestation_url);
	set_str(j, "fallback_key_protection_url", c->fallback_key_protection_url);
	set_str(j, "dc_url", c->dc_url);
	for (size_t i = 0; i < c->n_resolve; i++)
		json_array_append_new(arr, json_string(c->resolve[i]));
	json_object_set_new(j, "resolve", arr);
	rc = write_in(h->dir, HOST_CLIENT_FILE, j, HL_FILE_MODE_PUBLIC);
	json_decref(j);
	return rc;
}

void host_client_config_release(struct host_client_config *c)
{
	if (!c)
		return;
	free(c->attestation_url);
	free(c->key_protection_url);
	free(c->fallback_attestation_url);
	free(c->fallback_key_protection_url);
	free(c->dc_url);
	if (c->resolve)
		for (size_t i = 0; i < c->n_resolve; i++)
			free(c->resolve[i]);
	free(c->resolve);
	memset(c, 0, sizeof(*c));
}

/* ---- state ---- */

/* Copy optional string member NAME of J into BUF (truncated to SIZE). */
static int get_opt_fixed(const json_t *j, const char *name, char *buf, size_t size)
{
	const char *s = NULL;

	if (hl_json_get_string_opt(j, name, "", &s) < 0)
		return -1;
	snprintf(buf, size, "%s", s);
	return 0;
}

/* Optional integer member NAME of J into *OUT (0 when absent). */
static int get_opt_ll(const json_t *j, const char *name, long long *out)
{
	json_int_t v = 0;

	if (hl_json_get_int_opt(j, name, 0, &v) < 0)
		return -1;
	*out = (long long)v;
	return 0;
}

/* The member array of names SUB joined "A, B" into BUF. */
static int get_substatus(const json_t *j, char *buf, size_t size)
{
	json_t *arr = NULL, *e;
	size_t i, used = 0;

	buf[0] = '\0';
	if (hl_json_get_array_opt(j, "AttestationSubstatus", &arr) < 0)
		return -1;
	json_array_foreach(arr, i, e) {
		if (!json_is_string(e))
			return hl_error("field 'AttestationSubstatus' must be an array of names");
		if (used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 json_string_value(e));
	}
	return 0;
}

/* Read the members of state J into S (which the caller releases). */
static int state_from_json(const json_t *j, struct host_state *s)
{
	unsigned char *der = NULL;
	size_t len = 0;
	json_t *ak = NULL;
	long long v;
	int b = 0;

	if (get_opt_fixed(j, "AttestationStatus", s->status, sizeof(s->status)) < 0 ||
	    get_substatus(j, s->substatus, sizeof(s->substatus)) < 0 ||
	    get_opt_fixed(j, "Reason", s->reason, sizeof(s->reason)) < 0 ||
	    get_opt_fixed(j, "Mode", s->mode, sizeof(s->mode)) < 0 ||
	    get_opt_fixed(j, "AttestationOperationMode", s->operation_mode,
			  sizeof(s->operation_mode)) < 0 ||
	    get_opt_fixed(j, "Node", s->node, sizeof(s->node)) < 0 ||
	    get_opt_fixed(j, "AttestationNode", s->node_name, sizeof(s->node_name)) < 0 ||
	    get_opt_fixed(j, "AttestationNodeAddress", s->node_address,
			  sizeof(s->node_address)) < 0 ||
	    get_opt_fixed(j, "AttestationServerUrl", s->server_url, sizeof(s->server_url)) < 0 ||
	    hl_json_get_bool_opt(j, "IsFallbackInUse", 0, &b) < 0 ||
	    get_opt_fixed(j, "Trigger", s->trigger, sizeof(s->trigger)) < 0)
		return -1;
	s->fallback_in_use = b;
	if (get_opt_ll(j, "NotAfterUnix", &v) < 0)
		return -1;
	s->not_after = (time_t)v;
	if (get_opt_ll(j, "ExpiresUnix", &v) < 0)
		return -1;
	s->expires = (time_t)v;
	if (get_opt_ll(j, "RenewAtUnix", &v) < 0)
		return -1;
	s->renew_at = (time_t)v;
	if (get_opt_ll(j, "LastAttemptUnixMs", &s->attempt_ms) < 0 ||
	    get_opt_ll(j, "Attempts", &v) < 0)
		return -1;
	s->attempts = (unsigned long)v;
	if (hl_json_get_object_opt(j, "AkBinding", &ak) < 0)
		return -1;
	if (ak && (get_opt_fixed(ak, "Node", s->ak_node, sizeof(s->ak_node)) < 0 ||
		   get_opt_fixed(ak, "SignerThumbprint", s->ak_signer, sizeof(s->ak_signer)) < 0))
		return -1;
	if (hl_json_get_base64_opt(j, "HealthCertificate", &der, &len) < 0)
		return -1;
	if (der && len) {
		s->health_cert.data = der;
		s->health_cert.len = len;
	} else {
		free(der);
	}
	return 0;
}

/* The last key release of H (DIR/key-release.json, when there is one) into S. */
static int key_release_load(const struct host *h, struct host_state *s)
{
	json_t *j = NULL;
	char *path = NULL;
	int ex, b = 0, rc = -1;

	if (host_path(h, HOST_KEY_RELEASE_FILE, &path) < 0)
		return -1;
	ex = hl_file_exists(path);
	if (ex <= 0) {
		rc = ex;
		goto out;
	}
	if (read_json(path, "key release record", &j) < 0 ||
	    get_opt_fixed(j, "KeyProtectionServerUrl", s->kp_server_url,
			  sizeof(s->kp_server_url)) < 0 ||
	    hl_json_get_bool_opt(j, "IsFallbackInUse", 0, &b) < 0 ||
	    get_opt_fixed(j, "KeyProtectionNode", s->kp_node_name, sizeof(s->kp_node_name)) < 0 ||
	    get_opt_fixed(j, "KeyProtectionNodeAddress", s->kp_node_address,
			  sizeof(s->kp_node_address)) < 0) {
		hl_error_wrap("key release record '%s'", path);
		goto out;
	}
	s->kp_fallback_in_use = b;
	rc = 0;
out:
	json_decref(j);
	free(path);
	return rc;
}

int host_key_release_save(const struct host *h, const char *url, int fallback, const char *node,
			  const char *address, const char *result)
{
	char when[32];
	json_t *j;
	int rc;

	if (!(j = json_object()))
		return hl_error("out of memory");
	time_text(time(NULL), when, sizeof(when));
	json_object_set_new(j, "format", json_string("hgslab-host-key-release"));
	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "KeyProtectionServerUrl", url ? json_string(url) : json_null());
	json_object_set_new(j, "IsFallbackInUse", json_boolean(fallback));
	json_object_set_new(j, "KeyProtectionNode", json_string(node ? node : ""));
	json_object_set_new(j, "KeyProtectionNodeAddress", json_string(address ? address : ""));
	json_object_set_new(j, "Result", json_string(result ? result : ""));
	json_object_set_new(j, "Time", json_string(when));
	rc = write_in(h->dir, HOST_KEY_RELEASE_FILE, j, HL_FILE_MODE_PUBLIC);
	json_decref(j);
	return rc;
}

/* Keep the last HOST_LOG_IDS_MAX lines of PATH (TEXT, LEN bytes): an atomic rewrite. */
static int log_ids_trim(const char *path, const char *text, size_t len)
{
	size_t lines = 0, i;
	const char *start = text;

	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	for (i = 0; i < len && lines > HOST_LOG_IDS_MAX; i++)
		if (text[i] == '\n') {
			lines--;
			start = text + i + 1;
		}
	return hl_file_write(path, start, len - (size_t)(start - text), HL_FILE_MODE_PUBLIC);
}

int host_log_id_add(const struct host *h, const char *kind, long long log_id, const char *node,
		    const char *address)
{
	char line[512], when[32], *path = NULL, *text = NULL;
	size_t len = 0, lines = 0;
	struct stat st;
	json_t *j = NULL;
	char *s = NULL;
	int fd = -1, n, rc = -1;

	if (log_id <= 0)
		return 0;
	time_text(time(NULL), when, sizeof(when));
	if (!(j = json_pack("{s:s, s:I, s:s, s:s, s:s}", "Kind", kind, "LogId", (json_int_t)log_id,
			    "Node", node ? node : "", "Address", address ? address : "", "Time",
			    when)) ||
	    !(s = json_dumps(j, JSON_COMPACT))) {
		hl_error("out of memory");
		goto out;
	}
	n = snprintf(line, sizeof(line), "%s\n", s);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		hl_error("a log entry record is too long");
		goto out;
	}
	if (host_path(h, HOST_LOG_IDS_FILE, &path) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, HL_FILE_MODE_PUBLIC);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fstat(fd, &st) < 0) {
		hl_error_errno("cannot record the HGS log entry in '%s'", path);
		goto out;
	}
	close(fd);
	fd = -1;
	/* a line is over 64 bytes: below this size, it holds fewer than twice the cap */
	if (st.st_size < (off_t)HOST_LOG_IDS_MAX * 2 * 64) {
		rc = 0;
		goto out;
	}
	if (hl_file_read(path, SMALL_FILE_MAX, &text, &len) < 0)
		goto out;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	rc = lines > 2 * HOST_LOG_IDS_MAX ? log_ids_trim(path, text, len) : 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	free(s);
	json_decref(j);
	return rc;
}

int host_log_ids_load(const char *dir, json_t **out)
{
	char *path = NULL, *text = NULL, *line, *save = NULL;
	json_t *arr = json_array();
	size_t len = 0;
	int ex, rc = -1;

	*out = NULL;
	if (!arr || join(dir, HOST_LOG_IDS_FILE, &path) < 0) {
		if (!arr)
			hl_error("out of memory");
		goto out;
	}
	if ((ex = hl_file_exists(path)) < 0)
		goto out;
	if (ex && hl_file_read(path, SMALL_FILE_MAX, &text, &len) < 0)
		goto out;
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *e = NULL;

		if (hl_json_parse(line, strlen(line), strlen(line), &e) < 0 || !json_is_object(e)) {
			json_decref(e);
			hl_error_wrap("'%s' is damaged", path);
			goto out;
		}
		json_array_append_new(arr, e);
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(arr);
	free(text);
	free(path);
	return rc;
}

int host_state_load(const struct host *h, struct host_state *out)
{
	struct host_state s;
	json_t *j = NULL;
	char *path = NULL;
	int ex, rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	snprintf(s.status, sizeof(s.status), "%s", HOST_STATUS_UNKNOWN);
	if (host_path(h, HOST_STATE_FILE, &path) < 0)
		return -1;
	ex = hl_file_exists(path);
	if (ex < 0)
		goto out;
	if (ex > 0) {
		if (read_json(path, "attestation state", &j) < 0)
			goto out;
		if (state_from_json(j, &s) < 0) {
			hl_error_wrap("attestation state '%s'", path);
			goto out;
		}
	}
	if (key_release_load(h, &s) < 0)
		goto out;
	*out = s;
	memset(&s, 0, sizeof(s));
	rc = 0;
out:
	host_state_release(&s);
	json_decref(j);
	free(path);
	return rc;
}

/* Append the names in "A, B" TEXT to array ARR. */
static void split_names(const char *text, json_t *arr)
{
	const char *p = text;

	while (*p) {
		const char *e = strstr(p, ", ");
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n)
			json_array_append_new(arr, json_stringn(p, n));
		p += n;
		if (e)
			p += 2;
	}
}

int host_state_to_json(const struct host_state *s, json_t **out)
{
	json_t *j, *sub, *ak;
	char when[32];

	*out = NULL;
	if (!(j = json_object()) || !(sub = json_array())) {
		json_decref(j);
		return hl_error("out of memory");
	}
	json_object_set_new(j, "format", json_string(STATE_FORMAT));
	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "AttestationStatus", json_string(s->status));
	split_names(s->substatus, sub);
	json_object_set_new(j, "AttestationSubstatus", sub);
	json_object_set_new(j, "Reason", json_string(s->reason));
	json_object_set_new(j, "Mode", json_string(s->mode));
	json_object_set_new(j, "AttestationOperationMode", json_string(s->operation_mode));
	json_object_set_new(j, "Node", json_string(s->node));
	json_object_set_new(j, "AttestationNode", json_string(s->node_name));
	json_object_set_new(j, "AttestationNodeAddress", json_string(s->node_address));
	json_object_set_new(j, "AttestationServerUrl", json_string(s->server_url));
	json_object_set_new(j, "IsFallbackInUse", json_boolean(s->fallback_in_use));
	if (s->health_cert.len) {
		if (hl_json_set_base64(j, "HealthCertificate", s->health_cert.data,
				       s->health_cert.len) < 0) {
			json_decref(j);
			return -1;
		}
	} else {
		json_object_set_new(j, "HealthCertificate", json_null());
	}
	if (s->not_after) {
		time_text(s->not_after, when, sizeof(when));
		json_object_set_new(j, "NotAfter", json_string(when));
	} else {
		json_object_set_new(j, "NotAfter", json_null());
	}
	json_object_set_new(j, "NotAfterUnix", json_integer((json_int_t)s->not_after));
	json_object_set_new(j, "ExpiresUnix", json_integer((json_int_t)s->expires));
	json_object_set_new(j, "RenewAtUnix", json_integer((json_int_t)s->renew_at));
	if (s->attempt_ms) {
		time_text((time_t)(s->attempt_ms / 1000), when, sizeof(when));
		json_object_set_new(j, "LastAttempt", json_string(when));
	} else {
		json_object_set_new(j, "LastAttempt", json_null());
	}
	json_object_set_new(j, "LastAttemptUnixMs", json_integer((json_int_t)s->attempt_ms));
	json_object_set_new(j, "Attempts", json_integer((json_int_t)s->attempts));
	json_object_set_new(j, "Trigger", json_string(s->trigger));
	if ((ak = json_object())) {
		json_object_set_new(ak, "Node", json_string(s->ak_node));
		json_object_set_new(ak, "SignerThumbprint", json_string(s->ak_signer));
		json_object_set_new(j, "AkBinding", ak);
	}
	*out = j;
	return 0;
}

int host_state_save(const struct host *h, const struct host_state *s)
{
	json_t *j = NULL;
	int rc;

	if (host_state_to_json(s, &j) < 0)
		return -1;
	rc = write_in(h->dir, HOST_STATE_FILE, j, HL_FILE_MODE_PUBLIC);
	json_decref(j);
	return rc;
}

void host_state_release(struct host_state *s)
{
	if (!s)
		return;
	hl_buf_free(&s->health_cert);
	memset(s, 0, sizeof(*s));
}

const char *host_state_status(const struct host_state *s, time_t now)
{
	if (strcmp(s->status, HOST_STATUS_PASSED) == 0 && s->expires && now >= s->expires)
		return HOST_STATUS_EXPIRED;
	return s->status[0] ? s->status : HOST_STATUS_UNKNOWN;
}

int host_client_status_json(const struct host *h, const struct host_client_config *c,
			    const struct host_state *s, long agent_pid, time_t now, json_t **out)
{
	int configured = c->attestation_url != NULL;
	const char *status = configured ? host_state_status(s, now) : HOST_STATUS_NOT_CONFIGURED;
	char when[32];
	json_t *j, *arr;

	*out = NULL;
	if (!(j = json_object()))
		return hl_error("out of memory");
	json_object_set_new(j, "IsHostGuarded",
			    json_boolean(configured && strcmp(status, HOST_STATUS_PASSED) == 0));
	json_object_set_new(j, "Mode", json_string(configured ? "HostGuardianService" : "Local"));
	json_object_set_new(j, "AttestationOperationMode",
			    json_string(configured && s->operation_mode[0] ? s->operation_mode
									  : "Unknown"));
	json_object_set_new(j, "AttestationStatus", json_string(status));
	json_object_set_new(j, "AttestationSubstatus",
			    json_string(configured && s->substatus[0] ? s->substatus
								      : "NoInformation"));
	set_str(j, "AttestationServerUrl", c->attestation_url);
	set_str(j, "KeyProtectionServerUrl", c->key_protection_url);
	set_str(j, "FallbackAttestationServerUrl", c->fallback_attestation_url);
	set_str(j, "FallbackKeyProtectionServerUrl", c->fallback_key_protection_url);
	json_object_set_new(j, "IsFallbackInUse",
			    json_boolean(configured && (s->fallback_in_use || s->kp_fallback_in_use)));
	/* hgslab's own details */
	json_object_set_new(j, "HostName", json_string(h->name));
	json_object_set_new(j, "Reason", json_string(configured ? s->reason : ""));
	json_object_set_new(j, "HgsNode", json_string(configured ? s->node : ""));
	json_object_set_new(j, "AttestationNode", json_string(configured ? s->node_name : ""));
	json_object_set_new(j, "AttestationNodeAddress",
			    json_string(configured ? s->node_address : ""));
	json_object_set_new(j, "KeyProtectionNode", json_string(configured ? s->kp_node_name : ""));
	json_object_set_new(j, "KeyProtectionNodeAddress",
			    json_string(configured ? s->kp_node_address : ""));
	if (configured && s->not_after) {
		time_text(s->not_after, when, sizeof(when));
		set_str(j, "HealthCertificateNotAfter", when);
	} else {
		set_str(j, "HealthCertificateNotAfter", NULL);
	}
	if (s->attempt_ms) {
		time_text((time_t)(s->attempt_ms / 1000), when, sizeof(when));
		set_str(j, "LastAttempt", when);
	} else {
		set_str(j, "LastAttempt", NULL);
	}
	set_str(j, "DomainControllerUrl", c->dc_url);
	if ((arr = json_array())) {
		for (size_t i = 0; i < c->n_resolve; i++)
			json_array_append_new(arr, json_string(c->resolve[i]));
		json_object_set_new(j, "Resolve", arr);
	}
	json_object_set_new(j, "AgentRunning", json_boolean(agent_pid > 0));
	json_object_set_new(j, "AgentPid", agent_pid > 0 ? json_integer(agent_pid) : json_null());
	*out = j;
	return 0;
}
