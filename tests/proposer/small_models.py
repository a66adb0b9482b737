"""What the tests of the LLM researcher with small models share: answers in the format, a
context on a run's baseline, a researcher against the loopback server, and what a request
told the model last."""

from __future__ import annotations

from recursor.proposer import ProposalContext
from recursor.proposer.llm.endpoint import Endpoint
from recursor.proposer.llm.researcher import NOTE, LLMResearcher
from recursor.store import NodeStatus, RunStore
from recursor.task import load_task

KEY = "sk-test-small-models"


def answer(title: str, search: str, replace: str, category: str = "hyperparameter") -> str:
    return (f"TITLE: {title}\nCATEGORY: {category}\nHYPOTHESIS: it helps.\nRATIONALE: none.\n"
            f"PATCH:\ntrain.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n"
            ">>>>>>> REPLACE\n")


def context(task, store) -> ProposalContext:
    nodes = tuple(store.nodes())
    return ProposalContext(task=task, parent=nodes[0], parent_files=store.files(nodes[0]),
                           lineage=(nodes[0],), nodes=nodes, seed=0)

# what a 1.5B coder model wrote twelve times in a row: the line without its trailing comment
BATCH = answer("Double the batch size", "batch_size = 32", "batch_size = 64")
HEADS = answer("More heads", "n_head = 4", "n_head = 8", "architecture")


def baseline_store(folder, name: str):
    """A fresh run store of task `name` holding its baseline, accepted: (task, store)."""
    task = load_task(name)
    store = RunStore.create(folder / "run", {"task": name})
    base = store.add_node(None, None, task.program_files())
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    return task, store


def told(request) -> str:
    """What a request told the model last: the note on its earlier try when the request was
    asked afresh, else the last message."""
    return request.body["messages"][-1]["content"].split(NOTE)[-1]


def researcher(llm, store, persona="optimizer", **endpoint) -> LLMResearcher:
    e = Endpoint(model="fake-model", base_url=llm.url + "/v1", api_key_env="RECURSOR_TEST_KEY",
                 max_retries=0, timeout=10, **endpoint)
    return LLMResearcher(e, persona, read_patch=lambda n: store.path(n.patch_path).read_text())


def hash_of(store, node) -> str:
    """The program hash of a node's files, as the run's `programs` map holds it."""
    from recursor.discoveries.records import program_hash

    return program_hash(store.files(node))
