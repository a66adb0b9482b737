import hashlib
import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recursor.proposer import ProposalContext
from recursor.proposer.novelty import DEFAULT_THRESHOLD, NoveltyFilter, OpenAIEmbedder, tried_in_run
from recursor.store.records import Idea, Node, NodeStatus
from recursor.task import load_task

TASK = load_task("tiny-lm")
LIBRARY = {i.key: i for i in TASK.ideas}
# the whole library as if every idea had been tried, node ids 1..28 in file order
TRIED = [(n, Idea(i.title, i.hypothesis, i.rationale, key=i.key), i.patch_text)
         for n, i in enumerate(TASK.ideas, start=1)]
NODE_OF = {idea.key: n for n, idea, _ in TRIED}

# -- paraphrases: (the library idea they repeat, a reworded idea, the same edit written otherwise)

LR_UP = Idea(
    "Raise the peak learning rate to 0.003",
    "Training at 1e-3 is too cautious for a model this small; tripling the step size reaches a lower "
    "validation bpb within the same budget.",
    "Small transformers tolerate large learning rates, and short runs reward fast progress.",
)
# numbers written another way, no spaces around '=', a comment, and more context quoted
LR_UP_PATCH = """\
train.py
<<<<<<< SEARCH
batch_size = 32  # sequences per step; one step consumes batch_size * block_size bytes
learning_rate = 1e-3
weight_decay = 0.1
=======
batch_size = 32  # sequences per step; one step consumes batch_size * block_size bytes
learning_rate=0.003   # three times the baseline
weight_decay = 0.1
>>>>>>> REPLACE
"""
# the same change on a parent where batch-16 was accepted: the quoted context differs
LR_UP_OTHER_PARENT = """\
```
train.py
<<<<<<< SEARCH
batch_size = 16  # sequences per step; one step consumes batch_size * block_size bytes
learning_rate = 1e-3
=======
batch_size = 16  # sequences per step; one step consumes batch_size * block_size bytes
learning_rate = 3e-3
>>>>>>> REPLACE
```
"""

COSINE = Idea(
    "Cosine learning-rate decay after a short linear warm-up",
    "Warming up over the first 5% of steps and annealing along a cosine to 10% of the peak lowers "
    "the final loss compared to a flat schedule.",
    "Annealing lets the last steps settle into a sharper minimum; warm-up protects the first steps.",
)
COSINE_PATCH = """\
train.py
<<<<<<< SEARCH
def get_lr(step, total_steps):
    return learning_rate  # a constant schedule: no warmup, no decay
=======
def get_lr(step, total_steps):
    warmup = max(1, total_steps//20)   # 5% of the run
    if step < warmup:
        return learning_rate * (step + 1) / warmup

    progress = (step - warmup) / max(1, total_steps - 1 - warmup)
    min_lr = learning_rate / 10
    return min_lr + 0.5*(learning_rate - min_lr)*(1 + math.cos(math.pi*progress))
>>>>>>> REPLACE
"""

ZERO_HEAD = Idea(
    "Start the LM head at zero",
    "A zero output layer makes the initial prediction uniform over bytes, removing the large "
    "initial loss spike and speeding up early training.",
)
ZERO_HEAD_PATCH = """\
train.py
<<<<<<< SEARCH
        self.ln_f = LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)
=======
        self.ln_f = LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)
        torch.nn.init.zeros_(self.lm_head.weight)
>>>>>>> REPLACE
"""

RMS = Idea(
    "Swap LayerNorm for RMS normalisation",
    "Dropping mean-centring and the bias of every norm costs nothing in quality and saves compute.",
)
# the class edit whitespace-varied, the three norm swaps quoted with other context lines
RMS_PATCH = """\
train.py
<<<<<<< SEARCH
class LayerNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)
=======
class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
    def forward(self, x):
        return F.rms_norm(x, self.weight.shape, self.weight, 1e-5)
>>>>>>> REPLACE
<<<<<<< SEARCH
        self.ln_1 = LayerNorm(n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = LayerNorm(n_embd)
=======
        self.ln_1 = RMSNorm(n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = RMSNorm(n_embd)
>>>>>>> REPLACE
<<<<<<< SEARCH
        self.ln_f = LayerNorm(n_embd)
=======
        self.ln_f = RMSNorm(n_embd)
>>>>>>> REPLACE
"""

PARAPHRASES = {
    "lr-up, respaced with context": ("lr-3e-3", LR_UP, LR_UP_PATCH),
    "lr-up, another parent": ("lr-3e-3", LR_UP, LR_UP_OTHER_PARENT),
    "lr-up, library wording": ("lr-3e-3", TRIED[NODE_OF["lr-3e-3"] - 1][1], LR_UP_OTHER_PARENT),
    "cosine": ("warmup-cosine", COSINE, COSINE_PATCH),
    "zero head": ("zero-init-head", ZERO_HEAD, ZERO_HEAD_PATCH),
    "rmsnorm": ("rmsnorm", RMS, RMS_PATCH),
}


def lib(key: str) -> tuple[Idea, str]:
    n = NODE_OF[key]
    return TRIED[n - 1][1], TRIED[n - 1][2]


def test_library_ideas_are_pairwise_novel():
    f = NoveltyFilter()
    scores = []
    for (_, ia, pa), (nb, ib, pb) in itertools.combinations(TRIED, 2):
        novel, near = f.is_novel(ia, pa, [(nb, ib, pb)])
        assert novel, near.reason
        scores.append(near.score)
    # against the whole rest of the library at once, as in a run that tried everything
    for n, idea, patch in TRIED:
        novel, near = f.is_novel(idea, patch, [t for t in TRIED if t[0] != n])
        assert novel, near.reason
    assert max(scores) < DEFAULT_THRESHOLD - 0.2  # a margin, not a near miss


@pytest.mark.parametrize("name", PARAPHRASES)
def test_paraphrases_are_flagged_naming_the_earlier_node(name):
    key, idea, patch = PARAPHRASES[name]
    novel, near = NoveltyFilter().is_novel(idea, patch, TRIED)
    assert not novel
    assert near.node_id == NODE_OF[key]
    assert f"node {NODE_OF[key]} ('{LIBRARY[key].title}')" in near.reason
    assert near.reason.startswith("same edit as") and near.patch >= DEFAULT_THRESHOLD


def test_same_edit_to_different_parents_is_the_same():
    f = NoveltyFilter()
    _, near = f.is_novel(LR_UP, LR_UP_OTHER_PARENT, [(7, LR_UP, LR_UP_PATCH)])
    assert near.patch == 1.0 and near.score == 1.0 and "node 7" in near.reason


def test_opposite_directions_are_novel_even_when_worded_alike():
    lr_down = Idea(LR_UP.title.replace("Raise", "Lower").replace("0.003", "0.0003"),
                   LR_UP.hypothesis.replace("tripling", "dividing by three"), LR_UP.rationale)
    down_patch = LR_UP_PATCH.replace("0.003   # three times", "3e-4   # a third of")
    novel, near = NoveltyFilter().is_novel(lr_down, down_patch, [(3, LR_UP, LR_UP_PATCH)])
    assert novel, near.reason
    assert near.text > 0.5 and near.reason.startswith("novel: the closest earlier idea is node 3")
    for a, b in [("lr-3e-3", "lr-3e-4"), ("batch-16", "batch-64"), ("deep-narrow", "shallow-wide"),
                 ("no-weight-decay", "weight-decay-high"), ("context-32", "context-128")]:
        assert NoveltyFilter().is_novel(*lib(a), [(1, *lib(b))])[0]


def test_the_same_idea_with_a_nearly_same_edit_is_a_repeat_by_text_and_patch_together():
    idea, patch = lib("deep-narrow")
    narrower = patch.replace("n_embd = 48", "n_embd = 32")  # one of its two changes differs
    novel, near = NoveltyFilter().is_novel(idea, narrower, TRIED)
    assert not novel and near.node_id == NODE_OF["deep-narrow"]
    assert near.patch < DEFAULT_THRESHOLD <= near.score and near.reason.startswith("close to node")
    reworded = Idea("Six thinner layers", "Depth beats width for byte-level modelling at this size.")
    assert NoveltyFilter().is_novel(reworded, narrower, TRIED)[0]  # the edit alone is not the same


def test_first_idea_of_a_run_has_nothing_to_repeat():
    assert NoveltyFilter().is_novel(LR_UP, LR_UP_PATCH, []) == (True, None)


def test_unreadable_patches_do_not_crash():
    novel, near = NoveltyFilter().is_novel(LR_UP, "just prose, no blocks", [(1, LR_UP, "")])
    assert novel and near.patch == 0.0 and near.text > 0.99


# -- embeddings, against a loopback server in the OpenAI response shape


def _bag_of_words(text: str, dim: int = 64) -> list[float]:
    v = [0.0] * dim
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        v[int(hashlib.md5(w.encode()).hexdigest(), 16) % dim] += 1.0
    return v


class _Embeddings(BaseHTTPRequestHandler):
    fail = False
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if self.fail or self.path != "/v1/embeddings":
            self.send_response(500)
            self.end_headers()
            return
        data = [{"object": "embedding", "index": i, "embedding": _bag_of_words(t)}
                for i, t in enumerate(body["input"])]
        out = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    pytest.importorskip("openai")
    handler = type("Handler", (_Embeddings,), {"requests": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, handler
    srv.shutdown()
    srv.server_close()


def _embedder(srv) -> OpenAIEmbedder:
    return OpenAIEmbedder("hash-64", base_url=f"http://127.0.0.1:{srv.server_port}/v1", api_key="test",
                          timeout=5, max_retries=0)


def test_embeddings_measure_the_text_when_configured(server):
    srv, handler = server
    f = NoveltyFilter(embedder=_embedder(srv))
    tried = [(5, LR_UP, LR_UP_PATCH), (6, *lib("rmsnorm"))]
    novel, near = f.is_novel(LR_UP, LR_UP_OTHER_PARENT, tried)
    assert not novel and near.method == "embeddings" and near.node_id == 5 and near.text > 0.99
    assert handler.requests[0]["model"] == "hash-64" and handler.requests[0]["encoding_format"] == "float"
    # the tried ideas are embedded once per run, not once per proposal
    f.is_novel(COSINE, COSINE_PATCH, tried)
    assert [len(r["input"]) for r in handler.requests] == [2, 1]


def test_a_failing_embedder_falls_back_to_tfidf_and_says_so(server):
    srv, handler = server
    handler.fail = True
    f = NoveltyFilter(embedder=_embedder(srv))
    novel, near = f.is_novel(LR_UP, LR_UP_OTHER_PARENT, [(5, LR_UP, LR_UP_PATCH)])
    assert not novel and near.node_id == 5
    assert near.method.startswith("tf-idf (embedder failed") and "TF-IDF used instead" in near.reason
    plain = NoveltyFilter().closest(LR_UP, LR_UP_OTHER_PARENT, [(5, LR_UP, LR_UP_PATCH)])
    assert (near.text, near.patch, near.score) == (plain.text, plain.patch, plain.score)
    assert plain.method == "tf-idf" and "TF-IDF" not in plain.reason


# -- the run's history


def test_tried_in_run_lists_every_idea_of_any_status():
    def node(i, idea, status):
        return Node(i, None if i == 1 else 1, status, idea, f"nodes/{i}/patch.txt", None, "", 0, None, None,
                    None)

    nodes = (node(1, None, NodeStatus.ACCEPTED), node(2, LR_UP, NodeStatus.REJECTED),
             node(3, COSINE, NodeStatus.RUNNING), node(4, RMS, NodeStatus.FAILED))
    patches = {2: LR_UP_PATCH, 3: COSINE_PATCH}

    def read(n: Node) -> str:
        if n.id not in patches:
            raise FileNotFoundError(n.patch_path)
        return patches[n.id]

    ctx = ProposalContext(TASK, nodes[0], TASK.program_files(), (nodes[0],), nodes, 0)
    assert tried_in_run(ctx, read) == [(2, LR_UP, LR_UP_PATCH), (3, COSINE, COSINE_PATCH), (4, RMS, "")]
