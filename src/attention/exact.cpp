#include "attention/exact.hpp"

#include <utility>

#include "core/error.hpp"
#include "core/timer.hpp"

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

namespace {

template <class T>
Matrix<T> run_allgather(const dist::Comm& comm, const AttentionProblem<T>& p, const ExactOptions& o, PhaseTimes& t) {
  const auto& lay = p.layout_kv;
  Matrix<T> K_all(p.n_kv(), p.d), V_all(p.n_kv(), p.dv);
  {
    // K[*] := Allgatherv(K[rows_r]); V[*] := Allgatherv(V[rows_r]). (p-1)/p n (d+dv) elements in.
    ScopedAccumulate timer(t.comm_wait);
    std::vector<int> counts_k(static_cast<std::size_t>(comm.size())), counts_v(counts_k.size());
    for (int r = 0; r < comm.size(); ++r) {
      counts_k[static_cast<std::size_t>(r)] = static_cast<int>(lay.local_rows(r) * p.d);
      counts_v[static_cast<std::size_t>(r)] = static_cast<int>(lay.local_rows(r) * p.dv);
    }
    comm.allgatherv<T>(p.K_local.span(), K_all.span(), counts_k);
    comm.allgatherv<T>(p.V_local.span(), V_all.span(), counts_v);
  }
  OnlineSoftmax<T> state(p.Q_local, p.dv, o.scale, o.tiles, o.threads);
  Matrix<T> O;
  {
    ScopedAccumulate timer(t.compute);
    state.absorb(K_all.data(), V_all.data(), p.n_kv());
    O = state.finish();
  }
  t.peak_buffer_bytes = static_cast<std::int64_t>(K_all.bytes() + V_all.bytes()) + state.workspace_bytes();
  return O;
}

template <class T>
Matrix<T> run_ring(const dist::Comm& comm, const AttentionProblem<T>& p, const ExactOptions& o, PhaseTimes& t) {
  const auto& lay = p.layout_kv;
  const int P = comm.size(), r = comm.rank();
  const int right = (r + 1) % P, left = (r - 1 + P) % P;
  const std::int64_t cap = lay.max_local_rows();
  // Two rotating buffers (current and incoming) of the largest block; step 0 uses the rank's own
  // K/V in place, so no copy is made.
  Matrix<T> K_buf[2] = {Matrix<T>(P > 1 ? cap : 0, p.d), Matrix<T>(P > 1 ? cap : 0, p.d)};
  Matrix<T> V_buf[2] = {Matrix<T>(P > 1 ? cap : 0, p.dv), Matrix<T>(P > 1 ? cap : 0, p.dv)};
  OnlineSoftmax<T> state(p.Q_local, p.dv, o.scale, o.tiles, o.threads);

  const T* K_cur = p.K_local.data();
  const T* V_cur = p.V_local.data();
  int incoming = 0;
  for (int step = 0; step < P; ++step) {
    const int owner = (r - step + P) % P;  // whose K/V block is being absorbed now
    const std::int64_t m = lay.local_rows(owner);
    dist::Request send_k, send_v, recv_k, recv_v;
    if (step + 1 < P) {
      // Post the shift of the current block to the right and the receipt of the next one from the
      // left: m (d + dv) elements each way, overlapped with this step's compute.
      const std::int64_t m_next = lay.local_rows((r - step - 1 + P) % P);
      recv_k = comm.irecv<T>(std::span<T>(K_buf[incoming].data(), static_cast<std::size_t>(m_next * p.d)), left, 0);
      recv_v = comm.irecv<T>(std::span<T>(V_buf[incoming].data(), static_cast<std::size_t>(m_next * p.dv)), left, 1);
      send_k = comm.isend<T>(std::span<const T>(K_cur, static_cast<std::size_t>(m * p.d)), right, 0);
      send_v = comm.isend<T>(std::span<const T>(V_cur, static_cast<std::size_t>(m * p.dv)), right, 1);
    }
    {
      ScopedAccumulate timer(t.compute);
      auto progress = [&] {
        recv_k.test();
        recv_v.test();
        send_k.test();
        send_v.test();
      };
      state.absorb(K_cur, V_cur, m, step + 1 < P ? std::function<void()>(progress) : std::function<void()>());
    }
    if (step + 1 < P) {
      ScopedAccumulate timer(t.comm_wait);
      recv_k.wait();
      recv_v.wait();
      send_k.wait();
      send_v.wait();
      K_cur = K_buf[incoming].data();
      V_cur = V_buf[incoming].data();
      incoming ^= 1;
    }
  }
  Matrix<T> O;
  {
    ScopedAccumulate timer(t.compute);
    O = state.finish();
  }
  t.peak_buffer_bytes = static_cast<std::int64_t>(K_buf[0].bytes() * 2 + V_buf[0].bytes() * 2) + state.workspace_bytes();
  return O;
}

}  // namespace

template <class T>
Matrix<T> exact_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const ExactOptions& options,
                          PhaseTimes* times) {
  PhaseTimes local;
  const double start = wall_seconds();
  Matrix<T> O = options.variant == ExactVariant::ring ? run_ring(comm, problem, options, local)
                                                      : run_allgather(comm, problem, options, local);
  local.total = wall_seconds() - start;
  if (times) *times = local;
  return O;
}

template Matrix<float> exact_attention<float>(const dist::Comm&, const AttentionProblem<float>&, const ExactOptions&,
                                              PhaseTimes*);
template Matrix<double> exact_attention<double>(const dist::Comm&, const AttentionProblem<double>&,
                                                const ExactOptions&, PhaseTimes*);

}  // namespace attnbench::attention
