"""Greedy answers of the chat model, the hidden states behind them, and the likelihood of an answer.

Every prompt is a `Chat`, a system prompt and a user prompt, written out by the model's own chat
template (from its GGUF metadata) up to where the assistant's answer begins. Decoding is greedy
(the most likely token every step), so the same chat gives the same answer: there is no sampling
to seed. Answers end at the end-of-turn token or at `max_new_tokens`, whichever comes first.

Batches are padded on the left and the padding is masked out; each row's positions count from
its own first token, so a prompt is read the same way alone or in a batch. Batched arithmetic
may still round differently in the last bits than the same prompt alone (matrix products of
another shape); `tests/task/test_redteam_chat.py` checks that the answers are the same
either way on the prompts it tries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from recursor.task.redteam.chat.model import ChatModel

MAX_NEW_TOKENS = 64
BATCH_SIZE = 8


@dataclass(frozen=True)
class Chat:
    """One turn: the user's prompt under a system prompt. `system=None` leaves the system prompt
    to the chat template, which writes its own default one ("You are a helpful AI assistant
    named SmolLM, trained by Hugging Face")."""

    user: str
    system: str | None = None


@dataclass(frozen=True)
class Generation:
    """A greedy answer: its text (every token the model wrote before the end-of-turn token,
    special ones included, whitespace as generated), its token ids (the end-of-turn token last
    when it came) and whether it `finished`, that is ended with the end-of-turn token before the
    cap on new tokens."""

    text: str
    tokens: tuple[int, ...]
    finished: bool


def prompt_ids(chat_model: ChatModel, chat: Chat) -> list[int]:
    """The token ids of `chat` as the chat template writes it, up to the start of the answer."""
    messages = [] if chat.system is None else [{"role": "system", "content": chat.system}]
    messages.append({"role": "user", "content": chat.user})
    # the template's text, then the tokenizer: the special tokens (<|im_start|>...) are written
    # in the text and read back as single tokens, the same on every transformers version
    text = chat_model.tokenizer.apply_chat_template(messages, tokenize=False,
                                                    add_generation_prompt=True)
    return list(chat_model.tokenizer(text, add_special_tokens=False)["input_ids"])


def generate(chat_model: ChatModel, chats: Sequence[Chat], max_new_tokens: int = MAX_NEW_TOKENS,
             batch_size: int = BATCH_SIZE) -> list[Generation]:
    """The greedy answer to each chat, in order, `batch_size` chats at a time."""
    import torch
    from transformers import GenerationConfig

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    end, pad = chat_model.end_id, chat_model.tokenizer.pad_token_id
    # every sampling and penalty setting spelled out, so that nothing a model folder's own
    # generation_config says changes the decoding
    config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                              eos_token_id=end, pad_token_id=pad,
                              bos_token_id=chat_model.tokenizer.bos_token_id, repetition_penalty=1.0,
                              temperature=None, top_p=None, top_k=None)
    answers: list[Generation] = []
    for batch in _batches([prompt_ids(chat_model, c) for c in chats], batch_size):
        ids, mask = _pad(batch, pad)
        with torch.inference_mode():
            out = chat_model.model.generate(input_ids=ids, attention_mask=mask,
                                            generation_config=config)
        for row in out[:, ids.shape[1]:].tolist():
            answers.append(_answer(chat_model, row, end))
    return answers


def hidden_states(chat_model: ChatModel, chats: Sequence[Chat], layer: int,
                  batch_size: int = BATCH_SIZE) -> Any:
    """The residual stream at the last prompt token (where the answer is about to begin), after
    decoder layer `layer` (1 to num_layers; 0 is the token embedding), for each chat: a float32
    tensor of shape (len(chats), hidden_size). The model's final norm is not applied."""
    import torch

    if not 0 <= layer <= chat_model.num_layers:
        raise ValueError(f"layer must be 0 to {chat_model.num_layers}, not {layer}")
    inner = chat_model.model.model
    module = inner.embed_tokens if layer == 0 else inner.layers[layer - 1]
    rows: list[Any] = []
    seen: list[Any] = []
    # a hook on the layer itself keeps that one layer's output (`output_hidden_states` would
    # keep all 31 for every token), and names the stream exactly: what the layer hands on
    handle = module.register_forward_hook(
        lambda _m, _inp, out: seen.append(out[0] if isinstance(out, tuple) else out))
    try:
        for batch in _batches([prompt_ids(chat_model, c) for c in chats], batch_size):
            ids, mask = _pad(batch, chat_model.tokenizer.pad_token_id)
            seen.clear()
            with torch.inference_mode():
                chat_model.model(input_ids=ids, attention_mask=mask,
                                 position_ids=_positions(mask), use_cache=False)
            rows.append(seen[-1][:, -1, :].float().clone())
    finally:
        handle.remove()
    if not rows:
        return torch.zeros((0, chat_model.hidden_size))
    return torch.cat(rows)


def answer_logprob(chat_model: ChatModel, chats: Sequence[Chat],
                   answers: Sequence[str | Sequence[int]],
                   batch_size: int = BATCH_SIZE) -> list[float]:
    """The log-likelihood (natural log, summed over the answer's tokens) of each answer after
    its chat. An answer given as text is encoded and closed with the end-of-turn token, as the
    chat template closes an answer; given as token ids (a Generation's `tokens`), it is scored
    as it is, so that a model's own answer is scored token for token as it was generated."""
    import torch

    if len(chats) != len(answers):
        raise ValueError(f"{len(chats)} chats but {len(answers)} answers")
    pairs = []
    for chat, answer in zip(chats, answers, strict=True):
        if isinstance(answer, str):
            tokens = [*chat_model.tokenizer(answer, add_special_tokens=False)["input_ids"],
                      chat_model.end_id]
        else:
            tokens = [int(t) for t in answer]
        if not tokens:
            raise ValueError("an answer needs at least one token")
        pairs.append((prompt_ids(chat_model, chat), tokens))
    scores: list[float] = []
    for batch in _batches(pairs, batch_size):
        ids, mask = _pad([p + a for p, a in batch], chat_model.tokenizer.pad_token_id)
        with torch.inference_mode():
            logits = chat_model.model(input_ids=ids, attention_mask=mask,
                                      position_ids=_positions(mask), use_cache=False).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        width = ids.shape[1]
        for row, (_, answer) in enumerate(batch):
            # the answer fills the row's last len(answer) places; each of its tokens is
            # predicted at the place before it
            start = width - len(answer)
            target = ids[row, start:]
            picked = logprobs[row, start - 1:width - 1].gather(-1, target[:, None])
            scores.append(float(picked.sum()))
    return scores


def _answer(chat_model: ChatModel, row: list[int], end: int) -> Generation:
    finished = end in row
    tokens = row[: row.index(end) + 1] if finished else row
    # nothing is dropped from the text but the closing end-of-turn token: a special token the
    # model writes inside its answer is part of what it said
    text = chat_model.tokenizer.decode(tokens[:-1] if finished else tokens,
                                       skip_special_tokens=False)
    return Generation(text=text, tokens=tuple(tokens), finished=finished)


def _batches(items: list, size: int) -> Iterator[list]:
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, not {size}")
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pad(rows: list[list[int]], pad: int) -> tuple[Any, Any]:
    """Left-padded ids and their attention mask (1 on real tokens)."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return ids, mask


def _positions(mask: Any) -> Any:
    """Each row's positions counted from its own first real token, as generation counts them, so
    that a forward pass here does the arithmetic generation does (the rotary embedding depends
    on relative positions only: without this the padding would change rounding, not meaning)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)
