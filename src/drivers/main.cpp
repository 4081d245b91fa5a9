// attnbench entry point: the registered kernels, run by the application driver (app.cpp).
#include "drivers/app.hpp"
#include "drivers/registry.hpp"

int main(int argc, char** argv) { return attnbench::drivers::run_main(argc, argv, attnbench::drivers::kernels()); }
