/* The FDO dlopen metadata note (dlnote.c). */
#ifndef SNAKEPACK_LIBDEPS_DLNOTE_H
#define SNAKEPACK_LIBDEPS_DLNOTE_H

#include <stddef.h>

#include "common/util.h"

enum sp_dlopen_priority { SP_DLOPEN_REQUIRED = 0, SP_DLOPEN_RECOMMENDED, SP_DLOPEN_SUGGESTED };

/* One object of a .note.dlopen descriptor: libraries the program may dlopen() for a feature;
 * its sonames are alternatives (one of them is enough). */
struct sp_dlopen {
    char *feature; /* or NULL */
    int priority;  /* enum sp_dlopen_priority */
    struct sp_strs sonames;
};

/* Parses the JSON descriptor TEXT (LEN bytes, up to a NUL) of one note, appending its objects
 * to ENTRIES (struct sp_dlopen). Returns 0, or -1 when it is not such an array (and appends
 * nothing). */
int sp_dlopen_parse(const char *text, size_t len, struct sp_vec *entries);
void sp_dlopen_free(struct sp_vec *entries);

#endif
