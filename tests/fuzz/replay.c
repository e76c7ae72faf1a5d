/*
 * replay.c - run a fuzz target's LLVMFuzzerTestOneInput() on saved inputs
 * without libFuzzer, so that every build (gcc, ASan+UBSan, clang) replays
 * the crash inputs kept in tests/fuzz/regress/<target>/ and the seed corpus.
 *
 *   <target>_replay PATH...
 *
 * Each PATH is an input file, or a directory whose files (not those whose
 * names start with '.', not recursively) are inputs, run in name order.
 * Each input is handed over in a heap block of exactly its size, as
 * libFuzzer does, so ASan catches a read past its end.  A violated
 * invariant aborts (the target's abort(), or a sanitizer's report).
 * Exits 1 if a path cannot be read, or if no input was found at all: a
 * replay that runs nothing must not pass.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
/* Optional, as for libFuzzer: targets that set up state once define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Read all of @path into a malloc'd block of its exact size, or return
 * NULL with errno set. */
static unsigned char *read_input(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    unsigned char *buf = NULL;
    size_t size = 0, done = 0;
    if (fstat(fd, &st) == 0) {
        size = (size_t)st.st_size;
        buf = malloc(size ? size : 1);
    }
    while (buf && done < size) {
        ssize_t r = read(fd, buf + done, size - done);
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* shrunk while read */
            free(buf);
            buf = NULL;
        } else {
            done += (size_t)r;
        }
    }
    int saved = errno;
    close(fd);
    errno = saved;
    *len = size;
    return buf;
}

static int replay_file(const char *path)
{
    size_t size;
    unsigned char *data = read_input(path, &size);
    if (!data) {
        int err = -errno;
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return err ? err : -EIO;
    }
    /* Named before it runs: an abort() leaves this as the last line. */
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int not_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Replay every input of @dir; adds the count to *@count. */
static int replay_dir(const char *dir, size_t *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    int err = 0;
    for (int i = 0; i < n; i++) {
        char *path = NULL;
        if (err == 0 &&
            asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
            path = NULL; /* undefined after a failure */
            err = -ENOMEM;
        }
        if (err == 0 && (err = replay_file(path)) == 0)
            ++*count;
        free(path);
        free(names[i]);
    }
    free(names);
    return err;
}

int main(int argc, char **argv)
{
    struct stat st;
    size_t count = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s INPUT-OR-DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        int err;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            err = replay_dir(argv[i], &count);
        } else {
            err = replay_file(argv[i]);
            count += err == 0;
        }
        if (err < 0)
            return 1;
    }
    printf("replay: %zu inputs ran, no invariant violated\n", count);
    return count ? 0 : 1;
}
