#pragma once
// Internal to linalg: the table of one ISA's kernels. Each vector_math_<isa>.cpp defines one table
// and is compiled with that ISA's flags; vector_math.cpp picks one at run time. Nothing here may be
// an inline function or template shared with other translation units (the linker could keep the
// AVX-512 copy of it for everyone), so the tables hold plain function pointers.
#include <cstdint>

#include "linalg/softmax_tile.hpp"

namespace attnbench::linalg::detail {

struct VectorKernels {
  const char* name;  // "avx512f", "avx2", "sse2"
  float (*exp_shift_sum_f)(float*, std::int64_t, float);
  double (*exp_shift_sum_d)(double*, std::int64_t, double);
  float (*max_f)(const float*, std::int64_t);
  double (*max_d)(const double*, std::int64_t);
  void (*softmax_tile_f)(const SoftmaxTile<float>&);
  void (*softmax_tile_d)(const SoftmaxTile<double>&);
};

// nullptr when the ISA was not compiled into this build.
const VectorKernels* avx512_kernels();
const VectorKernels* avx2_kernels();
const VectorKernels* sse2_kernels();

}  // namespace attnbench::linalg::detail
