#include "pw_evalsteps.h"

uint64_t pw_evalsteps_per_epoch(uint64_t rows, uint64_t workers, uint64_t batch) {
  if (workers == 0 || batch == 0)
    return 0;
  uint64_t least = rows / workers;
  return least / batch + (least % batch != 0);
}

uint64_t pw_evalsteps_global(uint64_t per_epoch, uint64_t epoch, uint64_t b) {
  return (epoch > 0 ? epoch - 1 : 0) * per_epoch + (b < per_epoch ? b : per_epoch);
}

int pw_evalsteps_due(uint64_t every, uint64_t per_epoch, uint64_t epoch, uint64_t b) {
  if (every == 0 || b == 0 || b >= per_epoch)
    return 0;
  return pw_evalsteps_global(per_epoch, epoch, b) % every == 0;
}
