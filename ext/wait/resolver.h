/* Name resolution off the waiting thread (resolver.c): getaddrinfo() cannot be interrupted, so
 * each name is resolved on a short-lived detached thread that signals an eventfd; a thread that
 * outlives the wait frees its own job. */
#ifndef SNAKEPACK_WAIT_RESOLVER_H
#define SNAKEPACK_WAIT_RESOLVER_H

struct addrinfo;
struct sp_resolve_job;

/* Starts resolving HOST:PORT (TCP, numeric port) on a detached thread with every signal blocked
 * (signals belong to the waiting thread). Returns the job, held by the caller until
 * sp_resolve_take or sp_resolve_drop, or NULL with errno set. */
struct sp_resolve_job *sp_resolve_start(const char *host, const char *port);
/* The descriptor that becomes readable once the answer is in (poll it for POLLIN). */
int sp_resolve_fd(const struct sp_resolve_job *j);
/* Once sp_resolve_fd is readable: returns getaddrinfo's answer (0, or an EAI_ code), with
 * errno's value for EAI_SYSTEM in *ERR and the addresses in *RES (the caller frees them with
 * freeaddrinfo). Releases the caller's hold on J. */
int sp_resolve_take(struct sp_resolve_job *j, int *err, struct addrinfo **res);
/* Releases the caller's hold on J without its answer: the thread, if still running, frees it. */
void sp_resolve_drop(struct sp_resolve_job *j);

#endif
