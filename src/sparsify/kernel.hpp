#pragma once
// The sparsify kernel's plug-in (harness/kernel.hpp): `attnbench sparsify --algo <method> ...`.
#include "harness/kernel.hpp"

namespace attnbench::sparsify {
harness::KernelSpec sparsify_kernel();
}
