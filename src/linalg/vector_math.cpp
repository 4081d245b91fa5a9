#include "linalg/vector_math.hpp"

#include <cstdlib>
#include <string_view>

#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "linalg/vector_math_kernels.hpp"

namespace attnbench::linalg {

namespace {

using detail::VectorKernels;

const VectorKernels* compiled(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::avx512: return detail::avx512_kernels();
    case VectorIsa::avx2: return detail::avx2_kernels();
    case VectorIsa::sse2: return detail::sse2_kernels();
  }
  return nullptr;
}

// cpuid, as the compiler runtime sees it (it also checks XCR0, i.e. that the OS saves ymm/zmm).
bool cpu_supports(VectorIsa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case VectorIsa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case VectorIsa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case VectorIsa::sse2: return true;  // the x86-64 baseline
  }
  return false;
}

bool runnable(VectorIsa isa) { return compiled(isa) != nullptr && cpu_supports(isa); }

VectorIsa pick() {
  VectorIsa best = VectorIsa::sse2;
  for (VectorIsa isa : {VectorIsa::avx512, VectorIsa::avx2})
    if (runnable(isa)) {
      best = isa;
      break;
    }
  // ATTNBENCH_VECTOR_ISA may only lower the choice (benchmarks of the older paths); an unknown or
  // unsupported value is ignored rather than risking an illegal instruction.
  if (const char* env = std::getenv("ATTNBENCH_VECTOR_ISA")) {
    const std::string_view want(env);
    for (VectorIsa isa : {VectorIsa::sse2, VectorIsa::avx2, VectorIsa::avx512})
      if (want == to_string(isa) && runnable(isa) && static_cast<int>(isa) <= static_cast<int>(best)) best = isa;
  }
  return best;
}

const VectorKernels& active() {
  static const VectorKernels* k = compiled(pick());
  return *k;
}

const VectorKernels& kernels_for(VectorIsa isa) {
  if (!runnable(isa)) throw internal_error("vector ISA " + to_string(isa) + " is not runnable on this CPU/build");
  return *compiled(isa);
}

}  // namespace

std::string to_string(VectorIsa isa) {
  static constexpr EnumNames<VectorIsa, 3> kNames{
      {{VectorIsa::avx512, "avx512"}, {VectorIsa::avx2, "avx2"}, {VectorIsa::sse2, "sse2"}}};
  return enum_name(kNames, isa);
}

VectorIsa active_vector_isa() {
  static const VectorIsa isa = pick();
  return isa;
}

std::vector<VectorIsa> compiled_vector_isas() {
  std::vector<VectorIsa> out;
  for (VectorIsa isa : {VectorIsa::avx512, VectorIsa::avx2, VectorIsa::sse2})
    if (compiled(isa)) out.push_back(isa);
  return out;
}

std::vector<VectorIsa> runnable_vector_isas() {
  std::vector<VectorIsa> out;
  for (VectorIsa isa : compiled_vector_isas())
    if (cpu_supports(isa)) out.push_back(isa);
  return out;
}

std::string vector_isa() {
  std::string s = "sleef-";
  s += active().name;
  s += " (runtime dispatch; compiled:";
  for (VectorIsa isa : compiled_vector_isas())
    if (const VectorKernels* k = compiled(isa)) {
      s += ' ';
      s += k->name;
    }
  s += ')';
  return s;
}

const char* vector_exp_isa() {
  static const std::string s = vector_isa();
  return s.c_str();
}

float exp_shift_sum(float* x, std::int64_t n, float shift) { return active().exp_shift_sum_f(x, n, shift); }
double exp_shift_sum(double* x, std::int64_t n, double shift) { return active().exp_shift_sum_d(x, n, shift); }
float max_element(const float* x, std::int64_t n) { return active().max_f(x, n); }
double max_element(const double* x, std::int64_t n) { return active().max_d(x, n); }
void softmax_tile_update(const SoftmaxTile<float>& t) { active().softmax_tile_f(t); }
void softmax_tile_update(const SoftmaxTile<double>& t) { active().softmax_tile_d(t); }

namespace isa_path {
float exp_shift_sum(VectorIsa isa, float* x, std::int64_t n, float shift) {
  return kernels_for(isa).exp_shift_sum_f(x, n, shift);
}
double exp_shift_sum(VectorIsa isa, double* x, std::int64_t n, double shift) {
  return kernels_for(isa).exp_shift_sum_d(x, n, shift);
}
float max_element(VectorIsa isa, const float* x, std::int64_t n) { return kernels_for(isa).max_f(x, n); }
double max_element(VectorIsa isa, const double* x, std::int64_t n) { return kernels_for(isa).max_d(x, n); }
void softmax_tile_update(VectorIsa isa, const SoftmaxTile<float>& t) { kernels_for(isa).softmax_tile_f(t); }
void softmax_tile_update(VectorIsa isa, const SoftmaxTile<double>& t) { kernels_for(isa).softmax_tile_d(t); }
}  // namespace isa_path

}  // namespace attnbench::linalg
