/* libFuzzer harness: what database servers answer to wait-for-port's readiness questions
 * (ext/protocol.c). The oracle: every answer is one of the three verdicts; a "not ready" says
 * why in one line of printable ASCII within its buffer; an answer judged complete is judged
 * the same when the connection ends there; the same bytes give the same verdict. */
#include "harness.h"
#include "wait/protocol.h"

typedef int (*reader)(const char *, size_t, int, char *, size_t);

static void check(reader read, const char *buf, size_t len)
{
    for (int end = 0; end <= 1; end++) {
        char a[160], b[160];
        memset(a, 'x', sizeof a);
        int va = read(buf, len, end, a, sizeof a), vb = read(buf, len, end, b, sizeof b);
        if (va != vb || va < SP_ANSWER_MORE || va > SP_ANSWER_NOT_READY ||
            (end && va == SP_ANSWER_MORE))
            abort();
        if (va == SP_ANSWER_NOT_READY) {
            if (memchr(a, '\0', sizeof a) == NULL || strcmp(a, b) != 0)
                abort();
            for (const char *p = a; *p; p++)
                if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7F)
                    abort();
        }
        if (!end && va != SP_ANSWER_MORE && read(buf, len, 1, b, sizeof b) != va)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exactly SIZE bytes: ASan sees any read past them */
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    check(sp_redis_answer, copy, size);
    check(sp_pg_answer, copy, size);
    check(sp_mysql_answer, copy, size);
    check(sp_amqp_answer, copy, size);
    free(copy);
    return 0;
}
