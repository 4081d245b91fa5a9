#include "attention/exact/mha.hpp"

#include <algorithm>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace attnbench::attention {

void check_mha_options(const MhaOptions& o, LayoutKind layout_q, LayoutKind layout_kv, std::int64_t n_q,
                       std::int64_t n_kv) {
  if (o.variant == MhaVariant::ulysses && (layout_q != LayoutKind::contiguous || layout_kv != LayoutKind::contiguous))
    throw usage_error("--layout " + to_string(layout_q != LayoutKind::contiguous ? layout_q : layout_kv) +
                      " does not apply to --variant ulysses (each rank reassembles the whole sequence for its "
                      "heads; the row order only matters to ring and allgather): use --layout contiguous");
  if (o.causal && n_q != n_kv)
    throw usage_error("--causal needs as many keys as queries (n_q = " + std::to_string(n_q) +
                      ", n_kv = " + std::to_string(n_kv) + ")");
  if (o.causal && layout_q != layout_kv) throw usage_error("--causal needs the same layout for queries and keys");
  if (o.scale != o.scale) throw usage_error("--scale is NaN");
}

double mha_flops(const HeadShape& s, std::int64_t n_q, std::int64_t n_kv, bool causal) {
  const double pairs = causal ? 0.5 * static_cast<double>(n_q) * static_cast<double>(n_q + 1)
                              : static_cast<double>(n_q) * static_cast<double>(n_kv);
  return 2.0 * static_cast<double>(s.batch * s.heads) * pairs * static_cast<double>(s.d + s.dv);
}

double load_balance(const dist::Comm& comm, double seconds) {
  const auto all = comm.allgather(seconds);  // one MPI_Allgather of a double
  const double mx = *std::max_element(all.begin(), all.end());
  const double mean = std::accumulate(all.begin(), all.end(), 0.0) / static_cast<double>(all.size());
  return mean > 0.0 ? mx / mean : 1.0;
}

namespace {

// The B H online-softmax states of one rank's query tokens: state (b, h) views head h of batch b
// of Q (rows nq, row stride H d).
template <class T>
class HeadStates {
 public:
  HeadStates(const T* Q, std::int64_t nq, const HeadShape& s, std::int64_t heads, const MhaOptions& o,
             const std::int64_t* q_pos)
      : shape_(s), heads_(heads), nq_(nq) {
    states_.reserve(static_cast<std::size_t>(s.batch * heads));
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t h = 0; h < heads; ++h)
        states_.push_back(std::make_unique<OnlineSoftmax<T>>(Q + (b * nq * heads + h) * s.d, nq, s.d, heads * s.d,
                                                             s.dv, o.scale, o.tiles, o.threads,
                                                             o.causal ? q_pos : nullptr));
  }

  // Absorb m key tokens: K (B, m, kv_heads, d), V (B, m, kv_heads, dv); query head h (local index)
  // uses K/V head kv_of(h) (local index).
  template <class KvOf>
  void absorb(const T* K, const T* V, std::int64_t m, std::int64_t kv_heads, const std::int64_t* k_pos, KvOf kv_of,
              const std::function<void()>& progress) {
    const std::int64_t d = shape_.d, dv = shape_.dv;
    for (std::int64_t b = 0; b < shape_.batch; ++b) {
      std::int64_t packed = -1;  // the K/V head whose block is in K_pack_/V_pack_
      for (std::int64_t h = 0; h < heads_; ++h) {
        const std::int64_t kvh = kv_of(h);
        const T* Kh = K + (b * m * kv_heads + kvh) * d;
        const T* Vh = V + (b * m * kv_heads + kvh) * dv;
        KeyBlock<T> kb{Kh, kv_heads * d, Vh, kv_heads * dv, m, k_pos};
        if (kv_heads > 1) {
          // Rows of one K/V head are kv_heads d apart: copy the head's m x d and m x dv blocks to
          // contiguous scratch, once per block and K/V head (kv_of is non-decreasing, so the
          // H / Hkv query heads of a group reuse it). m (d + dv) copies against 2 nq m (d + dv)
          // flops per query head; the GEMMs then pack unit-stride rows (see OnlineSoftmax).
          if (kvh != packed) {
            K_pack_.resize(static_cast<std::size_t>(m * d));
            V_pack_.resize(static_cast<std::size_t>(m * dv));
            for (std::int64_t j = 0; j < m; ++j) {
              std::copy_n(Kh + j * kv_heads * d, d, K_pack_.data() + j * d);
              std::copy_n(Vh + j * kv_heads * dv, dv, V_pack_.data() + j * dv);
            }
            packed = kvh;
          }
          kb = KeyBlock<T>{K_pack_.data(), d, V_pack_.data(), dv, m, k_pos};
        }
        states_[static_cast<std::size_t>(b * heads_ + h)]->absorb(kb, progress);
      }
    }
  }

  // O (B nq) x (heads dv).
  Matrix<T> finish() const {
    if (shape_.batch == 1 && heads_ == 1) return states_[0]->finish();  // already (nq x dv): no copy
    Matrix<T> O(shape_.batch * nq_, heads_ * shape_.dv);
    for (std::int64_t b = 0; b < shape_.batch; ++b)
      for (std::int64_t h = 0; h < heads_; ++h) {
        const Matrix<T> Oh = states_[static_cast<std::size_t>(b * heads_ + h)]->finish();
        for (std::int64_t i = 0; i < nq_; ++i) std::copy_n(Oh.row(i), shape_.dv, O.row(b * nq_ + i) + h * shape_.dv);
      }
    return O;
  }

  std::int64_t workspace_bytes() const {
    std::int64_t b = static_cast<std::int64_t>((K_pack_.capacity() + V_pack_.capacity()) * sizeof(T));
    for (const auto& s : states_) b += s->workspace_bytes();
    return b;
  }
  std::int64_t tiles_computed() const {
    std::int64_t t = 0;
    for (const auto& s : states_) t += s->tiles_computed();
    return t;
  }

 private:
  HeadShape shape_;
  std::int64_t heads_, nq_;
  std::vector<std::unique_ptr<OnlineSoftmax<T>>> states_;
  std::vector<T> K_pack_, V_pack_;  // one K/V head of the block being absorbed, contiguous
};

template <class T>
Matrix<T> run_ring(const dist::Comm& comm, const AttentionProblem<T>& p, const MhaOptions& o, MhaTimes& t) {
  const HeadShape& s = p.shape;
  const auto& lay = p.layout_kv;
  const int P = comm.size(), r = comm.rank();
  const int right = (r + 1) % P, left = (r - 1 + P) % P;
  const std::int64_t kw = s.batch * s.kv_heads * s.d, vw = s.batch * s.kv_heads * s.dv;  // per token
  const std::int64_t cap = P > 1 ? lay.max_local_rows() : 0;
  // Two rotating buffers (current and incoming) of the largest block; step 0 uses the rank's own
  // K/V in place, so no copy is made.
  std::vector<T> K_buf[2] = {std::vector<T>(static_cast<std::size_t>(cap * kw)), std::vector<T>(static_cast<std::size_t>(cap * kw))};
  std::vector<T> V_buf[2] = {std::vector<T>(static_cast<std::size_t>(cap * vw)), std::vector<T>(static_cast<std::size_t>(cap * vw))};
  const auto q_pos = p.layout_q.positions(r);
  HeadStates<T> states(p.Q_local.data(), p.layout_q.local_rows(r), s, s.heads, o, q_pos.data());
  const std::int64_t g = s.group();
  auto kv_of = [g](std::int64_t h) { return h / g; };

  const T* K_cur = p.K_local.data();
  const T* V_cur = p.V_local.data();
  int incoming = 0;
  for (int step = 0; step < P; ++step) {
    const int owner = (r - step + P) % P;  // whose K/V block is being absorbed now
    const std::int64_t m = lay.local_rows(owner);
    const auto k_pos = lay.positions(owner);  // computed, not sent: the layout is known everywhere
    dist::Request send_k, send_v, recv_k, recv_v;
    if (step + 1 < P) {
      // Post the shift of the current block to the right and the receipt of the next one from the
      // left: m (kw + vw) elements each way, overlapped with this step's compute.
      const std::int64_t m_next = lay.local_rows((r - step - 1 + P) % P);
      recv_k = comm.irecv<T>(std::span<T>(K_buf[incoming].data(), static_cast<std::size_t>(m_next * kw)), left, 0);
      recv_v = comm.irecv<T>(std::span<T>(V_buf[incoming].data(), static_cast<std::size_t>(m_next * vw)), left, 1);
      send_k = comm.isend<T>(std::span<const T>(K_cur, static_cast<std::size_t>(m * kw)), right, 0);
      send_v = comm.isend<T>(std::span<const T>(V_cur, static_cast<std::size_t>(m * vw)), right, 1);
      t.bytes_received += static_cast<double>(m_next * (kw + vw)) * sizeof(T);
    }
    {
      ScopedAccumulate timer(t.compute);
      auto progress = [&] {
        recv_k.test();
        recv_v.test();
        send_k.test();
        send_v.test();
      };
      states.absorb(K_cur, V_cur, m, s.kv_heads, k_pos.data(), kv_of,
                    step + 1 < P ? std::function<void()>(progress) : std::function<void()>());
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
    O = states.finish();
  }
  t.peak_buffer_bytes = static_cast<std::int64_t>(2 * cap * (kw + vw) * static_cast<std::int64_t>(sizeof(T))) +
                        states.workspace_bytes();
  t.tiles_computed = states.tiles_computed();
  return O;
}

template <class T>
Matrix<T> run_allgather(const dist::Comm& comm, const AttentionProblem<T>& p, const MhaOptions& o, MhaTimes& t) {
  const HeadShape& s = p.shape;
  const auto& lay = p.layout_kv;
  const int P = comm.size(), r = comm.rank();
  const std::int64_t kw = s.batch * s.kv_heads * s.d, vw = s.batch * s.kv_heads * s.dv;
  std::vector<T> K_all(static_cast<std::size_t>(lay.global_rows() * kw)), V_all(static_cast<std::size_t>(lay.global_rows() * vw));
  std::vector<std::int64_t> first(static_cast<std::size_t>(P) + 1, 0);  // token offset of each rank's block
  for (int q = 0; q < P; ++q) first[static_cast<std::size_t>(q) + 1] = first[static_cast<std::size_t>(q)] + lay.local_rows(q);
  {
    // K[*] := Allgatherv(K[rows_r]); V[*] := Allgatherv(V[rows_r]): (n - n_r)(kw + vw) elements in.
    ScopedAccumulate timer(t.comm_wait);
    std::vector<int> counts_k(static_cast<std::size_t>(P)), counts_v(counts_k.size());
    for (int q = 0; q < P; ++q) {
      counts_k[static_cast<std::size_t>(q)] = static_cast<int>(lay.local_rows(q) * kw);
      counts_v[static_cast<std::size_t>(q)] = static_cast<int>(lay.local_rows(q) * vw);
    }
    const auto own = static_cast<std::size_t>(lay.local_rows(r));
    comm.allgatherv<T>(std::span<const T>(p.K_local.data(), own * static_cast<std::size_t>(kw)), K_all, counts_k);
    comm.allgatherv<T>(std::span<const T>(p.V_local.data(), own * static_cast<std::size_t>(vw)), V_all, counts_v);
    t.bytes_received = static_cast<double>((lay.global_rows() - lay.local_rows(r)) * (kw + vw)) * sizeof(T);
  }
  const auto q_pos = p.layout_q.positions(r);
  HeadStates<T> states(p.Q_local.data(), p.layout_q.local_rows(r), s, s.heads, o, q_pos.data());
  const std::int64_t g = s.group();
  Matrix<T> O;
  {
    ScopedAccumulate timer(t.compute);
    // Each rank's block is (B, m_q, Hkv, .) and carries that rank's positions.
    for (int q = 0; q < P; ++q) {
      const auto k_pos = lay.positions(q);
      const std::int64_t off = first[static_cast<std::size_t>(q)];
      states.absorb(K_all.data() + off * kw, V_all.data() + off * vw, lay.local_rows(q), s.kv_heads, k_pos.data(),
                    [g](std::int64_t h) { return h / g; }, {});
    }
    O = states.finish();
  }
  t.peak_buffer_bytes = static_cast<std::int64_t>((K_all.size() + V_all.size()) * sizeof(T)) + states.workspace_bytes();
  t.tiles_computed = states.tiles_computed();
  return O;
}

// All-to-all by point-to-point messages: send[q] goes to rank q, recv[q] (of recv_counts[q]
// elements) comes from rank q; the own piece is moved, not sent. Empty pieces are skipped on both
// sides (both sides know every size).
template <class T>
std::vector<std::vector<T>> exchange(const dist::Comm& comm, std::vector<std::vector<T>>& send,
                                     const std::vector<std::int64_t>& recv_counts, int tag, MhaTimes& t) {
  const int P = comm.size(), me = comm.rank();
  std::vector<std::vector<T>> recv(static_cast<std::size_t>(P));
  std::vector<dist::Request> reqs;
  for (int q = 0; q < P; ++q) {
    if (q == me) continue;
    auto& buf = recv[static_cast<std::size_t>(q)];
    buf.resize(static_cast<std::size_t>(recv_counts[static_cast<std::size_t>(q)]));
    if (!buf.empty()) reqs.push_back(comm.irecv<T>(std::span<T>(buf), q, tag));
    t.bytes_received += static_cast<double>(buf.size() * sizeof(T));
  }
  for (int q = 0; q < P; ++q)
    if (q != me && !send[static_cast<std::size_t>(q)].empty())
      reqs.push_back(comm.isend<T>(std::span<const T>(send[static_cast<std::size_t>(q)]), q, tag));
  recv[static_cast<std::size_t>(me)] = std::move(send[static_cast<std::size_t>(me)]);
  ScopedAccumulate timer(t.comm_wait);
  for (auto& rq : reqs) rq.wait();
  return recv;
}

struct HeadBlock {
  std::int64_t q0 = 0, nq = 0, kv0 = 0, nkv = 0;  // query heads [q0, q0+nq), K/V heads [kv0, kv0+nkv)
};

HeadBlock head_block(const HeadShape& s, int rank, int ranks) {
  const dist::BlockRowLayout hl(s.heads, ranks);
  HeadBlock hb;
  hb.q0 = hl.row_offset(rank);
  hb.nq = hl.local_rows(rank);
  if (hb.nq > 0) {
    const std::int64_t g = s.group();
    hb.kv0 = hb.q0 / g;
    hb.nkv = (hb.q0 + hb.nq - 1) / g - hb.kv0 + 1;
  }
  return hb;
}

template <class T>
Matrix<T> run_ulysses(const dist::Comm& comm, const AttentionProblem<T>& p, const MhaOptions& o, MhaTimes& t) {
  const HeadShape& s = p.shape;
  const int P = comm.size(), me = comm.rank();
  const auto &lq = p.layout_q, &lk = p.layout_kv;
  const std::int64_t nq = lq.global_rows(), nk = lk.global_rows(), d = s.d, dv = s.dv, B = s.batch;
  const std::int64_t nq_me = lq.local_rows(me), nk_me = lk.local_rows(me);
  std::vector<HeadBlock> hb(static_cast<std::size_t>(P));
  for (int q = 0; q < P; ++q) hb[static_cast<std::size_t>(q)] = head_block(s, q, P);
  const HeadBlock& mine = hb[static_cast<std::size_t>(me)];
  std::int64_t buffers = 0;

  // All-to-all 1: to rank q, this rank's tokens of q's query heads (B, nq_me, H_q, d) followed by
  // those of q's K/V heads (B, nk_me, Hkv_q, d) and (B, nk_me, Hkv_q, dv).
  std::vector<std::vector<T>> send(static_cast<std::size_t>(P));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(P));
  {
    ScopedAccumulate timer(t.compute);
    for (int q = 0; q < P; ++q) {
      const HeadBlock& h = hb[static_cast<std::size_t>(q)];
      auto& buf = send[static_cast<std::size_t>(q)];
      buf.reserve(static_cast<std::size_t>(B * (nq_me * h.nq * d + nk_me * h.nkv * (d + dv))));
      for (std::int64_t row = 0; row < B * nq_me; ++row) {
        const T* qrow = p.Q_local.data() + row * s.heads * d;
        buf.insert(buf.end(), qrow + h.q0 * d, qrow + (h.q0 + h.nq) * d);
      }
      for (std::int64_t row = 0; row < B * nk_me; ++row) {
        const T* k = p.K_local.data() + row * s.kv_heads * d;
        buf.insert(buf.end(), k + h.kv0 * d, k + (h.kv0 + h.nkv) * d);
      }
      for (std::int64_t row = 0; row < B * nk_me; ++row) {
        const T* v = p.V_local.data() + row * s.kv_heads * dv;
        buf.insert(buf.end(), v + h.kv0 * dv, v + (h.kv0 + h.nkv) * dv);
      }
      buffers += static_cast<std::int64_t>(buf.size() * sizeof(T));
      counts[static_cast<std::size_t>(q)] = B * (lq.local_rows(q) * mine.nq * d + lk.local_rows(q) * mine.nkv * (d + dv));
    }
  }
  auto recv = exchange(comm, send, counts, 20, t);
  send.clear();
  send.shrink_to_fit();

  // Reassemble the whole sequence for this rank's heads: Qh (B, nq, H_me, d), Kh, Vh; the tokens
  // from rank q land at their global positions.
  Matrix<T> Qh(B * nq, mine.nq * d), Kh(B * nk, mine.nkv * d), Vh(B * nk, mine.nkv * dv);
  {
    ScopedAccumulate timer(t.compute);
    for (int q = 0; q < P; ++q) {
      const T* src = recv[static_cast<std::size_t>(q)].data();
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < lq.local_rows(q); ++k, src += mine.nq * d)
          std::copy_n(src, mine.nq * d, Qh.row(b * nq + lq.position(q, k)));
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < lk.local_rows(q); ++k, src += mine.nkv * d)
          std::copy_n(src, mine.nkv * d, Kh.row(b * nk + lk.position(q, k)));
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < lk.local_rows(q); ++k, src += mine.nkv * dv)
          std::copy_n(src, mine.nkv * dv, Vh.row(b * nk + lk.position(q, k)));
      buffers += static_cast<std::int64_t>(recv[static_cast<std::size_t>(q)].size() * sizeof(T));
      recv[static_cast<std::size_t>(q)] = {};
    }
  }

  // Local attention over the whole sequence for heads [q0, q0 + nq): K/V head (q0 + h) / g, local
  // index (q0 + h) / g - kv0.
  std::vector<std::int64_t> q_pos(static_cast<std::size_t>(nq)), k_pos(static_cast<std::size_t>(nk));
  std::iota(q_pos.begin(), q_pos.end(), std::int64_t{0});
  std::iota(k_pos.begin(), k_pos.end(), std::int64_t{0});
  Matrix<T> Oh;
  std::int64_t state_bytes = 0;
  {
    ScopedAccumulate timer(t.compute);
    HeadStates<T> states(Qh.data(), nq, s, mine.nq, o, q_pos.data());
    const std::int64_t g = s.group(), q0 = mine.q0, kv0 = mine.kv0;
    states.absorb(Kh.data(), Vh.data(), nk, mine.nkv, k_pos.data(), [=](std::int64_t h) { return (q0 + h) / g - kv0; },
                  {});
    Oh = states.finish();
    state_bytes = states.workspace_bytes();
    t.tiles_computed = states.tiles_computed();
  }
  const std::int64_t gathered = static_cast<std::int64_t>((Qh.bytes() + Kh.bytes() + Vh.bytes()));

  // All-to-all 2: to rank q, its tokens of this rank's heads (B, nq_q, H_me, dv); from rank q,
  // this rank's tokens of q's heads, placed at head offset q0_q.
  std::vector<std::vector<T>> back(static_cast<std::size_t>(P));
  {
    ScopedAccumulate timer(t.compute);
    for (int q = 0; q < P; ++q) {
      auto& buf = back[static_cast<std::size_t>(q)];
      buf.reserve(static_cast<std::size_t>(B * lq.local_rows(q) * mine.nq * dv));
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < lq.local_rows(q); ++k) {
          const T* row = Oh.row(b * nq + lq.position(q, k));
          buf.insert(buf.end(), row, row + mine.nq * dv);
        }
      counts[static_cast<std::size_t>(q)] = B * nq_me * hb[static_cast<std::size_t>(q)].nq * dv;
    }
  }
  auto parts = exchange(comm, back, counts, 21, t);
  Matrix<T> O(B * nq_me, s.heads * dv);
  {
    ScopedAccumulate timer(t.compute);
    for (int q = 0; q < P; ++q) {
      const HeadBlock& h = hb[static_cast<std::size_t>(q)];
      const T* src = parts[static_cast<std::size_t>(q)].data();
      for (std::int64_t row = 0; row < B * nq_me; ++row, src += h.nq * dv) std::copy_n(src, h.nq * dv, O.row(row) + h.q0 * dv);
    }
  }
  t.peak_buffer_bytes = gathered + state_bytes + std::max(buffers - gathered, std::int64_t{0}) + static_cast<std::int64_t>(Oh.bytes());
  return O;
}

}  // namespace

template <class T>
Matrix<T> mha_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const MhaOptions& options, MhaTimes* times) {
  check_head_shape(problem.shape);
  check_mha_options(options, problem.layout_q.kind(), problem.layout_kv.kind(), problem.layout_q.global_rows(),
                    problem.layout_kv.global_rows());
  if (problem.layout_q.ranks() != comm.size() || problem.layout_kv.ranks() != comm.size())
    throw internal_error("mha_attention: the problem's layouts are for another rank count");
  MhaTimes local;
  const double start = wall_seconds();
  Matrix<T> O;
  switch (options.variant) {
    case MhaVariant::ring: O = run_ring(comm, problem, options, local); break;
    case MhaVariant::allgather: O = run_allgather(comm, problem, options, local); break;
    case MhaVariant::ulysses: O = run_ulysses(comm, problem, options, local); break;
  }
  local.total = wall_seconds() - start;
  if (times) *times = local;
  return O;
}

template <class T>
Matrix<T> redistribute_tokens(const dist::Comm& comm, const Matrix<T>& local, std::int64_t batch,
                              const SequenceLayout& from, const SequenceLayout& to) {
  const int P = comm.size(), me = comm.rank();
  const std::int64_t w = local.cols(), n_from = from.local_rows(me), n_to = to.local_rows(me);
  std::vector<std::vector<T>> send(static_cast<std::size_t>(P));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(P), 0);
  // Batch-major, then increasing position: the receiver walks its own rows in the same order.
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t k = 0; k < n_from; ++k) {
      auto& buf = send[static_cast<std::size_t>(to.owner_of(from.position(me, k)))];
      buf.insert(buf.end(), local.row(b * n_from + k), local.row(b * n_from + k) + w);
    }
  for (std::int64_t k = 0; k < n_to; ++k) counts[static_cast<std::size_t>(from.owner_of(to.position(me, k)))] += batch * w;
  MhaTimes t;
  auto recv = exchange(comm, send, counts, 22, t);
  Matrix<T> out(batch * n_to, w);
  std::vector<std::size_t> cursor(static_cast<std::size_t>(P), 0);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t k = 0; k < n_to; ++k) {
      const auto q = static_cast<std::size_t>(from.owner_of(to.position(me, k)));
      std::copy_n(recv[q].data() + cursor[q], w, out.row(b * n_to + k));
      cursor[q] += static_cast<std::size_t>(w);
    }
  return out;
}

template <class T>
void to_layout(const dist::Comm& comm, AttentionProblem<T>& p, LayoutKind kind) {
  const SequenceLayout lq(kind, p.n_q(), comm.size()), lk(kind, p.n_kv(), comm.size());
  if (lq == p.layout_q && lk == p.layout_kv) return;
  p.Q_local = redistribute_tokens(comm, p.Q_local, p.shape.batch, p.layout_q, lq);
  p.K_local = redistribute_tokens(comm, p.K_local, p.shape.batch, p.layout_kv, lk);
  p.V_local = redistribute_tokens(comm, p.V_local, p.shape.batch, p.layout_kv, lk);
  p.layout_q = lq;
  p.layout_kv = lk;
}

template Matrix<float> mha_attention<float>(const dist::Comm&, const AttentionProblem<float>&, const MhaOptions&, MhaTimes*);
template Matrix<double> mha_attention<double>(const dist::Comm&, const AttentionProblem<double>&, const MhaOptions&, MhaTimes*);
template Matrix<float> redistribute_tokens<float>(const dist::Comm&, const Matrix<float>&, std::int64_t,
                                                  const SequenceLayout&, const SequenceLayout&);
template Matrix<double> redistribute_tokens<double>(const dist::Comm&, const Matrix<double>&, std::int64_t,
                                                    const SequenceLayout&, const SequenceLayout&);
template void to_layout<float>(const dist::Comm&, AttentionProblem<float>&, LayoutKind);
template void to_layout<double>(const dist::Comm&, AttentionProblem<double>&, LayoutKind);

}  // namespace attnbench::attention
