#pragma once
// Problem instances: the synthetic planted instance (from a seed) and HDF5 input.
//
// Planted (--n --d --seed --init-distance delta --noise sigma): A1, A2, A3 uniform in [-1, 1);
// X* uniform in [-1, 1) * 8 / (s d): a logit s a1^T X* a2 is a sum of d^2 independent terms of
// variance (1/3)^2 (64/3) / (s d)^2 s^2, so its standard deviation is sqrt(64/27) = 1.54 whatever s
// and d (1.36-1.54 measured): softmax rows far enough from uniform that F, and so the Hessian,
// depend on X, and far from one-hot, where the gradient vanishes. Y* uniform in [-1, 1);
// B = F(X*) A3 Y* + sigma N(0, 1), planted in whole global tiles (bitwise rank-invariant). The start is
// X0 = X* + delta |X*|_F E_X / |E_X|_F (E_X uniform in [-1, 1)), likewise Y0: delta is the
// relative distance of the start from the planted solution. Every value is a function of (seed,
// stream, global index): the instance does not depend on the number of ranks.
//
// Input file: /A1, /A2, /A3, /B (n x d), optional /X0, /Y0 (d x d), any floating type. Missing
// X0 / Y0 start at zero. Each rank reads its rows of A1 and B and all rows of A2 and A3 (one
// collective read each: n d values per rank for the key side).
#include <cstdint>
#include <string>

#include "dist/comm.hpp"
#include "regress/problem.hpp"

namespace attnbench::regress {

struct PlantedSpec {
  std::int64_t n = 256;
  std::int64_t d = 4;
  double scale = 1.0;
  std::uint64_t seed = 42;
  double init_distance = 0.01;
  double noise = 0.0;
};

template <class T>
struct Instance {
  RegressData<T> data;
  std::vector<T> x0;             // [vec X0; vec Y0]
  bool planted = false;
  std::vector<T> x_star;         // [vec X*; vec Y*] (planted only)
};

// Collective (the forward pass that plants B runs on each rank's own rows; no communication).
template <class T>
Instance<T> make_planted(const dist::Comm& comm, const PlantedSpec& spec);

// Collective. Errors (missing file or dataset, shape mismatch, NaN/Inf, d < 1) are agreed across
// ranks and thrown on every rank as input errors naming the file and dataset.
template <class T>
Instance<T> read_instance(const dist::Comm& comm, const std::string& path, double scale);

// Shape of an input file's problem (n, d), read and checked (collective, agreed errors).
struct InputShape {
  std::int64_t n = 0, d = 0;
  bool has_X0 = false, has_Y0 = false;
};
InputShape inspect_input(const dist::Comm& comm, const std::string& path);

}  // namespace attnbench::regress
