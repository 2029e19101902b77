/* libFuzzer harness: the ELF reader (ext/elf.c, ext/dynsym.c) on arbitrary bytes, read from a
 * memfd as the real code reads files: headers, dynamic section, symbol versions, FDO dlopen notes
 * and the undefined dynamic symbols. */
#include "harness.h"
#include "libdeps/dlnote.h"
#include "libdeps/elf.h"

#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("elf", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    struct sp_elf e;
    struct sp_err err = {0};
    int status =
        sp_elf_read(fd, "input", SP_ELF_NOTES | SP_ELF_VERSIONS | SP_ELF_SYMBOLS, &e, &err);
    if (status == SP_ELF_OK) {
        (void)sp_abi_of(&e);
        /* Every string comes from the file, so none can be longer than it. */
        for (size_t i = 0; i < e.needed.len; i++)
            if (strlen(e.needed.items[i]) >= size)
                abort();
        if ((e.soname && strlen(e.soname) >= size) || (e.rpath && strlen(e.rpath) >= size) ||
            (e.runpath && strlen(e.runpath) >= size) || (e.interp && strlen(e.interp) >= size))
            abort();
        /* versions come in (file, version) pairs, and none when their sections are damaged */
        if (e.verneed.len % 2 || (e.versions_error && (e.verneed.len || e.verdef.len)))
            abort();
        for (size_t i = 0; i < e.verneed.len; i++)
            if (strlen(e.verneed.items[i]) >= size)
                abort();
        /* undefined symbols are NAME@VERSION, and none when their sections are damaged */
        if (e.symbols_error && e.undefined.len)
            abort();
        for (size_t i = 0; i < e.undefined.len; i++)
            if (strchr(e.undefined.items[i], '@') == NULL ||
                strlen(e.undefined.items[i]) > 2 * size + 8)
                abort();
        for (size_t i = 0; i < e.dlopen.len; i++) {
            const struct sp_dlopen *d = &SP_VEC_AT(&e.dlopen, struct sp_dlopen, i);
            if (d->priority < SP_DLOPEN_REQUIRED || d->priority > SP_DLOPEN_SUGGESTED)
                abort();
        }
    } else if (status == SP_ELF_BAD && (err.msg[0] == '\0' || strchr(err.msg, '\n'))) {
        abort(); /* an error is one line naming the problem */
    }
    sp_elf_free(&e);
    close(fd);
    return 0;
}
