#pragma once
// Single-core memory bandwidth (a STREAM-triad-like a[i] = b[i] + s c[i] on arrays far larger than
// the caches), measured in the same run as a memory-bound kernel it is compared with.
namespace attnbench::metrics {

// GB/s counting 3 x 8 bytes per element (two reads, one write; write-allocate not counted, as
// STREAM does). Arrays of `bytes_per_array` bytes each; median of `trials` timings.
double measure_triad_gbs(double bytes_per_array = 64.0 * 1024 * 1024, int trials = 5);

}  // namespace attnbench::metrics
