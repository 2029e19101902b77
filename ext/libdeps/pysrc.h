/* Library names in Python sources (pysrc.c). */
#ifndef SNAKEPACK_LIBDEPS_PYSRC_H
#define SNAKEPACK_LIBDEPS_PYSRC_H

#include <stddef.h>

#include "common/util.h"

/* How a call loads the library it names. */
enum sp_pycall_kind {
    SP_PYCALL_LOAD = 0, /* ctypes.CDLL, cdll.LoadLibrary: dlopen() of the name as given */
    SP_PYCALL_DLOPEN,   /* cffi's ffi.dlopen and wrappers: as given, then find_library */
    SP_PYCALL_FIND,     /* ctypes.util.find_library: ld.so.cache entries named libNAME.* */
};

/* One call of a Python source that names libraries with string literals. */
struct sp_pycall {
    char *func;           /* the callee as Python reads it: "ctypes.util.find_library" */
    int kind;             /* enum sp_pycall_kind */
    size_t line;          /* of the callee, from 1 */
    struct sp_strs names; /* its arguments that are string literals: alternatives, in order */
};

/* Returns 1 when the LEN bytes at BUF may contain dlopen, CDLL, LoadLibrary or find_library
 * (spelt in ASCII, or with a character that NFKC makes ASCII): the only files worth lexing. */
int sp_pysrc_maybe(const char *buf, size_t len);
/* Appends to CALLS (struct sp_pycall) the calls of the Python source BUF (any bytes) whose
 * callee contains one of those names and that have string-literal arguments. Returns 0, or
 * SP_PYSRC_TRUNCATED when the source nests brackets or f-strings deeper than Python allows (what
 * lies deeper was not read as code), or -1 when out of memory. */
enum { SP_PYSRC_TRUNCATED = 1 };
int sp_pysrc_calls(const char *buf, size_t len, struct sp_vec *calls);
void sp_pycalls_free(struct sp_vec *calls);

#endif
