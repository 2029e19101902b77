/* Library names that Python sources hand to ctypes and cffi as string literals:
 *     ctypes.CDLL("libc.so.6")          ctypes.cdll.LoadLibrary("libpq.so.5")
 *     ctypes.util.find_library("magic") ffi.dlopen("gobject-2.0-0")
 *     _dlopen(ffi, 'gobject-2.0-0', 'libgobject-2.0.so.0')   (a wrapper: the name contains dlopen)
 * A call counts when the last name of its callee contains dlopen, CDLL, LoadLibrary or
 * find_library; its arguments that are nothing but string literals (adjacent ones concatenated,
 * parentheses around them aside) are its library names, in order. Found by lexing, never by
 * importing or running anything; Python's own parser is the judge (tests/pysrc_judge.py).
 *
 * Two steps, because a tree holds megabytes of sources and almost none of them load anything:
 * sp_pysrc_maybe looks for the four names with a vector scan as fast as reading the bytes, and
 * only files that contain one are lexed by sp_pysrc_calls. The lexer reads as Python does:
 * universal newlines, comments, strings (prefixes, triple quotes, escapes, line continuations),
 * f-strings whose replacement fields are code (a call in one counts) with format specs that are
 * text, names as NFKC makes them (ＣＤＬＬ is CDLL), parenthesised callees and arguments. So a
 * name in a comment or a docstring is no call; a definition (def dlopen(...)) is none either.
 * Any bytes are valid input: every read is bounded by the end of the buffer, nesting by
 * Python's own limits (deeper is no Python: the caller is told, and warns). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "libdeps/nfkc.h"
#include "libdeps/pysrc.h"

/* ---- the prefilter -------------------------------------------------------------------- */

/* Each name is recognised by its rarest pair of bytes in Python (AT: the pair's offset in it):
 * "dl" of dlopen, "br" of find_library and LoadLibrary, "DL" of CDLL, "dL" of LoadLibrary; on
 * dist-packages that is one candidate every 3 kB. */
static const struct {
    const char *name;
    size_t len, at;
    int kind;
} names[] = {
    {"find_library", 12, 7, SP_PYCALL_FIND}, {"dlopen", 6, 0, SP_PYCALL_DLOPEN},
    {"CDLL", 4, 1, SP_PYCALL_LOAD},          {"LoadLibrary", 11, 3, SP_PYCALL_LOAD},
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
#define PAIRS(a, b)                                                                                \
    ((((a) == 'd') & (((b) == 'l') | ((b) == 'L'))) | (((a) == 'b') & ((b) == 'r')) |              \
     (((a) == 'D') & ((b) == 'L')))
#define BLOCK 64 /* bytes tested at once: one test of the combined lanes per block */

/* GCC vector extensions: SSE2 on x86-64, NEON on arm64, plain code elsewhere. */
typedef signed char v16 __attribute__((vector_size(16)));

/* Returns the offset, from I on in steps of BLOCK, of the first block where a pair starts, with
 * *MASK its starts (bit k: offset + k); or of the last bytes, which do not fill a block, with
 * *MASK 0. Sets *HIGH when a byte of the blocks it read is not ASCII. */
static size_t next_block(const char *buf, size_t len, size_t i, uint64_t *mask, int *high)
{
    v16 bytes = {0};
    for (; i + BLOCK + 1 <= len; i += BLOCK) {
        v16 m[BLOCK / 16], all = {0};
#pragma GCC unroll 4
        for (size_t k = 0; k < BLOCK / 16; k++) {
            v16 a, b;
            memcpy(&a, buf + i + 16 * k, 16);
            memcpy(&b, buf + i + 16 * k + 1, 16);
            all |= m[k] = PAIRS(a, b);
            bytes |= a;
        }
        uint64_t w[2];
        memcpy(w, &all, sizeof w);
        if ((w[0] | w[1]) == 0)
            continue;
        *mask = 0;
        for (size_t k = 0; k < BLOCK; k++)
            *mask |= (uint64_t)(m[k / 16][k % 16] != 0) << k;
        break;
    }
    if (i + BLOCK + 1 > len)
        *mask = 0;
    uint64_t w[2];
    memcpy(w, &bytes, sizeof w);
    *high |= ((w[0] | w[1]) & 0x8080808080808080u) != 0;
    return i;
}

#if defined(__x86_64__)
/* The same with AVX2, twice the bytes per instruction, where the processor has it. */
typedef signed char v32 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static size_t next_block_avx2(const char *buf, size_t len, size_t i,
                                                              uint64_t *mask, int *high)
{
    v32 bytes = {0};
    *mask = 0;
    for (; i + BLOCK + 1 <= len; i += BLOCK) {
        v32 a, b, c, d;
        memcpy(&a, buf + i, 32);
        memcpy(&b, buf + i + 1, 32);
        memcpy(&c, buf + i + 32, 32);
        memcpy(&d, buf + i + 33, 32);
        bytes |= a | c;
        v32 lo = PAIRS(a, b), hi = PAIRS(c, d);
        uint64_t bits = (uint32_t)_mm256_movemask_epi8((__m256i)lo) |
                        (uint64_t)(uint32_t)_mm256_movemask_epi8((__m256i)hi) << 32;
        if (bits) {
            *mask = bits;
            break;
        }
    }
    *high |= _mm256_movemask_epi8((__m256i)bytes) != 0;
    return i;
}
#endif

/* Returns 1 when one of the names is in the LEN bytes at BUF; else 0, with *HIGH set when a
 * byte is not ASCII (the scan reads every byte once for both). */
static int has_name(const char *buf, size_t len, int *high)
{
#if defined(__x86_64__)
    size_t (*next)(const char *, size_t, size_t, uint64_t *, int *) =
        __builtin_cpu_supports("avx2") ? next_block_avx2 : next_block;
#else
    size_t (*next)(const char *, size_t, size_t, uint64_t *, int *) = next_block;
#endif
    size_t i = 0;
    uint64_t mask;
    while ((i = next(buf, len, i, &mask, high)), mask) {
        for (; mask; mask &= mask - 1) {
            if (name_at(buf, len, i + (size_t)__builtin_ctzll(mask)))
                return 1;
        }
        i += BLOCK;
    }
    for (size_t k = i; k < len; k++) /* the last bytes */
        *high |= (unsigned char)buf[k] >= 0x80;
    for (; i + 1 < len; i++) {
        if (PAIRS(buf[i], buf[i + 1]) && name_at(buf, len, i))
            return 1;
    }
    return 0;
}

/* The first byte from P on (before END) that is not ASCII, or END. */
static const unsigned char *first_high(const unsigned char *p, const unsigned char *end)
{
    for (; end - p >= 16; p += 16) {
        v16 v;
        memcpy(&v, p, 16);
        v16 high = v < 0; /* signed bytes: 0x80 and up */
        uint64_t w[2];
        memcpy(w, &high, sizeof w);
        if (w[0] | w[1])
            break;
    }
    while (p < end && *p < 0x80)
        p++;
    return p;
}

/* ---- the lexer ------------------------------------------------------------------------ */

/* Decodes the UTF-8 character at P (before END) into *CP; returns its length, 0 when the bytes
 * are no character. */
static size_t utf8_char(const unsigned char *p, const unsigned char *end, unsigned *cp)
{
    size_t n = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC2 ? 2 : 0;
    if (n == 0 || *p > 0xF4 || (size_t)(end - p) < n)
        return 0;
    unsigned c = *p & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    *cp = c;
    return n;
}

/* What NFKC makes of code point CP in an identifier when that is ASCII, else NULL. */
static const char *nfkc_ascii(unsigned cp)
{
    size_t lo = 0, hi = sizeof sp_nfkc / sizeof sp_nfkc[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sp_nfkc[mid].cp == cp)
            return sp_nfkc[mid].ascii;
        if (sp_nfkc[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int sp_pysrc_maybe(const char *buf, size_t len)
{
    int high = 0;
    if (has_name(buf, len, &high))
        return 1;
    if (!high)
        return 0;
    /* A name may be spelt with characters that NFKC makes ASCII (ＣＤＬＬ): in the rare file
     * that has any character outside ASCII, any such character makes it worth lexing. */
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    while ((p = first_high(p, end)) < end) {
        unsigned cp;
        size_t n = utf8_char(p, end, &cp);
        if (n && nfkc_ascii(cp))
            return 1;
        p += n ? n : 1;
    }
    return 0;
}

#define MAX_NEST 200    /* brackets open inside one another: Python's own limit (MAXLEVEL) */
#define MAX_FSTRING 150 /* f-strings nested in replacement fields: Python's own limit */
#define MAX_LITERAL 255 /* longer literals are no library names */

enum arg { ARG_EMPTY, ARG_NAME, ARG_LITERAL, ARG_OTHER }; /* ARG_NAME: maybe a keyword= */
enum tok { TOK_OTHER, TOK_NAME, TOK_DOT };

/* A call whose arguments are being read. */
struct frame {
    int depth;  /* bracket depth inside its parentheses */
    int groups; /* parentheses open around the current argument: CDLL(("libc.so.6")) */
    int kind;
    size_t line;
    char *func;
    struct sp_strs names;
    int arg; /* enum arg: what the current argument is so far */
    int bad; /* the current literal cannot be a library name */
    size_t litlen;
    char lit[MAX_LITERAL + 1];
};

/* A growing string. */
struct text {
    char *s;
    size_t len, cap;
};

struct lex {
    const char *p, *end;
    const char *counted; /* newlines are counted up to here */
    size_t line;
    int depth, tok;
    size_t ntok;            /* tokens read so far: each one's number */
    size_t opens[MAX_NEST]; /* per depth: the number of its '(' when it may wrap a callee, or 0 */
    struct text name;       /* the last name read, as Python reads it (NFKC) */
    struct text chain;      /* the dotted callee being read, as Python reads it */
    size_t chain_tok;       /* the number of its first token */
    size_t chain_line;
    int chain_kind; /* the kind its last name has, or -1 */
    int chain_def;  /* it follows def or class: a definition, no call */
    int after_def;
    struct frame *frames; /* MAX_NEST of them */
    int nframes, fstrings;
    struct sp_vec *calls;
    int enomem, truncated;
};

static int text_add(struct lex *x, struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *bigger = realloc(t->s, cap);
        if (bigger == NULL) {
            x->enomem = 1;
            return -1;
        }
        t->s = bigger;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
    return 0;
}

static int is_name_byte(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

static size_t line_at(struct lex *x, const char *at)
{
    for (const char *nl;
         x->counted < at && (nl = memchr(x->counted, '\n', (size_t)(at - x->counted)));) {
        x->line++;
        x->counted = nl + 1;
    }
    if (x->counted < at)
        x->counted = at;
    return x->line;
}

/* The call whose argument list the lexer is in, directly (brackets of the argument aside:
 * only the parentheses that group it). */
static struct frame *top(struct lex *x)
{
    struct frame *f = x->nframes ? &x->frames[x->nframes - 1] : NULL;
    return f && f->depth + f->groups == x->depth ? f : NULL;
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
    if (f->arg == ARG_LITERAL && !f->bad && f->litlen) {
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
    f->groups = 0;
    end_arg(x, f);
    if (f->names.len == 0) {
        free(f->func);
        sp_strs_free(&f->names);
        return;
    }
    struct sp_pycall *c = sp_vec_push(x->calls);
    if (c == NULL) {
        free(f->func);
        sp_strs_free(&f->names);
        x->enomem = 1;
        return;
    }
    c->func = f->func;
    c->kind = f->kind;
    c->line = f->line;
    c->names = f->names;
}

static void push(struct lex *x)
{
    if (x->nframes == MAX_NEST) {
        x->truncated = 1;
        return;
    }
    char *func = strdup(x->chain.s);
    if (func == NULL) {
        x->enomem = 1;
        return;
    }
    struct frame *f = &x->frames[x->nframes++];
    memset(f, 0, offsetof(struct frame, lit));
    f->depth = x->depth + 1;
    f->kind = x->chain_kind;
    f->line = x->chain_line;
    f->func = func;
}

static void lex_code(struct lex *x, int field);
static void lex_string(struct lex *x, const char *prefix, size_t plen);

/* A format spec, after its ':': text up to the '}' that ends the replacement field (consumed),
 * with replacement fields of its own in it. Quotes and brackets in it are text: f"{d:%b '%y}".
 * The closing quote Q of the string ends an unterminated one (not consumed). */
static void lex_field(struct lex *x, char q, int triple);
static void lex_spec(struct lex *x, char q, int triple)
{
    while (x->p < x->end) {
        char c = *x->p;
        if (c == q && (!triple || (x->end - x->p >= 3 && x->p[1] == q && x->p[2] == q)))
            return;
        if (c == '\n' && !triple)
            return;
        x->p++;
        if (c == '}')
            return;
        if (c == '{')
            lex_field(x, q, triple);
    }
}

/* An f-string's replacement field, after its '{', up to its '}' (consumed): an expression, read
 * as code (a call in it counts; since Python 3.12 its strings may use the enclosing quote),
 * then maybe a !conversion and a :format spec. */
static void lex_field(struct lex *x, char q, int triple)
{
    if (x->fstrings == MAX_FSTRING || x->depth == MAX_NEST - 1) {
        x->truncated = 1; /* deeper than Python allows: read as text */
        return;
    }
    x->fstrings++;
    int base = ++x->depth;
    x->opens[base] = 0;
    x->tok = TOK_OTHER;
    lex_code(x, 1);
    while (x->nframes && x->frames[x->nframes - 1].depth > base)
        pop(x); /* calls left open in it */
    x->depth = base;
    if (x->p < x->end) {
        char c = *x->p++;
        if (c == '!') {
            while (x->p < x->end && is_name_byte((unsigned char)*x->p))
                x->p++;
            c = x->p < x->end ? *x->p++ : '}';
        }
        if (c == ':')
            lex_spec(x, q, triple);
    }
    x->depth = base - 1;
    x->fstrings--;
    x->tok = TOK_OTHER;
    x->after_def = 0;
}

/* Reads the string literal at x->p (on its opening quote) whose prefix is PREFIX. When the
 * innermost call is reading an argument, its value goes into that argument. */
static void lex_string(struct lex *x, const char *prefix, size_t plen)
{
    int fmt = 0, raw = 0;
    for (size_t i = 0; i < plen; i++) {
        fmt |= prefix[i] == 'f' || prefix[i] == 'F' || prefix[i] == 't' || prefix[i] == 'T';
        raw |= prefix[i] == 'r' || prefix[i] == 'R';
    }
    struct frame *f = top(x);
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
            return;      /* unterminated: the line ends it */
        if (c == '\\') { /* an escape: no library name has one */
            if (f)
                f->bad = 1;
            x->p++;
            if (x->p == x->end || (fmt && (*x->p == '{' || *x->p == '}')))
                continue; /* f"\{x}": the brace is the field's */
            if (fmt && !raw && *x->p == 'N' && x->end - x->p >= 2 && x->p[1] == '{') {
                const char *close = memchr(x->p, '}', (size_t)(x->end - x->p));
                x->p = close ? close + 1 : x->end; /* \N{NAME}: no field */
                continue;
            }
            x->p++; /* the escaped character, a newline too */
            continue;
        }
        x->p++;
        if (fmt && (c == '{' || c == '}')) {
            if (x->p < x->end && *x->p == c)
                x->p++; /* {{ or }}: a brace of the text */
            else if (c == '{')
                lex_field(x, q, triple);
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
    static const char *const prefixes[] = {"r",  "u",  "b",  "f",  "t", "br",
                                           "rb", "fr", "rf", "tr", "rt"};
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

/* Reads the name at x->p into x->name as Python reads it: each character that NFKC makes ASCII
 * as that ASCII. */
static void read_name(struct lex *x)
{
    x->name.len = 0;
    text_add(x, &x->name, "", 0);
    while (x->p < x->end && is_name_byte((unsigned char)*x->p)) {
        const char *s = x->p;
        unsigned cp;
        size_t n = (unsigned char)*s < 0x80
                       ? 1
                       : utf8_char((const unsigned char *)s, (const unsigned char *)x->end, &cp);
        const char *ascii = n > 1 ? nfkc_ascii(cp) : NULL;
        n = n ? n : 1;
        x->p += n;
        if (ascii)
            text_add(x, &x->name, ascii, strlen(ascii));
        else
            text_add(x, &x->name, s, n);
    }
}

static void lex_name(struct lex *x)
{
    const char *s = x->p;
    read_name(x);
    size_t n = (size_t)(x->p - s);
    if (x->p < x->end && (*x->p == '\'' || *x->p == '"') && is_prefix(s, n)) {
        lex_string(x, s, n);
        x->tok = TOK_OTHER;
        return;
    }
    struct frame *f = top(x);
    if (f)
        f->arg = f->arg == ARG_EMPTY ? ARG_NAME : ARG_OTHER;
    if (x->tok != TOK_DOT) {
        x->chain.len = 0;
        x->chain_tok = x->ntok;
        x->chain_line = line_at(x, s);
        x->chain_def = x->after_def;
    } else {
        text_add(x, &x->chain, ".", 1);
    }
    text_add(x, &x->chain, x->name.s, x->name.len);
    x->chain_kind = kind_of(x->name.s, x->name.len);
    x->after_def = (n == 3 && memcmp(s, "def", 3) == 0) || (n == 5 && memcmp(s, "class", 5) == 0);
    x->tok = TOK_NAME;
}

/* Opens a bracket; WRAP: a '(' that may wrap a callee, (ctypes.CDLL)("libc.so.6"). */
static void open_bracket(struct lex *x, int wrap)
{
    if (x->depth == MAX_NEST - 1) {
        x->truncated = 1; /* deeper than Python allows */
        return;
    }
    x->opens[++x->depth] = wrap ? x->ntok : 0;
}

static void close_bracket(struct lex *x)
{
    int d = x->depth;
    /* the chain began right after this '(': it is still a callee, (ctypes.CDLL)(...) */
    int wraps = d > 0 && x->tok == TOK_NAME && x->opens[d] && x->chain_tok == x->opens[d] + 1;
    struct frame *f = top(x);
    if (f && f->groups > 0) { /* a parenthesis around an argument: what it held it still is */
        f->groups--;
        if (f->arg == ARG_NAME)
            f->arg = ARG_OTHER; /* (name)= is no keyword */
    } else {
        while (x->nframes && x->frames[x->nframes - 1].depth >= d)
            pop(x);
        other(x); /* the argument was a call or a subscript */
    }
    if (d > 0)
        x->depth--;
    x->tok = wraps ? TOK_NAME : TOK_OTHER;
    if (wraps)
        x->chain_tok = x->opens[d];
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
            push(x);
            open_bracket(x, 0);
        } else if (x->tok == TOK_NAME || x->tok == TOK_DOT) {
            other(x); /* another call */
            open_bracket(x, 0);
        } else if (f && f->arg == ARG_EMPTY && x->depth < MAX_NEST - 1) {
            f->groups++; /* around an argument */
            open_bracket(x, 1);
        } else {
            other(x);
            open_bracket(x, 1);
        }
        break;
    case '[':
    case '{':
        other(x);
        open_bracket(x, 0);
        break;
    case ')':
    case ']':
    case '}':
        close_bracket(x);
        x->after_def = 0;
        return;
    case ',':
        if (f && f->groups > 0)
            f->arg = ARG_OTHER; /* a tuple */
        else if (f)
            end_arg(x, f);
        break;
    case '=':
        if (x->p < x->end && *x->p == '=')
            x->p++;
        else if (f && f->arg == ARG_NAME && f->groups == 0) {
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

/* Lexes code from x->p: the file, or (FIELD) an f-string replacement field's expression, which
 * ends at its own depth with '}', the ':' of a format spec or the '!' of a conversion (left at
 * x->p for lex_field). */
static void lex_code(struct lex *x, int field)
{
    int base = x->depth;
    while (x->p < x->end && !x->enomem) {
        unsigned char c = (unsigned char)*x->p;
        if (field && x->depth == base &&
            (c == '}' || c == ':' || (c == '!' && !(x->end - x->p >= 2 && x->p[1] == '='))))
            return;
        if (field && x->depth < base)
            return; /* a stray closing bracket: the field is over */
        if (c == '#') {
            const char *nl = memchr(x->p, '\n', (size_t)(x->end - x->p));
            x->p = nl ? nl : x->end;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\f' || c == '\n') {
            x->p++;
            if (c == '\n' && x->depth == 0)
                x->tok = TOK_OTHER; /* a statement ends */
            continue;
        }
        if (c == '\\') { /* a line continuation: the statement goes on */
            x->p += x->end - x->p >= 2 && x->p[1] == '\n' ? 2 : 1;
            continue;
        }
        x->ntok++;
        if (c == '\'' || c == '"') {
            lex_string(x, "", 0);
            x->tok = TOK_OTHER;
            x->after_def = 0;
        } else if (c >= '0' && c <= '9') {
            while (x->p < x->end && (is_name_byte((unsigned char)*x->p) || *x->p == '.'))
                x->p++;
            other(x);
            x->tok = TOK_OTHER;
        } else if (is_name_byte(c)) {
            lex_name(x);
        } else {
            lex_punct(x);
        }
    }
}

/* Python reads a source with universal newlines: CR LF and CR are LF. Returns BUF when it has no
 * CR, else a copy with them made LF (*COPY, to free), or NULL when out of memory. */
static const char *universal_newlines(const char *buf, size_t *len, char **copy)
{
    *copy = NULL;
    if (memchr(buf, '\r', *len) == NULL)
        return buf;
    char *out = malloc(*len ? *len : 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] != '\r')
            out[n++] = buf[i];
        else if (i + 1 == *len || buf[i + 1] != '\n')
            out[n++] = '\n';
    }
    *len = n;
    return *copy = out;
}

int sp_pysrc_calls(const char *buf, size_t len, struct sp_vec *calls)
{
    char *copy;
    if ((buf = universal_newlines(buf, &len, &copy)) == NULL)
        return -1;
    struct lex x = {0};
    x.frames = malloc(MAX_NEST * sizeof *x.frames);
    if (x.frames == NULL) {
        free(copy);
        return -1;
    }
    x.p = x.counted = buf;
    x.end = buf + len;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        x.p += 3; /* a byte-order mark is no part of the first name */
    x.line = 1;
    x.calls = calls;
    x.chain_kind = -1;
    text_add(&x, &x.chain, "", 0);
    lex_code(&x, 0);
    while (x.nframes)
        pop(&x); /* a file that ends inside a call: what was read counts */
    free(x.frames);
    free(x.name.s);
    free(x.chain.s);
    free(copy);
    return x.enomem ? -1 : x.truncated ? SP_PYSRC_TRUNCATED : 0;
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
