#pragma once
// Explicit redistribution collectives between the block-cyclic layout and the other ways a matrix
// is held in attnbench. Every function is collective over grid.comm(); each states its data
// movement and cost (words per rank, p = p_r p_c ranks, an m x n matrix).
#include <string>

#include "core/matrix.hpp"
#include "dist/layout.hpp"
#include "grid/dist_matrix.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::grid {

// Every rank holds a partial sum `partial` (row-major m x n, e.g. its rows' contribution to a Gram
// matrix X^T X); the result is the sum, each entry on its block-cyclic owner only.
//   A[owner] := sum over ranks of partial[rank]
// Data movement: one MPI_Reduce_scatter of the m n entries packed by destination: each rank sends
// and receives about (p-1)/p m n words and keeps m n / p. An Allreduce would move twice that and
// leave all m n on every rank. Extra memory: one packed m n send buffer.
template <class T>
BlockCyclicMatrix<T> reduce_scatter_to_block_cyclic(const ProcessGrid& grid, const BlockCyclicLayout& layout,
                                                    const Matrix<T>& partial);

// The whole matrix, row-major, on every rank.  A[*] := A[owner]
// Data movement: one MPI_Allgatherv of the local blocks: each rank receives m n words (minus its own);
// memory m n per rank.
template <class T>
Matrix<T> gather_replicated(const ProcessGrid& grid, const BlockCyclicMatrix<T>& A);

// Block rows (BlockRowLayout over the grid's communicator; rank r holds rows
// [row_offset(r), +local_rows(r)) row-major) -> block-cyclic, and back.
//   A[owner] := A[rows]          A[rows] := A[owner]
// Data movement: one MPI_Alltoallv in which every entry moves once: each rank sends and receives
// at most its share, about m n / p words; memory: the two shares plus a packed copy.
template <class T>
BlockCyclicMatrix<T> block_rows_to_block_cyclic(const ProcessGrid& grid, const BlockCyclicLayout& layout,
                                                const dist::BlockRowLayout& rows, const Matrix<T>& local_rows);
template <class T>
Matrix<T> block_cyclic_to_block_rows(const ProcessGrid& grid, const BlockCyclicMatrix<T>& A,
                                     const dist::BlockRowLayout& rows);

// A square matrix made exactly symmetric from its lower triangle: A(i, j) := A(j, i) for i < j.
// Returns |A - A^T|_inf / |A|_inf of the matrix as it was (0 when A = 0).
// Data movement: one p?tran into a temporary (every entry travels to the owner of its transposed
// position: about n^2 / p words per rank), two p?lange, then local copies; memory 2 n^2 / p extra
// while it runs.
template <class T>
double symmetrize_from_lower(BlockCyclicMatrix<T>& A);

// The hyperslab union of process (prow, pcol)'s blocks in a row-major m x n dataset: at most four
// regular hyperslabs (whole blocks, the partial last block row, column and corner).
std::vector<io::Hyperslab> block_cyclic_selection(const BlockCyclicLayout& layout, int prow, int pcol);

// A 2-D floating-point dataset (row-major, m x n: the caller has checked its shape) read straight
// into the block-cyclic layout: one collective H5Dread of each rank's hyperslab union, converted to
// T; each rank reads only its m n / p entries (no redistribution).
template <class T>
BlockCyclicMatrix<T> read_block_cyclic(const ProcessGrid& grid, const io::File& file, const std::string& name,
                                       const BlockCyclicLayout& layout);
// Creates the m x n dataset (chunked, checksummed) and writes each rank's blocks with one collective
// H5Dwrite of its hyperslab union.
template <class T>
void write_block_cyclic(const ProcessGrid& grid, io::File& file, const std::string& name,
                        const BlockCyclicMatrix<T>& A);

}  // namespace attnbench::grid
