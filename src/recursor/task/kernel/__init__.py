"""The kernel task family: make a KernelBench-format operation faster, proven correct, timed honestly.

A kernel task is a folder like any other task (see `recursor.task.folder`), laid out so:

    task.toml      name, goal, metric `speedup` (maximize), the shapes and tolerances below
    reference.py   the problem, in the KernelBench format: `class Model(nn.Module)` (the
                   reference), `get_inputs()`, `get_init_inputs()` and module-level size
                   constants (`batch_size = 16`, `dim = 16384`) that those functions read.
                   Read-only: it is the harness's file, hashed before every experiment.
    solution.py    the candidate, the one editable file: `class ModelNew(nn.Module)` with the
                   same constructor and `forward` as Model (the baseline is the reference's own
                   code under that name)
    ckernel.py     read-only helper the candidate may import: C/C++ source compiled at run time
                   with the machine's gcc into a shared library, called on tensors
    ideas/*.toml   the idea library: patches of solution.py with their idea text

The harness is `recursor.task.kernel.harness` (`command = ["{python}", "-m",
"recursor.task.kernel.harness"]`): it runs in its own process, computes every expected answer
itself from reference.py, and starts the candidate in the sandbox through
`recursor/task/kernel/runner.py`, which imports the reference and its checks
(`recursor/task/kernel/guards.py`) first, then solution.py.

task.toml's `[settings]` for kernels:

    correctness_sets = 3           fresh input sets per experiment (seeds the harness picks)
    signed = true                  draw float inputs signed even where get_inputs() uses rand()
    flops = "2 * M * N * K"        optional: FLOPs of one call, an expression over the constants
    [settings.shapes]              values of the module constants; the first is timed, the
    cpu = [{M = 256, N = 256}, {M = 97, N = 131}]   others are checked for correctness only
    gpu = [{M = 4096, N = 4096}, {M = 1000, N = 1030}]
    [settings.tolerance]           (atol, rtol) per output dtype
    float32 = [1e-4, 1e-4]
    float16 = [1e-2, 1e-2]
    bfloat16 = [2e-2, 2e-2]

and `[budget]`: `trials` (timed pairs), `warmup`, `seconds` (the runner's wall-clock cap).
Evaluations: the public `speedup` (against PyTorch eager) and a held-out `speedup_compiled`
(against `torch.compile` of the reference, run on accepted nodes), each with `against =
"eager"` or `"compiled"`.
"""
