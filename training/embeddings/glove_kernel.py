"""The compiled GloVe kernel: Hogwild AdaGrad over shuffled co-occurrence entries, as in glove.c.

Built at first use with ``torch.utils.cpp_extension.load_inline`` and cached
exactly like the word2vec kernel (``kernel.py``: same cache folder
``$SUPPORT_KERNEL_CACHE``, same flags, a name keyed on the source and the
CPU's feature flags; ``SUPPORT_NO_KERNEL=1`` disables it). Two functions,
both releasing the GIL so that ``workers`` Python threads run at once:

- ``shuffle(entries, begin, end, seed)``: Fisher-Yates shuffle of the
  16-byte entries ``(row int32, col int32, log_x float32, f_x float32)``
  in ``[begin, end)``.
- ``train(entries, begin, end, W, C, GW, GC, dim)``: one AdaGrad step per
  entry, glove.c's update: ``diff = w_i . c_j + b_i + b_j - log x``,
  ``g = eta f(x) diff``; each parameter ``p`` (vector components and the two
  biases, stored as the last column of ``W`` and ``C``) moves by
  ``g_p / sqrt(G_p)`` and then ``G_p += g_p^2`` (``G`` starts at 1). Returns
  the sum of ``f(x) diff^2 / 2`` over the entries (the loss before their
  updates). An entry whose ``diff`` is not finite is skipped, as in glove.c.

``load_glove_kernel()`` returns ``None`` when no compiler is usable; ``GloVe``
then uses its vectorised torch path.
"""
from __future__ import annotations

from typing import Any

from training.embeddings.kernel import InlineKernel

_SOURCE = r"""
#include <pybind11/pybind11.h>
#include <cmath>
#include <cstdint>
#include <utility>

namespace {
struct Entry { int32_t row; int32_t col; float logx; float fx; };
constexpr int64_t PREFETCH = 4;  // entries ahead

struct Rng {  // xorshift64*
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) { if (!s) s = 1; next(); }
  inline uint64_t next() { s ^= s >> 12; s ^= s << 25; s ^= s >> 27; return s * 0x2545F4914F6CDD1DULL; }
};

void shuffle(uintptr_t entries, int64_t begin, int64_t end, uint64_t seed) {
  pybind11::gil_scoped_release release;
  Entry* e = (Entry*)entries + begin;
  Rng rng(seed);
  for (int64_t i = end - begin - 1; i > 0; i--) {
    const int64_t j = (int64_t)(rng.next() % (uint64_t)(i + 1));
    std::swap(e[i], e[j]);
  }
}

double train(uintptr_t entries, int64_t begin, int64_t end, uintptr_t w_ptr, uintptr_t c_ptr,
             uintptr_t gw_ptr, uintptr_t gc_ptr, int64_t dim, double eta_d) {
  pybind11::gil_scoped_release release;
  const Entry* e = (const Entry*)entries;
  float* W = (float*)w_ptr; float* C = (float*)c_ptr;
  float* GW = (float*)gw_ptr; float* GC = (float*)gc_ptr;
  const int64_t stride = dim + 1;  // the bias is the last column
  const float eta = (float)eta_d;
  double cost = 0.0;
  const int64_t row_bytes = stride * (int64_t)sizeof(float);
  for (int64_t k = begin; k < end; k++) {
    if (k + PREFETCH < end) {  // the four rows of a later entry: random rows are what this loop waits on
      const Entry& y = e[k + PREFETCH];
      const char* rows[4] = {(const char*)(W + (int64_t)y.row * stride), (const char*)(GW + (int64_t)y.row * stride),
                             (const char*)(C + (int64_t)y.col * stride), (const char*)(GC + (int64_t)y.col * stride)};
      for (const char* r : rows)
        for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(r + off, 1, 3);
    }
    const Entry& x = e[k];
    float* w = W + (int64_t)x.row * stride; float* gw = GW + (int64_t)x.row * stride;
    float* c = C + (int64_t)x.col * stride; float* gc = GC + (int64_t)x.col * stride;
    float diff = 0.0f;
#pragma omp simd reduction(+:diff)
    for (int64_t b = 0; b < dim; b++) diff += w[b] * c[b];
    diff += w[dim] + c[dim] - x.logx;
    if (!std::isfinite(diff)) continue;
    const float fdiff = x.fx * diff;
    cost += 0.5 * (double)fdiff * (double)diff;
    const float g = eta * fdiff;
#pragma omp simd
    for (int64_t b = 0; b < dim; b++) {
      const float t1 = g * c[b], t2 = g * w[b];
      w[b] -= t1 / std::sqrt(gw[b]);
      c[b] -= t2 / std::sqrt(gc[b]);
      gw[b] += t1 * t1;
      gc[b] += t2 * t2;
    }
    w[dim] -= g / std::sqrt(gw[dim]);
    c[dim] -= g / std::sqrt(gc[dim]);
    gw[dim] += g * g;
    gc[dim] += g * g;
  }
  return cost;
}
}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("shuffle", &shuffle, "Shuffle GloVe entries [begin, end) in place (GIL released).");
  m.def("train", &train, "One AdaGrad pass over GloVe entries [begin, end) (Hogwild, GIL released).");
}
"""

_KERNEL = InlineKernel("support_glove_kernel", _SOURCE, "GloVe")
build_directory = _KERNEL.build_directory
is_built = _KERNEL.is_built


def load_glove_kernel(build: bool = True) -> Any | None:
    """The compiled module (``shuffle``, ``train``), built on first use; ``None`` if unavailable."""
    return _KERNEL.load(build)
