#pragma once
// HPL-style self-validation of a multi-head (causal or not) attention output, as validation.hpp
// does for the 2-D problem: a seeded sample of (batch, head, query token) triples is recomputed with
// the serial two-pass reference in double, over every rank's keys with the same mask and K/V head.
//   Cost: one Allreduce of rows (d + dv) doubles (the sampled q and O rows, each from its owner),
//   then the reference over this rank's keys (rows n_k/p (d + dv) flops), one Allreduce(MAX) of row
//   maxima and one Allreduce(SUM) of rows (dv + 1) partial sums; float adds the same for the naive
//   float implementation of FlashAttention's rule.
// Tolerances as validation.hpp: double 1e-12 relative; float 2x the naive float error.
#include <cstdint>

#include "attention/exact/mha.hpp"
#include "attention/exact/validation.hpp"

namespace attnbench::attention {

// Collective. O_local: this rank's output as returned by mha_attention. The one sampled validation
// of exact attention: the 2-D validate_sampled_rows (validation.hpp) is this with B = H = 1.
template <class T>
ValidationResult validate_mha_sampled(const dist::Comm& comm, const MhaInput<T>& input, const Matrix<T>& O_local,
                                      bool causal, double scale, std::int64_t rows_to_check, std::uint64_t seed);
template <class T>
ValidationResult validate_mha_sampled(const dist::Comm& comm, const MhaProblem<T>& problem, const Matrix<T>& O_local,
                                      bool causal, double scale, std::int64_t rows_to_check, std::uint64_t seed) {
  return validate_mha_sampled(comm, view(problem), O_local, causal, scale, rows_to_check, seed);
}

}  // namespace attnbench::attention
