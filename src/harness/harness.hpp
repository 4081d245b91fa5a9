#pragma once
// The harness: runs one configured case of any kernel, the same way for every kernel.
//   set-up (timed: setup / io) -> warm-up -> timed repetitions (barrier, total + the kernel's phases,
//   every repetition kept) -> same-run reference rates (GEMM on the kernel's shapes after every
//   repetition, a large-GEMM peak, memory bandwidth for memory-bound kernels) -> validation (a
//   non-finite error or tolerance is INVALID whatever the kernel says) -> peak RSS -> archive ->
//   one summary line -> exit code (0 valid, 4 invalid; identical on every rank).
#include "dist/comm.hpp"
#include "harness/kernel.hpp"

namespace attnbench::harness {

// Collective over comm. Returns the exit code (identical on every rank); throws agreed
// attnbench::Errors for usage, input, does-not-fit and archive failures.
int run_case(const dist::Comm& comm, const KernelSpec& kernel, const CommonOptions& common,
             const OptionValues& options, int argc, char** argv);

// "1.5 GiB": for progress and summaries.
std::string human_bytes(double bytes);

}  // namespace attnbench::harness
