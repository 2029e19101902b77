/* libFuzzer harness: the endpoint parser (ext/endpoint.c). The oracle: a parsed endpoint has
 * the parts its kind needs (an absolute path for unix: and file:), a port of ASCII digits from 1 to
 * 65535, no blank or control byte in its host or HTTP path, no path for tls:// (nothing but the
 * handshake happens there); a refusal says why in one line. */
#include "harness.h"
#include "wait/endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size); /* the command line holds no NUL */
    if (text == NULL)
        abort();
    struct sp_ep_spec spec;
    char why[160];
    if (sp_ep_parse(text, &spec, why, sizeof why) == 0) {
        if (spec.kind == SP_EP_UNIX || spec.kind == SP_EP_FILE) {
            size_t max = spec.kind == SP_EP_UNIX ? SP_UNIX_PATH_MAX : SP_FILE_PATH_MAX;
            if (spec.path == NULL || spec.path[0] != '/' || strlen(spec.path) > max || spec.host)
                abort();
        } else {
            if (spec.host == NULL || spec.host[0] == '\0' || spec.port == NULL)
                abort();
            unsigned long port = strtoul(spec.port, NULL, 10);
            if (port < 1 || port > 65535 || strspn(spec.port, "0123456789") != strlen(spec.port))
                abort();
            for (const char *p = spec.host; *p; p++)
                if ((unsigned char)*p <= ' ')
                    abort();
            if (spec.kind == SP_EP_HTTP || spec.kind == SP_EP_HTTPS) {
                if (spec.path == NULL || spec.path[0] != '/')
                    abort();
                for (const char *p = spec.path; *p; p++)
                    if ((unsigned char)*p <= ' ' || *p == 0x7f)
                        abort();
            } else if (spec.kind == SP_EP_TLS && spec.path) {
                abort();
            }
        }
        sp_ep_spec_free(&spec);
    } else if (why[0] == '\0' || strchr(why, '\n')) {
        abort();
    }
    free(text);
    return 0;
}
