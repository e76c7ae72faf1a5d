/*
 * test_segment.c - unit tests of lib/segment.c: namespaces, names, create,
 * attach, close, unlink, resize, stat, foreach, and their error paths.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>


static void test_ns_open_errors(void **state)
{
    shmseg_ns *ns = (shmseg_ns *)1;
    (void)state;
    assert_int_equal(shmseg_ns_open("/tmp", NULL), -EINVAL);
    assert_int_equal(shmseg_ns_open("/nonexistent/shmfs", &ns), -ENOENT);
    assert_null(ns);
    assert_int_equal(shmseg_ns_open("/etc/hostname", &ns), -ENOTDIR);
    shmseg_ns_close(NULL); /* no-op */
}

static void test_ns_path(void **state)
{
    shmseg_ns *ns;
    assert_string_equal(shmseg_ns_path(F(state)->ns), F(state)->dir);
    assert_string_equal(shmseg_ns_path(NULL), "/dev/shm");
    assert_int_equal(shmseg_ns_open(NULL, &ns), 0);
    assert_string_equal(shmseg_ns_path(ns), "/dev/shm");
    shmseg_ns_close(ns);
}

static void test_name_check(void **state)
{
    char name[NAME_MAX + 3];
    (void)state;

    assert_int_equal(shmseg_name_check("abc"), 3);
    assert_int_equal(shmseg_name_check("/abc"), 3);
    assert_int_equal(shmseg_name_check("a.b"), 3);
    assert_int_equal(shmseg_name_check("..."), 3);
    assert_int_equal(shmseg_name_check(NULL), -EINVAL);
    assert_int_equal(shmseg_name_check(""), -EINVAL);
    assert_int_equal(shmseg_name_check("/"), -EINVAL);
    assert_int_equal(shmseg_name_check("."), -EINVAL);
    assert_int_equal(shmseg_name_check(".."), -EINVAL);
    assert_int_equal(shmseg_name_check("/.."), -EINVAL);
    assert_int_equal(shmseg_name_check("a/b"), -EINVAL);
    assert_int_equal(shmseg_name_check("//a"), -EINVAL);
    assert_int_equal(shmseg_name_check("a/"), -EINVAL);

    memset(name, 'x', NAME_MAX);
    name[NAME_MAX] = '\0';
    assert_int_equal(shmseg_name_check(name), NAME_MAX);
    name[NAME_MAX] = 'x';
    name[NAME_MAX + 1] = '\0';
    assert_int_equal(shmseg_name_check(name), -ENAMETOOLONG);
    /* A leading '/' does not count toward NAME_MAX. */
    name[0] = '/';
    assert_int_equal(shmseg_name_check(name), NAME_MAX);
}

static void test_create_named(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;
    struct stat st;

    assert_int_equal(shmseg_create(f->ns, "/seg", 4096, 0600, &seg), 0);
    assert_string_equal(shmseg_name(seg), "seg");
    assert_int_equal(shmseg_size(seg), 4096);
    assert_non_null(shmseg_data(seg));
    assert_true(shmseg_fd(seg) >= 0);
    const unsigned char *p = shmseg_data(seg);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(p[i], 0);
    assert_int_equal(stat(in_dir(f, "seg"), &st), 0);
    assert_int_equal(st.st_size, 4096);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(shmseg_close(seg), 0);
    /* The segment survives close. */
    assert_int_equal(stat(in_dir(f, "seg"), &st), 0);
}

static void test_create_exclusive(void **state)
{
    struct fixture *f = F(state);
    shmseg *a, *b = (shmseg *)1;

    assert_int_equal(shmseg_create(f->ns, "x", 10, 0600, &a), 0);
    memcpy(shmseg_data(a), "keep", 4);
    assert_int_equal(shmseg_create(f->ns, "x", 20, 0600, &b), -EEXIST);
    assert_null(b);
    /* The loser changed nothing. */
    assert_int_equal(shmseg_size(a), 10);
    assert_memory_equal(shmseg_data(a), "keep", 4);
    shmseg_close(a);
}

static void test_create_errors(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;
    char longname[NAME_MAX + 2];

    assert_int_equal(shmseg_create(f->ns, "z", 0, 0600, &seg), -EINVAL);
    assert_int_equal(shmseg_create(f->ns, "z", 8, 0600, NULL), -EINVAL);
    assert_int_equal(shmseg_create(f->ns, "a/b", 8, 0600, &seg), -EINVAL);
    assert_int_equal(shmseg_create(f->ns, "..", 8, 0600, &seg), -EINVAL);
    memset(longname, 'n', NAME_MAX + 1);
    longname[NAME_MAX + 1] = '\0';
    assert_int_equal(shmseg_create(f->ns, longname, 8, 0600, &seg),
                     -ENAMETOOLONG);
    assert_int_equal(shmseg_create(f->ns, "z", (size_t)INT64_MAX + 1, 0600,
                                   &seg), -EFBIG);
    assert_int_equal(access(in_dir(f, "z"), F_OK), -1);
}

/* A size the file accepts but nothing can map: the half-made segment must
 * be removed again, as Python does. */
static void test_create_failure_leaves_nothing(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg = (shmseg *)1;

    int err = shmseg_create(f->ns, "huge", (size_t)1 << 62, 0600, &seg);
    assert_true(err == -ENOMEM || err == -EFBIG || err == -ENOSPC);
    assert_null(seg);
    assert_int_equal(access(in_dir(f, "huge"), F_OK), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_create_mode_umask(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;
    struct stat st;

    mode_t old = umask(027);
    assert_int_equal(shmseg_create(f->ns, "m", 8, 0666, &seg), 0);
    umask(old);
    assert_int_equal(fstat(shmseg_fd(seg), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    shmseg_close(seg);
}

static void test_create_generated(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;

    assert_int_equal(shmseg_create(f->ns, NULL, 100, 0600, &seg), 0);
    const char *name = shmseg_name(seg);
    assert_int_equal(strlen(name), SHMSEG_GENERATED_NAME_LEN);
    assert_memory_equal(name, "psm_", 4);
    for (int i = 4; i < SHMSEG_GENERATED_NAME_LEN; i++)
        assert_non_null(strchr("0123456789abcdef", name[i]));
    assert_int_equal(access(in_dir(f, name), F_OK), 0);
    shmseg_close(seg);
}

static void test_attach_shares_bytes(void **state)
{
    struct fixture *f = F(state);
    shmseg *a, *b;

    assert_int_equal(shmseg_create(f->ns, "shared", 8192, 0600, &a), 0);
    assert_int_equal(shmseg_attach(f->ns, "/shared", 0, &b), 0);
    assert_string_equal(shmseg_name(b), "shared");
    assert_int_equal(shmseg_size(b), 8192);
    assert_ptr_not_equal(shmseg_data(a), shmseg_data(b));
    memcpy((char *)shmseg_data(a) + 5000, "hello", 5);
    assert_memory_equal((char *)shmseg_data(b) + 5000, "hello", 5);
    memcpy(shmseg_data(b), "back", 4);
    assert_memory_equal(shmseg_data(a), "back", 4);
    assert_int_equal(shmseg_close(a), 0);
    assert_int_equal(shmseg_close(b), 0);
}

static void test_attach_real_size(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;

    /* Sizes need not be page multiples; the handle reports the real one. */
    int fd = open(in_dir(f, "odd"), O_CREAT | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 12345), 0);
    close(fd);
    assert_int_equal(shmseg_attach(f->ns, "odd", SHMSEG_RDONLY, &seg), 0);
    assert_int_equal(shmseg_size(seg), 12345);
    shmseg_close(seg);
}

static void test_attach_empty(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;

    int fd = open(in_dir(f, "empty"), O_CREAT | O_RDWR, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(shmseg_attach(f->ns, "empty", 0, &seg), 0);
    assert_int_equal(shmseg_size(seg), 0);
    assert_null(shmseg_data(seg));
    assert_int_equal(shmseg_close(seg), 0);
}

static void test_attach_errors(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg = (shmseg *)1;

    assert_int_equal(shmseg_attach(f->ns, "missing", 0, &seg), -ENOENT);
    assert_null(seg);
    assert_int_equal(shmseg_attach(f->ns, "x", 0, NULL), -EINVAL);
    assert_int_equal(shmseg_attach(f->ns, "x", 0x100, &seg), -EINVAL);
    assert_int_equal(shmseg_attach(f->ns, "", 0, &seg), -EINVAL);
    assert_int_equal(shmseg_attach(f->ns, ".", 0, &seg), -EINVAL);
}

/* Non-regular entries planted in the directory are never segments, and a
 * symlink is never followed, not even to a real segment. */
static void test_attach_non_regular(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg, *target;

    assert_int_equal(shmseg_create(f->ns, "target", 64, 0600, &target), 0);
    assert_int_equal(symlink("target", in_dir(f, "link")), 0);
    assert_int_equal(mkdir(in_dir(f, "dir"), 0700), 0);
    assert_int_equal(mkfifo(in_dir(f, "fifo"), 0600), 0);

    assert_int_equal(shmseg_attach(f->ns, "link", 0, &seg), -ELOOP);
    assert_int_equal(shmseg_attach(f->ns, "link", SHMSEG_RDONLY, &seg),
                     -ELOOP);
    assert_int_equal(shmseg_attach(f->ns, "dir", 0, &seg), -EISDIR);
    assert_int_equal(shmseg_attach(f->ns, "dir", SHMSEG_RDONLY, &seg),
                     -EISDIR);
    /* Would block forever without O_NONBLOCK. */
    assert_int_equal(shmseg_attach(f->ns, "fifo", SHMSEG_RDONLY, &seg),
                     -ENODEV);
    assert_int_equal(shmseg_attach(f->ns, "fifo", 0, &seg), -ENODEV);

    /* A socket cannot even be opened (ENXIO): still "not a segment". */
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    const char *path = in_dir(f, "sock");
    assert_true(strlen(path) < sizeof(sun.sun_path));
    memcpy(sun.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(shmseg_attach(f->ns, "sock", 0, &seg), -ENODEV);
    assert_int_equal(shmseg_attach(f->ns, "sock", SHMSEG_RDONLY, &seg),
                     -ENODEV);
    close(sock);
    shmseg_close(target);
}

static void test_readonly(void **state)
{
    struct fixture *f = F(state);
    shmseg *a, *ro;

    assert_int_equal(shmseg_create(f->ns, "ro", 64, 0600, &a), 0);
    memcpy(shmseg_data(a), "data", 4);
    assert_int_equal(shmseg_attach(f->ns, "ro", SHMSEG_RDONLY, &ro), 0);
    assert_memory_equal(shmseg_data(ro), "data", 4);
    assert_int_equal(shmseg_resize(ro, 128), -EBADF);
    assert_int_equal(shmseg_size(ro), 64);
    shmseg_close(ro);
    shmseg_close(a);
}

static void test_unlink(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg, *again;

    assert_int_equal(shmseg_create(f->ns, "gone", 16, 0600, &seg), 0);
    assert_int_equal(shmseg_unlink(f->ns, "/gone"), 0);
    assert_int_equal(shmseg_attach(f->ns, "gone", 0, &again), -ENOENT);
    /* The mapping stays valid after unlink. */
    memcpy(shmseg_data(seg), "still", 5);
    assert_memory_equal(shmseg_data(seg), "still", 5);
    assert_int_equal(shmseg_close(seg), 0);
    assert_int_equal(shmseg_unlink(f->ns, "gone"), -ENOENT);
    /* The name is free again. */
    assert_int_equal(shmseg_create(f->ns, "gone", 16, 0600, &seg), 0);
    shmseg_close(seg);
}

static void test_unlink_errors(void **state)
{
    struct fixture *f = F(state);
    struct stat st;
    shmseg *target;

    assert_int_equal(shmseg_unlink(f->ns, ""), -EINVAL);
    assert_int_equal(shmseg_unlink(f->ns, "../x"), -EINVAL);
    assert_int_equal(mkdir(in_dir(f, "dir"), 0700), 0);
    assert_int_equal(shmseg_unlink(f->ns, "dir"), -EISDIR);
    /* Unlinking a symlink removes the link, never its target. */
    assert_int_equal(shmseg_create(f->ns, "target", 8, 0600, &target), 0);
    shmseg_close(target);
    assert_int_equal(symlink("target", in_dir(f, "link")), 0);
    assert_int_equal(shmseg_unlink(f->ns, "link"), 0);
    assert_int_equal(lstat(in_dir(f, "link"), &st), -1);
    assert_int_equal(stat(in_dir(f, "target"), &st), 0);
}

static void test_resize(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg, *other;
    struct shmseg_info info;

    assert_int_equal(shmseg_create(f->ns, "r", 100, 0600, &seg), 0);
    memset(shmseg_data(seg), 0xab, 100);

    assert_int_equal(shmseg_resize(seg, 1 << 20), 0);
    assert_int_equal(shmseg_size(seg), 1 << 20);
    const unsigned char *p = shmseg_data(seg);
    assert_int_equal(p[99], 0xab);
    assert_int_equal(p[100], 0);
    assert_int_equal(p[(1 << 20) - 1], 0);
    assert_int_equal(shmseg_stat(f->ns, "r", &info), 0);
    assert_int_equal(info.size, 1 << 20);
    struct stat st;
    assert_int_equal(fstat(shmseg_fd(seg), &st), 0);
    assert_int_equal(info.dev, st.st_dev);
    assert_int_equal(info.ino, st.st_ino);

    assert_int_equal(shmseg_resize(seg, 50), 0);
    assert_int_equal(shmseg_size(seg), 50);
    assert_int_equal(((unsigned char *)shmseg_data(seg))[49], 0xab);
    assert_int_equal(shmseg_resize(seg, 50), 0);

    assert_int_equal(shmseg_resize(seg, 0), 0);
    assert_null(shmseg_data(seg));
    assert_int_equal(shmseg_stat(f->ns, "r", &info), 0);
    assert_int_equal(info.size, 0);

    assert_int_equal(shmseg_resize(seg, 10), 0);
    assert_non_null(shmseg_data(seg));
    memcpy(shmseg_data(seg), "x", 1);
    assert_int_equal(shmseg_attach(f->ns, "r", 0, &other), 0);
    assert_int_equal(shmseg_size(other), 10);
    assert_memory_equal(shmseg_data(other), "x", 1);
    shmseg_close(other);

    assert_int_equal(shmseg_resize(seg, (size_t)INT64_MAX + 1), -EFBIG);
    assert_int_equal(shmseg_resize(NULL, 1), -EINVAL);
    assert_int_equal(shmseg_size(seg), 10);
    shmseg_close(seg);
}

/* A resize whose remap fails keeps the old size and mapping. */
static void test_resize_failure_keeps_state(void **state)
{
    struct fixture *f = F(state);
    shmseg *seg;
    struct shmseg_info info;

    assert_int_equal(shmseg_create(f->ns, "rf", 64, 0600, &seg), 0);
    memcpy(shmseg_data(seg), "abc", 3);
    int err = shmseg_resize(seg, (size_t)1 << 62);
    assert_true(err == -ENOMEM || err == -EFBIG || err == -ENOSPC);
    assert_int_equal(shmseg_size(seg), 64);
    assert_memory_equal(shmseg_data(seg), "abc", 3);
    assert_int_equal(shmseg_stat(f->ns, "rf", &info), 0);
    assert_int_equal(info.size, 64);
    shmseg_close(seg);
}

static void test_stat(void **state)
{
    struct fixture *f = F(state);
    struct shmseg_info info;
    shmseg *seg;

    assert_int_equal(shmseg_create(f->ns, "s", 777, 0640, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_stat(f->ns, "/s", &info), 0);
    assert_int_equal(info.size, 777);
    assert_int_equal(info.mode, 0640);
    assert_int_equal(info.uid, getuid());
    assert_int_equal(info.gid, getgid());
    assert_true(info.mtime.tv_sec > 0);
    assert_true(info.ctime.tv_sec > 0);

    assert_int_equal(shmseg_stat(f->ns, "s", NULL), -EINVAL);
    assert_int_equal(shmseg_stat(f->ns, "nope", &info), -ENOENT);
    assert_int_equal(shmseg_stat(f->ns, "a/b", &info), -EINVAL);
    assert_int_equal(symlink("s", in_dir(f, "link")), 0);
    assert_int_equal(shmseg_stat(f->ns, "link", &info), -ELOOP);
    assert_int_equal(mkdir(in_dir(f, "d"), 0700), 0);
    assert_int_equal(shmseg_stat(f->ns, "d", &info), -EISDIR);
    assert_int_equal(mkfifo(in_dir(f, "p"), 0600), 0);
    assert_int_equal(shmseg_stat(f->ns, "p", &info), -ENODEV);
}

struct seen {
    char names[16][NAME_MAX + 1];
    uint64_t sizes[16];
    int count;
    int stop_at;
};

static int collect(const char *name, const struct shmseg_info *info, void *arg)
{
    struct seen *s = arg;
    if (s->count >= 16)
        return -1;
    snprintf(s->names[s->count], sizeof(s->names[0]), "%s", name);
    s->sizes[s->count] = info->size;
    s->count++;
    return s->count == s->stop_at ? 42 : 0;
}

static uint64_t seen_size(const struct seen *s, const char *name)
{
    for (int i = 0; i < s->count; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->sizes[i];
    return UINT64_MAX;
}

static void test_foreach(void **state)
{
    struct fixture *f = F(state);
    struct seen s = {.stop_at = -1};
    shmseg *seg;

    assert_int_equal(shmseg_create(f->ns, "one", 1, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_create(f->ns, "two", 2, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_create(f->ns, "sem.lock", 32, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(mkdir(in_dir(f, "dir"), 0700), 0);
    assert_int_equal(symlink("one", in_dir(f, "link")), 0);
    assert_int_equal(mkfifo(in_dir(f, "fifo"), 0600), 0);

    assert_int_equal(shmseg_foreach(f->ns, collect, &s), 0);
    assert_int_equal(s.count, 2);
    assert_int_equal(seen_size(&s, "one"), 1);
    assert_int_equal(seen_size(&s, "two"), 2);

    struct seen stop = {.stop_at = 1};
    assert_int_equal(shmseg_foreach(f->ns, collect, &stop), 42);
    assert_int_equal(stop.count, 1);

    assert_int_equal(shmseg_foreach(f->ns, NULL, NULL), -EINVAL);
}

static int count_cb(const char *name, const struct shmseg_info *info,
                    void *arg)
{
    (void)name;
    (void)info;
    ++*(int *)arg;
    return 0;
}

static void test_foreach_empty(void **state)
{
    int n = 0;
    assert_int_equal(shmseg_foreach(F(state)->ns, count_cb, &n), 0);
    assert_int_equal(n, 0);
}

/* Removes the default-namespace test's segment even if the test failed. */
static int default_teardown(void **state)
{
    char name[64];
    (void)state;
    shmseg_unlink(NULL, unique_name(name, sizeof(name), "default"));
    return 0;
}

/* The default namespace (NULL) is the real /dev/shm, the one Python uses. */
static void test_default_namespace(void **state)
{
    char name[64], path[128];
    shmseg *seg, *again;
    struct shmseg_info info;
    (void)state;

    unique_name(name, sizeof(name), "default");
    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    assert_int_equal(shmseg_create(NULL, name, 321, 0600, &seg), 0);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(shmseg_stat(NULL, name, &info), 0);
    assert_int_equal(info.size, 321);
    assert_int_equal(shmseg_attach(NULL, name, 0, &again), 0);
    shmseg_close(again);
    shmseg_close(seg);

    struct seen s = {.stop_at = -1};
    /* /dev/shm may hold anything; just make sure ours is among it. */
    int err = shmseg_foreach(NULL, collect, &s);
    assert_true(err == 0 || err == -1);
    assert_int_equal(shmseg_unlink(NULL, name), 0);
    assert_int_equal(access(path, F_OK), -1);
}

struct worker {
    const shmseg_ns *ns;
    int made;
};

static void *create_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 200; i++) {
        shmseg *seg;
        if (shmseg_create(w->ns, NULL, 8, 0600, &seg) == 0) {
            w->made++;
            shmseg_close(seg);
        }
    }
    return NULL;
}

/* One namespace shared by threads; generated names never collide for the
 * caller (collisions are retried inside). */
static void test_threads_share_namespace(void **state)
{
    struct fixture *f = F(state);
    struct worker w[4];
    pthread_t t[4];
    int n = 0;

    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.ns = f->ns};
        assert_int_equal(pthread_create(&t[i], NULL, create_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].made, 200);
    }
    assert_int_equal(shmseg_foreach(f->ns, count_cb, &n), 0);
    assert_int_equal(n, 800);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(shmseg_strerror(-EBADMSG), "not a valid ShareableList");
    assert_string_equal(shmseg_strerror(EBADMSG), "not a valid ShareableList");
    assert_string_equal(shmseg_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(shmseg_strerror(0), "success");
    assert_string_equal(shmseg_strerror(INT_MIN), "unknown error");
    assert_non_null(shmseg_strerror(INT_MAX));
    assert_non_null(shmseg_strerror(-EILSEQ));
    assert_non_null(shmseg_strerror(-ENODEV));
    assert_string_equal(shmseg_strerror(-99999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_open_errors),
        FIXTURE_TEST(test_ns_path),
        cmocka_unit_test(test_name_check),
        FIXTURE_TEST(test_create_named),
        FIXTURE_TEST(test_create_exclusive),
        FIXTURE_TEST(test_create_errors),
        FIXTURE_TEST(test_create_failure_leaves_nothing),
        FIXTURE_TEST(test_create_mode_umask),
        FIXTURE_TEST(test_create_generated),
        FIXTURE_TEST(test_attach_shares_bytes),
        FIXTURE_TEST(test_attach_real_size),
        FIXTURE_TEST(test_attach_empty),
        FIXTURE_TEST(test_attach_errors),
        FIXTURE_TEST(test_attach_non_regular),
        FIXTURE_TEST(test_readonly),
        FIXTURE_TEST(test_unlink),
        FIXTURE_TEST(test_unlink_errors),
        FIXTURE_TEST(test_resize),
        FIXTURE_TEST(test_resize_failure_keeps_state),
        FIXTURE_TEST(test_stat),
        FIXTURE_TEST(test_foreach),
        FIXTURE_TEST(test_foreach_empty),
        cmocka_unit_test_teardown(test_default_namespace, default_teardown),
        FIXTURE_TEST(test_threads_share_namespace),
        cmocka_unit_test(test_strerror),
    };
    /* Modes in these tests are the ones asked for. */
    umask(0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
