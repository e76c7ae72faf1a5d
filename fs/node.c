/*
 * node.c - the inode table: one node per object the kernel holds a node id
 * for, with the kernel's lookup count (passthrough_ll's scheme).  Node ids
 * are node addresses; the root is FUSE_ROOT_ID.  A node lives while the
 * kernel references it (nlookup) or we do (refs: element nodes pin their
 * folder, open files pin their node).
 */
#include "shmfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t bucket_of(enum node_kind kind, ino_t ino, size_t index)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)index + 1) * 0xc2b2ae3d27d4eb4full + (uint64_t)kind;
    h ^= h >> 29;
    return (size_t)(h & (shmfs.nbuckets - 1));
}

int node_table_init(void)
{
    shmfs.nbuckets = 1024;
    shmfs.buckets = calloc(shmfs.nbuckets, sizeof(*shmfs.buckets));
    if (!shmfs.buckets)
        return -ENOMEM;
    shmfs.root.kind = NODE_ROOT;
    shmfs.root.nlookup = 1;
    return 0;
}

void node_table_free(void)
{
    for (size_t b = 0; b < shmfs.nbuckets; b++) {
        struct node *n = shmfs.buckets[b];
        while (n) {
            struct node *next = n->hnext;
            list_map_drop(n);
            free(n->name);
            free(n);
            n = next;
        }
    }
    free(shmfs.buckets);
    shmfs.buckets = NULL;
}

struct node *node_of(fuse_ino_t id)
{
    if (id == FUSE_ROOT_ID)
        return &shmfs.root;
    return (struct node *)(uintptr_t)id;
}

fuse_ino_t node_id(const struct node *n)
{
    return n == &shmfs.root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

/* Double the table when it is full; keeps chains short.  Lock held. */
static void grow(void)
{
    size_t nb = shmfs.nbuckets * 2;
    struct node **nt = calloc(nb, sizeof(*nt));
    if (!nt)
        return; /* longer chains, still correct */
    struct node **old = shmfs.buckets;
    size_t ob = shmfs.nbuckets;
    shmfs.buckets = nt;
    shmfs.nbuckets = nb;
    for (size_t b = 0; b < ob; b++) {
        struct node *n = old[b];
        while (n) {
            struct node *next = n->hnext;
            size_t h = bucket_of(n->kind, n->ino, n->index);
            n->hnext = nt[h];
            nt[h] = n;
            n = next;
        }
    }
    free(old);
}

static int set_name(struct node *n, const char *name)
{
    if (!name || (n->name && strcmp(n->name, name) == 0))
        return 0;
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    free(n->name);
    n->name = copy;
    return 0;
}

/* The node (@kind, @ino, @index), or NULL.  Lock held. */
static struct node *find(enum node_kind kind, ino_t ino, size_t index)
{
    struct node *n = shmfs.buckets[bucket_of(kind, ino, index)];
    while (n && !(n->kind == kind && n->ino == ino && n->index == index))
        n = n->hnext;
    return n;
}

struct node *node_get(enum node_kind kind, ino_t ino, size_t index,
                      const char *name, struct node *list)
{
    pthread_mutex_lock(&shmfs.lock);
    struct node *n = find(kind, ino, index);
    if (n) {
        if (set_name(n, name) < 0)
            n = NULL;
        else
            n->nlookup++;
        pthread_mutex_unlock(&shmfs.lock);
        return n;
    }
    n = calloc(1, sizeof(*n));
    if (!n || set_name(n, name) < 0) {
        free(n);
        pthread_mutex_unlock(&shmfs.lock);
        return NULL;
    }
    n->kind = kind;
    n->ino = ino;
    n->index = index;
    n->nlookup = 1;
    if (list) {
        n->list = list;
        list->refs++;
    }
    if (shmfs.nnodes >= shmfs.nbuckets)
        grow();
    size_t h = bucket_of(kind, ino, index);
    n->hnext = shmfs.buckets[h];
    shmfs.buckets[h] = n;
    shmfs.nnodes++;
    pthread_mutex_unlock(&shmfs.lock);
    return n;
}

/* Free @n if nothing references it, then its folder likewise.  Lock held. */
static void maybe_free(struct node *n)
{
    while (n && n != &shmfs.root && n->nlookup == 0 && n->refs == 0) {
        struct node **p = &shmfs.buckets[bucket_of(n->kind, n->ino, n->index)];
        while (*p != n)
            p = &(*p)->hnext;
        *p = n->hnext;
        shmfs.nnodes--;
        struct node *list = n->list;
        list_map_drop(n);
        free(n->name);
        free(n);
        if (list)
            list->refs--;
        n = list;
    }
}

void node_forget(struct node *n, uint64_t count)
{
    pthread_mutex_lock(&shmfs.lock);
    n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
    maybe_free(n);
    pthread_mutex_unlock(&shmfs.lock);
}

void node_hold(struct node *n)
{
    pthread_mutex_lock(&shmfs.lock);
    n->refs++;
    pthread_mutex_unlock(&shmfs.lock);
}

void node_release(struct node *n)
{
    pthread_mutex_lock(&shmfs.lock);
    n->refs--;
    maybe_free(n);
    pthread_mutex_unlock(&shmfs.lock);
}

int node_name(const struct node *n, char *buf)
{
    const struct node *seg = n->list ? n->list : n;
    int err = -ENOENT;
    pthread_mutex_lock(&shmfs.lock);
    if (seg->name && strlen(seg->name) <= NAME_MAX) {
        strcpy(buf, seg->name);
        err = 0;
    }
    pthread_mutex_unlock(&shmfs.lock);
    return err;
}

fuse_ino_t node_find(enum node_kind kind, ino_t ino)
{
    pthread_mutex_lock(&shmfs.lock);
    struct node *n = find(kind, ino, 0);
    fuse_ino_t id = n ? node_id(n) : 0;
    pthread_mutex_unlock(&shmfs.lock);
    return id;
}

static time_t now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

static struct seg_look look_of(const struct stat *st)
{
    return (struct seg_look){st->st_size, st->st_mode, st->st_uid,
                             st->st_gid};
}

static bool same_look(const struct seg_look *a, const struct seg_look *b)
{
    return a->size == b->size && a->mode == b->mode && a->uid == b->uid &&
           a->gid == b->gid;
}

void node_shown(struct node *n, const struct stat *st, bool classified)
{
    time_t now = classified ? now_sec() : 0;
    pthread_mutex_lock(&shmfs.lock);
    n->shown = look_of(st);
    if (classified)
        n->classified = now;
    pthread_mutex_unlock(&shmfs.lock);
}

void node_applied(struct node *n, const struct stat *st)
{
    pthread_mutex_lock(&shmfs.lock);
    n->shown = n->seen_look = look_of(st);
    n->seen = true;
    pthread_mutex_unlock(&shmfs.lock);
}

bool node_recent_kind(const struct stat *st, enum node_kind *kind)
{
    time_t now = now_sec();
    pthread_mutex_lock(&shmfs.lock);
    struct node *seg = find(NODE_SEGMENT, st->st_ino, 0);
    struct node *list = find(NODE_LIST, st->st_ino, 0);
    struct node *n = seg && !list ? seg : list && !seg ? list : NULL;
    /* Within half the cache time: the entry this answer refreshes then
     * expires at most 1.5 cache times after the bytes were last read. */
    bool ok = n && n->classified && n->shown.size == st->st_size &&
              now - n->classified < (time_t)(shmfs.timeout / 2);
    if (ok)
        *kind = n->kind;
    pthread_mutex_unlock(&shmfs.lock);
    return ok;
}

fuse_ino_t node_kind_gone(enum node_kind kind, ino_t ino)
{
    pthread_mutex_lock(&shmfs.lock);
    struct node *n = find(kind, ino, 0);
    fuse_ino_t id = 0;
    if (n) {
        n->classified = 0;
        id = node_id(n);
    }
    pthread_mutex_unlock(&shmfs.lock);
    return id;
}

fuse_ino_t node_find_changed(enum node_kind kind, const struct stat *st)
{
    pthread_mutex_lock(&shmfs.lock);
    struct node *n = find(kind, st->st_ino, 0);
    fuse_ino_t id = 0;
    if (n) {
        struct seg_look now = look_of(st);
        bool changed = !n->seen || !same_look(&n->seen_look, &now) ||
                       !same_look(&n->shown, &now);
        n->seen = true;
        n->seen_look = now;
        id = changed ? node_id(n) : 0;
    }
    pthread_mutex_unlock(&shmfs.lock);
    return id;
}

int node_rename(ino_t ino, const char *newname)
{
    static const enum node_kind kinds[] = {NODE_SEGMENT, NODE_LIST};
    int err = 0;
    pthread_mutex_lock(&shmfs.lock);
    for (size_t k = 0; k < 2; k++) {
        struct node *n = find(kinds[k], ino, 0);
        if (n && set_name(n, newname) < 0)
            err = -ENOMEM;
    }
    pthread_mutex_unlock(&shmfs.lock);
    return err;
}

void node_foreach_locked(void (*fn)(struct node *n, void *arg), void *arg)
{
    pthread_mutex_lock(&shmfs.lock);
    for (size_t b = 0; b < shmfs.nbuckets; b++)
        for (struct node *n = shmfs.buckets[b]; n; n = n->hnext)
            fn(n, arg);
    pthread_mutex_unlock(&shmfs.lock);
}

void node_foreach_named(void (*fn)(const char *name, void *arg), void *arg)
{
    /* Copy the names first: @fn talks to the kernel, which may call back
     * into the daemon, so it must not run under the lock. */
    pthread_mutex_lock(&shmfs.lock);
    size_t count = 0, cap = shmfs.nnodes;
    char **names = calloc(cap ? cap : 1, sizeof(*names));
    for (size_t b = 0; names && b < shmfs.nbuckets; b++)
        for (struct node *n = shmfs.buckets[b]; n; n = n->hnext)
            if (n->name && count < cap)
                names[count++] = strdup(n->name);
    pthread_mutex_unlock(&shmfs.lock);
    for (size_t i = 0; i < count; i++) {
        if (names[i])
            fn(names[i], arg);
        free(names[i]);
    }
    free(names);
}

static struct handle handles = {&handles, &handles, NULL};

void handle_track(struct handle *h, void (*free_fn)(struct handle *h))
{
    pthread_mutex_lock(&shmfs.lock);
    h->free = free_fn;
    h->next = &handles;
    h->prev = handles.prev;
    handles.prev->next = h;
    handles.prev = h;
    shmfs.nhandles++;
    pthread_mutex_unlock(&shmfs.lock);
}

void handle_untrack(struct handle *h)
{
    pthread_mutex_lock(&shmfs.lock);
    h->prev->next = h->next;
    h->next->prev = h->prev;
    shmfs.nhandles--;
    pthread_mutex_unlock(&shmfs.lock);
}

void handle_free_all(void)
{
    while (handles.next != &handles) {
        struct handle *h = handles.next;
        handle_untrack(h);
        h->free(h);
    }
}

ssize_t node_stats(char *buf, size_t cap)
{
    size_t open_files = 0;
    pthread_mutex_lock(&shmfs.lock);
    size_t nodes = shmfs.nnodes;
    for (size_t b = 0; b < shmfs.nbuckets; b++)
        for (const struct node *n = shmfs.buckets[b]; n; n = n->hnext)
            open_files += n->nopen > 0;
    pthread_mutex_unlock(&shmfs.lock);
    return snprintf(buf, cap,
                    "nodes=%zu handles=%zu open_files=%zu backing_ids=%zu "
                    "list_maps=%zu",
                    nodes, (size_t)shmfs.nhandles, open_files,
                    (size_t)shmfs.nbacking, (size_t)shmfs.nmaps);
}
