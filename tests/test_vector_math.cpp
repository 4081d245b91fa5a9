// Every vector-math path this build compiled and this CPU can run (AVX-512F, AVX2, SSE2), called
// explicitly through linalg::isa_path, against glibc's exp (expl, in long double) to the documented
// bound of 4 ulp of T (SLEEF u10: 1 ulp; the rest is headroom for the value the kernel stores,
// which is exp of x - shift rounded in T, and the reference uses that same rounded argument).
// Paths the CPU cannot run are listed and skipped (GTEST_SKIP says which), never reported as passed.
// Also: the fused softmax tile update against a plain two-pass computation, with and without a
// causal prefix mask, on every path; and that the dispatch picks the widest runnable ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "linalg/vector_math.hpp"

using namespace attnbench;
using linalg::VectorIsa;

namespace {

constexpr double kUlpBound = 4.0;

template <class T>
double ulp_error(T got, long double ref) {
  const long double r = static_cast<T>(ref);
  long double ulp = std::nextafter(static_cast<T>(std::abs(r)), std::numeric_limits<T>::infinity()) - std::abs(r);
  if (!(ulp > 0)) ulp = std::numeric_limits<T>::denorm_min();
  return static_cast<double>(std::abs(static_cast<long double>(got) - ref) / ulp);
}

bool cpu_runs(VectorIsa isa) {
  for (VectorIsa r : linalg::runnable_vector_isas())
    if (r == isa) return true;
  return false;
}

struct Param {
  VectorIsa isa;
};
std::string param_name(const ::testing::TestParamInfo<Param>& p) { return linalg::to_string(p.param.isa); }

class VectorIsaPath : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (!cpu_runs(GetParam().isa))
      GTEST_SKIP() << linalg::to_string(GetParam().isa) << " is compiled but this CPU cannot run it";
  }
};

template <class T>
void check_exp_path(VectorIsa isa, std::vector<T> x0, T shift) {
  std::vector<T> x = x0;
  const T sum = linalg::isa_path::exp_shift_sum(isa, x.data(), static_cast<std::int64_t>(x.size()), shift);
  long double ref_sum = 0, got_sum = 0;
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double ref = std::exp(static_cast<long double>(static_cast<T>(x0[i] - shift)));
    ref_sum += ref;
    got_sum += x[i];
    const double e = ulp_error(x[i], ref);
    worst = std::max(worst, e);
    ASSERT_LE(e, kUlpBound) << linalg::to_string(isa) << " n=" << x.size() << " i=" << i << " x=" << x0[i]
                            << " shift=" << shift;
  }
  const long double tol = (static_cast<long double>(x.size()) + 2) * std::numeric_limits<T>::epsilon() * ref_sum;
  EXPECT_LE(std::abs(static_cast<long double>(sum) - got_sum), tol + std::numeric_limits<T>::denorm_min());
}

template <class T>
void exp_all_lengths(VectorIsa isa) {
  // 0..70 covers every remainder of the 2..16-wide, 2x unrolled loops and the padded tail.
  for (std::size_t n = 0; n <= 70; ++n) {
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<T>(-30.0 * uniform01(n, Stream::user, i) + 1.0);
    check_exp_path<T>(isa, x, T(0.5));
  }
  const double lo = std::is_same_v<T, float> ? -87.0 : -708.0;  // down to the smallest normal results
  std::vector<T> x(4099);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(lo * uniform01(7, Stream::user, i));
  check_exp_path<T>(isa, x, T(0));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(500.0 - 40.0 * uniform01(8, Stream::user, i));
  check_exp_path<T>(isa, x, T(500));
}

template <class T>
void special_values(VectorIsa isa) {
  const T inf = std::numeric_limits<T>::infinity();
  for (std::size_t n : {1u, 3u, 8u, 17u, 33u, 64u}) {
    std::vector<T> x(n, T(3));
    x[n / 2] = -inf;
    const T s = linalg::isa_path::exp_shift_sum(isa, x.data(), static_cast<std::int64_t>(n), T(3));
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], i == n / 2 ? T(0) : T(1)) << "n=" << n << " i=" << i;
    EXPECT_EQ(s, static_cast<T>(n - 1));
    std::vector<T> z(n, T(0));
    z[n - 1] = std::numeric_limits<T>::quiet_NaN();
    EXPECT_TRUE(std::isnan(linalg::isa_path::exp_shift_sum(isa, z.data(), static_cast<std::int64_t>(n), T(0))));
    // max over every length and position of the maximum.
    for (std::size_t at = 0; at < n; ++at) {
      std::vector<T> y(n);
      for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<T>(-uniform01(n, Stream::user, i));
      y[at] = T(2);
      EXPECT_EQ(linalg::isa_path::max_element(isa, y.data(), static_cast<std::int64_t>(n)), T(2)) << n << " " << at;
    }
  }
}

// The fused tile update against the plain definition, applied to two tiles in a row (so the
// rescaling of row sums and of O's rows is exercised), with and without per-row prefix masks.
template <class T>
void fused_tile(VectorIsa isa, bool masked) {
  const std::int64_t rows = 13, cols = 37, lds = 41, dv = 11, ldacc = 12;
  std::vector<T> row_max(rows, -std::numeric_limits<T>::infinity()), row_sum(rows, T(0));
  std::vector<T> acc(static_cast<std::size_t>(rows * ldacc), T(1));
  std::vector<long double> m_ref(rows, -INFINITY), l_ref(rows, 0), scale_ref(rows, 1);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<T> S(static_cast<std::size_t>(rows * lds));
    for (std::size_t i = 0; i < S.size(); ++i)
      S[i] = static_cast<T>(20.0 * uniform01(100 + static_cast<std::uint64_t>(pass), Stream::user, i) - 5.0 * pass);
    const auto S0 = S;
    std::vector<std::int64_t> lens(rows);
    for (std::int64_t i = 0; i < rows; ++i) lens[static_cast<std::size_t>(i)] = masked ? (i * 7 + pass * 5) % (cols + 1) : cols;
    linalg::SoftmaxTile<T> t;
    t.S = S.data();
    t.rows = rows;
    t.cols = cols;
    t.lds = lds;
    t.lens = masked ? lens.data() : nullptr;
    t.row_max = row_max.data();
    t.row_sum = row_sum.data();
    t.acc = acc.data();
    t.ldacc = ldacc;
    t.dv = dv;
    linalg::isa_path::softmax_tile_update(isa, t);
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      const std::int64_t len = lens[ui];
      long double mx = m_ref[ui];
      for (std::int64_t j = 0; j < len; ++j) mx = std::max<long double>(mx, S0[static_cast<std::size_t>(i * lds + j)]);
      long double sum = 0;
      for (std::int64_t j = 0; j < cols; ++j) {
        const T got = S[static_cast<std::size_t>(i * lds + j)];
        if (j >= len || mx == -INFINITY) {
          EXPECT_EQ(got, T(0)) << "masked entry " << i << "," << j;
          continue;
        }
        const long double ref = std::exp(static_cast<long double>(static_cast<T>(S0[static_cast<std::size_t>(i * lds + j)] - static_cast<T>(mx))));
        EXPECT_LE(ulp_error(got, ref), kUlpBound) << i << "," << j;
        sum += ref;
      }
      // S's padding columns (cols <= j < lds) are never touched.
      for (std::int64_t j = cols; j < lds; ++j) EXPECT_EQ(S[static_cast<std::size_t>(i * lds + j)], S0[static_cast<std::size_t>(i * lds + j)]);
      if (mx == -INFINITY) {
        EXPECT_EQ(row_max[ui], -std::numeric_limits<T>::infinity());
        EXPECT_EQ(row_sum[ui], T(0));
        continue;
      }
      const long double a = m_ref[ui] == -INFINITY ? 0.0L : std::exp(m_ref[ui] - mx);
      l_ref[ui] = a * l_ref[ui] + sum;
      scale_ref[ui] *= (m_ref[ui] == mx ? 1.0L : a);
      m_ref[ui] = mx;
      const double eps = std::numeric_limits<T>::epsilon();
      EXPECT_EQ(row_max[ui], static_cast<T>(mx));
      EXPECT_NEAR(static_cast<double>(row_sum[ui]), static_cast<double>(l_ref[ui]), 8 * cols * eps * static_cast<double>(l_ref[ui]));
      for (std::int64_t c = 0; c < ldacc; ++c) {
        const T got = acc[static_cast<std::size_t>(i * ldacc + c)];
        if (c >= dv) {
          EXPECT_EQ(got, T(1)) << "acc padding touched";  // beyond dv: untouched
        } else {
          EXPECT_NEAR(static_cast<double>(got), static_cast<double>(scale_ref[ui]), 4 * eps * static_cast<double>(scale_ref[ui]) + 1e-300);
        }
      }
    }
  }
}

}  // namespace

TEST_P(VectorIsaPath, ExpFloatWithinUlpBound) { exp_all_lengths<float>(GetParam().isa); }
TEST_P(VectorIsaPath, ExpDoubleWithinUlpBound) { exp_all_lengths<double>(GetParam().isa); }
TEST_P(VectorIsaPath, SpecialValuesAndMaxFloat) { special_values<float>(GetParam().isa); }
TEST_P(VectorIsaPath, SpecialValuesAndMaxDouble) { special_values<double>(GetParam().isa); }
TEST_P(VectorIsaPath, FusedTileFloat) {
  fused_tile<float>(GetParam().isa, false);
  fused_tile<float>(GetParam().isa, true);
}
TEST_P(VectorIsaPath, FusedTileDouble) {
  fused_tile<double>(GetParam().isa, false);
  fused_tile<double>(GetParam().isa, true);
}

// Every ISA of this build (x86-64: all three are compiled); the CPU decides which run.
INSTANTIATE_TEST_SUITE_P(EveryCompiledIsa, VectorIsaPath,
                         ::testing::Values(Param{VectorIsa::avx512}, Param{VectorIsa::avx2}, Param{VectorIsa::sse2}),
                         param_name);

TEST(VectorIsaDispatch, PicksTheWidestRunnableIsa) {
  const auto runnable = linalg::runnable_vector_isas();
  ASSERT_FALSE(runnable.empty());
  EXPECT_EQ(linalg::compiled_vector_isas().size(), 3u);
  // runnable_vector_isas is ordered widest first; without an override the dispatch takes it.
  if (std::getenv("ATTNBENCH_VECTOR_ISA") == nullptr) {
    EXPECT_EQ(linalg::active_vector_isa(), runnable.front());
  }
  EXPECT_NE(linalg::vector_isa().find("runtime dispatch"), std::string::npos);
  // A path the CPU cannot run is refused, not executed.
  for (VectorIsa isa : linalg::compiled_vector_isas())
    if (!cpu_runs(isa)) {
      float x = 0.0f;
      EXPECT_THROW(linalg::isa_path::exp_shift_sum(isa, &x, 1, 0.0f), Error);
    }
  std::printf("vector ISA: %s; runnable here:", linalg::vector_isa().c_str());
  for (VectorIsa isa : runnable) std::printf(" %s", linalg::to_string(isa).c_str());
  std::printf("\n");
}
