/*
 * fuzz_parse.c - libFuzzer target: element text parsing.
 *
 * The first byte picks the type, the rest is the text.  Whatever parses must
 * format to text that parses back to the same value (floats bit for bit,
 * any NaN for NaN).
 */
#include "shmseg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static bool same(const struct shmseg_value *a, const struct shmseg_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SHMSEG_INT:
        return a->u.i == b->u.i;
    case SHMSEG_FLOAT:
        if (isnan(a->u.f))
            return isnan(b->u.f);
        return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
    case SHMSEG_BOOL:
        return a->u.b == b->u.b;
    case SHMSEG_NONE:
        return true;
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        return a->u.s.len == b->u.s.len &&
               (a->u.s.len == 0 ||
                memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
    }
    return false;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct shmseg_value v, back;

    if (size == 0)
        return 0;
    enum shmseg_type type = (enum shmseg_type)(data[0] % 6);
    /* An exact-size heap copy, so ASan catches any read past the text. */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);

    int rc = shmseg_value_parse(type, text, size - 1, &v);
    if (rc == 0) {
        ssize_t len = shmseg_value_format(&v, NULL, 0);
        if (len < 0)
            abort();
        char *out = malloc((size_t)len ? (size_t)len : 1);
        if (!out || shmseg_value_format(&v, out, (size_t)len) != len)
            abort();
        if (shmseg_value_parse(type, out, (size_t)len, &back) != 0 ||
            !same(&v, &back))
            abort();
        free(out);
    } else if (rc != -EINVAL && rc != -ERANGE && rc != -ENOMEM) {
        abort();
    }
    free(text);
    return 0;
}
