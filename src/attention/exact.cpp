#include "attention/exact.hpp"

#include "attention/mha.hpp"
#include "core/error.hpp"

namespace attnbench::attention {

std::string to_string(ExactVariant v) { return v == ExactVariant::ring ? "ring" : "allgather"; }
ExactVariant parse_exact_variant(std::string_view s) {
  if (s == "ring") return ExactVariant::ring;
  if (s == "allgather") return ExactVariant::allgather;
  throw usage_error("--variant: expected 'ring' or 'allgather', got '" + std::string(s) + "'");
}

double exact_attention_flops(std::int64_t nq, std::int64_t nk, std::int64_t d, std::int64_t dv) {
  return 2.0 * static_cast<double>(nq) * static_cast<double>(nk) * static_cast<double>(d + dv);
}

// The 2-D problem is the single-head case of the multi-head kernel (mha.hpp) with contiguous
// blocks of its own (possibly different: cross-attention) query and key counts; no data is copied.
template <class T>
Matrix<T> exact_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const ExactOptions& options,
                          PhaseTimes* times) {
  MhaInput<T> in{HeadShape{1, 1, 1, problem.d, problem.dv},
                 SequenceLayout(LayoutKind::contiguous, problem.n_q(), comm.size()),
                 SequenceLayout(LayoutKind::contiguous, problem.n_kv(), comm.size()),
                 problem.Q_local.data(),
                 problem.K_local.data(),
                 problem.V_local.data()};
  MhaOptions o;
  o.variant = options.variant == ExactVariant::ring ? MhaVariant::ring : MhaVariant::allgather;
  o.scale = options.scale;
  o.tiles = options.tiles;
  o.threads = options.threads;
  MhaTimes t;
  Matrix<T> O = mha_attention(comm, in, o, &t);
  if (times) {
    times->compute = t.compute;
    times->comm_wait = t.comm_wait;
    times->total = t.total;
    times->peak_buffer_bytes = t.peak_buffer_bytes;
  }
  return O;
}

template Matrix<float> exact_attention<float>(const dist::Comm&, const AttentionProblem<float>&, const ExactOptions&,
                                              PhaseTimes*);
template Matrix<double> exact_attention<double>(const dist::Comm&, const AttentionProblem<double>&,
                                                const ExactOptions&, PhaseTimes*);

}  // namespace attnbench::attention
