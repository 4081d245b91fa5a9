"""End-to-end test: an output directory that is not the same directory on every rank (node-local
storage on a cluster) is exit 5 on every rank with one message naming the directory and the
shared-file-system requirement, nothing is left behind, and nothing hangs. Before the check,
HDF5's collective create in such a directory deadlocked (OMPIO) until killed.

A node-local directory is emulated on one machine: ranks >= 1 run in a mount namespace of their
own (`unshare --mount`) with a private, empty tmpfs mounted over the directory, so rank 0 and the
others see different directories under the same path. Needs root (mount); says SKIP and exits 77
(ctest: skipped) otherwise.
The same check covers `attnbench gen` (one case). At 1 rank there is nothing to share: the run
succeeds.
"""
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("shared output np%d" % args.np)
shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)
if os.geteuid() != 0 or shutil.which("unshare") is None:
    print("SKIP: emulating node-local storage needs root and unshare(1)")
    sys.exit(77)
probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
if probe.returncode != 0:
    print("SKIP: unshare --mount is not permitted here: %s" % probe.stderr.decode().strip())
    sys.exit(77)

local = os.path.join(args.workdir, "node-local")
os.makedirs(local)
# Ranks >= 1 see `local` as their own empty tmpfs; rank 0 sees the real directory.
wrapper = os.path.join(args.workdir, "node_local_wrapper.sh")
with open(wrapper, "w") as f:
    f.write('#!/bin/sh\n'
            'if [ "${OMPI_COMM_WORLD_RANK:-0}" -ge 1 ]; then\n'
            '  exec unshare --mount --propagation private sh -c \'mount -t tmpfs tmpfs "$0" && exec "$@"\' '
            '"%s" "%s" "$@"\n'
            'fi\n'
            'exec "%s" "$@"\n' % (local, args.attnbench, args.attnbench))
os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
wrapped = type(args)(**vars(args))
wrapped.attnbench = wrapper

cases = [
    ("attention", ["attention", "--n", "64", "--d", "8", "--reps", "1", "--warmup", "0"], "a.h5"),
    ("sparsify", ["sparsify", "--n", "8", "--d", "64", "--reps", "1", "--warmup", "0"], "s.h5"),
    ("gen", ["gen", "--n", "32", "--d", "8"], "g.h5"),
]
for label, argv, name in cases:
    out = os.path.join(local, name)
    r = e2e_util.launch(wrapped, args.np, argv + ["--out", out], os.path.join(args.workdir, "rc-" + label), args.timeout,
                        all_ranks_finish=True)
    if not chk.check(r is not None, "%s: finished (no hang)" % label):
        continue
    left = sorted(os.listdir(local))
    if args.np == 1:
        chk.check(set(r.rank_codes.values()) == {0} and name in left,
                  "%s at 1 rank: exit 0 and the archive written, got %s, files %s: %s" %
                  (label, r.rank_codes, left, r.stderr.strip()[-300:]))
    else:
        chk.check(len(r.rank_codes) == args.np and set(r.rank_codes.values()) == {5},
                  "%s: exit 5 on every rank, got %s: %s" % (label, r.rank_codes, r.stderr.strip()[-400:]))
        errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
        chk.check(len(errors) == 1 and local in errors[0] and "share" in errors[0],
                  "%s: one message naming the directory and the shared file system: %s" % (label, errors))
        chk.check(left == [], "%s: files left behind: %s" % (label, left))
    for f in left:
        os.remove(os.path.join(local, f))
chk.finish()
