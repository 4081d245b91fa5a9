#pragma once
// Vectorized elementwise kernels of the softmax, dispatched at run time to the widest ISA the CPU
// has: AVX-512F (SLEEF's Sleef_exp{d8,f16}_u10avx512f), AVX2+FMA (Sleef_exp{d4,f8}_u10avx2) or
// the x86-64 baseline SSE2 (Sleef_exp{d2,f4}_u10sse2). Each ISA is its own translation unit
// compiled with that ISA's flags (vector_math_<isa>.cpp), so a portable build (no -march=native)
// runs the same AVX-512/AVX2 code as a native one and still runs on an older CPU. The choice is
// made once, on first use, from cpuid (__builtin_cpu_supports, which also checks that the OS
// saves the vector state); ATTNBENCH_VECTOR_ISA=avx512|avx2|sse2 forces a lower one (a request
// for an ISA the CPU lacks falls back to the detected one, so it can never crash).
//
// Accuracy: SLEEF's u10 exp is within 1.0 ulp of the correctly rounded result; the argument
// x - shift is rounded once before it (so tests bound |got - exp(x - shift)| in ulps of T,
// against glibc's exp evaluated in long double, by 4 ulp on every path).
#include <cstdint>
#include <string>
#include <vector>

#include "linalg/softmax_tile.hpp"

namespace attnbench::linalg {

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values (accumulated in T).
float exp_shift_sum(float* x, std::int64_t n, float shift);
double exp_shift_sum(double* x, std::int64_t n, double shift);

// max_i x[i] for n >= 1 (vectorized; NaN-propagation is not guaranteed, inputs are finite).
float max_element(const float* x, std::int64_t n);
double max_element(const double* x, std::int64_t n);

// The fused online-softmax update of one score tile (see softmax_tile.hpp).
void softmax_tile_update(const SoftmaxTile<float>& t);
void softmax_tile_update(const SoftmaxTile<double>& t);

// ---- ISA selection --------------------------------------------------------------------------------
enum class VectorIsa { sse2, avx2, avx512 };
std::string to_string(VectorIsa isa);

// The ISA the dispatched functions above use (fixed for the life of the process).
VectorIsa active_vector_isa();
// For provenance: "sleef-avx512f (runtime dispatch; compiled: avx512f avx2 sse2)".
std::string vector_isa();
// Kept for the provenance module: same as vector_isa().
const char* vector_exp_isa();

// The ISAs this build compiled and this CPU can run (for tests that check every path).
std::vector<VectorIsa> runnable_vector_isas();
// The ISAs this build compiled, whether or not the CPU can run them.
std::vector<VectorIsa> compiled_vector_isas();

// The same kernels on an explicitly chosen ISA (tests and benchmarks). Throws internal_error when
// `isa` is not runnable here.
namespace isa_path {
float exp_shift_sum(VectorIsa isa, float* x, std::int64_t n, float shift);
double exp_shift_sum(VectorIsa isa, double* x, std::int64_t n, double shift);
float max_element(VectorIsa isa, const float* x, std::int64_t n);
double max_element(VectorIsa isa, const double* x, std::int64_t n);
void softmax_tile_update(VectorIsa isa, const SoftmaxTile<float>& t);
void softmax_tile_update(VectorIsa isa, const SoftmaxTile<double>& t);
}  // namespace isa_path

}  // namespace attnbench::linalg
