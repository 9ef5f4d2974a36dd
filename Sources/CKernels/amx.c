// Dense products on Intel AMX tiles; see include/ckernels.h (kd_amx_*).
//
// Why: OpenBLAS's fp32 sgemm is about three quarters of a BERT forward pass
// and already runs near the AVX-512 FMA peak (~150 GFLOP/s per core here).
// AMX's TDPBF16PS does 16x16x32 bf16 products with fp32 accumulation, about
// 1 TFLOP/s per core. One bf16 product keeps only 8 significant bits, so each
// fp32 operand is split into two bf16 parts, hi = bf16(x) and lo = bf16(x - hi)
// (round to nearest even both times; x - hi - lo is below 2^-17 |x|), and
// three products are summed: hi*hi + lo*hi + hi*lo. The dropped lo*lo term
// and the split residues leave a relative error near 2^-16 per product, about
// ten times fp32 sgemm's; BENCHMARKS.md ("Teacher (issue 5)", fourth session)
// has the measured error and speed beside OpenBLAS. Six products (three-way splits) reach
// fp32's error but are no faster than OpenBLAS, so fp32 stays with OpenBLAS.
#include "ckernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KD_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512dq,avx512bw,avx512vl,avx512bf16")))

static inline size_t rup(size_t x, size_t m) { return (x + m - 1) / m * m; }

int kd_amx_available(void) {
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
  if (a < 7) return 0;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  if (!((c >> 27) & 1)) return 0;  // OSXSAVE
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
  int avx512bf16 = 0;
  unsigned a1, b1, c1, d1;
  __asm__ volatile("cpuid" : "=a"(a1), "=b"(b1), "=c"(c1), "=d"(d1) : "a"(7), "c"(1));
  avx512bf16 = (a1 >> 5) & 1;
  if (!amx_bf16 || !amx_tile || !avx512bf16 || !kd_has_avx512()) return 0;
  // The OS must manage the tile state (XCR0 bits 17 XTILECFG and 18 XTILEDATA) ...
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  if (((xlo >> 17) & 3) != 3) return 0;
  // ... and Linux gives tile data to a process only on request (ARCH_REQ_XCOMP_PERM,
  // XFEATURE_XTILEDATA); ARCH_GET_XCOMP_PERM then confirms the grant.
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return 0;
  unsigned long long granted = 0;
  if (syscall(SYS_arch_prctl, 0x1022, &granted) != 0 || !((granted >> 18) & 1)) return 0;
  return 1;
}

// Rows of W per packed group: W's rows (output columns) are padded to a
// multiple of 16 plus 16, so a pair of 16-column blocks starting at any
// multiple of 16 below n stays inside the buffer.
static inline size_t packed_cols(size_t n) { return rup(n, 16) + 16; }

size_t kd_amx_packed_bytes(size_t n, size_t k) { return packed_cols(n) * rup(k, 32) * 2 * sizeof(uint16_t); }

static inline uint16_t bf16_rne(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7F800000u) == 0x7F800000u)  // Inf stays Inf, NaN stays NaN (rounding could carry it into the sign)
    return (uint16_t)((u >> 16) | ((u & 0x007FFFFFu) ? 0x40u : 0u));
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
static inline float bf16_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// Layout: [16-column block][32-deep k block][part: hi, lo][16 k pairs][16 columns][2],
// i.e. one 1 KB AMX B tile per (block, k block, part) in VNNI order.
void kd_amx_pack_weights(const float *w, size_t n, size_t k, size_t ldw, void *packed) {
  size_t kb_count = rup(k, 32) / 32;
  uint16_t *out = packed;
  for (size_t nb = 0; nb < packed_cols(n) / 16; nb++)
    for (size_t kb = 0; kb < kb_count; kb++) {
      uint16_t *t = out + (nb * kb_count + kb) * 1024;
      for (size_t r = 0; r < 16; r++)
        for (size_t c = 0; c < 16; c++)
          for (size_t e = 0; e < 2; e++) {
            size_t col = nb * 16 + c, kk = kb * 32 + 2 * r + e;
            float x = (col < n && kk < k) ? w[col * ldw + kk] : 0.0f;
            uint16_t h = bf16_rne(x);
            t[r * 32 + c * 2 + e] = h;
            t[512 + r * 32 + c * 2 + e] = bf16_rne(x - bf16_float(h));
          }
    }
}

// A's rows -> [16-row block][32-deep k block][part][16 rows][32]: one 1 KB A tile each.
KD_AMX __attribute__((noinline)) static void pack_rows(const float *a, size_t lda, size_t m, size_t k, uint16_t *out) {
  size_t kb_count = rup(k, 32) / 32;
  for (size_t row = 0; row < rup(m, 16); row++) {
    size_t mb = row / 16, r = row % 16;
    for (size_t kb = 0; kb < kb_count; kb++) {
      uint16_t *t = out + (mb * kb_count + kb) * 1024 + r * 32;
      __m512 x0, x1;
      if (row < m && kb * 32 + 32 <= k) {
        x0 = _mm512_loadu_ps(a + row * lda + kb * 32);
        x1 = _mm512_loadu_ps(a + row * lda + kb * 32 + 16);
      } else {
        float buf[32] = {0};
        if (row < m)
          for (size_t e = 0; e < 32 && kb * 32 + e < k; e++) buf[e] = a[row * lda + kb * 32 + e];
        x0 = _mm512_loadu_ps(buf);
        x1 = _mm512_loadu_ps(buf + 16);
      }
      __m512i hi = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);  // lanes 0-15 from x0, 16-31 from x1
      __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hi)), 16));
      __m512 h1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hi, 1)), 16));
      __m512i lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
      _mm512_storeu_si512((__m512i *)t, hi);
      _mm512_storeu_si512((__m512i *)(t + 512), lo);
    }
  }
}

// Rows of A packed at a time (their bf16 parts stay in L2 with their block of C:
// the block size that ran fastest of 64, 128 and 256), and the depth of one pass
// in 32-deep k blocks (48 = 1536: MiniLM's and BERT-base's k of 384/768/1536 in one
// pass; 3072 takes two). Splitting k further (6 or 12 blocks, so that a B panel
// fits L1) measured slower, because C is then reloaded once per pass.
#ifndef KD_AMX_MC
#define KD_AMX_MC 128
#endif
#ifndef KD_AMX_KCB
#define KD_AMX_KCB 48
#endif

size_t kd_amx_scratch_bytes(size_t m, size_t k) {
  size_t rows = m < KD_AMX_MC ? rup(m, 16) : KD_AMX_MC;
  return rows * rup(k, 32) * 2 * sizeof(uint16_t);
}

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} kd_tile_config;

KD_AMX void kd_amx_gemm(size_t m, size_t n0, size_t n1, size_t k, const float *a, size_t lda,
                        const void *packed, float *c, size_t ldc, int accumulate, const float *bias, int gelu,
                        void *scratch) {
  if (m == 0 || n1 <= n0) return;
  const size_t kb_count = rup(k, 32) / 32;
  const size_t tile = kb_count * 1024;  // uint16 per 16-row (or 16-column) block over all of k
  kd_tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int i = 0; i < 8; i++) {
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  _tile_loadconfig(&cfg);
  const uint16_t *bp = packed;
  uint16_t *ap = scratch;
  float edge[32 * 32] __attribute__((aligned(64)));
  for (size_t m0 = 0; m0 < m; m0 += KD_AMX_MC) {
    const size_t mrows = m - m0 < KD_AMX_MC ? m - m0 : KD_AMX_MC, mb_count = rup(mrows, 16) / 16;
    pack_rows(a + m0 * lda, lda, mrows, k, ap);
    for (size_t kc = 0; kc < kb_count; kc += KD_AMX_KCB) {
      const size_t kc_end = kc + KD_AMX_KCB < kb_count ? kc + KD_AMX_KCB : kb_count;
      const int load_c = accumulate || kc > 0, last = kc_end == kb_count;
      const int from_bias = !load_c && bias != NULL;
      for (size_t nb = n0 / 16; nb * 16 < n1; nb += 2) {
        const uint16_t *b0 = bp + nb * tile, *b1 = b0 + tile;
        for (size_t mb = 0; mb < mb_count; mb += 2) {
          const uint16_t *a0 = ap + mb * tile;
          const uint16_t *a1 = mb + 1 < mb_count ? a0 + tile : a0;  // odd last block: rows computed twice, stored once
          const size_t r0 = m0 + mb * 16, c0 = nb * 16;
          const size_t rows = m - r0 < 32 ? m - r0 : 32, cols = n1 - c0 < 32 ? n1 - c0 : 32;
          const int full = rows == 32 && cols == 32;
          float *cb = c + r0 * ldc + c0;
          size_t ld = ldc;
          if (!full) {
            memset(edge, 0, sizeof edge);
            if (load_c)
              for (size_t r = 0; r < rows; r++) memcpy(edge + r * 32, cb + r * ldc, cols * sizeof(float));
            else if (from_bias)
              for (size_t r = 0; r < 32; r++) memcpy(edge + r * 32, bias + c0, cols * sizeof(float));
            cb = edge;
            ld = 32;
          }
          if (from_bias && full) {
            // The bias row broadcast down each C tile: a tile load with stride 0.
            _tile_loadd(0, bias + c0, 0);
            _tile_loadd(1, bias + c0 + 16, 0);
            _tile_loadd(2, bias + c0, 0);
            _tile_loadd(3, bias + c0 + 16, 0);
          } else if (load_c || !full) {
            _tile_loadd(0, cb, ld * 4);
            _tile_loadd(1, cb + 16, ld * 4);
            _tile_loadd(2, cb + 16 * ld, ld * 4);
            _tile_loadd(3, cb + 16 * ld + 16, ld * 4);
          } else {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
          }
          for (size_t kb = kc; kb < kc_end; kb++) {
            const uint16_t *A0 = a0 + kb * 1024, *A1 = a1 + kb * 1024, *B0 = b0 + kb * 1024, *B1 = b1 + kb * 1024;
#define KD_DP4             \
  _tile_dpbf16ps(0, 4, 6); \
  _tile_dpbf16ps(1, 4, 7); \
  _tile_dpbf16ps(2, 5, 6); \
  _tile_dpbf16ps(3, 5, 7);
            // Smallest terms first: lo(A)·hi(B), then hi·hi, then hi(A)·lo(B).
            _tile_loadd(4, A0 + 512, 64);
            _tile_loadd(5, A1 + 512, 64);
            _tile_loadd(6, B0, 64);
            _tile_loadd(7, B1, 64);
            KD_DP4
            _tile_loadd(4, A0, 64);
            _tile_loadd(5, A1, 64);
            KD_DP4
            _tile_loadd(6, B0 + 512, 64);
            _tile_loadd(7, B1 + 512, 64);
            KD_DP4
#undef KD_DP4
          }
          _tile_stored(0, cb, ld * 4);
          _tile_stored(1, cb + 16, ld * 4);
          _tile_stored(2, cb + 16 * ld, ld * 4);
          _tile_stored(3, cb + 16 * ld + 16, ld * 4);
          // GELU while the block is still in L1, instead of another pass over C.
          if (gelu && last) kd_gelu_block_avx512(cb, rows, cols, ld);
          if (!full)
            for (size_t r = 0; r < rows; r++) memcpy(c + (r0 + r) * ldc + c0, edge + r * 32, cols * sizeof(float));
        }
      }
    }
  }
  _tile_release();
}

#else  // no AMX off Linux x86-64: callers check kd_amx_available() first.

int kd_amx_available(void) { return 0; }
size_t kd_amx_packed_bytes(size_t n, size_t k) { (void)n; (void)k; return 0; }
void kd_amx_pack_weights(const float *w, size_t n, size_t k, size_t ldw, void *packed) {
  (void)w; (void)n; (void)k; (void)ldw; (void)packed;
}
size_t kd_amx_scratch_bytes(size_t m, size_t k) { (void)m; (void)k; return 0; }
void kd_amx_gemm(size_t m, size_t n0, size_t n1, size_t k, const float *a, size_t lda, const void *packed, float *c,
                 size_t ldc, int accumulate, const float *bias, int gelu, void *scratch) {
  (void)m; (void)n0; (void)n1; (void)k; (void)a; (void)lda; (void)packed; (void)c; (void)ldc; (void)accumulate;
  (void)bias; (void)gelu; (void)scratch;
}

#endif
