/* Library names that Python sources hand to ctypes and cffi as string literals:
 *     ctypes.CDLL("libc.so.6")          ctypes.cdll.LoadLibrary("libpq.so.5")
 *     ctypes.util.find_library("magic") ffi.dlopen("gobject-2.0-0")
 *     _dlopen(ffi, 'gobject-2.0-0', 'libgobject-2.0.so.0')   (a wrapper: the name contains dlopen)
 * A call counts when the last name of its callee contains dlopen, CDLL, LoadLibrary or
 * find_library; its arguments that are nothing but string literals (adjacent ones concatenated)
 * are its library names, in order. Found by lexing, never by importing or running anything.
 *
 * Two steps, because a tree holds megabytes of sources and almost none of them load anything:
 * sp_pysrc_maybe looks for the four names with a vector scan as fast as reading the bytes, and
 * only files that contain one are lexed by sp_pysrc_calls. The lexer knows Python's comments and
 * strings (prefixes, triple quotes, escapes, f-string replacement fields), so a name in a comment
 * or a docstring is no call; a definition (def dlopen(...)) is none either. Any bytes are valid
 * input: every read is bounded by the end of the buffer, nesting by fixed limits. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string.h>

#include "snakepack.h"

#define MAX_FRAMES 16     /* calls open inside one another */
#define MAX_FSTRING 8     /* f-strings nested in replacement fields */
#define MAX_LITERAL 255   /* longer literals are no library names */
#define MAX_FUNC 127      /* callee text kept */
#define MAX_CALLS 4096    /* per file */
#define MAX_NAMES 64      /* per call */

/* ---- the prefilter -------------------------------------------------------------------- */

/* Each name is recognised by its rarest pair of bytes in Python (AT: the pair's offset in it):
 * "dl" of dlopen, "br" of find_library and LoadLibrary, "DL" of CDLL, "dL" of LoadLibrary; on
 * dist-packages that is one candidate every 3 kB. */
static const struct {
    const char *name;
    size_t len, at;
    int kind;
} names[] = {
    {"find_library", 12, 7, SP_PYCALL_FIND},
    {"dlopen", 6, 0, SP_PYCALL_DLOPEN},
    {"CDLL", 4, 1, SP_PYCALL_LOAD},
    {"LoadLibrary", 11, 3, SP_PYCALL_LOAD},
    {"LoadLibrary", 11, 6, SP_PYCALL_LOAD},
};
#define NNAMES (sizeof names / sizeof names[0])

/* Returns 1 when one of the names lies in BUF around the pair at offset I. */
static int name_at(const char *buf, size_t len, size_t i)
{
    for (size_t k = 0; k < NNAMES; k++) {
        if (i >= names[k].at && i - names[k].at + names[k].len <= len &&
            memcmp(buf + i - names[k].at, names[k].name, names[k].len) == 0)
            return 1;
    }
    return 0;
}

/* The lanes of vectors (or bytes) A, at i, and B, at i + 1, where a pair starts. */
#define PAIRS(a, b)                                                                           \
    ((((a) == 'd') & (((b) == 'l') | ((b) == 'L'))) | (((a) == 'b') & ((b) == 'r')) |        \
     (((a) == 'D') & ((b) == 'L')))
#define BLOCK 64 /* bytes tested at once: one test of the combined lanes per block */

/* GCC vector extensions: SSE2 on x86-64, NEON on arm64, plain code elsewhere. */
typedef signed char v16 __attribute__((vector_size(16)));

/* Returns the offset, from I on in steps of BLOCK, of the first block where a pair starts, with
 * *MASK its starts (bit k: offset + k); or of the last bytes, which do not fill a block, with
 * *MASK 0. */
static size_t next_block(const char *buf, size_t len, size_t i, uint64_t *mask)
{
    for (; i + BLOCK + 1 <= len; i += BLOCK) {
        v16 m[BLOCK / 16], all = {0};
#pragma GCC unroll 4
        for (size_t k = 0; k < BLOCK / 16; k++) {
            v16 a, b;
            memcpy(&a, buf + i + 16 * k, 16);
            memcpy(&b, buf + i + 16 * k + 1, 16);
            all |= m[k] = PAIRS(a, b);
        }
        uint64_t w[2];
        memcpy(w, &all, sizeof w);
        if ((w[0] | w[1]) == 0)
            continue;
        *mask = 0;
        for (size_t k = 0; k < BLOCK; k++)
            *mask |= (uint64_t)(m[k / 16][k % 16] != 0) << k;
        return i;
    }
    *mask = 0;
    return i;
}

#if defined(__x86_64__)
/* The same with AVX2, twice the bytes per instruction, where the processor has it. */
typedef signed char v32 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static size_t next_block_avx2(const char *buf, size_t len,
                                                              size_t i, uint64_t *mask)
{
    for (; i + BLOCK + 1 <= len; i += BLOCK) {
        v32 a, b, c, d;
        memcpy(&a, buf + i, 32);
        memcpy(&b, buf + i + 1, 32);
        memcpy(&c, buf + i + 32, 32);
        memcpy(&d, buf + i + 33, 32);
        v32 lo = PAIRS(a, b), hi = PAIRS(c, d);
        uint64_t bits = (uint32_t)_mm256_movemask_epi8((__m256i)lo) |
                        (uint64_t)(uint32_t)_mm256_movemask_epi8((__m256i)hi) << 32;
        if (bits) {
            *mask = bits;
            return i;
        }
    }
    *mask = 0;
    return i;
}
#endif

int sp_pysrc_maybe(const char *buf, size_t len)
{
#if defined(__x86_64__)
    size_t (*next)(const char *, size_t, size_t, uint64_t *) =
        __builtin_cpu_supports("avx2") ? next_block_avx2 : next_block;
#else
    size_t (*next)(const char *, size_t, size_t, uint64_t *) = next_block;
#endif
    size_t i = 0;
    uint64_t mask;
    while ((i = next(buf, len, i, &mask)), mask) {
        for (; mask; mask &= mask - 1) {
            if (name_at(buf, len, i + (size_t)__builtin_ctzll(mask)))
                return 1;
        }
        i += BLOCK;
    }
    for (; i + 1 < len; i++) { /* the last bytes */
        if (PAIRS(buf[i], buf[i + 1]) && name_at(buf, len, i))
            return 1;
    }
    return 0;
}

/* ---- the lexer ------------------------------------------------------------------------ */

enum arg { ARG_EMPTY, ARG_NAME, ARG_LITERAL, ARG_OTHER }; /* ARG_NAME: maybe a keyword= */
enum tok { TOK_OTHER, TOK_NAME, TOK_DOT };

/* A call whose arguments are being read. */
struct frame {
    int depth;       /* bracket depth inside its parentheses */
    int kind;
    size_t line;
    char func[MAX_FUNC + 1];
    struct sp_strs names;
    int arg;         /* enum arg: what the current argument is so far */
    int bad;         /* the current literal cannot be a library name */
    char lit[MAX_LITERAL + 1];
    size_t litlen;
};

struct lex {
    const char *p, *end;
    const char *counted; /* newlines are counted up to here */
    size_t line;
    int depth, tok;
    const char *chain;   /* first name of the dotted callee being read */
    int chain_kind;      /* the kind its last name has, or -1 */
    int chain_def;       /* it follows def or class: a definition, no call */
    int after_def;
    struct frame frames[MAX_FRAMES];
    int nframes;
    struct sp_vec *calls;
    int enomem;
};

static int is_name_byte(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

static size_t line_at(struct lex *x, const char *at)
{
    for (const char *nl; x->counted < at && (nl = memchr(x->counted, '\n', (size_t)(at - x->counted)));) {
        x->line++;
        x->counted = nl + 1;
    }
    if (x->counted < at)
        x->counted = at;
    return x->line;
}

static struct frame *top(struct lex *x)
{
    return x->nframes && x->frames[x->nframes - 1].depth == x->depth ? &x->frames[x->nframes - 1]
                                                                     : NULL;
}

/* The current argument of the innermost call is not a plain literal. */
static void other(struct lex *x)
{
    struct frame *f = top(x);
    if (f)
        f->arg = ARG_OTHER;
}

static void end_arg(struct lex *x, struct frame *f)
{
    if (f->arg == ARG_LITERAL && !f->bad && f->litlen && f->names.len < MAX_NAMES) {
        f->lit[f->litlen] = '\0';
        if (sp_strs_push(&f->names, f->lit) < 0)
            x->enomem = 1;
    }
    f->arg = ARG_EMPTY;
    f->bad = 0;
    f->litlen = 0;
}

static void pop(struct lex *x)
{
    struct frame *f = &x->frames[--x->nframes];
    end_arg(x, f);
    if (f->names.len == 0 || x->calls->len >= MAX_CALLS) {
        sp_strs_free(&f->names);
        return;
    }
    struct sp_pycall *c = sp_vec_push(x->calls);
    if (c == NULL || (c->func = strdup(f->func)) == NULL) {
        if (c)
            x->calls->len--;
        sp_strs_free(&f->names);
        x->enomem = 1;
        return;
    }
    c->kind = f->kind;
    c->line = f->line;
    c->names = f->names;
}

static void push(struct lex *x, const char *chain_end)
{
    if (x->nframes == MAX_FRAMES)
        return;
    struct frame *f = &x->frames[x->nframes++];
    memset(f, 0, offsetof(struct frame, lit));
    f->depth = x->depth + 1;
    f->kind = x->chain_kind;
    f->line = line_at(x, x->chain);
    size_t n = 0; /* the callee as written, blanks left out */
    for (const char *p = x->chain; p < chain_end && n < MAX_FUNC; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\\')
            f->func[n++] = *p;
    }
    f->func[n] = '\0';
}

static void lex_string(struct lex *x, const char *prefix, size_t plen, int level);

/* Skips an f-string's replacement field, after its '{': up to the matching '}', strings in it
 * included (since Python 3.12 they may even use the enclosing quote). */
static void skip_field(struct lex *x, int level)
{
    int nest = 0;
    while (x->p < x->end) {
        char c = *x->p;
        if (c == '\'' || c == '"') {
            lex_string(x, "", 0, level + 1);
            continue;
        }
        x->p++;
        if (c == '{' || c == '[' || c == '(')
            nest++;
        else if (c == '}' || c == ']' || c == ')') {
            if (nest-- == 0)
                return;
        }
    }
}

/* Reads the string literal at x->p (on its opening quote) whose prefix is PREFIX. When the
 * innermost call is reading an argument (LEVEL 0), its value goes into that argument. */
static void lex_string(struct lex *x, const char *prefix, size_t plen, int level)
{
    int fmt = 0;
    for (size_t i = 0; i < plen; i++)
        fmt |= prefix[i] == 'f' || prefix[i] == 'F' || prefix[i] == 't' || prefix[i] == 'T';
    struct frame *f = level == 0 ? top(x) : NULL;
    if (f) {
        if (fmt || f->arg == ARG_NAME || f->arg == ARG_OTHER)
            f->arg = ARG_OTHER;
        else
            f->arg = ARG_LITERAL; /* adjacent literals concatenate */
    }
    char q = *x->p;
    int triple = x->end - x->p >= 3 && x->p[1] == q && x->p[2] == q;
    x->p += triple ? 3 : 1;
    while (x->p < x->end) {
        char c = *x->p;
        if (c == q && (!triple || (x->end - x->p >= 3 && x->p[1] == q && x->p[2] == q))) {
            x->p += triple ? 3 : 1;
            return;
        }
        if (c == '\n' && !triple)
            return; /* unterminated: the line ends it */
        if (c == '\\') { /* an escape: no library name has one */
            x->p += x->end - x->p >= 2 ? 2 : 1;
            if (f)
                f->bad = 1;
            continue;
        }
        x->p++;
        if (fmt && c == '{') {
            if (x->p < x->end && *x->p == '{')
                x->p++;
            else if (level < MAX_FSTRING)
                skip_field(x, level);
            continue;
        }
        if (f && f->arg == ARG_LITERAL) {
            if (f->litlen == MAX_LITERAL || c == '\0')
                f->bad = 1;
            else
                f->lit[f->litlen++] = c;
        }
    }
}

static int is_prefix(const char *s, size_t n)
{
    static const char *const prefixes[] = {"r", "u", "b", "f", "t", "br", "rb", "fr", "rf", "tr", "rt"};
    if (n > 2)
        return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (strlen(prefixes[i]) == n && strncasecmp(s, prefixes[i], n) == 0)
            return 1;
    }
    return 0;
}

static int kind_of(const char *s, size_t n)
{
    for (size_t k = 0; k < NNAMES; k++) {
        if (memmem(s, n, names[k].name, names[k].len))
            return names[k].kind;
    }
    return -1;
}

static void lex_name(struct lex *x)
{
    const char *s = x->p;
    while (x->p < x->end && is_name_byte((unsigned char)*x->p))
        x->p++;
    size_t n = (size_t)(x->p - s);
    if (x->p < x->end && (*x->p == '\'' || *x->p == '"') && is_prefix(s, n)) {
        lex_string(x, s, n, 0);
        x->tok = TOK_OTHER;
        return;
    }
    struct frame *f = top(x);
    if (f)
        f->arg = f->arg == ARG_EMPTY ? ARG_NAME : ARG_OTHER;
    if (x->tok != TOK_DOT) {
        x->chain = s;
        x->chain_def = x->after_def;
    }
    x->chain_kind = kind_of(s, n);
    x->after_def = (n == 3 && memcmp(s, "def", 3) == 0) || (n == 5 && memcmp(s, "class", 5) == 0);
    x->tok = TOK_NAME;
}

static void lex_punct(struct lex *x)
{
    char c = *x->p++;
    int tok = TOK_OTHER;
    struct frame *f = top(x);
    switch (c) {
    case '(':
        if (x->tok == TOK_NAME && x->chain_kind >= 0 && !x->chain_def) {
            other(x);
            push(x, x->p - 1);
            x->depth++;
            break;
        }
        /* fall through */
    case '[':
    case '{':
        other(x);
        x->depth++;
        break;
    case ')':
    case ']':
    case '}':
        while (x->nframes && x->frames[x->nframes - 1].depth >= x->depth)
            pop(x);
        if (x->depth > 0)
            x->depth--;
        other(x); /* the argument was a call or a subscript */
        break;
    case ',':
        if (f)
            end_arg(x, f);
        break;
    case '=':
        if (x->p < x->end && *x->p == '=')
            x->p++;
        else if (f && f->arg == ARG_NAME) {
            f->arg = ARG_EMPTY; /* keyword=: its value is the argument */
            break;
        }
        other(x);
        break;
    case '.':
        other(x);
        if (x->tok == TOK_NAME)
            tok = TOK_DOT;
        break;
    default:
        other(x);
    }
    x->tok = tok;
    x->after_def = 0;
}

int sp_pysrc_calls(const char *buf, size_t len, struct sp_vec *calls)
{
    struct lex x = {0};
    x.p = x.counted = buf;
    x.end = buf + len;
    x.line = 1;
    x.calls = calls;
    x.chain_kind = -1;
    while (x.p < x.end && !x.enomem) {
        unsigned char c = (unsigned char)*x.p;
        if (c == '#') {
            const char *nl = memchr(x.p, '\n', (size_t)(x.end - x.p));
            x.p = nl ? nl : x.end;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\n') {
            x.p++;
            if (c == '\n' && x.depth == 0)
                x.tok = TOK_OTHER; /* a statement ends */
        } else if (c == '\\') {
            x.p++; /* a line continuation */
        } else if (c == '\'' || c == '"') {
            lex_string(&x, "", 0, 0);
            x.tok = TOK_OTHER;
            x.after_def = 0;
        } else if (c >= '0' && c <= '9') {
            while (x.p < x.end && (is_name_byte((unsigned char)*x.p) || *x.p == '.'))
                x.p++;
            other(&x);
            x.tok = TOK_OTHER;
        } else if (is_name_byte(c)) {
            lex_name(&x);
        } else {
            lex_punct(&x);
        }
    }
    while (x.nframes)
        pop(&x); /* a file that ends inside a call: what was read counts */
    return x.enomem ? -1 : 0;
}

void sp_pycalls_free(struct sp_vec *calls)
{
    for (size_t i = 0; i < calls->len; i++) {
        struct sp_pycall *c = &SP_VEC_AT(calls, struct sp_pycall, i);
        free(c->func);
        sp_strs_free(&c->names);
    }
    sp_vec_free(calls);
}
