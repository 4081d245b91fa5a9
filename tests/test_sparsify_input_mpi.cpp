// HDF5 input of the sparsify kernel (sparsify/input.hpp) at 1-4 ranks: dense /X, anndata-style CSC
// and CSR groups give the same column blocks and the same selections as the generator's X; every
// malformed sparse group is an input error (exit 3) naming the dataset, identical on every rank.
// The test files are written by rank 0 with the serial HDF5 C API (independent of the reader).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <functional>
#include <limits>

#include "core/error.hpp"
#include "sparsify/input.hpp"
#include "sparsify/reference.hpp"
#include "sparsify/sparsify.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"
#include "mpi_test_util.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {

struct Csx {
  std::vector<double> data;
  std::vector<std::int64_t> indices, indptr;
};
Csx to_csc(const Matrix<double>& X) {
  Csx c;
  c.indptr.push_back(0);
  for (std::int64_t j = 0; j < X.cols(); ++j) {
    for (std::int64_t i = 0; i < X.rows(); ++i)
      if (X(i, j) != 0.0) {
        c.data.push_back(X(i, j));
        c.indices.push_back(i);
      }
    c.indptr.push_back(static_cast<std::int64_t>(c.data.size()));
  }
  return c;
}
Csx to_csr(const Matrix<double>& X) {
  Csx c;
  c.indptr.push_back(0);
  for (std::int64_t i = 0; i < X.rows(); ++i) {
    for (std::int64_t j = 0; j < X.cols(); ++j)
      if (X(i, j) != 0.0) {
        c.data.push_back(X(i, j));
        c.indices.push_back(j);
      }
    c.indptr.push_back(static_cast<std::int64_t>(c.data.size()));
  }
  return c;
}

// Serial HDF5 writers (rank 0 only).
void write_1d(hid_t loc, const char* name, hid_t type, const void* buf, std::size_t len) {
  hsize_t dims[1] = {len};
  hid_t sp = H5Screate_simple(1, dims, nullptr);
  hid_t ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (len > 0) H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(ds);
  H5Sclose(sp);
}
void write_group(const std::string& path, const Csx& c, const std::string& enc, std::vector<std::int64_t> shape,
                 bool with_enc = true) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t g = H5Gcreate2(f, "/X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  write_1d(g, "data", H5T_NATIVE_DOUBLE, c.data.data(), c.data.size());
  write_1d(g, "indices", H5T_NATIVE_INT32, std::vector<int>(c.indices.begin(), c.indices.end()).data(), c.indices.size());
  write_1d(g, "indptr", H5T_NATIVE_INT64, c.indptr.data(), c.indptr.size());
  if (with_enc) {
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "encoding-type", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char* s = enc.c_str();
    H5Awrite(a, st, &s);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(st);
  }
  hsize_t two[1] = {shape.size()};
  hid_t sp = H5Screate_simple(1, two, nullptr);
  hid_t a = H5Acreate2(g, "shape", H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, shape.data());
  H5Aclose(a);
  H5Sclose(sp);
  H5Gclose(g);
  H5Fclose(f);
}
void write_dense(const std::string& path, const Matrix<double>& X, bool as_float) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {static_cast<hsize_t>(X.rows()), static_cast<hsize_t>(X.cols())};
  hid_t sp = H5Screate_simple(2, dims, nullptr);
  hid_t ds = H5Dcreate2(f, "/X", as_float ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, X.data());
  H5Dclose(ds);
  H5Sclose(sp);
  H5Fclose(f);
}

// Runs `write` on rank 0, then reads collectively; returns the agreed exit code and message.
std::pair<int, std::string> read_code(const dist::Comm& comm, const std::string& path, const std::function<void()>& write) {
  if (comm.is_root()) write();
  comm.barrier();
  try {
    read_input<double>(comm, path, nullptr);
  } catch (const Error& e) {
    return {static_cast<int>(e.code()), e.what()};
  }
  return {0, ""};
}

bool same_block(const ColumnBlock<double>& a, const ColumnBlock<double>& b) {
  if (a.n != b.n || a.d != b.d || a.col0 != b.col0 || a.cols != b.cols) return false;
  std::vector<double> x(static_cast<std::size_t>(a.n)), y(static_cast<std::size_t>(a.n));
  for (std::int64_t j = 0; j < a.cols; ++j) {
    a.column(j, x.data());
    b.column(j, y.data());
    if (x != y) return false;
  }
  return true;
}

TEST(SparsifyInput, DenseCscCsrGiveTheSameBlocksAndSelections) {
  const auto& comm = testing_support::world();
  testing_support::ScratchDir dir(comm);
  SyntheticSpec s{.n = 5, .d = 23, .r = 0.06, .density = 0.35, .coherence = 0.2, .seed = 4};
  const auto X = whole(comm, s);
  const auto ref = local_block<double>(comm, s);
  if (comm.is_root()) {
    write_dense(dir.file("dense.h5"), X, false);
    write_group(dir.file("csc.h5"), to_csc(X), "csc_matrix", {s.n, s.d});
    write_group(dir.file("csr.h5"), to_csr(X), "csr_matrix", {s.n, s.d});
  }
  comm.barrier();
  for (const char* name : {"dense.h5", "csc.h5", "csr.h5"}) {
    InputInfo info;
    const auto B = read_input<double>(comm, dir.file(name), &info);
    EXPECT_TRUE(same_block(B, ref)) << name;
    EXPECT_EQ(info.n, s.n);
    EXPECT_EQ(info.d, s.d);
    EXPECT_EQ(B.sparse, std::string(name) != "dense.h5") << name;
    for (Method m : {Method::leverage, Method::bss, Method::leverage_sketch}) {
      Params p;
      p.method = m;
      p.m = 30;
      const Result a = run(comm, B, p, lapack()), b = run(comm, ref, p, lapack());
      EXPECT_EQ(a.columns, b.columns) << name << " " << to_string(m);
    }
  }
  // float32 dense input converts on read.
  if (comm.is_root()) write_dense(dir.file("dense32.h5"), X, true);
  comm.barrier();
  const auto Bf = read_input<float>(comm, dir.file("dense32.h5"), nullptr);
  EXPECT_EQ(Bf.cols, ref.cols);
}

TEST(SparsifyInput, MalformedInputsAreInputErrorsNamingTheDataset) {
  const auto& comm = testing_support::world();
  testing_support::ScratchDir dir(comm);
  SyntheticSpec s{.n = 4, .d = 13, .r = 0.06, .density = 0.5, .coherence = 0.0, .seed = 8};
  const auto X = whole(comm, s);
  const Csx csc = to_csc(X), csr = to_csr(X);
  const std::string f = dir.file("bad.h5");
  struct Case {
    std::string what, expect;
    std::function<void()> write;
  };
  std::vector<Case> cases = {
      {"indptr not monotone", "/X/indptr", [&] { auto c = csc; std::swap(c.indptr[3], c.indptr[4]); if (c.indptr[3] == c.indptr[4]) c.indptr[4] -= 1; write_group(f, c, "csc_matrix", {s.n, s.d}); }},
      {"indptr[0] != 0", "/X/indptr", [&] { auto c = csc; c.indptr[0] = 1; write_group(f, c, "csc_matrix", {s.n, s.d}); }},
      {"index out of range", "/X/indices", [&] { auto c = csc; c.indices[2] = s.n; write_group(f, c, "csc_matrix", {s.n, s.d}); }},
      {"negative index", "/X/indices", [&] { auto c = csr; c.indices[1] = -1; write_group(f, c, "csr_matrix", {s.n, s.d}); }},
      {"unsorted indices", "/X/indices", [&] {
         auto c = csr;  // swap two entries of row 0
         std::swap(c.indices[0], c.indices[1]);
         write_group(f, c, "csr_matrix", {s.n, s.d}); }},
      {"lengths disagree", "/X/data", [&] { auto c = csc; c.data.pop_back(); write_group(f, c, "csc_matrix", {s.n, s.d}); }},
      {"shape disagrees with indptr", "/X/indptr", [&] { write_group(f, csc, "csc_matrix", {s.n, s.d + 1}); }},
      {"csr given as csc", "/X/indptr", [&] { write_group(f, csr, "csc_matrix", {s.n, s.d}); }},
      {"missing encoding-type", "encoding-type", [&] { write_group(f, csc, "", {s.n, s.d}, false); }},
      {"unknown encoding-type", "encoding-type", [&] { write_group(f, csc, "coo_matrix", {s.n, s.d}); }},
      {"bad shape attribute", "shape", [&] { write_group(f, csc, "csc_matrix", {s.n}); }},
      {"d < n", "d = ", [&] { Matrix<double> T(6, 4, 0.1); write_dense(f, T, false); }},
      {"non-finite value", "/X/data", [&] { auto c = csc; c.data[5] = std::numeric_limits<double>::quiet_NaN(); write_group(f, c, "csc_matrix", {s.n, s.d}); }},
      {"non-finite dense value", "/X", [&] { auto T = X; T(1, 7) = std::numeric_limits<double>::infinity(); write_dense(f, T, false); }},
      {"missing /X", "missing /X", [&] { hid_t h = H5Fcreate(f.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT); H5Fclose(h); }},
      {"not an HDF5 file", "not an HDF5 file", [&] { FILE* h = std::fopen(f.c_str(), "w"); std::fputs("hello", h); std::fclose(h); }},
  };
  for (const auto& c : cases) {
    const auto [code, msg] = read_code(comm, f, c.write);
    EXPECT_EQ(code, 3) << c.what << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    // Identical on every rank.
    EXPECT_EQ(comm.allreduce(code, dist::Op::min), comm.allreduce(code, dist::Op::max)) << c.what;
    comm.barrier();
  }
}

}  // namespace
