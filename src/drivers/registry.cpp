#include "drivers/registry.hpp"

#include "attention/kernel.hpp"
#include "regress/kernel.hpp"
#include "solve/kernel.hpp"
#include "sparsify/kernel.hpp"

namespace attnbench::drivers {

const std::vector<harness::KernelSpec>& kernels() {
  static const std::vector<harness::KernelSpec> all = {
      attention::attention_kernel(),
      solve::solve_kernel(),
      sparsify::sparsify_kernel(),
      regress::regress_kernel(),
  };
  return all;
}

}  // namespace attnbench::drivers
