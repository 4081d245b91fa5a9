#pragma once
// The study-specific plots of `attnbench report`: a study file's `plot = "<name>"` (checked by
// src/study/studyfile.py), drawn by the function of that name in src/report/plot_studies.py.
// Declared once, here: --describe prints the table ("study_plots") and the Python tools take the
// names from it; tests/check_exit_codes.py holds plot_studies.py's functions against it.
#include <array>
#include <string_view>

namespace attnbench::tools {

struct StudyPlot {
  std::string_view name;
  std::string_view help;
  bool keeps_scaling_plots;  // drawn beside the generic scaling plots (time, efficiency, rates), not instead
};

inline constexpr std::array<StudyPlot, 7> kStudyPlots{{
    {"poly-transition",
     "inputs/studies/poly-transition.toml: time of poly vs exact ring against n for every bound B, the speedup "
     "and where poly stops paying off",
     false},
    {"accuracy-vs-cost",
     "inputs/studies/kde-accuracy.toml: relative spectral error against the number of samples and against time",
     false},
    {"sparsify-columns", "sparsify: columns kept vs n, with the ceil(gamma n) lines and an n log n fit", false},
    {"sparsify-error-vs-r", "sparsify: attention error and its bound vs r = |X X^T|_max", false},
    {"sparsify-time-vs-nnz", "sparsify: time vs nnz(X) with log-log slopes and the per-phase split", false},
    {"sparsify-coherent", "sparsify: error and spectral window vs m on a coherent X", false},
    {"layout",
     "inputs/studies/layout.toml: strong-scaling efficiency and load balance against ranks per "
     "variant/layout/heads curve",
     true},
}};

}  // namespace attnbench::tools
