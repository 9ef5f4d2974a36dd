// AVX-512 kernels for the transformer forward pass, chosen at run time.
//
// Swift's SIMD types compile for one target CPU for the whole module (the
// package builds for Haswell/AVX2 so that it runs on any x86-64 machine
// from the last decade). These few hot kernels are written once more in C
// with AVX-512 intrinsics behind __attribute__((target)), and kd calls them
// only when the CPU reports AVX-512 (kd_has_avx512). BENCHMARKS.md,
// "Teacher (issue 5)", has the measurement that justifies them.
#ifndef KD_CKERNELS_H
#define KD_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU and OS support AVX-512 F/DQ/BW/VL, else 0 (also off x86-64).
int kd_has_avx512(void);

/// Floats of scratch kd_attention_head_avx512 needs for n tokens and head size dh.
size_t kd_attention_scratch(size_t n, size_t dh);

/// out = softmax(scale * Q K^T) V for one head of one sequence of n tokens.
/// Row i of Q/K/V starts at q/k/v + i*ld (dh contiguous floats); row i of the
/// result goes to out + i*ld_out. dh must be a multiple of 16. Only call when
/// kd_has_avx512() is 1.
void kd_attention_head_avx512(size_t n, size_t dh, float scale,
                              const float *q, const float *k, const float *v, size_t ld,
                              float *out, size_t ld_out, float *scratch);

/// p[r*cols + c] = gelu(p[r*cols + c] + bias[c]) (exact, erf-based), in place.
/// Only call when kd_has_avx512() is 1.
void kd_bias_gelu_avx512(float *p, size_t rows, size_t cols, const float *bias);

/// p[r*ld + c] = gelu(p[r*ld + c]) for r < rows, c < cols (exact, erf-based), in place.
/// Only call when kd_has_avx512() is 1.
void kd_gelu_block_avx512(float *p, size_t rows, size_t cols, size_t ld);

/// p[r] = LayerNorm(p[r] + bias) * gamma + beta for each row of cols floats, in
/// place (bias may be NULL). Two passes over each row for the mean and the
/// variance, as KDTensor's Kernels.layerNormInPlace. Only call when kd_has_avx512() is 1.
void kd_bias_layernorm_avx512(float *p, size_t rows, size_t cols, const float *bias,
                              const float *gamma, const float *beta, float eps);

/// 1 when this CPU has AMX-BF16 tiles (and AVX-512 BF16) and Linux granted
/// this process their state (arch_prctl ARCH_REQ_XCOMP_PERM), else 0. Call once
/// before any other kd_amx_* function.
int kd_amx_available(void);

/// Bytes kd_amx_pack_weights writes for a weight of n rows (output columns) by k.
size_t kd_amx_packed_bytes(size_t n, size_t k);

/// Packs W (n x k row-major, row stride ldw: a PyTorch Linear.weight) for
/// kd_amx_gemm: each value split into two bf16 parts, hi and lo, in AMX tile order.
/// `packed` must hold kd_amx_packed_bytes(n, k) bytes, 64-byte aligned.
void kd_amx_pack_weights(const float *w, size_t n, size_t k, size_t ldw, void *packed);

/// Bytes of scratch kd_amx_gemm needs for m rows of depth k (64-byte aligned).
size_t kd_amx_scratch_bytes(size_t m, size_t k);

/// C[:, n0..<n1] = start + A · W[n0..<n1, :]^T on AMX tiles, where start is C
/// itself when `accumulate` is 1, else bias[n0..<n1] on every row (or 0 when bias
/// is NULL); then gelu() of each result when `gelu` is 1. A is m x k (row stride
/// lda), W packed by kd_amx_pack_weights, C has row stride ldc. n0 must be a
/// multiple of 16. Three bf16 products per fp32 product (relative error about
/// 1e-5, see amx.c). Only call when kd_amx_available() is 1.
void kd_amx_gemm(size_t m, size_t n0, size_t n1, size_t k, const float *a, size_t lda,
                 const void *packed, float *c, size_t ldc, int accumulate, const float *bias, int gelu,
                 void *scratch);

/// glibc: serve blocks below `mmap_threshold` from the heap and keep up to `trim_threshold` free
/// bytes at its top; 1 when glibc took both settings, 0 otherwise (or off glibc).
int kd_reuse_freed_buffers(int mmap_threshold, int trim_threshold);
/// glibc's malloc_trim(0): free heap pages go back to the system; 1 when some did.
int kd_release_free_memory(void);

/// One AdamW update of `n` consecutive values: m, v, then w (decoupled decay `decay` = 1 − lr·wd,
/// `step_size` = lr / (1 − β1^t), `c2_root` = sqrt(1 − β2^t)). Vectorised, no fused multiply-adds.
void kd_adam_row(float *w, const float *g, float *m, float *v, size_t n, float beta1, float beta2,
                 float epsilon, float step_size, float c2_root, float decay);

/// Asks the CPU to start loading the `bytes` bytes at `p` into cache, for writing (a hint,
/// never a fault). Swift has no prefetch intrinsic; the lazy AdamW and the bag's lookups use
/// this to overlap the cache misses of rows scattered over a large embedding table.
static inline void kd_prefetch_rows(const void *p, size_t bytes) {
  const char *c = (const char *)p;
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 1, 3);
}

#ifdef __cplusplus
}
#endif
#endif
