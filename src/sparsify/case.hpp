#pragma once
// The benchmark case of the sparsify kernel (harness::Case): set-up (synthetic generation or HDF5
// input, the rank check of X X^T), one timed sparsification per repetition, the self-validation and
// the archive datasets. kernel.cpp turns parsed options into a CaseConfig; tests build the case
// directly from a CaseConfig.
#include <cstdint>
#include <memory>
#include <string>

#include "core/precision.hpp"
#include "core/run_record.hpp"
#include "dist/comm.hpp"
#include "harness/kernel.hpp"
#include "sparsify/bounds.hpp"
#include "sparsify/generator.hpp"
#include "sparsify/sparsify.hpp"

namespace attnbench::sparsify {

struct CaseConfig {
  Params params;
  SyntheticSpec synthetic;   // used when input is empty
  std::string input;         // HDF5 file with /X (dense or anndata sparse group)
  Precision precision = Precision::double_;
  // n x n factorizations on the ScaLAPACK process grid when n >= this (0: always replicated LAPACK).
  std::int64_t scalapack_threshold = 2048;
  // Also report each phase's CPU time of the calling thread as phase "cpu:<name>" (sparsify_bench
  // on a shared machine; the kernel leaves it off so that archives hold wall-clock phases only).
  bool cpu_phase_times = false;
};

// What make_case records about the problem (also put into the run record when it has room).
struct ProblemInfo {
  std::string input_format;  // "synthetic-dense", "synthetic-csc", "dense", "csc", "csr"
  std::int64_t n = 0, d = 0, nnz = 0, m = 0;
  double nnz_sq = 0.0;       // sum_j nnz_j^2 over stored entries (dense: n^2 d): the sparse Gram's work
  double r = 0.0;            // |X X^T|_max measured at set-up
  double r_requested = 0.0;  // --r (synthetic), 0 for files
  std::string nxn_solver;    // "replicated-lapack" or "scalapack"
  // leverage-sketch with the default m: the oversampling factor beta and its parts (else 0).
  double oversample = 0.0, oversample_jl = 0.0, oversample_embedding = 0.0;
  // leverage-sketch with --bound chernoff: the certificate's constants (screen.m == 0 otherwise).
  ScreenPlan screen;
};

// Collective. Usage errors (bad parameters, d < n for the generator) and input errors (unreadable or
// malformed file, rank-deficient X X^T) are agreed across ranks and thrown on every rank before
// anything is run or written. Times generation into setup_seconds and reading into io_seconds.
std::unique_ptr<harness::Case> make_sparsify_case(const dist::Comm& comm, const CaseConfig& config,
                                                  double& setup_seconds, double& io_seconds,
                                                  ProblemInfo* info = nullptr);

}  // namespace attnbench::sparsify
