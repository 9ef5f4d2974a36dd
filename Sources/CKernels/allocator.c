// glibc's allocator settings (see KDTensor/Allocator.swift). malloc.h is glibc's, hence C.
#include "ckernels.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int kd_reuse_freed_buffers(int mmap_threshold, int trim_threshold) {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
#else
  (void)mmap_threshold; (void)trim_threshold;
  return 0;
#endif
}

int kd_release_free_memory(void) {
#if defined(__GLIBC__)
  return malloc_trim(0);
#else
  return 0;
#endif
}
