/*
 * kabi.h - the bits of the kernel's FUSE ABI (include/uapi/linux/fuse.h)
 * that both compat.c and uring.c read in raw request and reply buffers.
 * Debian 12's <linux/fuse.h> predates what these files need besides, and
 * libfuse 3.14 keeps its copy private, so they are spelt out here.
 */
#ifndef SHMFS_KABI_H
#define SHMFS_KABI_H

#define K_IN_HEADER_LEN 40  /* struct fuse_in_header: len, opcode, unique, ... */
#define K_OUT_HEADER_LEN 16 /* struct fuse_out_header: len, error, unique */

/* Opcodes (enum fuse_opcode). */
#define K_OP_FORGET 2
#define K_OP_INIT 26
#define K_OP_INTERRUPT 36
#define K_OP_BATCH_FORGET 42

#endif /* SHMFS_KABI_H */
