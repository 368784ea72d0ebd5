/* TLS like Redis 7.0 (OpenSSL): the server's contexts, built from the tls-*
 * directives, and one connection's state.
 *
 * The loop stays libuv: a TLS connection is a memory-BIO pump in front of
 * the plain socket paths. Ciphertext read from the socket is fed in
 * (cairn_tls_feed), plaintext comes out into the connection's own buffer
 * (cairn_tls_read); plaintext to send is encrypted (cairn_tls_write) and the
 * ciphertext waiting to go out is taken (cairn_tls_take) and written like
 * any other bytes. So nothing of TLS touches a plain connection, and a TLS
 * connection never blocks.
 *
 * Threads: loop thread only. */
#ifndef CAIRN_TLS_H
#define CAIRN_TLS_H

#include <stddef.h>

#include "engine/buf.h"

typedef struct cairn_server cairn_server;
typedef struct cairn_config cairn_config;
typedef struct cairn_tls cairn_tls;

/* Whether the configuration needs the contexts (a tls-port, or
 * tls-replication). */
int cairn_tls_wanted(const cairn_config *cfg);
/* (Re)builds the server and client contexts from srv->cfg. On failure the
 * old contexts stay, the reason (naming the file and OpenSSL's error) is in
 * err, and -1 is returned. With nothing wanted, the contexts are dropped. */
int cairn_tls_configure(cairn_server *srv, char *err, size_t errlen);
void cairn_tls_free_contexts(cairn_server *srv);
/* Whether a CONFIG SET of that parameter name must reconfigure TLS. */
int cairn_tls_is_tls_param(const char *name, size_t len);

/* A connection: server side (accepted on the tls-port: asks for a client
 * certificate by tls-auth-clients) or client side (the replica's link to its
 * master: verifies the master's certificate). NULL when TLS is not
 * configured. */
cairn_tls *cairn_tls_new(cairn_server *srv, int server_side);
void cairn_tls_free(cairn_tls *t);
/* Ciphertext from the socket. 0, or -1 (out of memory). */
int cairn_tls_feed(cairn_tls *t, const char *p, size_t n);
/* Moves the handshake on, then decrypts what can be into `into` (appended).
 * Returns 0 (go on), 1 (the peer closed the session), -1 (error: the reason
 * in err). *handshook is set to 1 by the call that completes the handshake. */
int cairn_tls_read(cairn_tls *t, cairn_buf *into, int *handshook, char *err, size_t errlen);
/* Whether the handshake is done (application data may be written). */
int cairn_tls_ready(const cairn_tls *t);
/* Encrypts plaintext (only once ready). 0, or -1. */
int cairn_tls_write(cairn_tls *t, const void *p, size_t n);
/* Appends the ciphertext waiting to be sent to out; returns its length. */
size_t cairn_tls_take(cairn_tls *t, cairn_buf *out);
size_t cairn_tls_pending(const cairn_tls *t);
/* Queues a close_notify alert (cairn_tls_take then has it). */
void cairn_tls_shutdown(cairn_tls *t);

#endif
