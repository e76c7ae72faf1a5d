/*
 * inspect.c - who uses each segment: one pass over /proc for all segments.
 *
 * A scan first lists the namespace's segments into a table hashed by inode
 * number, then reads, for every process, /proc/PID/fd (statx of each
 * descriptor) and /proc/PID/maps (device and inode of each mapping), and
 * adds each hit to its segment.  Files are matched by (device, inode), never
 * by path: a segment mapped through a bind mount, another mount namespace or
 * a shmfs FUSE mount is still the same segment.  A shmfs mount of this
 * namespace is recognised in /proc/self/mountinfo (fstype "fuse.shmfs",
 * source = the namespace directory); its files carry the inode numbers of
 * the real files, and a hit on its device must also carry the segment's
 * name, since the daemon may number its other nodes freely.
 *
 * Descriptors are read before mappings: a process that opens, maps and then
 * closes a segment while we look is seen at least once.
 *
 * A process that cannot be read is remembered with its credentials (from
 * /proc/PID/status, which anyone may read): each segment counts those that
 * could open it by its owner, group and mode bits (shmseg_usage.unknown).
 *
 * shmseg_gc() never unlinks by a name it judged earlier: it first renames
 * each candidate to a private quarantine name in the same directory, checks
 * it is the file it judged, scans once for all of them, then unlinks the
 * unused ones and renames the others back.
 */
#include "shmseg.h"
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Bytes read from /proc/PID/maps at a time; a longer line is skipped (paths
 * are at most PATH_MAX bytes, four times that when escaped). */
#define MAPS_BUF (64 * 1024)

struct entry {
    struct shmseg_usage u;
    const char *alias; /* another name a shmfs mount may show (gc), or NULL */
    struct shmseg_user *users;
    size_t cap;
    size_t next; /* index + 1 of the next entry with the same inode, 0: end */
};

/* A device whose files can be segments of this namespace. */
struct dev {
    dev_t dev;
    bool fuse; /* a shmfs mount of the namespace: names must match too */
};

/* A process the scan could not read (fully), and who it runs as. */
struct hidden {
    bool creds; /* false: /proc/PID/status unreadable, it could be anyone */
    uid_t uid[4]; /* real, effective, saved, filesystem */
    gid_t gid[4];
    gid_t *groups;
    size_t ngroups;
};

struct shmseg_scan {
    struct entry *ents;
    size_t n, cap;
    size_t *table; /* open addressing by inode: entry index + 1, 0 empty */
    size_t mask;
    struct dev *devs;
    size_t ndevs;
    struct hidden *hidden;
    size_t nhidden;
    pid_t anc[64]; /* the caller's ancestors */
    size_t nanc;
    struct shmseg_scan_stats stats;
};

/* What is known of the process being read. */
struct proc {
    pid_t pid;
    int dirfd; /* /proc/PID */
    bool comm_read;
    char comm[sizeof(((struct shmseg_user *)0)->comm)];
};

/* --- the segment table --------------------------------------------------- */

static size_t ino_hash(uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 17);
}

static int add_dev(shmseg_scan *s, dev_t dev, bool fuse)
{
    for (size_t i = 0; i < s->ndevs; i++)
        if (s->devs[i].dev == dev && s->devs[i].fuse == fuse)
            return 0;
    struct dev *d = realloc(s->devs, (s->ndevs + 1) * sizeof(*d));
    if (!d)
        return -ENOMEM;
    s->devs = d;
    d[s->ndevs].dev = dev;
    d[s->ndevs].fuse = fuse;
    s->ndevs++;
    return 0;
}

static int add_entry(shmseg_scan *s, const char *name,
                     const struct shmseg_info *info)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct entry *e = realloc(s->ents, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        s->ents = e;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    int err = add_dev(s, (dev_t)info->dev, false);
    if (err < 0) {
        free(copy);
        return err;
    }
    struct entry *e = &s->ents[s->n++];
    memset(e, 0, sizeof(*e));
    e->u.name = copy;
    e->u.dev = info->dev;
    e->u.ino = info->ino;
    e->u.kind = SHMSEG_KIND_UNKNOWN;
    e->u.info = *info;
    return 0;
}

static void free_entries(shmseg_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->ents[i].u.name);
        free(s->ents[i].users);
    }
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->u.name,
                  ((const struct entry *)b)->u.name);
}

/* Sort the entries by name and index them by inode. */
static int build_table(shmseg_scan *s)
{
    size_t size = 16;
    while (size < 2 * s->n)
        size *= 2;
    s->table = calloc(size, sizeof(*s->table));
    if (!s->table)
        return -ENOMEM;
    s->mask = size - 1;
    if (s->n > 1)
        qsort(s->ents, s->n, sizeof(*s->ents), cmp_entry);
    for (size_t i = 0; i < s->n; i++) {
        size_t h = ino_hash(s->ents[i].u.ino) & s->mask;
        while (s->table[h] &&
               s->ents[s->table[h] - 1].u.ino != s->ents[i].u.ino)
            h = (h + 1) & s->mask;
        /* Hard links share an inode: chain them. */
        s->ents[i].next = s->table[h];
        s->table[h] = i + 1;
    }
    return 0;
}

/* The first entry (then follow ->next) with inode @ino, or NULL. */
static struct entry *lookup(const shmseg_scan *s, uint64_t ino)
{
    size_t h = ino_hash(ino) & s->mask;
    for (; s->table[h]; h = (h + 1) & s->mask) {
        struct entry *e = &s->ents[s->table[h] - 1];
        if (e->u.ino == ino)
            return e;
    }
    return NULL;
}

/* The device @dev, if its files can be segments.  A device that is
 * (said to be) a shmfs mount of the namespace is one whatever else is
 * known of it: its hits must name the segment. */
static const struct dev *find_dev(const shmseg_scan *s, dev_t dev)
{
    const struct dev *found = NULL;
    for (size_t i = 0; i < s->ndevs; i++)
        if (s->devs[i].dev == dev && (!found || s->devs[i].fuse))
            found = &s->devs[i];
    return found;
}

/* --- listing the namespace ---------------------------------------------- */

static int list_cb(const char *name, const struct shmseg_info *info,
                   void *arg)
{
    return add_entry(arg, name, info);
}

static int list_segments(shmseg_scan *s, const shmseg_ns *ns,
                         const char *name)
{
    struct shmseg_info info;

    if (!name)
        return shmseg_foreach(ns, list_cb, s);
    /* shmseg_stat() gives the library's errors for bad names and files
     * that are not segments. */
    int err = shmseg_stat(ns, name, &info);
    if (err < 0)
        return err;
    return add_entry(s, name[0] == '/' ? name + 1 : name, &info);
}

/* Kind of each segment, judged by pread: nothing is mapped, so a segment
 * shrunk meanwhile cannot raise SIGBUS here. */
static void read_kinds(shmseg_scan *s, int dirfd)
{
    for (size_t i = 0; i < s->n; i++) {
        struct shmseg_usage *u = &s->ents[i].u;
        struct stat st;
        size_t n;
        int fd = openat(dirfd, u->name,
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0 && (uint64_t)st.st_ino == u->ino) {
            if (shmseg_list_check_fd(fd, &n) == 0) {
                u->kind = SHMSEG_KIND_LIST;
                u->list_len = n;
            } else {
                u->kind = SHMSEG_KIND_SEGMENT;
            }
        }
        close(fd);
    }
}

/* --- shmfs mounts of the namespace (mountinfo) -------------------------- */

/* Undo mountinfo's octal escapes (\040 for ' ', ...) in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
            r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The next space-separated field of *@line, NUL-terminated in place, and
 * *@line moved past it; NULL when there is none left. */
static char *next_field(char **line)
{
    char *p = *line;
    if (!p || !*p)
        return NULL;
    char *sp = strchr(p, ' ');
    if (sp) {
        *sp = '\0';
        *line = sp + 1;
    } else {
        *line = NULL;
    }
    return p;
}

/* True if the procfs superoptions @opts hide processes or restrict what
 * can be seen of them (hidepid=1/2/noaccess/invisible/ptraceable,
 * subset=pid). */
static bool proc_restricted(char *opts)
{
    for (char *o = strtok(opts, ","); o; o = strtok(NULL, ",")) {
        if (strncmp(o, "hidepid=", 8) == 0 && strcmp(o + 8, "0") != 0 &&
            strcmp(o + 8, "off") != 0)
            return true;
        if (strcmp(o, "subset=pid") == 0)
            return true;
    }
    return false;
}

/* If @line describes a shmfs mount whose source is the directory @dir,
 * add its device; if it is the procfs being read (device @proc), note
 * whether it restricts what can be seen.  Format: id parent maj:min root
 * mountpoint options [optional fields...] - fstype source superoptions */
static int mount_line(shmseg_scan *s, char *line, const struct stat *dir,
                      dev_t proc)
{
    char *rest = line, *f, *devf = NULL;
    unsigned maj, min;
    struct stat st;

    for (int i = 0; i < 3 && (f = next_field(&rest)); i++)
        devf = f;
    while ((f = next_field(&rest)) && strcmp(f, "-") != 0)
        ; /* root, mount point, options, optional fields */
    if (!f || !devf)
        return 0;
    char *fstype = next_field(&rest), *source = next_field(&rest);
    if (!fstype || !source || sscanf(devf, "%u:%u", &maj, &min) != 2)
        return 0;
    if (strcmp(fstype, "proc") == 0 && makedev(maj, min) == proc) {
        char *opts = next_field(&rest);
        if (opts && proc_restricted(opts))
            s->stats.proc_restricted = 1;
        return 0;
    }
    if (strcmp(fstype, "fuse.shmfs") != 0)
        return 0;
    unescape_octal(source);
    if (source[0] != '/' || stat(source, &st) < 0)
        return 0;
    if (st.st_dev != dir->st_dev || st.st_ino != dir->st_ino)
        return 0;
    return add_dev(s, makedev(maj, min), true);
}

static int read_mounts(shmseg_scan *s, int procfd, int dirfd)
{
    struct stat dir, proc;
    char *line = NULL;
    size_t cap = 0;
    int err = 0;

    if (fstat(dirfd, &dir) < 0 || fstat(procfd, &proc) < 0)
        return -errno;
    int fd = openat(procfd, "self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* no mountinfo: no shmfs mounts to know of */
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return -ENOMEM;
    }
    ssize_t len;
    while (err == 0 && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        err = mount_line(s, line, &dir, proc.st_dev);
    }
    free(line);
    fclose(f);
    return err;
}

/* --- recording a use ----------------------------------------------------- */

static void read_comm(struct proc *p)
{
    p->comm_read = true;
    p->comm[0] = '\0';
    int fd = openat(p->dirfd, "comm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, p->comm, sizeof(p->comm) - 1);
    close(fd);
    if (n < 0)
        n = 0;
    p->comm[n] = '\0';
    char *nl = strchr(p->comm, '\n');
    if (nl)
        *nl = '\0';
}

/* Count @bytes of mapping (a map) or one descriptor (@bytes == -1) of @p on
 * @e.  A process's hits on one segment come one after another, so its user
 * record, if any, is the last one. */
static int add_use(struct entry *e, struct proc *p, int64_t bytes)
{
    struct shmseg_user *u;

    if (e->u.nusers && e->users[e->u.nusers - 1].pid == p->pid) {
        u = &e->users[e->u.nusers - 1];
    } else {
        if (e->u.nusers == e->cap) {
            size_t cap = e->cap ? 2 * e->cap : 2;
            u = realloc(e->users, cap * sizeof(*u));
            if (!u)
                return -ENOMEM;
            e->users = u;
            e->u.users = u;
            e->cap = cap;
        }
        if (!p->comm_read)
            read_comm(p);
        u = &e->users[e->u.nusers++];
        memset(u, 0, sizeof(*u));
        u->pid = p->pid;
        memcpy(u->comm, p->comm, sizeof(u->comm));
    }
    if (bytes < 0) {
        u->fds++;
    } else {
        u->maps++;
        u->mapped += (uint64_t)bytes;
    }
    return 0;
}

/* The last path component of @path. */
static const char *base_name(const char *path, size_t *len)
{
    const char *slash = memrchr(path, '/', *len);
    if (!slash)
        return path;
    *len -= (size_t)(slash + 1 - path);
    return slash + 1;
}

/* True if @path (@len bytes, as /proc shows it: '\n' written "\012" in
 * maps when @escaped) ends in the component @name. */
static bool path_names(const char *path, size_t len, const char *name,
                       bool escaped)
{
    const char *b = base_name(path, &len);
    size_t i = 0;
    for (const char *n = name; *n; n++) {
        if (escaped && *n == '\n') {
            if (len - i < 4 || memcmp(b + i, "\\012", 4) != 0)
                return false;
            i += 4;
        } else {
            if (i == len || b[i] != *n)
                return false;
            i++;
        }
    }
    return i == len;
}

#define DELETED " (deleted)"
#define DELETED_LEN (sizeof(DELETED) - 1)

/*
 * A hit on (@dev, @ino) by @p, where @path (may be NULL: then @fddir/@fd
 * give it on demand) is the file's path.  Real files match on device and
 * inode; files of a shmfs mount also on the name.
 */
static int hit(shmseg_scan *s, struct proc *p, dev_t dev, uint64_t ino,
               const char *path, size_t pathlen, bool escaped, int64_t bytes,
               int fddir, const char *fdname)
{
    const struct dev *d = find_dev(s, dev);
    char buf[PATH_MAX];

    if (!d)
        return 0;
    struct entry *e = lookup(s, ino);
    if (!e)
        return 0;
    if (d->fuse && !path) {
        ssize_t n = readlinkat(fddir, fdname, buf, sizeof(buf));
        if (n < 0 || (size_t)n == sizeof(buf))
            return 0;
        path = buf;
        pathlen = (size_t)n;
    }
    for (; e; e = e->next ? &s->ents[e->next - 1] : NULL) {
        if (d->fuse ? !path_names(path, pathlen, e->u.name, escaped) &&
                          !(e->alias &&
                            path_names(path, pathlen, e->alias, escaped))
                    : (dev_t)e->u.dev != dev)
            continue;
        int err = add_use(e, p, bytes);
        if (err < 0)
            return err;
    }
    return 0;
}

/* --- reading one process -------------------------------------------------- */

/* What a failure to read a /proc entry means for the scan. */
static bool gone(int err)
{
    return err == ENOENT || err == ESRCH;
}

/* Returns 0, a negative errno for the whole scan (-ENOMEM), or 1 when the
 * process vanished, 2 when something was unreadable. */
static int read_fds(shmseg_scan *s, struct proc *p)
{
    int fddir = openat(p->dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fddir < 0)
        return gone(errno) ? 1 : 2;
    DIR *d = fdopendir(fddir);
    if (!d) {
        close(fddir);
        return -ENOMEM;
    }
    struct dirent *de;
    int rc = 0;
    for (;;) {
        struct statx stx;
        errno = 0; /* readdir() leaves it alone at the end */
        if (!(de = readdir(d))) {
            /* Only the directory itself failing says something about the
             * process; one descriptor failing below never does. */
            if (errno)
                rc = gone(errno) ? 1 : 2;
            break;
        }
        if (de->d_name[0] == '.')
            continue;
        /* DONT_SYNC: device and inode need no round trip to a remote or
         * FUSE server (a daemon asking about its own mount must not wait
         * for itself). */
        if (statx(fddir, de->d_name, AT_STATX_DONT_SYNC,
                  STATX_TYPE | STATX_INO | STATX_NLINK, &stx) < 0)
            continue; /* closed meanwhile */
        if (!S_ISREG(stx.stx_mode) || stx.stx_nlink == 0)
            continue; /* not a file, or one with no name left */
        rc = hit(s, p, makedev(stx.stx_dev_major, stx.stx_dev_minor),
                 stx.stx_ino, NULL, 0, false, -1, fddir, de->d_name);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Parse "start-end perms offset maj:min inode   path" and record a hit. */
static int maps_line(shmseg_scan *s, struct proc *p, char *line, size_t len)
{
    char *end = line + len, *q;
    *end = '\0';
    unsigned long long start = strtoull(line, &q, 16);
    if (*q != '-')
        return 0;
    unsigned long long stop = strtoull(q + 1, &q, 16);
    q = strchr(q, ' '); /* perms */
    if (!q || !(q = strchr(q + 1, ' '))) /* offset */
        return 0;
    q = strchr(q + 1, ' ');
    if (!q)
        return 0;
    unsigned long maj = strtoul(q + 1, &q, 16);
    if (*q != ':')
        return 0;
    unsigned long min = strtoul(q + 1, &q, 16);
    unsigned long long ino = strtoull(q, &q, 10);
    if (ino == 0 || stop < start)
        return 0; /* anonymous memory */
    while (*q == ' ')
        q++;
    size_t plen = (size_t)(end - q);
    /* A path the mapping was made through that has been unlinked since.
     * On a real device the file is matched by (device, inode) alone: it
     * may still be a segment under another name (a hard link).  On a
     * shmfs mount the path is all there is to go by, and a file that lost
     * it is not a segment any more, unless its name itself ends so. */
    bool deleted = plen > DELETED_LEN &&
                   memcmp(end - DELETED_LEN, DELETED, DELETED_LEN) == 0;
    const struct dev *d = find_dev(s, makedev(maj, min));
    if (deleted && d && d->fuse) {
        struct entry *e = lookup(s, ino);
        if (!e || !path_names(q, plen, e->u.name, true))
            return 0;
    }
    return hit(s, p, makedev(maj, min), ino, q, plen, true,
               (int64_t)(stop - start), -1, NULL);
}

static int read_maps(shmseg_scan *s, struct proc *p, char *buf)
{
    int fd = openat(p->dirfd, "maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gone(errno) ? 1 : 2;
    size_t have = 0;
    bool skipping = false; /* inside a line longer than the buffer */
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, MAPS_BUF - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = gone(errno) ? 1 : 2;
            break;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            if (!skipping)
                rc = maps_line(s, p, line, (size_t)(nl - line));
            skipping = false;
            line = nl + 1;
            if (rc < 0)
                goto out;
        }
        have -= (size_t)(line - buf);
        if (have == MAPS_BUF) {
            skipping = true;
            have = 0;
        } else {
            memmove(buf, line, have);
        }
    }
out:
    close(fd);
    return rc;
}

/* True if @pid is an ancestor of the calling process. */
static bool is_ancestor(const shmseg_scan *s, pid_t pid)
{
    for (size_t i = 0; i < s->nanc; i++)
        if (s->anc[i] == pid)
            return true;
    return false;
}

/* Parse "Key:\tA\tB..." ids after @key in the status text @text into @ids
 * (at most @cap); returns how many, or -1 without the line. */
static int status_ids(const char *text, const char *key, unsigned *ids,
                      size_t cap)
{
    const char *p = strstr(text, key);
    if (!p || (p != text && p[-1] != '\n'))
        return -1;
    p += strlen(key);
    size_t n = 0;
    while (*p && *p != '\n' && n < cap) {
        char *end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            break;
        unsigned long v = strtoul(p, &end, 10);
        ids[n++] = (unsigned)v;
        p = end;
    }
    return (int)n;
}

/*
 * Remember @pid, which could not be read, and who it runs as (from
 * /proc/PID/status: its uids, gids and groups).  The caller's ancestors
 * (the shell, sudo, a supervisor or init that started it) are left out:
 * they are unreadable only when more privileged than the caller, and
 * waiting for it.
 */
static int add_hidden(shmseg_scan *s, int procfd, const char *name, pid_t pid)
{
    char path[32], text[4096];
    unsigned ids[64];

    if (is_ancestor(s, pid))
        return 0;
    struct hidden *h = realloc(s->hidden, (s->nhidden + 1) * sizeof(*h));
    if (!h)
        return -ENOMEM;
    s->hidden = h;
    h = &h[s->nhidden++];
    memset(h, 0, sizeof(*h));
    snprintf(path, sizeof(path), "%s/status", name);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    if (status_ids(text, "Uid:", ids, 4) != 4)
        return 0;
    for (int i = 0; i < 4; i++)
        h->uid[i] = (uid_t)ids[i];
    if (status_ids(text, "Gid:", ids, 4) != 4)
        return 0;
    for (int i = 0; i < 4; i++)
        h->gid[i] = (gid_t)ids[i];
    int ng = status_ids(text, "Groups:", ids, 64);
    if (ng < 0 || ng == 64) /* more groups than fit: assume the worst */
        return 0;
    if (ng > 0) {
        h->groups = malloc((size_t)ng * sizeof(*h->groups));
        if (!h->groups)
            return -ENOMEM;
        for (int i = 0; i < ng; i++)
            h->groups[i] = (gid_t)ids[i];
    }
    h->ngroups = (size_t)ng;
    h->creds = true;
    return 0;
}

/* Could the hidden process @h open a file like @info, by the permission
 * bits alone?  (Privilege that overrides them is not considered.) */
static bool could_open(const struct hidden *h, const struct shmseg_info *info)
{
    if (!h->creds)
        return true;
    for (int i = 0; i < 4; i++)
        if (h->uid[i] == info->uid)
            return info->mode & 0600;
    bool member = false;
    for (int i = 0; i < 4; i++)
        member |= h->gid[i] == info->gid;
    for (size_t i = 0; i < h->ngroups; i++)
        member |= h->groups[i] == info->gid;
    if (member && (info->mode & 060))
        return true;
    return info->mode & 06;
}

static void count_unknown(shmseg_scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->nhidden; j++)
            s->ents[i].u.unknown += could_open(&s->hidden[j],
                                               &s->ents[i].u.info);
}

/* The caller's ancestors, from /proc/PID/stat (its parent, and so on). */
static void read_ancestors(shmseg_scan *s, int procfd)
{
    pid_t pid = getpid();
    char path[32], text[512];

    while (s->nanc < sizeof(s->anc) / sizeof(s->anc[0])) {
        snprintf(path, sizeof(path), "%d/stat", (int)pid);
        int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n <= 0)
            return;
        text[n] = '\0';
        /* "pid (comm) state ppid ...": comm may hold anything, even ')'. */
        char *p = strrchr(text, ')');
        int ppid;
        if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid <= 0)
            return;
        s->anc[s->nanc++] = pid = ppid;
    }
}

static int read_proc(shmseg_scan *s, int procfd, const char *name, pid_t pid,
                     unsigned flags, char *buf)
{
    struct proc p = {.pid = pid};
    int rc = 0, r;

    s->stats.procs++;
    p.dirfd = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p.dirfd < 0) {
        if (gone(errno)) {
            s->stats.vanished++;
            return 0;
        }
        s->stats.unreadable++;
        return add_hidden(s, procfd, name, pid);
    }
    bool vanished = false, unreadable = false;
    if (!(flags & SHMSEG_SCAN_NO_FDS)) {
        r = read_fds(s, &p);
        if (r < 0) {
            rc = r;
            goto out;
        }
        vanished = r == 1;
        unreadable = r == 2;
    }
    if (!vanished) {
        r = read_maps(s, &p, buf);
        if (r < 0) {
            rc = r;
            goto out;
        }
        vanished = r == 1;
        unreadable |= r == 2;
    }
    if (vanished) {
        s->stats.vanished++;
    } else if (unreadable) {
        s->stats.unreadable++;
        rc = add_hidden(s, procfd, name, pid);
    }
out:
    close(p.dirfd);
    return rc;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int read_procs(shmseg_scan *s, int procfd, pid_t ignore,
                      unsigned flags)
{
    int fd = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -ENOMEM;
    }
    char *buf = malloc(MAPS_BUF + 1);
    if (!buf) {
        closedir(d);
        return -ENOMEM;
    }
    struct dirent *de;
    int err = 0;
    errno = 0;
    while (err == 0 && (de = readdir(d))) {
        if (!all_digits(de->d_name))
            continue;
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || pid > INT_MAX)
            continue;
        if (ignore > 0 && pid == ignore) {
            s->stats.ignored++;
            continue;
        }
        err = read_proc(s, procfd, de->d_name, (pid_t)pid, flags, buf);
        errno = 0;
    }
    if (err == 0 && errno)
        err = -errno;
    free(buf);
    closedir(d);
    return err;
}

static int cmp_user(const void *a, const void *b)
{
    pid_t x = ((const struct shmseg_user *)a)->pid;
    pid_t y = ((const struct shmseg_user *)b)->pid;
    return (x > y) - (x < y);
}

/* --- public API ------------------------------------------------------------ */

/* Everything after the segments are listed in @s: index them, read
 * /proc (@opts->proc), count users.  @dirfd is the namespace directory. */
static int scan_procs(shmseg_scan *s, int dirfd,
                      const struct shmseg_scan_opts *opts)
{
    int err = build_table(s);
    if (err < 0)
        return err;
    if (opts->flags & SHMSEG_SCAN_KINDS)
        read_kinds(s, dirfd);
    int procfd = open(opts->proc ? opts->proc : "/proc",
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return -errno;
    err = read_mounts(s, procfd, dirfd);
    if (err == 0 && s->n > 0) {
        read_ancestors(s, procfd);
        err = read_procs(s, procfd, opts->ignore_pid, opts->flags);
    }
    close(procfd);
    if (err < 0)
        return err;
    count_unknown(s);
    for (size_t i = 0; i < s->n; i++)
        if (s->ents[i].u.nusers > 1)
            qsort(s->ents[i].users, s->ents[i].u.nusers,
                  sizeof(*s->ents[i].users), cmp_user);
    return 0;
}

static int check_opts(const struct shmseg_scan_opts **opts)
{
    static const struct shmseg_scan_opts defaults;
    if (!*opts)
        *opts = &defaults;
    if ((*opts)->flags & ~(unsigned)(SHMSEG_SCAN_NO_FDS | SHMSEG_SCAN_KINDS))
        return -EINVAL;
    return 0;
}

int shmseg_inspect(const shmseg_ns *ns, const char *name,
                const struct shmseg_scan_opts *opts, shmseg_scan **out)
{
    int err;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (check_opts(&opts) < 0)
        return -EINVAL;
    shmseg_scan *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int dirfd = open(shmseg_ns_path(ns), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        err = -errno;
        goto fail;
    }
    err = list_segments(s, ns, name);
    if (err == 0)
        err = scan_procs(s, dirfd, opts);
    close(dirfd);
    if (err < 0)
        goto fail;
    *out = s;
    return 0;

fail:
    shmseg_scan_free(s);
    return err;
}

void shmseg_scan_free(shmseg_scan *scan)
{
    if (!scan)
        return;
    free_entries(scan);
    for (size_t i = 0; i < scan->nhidden; i++)
        free(scan->hidden[i].groups);
    free(scan->hidden);
    free(scan->ents);
    free(scan->table);
    free(scan->devs);
    free(scan);
}

size_t shmseg_scan_count(const shmseg_scan *scan)
{
    return scan->n;
}

const struct shmseg_usage *shmseg_scan_at(const shmseg_scan *scan, size_t i)
{
    return i < scan->n ? &scan->ents[i].u : NULL;
}

const struct shmseg_usage *shmseg_scan_find(const shmseg_scan *scan,
                                            const char *name)
{
    if (!name)
        return NULL;
    if (name[0] == '/')
        name++;
    size_t lo = 0, hi = scan->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, scan->ents[mid].u.name);
        if (c == 0)
            return &scan->ents[mid].u;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct shmseg_scan_stats *shmseg_scan_stats(const shmseg_scan *scan)
{
    return &scan->stats;
}

int shmseg_mappers(const shmseg_ns *ns, const char *name, pid_t ignore_pid,
                   pid_t *pids, size_t cap)
{
    struct shmseg_scan_opts opts = {
        .ignore_pid = ignore_pid,
        .flags = SHMSEG_SCAN_NO_FDS,
    };
    shmseg_scan *s;

    if (!name || (cap > 0 && !pids))
        return -EINVAL;
    int err = shmseg_inspect(ns, name, &opts, &s);
    if (err < 0)
        return err;
    const struct shmseg_usage *u = shmseg_scan_at(s, 0);
    size_t n = u ? u->nusers : 0;
    for (size_t i = 0; i < n && i < cap; i++)
        pids[i] = u->users[i].pid;
    shmseg_scan_free(s);
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* --- garbage collection ------------------------------------------------------ */

/* Longest quarantine name: prefix, pid, '-', 8 hex digits. */
#define QNAME_MAX (sizeof(SHMSEG_GC_PREFIX) + 24)

/* Rename @name to a fresh quarantine name in @q, never replacing a file. */
static int quarantine(int dirfd, const char *name, char q[QNAME_MAX])
{
    for (int tries = 0; tries < 64; tries++) {
        uint32_t r;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            r = (uint32_t)ts.tv_nsec ^ (uint32_t)tries << 24;
        }
        snprintf(q, QNAME_MAX, SHMSEG_GC_PREFIX "%d-%08x", (int)getpid(),
                 (unsigned)r);
        if (renameat2(dirfd, name, dirfd, q, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

/* Put the quarantined @q back as @it->name; if that fails (the name was
 * taken again meanwhile), it stays where it is and @it says so. */
static void restore(int dirfd, const char *q, struct shmseg_gc_item *it)
{
    const char *name = it->name[0] == '/' ? it->name + 1 : it->name;
    if (renameat2(dirfd, q, dirfd, name, RENAME_NOREPLACE) < 0)
        it->stranded = strdup(q);
}

/* The errno for a file that exists but is not a segment. */
static int not_segment(mode_t mode)
{
    if (S_ISDIR(mode))
        return -EISDIR;
    return S_ISLNK(mode) ? -ELOOP : -ENODEV;
}

/* Quarantine item @it into @q and list it in @s; on failure sets
 * @it->result (and @q to "").  Returns 0 or -ENOMEM. */
static int gc_take(shmseg_scan *s, int dirfd, struct shmseg_gc_item *it,
                   char q[QNAME_MAX])
{
    struct stat st;
    q[0] = '\0';
    it->result = shmseg_name_check(it->name);
    if (it->result < 0)
        return 0;
    const char *name = it->name[0] == '/' ? it->name + 1 : it->name;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        it->result = -errno;
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        it->result = not_segment(st.st_mode);
        return 0;
    }
    it->result = quarantine(dirfd, name, q);
    if (it->result < 0) {
        q[0] = '\0';
        return 0;
    }
    /* What was renamed is the file to judge: is it the one judged before? */
    if (fstatat(dirfd, q, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        it->result = -errno;
        q[0] = '\0';
        return 0;
    }
    if (!S_ISREG(st.st_mode) || (it->ino && (uint64_t)st.st_ino != it->ino)) {
        it->result = -ESTALE;
        restore(dirfd, q, it);
        q[0] = '\0';
        return 0;
    }
    struct shmseg_info info;
    shmseg__info_from_stat(&info, &st);
    int err = add_entry(s, q, &info);
    if (err < 0) {
        restore(dirfd, q, it);
        q[0] = '\0';
        return err;
    }
    s->ents[s->n - 1].alias = name;
    return 0;
}

/* Unlink the quarantined @q of @it if the scan @s saw no use of it. */
static void gc_decide(const shmseg_scan *s, int dirfd,
                      struct shmseg_gc_item *it, const char *q, unsigned flags)
{
    const struct shmseg_usage *u = shmseg_scan_find(s, q);
    it->users = u->nusers;
    it->unknown = u->unknown;
    if (s->stats.proc_restricted && it->unknown == 0)
        it->unknown = 1; /* processes may be missing altogether */
    if (it->users > 0 || (it->unknown > 0 && !(flags & SHMSEG_GC_FORCE))) {
        it->result = -EBUSY;
    } else if (unlinkat(dirfd, q, 0) < 0) {
        it->result = -errno;
    } else {
        it->result = 0;
        return;
    }
    restore(dirfd, q, it);
}

int shmseg_gc(const shmseg_ns *ns, struct shmseg_gc_item *items, size_t n,
              const struct shmseg_scan_opts *opts, unsigned flags,
              struct shmseg_scan_stats *stats)
{
    int err;

    if ((n && !items) || (flags & ~(unsigned)SHMSEG_GC_FORCE) ||
        check_opts(&opts) < 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        items[i].result = -EINVAL;
        items[i].users = items[i].unknown = 0;
        items[i].stranded = NULL;
        if (!items[i].name)
            return -EINVAL;
    }
    if (stats)
        memset(stats, 0, sizeof(*stats));
    char (*q)[QNAME_MAX] = calloc(n ? n : 1, sizeof(*q));
    shmseg_scan *s = calloc(1, sizeof(*s));
    int dirfd = open(shmseg_ns_path(ns), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!q || !s || dirfd < 0) {
        err = dirfd < 0 && q && s ? -errno : -ENOMEM;
        goto out;
    }
    err = 0;
    for (size_t i = 0; i < n && err == 0; i++)
        err = gc_take(s, dirfd, &items[i], q[i]);
    /* One scan decides for every file still in quarantine. */
    if (err == 0 && s->n > 0)
        err = scan_procs(s, dirfd, opts);
    for (size_t i = 0; i < n; i++) {
        if (!q[i][0])
            continue;
        if (err < 0) {
            items[i].result = err;
            restore(dirfd, q[i], &items[i]);
        } else {
            gc_decide(s, dirfd, &items[i], q[i], flags);
        }
    }
    if (stats && err == 0)
        *stats = s->stats;
out:
    if (dirfd >= 0)
        close(dirfd);
    shmseg_scan_free(s);
    free(q);
    return err;
}

int shmseg_unlink_unused(const shmseg_ns *ns, const char *name, uint64_t ino,
                         pid_t ignore_pid)
{
    struct shmseg_scan_opts opts = {.ignore_pid = ignore_pid};
    struct shmseg_gc_item it = {.name = name, .ino = ino};

    if (!name)
        return -EINVAL;
    int err = shmseg_gc(ns, &it, 1, &opts, SHMSEG_GC_FORCE, NULL);
    free(it.stranded);
    return err < 0 ? err : it.result;
}

static int64_t ts_cmp(const struct timespec *a, const struct timespec *b)
{
    if (a->tv_sec != b->tv_sec)
        return a->tv_sec < b->tv_sec ? -1 : 1;
    return (a->tv_nsec > b->tv_nsec) - (a->tv_nsec < b->tv_nsec);
}

int64_t shmseg_info_age(const struct shmseg_info *info, time_t now)
{
    const struct timespec *t =
        ts_cmp(&info->mtime, &info->ctime) >= 0 ? &info->mtime : &info->ctime;
    return now > t->tv_sec ? (int64_t)(now - t->tv_sec) : 0;
}

const char *shmseg_kind_name(enum shmseg_kind kind)
{
    switch (kind) {
    case SHMSEG_KIND_SEGMENT:
        return "segment";
    case SHMSEG_KIND_LIST:
        return "list";
    case SHMSEG_KIND_UNKNOWN:
        return "unknown";
    }
    return NULL;
}
