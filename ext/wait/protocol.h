/* Readiness protocols (protocol.c). */
#ifndef SNAKEPACK_WAIT_PROTOCOL_H
#define SNAKEPACK_WAIT_PROTOCOL_H

#include <stddef.h>

/* Readiness protocols (protocol.c): the request that asks a server of KIND (SP_EP_REDIS,
 * SP_EP_POSTGRES, SP_EP_MYSQL, SP_EP_AMQP) whether it is ready, malloc'd, its length in *LEN (it
 * may hold NULs; 0 when the server speaks first); NULL for other kinds or when out of memory. */
char *sp_proto_request(int kind, size_t *len);
/* What the LEN bytes a server answered say; END: no more will come. For SP_ANSWER_NOT_READY,
 * DETAIL (DLEN bytes) says why, in one line of printable ASCII. */
enum { SP_ANSWER_MORE = 0, SP_ANSWER_READY, SP_ANSWER_NOT_READY };
int sp_redis_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);
int sp_pg_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);
int sp_mysql_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);
int sp_amqp_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);

#endif
