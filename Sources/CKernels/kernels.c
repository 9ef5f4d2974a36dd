// AVX-512 kernels for the transformer forward pass; see include/ckernels.h.
#include "ckernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define KD_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

int kd_has_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

// e^x, Cephes expf polynomial (relative error about 2e-7), 2^n applied with scalef
// (underflows to 0 instead of wrapping).
KD_AVX512 static inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(x, _mm512_set1_ps(88.7f));
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  __m512 r2 = _mm512_mul_ps(r, r);
  __m512 y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(y, n);
}

// erf(x): the rational approximation KDTensor's Kernels.erf uses (absolute error < 2e-7).
KD_AVX512 static inline __m512 erf512(__m512 a) {
  __m512 x = _mm512_max_ps(_mm512_min_ps(a, _mm512_set1_ps(4.0f)), _mm512_set1_ps(-4.0f));
  __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(-2.72614225801306e-10f), _mm512_set1_ps(2.77068142495902e-08f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-2.10102402082508e-06f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-5.69250639462346e-05f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-7.34990630326855e-04f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-2.95459980854025e-03f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-1.60960333262415e-02f));
  __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(-1.45660718464996e-05f), _mm512_set1_ps(-2.13374055278905e-04f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-1.68282697438203e-03f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-7.37332916720468e-03f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-1.42647390514189e-02f));
  // x*p/q with a refined reciprocal: one Newton step on rcp14 is exact to float
  // precision, and a 512-bit division costs several times as much.
  __m512 r = _mm512_rcp14_ps(q);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.0f)));
  return _mm512_mul_ps(_mm512_mul_ps(x, p), r);
}

KD_AVX512 static inline __m512 gelu512(__m512 x) {
  __m512 e = erf512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752440f)));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __mmask16 tail_mask(size_t left) {
  return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

KD_AVX512 void kd_bias_gelu_avx512(float *p, size_t rows, size_t cols, const float *bias) {
  for (size_t r = 0; r < rows; r++) {
    float *row = p + r * cols;
    for (size_t c = 0; c < cols; c += 16) {
      __mmask16 m = tail_mask(cols - c);
      __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(m, row + c), _mm512_maskz_loadu_ps(m, bias + c));
      _mm512_mask_storeu_ps(row + c, m, gelu512(x));
    }
  }
}

KD_AVX512 void kd_gelu_block_avx512(float *p, size_t rows, size_t cols, size_t ld) {
  for (size_t r = 0; r < rows; r++) {
    float *row = p + r * ld;
    for (size_t c = 0; c < cols; c += 16) {
      __mmask16 m = tail_mask(cols - c);
      _mm512_mask_storeu_ps(row + c, m, gelu512(_mm512_maskz_loadu_ps(m, row + c)));
    }
  }
}

// In-register transpose of a 16x16 block: r[i][j] becomes r[j][i].
KD_AVX512 static inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

KD_AVX512 void kd_bias_layernorm_avx512(float *p, size_t rows, size_t cols, const float *bias,
                                        const float *gamma, const float *beta, float eps) {
  const float n = (float)cols;
  for (size_t r = 0; r < rows; r++) {
    float *row = p + r * cols;
    __m512 sum = _mm512_setzero_ps();
    for (size_t c = 0; c < cols; c += 16) {
      __mmask16 m = tail_mask(cols - c);
      __m512 x = _mm512_maskz_loadu_ps(m, row + c);
      if (bias) {
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + c));
        _mm512_mask_storeu_ps(row + c, m, x);
      }
      sum = _mm512_add_ps(sum, x);
    }
    const float mean = _mm512_reduce_add_ps(sum) / n;
    const __m512 vm = _mm512_set1_ps(mean);
    __m512 var = _mm512_setzero_ps();
    for (size_t c = 0; c < cols; c += 16) {
      __mmask16 m = tail_mask(cols - c);
      __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, row + c), vm);
      var = _mm512_fmadd_ps(d, d, var);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(var) / n + eps));
    for (size_t c = 0; c < cols; c += 16) {
      __mmask16 m = tail_mask(cols - c);
      __m512 x = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + c), vm), inv);
      __m512 y = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, gamma + c), _mm512_maskz_loadu_ps(m, beta + c));
      _mm512_mask_storeu_ps(row + c, m, y);
    }
  }
}

#define ROWS 8 /* query rows per block: 8 rows x 32 columns = 16 zmm accumulators */

size_t kd_attention_scratch(size_t n, size_t dh) {
  size_t np = (n + 31) / 32 * 32;
  return dh * np + n * dh + ROWS * np;
}

// Unnormalised softmax of row[0..<n] in place, given the row's maximum; returns 1/sum.
KD_AVX512 static inline float softmax_row(float *row, size_t n, float max) {
  __m512 mx = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  for (size_t c = 0; c < n; c += 16) {
    __mmask16 m = tail_mask(n - c);
    __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + c), mx));
    e = _mm512_maskz_mov_ps(m, e);
    _mm512_mask_storeu_ps(row + c, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return 1.0f / _mm512_reduce_add_ps(sum);
}

KD_AVX512 void kd_attention_head_avx512(size_t n, size_t dh, float scale,
                                        const float *q, const float *k, const float *v, size_t ld,
                                        float *out, size_t ld_out, float *scratch) {
  if (n == 0) return;
  const size_t np = (n + 31) / 32 * 32;
  // K^T scaled (zero columns up to np) and V, both contiguous: rows of Q/K/V sit
  // 3*hidden floats apart, a stride that maps a head's rows onto a few L1 sets.
  float *kt = scratch, *vc = scratch + dh * np, *s = vc + n * dh;
  // 16x16 blocks transposed in registers (dh is a multiple of 16; rows past n are zero).
  // A scalar loop here was vectorised into scatters and cost a quarter of the kernel.
  const __m512 vscale = _mm512_set1_ps(scale);
  for (size_t j0 = 0; j0 < np; j0 += 16) {
    for (size_t d0 = 0; d0 < dh; d0 += 16) {
      __m512 r[16];
      for (size_t i = 0; i < 16; i++) {
        r[i] = j0 + i < n ? _mm512_mul_ps(_mm512_loadu_ps(k + (j0 + i) * ld + d0), vscale) : _mm512_setzero_ps();
      }
      transpose16(r);
      for (size_t i = 0; i < 16; i++) _mm512_storeu_ps(kt + (d0 + i) * np + j0, r[i]);
    }
  }
  for (size_t j = 0; j < n; j++) memcpy(vc + j * dh, v + j * ld, dh * sizeof(float));

  for (size_t i = 0; i < n; i += ROWS) {
    const size_t rows = n - i < ROWS ? n - i : ROWS;
    const float *qr[ROWS];
    for (size_t r = 0; r < ROWS; r++) qr[r] = q + (i + (r < rows ? r : rows - 1)) * ld;

    // S = Q[i..<i+8] . K^T * scale, 32 columns at a time, and each row's maximum
    // over its n real columns (the zero columns up to np are left out).
    __m512 mxv[ROWS];
    for (int r = 0; r < ROWS; r++) mxv[r] = _mm512_set1_ps(-INFINITY);
    for (size_t c = 0; c < np; c += 32) {
      __m512 a0[ROWS], a1[ROWS];
      for (int r = 0; r < ROWS; r++) { a0[r] = _mm512_setzero_ps(); a1[r] = _mm512_setzero_ps(); }
      const float *kp = kt + c;
      for (size_t d = 0; d < dh; d++, kp += np) {
        __m512 k0 = _mm512_loadu_ps(kp), k1 = _mm512_loadu_ps(kp + 16);
        for (int r = 0; r < ROWS; r++) {
          __m512 b = _mm512_set1_ps(qr[r][d]);
          a0[r] = _mm512_fmadd_ps(b, k0, a0[r]);
          a1[r] = _mm512_fmadd_ps(b, k1, a1[r]);
        }
      }
      const __mmask16 m0 = c < n ? tail_mask(n - c) : 0, m1 = c + 16 < n ? tail_mask(n - c - 16) : 0;
      for (int r = 0; r < ROWS; r++) {
        _mm512_storeu_ps(s + r * np + c, a0[r]);
        _mm512_storeu_ps(s + r * np + c + 16, a1[r]);
        mxv[r] = _mm512_mask_max_ps(mxv[r], m0, mxv[r], a0[r]);
        mxv[r] = _mm512_mask_max_ps(mxv[r], m1, mxv[r], a1[r]);
      }
    }

    float inv[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
      inv[r] = r < rows ? softmax_row(s + r * np, n, _mm512_reduce_max_ps(mxv[r])) : 0.0f;
    }

    // out[i..<i+8] = P . V / sum, 32 (then 16) output columns at a time.
    size_t h = 0;
    for (; h + 32 <= dh; h += 32) {
      __m512 a0[ROWS], a1[ROWS];
      for (int r = 0; r < ROWS; r++) { a0[r] = _mm512_setzero_ps(); a1[r] = _mm512_setzero_ps(); }
      const float *vp = vc + h;
      for (size_t j = 0; j < n; j++, vp += dh) {
        __m512 v0 = _mm512_loadu_ps(vp), v1 = _mm512_loadu_ps(vp + 16);
        for (int r = 0; r < ROWS; r++) {
          __m512 b = _mm512_set1_ps(s[r * np + j]);
          a0[r] = _mm512_fmadd_ps(b, v0, a0[r]);
          a1[r] = _mm512_fmadd_ps(b, v1, a1[r]);
        }
      }
      for (size_t r = 0; r < rows; r++) {
        __m512 sc = _mm512_set1_ps(inv[r]);
        _mm512_storeu_ps(out + (i + r) * ld_out + h, _mm512_mul_ps(a0[r], sc));
        _mm512_storeu_ps(out + (i + r) * ld_out + h + 16, _mm512_mul_ps(a1[r], sc));
      }
    }
    for (; h < dh; h += 16) {
      __m512 a0[ROWS];
      for (int r = 0; r < ROWS; r++) a0[r] = _mm512_setzero_ps();
      const float *vp = vc + h;
      for (size_t j = 0; j < n; j++, vp += dh) {
        __m512 v0 = _mm512_loadu_ps(vp);
        for (int r = 0; r < ROWS; r++) a0[r] = _mm512_fmadd_ps(_mm512_set1_ps(s[r * np + j]), v0, a0[r]);
      }
      for (size_t r = 0; r < rows; r++) {
        _mm512_storeu_ps(out + (i + r) * ld_out + h, _mm512_mul_ps(a0[r], _mm512_set1_ps(inv[r])));
      }
    }
  }
}

#else  // not x86-64: no AVX-512; callers check kd_has_avx512() first.

int kd_has_avx512(void) { return 0; }
size_t kd_attention_scratch(size_t n, size_t dh) { (void)n; (void)dh; return 0; }
void kd_attention_head_avx512(size_t n, size_t dh, float scale, const float *q, const float *k, const float *v,
                              size_t ld, float *out, size_t ld_out, float *scratch) {
  (void)n; (void)dh; (void)scale; (void)q; (void)k; (void)v; (void)ld; (void)out; (void)ld_out; (void)scratch;
}
void kd_bias_gelu_avx512(float *p, size_t rows, size_t cols, const float *bias) {
  (void)p; (void)rows; (void)cols; (void)bias;
}
void kd_gelu_block_avx512(float *p, size_t rows, size_t cols, size_t ld) { (void)p; (void)rows; (void)cols; (void)ld; }
void kd_bias_layernorm_avx512(float *p, size_t rows, size_t cols, const float *bias, const float *gamma,
                              const float *beta, float eps) {
  (void)p; (void)rows; (void)cols; (void)bias; (void)gamma; (void)beta; (void)eps;
}

#endif
