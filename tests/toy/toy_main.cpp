// attnbench with the real kernels plus the test-only `toy` kernel: the one registration a new
// kernel needs.
#include "drivers/app.hpp"
#include "drivers/registry.hpp"
#include "toy/toy_kernel.hpp"

int main(int argc, char** argv) {
  auto kernels = attnbench::drivers::kernels();
  kernels.push_back(attnbench::toy::toy_kernel());
  return attnbench::drivers::run_main(argc, argv, kernels);
}
