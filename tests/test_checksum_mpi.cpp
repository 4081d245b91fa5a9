// Every dataset io::File writes carries the Fletcher32 checksum, at 1-4 ranks:
// each writer of the API (write_rows, write_selection, write_axis_rows, write_1d, write_root_matrix,
// write_root_vector of double and int64, io::write_root_vector of hdf5_sparse.hpp), including the
// tiny and empty datasets a kernel can produce (a 1-element int64 vector, a 0-length vector, a
// matrix of 0 rows), is chunked with shuffle + deflate + Fletcher32 and reads back exactly; and a
// flipped byte in a small int64 dataset is an Error(input) naming the checksum on every rank.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5_file.hpp"
#include "io/hdf5_sparse.hpp"
#include "mpi_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using testing_support::ScratchDir;

namespace {

const dist::Comm& world() { return testing_support::world(); }

struct DatasetFilters {
  std::string name;
  bool chunked = false, fletcher32 = false, shuffle = false, deflate = false;
};

// Every dataset of the file with its layout and filters (serial HDF5 calls, read-only).
std::vector<DatasetFilters> all_datasets(const std::string& path) {
  std::vector<DatasetFilters> out;
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return out;
  auto visit = [](hid_t obj, const char* name, const H5O_info_t* info, void* data) -> herr_t {
    if (info->type != H5O_TYPE_DATASET) return 0;
    auto& list = *static_cast<std::vector<DatasetFilters>*>(data);
    DatasetFilters d;
    d.name = name;
    const hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
    const hid_t dcpl = H5Dget_create_plist(ds);
    d.chunked = H5Pget_layout(dcpl) == H5D_CHUNKED;
    unsigned flags = 0, cd[8];
    std::size_t ncd = 8;
    char fname[64];
    unsigned config = 0;
    d.fletcher32 = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &ncd, cd, sizeof fname, fname, &config) >= 0;
    ncd = 8;
    d.shuffle = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_SHUFFLE, &flags, &ncd, cd, sizeof fname, fname, &config) >= 0;
    ncd = 8;
    d.deflate = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_DEFLATE, &flags, &ncd, cd, sizeof fname, fname, &config) >= 0;
    H5Pclose(dcpl);
    H5Dclose(ds);
    list.push_back(d);
    return 0;
  };
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, +visit, &out);
  H5Fclose(f);
  return out;
}

}  // namespace

TEST(Checksum, EveryWriterEveryShape) {
  const auto& c = world();
  const int p = c.size(), r = c.rank();
  ScratchDir dir(c);
  const std::string path = dir.file("all.h5");
  const std::int64_t rows = p * (p + 1) / 2;  // 2-D block rows: rank r holds r + 1 of them
  {
    io::File f = io::File::create(c, path);
    f.ensure_group("/g");
    const std::int64_t row0 = r * (r + 1) / 2;
    Matrix<double> mine(r + 1, 3);
    for (std::int64_t i = 0; i < mine.rows(); ++i)
      for (std::int64_t j = 0; j < 3; ++j) mine(i, j) = static_cast<double>((row0 + i) * 3 + j);
    f.write_rows("/g/rows", rows, 3, row0, mine);
    f.write_rows("/g/rows_empty", 0, 3, 0, Matrix<double>(0, 3));  // and an empty 0-row matrix
    // A selection: rank 0 writes the whole 2 x 2 block, the others nothing.
    const std::vector<double> sel = {1, 2, 3, 4};
    f.write_selection<double>("/g/sel", 2, 2,
                              r == 0 ? std::vector<io::Hyperslab>{{{0, 0}, {1, 1}, {1, 1}, {2, 2}}}
                                     : std::vector<io::Hyperslab>{},
                              r == 0 ? 4 : 0, sel.data());
    // N-D along axis 1 (one token per rank).
    const std::vector<float> tok = {static_cast<float>(r), static_cast<float>(r) + 0.5f};
    f.write_axis_rows<float>("/g/axis", {1, p, 2}, 1, {{r, 1, 1, 1}}, 2, tok.data());
    // 1-D segments, empty 1-D, root vectors of one element and of none, a root matrix.
    const std::vector<std::int64_t> seg = {r};
    f.write_1d<std::int64_t>("/g/one_d", p, {{r, 1}}, seg.data());
    f.write_1d<double>("/g/one_d_empty", 0, {}, static_cast<const double*>(nullptr));
    f.write_root_vector_int64("/g/tiny_int", {7}, c);
    f.write_root_vector<std::int64_t>("/g/empty_int", {}, c);
    f.write_root_vector<double>("/g/tiny_double", {2.5}, c);
    io::write_root_vector<double>(f, "/g/sparse_helper", {1.0, 2.0, 3.0}, c);
    io::write_root_vector<std::int64_t>(f, "/g/sparse_helper_empty", {}, c);
    f.write_root_matrix("/g/root_matrix", {1, 2, 3, 4, 5, 6}, 2, 3, c);
    f.close();
  }
  const auto datasets = all_datasets(path);
  EXPECT_EQ(datasets.size(), 12u);
  for (const auto& d : datasets) {
    EXPECT_TRUE(d.chunked) << d.name;
    EXPECT_TRUE(d.fletcher32) << d.name;
    EXPECT_TRUE(d.shuffle) << d.name;
    EXPECT_TRUE(d.deflate) << d.name;
  }
  // The data reads back (the root's vectors on every rank; empty ones as empty).
  io::File f = io::File::open_read(c, path);
  EXPECT_EQ(io::read_1d<std::int64_t>(c, f, "/g/tiny_int", 0, 1), std::vector<std::int64_t>{7});
  EXPECT_EQ(f.shape("/g/empty_int").dims, std::vector<std::int64_t>{0});
  EXPECT_EQ(f.shape("/g/rows_empty").dims, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(io::read_1d<double>(c, f, "/g/sparse_helper", 0, 3), (std::vector<double>{1.0, 2.0, 3.0}));
  std::vector<std::int64_t> want(static_cast<std::size_t>(p));
  for (int k = 0; k < p; ++k) want[static_cast<std::size_t>(k)] = k;
  EXPECT_EQ(io::read_1d<std::int64_t>(c, f, "/g/one_d", 0, p), want);
  const auto all = f.read_rows<double>("/g/rows", 0, rows, 3);
  for (std::int64_t i = 0; i < all.rows(); ++i) EXPECT_EQ(all(i, 2), static_cast<double>(i * 3 + 2)) << i;
  f.close();
}

// A flipped byte in the one chunk of a 4-element int64 root vector (as /metrics/peak_rss_bytes):
// every rank's read ends in the same Error(input) saying checksum.
TEST(Checksum, FlippedByteInTinyInt64IsDetected) {
  const auto& c = world();
  ScratchDir dir(c);
  const std::string path = dir.file("tiny.h5");
  const std::vector<std::int64_t> v = {1234567, 2345678, 3456789, 4567890};
  {
    io::File f = io::File::create(c, path);
    f.write_root_vector_int64("/v", v, c);
    f.close();
  }
  if (c.is_root()) {
    // The chunk's file offset, then one byte of it flipped in place.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t ds = H5Dopen2(f, "/v", H5P_DEFAULT);
    haddr_t addr = 0;
    hsize_t size = 0;
    unsigned mask = 0;
    hsize_t offset[1] = {0};
    ASSERT_GE(H5Dget_chunk_info_by_coord(ds, offset, &mask, &addr, &size), 0);
    H5Dclose(ds);
    H5Fclose(f);
    std::FILE* fp = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(fp, nullptr);
    std::fseek(fp, static_cast<long>(addr + size / 2), SEEK_SET);
    const int byte = std::fgetc(fp);
    std::fseek(fp, static_cast<long>(addr + size / 2), SEEK_SET);
    std::fputc(byte ^ 0x20, fp);
    std::fclose(fp);
  }
  c.barrier();
  io::File f = io::File::open_read(c, path);
  ExitCode code = ExitCode::ok;
  std::string msg;
  try {
    (void)io::read_1d<std::int64_t>(c, f, "/v", 0, 4);
  } catch (const Error& e) {
    code = e.code();
    msg = e.what();
  }
  EXPECT_EQ(code, ExitCode::input) << msg;
  EXPECT_NE(msg.find("/v"), std::string::npos) << msg;
  f.abandon();
}
