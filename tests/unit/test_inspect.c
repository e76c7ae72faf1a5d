/*
 * test_inspect.c - unit tests of lib/inspect.c: scans with real child
 * processes that map or open segments, orphans, shmseg_mappers(),
 * shmseg_unlink_unused(), and a fake /proc tree for what real processes
 * cannot show on demand (vanished and unreadable processes, shmfs mounts,
 * unlinked files, over-long maps lines).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <dirent.h>
#include <sys/inotify.h>
#include <pthread.h>


static void make_seg(struct fixture *f, const char *name, size_t size)
{
    shmseg *seg;
    assert_int_equal(shmseg_create(f->ns, name, size, 0600, &seg), 0);
    assert_int_equal(shmseg_close(seg), 0);
}

/* --- child processes ------------------------------------------------------ */

enum child_how {
    CHILD_ATTACH,     /* shmseg_attach(): a mapping and a descriptor */
    CHILD_OPEN,       /* a descriptor only */
    CHILD_MAP_CLOSED, /* a mapping only: mmap, then close the descriptor */
};

struct child {
    pid_t pid;
    int cmd;   /* parent -> child: 'u' to let go, EOF to exit */
    int reply; /* child -> parent: one byte after each step */
};

static void child_main(const char *path, enum child_how how, int cmd,
                       int reply)
{
    char c = 'x';
    void *p = MAP_FAILED;
    int fd;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "inspect_child");
    /* Keep only our own pipes: a sibling must not hold another child's
     * command pipe open (its EOF is that child's signal to exit). */
    if (dup2(cmd, 1000) < 0 || dup2(reply, 1001) < 0)
        _exit(1);
    cmd = 1000;
    reply = 1001;
    close_range(3, 999, 0);
    close_range(1002, ~0U, 0);
    fd = open(path, O_RDWR);
    if (fd < 0)
        _exit(1);
    if (how != CHILD_OPEN) {
        p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            _exit(1);
    }
    if (how == CHILD_MAP_CLOSED) {
        close(fd);
        fd = -1;
    }
    if (write(reply, &c, 1) != 1)
        _exit(1);
    while (read(cmd, &c, 1) == 1) {
        if (p != MAP_FAILED)
            munmap(p, 8192);
        p = MAP_FAILED;
        if (fd >= 0)
            close(fd);
        fd = -1;
        if (write(reply, &c, 1) != 1)
            _exit(1);
    }
    _exit(0);
}

/* Start a child that uses the file @path as @how says; returns once it
 * does.  The file must be at least 8192 bytes. */
static int child_start(struct child *c, const char *path, enum child_how how)
{
    int cmd[2], reply[2];
    char b;

    if (pipe2(cmd, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(reply, O_CLOEXEC) < 0) {
        close(cmd[0]);
        close(cmd[1]);
        return -1;
    }
    c->pid = fork();
    if (c->pid == 0) {
        close(cmd[1]);
        close(reply[0]);
        child_main(path, how, cmd[0], reply[1]);
    }
    close(cmd[0]);
    close(reply[1]);
    c->cmd = cmd[1];
    c->reply = reply[0];
    if (c->pid < 0 || read(c->reply, &b, 1) != 1)
        return -1;
    return 0;
}

/* Make the child unmap and close what it holds; returns once it has. */
static int child_release(struct child *c)
{
    char b = 'u';
    if (write(c->cmd, &b, 1) != 1 || read(c->reply, &b, 1) != 1)
        return -1;
    return 0;
}

static void child_stop(struct child *c)
{
    if (c->pid <= 0)
        return;
    close(c->cmd);
    close(c->reply);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
}

/* The user record of @pid on @u, or NULL. */
static const struct shmseg_user *user_of(const struct shmseg_usage *u,
                                         pid_t pid)
{
    for (size_t i = 0; i < u->nusers; i++)
        if (u->users[i].pid == pid)
            return &u->users[i];
    return NULL;
}

/* --- real processes --------------------------------------------------------- */

static void test_scan_empty(void **state)
{
    shmseg_scan *s;
    assert_int_equal(shmseg_inspect(F(state)->ns, NULL, NULL, &s), 0);
    assert_int_equal(shmseg_scan_count(s), 0);
    assert_null(shmseg_scan_at(s, 0));
    assert_null(shmseg_scan_find(s, "a"));
    shmseg_scan_free(s);
    shmseg_scan_free(NULL); /* no-op */
}

static void test_child_maps_then_unmaps(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;
    pid_t pids[4];

    make_seg(f, "a", 8192);
    make_seg(f, "b", 100);
    assert_int_equal(child_start(&c, in_dir(f, "a"), CHILD_ATTACH), 0);

    assert_int_equal(shmseg_inspect(f->ns, NULL, NULL, &s), 0);
    assert_int_equal(shmseg_scan_count(s), 2);
    const struct shmseg_usage *a = shmseg_scan_find(s, "a");
    const struct shmseg_usage *b = shmseg_scan_find(s, "/b");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(shmseg_scan_at(s, 0)->name, "a"); /* sorted */
    assert_int_equal(a->info.size, 8192);
    const struct shmseg_user *u = user_of(a, c.pid);
    assert_non_null(u);
    assert_string_equal(u->comm, "inspect_child");
    assert_int_equal(u->maps, 1);
    assert_int_equal(u->fds, 1);
    assert_int_equal(u->mapped, 8192);
    assert_int_equal(b->nusers, 0); /* an orphan */
    assert_true(shmseg_scan_stats(s)->procs > 0);
    shmseg_scan_free(s);

    assert_int_equal(shmseg_mappers(f->ns, "a", 0, pids, 4), 1);
    assert_int_equal(pids[0], c.pid);
    assert_int_equal(shmseg_mappers(f->ns, "b", 0, pids, 4), 0);

    assert_int_equal(child_release(&c), 0);
    assert_int_equal(shmseg_inspect(f->ns, "a", NULL, &s), 0);
    assert_int_equal(shmseg_scan_count(s), 1);
    assert_null(user_of(shmseg_scan_at(s, 0), c.pid));
    assert_int_equal(shmseg_scan_at(s, 0)->nusers, 0);
    shmseg_scan_free(s);
    assert_int_equal(shmseg_mappers(f->ns, "a", 0, NULL, 0), 0);
    child_stop(&c);
}

static void test_open_only(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;

    make_seg(f, "a", 8192);
    assert_int_equal(child_start(&c, in_dir(f, "a"), CHILD_OPEN), 0);
    assert_int_equal(shmseg_inspect(f->ns, "a", NULL, &s), 0);
    const struct shmseg_user *u = user_of(shmseg_scan_at(s, 0), c.pid);
    assert_non_null(u);
    assert_int_equal(u->fds, 1);
    assert_int_equal(u->maps, 0);
    assert_int_equal(u->mapped, 0);
    shmseg_scan_free(s);
    /* Mappers only: a descriptor alone does not count. */
    assert_int_equal(shmseg_mappers(f->ns, "a", 0, NULL, 0), 0);
    /* ... but it does keep the segment from being collected. */
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", 0, 0), -EBUSY);
    assert_int_equal(access(in_dir(f, "a"), F_OK), 0);
    /* A scan without descriptors does not see it. */
    struct shmseg_scan_opts o = {.flags = SHMSEG_SCAN_NO_FDS};
    assert_int_equal(shmseg_inspect(f->ns, "a", &o, &s), 0);
    assert_null(user_of(shmseg_scan_at(s, 0), c.pid));
    shmseg_scan_free(s);
    child_stop(&c);
}

static void test_mapped_fd_closed(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;
    pid_t pid;

    make_seg(f, "a", 8192);
    assert_int_equal(child_start(&c, in_dir(f, "a"), CHILD_MAP_CLOSED), 0);
    assert_int_equal(shmseg_inspect(f->ns, NULL, NULL, &s), 0);
    const struct shmseg_user *u = user_of(shmseg_scan_find(s, "a"), c.pid);
    assert_non_null(u);
    assert_int_equal(u->fds, 0);
    assert_int_equal(u->maps, 1);
    shmseg_scan_free(s);
    assert_int_equal(shmseg_mappers(f->ns, "a", 0, &pid, 1), 1);
    assert_int_equal(pid, c.pid);
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", 0, 0), -EBUSY);
    child_stop(&c);
}

static void test_ignore_pid(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;

    make_seg(f, "a", 8192);
    assert_int_equal(child_start(&c, in_dir(f, "a"), CHILD_ATTACH), 0);
    struct shmseg_scan_opts o = {.ignore_pid = c.pid};
    assert_int_equal(shmseg_inspect(f->ns, NULL, &o, &s), 0);
    assert_null(user_of(shmseg_scan_find(s, "a"), c.pid));
    assert_int_equal(shmseg_scan_stats(s)->ignored, 1);
    shmseg_scan_free(s);
    assert_int_equal(shmseg_mappers(f->ns, "a", c.pid, NULL, 0), 0);
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", 0, c.pid), 0);
    assert_int_equal(access(in_dir(f, "a"), F_OK), -1);
    child_stop(&c);
}

static void test_several_users_sorted(void **state)
{
    struct fixture *f = F(state);
    struct child c[3] = {{0}};
    shmseg_scan *s;
    pid_t pids[3], one;

    make_seg(f, "a", 8192);
    for (int i = 0; i < 3; i++)
        assert_int_equal(child_start(&c[i], in_dir(f, "a"), CHILD_ATTACH),
                         0);
    assert_int_equal(shmseg_inspect(f->ns, "a", NULL, &s), 0);
    const struct shmseg_usage *u = shmseg_scan_at(s, 0);
    assert_true(u->nusers >= 3);
    for (size_t i = 1; i < u->nusers; i++)
        assert_true(u->users[i - 1].pid < u->users[i].pid);
    shmseg_scan_free(s);
    assert_int_equal(shmseg_mappers(f->ns, "a", 0, pids, 3), 3);
    assert_true(pids[0] < pids[1] && pids[1] < pids[2]);
    /* A short array: the count is still the whole count. */
    assert_int_equal(shmseg_mappers(f->ns, "a", 0, &one, 1), 3);
    assert_int_equal(one, pids[0]);
    for (int i = 0; i < 3; i++)
        child_stop(&c[i]);
}

static void test_hard_links(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;
    char other[PATH_MAX];

    make_seg(f, "a", 8192);
    snprintf(other, sizeof(other), "%s", in_dir(f, "a2"));
    assert_int_equal(link(in_dir(f, "a"), other), 0);
    assert_int_equal(child_start(&c, in_dir(f, "a"), CHILD_ATTACH), 0);
    assert_int_equal(shmseg_inspect(f->ns, NULL, NULL, &s), 0);
    /* Two names, one file: both are in use. */
    assert_non_null(user_of(shmseg_scan_find(s, "a"), c.pid));
    assert_non_null(user_of(shmseg_scan_find(s, "a2"), c.pid));
    shmseg_scan_free(s);
    child_stop(&c);
}

static void test_unlink_unused(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;

    make_seg(f, "a", 8192);
    make_seg(f, "b", 8192);
    assert_int_equal(shmseg_inspect(f->ns, "a", NULL, &s), 0);
    uint64_t ino = shmseg_scan_at(s, 0)->ino;
    shmseg_scan_free(s);

    /* Another file under the name since it was looked at: refused. */
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", ino + 1, 0), -ESTALE);
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", ino, 0), 0);
    assert_int_equal(access(in_dir(f, "a"), F_OK), -1);
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", 0, 0), -ENOENT);
    assert_int_equal(shmseg_unlink_unused(f->ns, "../x", 0, 0), -EINVAL);

    /* Mapped: never removed. */
    assert_int_equal(child_start(&c, in_dir(f, "b"), CHILD_MAP_CLOSED), 0);
    assert_int_equal(shmseg_unlink_unused(f->ns, "b", 0, 0), -EBUSY);
    assert_int_equal(access(in_dir(f, "b"), F_OK), 0);
    assert_int_equal(child_release(&c), 0);
    assert_int_equal(shmseg_unlink_unused(f->ns, "b", 0, 0), 0);
    child_stop(&c);
}

static void test_errors(void **state)
{
    struct fixture *f = F(state);
    shmseg_scan *s = (shmseg_scan *)1;

    assert_int_equal(shmseg_inspect(f->ns, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(shmseg_inspect(f->ns, "missing", NULL, &s), -ENOENT);
    assert_null(s);
    assert_int_equal(shmseg_inspect(f->ns, "a/b", NULL, &s), -EINVAL);
    assert_int_equal(shmseg_inspect(f->ns, "", NULL, &s), -EINVAL);
    assert_int_equal(mkdir(in_dir(f, "d"), 0700), 0);
    assert_int_equal(shmseg_inspect(f->ns, "d", NULL, &s), -EISDIR);
    assert_int_equal(symlink("/etc/hostname", in_dir(f, "l")), 0);
    assert_int_equal(shmseg_inspect(f->ns, "l", NULL, &s), -ELOOP);
    make_seg(f, "a", 10);
    struct shmseg_scan_opts bad = {.flags = 0x100};
    assert_int_equal(shmseg_inspect(f->ns, "a", &bad, &s), -EINVAL);
    struct shmseg_scan_opts noproc = {.proc = "/nonexistent/proc"};
    assert_int_equal(shmseg_inspect(f->ns, "a", &noproc, &s), -ENOENT);
    assert_int_equal(shmseg_mappers(f->ns, NULL, 0, NULL, 0), -EINVAL);
    assert_int_equal(shmseg_mappers(f->ns, "a", 0, NULL, 1), -EINVAL);
    assert_int_equal(shmseg_mappers(f->ns, "missing", 0, NULL, 0), -ENOENT);

    /* Directories, symlinks and semaphores are not segments of a full
     * scan either. */
    make_seg(f, "sem.x", 10);
    assert_int_equal(shmseg_inspect(f->ns, NULL, NULL, &s), 0);
    assert_int_equal(shmseg_scan_count(s), 1);
    assert_string_equal(shmseg_scan_at(s, 0)->name, "a");
    shmseg_scan_free(s);
}

static void test_kinds(void **state)
{
    struct fixture *f = F(state);
    struct shmseg_value v[2] = {{.type = SHMSEG_INT, .u.i = 1},
                                {.type = SHMSEG_NONE}};
    shmseg_list *l;
    shmseg_scan *s;

    assert_int_equal(shmseg_list_create(f->ns, "l", v, 2, 0600, &l), 0);
    shmseg_list_close(l);
    make_seg(f, "p", 100);
    struct shmseg_scan_opts o = {.flags = SHMSEG_SCAN_KINDS};
    assert_int_equal(shmseg_inspect(f->ns, NULL, &o, &s), 0);
    assert_int_equal(shmseg_scan_find(s, "l")->kind, SHMSEG_KIND_LIST);
    assert_int_equal(shmseg_scan_find(s, "l")->list_len, 2);
    assert_int_equal(shmseg_scan_find(s, "p")->kind, SHMSEG_KIND_SEGMENT);
    /* Judging kinds must not leave the scanner among the users. */
    assert_int_equal(shmseg_scan_find(s, "l")->nusers, 0);
    shmseg_scan_free(s);
    assert_int_equal(shmseg_inspect(f->ns, NULL, NULL, &s), 0);
    assert_int_equal(shmseg_scan_find(s, "l")->kind, SHMSEG_KIND_UNKNOWN);
    shmseg_scan_free(s);
    assert_string_equal(shmseg_kind_name(SHMSEG_KIND_LIST), "list");
    assert_string_equal(shmseg_kind_name(SHMSEG_KIND_SEGMENT), "segment");
    assert_string_equal(shmseg_kind_name(SHMSEG_KIND_UNKNOWN), "unknown");
    assert_null(shmseg_kind_name((enum shmseg_kind)42));
}

static void test_info_age(void **state)
{
    struct shmseg_info i = {0};
    (void)state;
    i.mtime.tv_sec = 1000;
    i.ctime.tv_sec = 900;
    assert_int_equal(shmseg_info_age(&i, 1060), 60);
    i.ctime.tv_sec = 1030; /* the later of the two counts */
    assert_int_equal(shmseg_info_age(&i, 1060), 30);
    assert_int_equal(shmseg_info_age(&i, 10), 0); /* future */
}

/* --- a fake /proc ---------------------------------------------------------- */

static void put_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void fake_dir(struct fixture *f, const char *rel)
{
    assert_int_equal(mkdir(in_dir(f, rel), 0700), 0);
}

/*
 * The namespace is the subdirectory "ns" of the fixture; the fake procfs is
 * "proc".  Processes:
 *   100  maps "a" twice (real device), plus decoys; holds an fd on "a"
 *   101  vanished (no fd, no maps)
 *   102  maps unreadable (a directory)
 *   103  maps "a" through a shmfs mount of ns; decoys on other mounts
 *   104  a line longer than the read buffer, then a real hit on "b"
 */
static void test_fake_proc(void **state)
{
    struct fixture *f = F(state);
    struct stat st;
    shmseg_ns *ns;
    shmseg_scan *s;
    char line[1024], path[PATH_MAX];

    fake_dir(f, "ns");
    fake_dir(f, "proc");
    assert_int_equal(shmseg_ns_open(in_dir(f, "ns"), &ns), 0);
    shmseg *seg;
    assert_int_equal(shmseg_create(ns, "a", 100, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_create(ns, "b", 100, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_create(ns, "c\nd", 100, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(stat(in_dir(f, "ns/a"), &st), 0);
    unsigned long ino_a = (unsigned long)st.st_ino;
    unsigned ma = major(st.st_dev), mi = minor(st.st_dev);
    assert_int_equal(stat(in_dir(f, "ns/b"), &st), 0);
    unsigned long ino_b = (unsigned long)st.st_ino;
    assert_int_equal(stat(in_dir(f, "ns/c\nd"), &st), 0);
    unsigned long ino_c = (unsigned long)st.st_ino;

    fake_dir(f, "proc/self");
    snprintf(path, sizeof(path), "%s", in_dir(f, "ns"));
    char *mi_text = NULL;
    assert_true(asprintf(&mi_text,
        "22 1 0:5 / /dev rw - devtmpfs udev rw\n"
        "40 22 0:999 / /mnt/shm\\040x rw,nosuid - fuse.shmfs %s rw\n"
        "41 22 0:998 / /mnt/other rw - fuse.shmfs /tmp rw\n"
        "42 22 0:997 / /mnt/sshfs rw shared:5 - fuse.sshfs %s rw\n"
        "43 22 0:996 / /broken\n",
        path, path) > 0);
    put_file(in_dir(f, "proc/self/mountinfo"), mi_text);
    free(mi_text);

    fake_dir(f, "proc/100");
    fake_dir(f, "proc/100/fd");
    put_file(in_dir(f, "proc/100/comm"), "fakeproc\n");
    snprintf(path, sizeof(path), "%s", in_dir(f, "ns/a"));
    assert_int_equal(symlink(path, in_dir(f, "proc/100/fd/3")), 0);
    assert_int_equal(symlink("/etc/hostname", in_dir(f, "proc/100/fd/4")),
                     0);
    char *maps = NULL;
    snprintf(path, sizeof(path), "%s", in_dir(f, "ns/a"));
    assert_true(asprintf(&maps,
        "7f0000000000-7f0000002000 rw-s 00000000 %02x:%02x %lu    %s\n"
        "7f0000003000-7f0000004000 r--s 00000000 %02x:%02x %lu    %s\n"
        "7f0000005000-7f0000006000 rw-s 00000000 %02x:%02x %lu    /x/a\n"
        "7f0000007000-7f0000008000 rw-p 00000000 00:00 0 \n"
        "7f0000009000-7f000000a000 rw-s 00000000 %02x:%02x %lu    /x/b (deleted)\n"
        "garbage line\n"
        "7f000000b000-7f000000c000 rw-s 00000000 %02x:%02x %lu    /x/c\\012d\n",
        ma, mi, ino_a, path, ma, mi, ino_a, path,
        ma + 1, mi, ino_a, ma, mi, ino_b, ma, mi, ino_c) > 0);
    put_file(in_dir(f, "proc/100/maps"), maps);
    free(maps);

    fake_dir(f, "proc/101");

    fake_dir(f, "proc/102");
    fake_dir(f, "proc/102/fd");
    fake_dir(f, "proc/102/maps");

    fake_dir(f, "proc/103");
    fake_dir(f, "proc/103/fd");
    snprintf(line, sizeof(line),
             "7f0000000000-7f0000001000 rw-s 00000000 00:3e7 %lu /mnt/shm x/a\n"
             "7f0000001000-7f0000002000 rw-s 00000000 00:3e7 %lu /mnt/shm x/zz\n"
             "7f0000002000-7f0000003000 rw-s 00000000 00:3e6 %lu /mnt/other/a\n"
             "7f0000003000-7f0000004000 rw-s 00000000 00:3e5 %lu /mnt/sshfs/a\n"
             "7f0000004000-7f0000005000 rw-s 00000000 00:3e7 %lu /mnt/shm x/a (deleted)\n",
             ino_a, ino_a, ino_a, ino_a, ino_a);
    put_file(in_dir(f, "proc/103/maps"), line);

    fake_dir(f, "proc/104");
    fake_dir(f, "proc/104/fd");
    size_t big = 200 * 1024;
    char *long_maps = malloc(big + 512);
    assert_alloc(long_maps);
    int n = snprintf(long_maps, 512,
                     "7f0000000000-7f0000001000 rw-s 00000000 %02x:%02x %lu /",
                     ma, mi, ino_b);
    memset(long_maps + n, 'y', big);
    snprintf(long_maps + n + big, 512,
             "\n7f0000001000-7f0000003000 rw-s 00000000 %02x:%02x %lu /b\n",
             ma, mi, ino_b);
    put_file(in_dir(f, "proc/104/maps"), long_maps);
    free(long_maps);

    struct shmseg_scan_opts o = {.proc = in_dir(f, "proc")};
    assert_int_equal(shmseg_inspect(ns, NULL, &o, &s), 0);
    const struct shmseg_scan_stats *stats = shmseg_scan_stats(s);
    assert_int_equal(stats->procs, 5);
    assert_int_equal(stats->vanished, 1);
    assert_int_equal(stats->unreadable, 1);
    assert_int_equal(stats->ignored, 0);

    const struct shmseg_usage *a = shmseg_scan_find(s, "a");
    assert_int_equal(a->nusers, 2);
    const struct shmseg_user *u = user_of(a, 100);
    assert_non_null(u);
    assert_string_equal(u->comm, "fakeproc");
    assert_int_equal(u->maps, 2);
    assert_int_equal(u->mapped, 3 * 4096);
    assert_int_equal(u->fds, 1);
    u = user_of(a, 103); /* through the mount, named right */
    assert_non_null(u);
    assert_int_equal(u->maps, 1);
    assert_int_equal(u->mapped, 4096);
    assert_string_equal(u->comm, "");

    /* "b": a mapping through a path since deleted counts (the file is
     * still "b": on a real device the inode is what matters); the
     * over-long line is skipped, the line after it counts. */
    const struct shmseg_usage *b = shmseg_scan_find(s, "b");
    assert_int_equal(b->nusers, 2);
    assert_int_equal(b->users[0].pid, 100);
    assert_int_equal(b->users[0].mapped, 4096);
    assert_int_equal(b->users[1].pid, 104);
    assert_int_equal(b->users[1].mapped, 8192);
    /* A newline in a name is "\012" in maps. */
    const struct shmseg_usage *c = shmseg_scan_find(s, "c\nd");
    assert_int_equal(c->nusers, 1);
    assert_int_equal(c->users[0].pid, 100);
    shmseg_scan_free(s);

    o.ignore_pid = 100;
    o.flags = SHMSEG_SCAN_NO_FDS;
    assert_int_equal(shmseg_inspect(ns, "a", &o, &s), 0);
    assert_int_equal(shmseg_scan_stats(s)->ignored, 1);
    assert_int_equal(shmseg_scan_stats(s)->procs, 4);
    assert_int_equal(shmseg_scan_at(s, 0)->nusers, 1);
    assert_int_equal(shmseg_scan_at(s, 0)->users[0].pid, 103);
    shmseg_scan_free(s);
    shmseg_ns_close(ns);
}


/* --- fake /proc: one process at a time ------------------------------------- */

/* A fake procfs in the fixture ("proc", with an empty self/mountinfo unless
 * @fifo_mountinfo: then a FIFO, which a scan opens right after it listed the
 * segments and before it reads any process: open it for writing to wait
 * for that moment, close it to let the scan go on) and a namespace "ns". */
static char proc_root[PATH_MAX]; /* the fake procfs of fake_setup() */

static shmseg_ns *fake_setup(struct fixture *f, bool fifo_mountinfo)
{
    shmseg_ns *ns = NULL;
    snprintf(proc_root, sizeof(proc_root), "%s", in_dir(f, "proc"));
    fake_dir(f, "ns");
    fake_dir(f, "proc");
    fake_dir(f, "proc/self");
    if (fifo_mountinfo)
        assert_int_equal(mkfifo(in_dir(f, "proc/self/mountinfo"), 0600), 0);
    else
        put_file(in_dir(f, "proc/self/mountinfo"), "");
    assert_int_equal(shmseg_ns_open(in_dir(f, "ns"), &ns), 0);
    return ns;
}

/* Wait (up to @ms milliseconds) until a scan opens the FIFO @path for
 * reading; returns the writing end, -1 on timeout. */
static int fifo_writer_ms(const char *path, int ms)
{
    for (int i = 0; i < ms; i++) {
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 || errno != ENXIO)
            return fd;
        usleep(1000);
    }
    return -1;
}

static int fifo_writer(const char *path)
{
    return fifo_writer_ms(path, 10000);
}

/* Add process @pid to the fake /proc with an empty fd directory and
 * @maps (NULL: none, so the process looks gone). */
static void fake_proc(struct fixture *f, int pid, const char *maps)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "proc/%d", pid);
    fake_dir(f, rel);
    snprintf(rel, sizeof(rel), "proc/%d/fd", pid);
    fake_dir(f, rel);
    if (maps) {
        snprintf(rel, sizeof(rel), "proc/%d/maps", pid);
        put_file(in_dir(f, rel), maps);
    }
}

/* A maps line for a mapping of @pages pages of the file @path. */
static char *maps_line(const char *path, const char *shown, int pages)
{
    struct stat st;
    char *line = NULL;
    assert_int_equal(stat(path, &st), 0);
    assert_true(asprintf(&line,
                         "7f0000000000-%012llx rw-s 00000000 %02x:%02x %lu %s\n",
                         0x7f0000000000ULL + 4096ULL * (unsigned)pages,
                         major(st.st_dev), minor(st.st_dev),
                         (unsigned long)st.st_ino, shown) > 0);
    return line;
}

static uint64_t ino_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    return (uint64_t)st.st_ino;
}

/* A descriptor that closes between readdir and statx (a dangling fd
 * link) says nothing about the process: it is still read, its maps count. */
static void test_fd_closed_during_scan(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = fake_setup(f, false);
    shmseg_scan *s;

    shmseg *seg;
    assert_int_equal(shmseg_create(ns, "a", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    char *maps = maps_line(in_dir(f, "ns/a"), "/x/a", 1);
    fake_proc(f, 200, maps);
    free(maps);
    assert_int_equal(symlink("/nonexistent/closed", in_dir(f, "proc/200/fd/3")),
                     0);
    struct shmseg_scan_opts o = {.proc = proc_root};
    assert_int_equal(shmseg_inspect(ns, "a", &o, &s), 0);
    assert_int_equal(shmseg_scan_stats(s)->procs, 1);
    assert_int_equal(shmseg_scan_stats(s)->vanished, 0);
    assert_int_equal(shmseg_scan_stats(s)->unreadable, 0);
    assert_int_equal(shmseg_scan_at(s, 0)->nusers, 1);
    assert_int_equal(shmseg_scan_at(s, 0)->users[0].maps, 1);
    shmseg_scan_free(s);
    shmseg_ns_close(ns);
}

/* A mapping made through a hard link that was removed since shows in maps
 * as "NAME2 (deleted)"; the file is still the segment under its other
 * name. */
static void test_deleted_hard_link(void **state)
{
    struct fixture *f = F(state);
    struct child c = {0};
    shmseg_scan *s;
    char other[PATH_MAX];

    make_seg(f, "a", 8192);
    snprintf(other, sizeof(other), "%s", in_dir(f, "a2"));
    assert_int_equal(link(in_dir(f, "a"), other), 0);
    assert_int_equal(child_start(&c, other, CHILD_MAP_CLOSED), 0);
    assert_int_equal(unlink(other), 0);
    assert_int_equal(shmseg_inspect(f->ns, "a", NULL, &s), 0);
    const struct shmseg_user *u = user_of(shmseg_scan_at(s, 0), c.pid);
    assert_non_null(u);
    assert_int_equal(u->maps, 1);
    shmseg_scan_free(s);
    assert_int_equal(shmseg_unlink_unused(f->ns, "a", 0, 0), -EBUSY);
    child_stop(&c);
}

struct bg_gc {
    pthread_t thread;
    shmseg_ns *ns;
    struct shmseg_scan_opts opts;
    struct shmseg_gc_item item;
    int err;
};

static void *bg_gc_main(void *arg)
{
    struct bg_gc *b = arg;
    b->err = shmseg_gc(b->ns, &b->item, 1, &b->opts, 0, NULL);
    return NULL;
}

/* Number of entries of the directory @path (but . and ..). */
static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;
    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/*
 * gc of "a" while, during its scan, the name "a" is given to a new segment
 * (made after the one gc judged was renamed away, or after it was unlinked
 * if gc still has it under its name).  @old_used: a process maps the file
 * gc judged.  The new segment must survive whatever happens to the old.
 */
static void replaced_during_gc(struct fixture *f, bool old_used)
{
    shmseg_ns *ns = fake_setup(f, true);
    struct bg_gc b = {.ns = ns};
    shmseg *seg;

    assert_int_equal(shmseg_create(ns, "a", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    uint64_t old_ino = ino_of(in_dir(f, "ns/a"));
    char *maps = old_used ? maps_line(in_dir(f, "ns/a"), "/x/a", 1) : NULL;
    fake_proc(f, 100, maps ? maps : "");
    free(maps);
    b.opts.proc = proc_root;
    b.item.name = "a";
    b.item.ino = old_ino;
    assert_int_equal(pthread_create(&b.thread, NULL, bg_gc_main, &b), 0);
    int w = fifo_writer(in_dir(f, "proc/self/mountinfo"));
    /* The scan is under way: give the name to a new segment. */
    unlink(in_dir(f, "ns/a"));
    int err = shmseg_create(ns, "a", 4096, 0600, &seg);
    if (err == 0)
        shmseg_close(seg);
    uint64_t new_ino = ino_of(in_dir(f, "ns/a"));
    if (w >= 0)
        close(w);
    assert_int_equal(pthread_join(b.thread, NULL), 0);
    assert_true(w >= 0);
    assert_int_equal(err, 0);
    assert_int_equal(b.err, 0);
    assert_int_equal(ino_of(in_dir(f, "ns/a")), new_ino);
    if (old_used) {
        /* Kept, and left under its quarantine name: "a" is taken. */
        assert_int_equal(b.item.result, -EBUSY);
        assert_int_equal(b.item.users, 1);
        assert_non_null(b.item.stranded);
        assert_memory_equal(b.item.stranded, SHMSEG_GC_PREFIX,
                            strlen(SHMSEG_GC_PREFIX));
        char path[64];
        snprintf(path, sizeof(path), "ns/%.40s", b.item.stranded);
        assert_int_equal(ino_of(in_dir(f, path)), old_ino);
        assert_int_equal(dir_entries(in_dir(f, "ns")), 2);
        free(b.item.stranded);
    } else {
        assert_int_equal(b.item.result, 0);
        assert_null(b.item.stranded);
        assert_int_equal(dir_entries(in_dir(f, "ns")), 1);
    }
    shmseg_ns_close(ns);
}

static void test_replaced_during_gc(void **state)
{
    replaced_during_gc(F(state), false);
}

static void test_replaced_during_gc_used(void **state)
{
    replaced_during_gc(F(state), true);
}

/* gc of several segments at once: one scan; unused ones go, used ones come
 * back under their names, and so does a file that is not the one judged. */
static void test_gc_batch(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = fake_setup(f, false);
    shmseg *seg;
    const char *names[] = {"a", "b", "c", "d", "e"};

    for (int i = 0; i < 5; i++) {
        assert_int_equal(shmseg_create(ns, names[i], 4096, 0600, &seg), 0);
        shmseg_close(seg);
    }
    char *maps = maps_line(in_dir(f, "ns/b"), "/x/b", 1);
    fake_proc(f, 100, maps);
    free(maps);
    assert_int_equal(mkdir(in_dir(f, "ns/dir"), 0700), 0);
    struct shmseg_gc_item it[] = {
        {.name = "a", .ino = ino_of(in_dir(f, "ns/a"))},
        {.name = "/b"},
        {.name = "c", .ino = ino_of(in_dir(f, "ns/c")) + 1000},
        {.name = "missing"},
        {.name = "dir"},
        {.name = "a/b"},
        {.name = "e"},
    };
    struct shmseg_scan_opts o = {.proc = proc_root};
    struct shmseg_scan_stats st;
    assert_int_equal(shmseg_gc(ns, it, 7, &o, 0, &st), 0);
    assert_int_equal(st.procs, 1);
    assert_int_equal(it[0].result, 0);
    assert_int_equal(it[1].result, -EBUSY);
    assert_int_equal(it[1].users, 1);
    assert_int_equal(it[2].result, -ESTALE);
    assert_int_equal(it[3].result, -ENOENT);
    assert_int_equal(it[4].result, -EISDIR);
    assert_int_equal(it[5].result, -EINVAL);
    assert_int_equal(it[6].result, 0);
    for (int i = 0; i < 7; i++)
        assert_null(it[i].stranded);
    assert_int_equal(access(in_dir(f, "ns/a"), F_OK), -1);
    assert_int_equal(access(in_dir(f, "ns/b"), F_OK), 0);
    assert_int_equal(access(in_dir(f, "ns/c"), F_OK), 0);
    assert_int_equal(access(in_dir(f, "ns/d"), F_OK), 0);
    assert_int_equal(access(in_dir(f, "ns/e"), F_OK), -1);
    assert_int_equal(dir_entries(in_dir(f, "ns")), 4); /* b c d dir */

    assert_int_equal(shmseg_gc(ns, NULL, 0, &o, 0, NULL), 0);
    assert_int_equal(shmseg_gc(ns, NULL, 1, &o, 0, NULL), -EINVAL);
    assert_int_equal(shmseg_gc(ns, it, 1, &o, 0x10, NULL), -EINVAL);
    struct shmseg_gc_item none = {0};
    assert_int_equal(shmseg_gc(ns, &none, 1, &o, 0, NULL), -EINVAL);
    shmseg_ns_close(ns);
}

/* However many segments it collects, gc reads /proc once: it opens the
 * fake mountinfo once (inotify counts the opens; watching closes too keeps
 * it from merging repeated opens into one event). */
static void test_gc_one_scan(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = fake_setup(f, false);
    struct shmseg_gc_item it[3] = {{.name = "a"}, {.name = "b"}, {.name = "c"}};
    struct shmseg_scan_opts o = {.proc = proc_root};
    shmseg *seg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    for (int i = 0; i < 3; i++) {
        assert_int_equal(shmseg_create(ns, it[i].name, 10, 0600, &seg), 0);
        shmseg_close(seg);
    }
    fake_proc(f, 100, "");
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(in >= 0);
    assert_true(inotify_add_watch(in, in_dir(f, "proc/self/mountinfo"),
                                  IN_OPEN | IN_CLOSE_NOWRITE) >= 0);
    assert_int_equal(shmseg_gc(ns, it, 3, &o, 0, NULL), 0);
    int opens = 0;
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n;
             p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
            opens += (((struct inotify_event *)p)->mask & IN_OPEN) != 0;
    close(in);
    assert_int_equal(opens, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(it[i].result, 0);
    assert_int_equal(dir_entries(in_dir(f, "ns")), 0);
    shmseg_ns_close(ns);
}

/*
 * Processes that cannot be read: counted, for each segment, when their
 * credentials could open it; gc then keeps the segment unless forced.
 *   300  unreadable (maps is a directory), uid/gid 54321, no groups
 *   301  unreadable, status unreadable: could be anyone
 *   302  unreadable, but an ancestor of this process (fake stat files)
 */
static void test_unreadable_could_use(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = fake_setup(f, false);
    shmseg_scan *s;
    shmseg *seg;
    char rel[64];

    assert_int_equal(shmseg_create(ns, "private", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_create(ns, "group", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(chown(in_dir(f, "ns/group"), (uid_t)-1, 54321), 0);
    assert_int_equal(chmod(in_dir(f, "ns/group"), 0660), 0);
    assert_int_equal(shmseg_create(ns, "shared", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(chmod(in_dir(f, "ns/shared"), 0604), 0);

    fake_proc(f, 300, NULL);
    fake_dir(f, "proc/300/maps");
    put_file(in_dir(f, "proc/300/status"),
             "Name:\tother\nUid:\t54321\t54321\t54321\t54321\n"
             "Gid:\t54321\t54321\t54321\t54321\nGroups:\t\n");
    struct shmseg_scan_opts o = {.proc = proc_root};
    assert_int_equal(shmseg_inspect(ns, NULL, &o, &s), 0);
    assert_int_equal(shmseg_scan_stats(s)->unreadable, 1);
    assert_int_equal(shmseg_scan_stats(s)->proc_restricted, 0);
    if (getuid() != 54321) {
        assert_int_equal(shmseg_scan_find(s, "private")->unknown, 0);
        assert_int_equal(shmseg_scan_find(s, "group")->unknown, 1);
        assert_int_equal(shmseg_scan_find(s, "shared")->unknown, 1);
    }
    shmseg_scan_free(s);

    /* gc keeps what an unreadable process could use, unless forced. */
    struct shmseg_gc_item it[] = {{.name = "private"}, {.name = "group"}};
    assert_int_equal(shmseg_gc(ns, it, 2, &o, 0, NULL), 0);
    assert_int_equal(it[0].result, 0);
    assert_int_equal(it[1].result, -EBUSY);
    assert_int_equal(it[1].users, 0);
    assert_int_equal(it[1].unknown, 1);
    assert_int_equal(access(in_dir(f, "ns/group"), F_OK), 0);
    assert_int_equal(shmseg_gc(ns, &it[1], 1, &o, SHMSEG_GC_FORCE, NULL), 0);
    assert_int_equal(it[1].result, 0);
    assert_int_equal(access(in_dir(f, "ns/group"), F_OK), -1);

    /* Status unreadable too: it could be anyone. */
    fake_proc(f, 301, NULL);
    fake_dir(f, "proc/301/maps");
    assert_int_equal(shmseg_create(ns, "private", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    assert_int_equal(shmseg_inspect(ns, "private", &o, &s), 0);
    assert_int_equal(shmseg_scan_at(s, 0)->unknown, 1);
    shmseg_scan_free(s);

    /* ... unless it is an ancestor of ours: our fake stat names it. */
    snprintf(rel, sizeof(rel), "proc/%d", (int)getpid());
    fake_dir(f, rel);
    snprintf(rel, sizeof(rel), "proc/%d/fd", (int)getpid());
    fake_dir(f, rel);
    snprintf(rel, sizeof(rel), "proc/%d/maps", (int)getpid());
    put_file(in_dir(f, rel), "");
    snprintf(rel, sizeof(rel), "proc/%d/stat", (int)getpid());
    put_file(in_dir(f, rel), "1 (a) b) S 301 1 1 0\n");
    put_file(in_dir(f, "proc/301/stat"), "301 (init) S 0 0 0 0\n");
    assert_int_equal(shmseg_inspect(ns, "private", &o, &s), 0);
    assert_int_equal(shmseg_scan_stats(s)->unreadable, 2);
    assert_int_equal(shmseg_scan_at(s, 0)->unknown, 0);
    shmseg_scan_free(s);
    shmseg_ns_close(ns);
}

/* A procfs mounted with hidepid= or subset=pid may hide processes: the
 * scan says so, and gc keeps everything unless forced. */
static void test_proc_restricted(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = fake_setup(f, false);
    shmseg_scan *s;
    shmseg *seg;
    struct stat st;
    char *text = NULL;
    static const char *const opts[] = {"rw,hidepid=2", "rw,hidepid=invisible",
                                       "rw,subset=pid", "rw,hidepid=0",
                                       "rw,hidepid=off", "rw"};

    assert_int_equal(shmseg_create(ns, "a", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    fake_proc(f, 100, "");
    assert_int_equal(stat(in_dir(f, "proc"), &st), 0);
    struct shmseg_scan_opts o = {.proc = proc_root};
    for (int i = 0; i < 6; i++) {
        assert_true(asprintf(&text, "22 1 %u:%u / /proc rw - proc proc %s\n",
                             major(st.st_dev), minor(st.st_dev), opts[i]) > 0);
        put_file(in_dir(f, "proc/self/mountinfo"), text);
        free(text);
        assert_int_equal(shmseg_inspect(ns, NULL, &o, &s), 0);
        assert_int_equal(shmseg_scan_stats(s)->proc_restricted, i < 3);
        shmseg_scan_free(s);
    }
    put_file(in_dir(f, "proc/self/mountinfo"), "");
    struct shmseg_gc_item it = {.name = "a"};
    assert_true(asprintf(&text, "22 1 %u:%u / /proc rw - proc proc rw,hidepid=1\n",
                         major(st.st_dev), minor(st.st_dev)) > 0);
    put_file(in_dir(f, "proc/self/mountinfo"), text);
    free(text);
    assert_int_equal(shmseg_gc(ns, &it, 1, &o, 0, NULL), 0);
    assert_int_equal(it.result, -EBUSY);
    assert_int_equal(it.unknown, 1);
    assert_int_equal(access(in_dir(f, "ns/a"), F_OK), 0);
    assert_int_equal(dir_entries(in_dir(f, "ns")), 1);
    shmseg_ns_close(ns);
}

/* A descriptor on a file that lost its last name during the scan is not a
 * use of the segment that had that name. */
static void test_fd_on_unlinked_file(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = fake_setup(f, true);
    shmseg_scan *s = NULL;
    shmseg *seg;
    char target[64];

    assert_int_equal(shmseg_create(ns, "a", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    int fd = open(in_dir(f, "ns/a"), O_RDONLY);
    assert_true(fd >= 0);
    fake_proc(f, 100, "");
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    assert_int_equal(symlink(target, in_dir(f, "proc/100/fd/3")), 0);

    struct shmseg_scan_opts o = {.proc = proc_root};
    pid_t pid = fork();
    if (pid == 0) {
        int w = fifo_writer(in_dir(f, "proc/self/mountinfo"));
        unlink(in_dir(f, "ns/a"));
        _exit(w < 0);
    }
    assert_int_equal(shmseg_inspect(ns, NULL, &o, &s), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(st, 0);
    assert_int_equal(shmseg_scan_count(s), 1);
    assert_int_equal(shmseg_scan_at(s, 0)->nusers, 0);
    shmseg_scan_free(s);
    close(fd);
    shmseg_ns_close(ns);
}

/* On a shmfs mount's device a hit must name the segment, for descriptors
 * as for mappings; and mountinfo escapes a space in the source as \040. */
static void test_fuse_names(void **state)
{
    struct fixture *f = F(state);
    shmseg_ns *ns = NULL;
    shmseg_scan *s;
    shmseg *seg;
    struct stat st;
    char *text = NULL, path[PATH_MAX];

    fake_dir(f, "n s");
    fake_dir(f, "proc");
    fake_dir(f, "proc/self");
    snprintf(proc_root, sizeof(proc_root), "%s", in_dir(f, "proc"));
    assert_int_equal(shmseg_ns_open(in_dir(f, "n s"), &ns), 0);
    assert_int_equal(shmseg_create(ns, "a", 4096, 0600, &seg), 0);
    shmseg_close(seg);
    snprintf(path, sizeof(path), "%s", in_dir(f, "n s/a"));
    assert_int_equal(stat(path, &st), 0);
    /* Another name of the same file, outside the namespace. */
    assert_int_equal(link(path, in_dir(f, "zz")), 0);

    /* Declare the namespace's own device a shmfs mount of it: every hit
     * on it must then carry the segment's name. */
    char src[PATH_MAX];
    snprintf(src, sizeof(src), "%s/n\\040s", f->dir);
    assert_true(asprintf(&text, "40 22 %u:%u / /mnt/shm rw - fuse.shmfs %s rw\n"
                                "41 22 0:999 / /mnt/shm2 rw - fuse.shmfs %s rw\n",
                         major(st.st_dev), minor(st.st_dev), src, src) > 0);
    put_file(in_dir(f, "proc/self/mountinfo"), text);
    free(text);
    fake_proc(f, 100, "");
    assert_int_equal(symlink(path, in_dir(f, "proc/100/fd/3")), 0);
    char zz[PATH_MAX];
    snprintf(zz, sizeof(zz), "%s", in_dir(f, "zz"));
    assert_int_equal(symlink(zz, in_dir(f, "proc/100/fd/4")), 0);
    assert_true(asprintf(&text,
        "7f0000000000-7f0000001000 rw-s 00000000 00:3e7 %lu /mnt/shm2/a\n"
        "7f0000001000-7f0000002000 rw-s 00000000 00:3e7 %lu /mnt/shm2/zz\n",
        (unsigned long)st.st_ino, (unsigned long)st.st_ino) > 0);
    fake_proc(f, 101, text);
    free(text);

    struct shmseg_scan_opts o = {.proc = proc_root};
    assert_int_equal(shmseg_inspect(ns, "a", &o, &s), 0);
    const struct shmseg_usage *u = shmseg_scan_at(s, 0);
    assert_int_equal(u->nusers, 2);
    assert_int_equal(user_of(u, 100)->fds, 1); /* fd 4 is "zz" */
    assert_int_equal(user_of(u, 101)->maps, 1); /* through "n s"'s mount */
    shmseg_scan_free(s);
    shmseg_ns_close(ns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_scan_empty),
        FIXTURE_TEST(test_child_maps_then_unmaps),
        FIXTURE_TEST(test_open_only),
        FIXTURE_TEST(test_mapped_fd_closed),
        FIXTURE_TEST(test_ignore_pid),
        FIXTURE_TEST(test_several_users_sorted),
        FIXTURE_TEST(test_hard_links),
        FIXTURE_TEST(test_unlink_unused),
        FIXTURE_TEST(test_errors),
        FIXTURE_TEST(test_kinds),
        cmocka_unit_test(test_info_age),
        FIXTURE_TEST(test_fake_proc),
        FIXTURE_TEST(test_fd_closed_during_scan),
        FIXTURE_TEST(test_deleted_hard_link),
        FIXTURE_TEST(test_replaced_during_gc),
        FIXTURE_TEST(test_replaced_during_gc_used),
        FIXTURE_TEST(test_gc_batch),
        FIXTURE_TEST(test_gc_one_scan),
        FIXTURE_TEST(test_unreadable_could_use),
        FIXTURE_TEST(test_proc_restricted),
        FIXTURE_TEST(test_fd_on_unlinked_file),
        FIXTURE_TEST(test_fuse_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
