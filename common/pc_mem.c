#include "pc_mem.h"

#include <stdint.h>
#include <stdlib.h>

#include "pc_error.h"

int pc_mem_reserve(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return PC_OK;
  size_t n = *cap ? *cap : 256;
  while (n < need) {
    if (n > SIZE_MAX / 2)
      return PC_ENOMEM;
    n *= 2;
  }
  if (elem == 0 || n > SIZE_MAX / elem)
    return PC_ENOMEM;
  void *q = realloc(*p, n * elem);
  if (q == NULL)
    return PC_ENOMEM;
  *p = q;
  *cap = n;
  return PC_OK;
}
