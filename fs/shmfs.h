/*
 * shmfs.h - the daemon's shared state and the interface between its parts.
 *
 *   main.c      command line, mount, signals, the request loop
 *   ops.c       the FUSE op table: finds the node, dispatches by node kind
 *   node.c      the inode table: nodes, lookup counts, the kernel's node ids
 *   segfile.c   segment files (and a list's .raw): attributes, open with
 *               passthrough, create, truncate, chmod, fallback read/write
 *   rootdir.c   the top level as a folder (readdir)
 *   listdir.c   list folders and element files, through libshmseg's list API
 *   guard.c     turns SIGBUS from a segment shrunk under us into -EIO
 *   cred.c      create, unlink and rename as the caller
 *   watch.c     inotify on the shm directory: invalidates the kernel's caches
 *   reaper.c    a helper process that aborts the connection of a daemon
 *               killed without unmounting (so no caller stays stuck)
 *   compat.c    FUSE passthrough on every libfuse version (the only file
 *               that knows which one)
 */
#ifndef SHMFS_SHMFS_H
#define SHMFS_SHMFS_H

#include "fuse_api.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "shmseg.h"

enum node_kind {
    NODE_ROOT,    /* the mount's top level: the shm directory */
    NODE_SEGMENT, /* a segment shown as a regular file */
    NODE_LIST,    /* a ShareableList segment shown as a folder */
    NODE_ELEMENT, /* element file DIR/i */
    NODE_RAW,     /* DIR/.raw: the list's whole segment as a file */
};

/*
 * One node per object the kernel knows.  Segment and list nodes are keyed by
 * the segment's inode number in the shm directory (names change with
 * renames; the inode does not), element and .raw nodes by their list's.
 * A segment that turns into a list (or back) gets a new node of the other
 * kind, so the kernel sees a different node id and drops its cached entry.
 */
/* The attributes of a segment whose change the kernel must hear of. */
struct seg_look {
    off_t size;
    mode_t mode;
    uid_t uid;
    gid_t gid;
};

struct node {
    enum node_kind kind;
    ino_t ino;          /* the segment's st_ino (0 for the root) */
    size_t index;       /* NODE_ELEMENT: the element's index */
    struct node *list;  /* NODE_ELEMENT, NODE_RAW: the folder (referenced) */
    char *name;         /* NODE_SEGMENT, NODE_LIST: last known name */

    /* The fields below are guarded by shmfs.lock. */
    uint64_t nlookup;   /* the kernel's references */
    unsigned refs;      /* ours: children, open files */
    unsigned nopen;     /* open files (and getattr/setattr in flight) */
    int fd;             /* while nopen > 0: the segment, read-write */
    int backing_id;     /* passthrough backing file from fd, 0 when none */
    struct list_map *map; /* NODE_LIST: the list kept attached (listdir.c) */
    /* What the kernel was last told of the segment (segment, list and
     * .raw nodes), so that watch.c invalidates only what changed. */
    struct seg_look shown;
    /* What watch.c last saw of the segment (seen: it has seen it).  The
     * kernel may keep an older reply than the last one computed (it drops
     * a reply to a request sent before the one it applied last), so what
     * was shown alone cannot tell that the kernel is up to date. */
    bool seen;
    struct seg_look seen_look;
    time_t classified; /* CLOCK_MONOTONIC s of the last real look at the
                          bytes that gave this node's kind (readdir reuse) */
    pid_t rm_pid;       /* NODE_LIST: last pid that read the folder */
    struct timespec rm_time;
    struct node *hnext; /* hash chain */
};

struct shmfs {
    char *dir;           /* absolute path of the shm directory */
    int dirfd;           /* that directory, O_DIRECTORY */
    shmseg_ns *ns;       /* the same directory, for libshmseg */
    struct fuse_session *se;
    atomic_bool passthrough; /* negotiated with the kernel and permitted */
    bool no_passthrough; /* --no-passthrough: do not ask for it */
    bool no_uring;       /* --no-uring: serve /dev/fuse only (uring.h) */
    bool own_checks;     /* no default_permissions: the daemon checks (cred.c) */
    double timeout;      /* entry/attr cache time for segments, seconds */

    pthread_mutex_t lock; /* the node table, and the node fields it guards */
    struct node root;
    struct node **buckets;
    size_t nbuckets, nnodes;
    /* Live objects, for user.shmfs.stats on the root (leak checks). */
    atomic_size_t nhandles; /* open file and folder handles */
    atomic_size_t nbacking; /* passthrough backing ids registered */
    atomic_size_t nmaps;    /* list_maps allocated (listdir.c) */
};

/* The daemon's state (one mount per process). */
extern struct shmfs shmfs;

void shmfs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- node.c --------------------------------------------------------------- */
/* An open file or folder handle (fi->fh) of ours.  They are tracked so that
 * an unmount, after which the kernel sends no more releases, frees them. */
struct handle {
    struct handle *prev, *next;
    void (*free)(struct handle *h);
};
void handle_track(struct handle *h, void (*free_fn)(struct handle *h));
void handle_untrack(struct handle *h);
void handle_free_all(void);

int node_table_init(void);
void node_table_free(void);
/* The node for a kernel node id (FUSE_ROOT_ID is the root). */
struct node *node_of(fuse_ino_t id);
fuse_ino_t node_id(const struct node *n);
/* Find or make the node of @kind for @ino (and @index for elements),
 * taking one kernel reference.  @name (segments, lists) replaces the name on
 * record; @list is the folder for elements and .raw.  NULL: out of memory. */
struct node *node_get(enum node_kind kind, ino_t ino, size_t index,
                      const char *name, struct node *list);
/* The id of the node of @kind (segment, list or .raw) over the segment
 * @ino, or 0 if the kernel knows none. */
fuse_ino_t node_find(enum node_kind kind, ino_t ino);
/* Record the segment stat @st that a reply about @n carries; @classified:
 * its kind was just judged from the segment's bytes. */
void node_shown(struct node *n, const struct stat *st, bool classified);
/* As node_shown(), for a reply the kernel applies whatever else it holds
 * (a setattr's: sent under the inode's lock, with the newest attribute
 * version): what the watcher sees next is compared with @st, so the
 * event of this very change invalidates nothing. */
void node_applied(struct node *n, const struct stat *st);
/* The kind the kernel was last told for segment @st if that answer may be
 * given again without reading the segment: a node of only one kind exists,
 * told this size, whose kind was judged within half of shmfs.timeout (so a
 * kind is never shown longer than 1.5 cache times after it was read).
 * Returns false when the segment must be read. */
bool node_recent_kind(const struct stat *st, enum node_kind *kind);
/* The segment @ino was just read and is no longer of @kind: the node of
 * that kind (if any) must not lend its kind to node_recent_kind() again.
 * Returns its id, or 0 if the kernel knows none. */
fuse_ino_t node_kind_gone(enum node_kind kind, ino_t ino);
/* The id of the node of @kind over the segment @st->st_ino if the kernel
 * may hold other size, mode or owner than @st's (it was told so, or they
 * changed since the last call, or this is the first); else 0.  Records
 * @st as seen. */
fuse_ino_t node_find_changed(enum node_kind kind, const struct stat *st);
/* Drop @n kernel references (forget). */
void node_forget(struct node *n, uint64_t count);
/* Take / drop one reference of ours (an open file). */
void node_hold(struct node *n);
void node_release(struct node *n);
/* The name on record for a segment or list node, copied into @buf
 * (NAME_MAX + 1 bytes).  Returns -ENOENT when it has none. */
int node_name(const struct node *n, char *buf);
/* Record a rename of the segment @ino. */
int node_rename(ino_t ino, const char *newname);
/* Call @fn for every node with the table lock held. */
void node_foreach_locked(void (*fn)(struct node *n, void *arg), void *arg);
/* Call @fn for every segment and list node with a name (watch.c, on an
 * inotify overflow); the table lock is not held during the calls. */
void node_foreach_named(void (*fn)(const char *name, void *arg), void *arg);
/* user.shmfs.stats: "nodes=N handles=N open_files=N backing_ids=N
 * list_maps=N", snprintf-style. */
ssize_t node_stats(char *buf, size_t cap);

/* --- segfile.c ------------------------------------------------------------ */
/* True for names the namespace holds but shmfs does not show: POSIX
 * semaphores. */
bool seg_name_hidden(const char *name);
/* Check a name from the kernel: 0, -ENAMETOOLONG, -EINVAL, -EPERM (sem.*). */
int seg_name_usable(const char *name);
/* Stat @name in the shm directory without following symlinks; -ENOENT for
 * what shmfs does not show (non-regular files, semaphores). */
int seg_stat(const char *name, struct stat *st);
/* Open @name (O_NOFOLLOW) and check it is still the segment @ino. */
int seg_open(const char *name, ino_t ino, int flags);
/* The kind the regular file @name (stat @st) is shown as: NODE_LIST if it
 * holds a valid list (libshmseg's pread check), else NODE_SEGMENT.
 * @patient: re-check a known list that looks mid-update.  Errors: the
 * file is gone, or no fd was left to look (-EMFILE...). */
int seg_classify(const char *name, const struct stat *st, bool patient,
                 enum node_kind *kind);
/* Fill @attr for a node of @kind (segment or list) over the segment stat
 * @st. */
void seg_attr(enum node_kind kind, const struct stat *st, struct stat *attr);
/* The attributes @n is shown with now (the root's are the shm
 * directory's), for permission checks: mode, owner and group are right,
 * an element's size is not.  @folder (may be NULL): for an element or
 * .raw, its list folder's, from the same look at the segment. */
int seg_shown_attr(fuse_req_t req, struct node *n, struct stat *attr,
                   struct stat *folder);
void seg_lookup(fuse_req_t req, const char *name);
void seg_getattr(fuse_req_t req, struct node *n);
void seg_setattr(fuse_req_t req, struct node *n, struct stat *attr,
                 int to_set);
void seg_open_file(fuse_req_t req, struct node *n, struct fuse_file_info *fi);
void seg_create(fuse_req_t req, const char *name, mode_t mode,
                struct fuse_file_info *fi);
void seg_release(fuse_req_t req, struct node *n);
void seg_read(fuse_req_t req, struct node *n, size_t size, off_t off);
void seg_write(fuse_req_t req, struct node *n, const char *buf, size_t size,
               off_t off);
void seg_fsync(fuse_req_t req, struct node *n);
void seg_unlink(fuse_req_t req, const char *name, bool as_dir);
void seg_rename(fuse_req_t req, const char *name, const char *newname,
                unsigned flags);
void seg_statfs(fuse_req_t req);
/* user.shmfs.mappers (how many processes map the segment) and
 * user.shmfs.pids (their pids, comma-separated), as list_xattr(). */
ssize_t seg_users_xattr(struct node *n, const char *attr, char *buf,
                        size_t cap);
/* An open folder: the root's names (read at opendir and at every rewind),
 * or a list folder's element count. */
struct dir_handle {
    struct handle h; /* first: fi->fh points here too */
    char **names;
    size_t count;
    bool fresh; /* names just read: the first pass needs no re-read */
    size_t nelem;
};
struct dir_handle *dir_handle_new(size_t nelem);
void dir_handle_free(struct dir_handle *d);
/* --- rootdir.c ------------------------------------------------------------ */
void root_opendir(fuse_req_t req, struct fuse_file_info *fi);
void root_readdir(fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi, bool plus);
void dir_releasedir(fuse_req_t req, struct fuse_file_info *fi);
/* Readdir helpers shared with list folders: the room an entry takes, and
 * adding it (for readdirplus, @n carries the kernel reference the entry
 * hands over; NULL for "." and ".."). */
size_t dir_entry_size(fuse_req_t req, const char *name, bool plus);
size_t dir_add(fuse_req_t req, char *buf, size_t rem, const char *name,
               struct node *n, const struct stat *attr, off_t next, bool plus);

/* --- listdir.c ------------------------------------------------------------ */
/* Drop the list a folder keeps attached (shmfs.lock held): node.c, when
 * it frees the folder. */
void list_map_drop(struct node *dir);
/* Drop the maps of folders idle for a while (watch.c, every second). */
void list_maps_sweep(void);
/* The attributes of element @index of the folder @list_ino over the
 * segment @seg, whose text is @len bytes. */
void elem_attr(const struct stat *seg, ino_t list_ino, size_t index,
               size_t len, struct stat *attr);
/* st_ino of a list folder over the segment @ino (.raw has @ino itself). */
ino_t list_folder_ino(ino_t ino);
void list_lookup(fuse_req_t req, struct node *dir, const char *name);
void list_getattr(fuse_req_t req, struct node *n);
void list_setattr(fuse_req_t req, struct node *n, struct stat *attr,
                  int to_set);
void list_opendir(fuse_req_t req, struct node *dir, struct fuse_file_info *fi);
void list_readdir(fuse_req_t req, struct node *dir, size_t size, off_t off,
                  struct fuse_file_info *fi, bool plus);
void elem_open(fuse_req_t req, struct node *n, struct fuse_file_info *fi);
void elem_read(fuse_req_t req, struct node *n, size_t size, off_t off,
               struct fuse_file_info *fi);
void elem_write(fuse_req_t req, struct node *n, const char *buf, size_t size,
                off_t off, struct fuse_file_info *fi);
void elem_release(fuse_req_t req, struct fuse_file_info *fi);
void elem_unlink(fuse_req_t req, struct node *dir, const char *name);
/* xattr values (ops.c lists the names) snprintf-style: write the value
 * (NUL-terminated when @cap > 0) to @buf and return its full length, or
 * -ENODATA / -errno.  list_xattr: user.shmfs.type and .format. */
ssize_t list_xattr(struct node *n, const char *attr, char *buf, size_t cap);

/* --- guard.c -------------------------------------------------------------- */
int guard_init(void);
/* Block, in the calling thread, every signal but those a fault raises
 * (SIGBUS, SIGSEGV, SIGFPE, SIGILL), saving the old mask in @old: for
 * threads created next, which then leave SIGTERM and the like to the main
 * thread.  A fault whose signal is blocked kills the process without
 * running a handler, so a thread that reads lists must never block SIGBUS
 * (guard_run()). */
void block_async_signals(sigset_t *old);
/*
 * CPython stores a value of another type in two steps (the element's format,
 * then its type code), so for a moment a list fails validation.  Code that
 * finds a known list invalid calls this with its attempt count (0, 1, ...):
 * it waits a little and returns true while another attempt is worth it.
 */
bool transient_retry(unsigned attempt);
/* guard_run(), again while it fails with -EBADMSG and transient_retry()
 * says to (for accesses to a list known to be one). */
int guard_run_patient(int (*fn)(void *), void *arg);

/* --- cred.c --------------------------------------------------------------- */
int cred_init(void);
/* What an op run by cred_run() does in the shm directory. */
enum cred_what {
    CRED_CREATE, /* makes a new name (O_CREAT | O_EXCL) */
    CRED_OPEN,   /* may open an existing file (O_CREAT) */
    CRED_REMOVE, /* removes or replaces a name (unlink, rename) */
};
/* Run @op(@arg) (which returns 0 or -errno) with the calling process's fs
 * uid, gid and groups in this thread, and with shmfs.own_checks no more
 * capabilities than it has where they can matter for @what; as the daemon
 * when it is not root or the caller is root with all its powers.  Returns
 * what @op returned. */
int cred_run(fuse_req_t req, enum cred_what what, int (*op)(void *),
             void *arg);
/* (shmfs.own_checks) May the caller of @req do
 * @mask (R_OK, W_OK, X_OK) to a node shown with @attr?  0 or -EACCES, as
 * the kernel's default_permissions would answer. */
int perm_check(fuse_req_t req, const struct stat *attr, int mask);
/* The permission bits @mode keeps when the caller of @req writes,
 * truncates or (@chown) chowns a file of the group @gid (the one before a
 * chown): the kernel's rule for clearing set-user-ID and set-group-ID. */
mode_t cred_setid_kept(fuse_req_t req, mode_t mode, gid_t gid, bool chown);
/* perm_check() for access(2) (see cred.c). */
int perm_access(fuse_req_t req, const struct stat *attr, int mask);
/* (shmfs.own_checks) May the caller change what @to_set says of a node
 * shown with @cur, to @attr (truncate, chmod, chown, utimens; the size of
 * an ftruncate(2) is left out of @to_set)?  0, -EACCES or -EPERM; a chmod
 * by a caller outside the group loses S_ISGID in @attr, as in the
 * kernel. */
int perm_setattr(fuse_req_t req, const struct stat *cur, struct stat *attr,
                 int to_set);
/* Run @fn(@arg); if it touches a page of a mapping that another process
 * truncated away (SIGBUS), return -EIO instead of dying. */
int guard_run(int (*fn)(void *), void *arg);

/* --- watch.c -------------------------------------------------------------- */
/* Watch the shm directory: before the mount appears, so that no change
 * made once it is there goes unseen (events wait in the inotify fd). */
int watch_open(void);
/* The thread that handles the events (after daemonizing: fork keeps no
 * thread).  -EBADF when watch_open() failed. */
int watch_start(void);
void watch_stop(void);

/* --- reaper.c ------------------------------------------------------------- */
/* Start the process that aborts this mount's FUSE connection if the daemon
 * dies without unmounting (@mountpoint: absolute, as mounted; @use_syslog:
 * where it reports).  Before any thread: it forks. */
void reaper_start(const char *mountpoint, bool use_syslog);
/* A clean stop: the reaper exits without touching the connection. */
void reaper_stop(void);
/* Abort this mount's connection from the daemon itself (every request in
 * flight fails); false when it cannot. */
bool reaper_abort(void);
/* True when this process was started as the reaper; run reaper_main(). */
bool reaper_argv(int argc, char **argv);
int reaper_main(int argc, char **argv);

/* --- ops.c ---------------------------------------------------------------- */
extern const struct fuse_lowlevel_ops shmfs_ops;
/* Reply to a lookup with @n (which holds the kernel reference) and @attr,
 * with the cache times entry_timeouts() gives. */
void reply_entry(fuse_req_t req, struct node *n, const struct stat *attr);
/* Cache times: shmfs.timeout for entries and attributes (watch.c drops
 * what changes earlier), but element files never cache attributes. */
void entry_timeouts(const struct node *n, struct fuse_entry_param *e);

#endif /* SHMFS_SHMFS_H */
