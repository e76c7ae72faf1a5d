/* main.c - shmfs daemon entry point (placeholder while the daemon is built). */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdio.h>

#include "shmseg.h"

int main(void)
{
    fprintf(stderr, "shmfs: not implemented yet\n");
    return 1;
}
