#pragma once
// Access to the world communicator for MPI tests (set once by mpi_test_main.cpp).
#include "dist/comm.hpp"

namespace attnbench::testing_support {

void set_world(const dist::Comm& world);
const dist::Comm& world();

}  // namespace attnbench::testing_support
