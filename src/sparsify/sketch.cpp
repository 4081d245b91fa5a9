#include "sparsify/sketch.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "linalg/blas.hpp"
#include "sparsify/rng.hpp"

namespace attnbench::sparsify {

namespace {

// out[0, n) += a * x[0, n): the dense update of one sketch row (vectorized; x converted to double).
template <class T>
inline void axpy_row(std::int64_t n, double a, const T* __restrict x, double* __restrict out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] += a * static_cast<double>(x[i]);
}

}  // namespace

namespace {

// Sparse (CSC) columns hold few entries each (2.6 on average at n = 256, density 1%), so a loop
// over columns with an inner loop over their entries spends its time in mispredicted loop exits
// (two per column: the prefetch loop's and the update loop's), not in memory. Instead, a block of
// columns is flattened: its hashes are drawn, the column of every entry is found without branches
// (count the column starts at each entry, prefix-sum them), and the entries' SX offsets and
// scaled values go to two arrays; one branch-free loop then applies them, prefetching `ahead`
// entries in front. Entries are applied in storage order (column by column, the z terms of an
// entry in order t = 0..z-1), as in the dense path, so every SX entry receives its terms in
// ascending column order. Extra memory: O(block (z + 1)) words plus the block's entries times z.
template <class T>
void add_sparse_columns(const ColumnBlock<T>& X, std::uint64_t seed, std::int64_t s, std::int64_t z, double* SX) {
  const std::int64_t n = X.n, cols = X.cols;
  const double scale = 1.0 / std::sqrt(static_cast<double>(z));
  const auto zz = static_cast<std::uint64_t>(z);
  const std::uint64_t key = rng::sketch_key(seed);
  constexpr std::int64_t block = 4096;  // columns per block: its buffers stay in the L2 cache
  constexpr std::int64_t ahead = 32;    // entries prefetched in front of the update
  std::vector<std::int64_t> col_offset(static_cast<std::size_t>(block * z));
  std::vector<double> col_coef(static_cast<std::size_t>(block * z));
  std::vector<std::int32_t> starts;
  std::vector<std::int64_t> target;
  std::vector<double> term;
  const std::int32_t* rows = X.rowidx.data();
  const T* vals = X.values.data();
  for (std::int64_t j0 = 0; j0 < cols; j0 += block) {
    const std::int64_t j1 = std::min(cols, j0 + block);
    const std::int64_t e0 = X.colptr[static_cast<std::size_t>(j0)], e1 = X.colptr[static_cast<std::size_t>(j1)];
    const std::int64_t m = e1 - e0;
    if (m == 0) continue;
    for (std::int64_t j = j0; j < j1; ++j)
      for (std::int64_t c = 0; c < z; ++c) {
        const rng::SketchEntry e =
            rng::sketch_entry_keyed(key, static_cast<std::uint64_t>(X.col0 + j) * zz + static_cast<std::uint64_t>(c), s);
        col_offset[static_cast<std::size_t>((j - j0) * z + c)] = e.row * n;
        col_coef[static_cast<std::size_t>((j - j0) * z + c)] = e.sign * scale;
      }
    // starts[e]: how many of the block's columns j0+1 .. j1-1 start at entry e0 + e (empty
    // columns stack up; those starting at e1 fall on the sentinel and own no entry).
    starts.assign(static_cast<std::size_t>(m + 1), 0);
    for (std::int64_t j = j0 + 1; j < j1; ++j) ++starts[static_cast<std::size_t>(X.colptr[static_cast<std::size_t>(j)] - e0)];
    target.resize(static_cast<std::size_t>(m * z));
    term.resize(static_cast<std::size_t>(m * z));
    std::int64_t local = 0;  // block-local column of entry e
    if (z == 1) {  // the CountSketch: no inner loop
      for (std::int64_t e = 0; e < m; ++e) {
        local += starts[static_cast<std::size_t>(e)];
        target[static_cast<std::size_t>(e)] = col_offset[static_cast<std::size_t>(local)] + rows[e0 + e];
        term[static_cast<std::size_t>(e)] = col_coef[static_cast<std::size_t>(local)] * static_cast<double>(vals[e0 + e]);
      }
    } else {
      for (std::int64_t e = 0; e < m; ++e) {
        local += starts[static_cast<std::size_t>(e)];
        const double v = static_cast<double>(vals[e0 + e]);
        const std::int64_t r = rows[e0 + e];
        for (std::int64_t c = 0; c < z; ++c) {
          target[static_cast<std::size_t>(e * z + c)] = col_offset[static_cast<std::size_t>(local * z + c)] + r;
          term[static_cast<std::size_t>(e * z + c)] = col_coef[static_cast<std::size_t>(local * z + c)] * v;
        }
      }
    }
    const std::int64_t* tg = target.data();
    const double* tm = term.data();
    const std::int64_t q1 = m * z;
    for (std::int64_t q = 0; q < q1; ++q) {
      if (q + ahead < q1) __builtin_prefetch(SX + tg[q + ahead], 1, 3);
      SX[tg[q]] += tm[q];
    }
  }
}

// |z|^2 over k entries with four partial sums: a single running sum is a chain of k dependent
// additions (the compiler may not reorder it), which made this the costliest part of the scores
// (113 -> 71 ms at n = 256, density 1%, d = 2^21).
inline double squared_norm(const double* __restrict z, std::int64_t k) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::int64_t c = 0;
  for (; c + 4 <= k; c += 4) {
    s0 += z[c] * z[c];
    s1 += z[c + 1] * z[c + 1];
    s2 += z[c + 2] * z[c + 2];
    s3 += z[c + 3] * z[c + 3];
  }
  for (; c < k; ++c) s0 += z[c] * z[c];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

template <class T>
void add_sparse_embedding(const ColumnBlock<T>& X, std::uint64_t seed, std::int64_t s, std::int64_t z, double* SX) {
  const std::int64_t n = X.n, cols = X.cols;
  if (cols == 0) return;
  if (X.sparse) return add_sparse_columns(X, seed, s, z, SX);
  const double scale = 1.0 / std::sqrt(static_cast<double>(z));
  const auto zz = static_cast<std::uint64_t>(z);
  const std::uint64_t key = rng::sketch_key(seed);
  // The hashes of the next `ahead` columns live in a ring; column j + ahead is hashed and its
  // target row prefetched while column j is added, so that about `ahead` misses on SX are in
  // flight at once (SX is written in hash order, which no hardware prefetcher can follow).
  constexpr std::int64_t ahead = 16;
  struct Target {
    std::int64_t offset;  // h * n: the sketch row's first element
    double coef;          // sign / sqrt(z)
  };
  std::vector<Target> ring(static_cast<std::size_t>(ahead * z));
  constexpr std::int64_t per_line = 64 / static_cast<std::int64_t>(sizeof(double));
  auto hash_and_prefetch = [&](std::int64_t j) {
    Target* t = ring.data() + (j % ahead) * z;
    for (std::int64_t c = 0; c < z; ++c) {
      const rng::SketchEntry e =
          rng::sketch_entry_keyed(key, static_cast<std::uint64_t>(X.col0 + j) * zz + static_cast<std::uint64_t>(c), s);
      t[c] = Target{e.row * n, e.sign * scale};
      for (std::int64_t i = 0; i < n; i += per_line) __builtin_prefetch(SX + t[c].offset + i, 1, 3);
    }
  };
  for (std::int64_t j = 0; j < std::min(ahead, cols); ++j) hash_and_prefetch(j);
  for (std::int64_t j = 0; j < cols; ++j) {
    const Target* t = ring.data() + (j % ahead) * z;
    // SX[h, :] += coef x_j  (column j is contiguous: one streaming read of n values)
    const T* x = X.dense.data() + j * n;
    for (std::int64_t c = 0; c < z; ++c) axpy_row(n, t[c].coef, x, SX + t[c].offset);
    // Column j's slot is free now: column j + ahead takes it.
    if (j + ahead < cols) hash_and_prefetch(j + ahead);
  }
}

template void add_sparse_embedding(const ColumnBlock<float>&, std::uint64_t, std::int64_t, std::int64_t, double*);
template void add_sparse_embedding(const ColumnBlock<double>&, std::uint64_t, std::int64_t, std::int64_t, double*);

template <class T>
std::vector<double> jl_scores(const ColumnBlock<T>& X, const std::vector<double>& B, std::int64_t k) {
  const std::int64_t n = X.n, cols = X.cols;
  std::vector<double> tau(static_cast<std::size_t>(cols), 0.0);
  const double inv_k = 1.0 / static_cast<double>(k);
  if (!X.sparse) {
    // Zc := X[:, j0 .. j0 + b)^T B  (b x k; a dense double block is used in place, no copy)
    constexpr std::int64_t block = 512;
    std::vector<double> Zc(static_cast<std::size_t>(std::min(block, cols) * k)), scratch;
    for_each_dense_view(X, block, scratch, [&](std::int64_t j0, std::int64_t b, const double* Xc) {
      linalg::gemm(linalg::Trans::no, linalg::Trans::no, b, k, n, 1.0, Xc, n, B.data(), k, 0.0, Zc.data(), k);
      for (std::int64_t t = 0; t < b; ++t) {
        tau[static_cast<std::size_t>(j0 + t)] = squared_norm(Zc.data() + t * k, k) * inv_k;
      }
    });
  } else {
    // z_j := sum_e x_ej B[i_e, :] for every column j of a block, as one loop over the block's
    // entries (the column of each entry found without branches, as in add_sparse_columns): a loop
    // per column with 2-3 entries spends its time in mispredicted exits. Each z_j receives its
    // entries in storage order, as before. Z (block x k) and B (n x k) stay in the L2 cache.
    constexpr std::int64_t block = 1024;
    std::vector<double> Z(static_cast<std::size_t>(std::min(block, cols) * k));
    std::vector<std::int32_t> starts;
    const double* __restrict Bp = B.data();
    const std::int32_t* rows = X.rowidx.data();
    const T* vals = X.values.data();
    for (std::int64_t j0 = 0; j0 < cols; j0 += block) {
      const std::int64_t j1 = std::min(cols, j0 + block), b = j1 - j0;
      const std::int64_t e0 = X.colptr[static_cast<std::size_t>(j0)], e1 = X.colptr[static_cast<std::size_t>(j1)];
      const std::int64_t m = e1 - e0;
      std::fill(Z.begin(), Z.begin() + b * k, 0.0);
      starts.assign(static_cast<std::size_t>(m + 1), 0);
      for (std::int64_t j = j0 + 1; j < j1; ++j) ++starts[static_cast<std::size_t>(X.colptr[static_cast<std::size_t>(j)] - e0)];
      std::int64_t local = 0;
      for (std::int64_t e = 0; e < m; ++e) {
        local += starts[static_cast<std::size_t>(e)];
        const double v = static_cast<double>(vals[e0 + e]);
        const double* __restrict br = Bp + static_cast<std::int64_t>(rows[e0 + e]) * k;
        double* __restrict zr = Z.data() + local * k;
        for (std::int64_t c = 0; c < k; ++c) zr[c] += v * br[c];
      }
      for (std::int64_t t = 0; t < b; ++t) {
        tau[static_cast<std::size_t>(j0 + t)] = squared_norm(Z.data() + t * k, k) * inv_k;
      }
    }
  }
  return tau;
}

template std::vector<double> jl_scores(const ColumnBlock<float>&, const std::vector<double>&, std::int64_t);
template std::vector<double> jl_scores(const ColumnBlock<double>&, const std::vector<double>&, std::int64_t);

}  // namespace attnbench::sparsify
