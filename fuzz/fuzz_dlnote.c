/* libFuzzer harness: the JSON reader of FDO dlopen notes (ext/dlnote.c). The oracle: what it
 * returns is a well-formed list (priorities in range, names NUL-terminated inside what was
 * read) or, for a damaged note, nothing; reading the same bytes twice gives the same answer. */
#include "harness.h"
#include "libdeps/dlnote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_vec a, b;
    sp_vec_init(&a, sizeof(struct sp_dlopen));
    sp_vec_init(&b, sizeof(struct sp_dlopen));
    int ra = sp_dlopen_parse((const char *)data, size, &a);
    int rb = sp_dlopen_parse((const char *)data, size, &b);
    if (ra != rb || a.len != b.len || (ra < 0 && a.len)) /* a failure appends nothing */
        abort();
    for (size_t i = 0; ra == 0 && i < a.len; i++) {
        const struct sp_dlopen *x = &SP_VEC_AT(&a, struct sp_dlopen, i);
        const struct sp_dlopen *y = &SP_VEC_AT(&b, struct sp_dlopen, i);
        if (x->priority < SP_DLOPEN_REQUIRED || x->priority > SP_DLOPEN_SUGGESTED)
            abort();
        if (x->sonames.len != y->sonames.len)
            abort();
        for (size_t j = 0; j < x->sonames.len; j++) {
            if (strlen(x->sonames.items[j]) > size ||
                strcmp(x->sonames.items[j], y->sonames.items[j]))
                abort();
        }
    }
    sp_dlopen_free(&a);
    sp_dlopen_free(&b);
    return 0;
}
