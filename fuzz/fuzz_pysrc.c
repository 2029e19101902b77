/* libFuzzer harness: the library names of Python sources (ext/pysrc.c). Oracles: the vector
 * prefilter answers exactly what a plain memmem search answers; a file it rejects has no calls;
 * every call has names within the bounds, a line inside the file, and lexing the same bytes
 * twice gives the same calls. */
#include "harness.h"

static int plain_search(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"dlopen", "CDLL", "LoadLibrary", "find_library"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (memmem(data, size, names[i], strlen(names[i])))
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    int maybe = sp_pysrc_maybe(text, size);
    if (maybe != plain_search(data, size))
        abort();
    struct sp_vec a, b;
    sp_vec_init(&a, sizeof(struct sp_pycall));
    sp_vec_init(&b, sizeof(struct sp_pycall));
    if (sp_pysrc_calls(text, size, &a) < 0 || sp_pysrc_calls(text, size, &b) < 0)
        abort(); /* nothing here runs out of memory */
    if (a.len != b.len || (a.len && !maybe))
        abort();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (size_t i = 0; i < a.len; i++) {
        const struct sp_pycall *x = &SP_VEC_AT(&a, struct sp_pycall, i);
        const struct sp_pycall *y = &SP_VEC_AT(&b, struct sp_pycall, i);
        if (x->line < 1 || x->line > lines || x->line != y->line || x->kind != y->kind)
            abort();
        if (strlen(x->func) > 127 || strcmp(x->func, y->func) || x->names.len == 0 ||
            x->names.len != y->names.len)
            abort();
        for (size_t j = 0; j < x->names.len; j++) {
            size_t n = strlen(x->names.items[j]);
            if (n == 0 || n > 255 || n > size || strcmp(x->names.items[j], y->names.items[j]))
                abort();
        }
    }
    sp_pycalls_free(&a);
    sp_pycalls_free(&b);
    return 0;
}
