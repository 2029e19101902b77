/* libFuzzer harness: the library names of Python sources (ext/pysrc.c). Oracles: the vector
 * prefilter says yes wherever a plain memmem search finds a name (and may say yes to a file
 * with a character NFKC makes ASCII); a file it rejects has no calls; every call has names
 * within the bounds, a line inside the file (lines as Python counts them: LF, CR LF, CR), and
 * lexing the same bytes twice gives the same calls. */
#include "harness.h"
#include "libdeps/pysrc.h"

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
    if (plain_search(data, size) && !maybe)
        abort();
    struct sp_vec a, b;
    sp_vec_init(&a, sizeof(struct sp_pycall));
    sp_vec_init(&b, sizeof(struct sp_pycall));
    int ra = sp_pysrc_calls(text, size, &a), rb = sp_pysrc_calls(text, size, &b);
    if (ra < 0 || rb < 0 || ra != rb)
        abort(); /* nothing here runs out of memory */
    if (a.len != b.len || (a.len && !maybe))
        abort();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'));
    for (size_t i = 0; i < a.len; i++) {
        const struct sp_pycall *x = &SP_VEC_AT(&a, struct sp_pycall, i);
        const struct sp_pycall *y = &SP_VEC_AT(&b, struct sp_pycall, i);
        if (x->line < 1 || x->line > lines || x->line != y->line || x->kind != y->kind)
            abort();
        if (strcmp(x->func, y->func) || x->names.len == 0 || x->names.len != y->names.len)
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
