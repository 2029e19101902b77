/* libFuzzer harness: the HTTP status-line reader (ext/endpoint.c), fed the answer whole and
 * byte by byte as a slow server would send it. The oracle: a status is from 100 to 599; a
 * verdict, once given for a prefix, is the one given for the whole answer. */
#include "harness.h"
#include "wait/endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    int whole = sp_http_status(buf, size, 1);
    if (whole != SP_HTTP_BAD && (whole < 100 || whole > 599))
        abort();
    for (size_t n = 0; n <= size; n++) {
        int part = sp_http_status(buf, n, 0);
        if (part == SP_HTTP_MORE)
            continue;
        if (part != whole)
            abort(); /* decided early, and differently */
        break;
    }
    return 0;
}
