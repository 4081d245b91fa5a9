#pragma once
// `attnbench gen --kernel sparsify`: X (n x d) from the kernel's own generator, as a dense /X or an
// anndata CSC/CSR group (the kernel's GenSpec, harness/kernel.hpp).
#include "harness/kernel.hpp"

namespace attnbench::sparsify {
harness::GenSpec sparsify_gen();
}
