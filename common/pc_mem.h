/* Growable arrays without a container type: the caller keeps the pointer
 * and its capacity. */
#ifndef PC_MEM_H
#define PC_MEM_H

#include <stddef.h>

/* Make *p hold at least need elements of elem bytes, doubling from a
 * minimum of 256; *cap is updated. Returns PC_OK, or PC_ENOMEM (also on
 * size overflow) with *p and *cap unchanged. */
int pc_mem_reserve(void **p, size_t *cap, size_t need, size_t elem);

#endif
