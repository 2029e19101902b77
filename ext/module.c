/* snakepack._core: thin Python bindings over the C cores. Arguments are copied into C
 * structures before the GIL is released; no Python object is touched while it is. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>

#include "libdeps/dpkg.h"
#include "libdeps/hwcaps.h"
#include "libdeps/libdeps.h"
#include "libdeps/pysrc.h"
#include "wait/endpoint.h"
#include "wait/netwait.h"

typedef struct {
    PyObject *error; /* snakepack._core.Error: a core failure that has no errno */
    PyTypeObject *file_type, *node_type, *edge_type; /* File, Node, Edge: named results */
} module_state;

static module_state *get_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

static const char *const err_kinds[] = {"system", "input", "dpkg"};

/* Decodes a C string as the file system encoding does (undecodable bytes become surrogates, so
 * any byte string survives); NULL becomes None. */
static PyObject *fsdecode(const char *s)
{
    if (s == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(s);
}

/* Sets the Python exception for ERR and returns NULL: MemoryError; OSError(errno, message,
 * path) for an OS error (Python picks the subclass, e.g. FileNotFoundError); the module's Error
 * (an OSError with errno None) otherwise. Each carries .kind ("system", "input" or "dpkg"), so
 * callers route on it rather than on the message; strerror is the whole one-line message. */
static PyObject *raise_err(PyObject *module, const struct sp_err *err)
{
    if (err->errnum == ENOMEM)
        return PyErr_NoMemory();
    PyObject *type = err->errnum ? PyExc_OSError : get_state(module)->error;
    PyObject *errnum = err->errnum ? PyLong_FromLong(err->errnum) : Py_NewRef(Py_None);
    PyObject *exc = PyObject_CallFunction(type, "NO&O&", errnum, fsdecode, err->msg, fsdecode,
                                          err->path[0] ? err->path : NULL);
    if (exc == NULL)
        return NULL;
    int kind = err->kind >= 0 && err->kind <= SP_ERR_DPKG ? err->kind : SP_ERR_SYSTEM;
    PyObject *kind_str = PyUnicode_FromString(err_kinds[kind]);
    if (kind_str && PyObject_SetAttrString(exc, "kind", kind_str) == 0)
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_XDECREF(kind_str);
    Py_DECREF(exc);
    return NULL;
}

/* Builds a list of N items, item I being MAKE(CTX, I) (a new reference, or NULL with an
 * exception set). The one place that owns the failure path of every list the module returns:
 * on any failure the partial list is released and NULL returned. The list grows by appending
 * rather than being made at size N: the free-threaded 3.13's PyList_New(N) releases a list
 * whose item array it failed to allocate without initialising it, and crashes (CPython
 * gh-152125); an empty list has no array to fail.
 *
 * The MAKE functions build tuples with Py_BuildValue; its "N" steals the reference whether the
 * call succeeds or fails, and a NULL argument (with an exception set) just fails the call, so
 * they never release an argument themselves. */
static PyObject *build_list(size_t n, PyObject *(*make)(const void *ctx, size_t i), const void *ctx)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *item = make(ctx, i);
        if (item == NULL || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
    }
    return list;
}

static PyObject *make_str(const void *ctx, size_t i)
{
    return fsdecode(((const struct sp_strs *)ctx)->items[i]);
}

static PyObject *build_strs(const struct sp_strs *s)
{
    return build_list(s->len, make_str, s);
}

/* The strings of S as one str, a newline after each: one object for thousands of symbol names. */
static PyObject *build_lines(const struct sp_strs *s)
{
    size_t len = 0;
    for (size_t i = 0; i < s->len; i++)
        len += strlen(s->items[i]) + 1;
    char *buf = malloc(len + 1), *p = buf;
    if (buf == NULL)
        return PyErr_NoMemory();
    for (size_t i = 0; i < s->len; i++) {
        size_t n = strlen(s->items[i]);
        memcpy(p, s->items[i], n);
        p[n] = '\n';
        p += n + 1;
    }
    PyObject *str = PyUnicode_DecodeFSDefaultAndSize(buf, (Py_ssize_t)len);
    free(buf);
    return str;
}

static PyObject *make_owner(const void *ctx, size_t i)
{
    const struct sp_owner *o = &((const struct sp_owners *)ctx)->items[i];
    return Py_BuildValue("(O&O&)", fsdecode, o->package, fsdecode, o->arch);
}

static PyObject *build_owners(const struct sp_owners *o)
{
    return build_list(o->len, make_owner, o);
}

/* Copies an iterable of str/bytes paths into STRS. Returns 0, or -1 with an exception set. */
static int copy_paths(PyObject *iterable, struct sp_strs *strs)
{
    PyObject *it = PyObject_GetIter(iterable), *item;
    if (it == NULL)
        return -1;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *bytes = NULL;
        int ok = PyUnicode_FSConverter(item, &bytes);
        Py_DECREF(item);
        if (!ok)
            break;
        int rc = sp_strs_push(strs, PyBytes_AS_STRING(bytes));
        Py_DECREF(bytes);
        if (rc < 0) {
            PyErr_NoMemory();
            break;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* ---- find-libdeps ---- */

/* Results cross into Python as struct sequences, as os.stat does: read by name, so a field
 * added at the end breaks no reader. */
static PyStructSequence_Field file_fields[] = {
    {"path", "canonical path inside the root"},
    {"error", "why it could not be read as an ELF object, or None"},
    {"soname", "DT_SONAME, or None"},
    {"links", "the canonical-directory spellings it was opened under"},
    {"elfclass", "EI_CLASS: 1 for 32-bit objects, 2 for 64-bit ones"},
    {"machine", "e_machine"},
    {"needed", "its DT_NEEDED names"},
    {"interp", "PT_INTERP, or None"},
    {"owners", "the installed packages owning it, (package, arch) each; None when no tree "
               "loads it (a scanned file only)"},
    {"inside", "it lies inside a scanned tree"},
    {"verneed", "DT_VERNEED, flat: file, version, file, version..."},
    {"verdef", "DT_VERDEF: the versions it defines"},
    {"versions_error", "why its version sections could not be read, or None"},
    {"dlopen_error", "why its FDO dlopen note could not be read, or None"},
    {"undefined", "its undefined dynamic symbols (with symbols), one per line: NAME@VERSION, or "
                  "NAME@Base when unversioned"},
    {"symbols_error", "why its dynamic symbols could not be read, or None"},
    {NULL, NULL},
};
static PyStructSequence_Desc file_desc = {"snakepack._core.File", "A file the search read.",
                                          file_fields, 16};

static PyStructSequence_Field node_fields[] = {
    {"file", "index of its file"},
    {"opened", "the path the loader opened it under"},
    {"loader", "the node that caused it to be loaded, -1 for the root"},
    {NULL, NULL},
};
static PyStructSequence_Desc node_desc = {"snakepack._core.Node", "An object of a load tree.",
                                          node_fields, 3};

static PyStructSequence_Field edge_fields[] = {
    {"requester", "the node that needs the name"},
    {"name", "the name needed"},
    {"how", "how it was answered: path, rpath, ..., loaded, not_found, error"},
    {"node", "the node that answers, or -1"},
    {"error", "why it is not resolved, or None"},
    {"feature", "None for DT_NEEDED; a dlopen note's feature; for a Python call the callee "
                "and the name it was found under"},
    {"line", "the line of the Python call, else 0"},
    {"cpu", "None, or when which file loads depends on the CPU the first kind that loads "
            "this one"},
    {NULL, NULL},
};
static PyStructSequence_Desc edge_desc = {
    "snakepack._core.Edge", "A name one object of a load tree needs, answered.", edge_fields, 8};

/* A struct sequence of TYPE holding the items of TUPLE (taken; NULL passes through). */
static PyObject *named(PyTypeObject *type, PyObject *tuple)
{
    if (tuple == NULL)
        return NULL;
    PyObject *rec = PyStructSequence_New(type);
    for (Py_ssize_t i = 0; rec && i < PyTuple_GET_SIZE(tuple); i++)
        PyStructSequence_SetItem(rec, i, Py_NewRef(PyTuple_GET_ITEM(tuple, i)));
    Py_DECREF(tuple);
    return rec;
}

/* What the MAKE functions of one resolve() call read: the module's types and the job. */
struct records {
    const module_state *st;
    const struct sp_libdeps *job;
    const struct sp_tree *tree; /* make_node and make_edge: the tree */
};

static PyObject *make_file(const void *ctx, size_t i)
{
    const struct records *r = ctx;
    const struct sp_libdeps *job = r->job;
    const struct sp_file *f = &SP_VEC_AT(&job->ld.files, struct sp_file, i);
    int loaded = job->loaded && job->loaded[i];
    return named(r->st->file_type,
                 Py_BuildValue("(O&O&O&NiiNO&NONNO&O&NO&)", fsdecode, f->path, fsdecode, f->error,
                               fsdecode, f->elf.soname, build_strs(&f->links), f->elf.elfclass,
                               f->elf.machine, build_strs(&f->elf.needed), fsdecode, f->elf.interp,
                               loaded ? build_owners(&job->owners[i]) : Py_NewRef(Py_None),
                               loaded && job->inside[i] ? Py_True : Py_False,
                               build_strs(&f->elf.verneed), build_strs(&f->elf.verdef), fsdecode,
                               f->elf.versions_error, fsdecode, f->elf.dlopen_error,
                               build_lines(&f->elf.undefined), fsdecode, f->elf.symbols_error));
}

static PyObject *make_node(const void *ctx, size_t i)
{
    const struct records *r = ctx;
    const struct sp_node *n = &SP_VEC_AT(&r->tree->nodes, struct sp_node, i);
    return named(r->st->node_type, Py_BuildValue("(nO&n)", (Py_ssize_t)n->file, fsdecode, n->opened,
                                                 (Py_ssize_t)n->loader));
}

static PyObject *make_edge(const void *ctx, size_t i)
{
    const struct records *r = ctx;
    const struct sp_edge *e = &SP_VEC_AT(&r->tree->edges, struct sp_edge, i);
    return named(r->st->edge_type,
                 Py_BuildValue("(nO&snO&O&nO&)", (Py_ssize_t)e->requester, fsdecode, e->name,
                               sp_how_names[e->how], (Py_ssize_t)e->node, fsdecode, e->error,
                               fsdecode, e->feature, (Py_ssize_t)e->line, fsdecode, e->cpu));
}

static PyObject *make_glibc(const void *ctx, size_t i)
{
    const struct sp_cpus *c = &SP_VEC_AT((const struct sp_vec *)ctx, struct sp_cpus, i);
    return Py_BuildValue("(si)", c->abi->triplet, c->glibc);
}

static PyObject *make_tree(const void *ctx, size_t i)
{
    const struct records *r = ctx;
    struct records in = {r->st, r->job, &SP_VEC_AT(&r->job->ld.trees, struct sp_tree, i)};
    return Py_BuildValue("(O&NN)", fsdecode, in.tree->path,
                         build_list(in.tree->nodes.len, make_node, &in),
                         build_list(in.tree->edges.len, make_edge, &in));
}

/* resolve(root, paths, ld_library_path=None, dpkg=True, dlopen=-1, versions=True,
 *         symbols=False)
 *     -> (files, trees, warnings, glibc)
 * Walks every path (inside root) for ELF files, builds each one's load tree (following dlopen
 * notes up to priority dlopen: 0 required, 1 recommended, 2 suggested; with dlopen >= 0 the
 * Python sources that name libraries are trees too; with versions, each object's symbol
 * versions are read, with symbols its undefined dynamic symbols) and, with dpkg, finds the
 * packages owning what they load; glibc gives, per ABI
 * met, the root's glibc version (100 * major + minor, 0 when unknown) whose loader rules were
 * followed. Raises OSError (with .kind) when a path, the root or the dpkg database cannot be read.
 */
static PyObject *core_resolve(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"root",   "paths",    "ld_library_path", "dpkg",
                             "dlopen", "versions", "symbols",         NULL};
    PyObject *root = NULL, *paths = NULL, *llp = NULL, *result = NULL;
    struct sp_libdeps job;
    struct sp_err err = {0};
    int dpkg = 1, dlopen = -1, versions = 1, symbols = 0, rc;

    memset(&job, 0, sizeof job);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&O|Opipp:resolve", kwlist,
                                     PyUnicode_FSConverter, &root, &paths, &llp, &dpkg, &dlopen,
                                     &versions, &symbols))
        return NULL;
    job.root = PyBytes_AS_STRING(root);
    job.dpkg = dpkg;
    job.dlopen = dlopen < -1 ? -1 : dlopen;
    job.versions = versions;
    job.symbols = symbols;
    if (copy_paths(paths, &job.scan) < 0 ||
        (llp && llp != Py_None && copy_paths(llp, &job.ld_library_path) < 0))
        goto out;

    Py_BEGIN_ALLOW_THREADS rc = sp_libdeps_run(&job, &err);
    Py_END_ALLOW_THREADS

        if (rc < 0)
    {
        raise_err(module, &err);
        goto out;
    }
    struct records records = {get_state(module), &job, NULL};
    result = Py_BuildValue("(NNNN)", build_list(job.ld.files.len, make_file, &records),
                           build_list(job.ld.trees.len, make_tree, &records),
                           build_strs(&job.ld.warnings),
                           build_list(job.ld.cpusets.len, make_glibc, &job.ld.cpusets));
out:
    sp_libdeps_free(&job);
    Py_DECREF(root);
    return result;
}

struct owners_ctx {
    const struct sp_owners *owners;
};

static PyObject *make_owners(const void *ctx, size_t i)
{
    return build_owners(&((const struct owners_ctx *)ctx)->owners[i]);
}

/* dpkg_owners(root, paths) -> list of lists of (package, arch), one per canonical path. */
static PyObject *core_dpkg_owners(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"root", "paths", NULL};
    PyObject *root = NULL, *paths = NULL, *result = NULL;
    struct sp_strs want = {0};
    struct sp_owners *owners = NULL;
    struct sp_err err = {0};
    int rc = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&O:dpkg_owners", kwlist, PyUnicode_FSConverter,
                                     &root, &paths))
        return NULL;
    if (copy_paths(paths, &want) < 0)
        goto out;
    if ((owners = calloc(want.len + 1, sizeof *owners)) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    Py_BEGIN_ALLOW_THREADS rc = sp_dpkg_owners(
        PyBytes_AS_STRING(root), (const char *const *)want.items, want.len, owners, &err);
    Py_END_ALLOW_THREADS if (rc < 0)
    {
        raise_err(module, &err);
        goto out;
    }
    struct owners_ctx ctx = {owners};
    result = build_list(want.len, make_owners, &ctx);
    sp_owners_free(owners, want.len);
out:
    free(owners);
    sp_strs_free(&want);
    Py_DECREF(root);
    return result;
}

static int collect_installed(const char *pkg, const char *arch, void *arg)
{
    struct sp_strs *s = arg;
    return sp_strs_push(s, pkg) < 0 || sp_strs_push(s, arch) < 0 ? -1 : 0;
}

static PyObject *make_pair(const void *ctx, size_t i)
{
    const struct sp_strs *pairs = ctx;
    return Py_BuildValue("(O&O&)", fsdecode, pairs->items[2 * i], fsdecode,
                         pairs->items[2 * i + 1]);
}

/* dpkg_installed(status_file) -> list of (package, arch) whose status is installed. */
static PyObject *core_dpkg_installed(PyObject *module, PyObject *arg)
{
    PyObject *path = NULL, *result = NULL;
    struct sp_strs pairs = {0};
    struct sp_err err = {0};
    int rc;

    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS rc =
        sp_dpkg_installed(PyBytes_AS_STRING(path), collect_installed, &pairs, &err);
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (rc < 0)
        raise_err(module, &err);
    else
        result = build_list(pairs.len / 2, make_pair, &pairs);
    sp_strs_free(&pairs);
    return result;
}

/* ---- Python sources ---- */

static PyObject *make_pycall(const void *ctx, size_t i)
{
    const struct sp_pycall *c = &SP_VEC_AT((const struct sp_vec *)ctx, struct sp_pycall, i);
    return Py_BuildValue("(nO&iN)", (Py_ssize_t)c->line, fsdecode, c->func, c->kind,
                         build_strs(&c->names));
}

/* python_calls(source) -> (truncated, [(line, callee, kind, [name, ...]), ...]): the calls
 * that the lexer of --dlopen finds in the bytes SOURCE. */
static PyObject *core_python_calls(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    struct sp_vec calls;
    sp_vec_init(&calls, sizeof(struct sp_pycall));
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = sp_pysrc_calls(view.buf, (size_t)view.len, &calls);
    Py_END_ALLOW_THREADS PyBuffer_Release(&view);
    PyObject *result = rc < 0 ? PyErr_NoMemory()
                              : Py_BuildValue("(ON)", rc == SP_PYSRC_TRUNCATED ? Py_True : Py_False,
                                              build_list(calls.len, make_pycall, &calls));
    sp_pycalls_free(&calls);
    return result;
}

/* ---- wait-for-port ---- */

struct wait_ctx {
    PyThreadState *ts;
    PyObject *on_event; /* callable or NULL */
};

/* Runs with the GIL re-acquired: calls on_event(index, event, elapsed, detail), index None
 * for an event of the whole wait (the deadline). Given to the wait only when there is an
 * on_event: without one, no event costs the GIL or a change of the signal mask. */
static int wait_event(void *arg, size_t index, int event, double elapsed, const char *detail)
{
    static const char *const names[] = {"done",     "unresolved", "crowded",
                                        "resolved", "attempt",    "deadline"};
    struct wait_ctx *ctx = arg;
    PyEval_RestoreThread(ctx->ts);
    PyObject *i = index == (size_t)-1 ? Py_NewRef(Py_None) : PyLong_FromSize_t(index);
    PyObject *r = i ? PyObject_CallFunction(ctx->on_event, "NsdO&", i, names[event], elapsed,
                                            fsdecode, detail)
                    : NULL;
    Py_XDECREF(r);
    ctx->ts = PyEval_SaveThread();
    return r ? 0 : -1;
}

/* A signal interrupted ppoll() (or the wait starts): run the Python handlers now (Ctrl-C raises
 * KeyboardInterrupt), keeping their exception for when the wait returns. */
static int wait_signal(void *arg)
{
    struct wait_ctx *ctx = arg;
    PyEval_RestoreThread(ctx->ts);
    int rc = PyErr_CheckSignals();
    ctx->ts = PyEval_SaveThread();
    return rc;
}

/* Releases N specs (the first N of SPECS) and the array. */
static void free_specs(struct sp_ep_spec *specs, size_t n)
{
    for (size_t i = 0; specs && i < n; i++)
        sp_ep_spec_free(&specs[i]);
    free(specs);
}

/* Parses the endpoint TEXT (str or bytes) into SPEC. Returns 0, or -1 with ValueError saying
 * what is wrong (or another exception). The one parser of endpoints, here and for wait(). */
static int parse_spec(PyObject *text, struct sp_ep_spec *spec)
{
    PyObject *bytes = NULL;
    char why[160];
    if (!PyUnicode_FSConverter(text, &bytes))
        return -1;
    int rc = sp_ep_parse(PyBytes_AS_STRING(bytes), spec, why, sizeof why);
    Py_DECREF(bytes);
    if (rc < 0) {
        PyObject *message = PyUnicode_DecodeFSDefault(why);
        if (message) {
            PyErr_SetObject(PyExc_ValueError, message);
            Py_DECREF(message);
        }
    }
    return rc;
}

static char *opt_strdup(PyObject *o, int *ok)
{
    if (o == Py_None)
        return NULL;
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(o, &bytes)) {
        *ok = 0;
        return NULL;
    }
    char *s = strdup(PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (s == NULL) {
        PyErr_NoMemory();
        *ok = 0;
    }
    return s;
}

/* parse_endpoint(text) -> (kind, host, port, path); kind is its name (tcp, unix, http, file,
 * redis, postgres, mysql, amqp, https, tls); ValueError saying what is wrong. */
static PyObject *core_parse_endpoint(PyObject *module, PyObject *arg)
{
    (void)module;
    struct sp_ep_spec spec;
    if (parse_spec(arg, &spec) < 0)
        return NULL;
    PyObject *result = Py_BuildValue("(sO&O&O&)", sp_ep_kind_names[spec.kind], fsdecode, spec.host,
                                     fsdecode, spec.port, fsdecode, spec.path);
    sp_ep_spec_free(&spec);
    return result;
}

static PyObject *make_result(const void *ctx, size_t i)
{
    const struct sp_ep_result *r = &((const struct sp_ep_result *)ctx)[i];
    return Py_BuildValue("(OdO&I)", r->done ? Py_True : Py_False, r->elapsed, fsdecode, r->detail,
                         r->attempts);
}

/* wait(endpoints, timeout, period, stable=0, invert=False, cancel_fd=-1, on_event=None,
 *      probe=False, cacert=None, insecure=False, verbose=False)
 *      -> (outcome, [(done, elapsed, detail, attempts), ...])
 * endpoints: sequence of endpoint texts, each parsed here (ValueError as parse_endpoint).
 * outcome: 0 all done, 1 timeout, 2 cancelled, 4 (probe) some endpoint not ready. Exceptions
 * from on_event or signal handlers propagate. */
static PyObject *core_wait(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"endpoints", "timeout", "period", "stable",   "invert",  "cancel_fd",
                             "on_event",  "probe",   "cacert", "insecure", "verbose", NULL};
    PyObject *endpoints, *on_event = Py_None, *seq = NULL, *result = NULL, *cacert = Py_None;
    struct sp_wait_opts opts = {.cancel_fd = -1};
    struct sp_ep_spec *specs = NULL;
    struct sp_ep_result *out = NULL;
    struct sp_err err = {0};
    Py_ssize_t n = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Odd|dpiOpOpp:wait", kwlist, &endpoints,
                                     &opts.timeout, &opts.period, &opts.stable, &opts.invert,
                                     &opts.cancel_fd, &on_event, &opts.probe, &cacert,
                                     &opts.insecure, &opts.verbose))
        return NULL;
    int cacert_ok = 1;
    char *cacert_path = opt_strdup(cacert, &cacert_ok);
    if (!cacert_ok)
        return NULL;
    opts.cacert = cacert_path;
    if ((seq = PySequence_Fast(endpoints, "endpoints must be a sequence")) == NULL) {
        free(cacert_path);
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    specs = calloc((size_t)n + 1, sizeof *specs);
    out = calloc((size_t)n + 1, sizeof *out);
    if (specs == NULL || out == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (parse_spec(PySequence_Fast_GET_ITEM(seq, i), &specs[i]) < 0)
            goto done; /* the specs not parsed are zeroed: freeing them is a no-op */
    }
    struct wait_ctx ctx = {NULL, on_event == Py_None ? NULL : on_event};
    ctx.ts = PyEval_SaveThread();
    int rc = sp_wait_run(specs, (size_t)n, &opts, out, ctx.on_event ? wait_event : NULL,
                         wait_signal, &ctx, &err);
    PyEval_RestoreThread(ctx.ts);
    if (rc == SP_WAIT_STOPPED || PyErr_Occurred())
        goto done;
    if (rc < 0) {
        raise_err(module, &err);
        goto done;
    }
    result = Py_BuildValue("(iN)", rc, build_list((size_t)n, make_result, out));
done:
    free_specs(specs, (size_t)n);
    free(out);
    Py_DECREF(seq);
    free(cacert_path);
    return result;
}

/* ---- module ---- */

/* Docstrings start with a text signature ("name(...)\n--\n\n"), so that inspect.signature and
 * mypy's stubtest see the real parameters. */
static PyMethodDef core_methods[] = {
    {"resolve", (PyCFunction)(void (*)(void))core_resolve, METH_VARARGS | METH_KEYWORDS,
     "resolve($module, /, root, paths, ld_library_path=None, dpkg=True, dlopen=-1,\n"
     "        versions=True, symbols=False)\n--\n\n"
     "-> (files, trees, warnings, glibc): every ELF file under PATHS inside ROOT, resolved;\n"
     "dlopen notes followed up to priority DLOPEN (0 required, 1 recommended, 2 suggested; -1\n"
     "never), and with any priority the library names Python sources pass to ctypes and cffi;\n"
     "symbol versions read when VERSIONS, undefined symbols when SYMBOLS; per ABI the root's\n"
     "glibc (100 * major + minor)."},
    {"dpkg_owners", (PyCFunction)(void (*)(void))core_dpkg_owners, METH_VARARGS | METH_KEYWORDS,
     "dpkg_owners($module, /, root, paths)\n--\n\n"
     "-> [[(package, arch), ...], ...]: the installed owners of each canonical path."},
    {"dpkg_installed", core_dpkg_installed, METH_O,
     "dpkg_installed($module, status_file, /)\n--\n\n"
     "-> [(package, arch), ...]: the packages a dpkg status file says are installed."},
    {"python_calls", core_python_calls, METH_O,
     "python_calls($module, source, /)\n--\n\n"
     "-> (truncated, [(line, callee, kind, [name, ...]), ...]): the calls naming libraries\n"
     "that --dlopen finds in the bytes SOURCE; kind 0 CDLL/LoadLibrary, 1 dlopen, 2 find_library."},
    {"parse_endpoint", core_parse_endpoint, METH_O,
     "parse_endpoint($module, text, /)\n--\n\n"
     "-> (kind, host, port, path): kind tcp, unix, http, file, redis, postgres, mysql, amqp,\n"
     "https or tls; ValueError says what is wrong."},
    {"wait", (PyCFunction)(void (*)(void))core_wait, METH_VARARGS | METH_KEYWORDS,
     "wait($module, /, endpoints, timeout, period, stable=0.0, invert=False, cancel_fd=-1,\n"
     "     on_event=None, probe=False, cacert=None, insecure=False, verbose=False)\n--\n\n"
     "-> (outcome, [(done, elapsed, detail, attempts), ...])"},
    {NULL, NULL, 0, NULL},
};

static int core_exec(PyObject *module)
{
    module_state *st = get_state(module);
    st->error = PyErr_NewExceptionWithDoc(
        "snakepack._core.Error",
        "A failure of snakepack's C core that has no errno; .kind and .filename say what it "
        "is about, .strerror is the whole message.",
        PyExc_OSError, NULL);
    if (st->error == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "Error", st->error) < 0)
        return -1;
    if ((st->file_type = PyStructSequence_NewType(&file_desc)) == NULL ||
        (st->node_type = PyStructSequence_NewType(&node_desc)) == NULL ||
        (st->edge_type = PyStructSequence_NewType(&edge_desc)) == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "File", (PyObject *)st->file_type) < 0 ||
        PyModule_AddObjectRef(module, "Node", (PyObject *)st->node_type) < 0 ||
        PyModule_AddObjectRef(module, "Edge", (PyObject *)st->edge_type) < 0)
        return -1;
    return 0;
}

static int core_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *st = get_state(module);
    Py_VISIT(st->error);
    Py_VISIT(st->file_type);
    Py_VISIT(st->node_type);
    Py_VISIT(st->edge_type);
    return 0;
}

static int core_clear(PyObject *module)
{
    module_state *st = get_state(module);
    Py_CLEAR(st->error);
    Py_CLEAR(st->file_type);
    Py_CLEAR(st->node_type);
    Py_CLEAR(st->edge_type);
    return 0;
}

static void core_free(void *module)
{
    core_clear((PyObject *)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "snakepack._core",
    .m_doc = "C core of snakepack: ELF resolution, dpkg database, nonblocking waits.",
    .m_size = sizeof(module_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
