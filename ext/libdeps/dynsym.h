/* The undefined dynamic symbols of an ELF file (dynsym.c). */
#ifndef SNAKEPACK_LIBDEPS_DYNSYM_H
#define SNAKEPACK_LIBDEPS_DYNSYM_H

#include <libelf.h>

#include "common/util.h"

/* Appends to OUT each undefined symbol of ELF's .dynsym as objdump -T shows it and
 * dpkg-shlibdeps looks it up in a symbols file: NAME@VERSION, or NAME@Base when the reference
 * carries no version. Returns NULL, or why the sections could not be read (OUT then holds
 * nothing: half a list would mislead). Sets *NOMEM (and returns a reason) when out of memory. */
const char *sp_dynsym_undefined(Elf *elf, struct sp_strs *out, int *nomem);

#endif
