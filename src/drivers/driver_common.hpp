#pragma once
// Pieces shared by the attention drivers (exact: attention_driver.cpp, approximate:
// approx_driver.cpp): the run record's common fields, problem set-up and per-phase timing tables.
#include <cstdint>
#include <string>

#include "config/options.hpp"
#include "core/attention_problem.hpp"
#include "core/run_record.hpp"
#include "dist/comm.hpp"

namespace attnbench::drivers {

// Gathers one value per rank into row `row` of a [rows x ranks] phase table on every rank.
// Collective: one MPI_Allgather of a double.
void record_phase(const dist::Comm& comm, RunRecord& rec, const std::string& phase, std::int64_t rows,
                  std::int64_t row, double seconds);

std::string human_bytes(double bytes);

// Fills the identity fields of the record that do not depend on the problem (ranks, threads,
// precision, seed, repetitions, tiles). Sets BLAS to 1 thread and OpenMP to o.threads.
void init_record(const dist::Comm& comm, const config::AttentionOptions& o, RunRecord& rec);

// Collective: the synthetic problem (timed as "setup") or the collective read of --input ("io");
// fills the problem-dependent fields of the record (n, d, dv, scale, input) and both phases.
template <class T>
AttentionProblem<T> setup_problem(const dist::Comm& comm, const config::AttentionOptions& o, RunRecord& rec);

// Collective: gathers every rank's peak RSS into the record, then (with --out) writes the
// archive (and O with --save-output), agreed across ranks.
template <class T>
void record_rss_and_archive(const dist::Comm& comm, const config::AttentionOptions& o, RunRecord& rec,
                            const Matrix<T>& O, const dist::BlockRowLayout& layout_q, int argc, char** argv);

// The approximate-algorithm driver (approx_driver.cpp), for --algo other than exact.
int run_approx_attention(const dist::Comm& comm, const config::AttentionOptions& o, int argc, char** argv);

}  // namespace attnbench::drivers
