/*
 * internal.h - helpers shared by the files of libshmseg; not installed.
 */
#ifndef SHMSEG_INTERNAL_H
#define SHMSEG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* True if @len bytes at @s are well-formed UTF-8 (as Python's strict
 * decoder accepts it: no overlongs, no surrogates, nothing above U+10FFFF). */
bool shmseg__utf8_valid(const char *s, size_t len);

struct shmseg;

/* Mark a segment whose mapping a list handle points into: shmseg_resize()
 * then refuses it (-EBUSY) instead of moving the list's memory. */
void shmseg__pin(struct shmseg *seg);

struct shmseg_info;
struct stat;

/* Fill @info from @st, as shmseg_stat() and shmseg_foreach() report it. */
void shmseg__info_from_stat(struct shmseg_info *info, const struct stat *st);

#endif /* SHMSEG_INTERNAL_H */
