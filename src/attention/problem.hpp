#pragma once
// AttentionProblem<T>: the one problem type of every attention case, exact and approximate, from
// the synthetic generator or an input file. Q is (B, n, H, d), K is (B, n_k, Hkv, d), V is
// (B, n_k, Hkv, dv), row-major (the (batch, sequence, heads, dim) layout of common attention
// libraries), with Hkv dividing H (grouped-query attention: query head h uses K/V head
// h / (H / Hkv)). Each (batch, head) pair is an independent attention. The sequence axis is
// distributed over ranks by a SequenceLayout; a rank holds, for every batch entry, its tokens:
//   Q_local (B, n_r, H, d) stored as a Matrix of B n_r rows and H d columns, and likewise K, V.
// The 2-D (n, d) single-head problem is the case B = H = Hkv = 1 (the approximate algorithms run
// only that case, in contiguous blocks: require_single_head).
#include <cstdint>
#include <string>
#include <string_view>

#include "attention/sequence_layout.hpp"
#include "core/error.hpp"
#include "core/matrix.hpp"
#include "core/random.hpp"

namespace attnbench::attention {

struct HeadShape {
  std::int64_t batch = 1, heads = 1, kv_heads = 1, d = 0, dv = 0;
  std::int64_t group() const { return heads / kv_heads; }  // query heads per K/V head
};

// Usage errors (identical on every rank: they depend on global options only).
inline void check_head_shape(const HeadShape& s) {
  if (s.batch < 1) throw usage_error("--batch must be at least 1, got " + std::to_string(s.batch));
  if (s.heads < 1) throw usage_error("--heads must be at least 1, got " + std::to_string(s.heads));
  if (s.kv_heads < 1 || s.heads % s.kv_heads != 0)
    throw usage_error("--kv-heads " + std::to_string(s.kv_heads) + " must divide --heads " + std::to_string(s.heads) +
                      " (grouped-query attention: H / Hkv query heads share one K/V head)");
  if (s.d < 1 || s.dv < 1) throw usage_error("d and dv must be at least 1");
}

template <class T>
struct AttentionProblem {
  HeadShape shape;
  SequenceLayout layout_q{LayoutKind::contiguous, 0, 1};
  SequenceLayout layout_kv{LayoutKind::contiguous, 0, 1};
  Matrix<T> Q_local, K_local, V_local;  // (B n_r) x (H d), (B n_kr) x (Hkv d), (B n_kr) x (Hkv dv)
  std::string source;

  std::int64_t n_q() const { return layout_q.global_rows(); }
  std::int64_t n_kv() const { return layout_kv.global_rows(); }
};

// The case the approximate algorithms implement: one head of one sequence (B = H = Hkv = 1) in
// contiguous blocks of tokens. Anything else is a usage error naming `method`, identical on every
// rank (it depends on global shapes only), thrown before any collective.
template <class T>
void require_single_head(const AttentionProblem<T>& p, std::string_view method) {
  const HeadShape& s = p.shape;
  if (s.batch != 1 || s.heads != 1 || s.kv_heads != 1)
    throw usage_error(std::string(method) + " runs single-head attention (B = H = Hkv = 1), got B = " +
                      std::to_string(s.batch) + ", H = " + std::to_string(s.heads) + ", Hkv = " +
                      std::to_string(s.kv_heads));
  if (p.layout_q.kind() != LayoutKind::contiguous || p.layout_kv.kind() != LayoutKind::contiguous)
    throw usage_error(std::string(method) + " needs the contiguous layout, got " + to_string(p.layout_q.kind()));
}

// Entry (b, i, h, c) of tensor `which` (shape B x n x heads x cols) is a pure function of
// (seed, which, ((b n + i) heads + h) cols + c): identical for any rank count and layout; for
// B = heads = 1 entry (i, c) is a function of (seed, which, i cols + c), as a 2-D file's rows.
template <class T>
Matrix<T> synthetic_tokens(std::uint64_t seed, Stream which, const SequenceLayout& lay, int rank, std::int64_t batch,
                           std::int64_t heads, std::int64_t cols, double bound) {
  const std::int64_t n = lay.global_rows(), rows = lay.local_rows(rank), width = heads * cols;
  Matrix<T> m(batch * rows, width);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t k = 0; k < rows; ++k) {
      const std::int64_t i = lay.position(rank, k);
      T* out = m.row(b * rows + k);
      for (std::int64_t e = 0; e < width; ++e) {
        const auto index = static_cast<std::uint64_t>((b * n + i) * width + e);
        out[e] = static_cast<T>(bound * (2.0 * uniform01(seed, which, index) - 1.0));
      }
    }
  return m;
}

template <class T>
AttentionProblem<T> synthetic_problem(const HeadShape& shape, std::int64_t n, LayoutKind kind, double bound,
                                    std::uint64_t seed, int rank, int ranks) {
  check_head_shape(shape);
  AttentionProblem<T> p;
  p.shape = shape;
  p.layout_q = SequenceLayout(kind, n, ranks);
  p.layout_kv = p.layout_q;
  p.Q_local = synthetic_tokens<T>(seed, Stream::Q, p.layout_q, rank, shape.batch, shape.heads, shape.d, bound);
  p.K_local = synthetic_tokens<T>(seed, Stream::K, p.layout_kv, rank, shape.batch, shape.kv_heads, shape.d, bound);
  p.V_local = synthetic_tokens<T>(seed, Stream::V, p.layout_kv, rank, shape.batch, shape.kv_heads, shape.dv, bound);
  p.source = "synthetic";
  return p;
}

}  // namespace attnbench::attention
