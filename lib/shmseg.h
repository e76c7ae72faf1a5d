/*
 * shmseg.h - libshmseg: named POSIX shared-memory segments with the
 * semantics of Python's multiprocessing.shared_memory.SharedMemory, and
 * ShareableList, byte-compatible with the layout CPython writes.
 *
 * Conventions (all functions):
 *  - Return 0 (or a documented non-negative count) on success and a negative
 *    errno value on failure.  Nothing exits, aborts or prints.
 *  - No global state: handles are independent; different handles may be used
 *    from different threads at once.  A namespace handle is read-only after
 *    shmseg_ns_open() and may be shared by any number of threads.
 *  - Segment names may be given with or without one leading '/'.  Empty
 *    names, ".", "..", and names containing '/' give -EINVAL; names longer
 *    than NAME_MAX bytes give -ENAMETOOLONG.  Symlinks are never followed.
 *  - shmseg_strerror() turns any returned code into text.
 */
#ifndef SHMSEG_H
#define SHMSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; this header's API is what it
 * exports. */
#pragma GCC visibility push(default)

#define SHMSEG_DEFAULT_DIR "/dev/shm"

/* ------------------------------------------------------------------------
 * Namespaces: the directory segments live in.
 * ------------------------------------------------------------------------ */

typedef struct shmseg_ns shmseg_ns;

/*
 * Open the namespace directory @dir (NULL means SHMSEG_DEFAULT_DIR, the one
 * shm_open() and Python use).  Every function below that takes a namespace
 * also accepts NULL for the default directory.
 * Errors: -EINVAL (@out NULL), -ENOTDIR, -ENOENT, -EACCES, -ENOMEM, and the
 * other errors of open(2).
 */
int shmseg_ns_open(const char *dir, shmseg_ns **out);

/* Close a namespace.  Handles made from it stay usable.  NULL is a no-op. */
void shmseg_ns_close(shmseg_ns *ns);

/* The directory path the namespace was opened with (never NULL). */
const char *shmseg_ns_path(const shmseg_ns *ns);

/*
 * Check a segment name and return the length of its canonical form (the
 * name without its leading '/'), or -EINVAL / -ENAMETOOLONG.
 */
int shmseg_name_check(const char *name);

/* ------------------------------------------------------------------------
 * Segments (Python SharedMemory semantics).
 * ------------------------------------------------------------------------ */

typedef struct shmseg shmseg;

/* Flags for shmseg_attach() and shmseg_list_attach(). */
#define SHMSEG_RDONLY 0x1 /* map read-only; writes through the handle fail */

/* Length of a generated name, "psm_" + 8 lowercase hex digits, as Python's. */
#define SHMSEG_GENERATED_NAME_LEN 12

/*
 * Create a new segment of @size bytes (zero-filled) and map it read-write.
 * @name NULL generates a Python-style name ("psm_" + 8 hex digits), retried
 * on collision.  Creation is exclusive.  @mode is the permission bits (Python
 * uses 0600); the process umask applies, as with shm_open().
 * Errors: -EINVAL (size 0, bad name, @out NULL), -ENAMETOOLONG, -EEXIST
 * (name taken), -EACCES, -ENOSPC, -EFBIG (size beyond what a file can hold),
 * -ENOMEM, and the errors of open(2), ftruncate(2), mmap(2).  On failure no
 * segment is left behind.  Like Python's, the segment is sparse: tmpfs
 * allocates a page when it is first touched, and touching one when the
 * tmpfs is full raises SIGBUS (write(2) to it gives -ENOSPC instead).
 */
int shmseg_create(const shmseg_ns *ns, const char *name, size_t size,
                  mode_t mode, shmseg **out);

/*
 * Attach to the existing segment @name and map all of it (its real size).
 * @flags: 0 or SHMSEG_RDONLY.  A segment of size 0 attaches with
 * shmseg_data() == NULL.
 * Errors: -EINVAL (bad name or flags), -ENAMETOOLONG, -ENOENT, -EACCES,
 * -ELOOP (a symlink), -EISDIR (a directory), -ENODEV (not a regular file),
 * -ENOMEM, and the errors of open(2) and mmap(2).
 */
int shmseg_attach(const shmseg_ns *ns, const char *name, int flags,
                  shmseg **out);

/*
 * Unmap and close; the segment itself survives (Python's close()).  Always
 * releases the handle.  NULL is a no-op.  Returns 0, or the first error of
 * munmap(2)/close(2).
 */
int shmseg_close(shmseg *seg);

/*
 * Destroy the name @name (Python's unlink(); shm_unlink()).  Existing
 * mappings stay valid until they are closed.
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT, -EACCES, -EPERM, -EISDIR.
 */
int shmseg_unlink(const shmseg_ns *ns, const char *name);

/* Name without the leading '/', as Python's SharedMemory.name reports it. */
const char *shmseg_name(const shmseg *seg);
/* Mapped size in bytes: the segment's size at attach/create/resize. */
size_t shmseg_size(const shmseg *seg);
/* The mapped bytes (NULL when the size is 0). */
void *shmseg_data(const shmseg *seg);
/* The open file descriptor (owned by the handle). */
int shmseg_fd(const shmseg *seg);

/*
 * Change the segment's size to @size and remap it.  shmseg_data() may move.
 * New bytes read as zero.  Size 0 unmaps (shmseg_data() becomes NULL).
 * Errors: -EINVAL, -EBADF (read-only handle), -EBUSY (the segment of a
 * list handle, see shmseg_list_segment()), -ENOSPC, -EFBIG, -ENOMEM.
 * On failure the handle keeps its old size and mapping.
 */
int shmseg_resize(shmseg *seg, size_t size);

/* What shmseg_stat() and shmseg_foreach() report of a segment. */
struct shmseg_info {
    uint64_t size;
    mode_t mode; /* permission bits only (no S_IFREG) */
    uid_t uid;
    gid_t gid;
    struct timespec atime, mtime, ctime;
    uint64_t dev, ino; /* st_dev and st_ino: the file's identity */
};

/*
 * Stat the segment @name without following symlinks.
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT, -EACCES, -ELOOP (a symlink),
 * -EISDIR (a directory), -ENODEV (not a regular file).
 */
int shmseg_stat(const shmseg_ns *ns, const char *name,
                struct shmseg_info *out);

/*
 * Call @cb once for every segment of the namespace: regular files only;
 * directories, symlinks, other special files and POSIX semaphores ("sem.*")
 * are skipped, and so are entries that vanish during the scan.  Order is the
 * directory's.  If @cb returns non-zero the scan stops and that value is
 * returned.  Errors: -EINVAL (@cb NULL), the errors of opendir/readdir.
 */
typedef int (*shmseg_foreach_cb)(const char *name,
                                 const struct shmseg_info *info, void *arg);
int shmseg_foreach(const shmseg_ns *ns, shmseg_foreach_cb cb, void *arg);

/* ------------------------------------------------------------------------
 * Values: the element types of a ShareableList.
 * ------------------------------------------------------------------------ */

enum shmseg_type {
    SHMSEG_INT,   /* int64_t                              format "q"        */
    SHMSEG_FLOAT, /* double                               format "d"        */
    SHMSEG_BOOL,  /* bool                                 format "xxxxxxx?" */
    SHMSEG_STR,   /* UTF-8 text                           format "<k>s"     */
    SHMSEG_BYTES, /* raw bytes                            format "<k>s"     */
    SHMSEG_NONE,  /* Python's None                        format "xxxxxx?x" */
};

struct shmseg_value {
    enum shmseg_type type;
    union {
        int64_t i;
        double f;
        bool b;
        struct {
            const char *ptr; /* not NUL-terminated */
            size_t len;
        } s; /* SHMSEG_STR and SHMSEG_BYTES */
    } u;
};

/* "int", "float", "bool", "str", "bytes", "None"; NULL for an unknown type. */
const char *shmseg_type_name(enum shmseg_type type);

/*
 * Parse a type name as shmseg_type_name() spells it.
 * Errors: -EINVAL.
 */
int shmseg_type_parse(const char *name, enum shmseg_type *out);

/* ------------------------------------------------------------------------
 * Element text: what `cat` of a list element prints and `echo` writes.
 * ------------------------------------------------------------------------ */

/*
 * Largest text shmseg_float_repr() writes, without the NUL
 * ("-2.2250738585072014e-308" is 24 bytes).
 */
#define SHMSEG_FLOAT_REPR_MAX 24

/*
 * Write Python's repr() of @x (shortest digits that read back to the same
 * double; fixed notation for 1e-4 <= |x| < 1e16, else "1.5e+16" style;
 * "inf", "-inf", "nan", "-0.0") to @buf, NUL-terminated when @cap > 0.
 * Returns the text length (snprintf-style: may be >= @cap, then truncated).
 */
int shmseg_float_repr(double x, char *buf, size_t cap);

/*
 * Write the element text of @v to @buf: int decimal, float repr, "True" /
 * "False", "None", str as its UTF-8 text - each of these followed by one
 * '\n' - and bytes as the raw bytes, no newline.  Not NUL-terminated.
 * Returns the full text length (may exceed @cap; then only @cap bytes were
 * written), or -EINVAL for a bad @v.
 */
ssize_t shmseg_value_format(const struct shmseg_value *v, char *buf,
                            size_t cap);

/*
 * Parse element text @text (@len bytes) as a value of @type.  One trailing
 * '\n' is dropped for every type but bytes, which is taken byte-exact.
 * Strict: int is [+-]?[0-9]+; float is Python float() syntax without
 * surrounding spaces or underscores ("1.5", "-2e-3", "inf", "nan"; no hex);
 * bool is "True" or "False"; None is "None"; str must be valid UTF-8.
 * For str/bytes, out->u.s points into @text.
 * Errors: -EINVAL (does not parse), -ERANGE (int outside int64, or a float
 * whose magnitude overflows a double), -ENOMEM (a float text of more than
 * about 200 bytes needs a scratch copy).
 */
int shmseg_value_parse(enum shmseg_type type, const char *text, size_t len,
                       struct shmseg_value *out);

/* ------------------------------------------------------------------------
 * ShareableList (byte-compatible with CPython's multiprocessing.shared_memory)
 *
 * Layout, all integers native-endian int64:
 *   N | offsets[0..N] | data area | N formats of 8 bytes | N type codes
 * A str/bytes value of L bytes (UTF-8 bytes for a str) takes a slot of
 * 8 * (L / 8 + 1) bytes, zero-padded.  Reads strip every trailing NUL, as
 * CPython does, so a value that ends in NUL bytes reads back without them.
 * CPython versions without the fix for gh-88336 (3.11, for one) size a str
 * slot by its count of code points instead
 * and silently truncate longer UTF-8; for ASCII the
 * two agree, and this library never truncates.
 * ------------------------------------------------------------------------ */

typedef struct shmseg_list shmseg_list;

/* Largest str/bytes slot CPython can describe in an 8-byte format
 * ("9999992s").  A value of more than SHMSEG_LIST_MAX_SLOT - 1 bytes does not
 * fit a list. */
#define SHMSEG_LIST_MAX_SLOT 9999992

/*
 * Check that @size bytes at @buf are a ShareableList exactly as CPython lays
 * one out: N >= 0, offsets start at 0 and grow by positive multiples of 8,
 * the total size matches to the byte, every format is one CPython writes and
 * agrees with its slot and type code.  Never reads outside [buf, buf+size);
 * @buf needs no alignment.  Element values are not judged (CPython reads any
 * bytes).  Stores N in *@n if @n is not NULL.
 * Errors: -EBADMSG (not a list).
 */
int shmseg_list_check(const void *buf, size_t size, size_t *n);

/*
 * shmseg_list_check() on the open file @fd, read with pread(2): no mapping,
 * so a file that another process shrinks meanwhile is simply not a list
 * (no SIGBUS).  Reads the header and the formats, never the data area, and
 * rejects most files that are not lists after reading 16 bytes.
 * Errors: -EBADMSG (not a valid list, or not a regular file), -ENOMEM, and
 * the errors of fstat(2) and pread(2).
 */
int shmseg_list_check_fd(int fd, size_t *n);

/*
 * Create a list segment holding @values[0..@n) (named @name, or a generated
 * name when NULL), mode as in shmseg_create().  The bytes written are those
 * CPython writes for the same values.  Unlike shmseg_create(), which leaves
 * a segment sparse as Python does, every page is allocated first: a full
 * tmpfs gives -ENOSPC (and no segment), never SIGBUS.
 * Errors: those of shmseg_create() and posix_fallocate(3) (-ENOSPC), and
 * -EINVAL (bad value: unknown type, invalid UTF-8 in a str, @values NULL
 * with @n > 0), -EFBIG (a str/bytes of SHMSEG_LIST_MAX_SLOT bytes or more,
 * or a list too large to address).
 */
int shmseg_list_create(const shmseg_ns *ns, const char *name,
                       const struct shmseg_value *values, size_t n,
                       mode_t mode, shmseg_list **out);

/*
 * Attach to the list segment @name (@flags: 0 or SHMSEG_RDONLY).
 * The header is checked once, here; later accesses re-check what they use,
 * so bytes another process scribbles never lead outside the mapping.  What
 * no check can catch: if another process shrinks the segment (ftruncate),
 * touching the lost pages raises SIGBUS, as it does in CPython.
 * Errors: those of shmseg_attach(), and -EBADMSG (not a valid list).
 */
int shmseg_list_attach(const shmseg_ns *ns, const char *name, int flags,
                       shmseg_list **out);

/*
 * Use @size bytes at @buf (already holding a list) as a list without owning
 * them; shmseg_list_close() then frees only the handle.  The memory must stay
 * mapped while the handle lives.  @buf must be 8-byte aligned.
 * Errors: -EINVAL (@buf misaligned or NULL), -EBADMSG, -ENOMEM.
 */
int shmseg_list_wrap(void *buf, size_t size, bool writable,
                     shmseg_list **out);

/* Close the list (and its segment handle, if it owns one).  NULL is a no-op.
 * Returns 0 or the error of shmseg_close(). */
int shmseg_list_close(shmseg_list *list);

/* The underlying segment handle, NULL for a wrapped list.  The list points
 * into its mapping, so shmseg_resize() refuses it (-EBUSY); closing it is
 * shmseg_list_close()'s job. */
shmseg *shmseg_list_segment(const shmseg_list *list);

/* Number of elements (fixed for the life of the list). */
size_t shmseg_list_len(const shmseg_list *list);

/*
 * Read element @i.  For str/bytes, out->u.s points into the shared mapping
 * (trailing NULs stripped, as CPython does): copy it if other processes may
 * change it.  Numbers are read with single aligned 8-byte loads.
 * Errors: -ERANGE (@i >= len), -EBADMSG (the element's header was damaged
 * after attach), -EILSEQ (a str slot that is not valid UTF-8; CPython's read
 * would fail too).
 */
int shmseg_list_get(const shmseg_list *list, size_t i,
                    struct shmseg_value *out);

/* The type of element @i.  Errors as shmseg_list_get() (bar -EILSEQ). */
int shmseg_list_type(const shmseg_list *list, size_t i,
                     enum shmseg_type *out);

/*
 * Store @v at element @i with CPython's __setitem__ rules: str/bytes must fit
 * the element's slot; any type may replace any other when it fits (a number
 * in a str slot keeps the slot's size).  Numbers are stored with one aligned
 * 8-byte store, so a concurrent reader never sees a torn number.
 * Errors: -ERANGE (@i >= len), -EFBIG (str/bytes longer than the slot;
 * nothing changed), -EINVAL (bad @v, invalid UTF-8), -EBADF (read-only),
 * -EBADMSG (damaged header).
 */
int shmseg_list_set(shmseg_list *list, size_t i, const struct shmseg_value *v);

/*
 * Element text (see shmseg_value_format()) of element @i into @buf.
 * Returns the full text length (may exceed @cap) or an error of
 * shmseg_list_get().
 */
ssize_t shmseg_list_get_text(const shmseg_list *list, size_t i, char *buf,
                             size_t cap);

/*
 * Parse @text as the current type of element @i (shmseg_value_parse()) and
 * store it.  Errors: those of shmseg_value_parse() and shmseg_list_set().
 */
int shmseg_list_set_text(shmseg_list *list, size_t i, const char *text,
                         size_t len);

/*
 * Python's ShareableList.format: every element's struct format, joined
 * ("q8sd" ...), written NUL-terminated to @buf when @cap > 0.  Returns the
 * full length (snprintf-style) or -EBADMSG.
 */
ssize_t shmseg_list_format(const shmseg_list *list, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/*
 * Text for a code returned by this library (negative errno).  Codes with a
 * library-specific meaning get their own text (-EBADMSG: "not a valid
 * ShareableList"); others are strerror()'s.  Never NULL; thread-safe.
 */
const char *shmseg_strerror(int err);

/* ------------------------------------------------------------------------
 * Inspection: which processes use each segment, and which are orphans.
 *
 * A scan reads /proc once for all the segments it covers: /proc/PID/fd
 * (each descriptor's device and inode, by statx(2) with AT_STATX_DONT_SYNC,
 * so no FUSE or network server is asked) and then /proc/PID/maps (the device
 * and inode of each file mapping).  Files are matched by (device, inode),
 * never by path, so a segment reached through a bind mount or another mount
 * namespace is still found.  A shmfs FUSE mount of the namespace (a line of
 * /proc/self/mountinfo with fstype "fuse.shmfs" whose source is the
 * namespace directory) counts too: a file on that mount's device with a
 * segment's inode number and the segment's name is that segment.  With FUSE
 * passthrough the kernel shows the real file anyway.
 *
 * What a scan cannot see, by design or by the kernel's rules:
 *  - the process opts->ignore_pid (counted in stats.ignored);
 *  - processes that exit while they are read (stats.vanished; what was read
 *    of them before still counts) and processes whose /proc entries cannot
 *    be read, typically other users' when not root (stats.unreadable; what
 *    could be read still counts).  Each segment counts, in its field
 *    unknown, the unreadable processes that could open it by its owner,
 *    group and mode bits, judged from their uids, gids and groups in
 *    /proc/PID/status; a process whose status cannot be read counts for
 *    every segment.  Not counted: the caller's ancestors (its parent, and
 *    so on up: they started it; they are unreadable only when more
 *    privileged than the caller), and access by privilege alone (a root
 *    process can open any segment, but is only counted where the bits let
 *    uid 0 in);
 *  - processes hidden by procfs's hidepid= or subset=pid mount options
 *    (stats.proc_restricted says the procfs has them);
 *  - processes outside the pid namespace of the given procfs;
 *  - descriptors in flight in a unix socket (SCM_RIGHTS), and the mappings
 *    of a process whose main thread has exited while others run (the
 *    kernel shows its maps as empty);
 *  - files that have been unlinked (a deleted segment is not in the
 *    namespace any more).
 * A process that maps a segment several times, or holds several
 * descriptors on it, is one user with the counts added up.
 * ------------------------------------------------------------------------ */

typedef struct shmseg_scan shmseg_scan;

/* What a segment holds, as far as a scan could tell. */
enum shmseg_kind {
    SHMSEG_KIND_UNKNOWN, /* not judged (no SHMSEG_SCAN_KINDS), or unreadable */
    SHMSEG_KIND_SEGMENT, /* a plain segment */
    SHMSEG_KIND_LIST,    /* a valid ShareableList (shmseg_list_check_fd()) */
};

/* "unknown", "segment", "list"; NULL for another value. */
const char *shmseg_kind_name(enum shmseg_kind kind);

/* One process using a segment. */
struct shmseg_user {
    pid_t pid;
    char comm[16];   /* /proc/PID/comm, NUL-terminated; "" if unreadable */
    uint64_t mapped; /* bytes of address space mapping the segment, summed
                        over its mappings (whole pages) */
    unsigned maps;   /* number of mappings of the segment */
    unsigned fds;    /* number of open descriptors on the segment */
};

/* One segment and its users. */
struct shmseg_usage {
    const char *name;   /* canonical name (no leading '/') */
    struct shmseg_info info;
    uint64_t dev, ino;  /* the file's st_dev and st_ino */
    enum shmseg_kind kind;
    size_t list_len;    /* elements, when kind is SHMSEG_KIND_LIST */
    size_t nusers;      /* 0: an orphan (nobody maps it or holds it open) */
    const struct shmseg_user *users; /* nusers entries, by ascending pid */
    size_t unknown;     /* processes that could not be read and could open
                           it (see above): 0 means no process the scan could
                           not see is known to be able to use it */
};

/* What a scan had to leave out (see above). */
struct shmseg_scan_stats {
    unsigned procs;      /* process entries found in /proc (ignored one excluded) */
    unsigned vanished;   /* of those, exited while being read */
    unsigned unreadable; /* of those, partly or wholly unreadable */
    unsigned ignored;    /* 1 if opts->ignore_pid was seen, else 0 */
    unsigned proc_restricted; /* 1 if the procfs is mounted with hidepid=
                                 (not 0) or subset=pid: processes may be
                                 missing from the scan altogether */
};

/* Flags for struct shmseg_scan_opts. */
#define SHMSEG_SCAN_NO_FDS 0x1 /* mappings only: skip /proc/PID/fd (cheaper) */
#define SHMSEG_SCAN_KINDS 0x2  /* judge each segment's kind (reads its header
                                  with pread(2); never maps it) */

struct shmseg_scan_opts {
    pid_t ignore_pid; /* leave this process out (a daemon passes its own
                         pid); 0: none */
    const char *proc; /* procfs root; NULL: "/proc" (tests pass a fake tree) */
    unsigned flags;   /* SHMSEG_SCAN_* */
};

/*
 * Scan which processes use the segment @name, or every segment of the
 * namespace when @name is NULL (the same segments shmseg_foreach() visits).
 * @opts NULL means all defaults.  One pass over /proc whatever the number
 * of segments.  Unreadable or vanishing processes never fail the scan; they
 * are counted in shmseg_scan_stats().  Free the result with
 * shmseg_scan_free().
 * Errors: -EINVAL (@out NULL, unknown flags), those of shmseg_stat() for
 * @name (-ENOENT, -EINVAL, -ENAMETOOLONG, -EISDIR, -ELOOP, -ENODEV, ...),
 * those of shmseg_foreach(), -ENOMEM, and the errors of open(2) on the
 * namespace directory or the procfs root.
 */
int shmseg_inspect(const shmseg_ns *ns, const char *name,
                const struct shmseg_scan_opts *opts, shmseg_scan **out);

/* Free a scan (and every pointer it handed out).  NULL is a no-op. */
void shmseg_scan_free(shmseg_scan *scan);

/* Number of segments the scan covers. */
size_t shmseg_scan_count(const shmseg_scan *scan);

/* Segment @i (0 <= @i < count), in byte order of the names (strcmp);
 * NULL when @i is out of range. */
const struct shmseg_usage *shmseg_scan_at(const shmseg_scan *scan, size_t i);

/* The segment named @name (leading '/' allowed), or NULL. */
const struct shmseg_usage *shmseg_scan_find(const shmseg_scan *scan,
                                            const char *name);

/* What the scan skipped.  Valid until shmseg_scan_free(). */
const struct shmseg_scan_stats *shmseg_scan_stats(const shmseg_scan *scan);

/*
 * The processes that map the segment @name (descriptors alone do not
 * count), @ignore_pid left out (0: none): their pids, ascending, in
 * @pids[0..@cap).  Cheaper than a full scan: /proc/PID/fd is not read.
 * Returns the number of mappers (may exceed @cap; then only @cap pids were
 * stored).  Errors: -EINVAL (@name NULL, @pids NULL with @cap > 0), and
 * those of shmseg_inspect().
 */
int shmseg_mappers(const shmseg_ns *ns, const char *name, pid_t ignore_pid,
                   pid_t *pids, size_t cap);

/*
 * Garbage collection: unlink segments that nobody uses, never one that is
 * in use when the decision is made, and never a file other than the one
 * judged, even if its name is replaced meanwhile.
 *
 * For each item, shmseg_gc() renames the segment to a quarantine name in
 * the same directory, SHMSEG_GC_PREFIX "<pid>-<8 hex digits>" (with
 * renameat2(RENAME_NOREPLACE): it never replaces a file; names starting
 * with '.' are still segments to shmseg_foreach(), so a quarantined file is
 * visible while gc runs), and checks that the renamed file is a regular
 * file with inode @ino (unless 0).  Then one scan of /proc decides for all
 * of them: a file nobody maps or holds open, and that no unreadable process
 * could open (shmseg_usage.unknown; with SHMSEG_GC_FORCE those are not
 * waited for) is unlinked; any other is renamed back to its name.  If the
 * name was taken again meanwhile, the file is left under its quarantine
 * name and the item says so (stranded).  While a file is in quarantine its
 * name is missing: a process that opens it by name then fails as if it had
 * been removed.  A process that attaches after the scan keeps its mapping
 * (as after any shm_unlink()).  A gc that is killed meanwhile leaves files
 * under quarantine names; they are ordinary segments for the next one.
 */
#define SHMSEG_GC_PREFIX ".shmfs-gc-"
#define SHMSEG_GC_FORCE 0x1 /* unreadable processes do not keep a segment */

struct shmseg_gc_item {
    const char *name; /* in: the segment (leading '/' allowed) */
    uint64_t ino;     /* in: its inode when it was judged; 0: any file */
    int result;       /* out: 0 unlinked; -EBUSY in use (users > 0) or
                         maybe in use (unknown > 0); -ESTALE another file
                         has the name; -ENOENT gone; -EINVAL, -EISDIR,
                         -ELOOP, -ENODEV (not a segment); or the error of
                         rename/unlink (-EACCES, -EPERM, ...) */
    size_t users;     /* out: processes seen using it */
    size_t unknown;   /* out: unreadable processes that could use it (at
                         least 1 if the procfs hides processes) */
    char *stranded;   /* out: if not NULL (free() it), the quarantine name
                         the file was left under: its name was taken */
};

/*
 * Collect the @n segments @items (see above), the scan done with @opts
 * (NULL: defaults; SHMSEG_SCAN_NO_FDS would leave open descriptors
 * unseen), @flags 0 or SHMSEG_GC_FORCE.  If @stats
 * is not NULL it receives the deciding scan's counts.  Returns 0 once
 * every item has its result, or an error for the whole call (then every
 * file is back under its name, or stranded): -EINVAL (@items NULL with
 * @n > 0, an item's name NULL, unknown flags), -ENOMEM, the errors of
 * open(2) on the namespace directory or the procfs root.
 */
int shmseg_gc(const shmseg_ns *ns, struct shmseg_gc_item *items, size_t n,
              const struct shmseg_scan_opts *opts, unsigned flags,
              struct shmseg_scan_stats *stats);

/*
 * shmseg_gc() of the one segment @name (inode @ino unless 0), @ignore_pid
 * left out of the scan, with SHMSEG_GC_FORCE: processes the scan could not
 * read are not known to use it (scan first to know how complete the view
 * is).  Errors: the item results of shmseg_gc() and its errors.  A file
 * in use whose name was taken again stays under its quarantine name.
 */
int shmseg_unlink_unused(const shmseg_ns *ns, const char *name, uint64_t ino,
                         pid_t ignore_pid);

/*
 * Seconds from the later of @info's mtime and ctime to @now (0 if that is
 * in the future): how long ago the segment was created, resized, written
 * with write(2), or had its owner or mode changed.  Writes through a
 * mapping change neither time on tmpfs, so this is the age an orphan is
 * judged by.
 */
int64_t shmseg_info_age(const struct shmseg_info *info, time_t now);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* SHMSEG_H */
