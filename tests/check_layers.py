#!/usr/bin/python3
"""The layer order of src/, checked from the source text: every #include "module/..." line, every
target_link_libraries between attnbench_* targets, and every import between the Python tools.

Layers, lowest first (a module may use its own layer's lower neighbours as stated and any layer
below it, never one above):

  core -> dist -> linalg, sampling -> io -> metrics -> grid -> kernels -> harness, study -> drivers

  * io and metrics share the "io/metrics" layer: metrics may read io (the HDF5 version in the
    provenance), io names no metric.
  * kernels (attention, solve, sparsify, regress) are one layer: none includes another.
  * harness/kernel.hpp is the interface every kernel implements (KernelSpec, Case, options as data,
    GenSpec): kernels may include it - and link attnbench_harness, the target holding it - and it
    may include only layers below the kernels. No other harness file is visible to a kernel.
  * harness and drivers name no kernel (no string literal that is a kernel's name), except the
    registry (generated from src/CMakeLists.txt's ATTNBENCH_KERNELS, which this check also reads):
    a kernel is a registration, its gen a hook on it.
  * Python: the modules of src/report and src/study import each other without a circle.

Prints every violation with its file and line and exits 1 if there is any; exits 0 otherwise.
Usage: check_layers.py [SOURCE_ROOT]   (default: the checkout holding this script)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

def registered_kernels(src_root: Path) -> list[str]:
    """The kernels of src/CMakeLists.txt's ATTNBENCH_KERNELS: the one place a kernel is registered."""
    cmake = src_root / "CMakeLists.txt"
    if not cmake.is_file():
        return []  # main() reports the missing source tree
    m = re.search(r"set\(ATTNBENCH_KERNELS\s+([^)]*)\)", cmake.read_text())
    if not m:
        sys.exit("check_layers: no set(ATTNBENCH_KERNELS ...) in src/CMakeLists.txt")
    return m.group(1).split()


SRC_ROOT = Path(sys.argv[1]).resolve() / "src" if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src"
KERNEL_LAYER = 6
LAYER = {"core": 0, "dist": 1, "linalg": 2, "sampling": 2, "io": 3, "metrics": 4, "grid": 5,
         **{k: KERNEL_LAYER for k in registered_kernels(SRC_ROOT)},
         "harness": 7, "study": 7, "drivers": 8}
KERNELS = {m for m, l in LAYER.items() if l == KERNEL_LAYER}
INTERFACE = "harness/kernel.hpp"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(rel: Path) -> str | None:
    """The module of a path under src/ (its first folder), None for files at src/ itself."""
    return rel.parts[0] if len(rel.parts) > 1 else None


def allowed(src: str, dst: str, header: str | None = None) -> bool:
    if src == dst:
        return True
    if src in KERNELS and dst == "harness" and header in (None, INTERFACE):
        return True  # the kernel interface (a header), or the target holding it (header None)
    if src in KERNELS and dst in KERNELS:
        return False
    return LAYER[dst] < LAYER[src]


def check_includes(src_root: Path, problems: list[str]) -> int:
    count = 0
    for path in sorted(src_root.rglob("*")):
        if path.suffix not in (".cpp", ".hpp", ".inc", ".h") or not path.is_file():
            continue
        rel = path.relative_to(src_root)
        src = module_of(rel)
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            dst = target.split("/")[0] if "/" in target else None
            if dst is None or src is None or not (src_root / dst).is_dir():
                continue  # not a module of src/ (a generated or same-folder header)
            unknown = [x for x in (src, dst) if x not in LAYER]
            if unknown:
                problems.append(f"src/{rel}:{lineno}: module '{unknown[0]}' has no layer (a kernel: add it to ATTNBENCH_KERNELS in src/CMakeLists.txt; else to check_layers.py)")
                continue
            count += 1
            if str(rel) == INTERFACE and LAYER[dst] >= LAYER["attention"]:
                problems.append(f"src/{rel}:{lineno}: the kernel interface includes {target} (layer of the kernels or above)")
            elif not allowed(src, dst, target):
                problems.append(f"src/{rel}:{lineno}: {src} includes {target}: against the layer order")
    return count


def cmake_targets(src_root: Path) -> tuple[dict[str, tuple[str, Path]], list[tuple[str, str, Path]]]:
    """attnbench_* targets -> (module, CMakeLists), and their links (target, linked, CMakeLists)."""
    defined: dict[str, tuple[str, Path]] = {}
    links: list[tuple[str, str, Path]] = []
    for cml in sorted(src_root.rglob("CMakeLists.txt")):
        rel = cml.relative_to(src_root)
        module = module_of(rel)
        text = re.sub(r"#[^\n]*", "", cml.read_text())
        for m in re.finditer(r"\b(add_library|add_executable)\s*\(\s*([A-Za-z0-9_]+)", text):
            if module is not None:
                defined[m.group(2)] = (module, rel)
        for m in re.finditer(r"\btarget_link_libraries\s*\(([^)]*)\)", text, re.S):
            words = m.group(1).split()
            for w in words[1:]:
                if w.startswith("attnbench_"):
                    links.append((words[0], w, rel))
    return defined, links


def check_links(src_root: Path, problems: list[str]) -> int:
    defined, links = cmake_targets(src_root)
    count = 0
    for target, linked, rel in links:
        if target not in defined or linked not in defined:
            continue  # interface targets of the top level (warnings, sanitizers)
        src, dst = defined[target][0], defined[linked][0]
        count += 1
        unknown = [x for x in (src, dst) if x not in LAYER]
        if unknown:
            problems.append(f"src/{rel}: module '{unknown[0]}' has no layer (a kernel: add it to ATTNBENCH_KERNELS in src/CMakeLists.txt; else to check_layers.py)")
            continue
        if not allowed(src, dst):
            problems.append(f"src/{rel}: {target} ({src}) links {linked} ({dst}): against the layer order")
    return count


def module_cycles(src_root: Path, problems: list[str]) -> None:
    """Folder-level include cycles (the layer check implies none; kept as a second, independent look)."""
    graph: dict[str, set[str]] = {}
    for path in src_root.rglob("*"):
        if path.suffix not in (".cpp", ".hpp", ".inc") or not path.is_file():
            continue
        src = module_of(path.relative_to(src_root))
        for line in path.read_text(errors="replace").splitlines():
            m = INCLUDE.match(line)
            if m and "/" in m.group(1) and src is not None:
                dst = m.group(1).split("/")[0]
                if dst != src and (src_root / dst).is_dir():
                    graph.setdefault(src, set()).add(dst)
    report_cycles(graph, "include cycle between folders", problems)


def report_cycles(graph: dict[str, set[str]], what: str, problems: list[str]) -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                problems.append(f"{what}: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def check_kernel_names(src_root: Path, problems: list[str]) -> None:
    """The kernel-neutral layers name no kernel: no string literal in src/harness or src/drivers (but
    the registry, generated from ATTNBENCH_KERNELS) is a kernel's name, as a hard-coded `gen --kernel` would be."""
    literal = re.compile(r'"(' + "|".join(sorted(KERNELS)) + r')"')
    for d in ("harness", "drivers"):
        for path in sorted((src_root / d).glob("*.[ch]pp")):
            if path.name == "registry.cpp":
                continue
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("//")[0]
                for m in literal.finditer(code):
                    problems.append(f"src/{d}/{path.name}:{lineno}: names the kernel {m.group(0)}")


def check_python(src_root: Path, problems: list[str]) -> int:
    """Imports between the tool modules of src/report and src/study (one import path)."""
    files = {p.stem: p for d in ("report", "study") for p in sorted((src_root / d).glob("*.py"))}
    graph: dict[str, set[str]] = {}
    count = 0
    for name, path in files.items():
        for line in path.read_text().splitlines():
            m = re.match(r"^\s*(?:from\s+([A-Za-z_][\w]*)\s+import|import\s+([A-Za-z_][\w, ]*))", line)
            if not m:
                continue
            mods = [m.group(1)] if m.group(1) else [x.strip().split(" ")[0] for x in m.group(2).split(",")]
            for mod in mods:
                if mod in files and mod != name:
                    graph.setdefault(name, set()).add(mod)
                    count += 1
    report_cycles(graph, "Python import circle", problems)
    return count


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    src_root = root / "src"
    if not src_root.is_dir():
        print(f"check_layers.py: {src_root} is not a directory", file=sys.stderr)
        return 2
    problems: list[str] = []
    includes = check_includes(src_root, problems)
    links = check_links(src_root, problems)
    module_cycles(src_root, problems)
    check_kernel_names(src_root, problems)
    imports = check_python(src_root, problems)
    for p in problems:
        print(p)
    print(f"check_layers: {includes} cross-module includes, {links} target links, {imports} tool imports: "
          f"{len(problems)} violation(s)")
    if includes == 0 or links == 0 or imports == 0:
        print("check_layers: nothing found to check (wrong root?)", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
