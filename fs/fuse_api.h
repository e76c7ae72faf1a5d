/*
 * fuse_api.h - the libfuse API version every file of fs/ is written against.
 * Include this instead of <fuse_lowlevel.h>.
 */
#ifndef SHMFS_FUSE_API_H
#define SHMFS_FUSE_API_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdbool.h>

#endif /* SHMFS_FUSE_API_H */
