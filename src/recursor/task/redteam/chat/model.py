"""SmolLM2-135M-Instruct in PyTorch on CPU, read from its GGUF file by transformers.

transformers reads a GGUF file itself (`gguf_file=`, with the `gguf` package): it dequantises
the weights to float32 and builds the tokenizer and the chat template from the file's metadata,
offline. That is slow, about 30 s on one core, most of it spent parsing the file's metadata
three times over, so the first load writes what it read as an ordinary transformers folder
beside the data cache (`SmolLM2-135M-Instruct.Q4_1.transformers/`, 540 MB), and later loads
read that folder in about a second.

The weights are pinned like the data: whichever way they were loaded, their digest
(`weights_digest`) must be WEIGHTS_DIGEST, or the folder is converted again from the verified
GGUF file; a conversion that does not give the pinned weights is refused. So the model a
harness runs is the same on every machine and with every transformers version, or it does not
run at all. The folder's other files (tokenizer, chat template, config) are checked against the
hashes written beside them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recursor.errors import DataError, RecursorError
from recursor.task.data import cache_dir, sha256_of
from recursor.task.redteam.chat.source import SMOLLM2, fetch_model

# sha256 over every parameter (name, dtype, shape, bytes), in name order: the weights of the
# pinned GGUF file as transformers dequantises them (the tied output layer counted once)
WEIGHTS_DIGEST = "9d0d5dad5e9470b33a1c75d1c240f53c338d653a20a59164ddeaafae11f9483f"
CONVERTED = "SmolLM2-135M-Instruct.Q4_1.transformers"
MANIFEST = "recursor-manifest.json"
WEIGHTS_FILE = "model.safetensors"
END_OF_TURN = "<|im_end|>"


@dataclass(frozen=True)
class ChatModel:
    """The model (eval mode, float32, CPU) and its tokenizer. `end_id` is the end-of-turn token
    that closes an answer in the chat template: generation stops there."""

    model: Any  # transformers' LlamaForCausalLM, typed loosely so that importing this is cheap
    tokenizer: Any
    end_id: int

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def load_chat_model(cache: Path | None = None, gguf: Path | None = None) -> ChatModel:
    """The pinned model, from the converted folder under `cache` (default: the data cache) when
    it holds the pinned weights, else converted from the GGUF file (`gguf`, a verified copy, as
    a harness is handed it; by default fetched through the data cache) and the folder written
    for next time. Raises DataError when the model cannot be fetched, or when this transformers
    gives other weights than the pinned ones, and RecursorError when the redteam-chat extra is
    not installed."""
    _require_libraries()
    folder = (cache or cache_dir()) / CONVERTED
    why = _folder_problem(folder)
    if why is None:
        chat = _from_folder(folder)
        digest = weights_digest(chat.model)
        if digest == WEIGHTS_DIGEST:
            return chat
        why = f"its weights have digest {digest[:12]}..., not the pinned {WEIGHTS_DIGEST[:12]}..."
    _convert(gguf or fetch_model(), folder, why)
    chat = _from_folder(folder)
    digest = weights_digest(chat.model)
    if digest != WEIGHTS_DIGEST:  # the folder was just written from verified weights
        raise DataError(f"{folder}: the weights read back have digest {digest}, not the pinned "
                        f"{WEIGHTS_DIGEST}; delete the folder and load again")
    return chat


def weights_digest(model: Any) -> str:
    """sha256 over the model's parameters: each one's name, dtype and shape, then its bytes,
    in name order. Tied parameters are counted once (under the name torch keeps)."""
    h = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        tensor = param.detach().cpu().contiguous()
        h.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        h.update(tensor.reshape(-1).numpy())  # the tensor's own memory, not a copy
    return h.hexdigest()


def _require_libraries() -> None:
    missing = []
    for module in ("torch", "transformers", "gguf", "accelerate", "safetensors"):
        try:
            __import__(module)
        except ImportError as err:  # absent, or present but failing on an import of its own
            missing.append(module if err.name == module else f"{module} ({err})")
    if missing:
        raise RecursorError(f"the chat model needs {', '.join(missing)}: pip install "
                        "'recursor[redteam-chat]' torch")


def _folder_problem(folder: Path) -> str | None:
    """Why the converted folder cannot be read as it is (None: its files match its manifest;
    the weights are checked by their digest once loaded)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return "there is no converted folder" if not folder.exists() else "it has no manifest"
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return "its manifest is not readable"
    if WEIGHTS_FILE not in files or not (folder / WEIGHTS_FILE).is_file():
        return f"it has no {WEIGHTS_FILE}"
    for name, digest in files.items():
        if name == WEIGHTS_FILE:
            continue
        path = folder / name
        if not path.is_file() or sha256_of(path) != digest:
            return f"its {name} is missing or changed"
    return None


def converted_folder(cache: Path) -> Path | None:
    """The converted folder under `cache` when its files match its manifest (its weights are
    checked only when `load_chat_model` reads them), else None."""
    folder = Path(cache) / CONVERTED
    return folder if _folder_problem(folder) is None else None


def load_folder(folder: Path) -> ChatModel:
    """The model of a converted folder as it is, its weights unchecked: what a program is handed
    (a copy of the pinned model's folder). Harnesses load the model with `load_chat_model`."""
    _require_libraries()
    return _from_folder(Path(folder))


def _from_folder(folder: Path) -> ChatModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet():
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    return _ready(model, tokenizer)


def _ready(model: Any, tokenizer: Any) -> ChatModel:
    import torch

    model = model.to(torch.float32).eval()
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if not isinstance(end_id, int) or end_id == tokenizer.unk_token_id:
        raise DataError(f"the tokenizer has no {END_OF_TURN} token")
    # prompts of a batch are padded on the left, so that every prompt ends where its answer
    # begins; the padding itself is masked out
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = END_OF_TURN
    return ChatModel(model=model, tokenizer=tokenizer, end_id=end_id)


def _convert(gguf: Path, folder: Path, why: str) -> None:
    """Read the GGUF file with transformers and write the converted folder in its place: into a
    temporary folder beside it, renamed when whole, so that a killed process leaves no half
    folder behind and two processes converting at once both end with a whole one."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # transformers' own bar over the GGUF tensors ignores its progress-bar setting
    with _quiet(), contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     local_files_only=True)
    digest = weights_digest(model)
    if digest != WEIGHTS_DIGEST:
        import transformers

        raise DataError(f"transformers {transformers.__version__} reads {gguf.name} (sha256 "
                        f"verified) as weights with digest {digest}, not the pinned "
                        f"{WEIGHTS_DIGEST}: this version dequantises or arranges them otherwise")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        # the parameters under the names torch keeps, so the tied output layer is stored once,
        # as the token embedding, where every transformers version looks for it; the "format"
        # mark is what transformers 4 asks of a safetensors file before it reads one
        weights = {name: p.detach().contiguous() for name, p in model.named_parameters()}
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        config = model.config.to_dict()
        # the folder holds plain float32 weights: nothing of the GGUF's quantisation is left
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True))
        tokenizer.save_pretrained(tmp)
        files = {p.name: sha256_of(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps(
            {"files": files, "gguf": {"file": SMOLLM2.file, "sha256": SMOLLM2.sha256},
             "weights_digest": digest, "why_converted": why}, indent=1))
        _replace_folder(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_folder(new: Path, folder: Path) -> None:
    if folder.exists():  # an old or broken conversion: moved aside, then removed
        old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old."))
        with contextlib.suppress(FileNotFoundError):
            os.replace(folder, old / "folder")
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(new, folder)
    except OSError:
        # another process put its whole conversion there first: it is as good as ours
        if not (folder / MANIFEST).is_file():
            raise


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars from transformers while it reads files (a harness's log is for its
    own words); the setting is put back as it was."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()
