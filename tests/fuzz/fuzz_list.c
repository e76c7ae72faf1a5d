/*
 * fuzz_list.c - libFuzzer target: any bytes as a segment.
 *
 * The validator must never read outside the buffer (ASan checks: the copy is
 * a heap block of exactly the input's size), and a buffer it accepts must be
 * fully readable as a list: every element's get, text and the format.
 * The pread-based shmseg_list_check_fd() must judge the same bytes, held in
 * a memfd, exactly as the in-memory validator does.
 */
#include "shmseg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* One memfd for every input: a new one per run would cost more than the
 * checks. */
static int fd = -1;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct shmseg_value v;
    shmseg_list *l;
    char text[64];
    size_t n;

    /* malloc's alignment is enough for shmseg_list_wrap(). */
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);

    int rc = shmseg_list_check(buf, size, &n);
    if (fd < 0)
        fd = memfd_create("fuzz_list", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 0) < 0 ||
        pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    size_t n_fd = 0;
    if (shmseg_list_check_fd(fd, &n_fd) != rc || (rc == 0 && n_fd != n))
        abort();
    if (rc == 0) {
        if (shmseg_list_wrap(buf, size, true, &l) != 0)
            abort(); /* the validator accepted it */
        if (shmseg_list_len(l) != n)
            abort();
        if (shmseg_list_format(l, text, sizeof(text)) < 0)
            abort();
        for (size_t i = 0; i < n; i++) {
            int err = shmseg_list_get(l, i, &v);
            /* Only a str slot with bad UTF-8 may fail on a valid list. */
            if (err < 0 && !(err == -EILSEQ))
                abort();
            if (shmseg_list_get_text(l, i, text, sizeof(text)) < 0 &&
                err == 0)
                abort();
            /* Storing what we read back (or a number) must work. */
            if (err == 0 && shmseg_list_set(l, i, &v) != 0)
                abort();
        }
        shmseg_list_close(l);
    } else if (rc != -EBADMSG) {
        abort();
    }
    free(buf);
    return 0;
}
