/*
 * testutil.h - fixtures shared by the cmocka unit tests: a private namespace
 * directory per test, removed with everything in it by the teardown, which
 * cmocka runs even when the test failed.
 */
#ifndef SHMFS_TESTUTIL_H
#define SHMFS_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmseg.h"

/* Fail the test (and leave it) if an allocation failed.  The explicit
 * return also tells the compiler the pointer is not NULL afterwards. */
#define assert_alloc(p)                                                        \
    do {                                                                       \
        if (!(p)) {                                                            \
            fail_msg("out of memory");                                         \
            return;                                                            \
        }                                                                      \
    } while (0)

struct fixture {
    char dir[64];
    shmseg_ns *ns;
};

static inline int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The fixture of a FIXTURE_TEST. */
static inline struct fixture *F(void **state)
{
    return *state;
}

/* Path of @name inside the fixture's directory. */
static inline const char *in_dir(struct fixture *f, const char *name)
{
    static __thread char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s/%s", f->dir, name);
    return buf;
}

/* cmocka setup: a fresh private namespace in a temporary directory. */
static inline int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/shmfs-unit-XXXXXX");
    if (!mkdtemp(f->dir) || shmseg_ns_open(f->dir, &f->ns) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    shmseg_ns_close(f->ns);
    int rc = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

/* A name unique to this process for segments in the real /dev/shm. */
static inline const char *unique_name(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "shmfs_unit_%ld_%s", (long)getpid(), tag);
    return buf;
}

#define FIXTURE_TEST(fn) \
    cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

#endif /* SHMFS_TESTUTIL_H */
