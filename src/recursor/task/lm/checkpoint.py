"""What training hands to predict, kept by the harness between the program's runs.

After training, every file the program left in its scratch folder (the checkpoint and anything
written beside it) is the *checkpoint set*: the harness moves it where the program cannot reach
and, before each predict call, empties the scratch folder and puts back exactly that set. So each
call starts as the first did: nothing one call writes reaches the next (no cache of the windows
already seen, no state carried across calls), whatever the program does.

Two findings look at the set itself:

- checkpoint.size: the set may not be far larger than the parent's (a factor, plus 1 MB; not
  scaled by training's cost, which a program can inflate at will);
- checkpoint.training-data: the set may not carry the training text. A model's weights are not
  its training bytes; a checkpoint that holds them (raw, in a torch archive, or stored one byte
  per 2, 4 or 8, as an integer tensor of the bytes would) is a program that keeps training, or
  looks its answers up, after its training run ended.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from statistics import median

import numpy as np

from recursor.harness import HarnessError, finding

GRAM = 8  # bytes per compared gram: one uint64
RUN_BYTES = 512  # a copy of at least this many consecutive training bytes is flagged
TEXTLIKE = 0.8  # a strided view is searched when this share of its bytes is text
BLOCK = 256  # RUN_BYTES >= 2 x BLOCK
SCAN_BYTES = 256 << 20  # of each file of the set, searched for training text
MAX_BYTES = 2 << 30  # what training may hand predict at all (a sparse file counts in full)


class CheckpointSet:
    """The files training left in `scratch` (but `keep`), moved to `store` and put back on call."""

    def __init__(self, scratch: str, store: str, keep: Sequence[str]):
        self.scratch, self.store, self.keep = Path(scratch), Path(store), set(keep)
        self.files: dict[str, int] = {}  # relative path -> size

    def take(self) -> None:
        """Move what training left (but the kept entries) out of the scratch folder: regular
        files and folders only. A symbolic link at any depth is dropped (the harness, outside
        the sandbox, would follow it to a file of the host when it puts the set back), and so
        is anything else that is not plain data (a FIFO, a socket)."""
        if self.store.exists():
            shutil.rmtree(self.store)
        self.store.mkdir(parents=True)
        for entry in sorted(self.scratch.iterdir()):
            if entry.name in self.keep:
                continue
            if _prune(entry):
                shutil.move(str(entry), self.store / entry.name)
        for root, _, files in os.walk(self.store):
            for name in files:
                path = Path(root) / name
                self.files[str(path.relative_to(self.store))] = path.lstat().st_size
        if self.total_bytes > MAX_BYTES:  # it is copied back before every predict call
            raise HarnessError(f"training left {self.total_bytes / 2**30:.1f} GiB for predict "
                               f"(files counted at their full size); at most "
                               f"{MAX_BYTES / 2**30:g} GiB is handed over")

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())

    def restore(self) -> None:
        """Empty the scratch folder but the kept entries, and put the set back as it was."""
        clear(self.scratch, self.keep)
        for entry in self.store.iterdir():
            target = self.scratch / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, symlinks=True)
            else:
                shutil.copy2(entry, target)

    def discard(self) -> None:
        shutil.rmtree(self.store, ignore_errors=True)

    def contents(self) -> Iterator[tuple[str, bytes]]:
        """Each file's bytes, up to SCAN_BYTES (a set that large is over its size cap already,
        unless it has no parent to be held to)."""
        for name in sorted(self.files):
            with open(self.store / name, "rb") as f:
                yield name, f.read(SCAN_BYTES)


def _prune(path: Path) -> bool:
    """Remove from `path` (and `path` itself) what is not a regular file or a folder, at any
    depth; whether `path` is left."""
    mode = path.lstat().st_mode
    if stat.S_ISDIR(mode):
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                inner = os.path.join(root, name)
                inner_mode = os.lstat(inner).st_mode
                if not (stat.S_ISREG(inner_mode) or stat.S_ISDIR(inner_mode)):
                    os.unlink(inner)
        return True
    if stat.S_ISREG(mode):
        return True
    path.unlink()
    return False


def clear(folder: Path, keep: set[str]) -> None:
    """Remove everything in `folder` but the entries named in `keep`, whatever its permissions."""
    for entry in list(folder.iterdir()):
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, onerror=_writable_and_retry)
        else:
            entry.unlink()


def _writable_and_retry(func, path, _exc) -> None:
    """A folder the program made unwritable (chmod 000) is still its own: open it and retry."""
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    func(path)


def size_finding(total: int, parent_usage: Sequence[Mapping], factor: float) -> list[dict]:
    """checkpoint.size: the set against the parent's: allowed = factor x parent's + 1 MB."""
    sizes = [u["checkpoint_bytes"] for u in parent_usage
             if isinstance(u.get("checkpoint_bytes"), int)]
    if not sizes:
        return []
    parent = median(sizes)
    allowed = factor * parent + (1 << 20)
    if total <= allowed:
        return []
    return [finding(
        "checkpoint.size",
        f"training handed predict {total / 1e6:.1f} MB where its parent's model took "
        f"{parent / 1e6:.2f} MB (allowed: {factor:g}x that + 1 MB): a checkpoint far larger "
        "than the model it holds carries something else (a model that much larger grows "
        "there in steps, each one accepted)",
        f"checkpoint_bytes={total} parent_checkpoint_bytes={int(parent)} allowed={int(allowed)}")]


def training_data_finding(checkpoint: CheckpointSet, stream: np.ndarray) -> list[dict]:
    """checkpoint.training-data: the longest copy of training bytes anywhere in the set."""
    grams = np.unique(_grams(stream))
    best = (0, "", 0, 1)
    for name, data in checkpoint.contents():
        for part, blob in _parts(name, data):
            for stride in (1, 2, 4, 8):
                for offset in range(stride):
                    view = np.frombuffer(blob, dtype=np.uint8)[offset::stride]
                    length, where = _longest_copy(view, grams)
                    if length > best[0]:
                        best = (length, part, offset + where * stride, stride)
    length, part, at, stride = best
    if length < RUN_BYTES:
        return []
    kind = "raw" if stride == 1 else f"one byte in {stride}"
    return [finding(
        "checkpoint.training-data",
        f"the checkpoint carries {length} consecutive bytes of the training text ({kind}): "
        "predict gets a model, not the data it was trained on",
        f"{part}: byte {at} on (stride {stride})")]


def _parts(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The file, and when it is an archive (torch.save's format), each member, decompressed."""
    yield name, data
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist()[:4096]:
                if info.file_size > 1 << 30:
                    continue
                member = archive.read(info)
                yield f"{name}:{info.filename}", member
                for unpack in (zlib.decompress, lzma.decompress, bz2.decompress):
                    try:
                        yield f"{name}:{info.filename} ({unpack.__module__})", unpack(member)
                    except Exception:  # noqa: BLE001 - not that format
                        continue
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return


def _grams(view: np.ndarray) -> np.ndarray:
    if len(view) < GRAM:
        return np.empty(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(view, GRAM)
    return np.ascontiguousarray(windows).view("<u8")[:, 0]


def _longest_copy(view: np.ndarray, grams: np.ndarray) -> tuple[int, int]:
    """(bytes, start) of the longest stretch of `view` whose every gram is a training gram."""
    if len(view) < RUN_BYTES or len(grams) == 0 or not _textlike(view):
        return 0, 0
    mine = _grams(view)
    found = np.searchsorted(grams, mine)
    hit = grams[np.minimum(found, len(grams) - 1)] == mine
    if not hit.any():
        return 0, 0
    # runs of consecutive hits: a run of k grams covers k + GRAM - 1 bytes
    edges = np.diff(np.concatenate([[0], hit.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    return int(ends[longest] - starts[longest]) + GRAM - 1, int(starts[longest])


def _textlike(view: np.ndarray) -> bool:
    """Whether some block of `view` is mostly text (tabs, newlines, printable ASCII): float
    weights are about 38% such bytes, so a view with no such block holds no long copy and is
    not searched (a copy of RUN_BYTES covers at least one whole block)."""
    text = ((view >= 32) & (view < 127)) | (view == 9) | (view == 10) | (view == 13)
    n = len(text) // BLOCK * BLOCK
    return n > 0 and bool(text[:n].reshape(-1, BLOCK).mean(axis=1).max() >= TEXTLIKE)
