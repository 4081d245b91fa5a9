// HDF5 attention input: collective round trip (float, double, n not divisible by p, p > n,
// cross-attention shapes, reading in the other precision), the Fletcher32 filter on every
// dataset, and detection of a corrupted byte on read, agreed on every rank.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <type_traits>

#include "attention_test_util.hpp"
#include "core/error.hpp"
#include "attention/input/input.hpp"
#include "mpi_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using testing_support::ScratchDir;

namespace {

// Q (nq x d) and K, V (nk x d, nk x dv) distributed by block rows over comm.
template <class T>
AttentionProblem<T> make_problem(const dist::Comm& comm, std::int64_t nq, std::int64_t nk, std::int64_t d, std::int64_t dv,
                                 std::uint64_t seed) {
  const dist::BlockRowLayout q(nq, comm.size()), kv(nk, comm.size());
  const int r = comm.rank();
  return single_head_from_rows<T>(nq, nk, comm.size(),
                                  synthetic_rows<T>(seed, Stream::Q, q.row_offset(r), q.local_rows(r), d, 3.0),
                                  synthetic_rows<T>(seed, Stream::K, kv.row_offset(r), kv.local_rows(r), d, 3.0),
                                  synthetic_rows<T>(seed, Stream::V, kv.row_offset(r), kv.local_rows(r), dv, 3.0));
}

// Number of entries where got != static_cast<U>(want) (exact comparison: HDF5 converts with
// ordinary rounding, float -> double is exact).
template <class U, class T>
std::int64_t mismatches(const Matrix<U>& got, const Matrix<T>& want) {
  if (got.rows() != want.rows() || got.cols() != want.cols()) return -1;
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < got.size(); ++i) bad += got.data()[i] != static_cast<U>(want.data()[i]) ? 1 : 0;
  return bad;
}

template <class T, class U>
void round_trip(const ScratchDir& dir, std::int64_t nq, std::int64_t nk, std::int64_t d, std::int64_t dv) {
  const auto& comm = testing_support::world();
  const std::string path = dir.file("rt_" + std::to_string(sizeof(T)) + "_" + std::to_string(nq) + "_" +
                                    std::to_string(nk) + ".h5");
  const auto p = make_problem<T>(comm, nq, nk, d, dv, 5);
  EXPECT_NO_THROW(attention::write_attention_input(comm, path, p, 2));
  attention::InputInfo info;
  const auto back = attention::read_attention_input<U>(comm, path, &info);
  const std::string what = "T=" + std::to_string(sizeof(T)) + " U=" + std::to_string(sizeof(U)) + " nq=" +
                           std::to_string(nq) + " nk=" + std::to_string(nk) + " rank " + std::to_string(comm.rank()) +
                           "/" + std::to_string(comm.size());
  EXPECT_EQ(back.layout_q, p.layout_q) << what;
  EXPECT_EQ(back.layout_kv, p.layout_kv) << what;
  EXPECT_EQ(back.shape.d, d) << what;
  EXPECT_EQ(back.shape.dv, dv) << what;
  EXPECT_EQ(back.source, path);
  EXPECT_EQ(mismatches(back.Q_local, p.Q_local), 0) << what;
  EXPECT_EQ(mismatches(back.K_local, p.K_local), 0) << what;
  EXPECT_EQ(mismatches(back.V_local, p.V_local), 0) << what;
  EXPECT_EQ(info.n_q, nq);
  EXPECT_EQ(info.n_kv, nk);
  EXPECT_EQ(info.d, d);
  EXPECT_EQ(info.dv, dv);
  EXPECT_EQ(info.dtype, (std::is_same_v<T, float> ? "float32" : "float64"));
}

// The filters of a dataset, read serially by this process.
bool has_fletcher32(const std::string& path, const std::string& dataset) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return false;
  bool found = false;
  hid_t ds = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  if (ds >= 0) {
    hid_t dcpl = H5Dget_create_plist(ds);
    const int nf = H5Pget_nfilters(dcpl);
    for (int i = 0; i < nf; ++i) {
      unsigned flags = 0, cfg = 0;
      size_t nelem = 0;
      if (H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelem, nullptr, 0, nullptr, &cfg) == H5Z_FILTER_FLETCHER32)
        found = true;
    }
    H5Pclose(dcpl);
    H5Dclose(ds);
  }
  H5Fclose(f);
  return found;
}

// Flips one byte of chunk `chunk` of a dataset: at `where` = the middle of the stored (filtered)
// chunk, or its last byte (inside the Fletcher32 checksum itself). Serial; returns false if the
// chunk could not be located.
bool corrupt_chunk(const std::string& path, const std::string& dataset, hsize_t chunk, bool last_byte) {
  haddr_t addr = HADDR_UNDEF;
  hsize_t size = 0;
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return false;
  hid_t ds = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  if (ds >= 0) {
    hsize_t offset[2] = {0, 0};
    unsigned mask = 0;
    hid_t space = H5Dget_space(ds);  // HDF5 1.10 does not accept H5S_ALL here
    if (H5Dget_chunk_info(ds, space, chunk, offset, &mask, &addr, &size) < 0) addr = HADDR_UNDEF;
    H5Sclose(space);
    H5Dclose(ds);
  }
  H5Fclose(f);
  if (addr == HADDR_UNDEF || size == 0) return false;
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto pos = static_cast<std::streamoff>(addr + (last_byte ? size - 1 : size / 2));
  io.seekg(pos);
  char c = 0;
  io.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  io.seekp(pos);
  io.write(&c, 1);
  return static_cast<bool>(io);
}

}  // namespace

TEST(HDF5Input, RoundTripDouble) {
  ScratchDir dir(testing_support::world());
  for (std::int64_t n : {1, 2, 5, 7, 13}) round_trip<double, double>(dir, n, n, 3, 2);
  round_trip<double, double>(dir, 5, 11, 4, 6);  // cross-attention: nq != nk, dv != d
}

TEST(HDF5Input, RoundTripFloat) {
  ScratchDir dir(testing_support::world());
  for (std::int64_t n : {1, 3, 10}) round_trip<float, float>(dir, n, n, 5, 5);
  round_trip<float, float>(dir, 9, 2, 1, 3);
}

TEST(HDF5Input, ReadInTheOtherPrecision) {
  ScratchDir dir(testing_support::world());
  round_trip<float, double>(dir, 7, 7, 3, 3);  // exact widening
  round_trip<double, float>(dir, 7, 7, 3, 3);  // rounded to nearest float
}

TEST(HDF5Input, DatasetsCarryFletcher32) {
  const auto& comm = testing_support::world();
  ScratchDir dir(comm);
  const auto path = dir.file("f32.h5");
  attention::write_attention_input(comm, path, make_problem<double>(comm, 6, 6, 2, 2, 1), 2);
  comm.barrier();
  for (const char* name : {"/Q", "/K", "/V"}) EXPECT_TRUE(has_fletcher32(path, name)) << name;
}

// A byte flipped in a stored chunk must make the read fail with Error(input) on every rank and
// name the dataset; both inside the compressed data and inside the checksum itself (which only
// Fletcher32 can notice).
TEST(HDF5Input, CorruptedByteIsDetected) {
  const auto& comm = testing_support::world();
  ScratchDir dir(comm);
  struct Case {
    const char* dataset;
    bool last_byte;
  };
  for (const Case c : {Case{"/Q", false}, Case{"/K", true}, Case{"/V", false}, Case{"/V", true}}) {
    const auto path = dir.file(std::string("corrupt") + (c.dataset + 1) + (c.last_byte ? "_sum" : "_mid") + ".h5");
    attention::write_attention_input(comm, path, make_problem<double>(comm, 40, 40, 8, 8, 2), 2);
    int located = 1;
    if (comm.is_root()) located = corrupt_chunk(path, c.dataset, 0, c.last_byte) ? 1 : 0;
    comm.bcast(std::span<int>(&located, 1), 0);
    EXPECT_EQ(located, 1) << "could not locate the chunk of " << c.dataset;
    if (!located) continue;  // agreed on every rank: no collective is skipped unevenly
    try {
      (void)attention::read_attention_input<double>(comm, path);
      ADD_FAILURE() << "corruption of " << c.dataset << (c.last_byte ? " (checksum byte)" : " (data byte)")
                    << " was not detected on rank " << comm.rank();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::input) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.dataset), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

// A corrupted chunk that only the last rank reads: the failure is rank-local inside a collective
// read, and must still end as the same Error on every rank (no hang, no abort).
TEST(HDF5Input, CorruptionSeenByOneRankIsAgreed) {
  const auto& comm = testing_support::world();
  ScratchDir dir(comm);
  const auto path = dir.file("multichunk.h5");
  // d = 8 doubles per row: 16384-row chunks of 1 MiB, so /V has chunks [0,16384), [16384,32768), [32768,33000).
  const std::int64_t n = 33000;
  attention::write_attention_input(comm, path, make_problem<double>(comm, n, n, 8, 8, 3), 2);
  int located = 1;
  if (comm.is_root()) located = corrupt_chunk(path, "/V", 2, false) ? 1 : 0;
  comm.bcast(std::span<int>(&located, 1), 0);
  ASSERT_EQ(located, 1);  // agreed value: every rank returns here together
  int threw = 0;
  std::string message;
  try {
    (void)attention::read_attention_input<double>(comm, path);
  } catch (const Error& e) {
    threw = 1;
    message = e.what();
    EXPECT_EQ(e.code(), ExitCode::input) << e.what();
    EXPECT_NE(message.find("/V"), std::string::npos) << message;
  }
  EXPECT_EQ(threw, 1) << "rank " << comm.rank() << " did not see the error";
  // Same message everywhere.
  std::string root_message = message;
  comm.bcast(root_message, 0);
  EXPECT_EQ(message, root_message);
}
