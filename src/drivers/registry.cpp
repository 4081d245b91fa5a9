#include "drivers/registry.hpp"

#include "attention/kernel.hpp"

namespace attnbench::drivers {

const std::vector<harness::KernelSpec>& kernels() {
  static const std::vector<harness::KernelSpec> all = {
      attention::attention_kernel(),
  };
  return all;
}

}  // namespace attnbench::drivers
