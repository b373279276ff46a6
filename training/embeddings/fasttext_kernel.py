"""The compiled fastText kernel: skip-gram with negative sampling over subword rows, Hogwild.

Same build and cache scheme as the word2vec kernel (``kernel.py``):
compiled at first use with ``torch.utils.cpp_extension.load_inline`` into
``$SUPPORT_KERNEL_CACHE`` (default ``~/.cache/support-assistant/kernels``),
keyed by the source, the flags and the CPU's feature flags; ``None`` when no
compiler is usable or ``SUPPORT_NO_KERNEL=1`` is set.

One job trains a run of sentences like fastText's ``skipgram``: subsampling,
a window shrunk at random per centre word, and for every (centre, context)
pair one SGD step in which the input is the mean of the centre word's rows
(its own vector and its n-gram vectors, a CSR list from ``ngrams.py``), the
output is the context word's row of the output layer, plus ``negative``
words drawn from the unigram**0.75 table. Every input row then receives the
whole gradient (fastText does not divide it by the number of rows for
skip-gram; gensim neither). The sigmoid is tabulated on [-8, 8] and clamped
to 0 and 1 outside, as in fastText. It releases the GIL, so ``workers``
threads share the matrices without locks.
"""
from __future__ import annotations

from typing import Any

from training.embeddings.kernel import InlineKernel

_SOURCE = r"""
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <cmath>
#include <cstdint>
#include <vector>
#include <algorithm>

namespace {
constexpr int TABLE = 1024;
constexpr float MAX_SIGMOID = 8.0f;
float SIG[TABLE + 1];
float NLL[TABLE + 1];  // -log(sigmoid(x))
struct TableInit { TableInit() {
  for (int i = 0; i <= TABLE; i++) {
    double x = (2.0 * i / TABLE - 1.0) * MAX_SIGMOID;
    SIG[i] = (float)(1.0 / (1.0 + std::exp(-x)));
    NLL[i] = (float)std::log1p(std::exp(-x));
  } } } table_init;

inline int slot(float x) { return (int)((x + MAX_SIGMOID) * (TABLE / MAX_SIGMOID / 2)); }
inline float sigmoid(float x) { return x <= -MAX_SIGMOID ? 0.0f : x >= MAX_SIGMOID ? 1.0f : SIG[slot(x)]; }
inline float nll(float x) { return x >= MAX_SIGMOID ? 0.0f : x <= -MAX_SIGMOID ? -x : NLL[slot(x)]; }

struct Rng {  // xorshift64*
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) { if (!s) s = 1; next(); }
  inline uint64_t next() { s ^= s >> 12; s ^= s << 25; s ^= s >> 27; return s * 0x2545F4914F6CDD1DULL; }
  inline uint32_t u32() { return (uint32_t)(next() >> 32); }
};

inline float dot(const float* __restrict a, const float* __restrict b, int n) {
  float s = 0.0f;
#pragma omp simd reduction(+:s)
  for (int k = 0; k < n; k++) s += a[k] * b[k];
  return s;
}
inline void axpy(float* __restrict y, const float* __restrict x, float a, int n) {
#pragma omp simd
  for (int k = 0; k < n; k++) y[k] += a * x[k];
}

// Train sentences [s_begin, s_end); alpha decays linearly over the job's raw tokens.
// Returns (loss sum, loss terms, raw tokens, trained tokens).
std::vector<double> train_job(
    uintptr_t syn0_p, uintptr_t syn1_p, int64_t dim64,
    uintptr_t ids_p, uintptr_t sent_ends_p, int64_t s_begin, int64_t s_end,
    uintptr_t keep_p, uintptr_t cum_p, int64_t vocab,
    uintptr_t offsets_p, uintptr_t rows_p,
    int64_t window, int64_t negative, double alpha_begin, double alpha_end, uint64_t seed, bool compute_loss) {
  pybind11::gil_scoped_release release;
  float* syn0 = (float*)syn0_p; float* syn1 = (float*)syn1_p; const int dim = (int)dim64;
  const int32_t* ids = (const int32_t*)ids_p; const int64_t* sent_ends = (const int64_t*)sent_ends_p;
  const uint32_t* keep = (const uint32_t*)keep_p; const int64_t* cum = (const int64_t*)cum_p;
  const int64_t* offsets = (const int64_t*)offsets_p; const int32_t* rows = (const int32_t*)rows_p;
  Rng rng(seed);
  const int64_t first = s_begin > 0 ? sent_ends[s_begin - 1] : 0;
  const int64_t total = std::max<int64_t>(1, sent_ends[s_end - 1] - first);
  std::vector<int32_t> buf;
  std::vector<float> hidden(dim), grad(dim);
  double loss = 0.0; int64_t terms = 0, trained = 0;
  for (int64_t s = s_begin; s < s_end; s++) {
    const int64_t a = s > 0 ? sent_ends[s - 1] : 0, b = sent_ends[s];
    const float alpha = (float)(alpha_begin + (alpha_end - alpha_begin) * (double)(a - first) / (double)total);
    buf.clear();
    for (int64_t i = a; i < b; i++) {
      const int32_t w = ids[i];
      const uint32_t t = keep[w];
      if (t == 0xFFFFFFFFu || rng.u32() < t) buf.push_back(w);
    }
    const int n = (int)buf.size();
    trained += n;
    for (int pos = 0; pos < n; pos++) {
      const int32_t word = buf[pos];
      const int32_t* in = rows + offsets[word];
      const int n_in = (int)(offsets[word + 1] - offsets[word]);
      const float inv = 1.0f / (float)n_in;
      const int reduced = (int)(rng.next() % (uint64_t)window);
      const int lo = std::max(0, pos - (int)window + reduced), hi = std::min(n - 1, pos + (int)window - reduced);
      for (int c = lo; c <= hi; c++) {
        if (c == pos) continue;
        float* h = hidden.data();
        std::copy(syn0 + (int64_t)in[0] * dim, syn0 + (int64_t)in[0] * dim + dim, h);
        for (int r = 1; r < n_in; r++) axpy(h, syn0 + (int64_t)in[r] * dim, 1.0f, dim);
        for (int k = 0; k < dim; k++) h[k] *= inv;
        std::fill(grad.begin(), grad.end(), 0.0f);
        const int32_t context = buf[c];
        for (int d = 0; d <= negative; d++) {
          int64_t target; float label;
          if (d == 0) { target = context; label = 1.0f; }
          else {
            int64_t r = (int64_t)(rng.next() >> 33);  // uniform in [0, 2^31)
            target = std::upper_bound(cum, cum + vocab, r) - cum;
            if (target >= vocab) target = vocab - 1;
            if (target == context) continue;
            label = 0.0f;
          }
          float* out = syn1 + target * dim;
          const float f = dot(h, out, dim);
          if (compute_loss) { loss += nll(label > 0 ? f : -f); terms++; }
          const float g = (label - sigmoid(f)) * alpha;
          axpy(grad.data(), out, g, dim);   // gradient for the input uses the output row before its update
          axpy(out, h, g, dim);
        }
        for (int r = 0; r < n_in; r++) axpy(syn0 + (int64_t)in[r] * dim, grad.data(), 1.0f, dim);
      }
    }
  }
  return {loss, (double)terms, (double)total, (double)trained};
}
}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_job", &train_job, "Train fastText skip-gram on a run of sentences (Hogwild, GIL released).");
}
"""

_KERNEL = InlineKernel("support_ft_kernel", _SOURCE, "fastText")
build_directory = _KERNEL.build_directory
is_built = _KERNEL.is_built


def load_fasttext_kernel(build: bool = True) -> Any | None:
    """The compiled module (``train_job``), built on first use; ``None`` if unavailable."""
    return _KERNEL.load(build)
