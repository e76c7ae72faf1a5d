/*
 * error.c - text for the error codes libshmseg returns.
 */
#include "shmseg.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

const char *shmseg_strerror(int err)
{
    if (err == INT_MIN)
        return "unknown error"; /* -INT_MIN does not exist */
    if (err > 0)
        err = -err;
    switch (err) {
    case 0:
        return "success";
    case -EBADMSG:
        return "not a valid ShareableList";
    case -EILSEQ:
        return "str element is not valid UTF-8";
    case -ENODEV:
        return "not a regular file, so not a segment";
    }
    /* strerrordesc_np() is thread-safe and never returns a pointer into a
     * static buffer, unlike strerror(). */
    const char *s = strerrordesc_np(-err);
    return s ? s : "unknown error";
}
