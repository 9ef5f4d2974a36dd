// The AdamW row update; see include/ckernels.h.
#include "ckernels.h"

#include <math.h>

// Same operations in the same order as the Swift loop it replaced, and no fused multiply-adds:
// the weights do not depend on the CPU. Swift's SIMD8<Float>.squareRoot() compiles to eight
// scalar square roots with lane inserts and stack spills (42% of a bow step went to this loop);
// clang's elementwise sqrt is one vector instruction per four or eight lanes, correctly rounded
// as the scalar one is.
#pragma clang fp contract(off)

#if defined(__clang__)
typedef float kd_f8 __attribute__((ext_vector_type(8)));

static inline kd_f8 load8(const float *p) {
  kd_f8 x;
  __builtin_memcpy(&x, p, sizeof x);
  return x;
}
static inline void store8(float *p, kd_f8 x) { __builtin_memcpy(p, &x, sizeof x); }
#endif

void kd_adam_row(float *w, const float *g, float *m, float *v, size_t n, float beta1, float beta2,
                 float epsilon, float step_size, float c2_root, float decay) {
  size_t j = 0;
#if defined(__clang__)
  const kd_f8 b1 = beta1, b2 = beta2, ob1 = 1 - beta1, ob2 = 1 - beta2, eps = epsilon, step = step_size,
              inv = 1 / c2_root, dec = decay;
  for (; j + 8 <= n; j += 8) {
    kd_f8 gj = load8(g + j);
    kd_f8 mj = b1 * load8(m + j) + ob1 * gj;
    kd_f8 vj = b2 * load8(v + j) + ob2 * gj * gj;
    store8(m + j, mj);
    store8(v + j, vj);
    store8(w + j, load8(w + j) * dec - step * mj / (__builtin_elementwise_sqrt(vj) * inv + eps));
  }
#endif
  for (; j < n; j++) {
    float gj = g[j];
    m[j] = beta1 * m[j] + (1 - beta1) * gj;
    v[j] = beta2 * v[j] + (1 - beta2) * gj * gj;
    w[j] = w[j] * decay - step_size * m[j] / (sqrtf(v[j]) / c2_root + epsilon);
  }
}
