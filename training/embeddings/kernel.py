"""The compiled word2vec kernel: Hogwild SGD over the id array, as in word2vec.c.

A small C++ function, compiled at first use with
``torch.utils.cpp_extension.load_inline`` (gcc and ninja) and cached under
``$SUPPORT_KERNEL_CACHE`` (default ``~/.cache/support-assistant/kernels``),
trains one *job* (a run of sentences): subsampling, reduced windows, skip-gram
or CBOW, negative sampling or hierarchical softmax, one SGD step per
(input, output) pair exactly like word2vec.c. It releases the GIL, so
``workers`` Python threads run jobs at the same time on the shared matrices
(Hogwild: unsynchronised row updates, as in word2vec.c and gensim).

The kernel takes raw data pointers (the caller keeps contiguous tensors of
the right dtype alive), so it needs only pybind11 and compiles in seconds.
``load_kernel()`` returns ``None`` when no compiler is usable (or when
``SUPPORT_NO_KERNEL=1``); ``Word2Vec`` then falls back to the torch path.
The build uses ``-march=native``, so its cache key includes the CPU's feature
flags (a shared home folder on another CPU gets its own build).
"""
from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import threading
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import ConfigError, first_line

logger = logging.getLogger(__name__)

_SOURCE = r"""
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <cmath>
#include <cstdint>
#include <vector>
#include <algorithm>

namespace {
constexpr int EXP_SIZE = 1000;
constexpr float MAX_EXP = 6.0f;
float SIG[EXP_SIZE + 1];
float LOGSIG[EXP_SIZE + 1];
struct TableInit { TableInit() {
  for (int i = 0; i <= EXP_SIZE; i++) {
    double x = (2.0 * i / EXP_SIZE - 1.0) * MAX_EXP;
    SIG[i] = (float)(1.0 / (1.0 + std::exp(-x)));
    LOGSIG[i] = (float)(-std::log1p(std::exp(-x)));
  } } } table_init;

inline float sigmoid(float f) { return SIG[(int)((f + MAX_EXP) * (EXP_SIZE / MAX_EXP / 2))]; }
// -log(sigmoid(z)), clamped outside [-MAX_EXP, MAX_EXP]
inline float nll(float z) {
  if (z >= MAX_EXP) return 0.0f;
  if (z <= -MAX_EXP) return -z;
  return -LOGSIG[(int)((z + MAX_EXP) * (EXP_SIZE / MAX_EXP / 2))];
}

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
// acc += g * out; out += g * in   (word2vec.c order: the gradient uses out before its update)
inline void step(float* __restrict acc, float* __restrict out, const float* __restrict in, float g, int n) {
#pragma omp simd
  for (int k = 0; k < n; k++) { acc[k] += g * out[k]; out[k] += g * in[k]; }
}

struct Params {
  float* syn0; float* syn1; int dim;
  const int32_t* ids; const int64_t* sent_ends;
  const uint32_t* keep; const int64_t* cum; int64_t vocab;
  const uint8_t* codes; const int32_t* points; const int32_t* lengths; int max_len;
  bool cbow; bool hs; int window; int negative; bool compute_loss;
};

// One input vector l1 against the output layer for target `word`; returns the loss.
inline double output_step(const Params& p, const float* l1, float* neu1e, int32_t word, float alpha, Rng& rng, int64_t& terms) {
  double loss = 0.0;
  const int dim = p.dim;
  if (p.hs) {
    const uint8_t* code = p.codes + (int64_t)word * p.max_len;
    const int32_t* point = p.points + (int64_t)word * p.max_len;
    for (int d = 0; d < p.lengths[word]; d++) {
      float* l2 = p.syn1 + (int64_t)point[d] * dim;
      float f = dot(l1, l2, dim);
      float label = 1.0f - code[d];
      if (p.compute_loss) { loss += nll(code[d] ? -f : f); terms++; }
      if (f <= -MAX_EXP || f >= MAX_EXP) continue;
      step(neu1e, l2, l1, (label - sigmoid(f)) * alpha, dim);
    }
  } else {
    for (int d = 0; d <= p.negative; d++) {
      int64_t target; float label;
      if (d == 0) { target = word; label = 1.0f; }
      else {
        int64_t r = (int64_t)(rng.next() >> 33);  // uniform in [0, 2^31)
        target = std::upper_bound(p.cum, p.cum + p.vocab, r) - p.cum;
        if (target >= p.vocab) target = p.vocab - 1;
        if (target == word) continue;
        label = 0.0f;
      }
      float* l2 = p.syn1 + target * dim;
      float f = dot(l1, l2, dim);
      if (p.compute_loss) { loss += nll(label > 0 ? f : -f); terms++; }
      float g;
      if (f > MAX_EXP) g = (label - 1.0f) * alpha;
      else if (f < -MAX_EXP) g = label * alpha;
      else g = (label - sigmoid(f)) * alpha;
      step(neu1e, l2, l1, g, dim);
    }
  }
  return loss;
}

// Train sentences [s_begin, s_end); alpha decays linearly from alpha_begin to alpha_end
// over the job's raw tokens. Returns (loss sum, loss terms, raw tokens, trained tokens).
std::vector<double> train_job(
    uintptr_t syn0, uintptr_t syn1, int64_t dim,
    uintptr_t ids, uintptr_t sent_ends, int64_t s_begin, int64_t s_end,
    uintptr_t keep, uintptr_t cum, int64_t vocab,
    uintptr_t codes, uintptr_t points, uintptr_t lengths, int64_t max_len,
    bool cbow, bool hs, int64_t window, int64_t negative,
    double alpha_begin, double alpha_end, uint64_t seed, bool compute_loss) {
  pybind11::gil_scoped_release release;
  Params p{(float*)syn0, (float*)syn1, (int)dim, (const int32_t*)ids, (const int64_t*)sent_ends,
           (const uint32_t*)keep, (const int64_t*)cum, vocab,
           (const uint8_t*)codes, (const int32_t*)points, (const int32_t*)lengths, (int)max_len,
           cbow, hs, (int)window, (int)negative, compute_loss};
  Rng rng(seed);
  const int64_t first = s_begin > 0 ? p.sent_ends[s_begin - 1] : 0;
  const int64_t total = std::max<int64_t>(1, p.sent_ends[s_end - 1] - first);
  std::vector<int32_t> buf;
  std::vector<float> neu1(dim), neu1e(dim);
  double loss = 0.0; int64_t terms = 0, trained = 0;
  for (int64_t s = s_begin; s < s_end; s++) {
    const int64_t a = s > 0 ? p.sent_ends[s - 1] : 0, b = p.sent_ends[s];
    const float alpha = (float)(alpha_begin + (alpha_end - alpha_begin) * (double)(a - first) / (double)total);
    buf.clear();
    for (int64_t i = a; i < b; i++) {
      const int32_t w = p.ids[i];
      const uint32_t t = p.keep[w];
      if (t == 0xFFFFFFFFu || rng.u32() < t) buf.push_back(w);
    }
    const int n = (int)buf.size();
    trained += n;
    for (int pos = 0; pos < n; pos++) {
      const int32_t word = buf[pos];
      const int reduced = (int)(rng.next() % (uint64_t)p.window);
      const int lo = std::max(0, pos - p.window + reduced), hi = std::min(n - 1, pos + p.window - reduced);
      if (p.cbow) {
        std::fill(neu1.begin(), neu1.end(), 0.0f);
        int cw = 0;
        for (int c = lo; c <= hi; c++) {
          if (c == pos) continue;
          const float* row = p.syn0 + (int64_t)buf[c] * dim;
          for (int k = 0; k < dim; k++) neu1[k] += row[k];
          cw++;
        }
        if (!cw) continue;
        const float inv = 1.0f / cw;
        for (int k = 0; k < dim; k++) neu1[k] *= inv;
        std::fill(neu1e.begin(), neu1e.end(), 0.0f);
        loss += output_step(p, neu1.data(), neu1e.data(), word, alpha, rng, terms);
        for (int c = lo; c <= hi; c++) {
          if (c == pos) continue;
          float* row = p.syn0 + (int64_t)buf[c] * dim;
          for (int k = 0; k < dim; k++) row[k] += neu1e[k];
        }
      } else {
        for (int c = lo; c <= hi; c++) {
          if (c == pos) continue;
          float* l1 = p.syn0 + (int64_t)buf[c] * dim;
          std::fill(neu1e.begin(), neu1e.end(), 0.0f);
          loss += output_step(p, l1, neu1e.data(), word, alpha, rng, terms);
          for (int k = 0; k < dim; k++) l1[k] += neu1e[k];
        }
      }
    }
  }
  return {loss, (double)terms, (double)total, (double)trained};
}
}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_job", &train_job, "Train word2vec on a run of sentences (Hogwild, GIL released).");
}
"""

_CFLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno"]


def _cpu_fingerprint() -> str:
    """The CPU's feature flags: a build with -march=native must not be reused on another CPU."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((line for line in fh if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor() or platform.machine()


class InlineKernel:
    """A C++ source compiled once per machine by ``load_inline`` and cached (word2vec, fastText, GloVe kernels).

    The build folder is ``$SUPPORT_KERNEL_CACHE/<prefix>_<hash>`` (default
    ``~/.cache/support-assistant/kernels``), the hash covering the source, the
    flags and the CPU's feature flags. ``load()`` returns the module, or
    ``None`` when ``SUPPORT_NO_KERNEL`` is set or no compiler can build it (a
    warning names the reason and the ``what`` model falls back to torch).
    """

    def __init__(self, prefix: str, source: str, what: str) -> None:
        self.prefix, self.source, self.what = prefix, source, what
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}

    def name(self) -> str:
        key = "\n".join([self.source, " ".join(_CFLAGS), platform.machine(), _cpu_fingerprint()])
        return f"{self.prefix}_{hashlib.sha1(key.encode()).hexdigest()[:12]}"

    def build_directory(self) -> Path:
        root = (os.environ.get("SUPPORT_KERNEL_CACHE")
                or os.path.join(os.path.expanduser("~"), ".cache", "support-assistant", "kernels"))
        return Path(root) / self.name()

    def is_built(self) -> bool:
        """Whether a compiled kernel for this source is already in the cache (loading it is then quick)."""
        folder = self.build_directory()
        return folder.is_dir() and any(folder.glob(f"{self.name()}*.so"))

    def load(self, build: bool = True) -> Any | None:
        """The compiled module, built on first use; ``None`` if unavailable (or not built and ``build=False``)."""
        if os.environ.get("SUPPORT_NO_KERNEL"):
            return None
        with self._lock:
            if "module" in self._cache:
                return self._cache["module"]
            if not build and not self.is_built():
                return None
            module = None
            if shutil.which(os.environ.get("CXX", "c++")) is None:
                logger.warning("No C++ compiler found: %s uses the slower torch fallback.", self.what)
            else:
                try:
                    from torch.utils.cpp_extension import load_inline

                    folder = self.build_directory()
                    folder.mkdir(parents=True, exist_ok=True)
                    if not self.is_built():
                        logger.info("Compiling the %s kernel into %s (first use only).", self.what, folder)
                    module = load_inline(name=self.name(), cpp_sources=[self.source], extra_cflags=_CFLAGS,
                                         build_directory=str(folder), no_implicit_headers=True)
                except Exception as exc:  # a missing ninja, compiler or header: fall back, say why
                    logger.warning("Could not build the %s kernel (%s): using the torch fallback.", self.what,
                                   first_line(exc))
                    module = None
            self._cache["module"] = module
            return module


def kernel_for_backend(load: Callable[[], Any | None], backend: str, model: str) -> Any | None:
    """The compiled module for an estimator's ``backend`` setting: ``None`` for ``"torch"`` or when ``"auto"`` finds
    no kernel; for ``"compiled"`` a missing kernel is a ``ConfigError`` that says how to fix it."""
    if backend == "torch":
        return None
    kernel = load()
    if kernel is None and backend == "compiled":
        raise ConfigError(f"The 'backend' parameter of {model} is 'compiled' but the C++ kernel could not be built "
                          "(see the log). Install a C++ compiler and ninja, or use backend='auto' or 'torch'.")
    return kernel


WORD2VEC_KERNEL = InlineKernel("support_w2v_kernel", _SOURCE, "word2vec")
build_directory = WORD2VEC_KERNEL.build_directory
is_built = WORD2VEC_KERNEL.is_built


def load_kernel(build: bool = True) -> Any | None:
    """Return the compiled module (``train_job``), building it on first use; ``None`` if unavailable."""
    return WORD2VEC_KERNEL.load(build)
