/* libFuzzer harness: the ld.so.cache parser and lookups (ext/ldconfig.c). The input is a whole
 * cache file; names are looked up for every ABI snakepack knows, and for the first string of
 * the file. */
#include "harness.h"
#include "libdeps/ldconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int flags[] = {0x0303, 0x0003, 0x0a03, 0x0903, 0x0503, 0x0403, 0x1003, 0};
    static const char *const names[] = {"libc.so.6", "libm.so.6", "libz.so.1", ""};
    unsigned char *buf = malloc(size + 1);
    if (buf == NULL)
        abort();
    if (size)
        memcpy(buf, data, size);
    struct sp_ldcache c;
    struct sp_err err = {0};
    if (sp_ldcache_parse(&c, buf, size, &err) == 0) {
        char own[64];
        snprintf(own, sizeof own, "%.*s", (int)(size < 63 ? size : 63), (const char *)data);
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            int enomem = 0;
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                const char *path = sp_ldcache_lookup(&c, flags[f], names[i], &enomem);
                if (path && strlen(path) > size)
                    abort(); /* an answer lies inside the file */
            }
            (void)sp_ldcache_lookup(&c, flags[f], own, &enomem);
        }
        sp_ldcache_free(&c);
    }
    return 0;
}
