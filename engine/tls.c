/* TLS contexts and the per-connection memory-BIO pump (engine/tls.h). */
#include "engine/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/config.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/util.h"

struct cairn_tls {
  SSL *ssl;
  BIO *in;  /* ciphertext from the socket (the SSL object reads it) */
  BIO *out; /* ciphertext for the socket (the SSL object writes it) */
  int ready;
  int server_side;
  cairn_server *srv;
};

#define TLS_PROTO_10 (1 << 0)
#define TLS_PROTO_11 (1 << 1)
#define TLS_PROTO_12 (1 << 2)
#define TLS_PROTO_13 (1 << 3)

int cairn_tls_wanted(const cairn_config *cfg) { return cfg->tls_port > 0 || cfg->tls_replication; }

int cairn_tls_is_tls_param(const char *name, size_t len) { return len > 4 && strncasecmp(name, "tls-", 4) == 0; }

/* OpenSSL's queued errors as one line (the queue is emptied). */
static void ssl_error_string(char *buf, size_t cap) {
  unsigned long e = ERR_get_error();
  if (!e) {
    snprintf(buf, cap, "unknown error");
  } else {
    ERR_error_string_n(e, buf, cap);
  }
  ERR_clear_error();
}

/* "TLSv1.2 TLSv1.3" -> bits; NULL/"" means TLSv1.2 and TLSv1.3 (Redis's
 * default). -1 for an unknown name. */
static int parse_protocols(const char *s, char *err, size_t errlen) {
  if (!s || !*s) return TLS_PROTO_12 | TLS_PROTO_13;
  int bits = 0;
  char *copy = cairn_xstrdup(s), *save = NULL;
  for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    if (!strcasecmp(tok, "tlsv1"))
      bits |= TLS_PROTO_10;
    else if (!strcasecmp(tok, "tlsv1.1"))
      bits |= TLS_PROTO_11;
    else if (!strcasecmp(tok, "tlsv1.2"))
      bits |= TLS_PROTO_12;
    else if (!strcasecmp(tok, "tlsv1.3"))
      bits |= TLS_PROTO_13;
    else {
      snprintf(err, errlen, "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' "
                            "and 'TLSv1.3'.");
      free(copy);
      return -1;
    }
  }
  free(copy);
  if (!bits) {
    snprintf(err, errlen, "No valid TLS protocols specified in tls-protocols.");
    return -1;
  }
  return bits;
}

static int password_cb(char *buf, int size, int rwflag, void *ud) {
  (void)rwflag;
  const char *pass = ud;
  if (!pass) return -1;
  size_t n = strlen(pass);
  if ((int)n > size) return -1;
  memcpy(buf, pass, n);
  return (int)n;
}

/* One context: server (certificate, client verification, session cache,
 * DH parameters) or client (its certificate if any, verifies the peer). */
static SSL_CTX *make_ctx(const cairn_config *cfg, int server, const char *cert, const char *key, const char *pass,
                         char *err, size_t errlen) {
  char why[256];
  int protos = parse_protocols(cfg->tls_protocols, err, errlen);
  if (protos < 0) return NULL;
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) {
    ssl_error_string(why, sizeof(why));
    snprintf(err, errlen, "Failed to create a TLS context: %s", why);
    return NULL;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION | SSL_OP_SINGLE_DH_USE);
  if (!(protos & TLS_PROTO_10)) SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1);
  if (!(protos & TLS_PROTO_11)) SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1_1);
  if (!(protos & TLS_PROTO_12)) SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1_2);
  if (!(protos & TLS_PROTO_13)) SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1_3);
  if (protos & (TLS_PROTO_10 | TLS_PROTO_11)) SSL_CTX_set_security_level(ctx, 0); /* old protocols asked for */
  if (cfg->tls_prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* Idle connections give their record buffers back (many clients); no
   * client-initiated renegotiation (a cheap way to make the server work). */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (server) {
    /* Set in any case: a client offering a session (id or ticket) with
     * client verification on would otherwise fail the handshake. */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"cairn", 5);
    if (cfg->tls_session_caching) {
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
      SSL_CTX_sess_set_cache_size(ctx, cfg->tls_session_cache_size);
      SSL_CTX_set_timeout(ctx, cfg->tls_session_cache_timeout);
    } else {
      /* no resumption at all: neither the cache nor stateless tickets */
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
  }
  if (cert) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) <= 0) {
      ssl_error_string(why, sizeof(why));
      snprintf(err, errlen, "Failed to load certificate: %s: %s", cert, why);
      goto fail;
    }
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)pass);
    int ok = key ? SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) : 0;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (ok <= 0) {
      ssl_error_string(why, sizeof(why));
      snprintf(err, errlen, "Failed to load private key: %s: %s", key ? key : "(tls-key-file not set)", why);
      goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) <= 0) {
      ssl_error_string(why, sizeof(why));
      snprintf(err, errlen, "The private key %s does not match the certificate %s: %s", key, cert, why);
      goto fail;
    }
  }
  if ((cfg->tls_ca_cert_file || cfg->tls_ca_cert_dir) &&
      SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_cert_file, cfg->tls_ca_cert_dir) <= 0) {
    ssl_error_string(why, sizeof(why));
    snprintf(err, errlen, "Failed to configure CA certificate(s) file/directory: %s: %s",
             cfg->tls_ca_cert_file ? cfg->tls_ca_cert_file : cfg->tls_ca_cert_dir, why);
    goto fail;
  }
  if (server && cfg->tls_dh_params_file) {
    BIO *b = BIO_new_file(cfg->tls_dh_params_file, "r");
    EVP_PKEY *dh = b ? PEM_read_bio_Parameters(b, NULL) : NULL;
    if (b) BIO_free(b);
    if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) <= 0) {
      if (dh) EVP_PKEY_free(dh);
      ssl_error_string(why, sizeof(why));
      snprintf(err, errlen, "Failed to load DH params file: %s: %s", cfg->tls_dh_params_file, why);
      goto fail;
    }
  } else if (server) {
    SSL_CTX_set_dh_auto(ctx, 1);
  }
  if (cfg->tls_ciphers && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) <= 0) {
    ssl_error_string(why, sizeof(why));
    snprintf(err, errlen, "Failed to configure ciphers: %s: %s", cfg->tls_ciphers, why);
    goto fail;
  }
  if (cfg->tls_ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) <= 0) {
    ssl_error_string(why, sizeof(why));
    snprintf(err, errlen, "Failed to configure ciphersuites: %s: %s", cfg->tls_ciphersuites, why);
    goto fail;
  }
  if (!server) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

void cairn_tls_free_contexts(cairn_server *srv) {
  if (srv->tls_ctx) SSL_CTX_free(srv->tls_ctx);
  if (srv->tls_client_ctx) SSL_CTX_free(srv->tls_client_ctx);
  srv->tls_ctx = srv->tls_client_ctx = NULL;
}

int cairn_tls_configure(cairn_server *srv, char *err, size_t errlen) {
  const cairn_config *cfg = &srv->cfg;
  if (!cairn_tls_wanted(cfg)) {
    cairn_tls_free_contexts(srv); /* live connections keep their own reference */
    return 0;
  }
  /* Redis's checks, in its words. */
  if (!cfg->tls_cert_file) {
    snprintf(err, errlen, "No tls-cert-file configured!");
    return -1;
  }
  if (!cfg->tls_key_file) {
    snprintf(err, errlen, "No tls-key-file configured!");
    return -1;
  }
  if ((cfg->tls_auth_clients != CAIRN_TLS_AUTH_NO || cfg->tls_replication) && !cfg->tls_ca_cert_file &&
      !cfg->tls_ca_cert_dir) {
    snprintf(err, errlen, "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, "
                          "tls-replication or tls-auth-clients are enabled!");
    return -1;
  }
  SSL_CTX *s = make_ctx(cfg, 1, cfg->tls_cert_file, cfg->tls_key_file, cfg->tls_key_file_pass, err, errlen);
  if (!s) return -1;
  /* The outgoing side presents tls-client-cert-file if set, else the
   * server's certificate (Redis 7.0). */
  const char *ccert = cfg->tls_client_cert_file ? cfg->tls_client_cert_file : cfg->tls_cert_file;
  const char *ckey = cfg->tls_client_cert_file ? cfg->tls_client_key_file : cfg->tls_key_file;
  const char *cpass = cfg->tls_client_cert_file ? cfg->tls_client_key_file_pass : cfg->tls_key_file_pass;
  SSL_CTX *c = make_ctx(cfg, 0, ccert, ckey, cpass, err, errlen);
  if (!c) {
    SSL_CTX_free(s);
    return -1;
  }
  cairn_tls_free_contexts(srv);
  srv->tls_ctx = s;
  srv->tls_client_ctx = c;
  return 0;
}

/* ---------------------------------------------------------------- connections */

cairn_tls *cairn_tls_new(cairn_server *srv, int server_side) {
  SSL_CTX *ctx = server_side ? srv->tls_ctx : srv->tls_client_ctx;
  if (!ctx) return NULL;
  cairn_tls *t = cairn_xcalloc(1, sizeof(*t));
  t->srv = srv;
  t->server_side = server_side;
  t->ssl = SSL_new(ctx);
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->in || !t->out) {
    if (t->ssl) SSL_free(t->ssl);
    if (t->in) BIO_free(t->in);
    if (t->out) BIO_free(t->out);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  /* An empty input BIO answers "retry", not EOF. */
  BIO_set_mem_eof_return(t->in, -1);
  SSL_set_bio(t->ssl, t->in, t->out); /* the SSL object owns both now */
  if (server_side) {
    int mode = SSL_VERIFY_NONE;
    if (srv->cfg.tls_auth_clients == CAIRN_TLS_AUTH_YES)
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    else if (srv->cfg.tls_auth_clients == CAIRN_TLS_AUTH_OPTIONAL)
      mode = SSL_VERIFY_PEER;
    SSL_set_verify(t->ssl, mode, NULL);
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    SSL_do_handshake(t->ssl); /* the ClientHello, waiting in the output BIO */
    ERR_clear_error();
  }
  return t;
}

void cairn_tls_free(cairn_tls *t) {
  if (!t) return;
  SSL_free(t->ssl);
  free(t);
}

int cairn_tls_feed(cairn_tls *t, const char *p, size_t n) {
  while (n) {
    int w = BIO_write(t->in, p, n > (1u << 30) ? 1 << 30 : (int)n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The reason of a failed SSL call, like Redis's connGetLastError. */
static void describe_failure(cairn_tls *t, int rc, char *err, size_t errlen) {
  int e = SSL_get_error(t->ssl, rc);
  if (e == SSL_ERROR_SSL) {
    long vr = SSL_get_verify_result(t->ssl);
    if (!t->server_side && vr != X509_V_OK) {
      snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
      ERR_clear_error();
      return;
    }
    ssl_error_string(err, errlen);
  } else if (e == SSL_ERROR_SYSCALL) {
    unsigned long q = ERR_peek_error();
    if (q)
      ssl_error_string(err, errlen);
    else
      snprintf(err, errlen, "unexpected EOF or I/O error during the TLS session");
  } else {
    snprintf(err, errlen, "TLS error %d", e);
    ERR_clear_error();
  }
}

int cairn_tls_read(cairn_tls *t, cairn_buf *into, int *handshook, char *err, size_t errlen) {
  if (!t->ready) {
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1) {
      int e = SSL_get_error(t->ssl, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      describe_failure(t, rc, err, errlen);
      return -1;
    }
    t->ready = 1;
    if (handshook) *handshook = 1;
  }
  for (;;) {
    cairn_buf_reserve(into, 16 * 1024);
    size_t room = into->cap - into->len;
    int n = SSL_read(t->ssl, into->p + into->len, room > (1u << 30) ? 1 << 30 : (int)room);
    if (n > 0) {
      into->len += (size_t)n;
      continue;
    }
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return 1;
    describe_failure(t, n, err, errlen);
    return -1;
  }
}

int cairn_tls_ready(const cairn_tls *t) { return t->ready; }

int cairn_tls_write(cairn_tls *t, const void *p, size_t n) {
  const char *s = p;
  while (n) {
    int w = SSL_write(t->ssl, s, n > (1u << 30) ? 1 << 30 : (int)n);
    if (w <= 0) {
      ERR_clear_error();
      return -1;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

size_t cairn_tls_pending(const cairn_tls *t) { return (size_t)BIO_ctrl_pending(t->out); }

size_t cairn_tls_take(cairn_tls *t, cairn_buf *out) {
  size_t total = 0, n;
  while ((n = (size_t)BIO_ctrl_pending(t->out)) > 0) {
    cairn_buf_reserve(out, n);
    int r = BIO_read(t->out, out->p + out->len, n > (1u << 30) ? 1 << 30 : (int)n);
    if (r <= 0) break;
    out->len += (size_t)r;
    total += (size_t)r;
  }
  return total;
}

void cairn_tls_shutdown(cairn_tls *t) {
  if (t->ready) SSL_shutdown(t->ssl);
  ERR_clear_error();
}
