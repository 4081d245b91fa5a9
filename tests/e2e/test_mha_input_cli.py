#!/usr/bin/python3
"""End-to-end test of multi-head HDF5 inputs through `attnbench gen` and
`attnbench attention --input`:
- `gen --heads H --kv-heads Hkv --batch B` writes 4-D /Q (B, n, H, d), /K and /V (B, n, Hkv, .);
  `attention --input` on that file computes the same O as the synthetic run with the same options
  (bit for bit: the same values reach the same kernel), with the same verdict and the same root
  attributes, for ring / allgather / ulysses, every layout, causal or not, GQA, p > n, fp32; its
  /output/O is one (B, n, H, dv) dataset (the synthetic run's: n x (H dv) per batch entry);
- 4-D and 3-D files written by h5py (float32 and float64) against an independent NumPy computation;
- bad files and options: each one clear error with the same exit code on every rank (input 3,
  usage 2), the file and dataset (or option) named, no archive left behind.

Usage: test_mha_input_cli.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR
"""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
P = args.np
chk = e2e_util.Checker("mha input cli np=%d" % P)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def run(name, argv, expected=0):
    r = e2e_util.launch(args, P, argv, os.path.join(work, "rc", name), args.timeout, all_ranks_finish=True)
    if not chk.check(r is not None, "%s: no result within %.0f s" % (name, args.timeout)):
        return None
    detail = "\n  argv: %s\n  stderr: %s\n  stdout: %s" % (" ".join(argv), r.stderr[-2000:], r.stdout[-1000:])
    ok = chk.check(set(r.rank_codes.values()) == {expected} and len(r.rank_codes) == P,
                   "%s: per-rank exit codes %s, expected %d%s" % (name, r.rank_codes, expected, detail))
    return r if ok else None


def outputs(path, batch, want_shape=None):
    """The saved O of an archive as (B, n, H dv) float64, and its root attributes. want_shape: the
    N-D shape /output/O must have (a run from a 3-D or 4-D file), else the 2-D per-batch datasets."""
    with h5py.File(path, "r") as f:
        if want_shape is not None:
            O = f["output/O"][...].astype(np.float64)
            chk.check(O.shape == want_shape and f["output/O"].fletcher32,
                      "%s: /output/O shape %s (Fletcher32 %s), expected %s" %
                      (path, O.shape, f["output/O"].fletcher32, want_shape))
            O = O.reshape((batch, O.shape[-3], -1))
        else:
            keys = ["output/O"] if batch == 1 else ["output/O_b%d" % b for b in range(batch)]
            O = np.stack([f[k][...].astype(np.float64) for k in keys])
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        attrs["rel_error"] = float(f["validation"].attrs["rel_error"])
    return O, attrs


def attention(Q, K, V, scale, causal):
    """Q (B, n, H, d), K (B, n_k, Hkv, d), V (B, n_k, Hkv, dv) -> (B, n, H dv), float64."""
    B, n, H, _ = Q.shape
    g = H // K.shape[2]
    dv = V.shape[3]
    O = np.zeros((B, n, H * dv))
    for b in range(B):
        for h in range(H):
            S = scale * Q[b, :, h, :] @ K[b, :, h // g, :].T
            if causal:
                S = np.where(np.tril(np.ones_like(S, dtype=bool)), S, -np.inf)
            A = np.exp(S - S.max(axis=1, keepdims=True))
            O[b, :, h * dv:(h + 1) * dv] = (A / A.sum(axis=1, keepdims=True)) @ V[b, :, h // g, :]
    return O


COMMON = ["--reps", "1", "--warmup", "0", "--quiet", "--save-output", "--validate-rows", "1000", "--tile-q", "4",
          "--tile-k", "3", "--scale", "1/sqrt(d)"]

# ---- gen 4-D file == synthetic run -------------------------------------------------------------------
cases = [
    # (label, B, n, H, Hkv, d, dv, variant, layout, causal, precision)
    ("gqa-ring-zigzag-causal", 2, 23, 4, 2, 6, 6, "ring", "zigzag", True, "double"),
    ("mha-allgather-striped", 1, 17, 3, 3, 4, 5, "allgather", "striped", False, "double"),
    ("gqa-ulysses-causal", 1, 19, 5, 1, 4, 4, "ulysses", "contiguous", True, "double"),
    ("fewer-tokens-than-ranks", 2, 3, 2, 1, 3, 3, "ring", "striped", True, "double"),
    ("fp32-ring-contiguous-causal", 1, 21, 2, 2, 8, 8, "ring", "contiguous", True, "single"),
]
for label, B, n, H, Hkv, d, dv, variant, layout, causal, precision in cases:
    inp = os.path.join(work, label + ".in.h5")
    shape = ["--n", str(n), "--d", str(d), "--dv", str(dv), "--seed", "5", "--bound", "2", "--precision", precision]
    heads = ["--heads", str(H), "--kv-heads", str(Hkv), "--batch", str(B)]
    if run(label + ".gen", ["gen"] + shape + heads + ["--out", inp]) is None:
        continue
    with h5py.File(inp, "r") as f:
        chk.check(f["Q"].shape == (B, n, H, d) and f["K"].shape == (B, n, Hkv, d) and f["V"].shape == (B, n, Hkv, dv),
                  "%s: gen wrote shapes %s %s %s" % (label, f["Q"].shape, f["K"].shape, f["V"].shape))
        chk.check(f["Q"].dtype == (np.float32 if precision == "single" else np.float64),
                  "%s: gen wrote dtype %s" % (label, f["Q"].dtype))
        chk.check(all(f[k].fletcher32 for k in ("Q", "K", "V")), "%s: gen datasets without Fletcher32" % label)
        Q, K, V = (f[k][...].astype(np.float64) for k in ("Q", "K", "V"))
    run_args = ["--variant", variant, "--layout", layout, "--precision", precision] + COMMON + \
        (["--causal"] if causal else [])
    out_file, out_synth = os.path.join(work, label + ".file.h5"), os.path.join(work, label + ".synth.h5")
    r_file = run(label + ".file", ["attention", "--input", inp, "--seed", "5", "--out", out_file] + run_args)
    r_synth = run(label + ".synth", ["attention"] + shape[:-2] + heads + ["--out", out_synth] + run_args)
    if r_file is None or r_synth is None:
        continue
    O_file, a_file = outputs(out_file, B, (B, n, H, dv))
    O_synth, a_synth = outputs(out_synth, B)
    chk.check(O_file.shape == O_synth.shape and np.array_equal(O_file, O_synth),
              "%s: O from the file differs from the synthetic run by %s" %
              (label, np.abs(O_file - O_synth).max() if O_file.shape == O_synth.shape else "shape"))
    chk.check(int(a_file["valid"]) == 1 and int(a_synth["valid"]) == 1,
              "%s: verdicts file %s synthetic %s" % (label, a_file["valid"], a_synth["valid"]))
    chk.check(a_file["rel_error"] == a_synth["rel_error"],
              "%s: rel_error file %r synthetic %r" % (label, a_file["rel_error"], a_synth["rel_error"]))
    for k in ("n", "n_keys", "d", "dv", "heads", "kv_heads", "batch", "causal", "layout", "variant"):
        chk.check(a_file.get(k) == a_synth.get(k), "%s: attribute %s file %r synthetic %r" %
                  (label, k, a_file.get(k), a_synth.get(k)))
    chk.check(a_file.get("heads") == H and a_file.get("kv_heads") == Hkv and a_file.get("batch") == B,
              "%s: heads/kv_heads/batch %r %r %r" % (label, a_file.get("heads"), a_file.get("kv_heads"),
                                                     a_file.get("batch")))
    chk.check(float(a_file["bound"]) == 0.0, "%s: bound %r for a file input" % (label, a_file["bound"]))
    ref = attention(Q, K, V, 1.0 / np.sqrt(d), causal)
    err = np.abs(O_file - ref).max() / np.abs(ref).max()
    chk.check(err <= (1e-5 if precision == "single" else 1e-12), "%s: O vs NumPy: %.3g" % (label, err))

# ---- files written by h5py: 4-D float32, 3-D float64 (B = 1) -------------------------------------------
rng = np.random.default_rng(3)
h5py_cases = [
    # (label, Q shape, K shape, V shape, dtype, variant, layout, causal)
    ("h5py-4d-float32-gqa", (2, 11, 4, 3), (2, 11, 1, 3), (2, 11, 1, 2), np.float32, "ring", "zigzag", True),
    ("h5py-3d-float64", (13, 3, 4), (13, 3, 4), (13, 3, 4), np.float64, "allgather", "striped", False),
    ("h5py-4d-cross", (1, 5, 2, 3), (1, 9, 2, 3), (1, 9, 2, 4), np.float64, "ring", "striped", False),
]
for label, qs, ks, vs, dtype, variant, layout, causal in h5py_cases:
    inp = os.path.join(work, label + ".in.h5")
    with h5py.File(inp, "w") as f:
        for k, s in (("Q", qs), ("K", ks), ("V", vs)):
            f[k] = rng.uniform(-1.5, 1.5, s).astype(dtype)
    with h5py.File(inp, "r") as f:
        Q, K, V = (f[k][...].astype(np.float64) for k in ("Q", "K", "V"))
    if Q.ndim == 3:
        Q, K, V = Q[None], K[None], V[None]
    B, n, H, d = Q.shape
    out = os.path.join(work, label + ".h5")
    if run(label, ["attention", "--input", inp, "--variant", variant, "--layout", layout, "--out", out] + COMMON +
           (["--causal"] if causal else [])) is None:
        continue
    O, a = outputs(out, B, (n, H, vs[-1]) if len(qs) == 3 else (B, n, H, vs[-1]))
    ref = attention(Q, K, V, 1.0 / np.sqrt(d), causal)
    err = np.abs(O - ref).max() / np.abs(ref).max()
    chk.check(err <= 1e-12, "%s: O vs NumPy: %.3g" % (label, err))
    chk.check((a["batch"], a["heads"], a["kv_heads"], a["n"], a["n_keys"]) == (B, H, K.shape[2], n, K.shape[1]),
              "%s: archive shape attributes %r" % (label, a))

# ---- bad files and options: one clear error, the same code on every rank, nothing written ------------
def h5(name, datasets, huge=None):
    path = os.path.join(work, name)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f[k] = v
        for k, shape in (huge or {}).items():
            # Declared, never written: chunked storage is allocated late, so the file stays tiny.
            f.create_dataset(k, shape=shape, dtype="f8", chunks=(1, 1024) + tuple(shape[2:]))
    return path


def z(*shape):
    return np.full(shape, 0.5)


nan_v = z(2, 13, 2, 3)
nan_v[1, 12, 1, 2] = np.nan
inf_q = z(1, 13, 2, 3).astype(np.float32)
inf_q[0, 6, 1, 1] = np.inf
huge = (1, 1 << 40, 8, 64)
ok4 = h5("ok4.h5", {"Q": z(1, 8, 2, 4), "K": z(1, 8, 2, 4), "V": z(1, 8, 2, 4)})
cross4 = h5("cross4.h5", {"Q": z(1, 8, 2, 4), "K": z(1, 6, 2, 4), "V": z(1, 6, 2, 4)})
bad = [
    # (label, argv after "attention" (or a full "gen" command), code, needles)
    ("five-d", ["--input", h5("five-d.h5", {"Q": z(1, 8, 2, 4, 1), "K": z(1, 8, 2, 4), "V": z(1, 8, 2, 4)})], 3,
     ["five-d.h5", "/Q", "5-D"]),
    ("dims-differ", ["--input", h5("dims.h5", {"Q": z(1, 8, 2, 4), "K": z(8, 2, 4), "V": z(1, 8, 2, 4)})], 3,
     ["dims.h5", "/K", "3-D"]),
    ("batch-differs", ["--input", h5("batch.h5", {"Q": z(2, 8, 2, 4), "K": z(2, 8, 2, 4), "V": z(3, 8, 2, 4)})], 3,
     ["batch.h5", "/V", "batch B = 3"]),
    ("d-differs", ["--input", h5("d.h5", {"Q": z(1, 8, 2, 4), "K": z(1, 8, 2, 5), "V": z(1, 8, 2, 4)})], 3,
     ["d.h5", "/K", "d (columns)"]),
    ("nk-differs", ["--input", h5("nk.h5", {"Q": z(1, 8, 2, 4), "K": z(1, 8, 2, 4), "V": z(1, 7, 2, 4)})], 3,
     ["nk.h5", "/V", "tokens n_k"]),
    ("hkv-differs", ["--input", h5("hkv.h5", {"Q": z(1, 8, 2, 4), "K": z(1, 8, 2, 4), "V": z(1, 8, 1, 4)})], 3,
     ["hkv.h5", "/V", "K/V heads Hkv"]),
    ("hkv-not-dividing", ["--input", h5("gqa.h5", {"Q": z(1, 8, 6, 4), "K": z(1, 8, 4, 4), "V": z(1, 8, 4, 4)})], 3,
     ["gqa.h5", "/K", "does not divide"]),
    ("nan-last-token", ["--input", h5("nan.h5", {"Q": z(2, 13, 2, 3), "K": z(2, 13, 2, 3), "V": nan_v}),
                        "--layout", "striped"], 3, ["nan.h5", "/V", "non-finite", "batch 1, token 12, head 1, column 2"]),
    ("inf-float32", ["--input", h5("inf.h5", {"Q": inf_q, "K": z(1, 13, 2, 3), "V": z(1, 13, 2, 3)}),
                     "--layout", "zigzag", "--causal"], 3, ["inf.h5", "/Q", "non-finite", "token 6, head 1"]),
    ("does-not-fit", ["--input", h5("huge.h5", {}, {"Q": huge, "K": huge, "V": huge})], 3, ["huge.h5", "/Q"]),
    ("4-d-with-poly", ["--input", ok4, "--algo", "poly"], 3, ["ok4.h5", "/Q", "--algo exact"]),
    ("heads-with-input", ["--input", ok4, "--heads", "2"], 2, ["--heads", "--input"]),
    ("batch-with-input", ["--input", ok4, "--batch", "1"], 2, ["--batch", "--input"]),
    ("causal-cross", ["--input", cross4, "--causal"], 2, ["--causal needs as many keys as queries"]),
    ("ulysses-striped", ["--input", ok4, "--variant", "ulysses", "--layout", "striped"], 2, ["--layout striped"]),
]
for label, extra, code, needles in bad:
    out = os.path.join(work, label + ".out.h5")
    r = run(label, ["attention", "--reps", "1", "--quiet", "--out", out] + extra, code)
    if r is None:
        continue
    text = r.stderr + r.stdout
    for needle in needles:
        chk.check(needle in text, "%s: message does not name %r:\n%s" % (label, needle, r.stderr[-1500:]))
    left = [f for f in os.listdir(work) if f.startswith(label + ".out.h5")]
    chk.check(not left, "%s: an archive was written: %s" % (label, left))

# gen: Hkv must divide H (usage error, nothing written).
gen_out = os.path.join(work, "gen-bad.h5")
r = run("gen-kv-heads", ["gen", "--n", "8", "--d", "4", "--heads", "4", "--kv-heads", "3", "--out", gen_out], 2)
if r is not None:
    chk.check("--kv-heads 3 must divide --heads 4" in r.stderr + r.stdout, "gen-kv-heads: message:\n" + r.stderr)
    chk.check(not [f for f in os.listdir(work) if f.startswith("gen-bad.h5")], "gen-kv-heads: a file was written")

sys.exit(chk.finish())
