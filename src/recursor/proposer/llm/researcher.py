"""An LLM researcher: one model, one persona, proposing through the task brief.

For a parent it sends the task brief (goal, rules, the parent's code, the lineage with each
step's verdict, what was tried and what failed, untried directions of the library) and asks for
one idea with a patch. Before the loop sees the answer, the researcher checks it the way the
loop will (it parses; the patch applies to the parent; the static auditor passes it; it is not
a repeat of an idea the run already tried) and sends every problem back to the model, up to
`max_repairs` times. Each call is recorded with its tokens, cost, outcome and transcript.

Repair after a crash: when an idea of this researcher ran and failed on this parent (a
traceback, a timeout, a memory cap), the next turn on that parent goes to repairing it: the
model gets its own patch and the error, and answers a corrected patch for the same idea. Repairs
are found from the tree itself (`idea.source = "repair of node N"`), so a resumed run knows them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from recursor.audit.memorisation import task_corpus
from recursor.loop.candidates import apply_proposal
from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed
from recursor.proposer.brief import task_brief
from recursor.proposer.llm.answer import FORMAT, Answer, AnswerError, parse_answer
from recursor.proposer.llm.endpoint import ChatClient, Endpoint, LLMError, Reply
from recursor.proposer.llm.personas import Persona, persona, system_prompt
from recursor.store.records import Call, Idea, Node, NodeStatus

REPAIR_TAG = "repair of node "


class LLMResearcher:
    def __init__(self, endpoint: Endpoint, persona_name: str = "generalist", *,
                 max_repairs: int = 2, novelty: object | None = None,
                 read_patch: Callable[[Node], str] | None = None,
                 client: ChatClient | None = None):
        self.endpoint = endpoint
        self.persona: Persona = persona(persona_name)
        self.max_repairs = max_repairs
        self.novelty = novelty  # a NoveltyFilter; None: no check
        self.read_patch = read_patch  # node -> its patch text, for crash repairs and novelty
        self.client = client or ChatClient(endpoint)
        self.name = f"llm:{endpoint.label}:{self.persona.name}"

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return True  # a model can always try; the run's budget and cost cap bound it

    # -- proposing -------------------------------------------------------------------------

    def propose(self, ctx: ProposalContext) -> Proposal:
        broken = self._to_repair(ctx)
        if broken is not None:
            purpose = "repair"
            request = self._repair_request(ctx, broken)
        else:
            purpose = "propose"
            request = (task_brief(ctx) + "\n\n## Your turn\nPropose one new idea for node "
                       f"{ctx.parent.id}.\n\n{FORMAT}")
        system = system_prompt(self.persona)
        messages = [{"role": "user", "content": request}]
        calls: list[Call] = []
        problem = ""
        for attempt in range(1, self.max_repairs + 2):
            try:
                reply = self.client.chat(system, messages)
            except LLMError as err:
                calls.append(self._call(purpose, attempt, None, f"error:{err.kind}", str(err),
                                        system, messages, ""))
                raise ProposalFailed(f"{self.name}: {err}", tuple(calls)) from None
            outcome, problem, answer = self._check(ctx, reply, broken)
            calls.append(self._call(purpose, attempt, reply, outcome, problem, system, messages,
                                    reply.text))
            if answer is not None:
                return Proposal(self._idea(answer, broken), answer.patch, tuple(calls))
            spent = sum(c.cost for c in calls)
            if ctx.cost_left is not None and spent >= ctx.cost_left:
                break
            messages += [{"role": "assistant", "content": reply.text},
                         {"role": "user", "content": f"That answer cannot be used: {problem}\n\n"
                          "Answer again with the whole idea and a corrected patch, in the same "
                          "format."}]
        raise ProposalFailed(f"{self.name} gave no usable answer in {len(calls)} tries; the "
                             f"last problem: {problem}", tuple(calls))

    def _check(self, ctx: ProposalContext, reply: Reply,
               broken: Node | None = None) -> tuple[str, str, Answer | None]:
        """(outcome, problem for the model, the answer when it can be used). A repair is
        measured for novelty against everything but the failed attempts it repairs."""
        if reply.truncated:
            return ("truncated", "the answer was cut off at the token limit; make the patch "
                    "smaller (quote fewer lines in SEARCH)", None)
        try:
            answer = parse_answer(reply.text)
        except AnswerError as err:
            return "bad-answer", str(err), None
        applied = apply_proposal(answer.patch, ctx.parent_files, ctx.task.spec.program.editable,
                                 task_corpus(ctx.task))
        if applied.status is NodeStatus.FAILED:
            return "patch-error", applied.reason or "the patch does not apply", None
        if applied.status is NodeStatus.REJECTED:
            return "audit", f"{applied.reason}. Change the idea so that it keeps the rules.", None
        if self.novelty is not None and self.read_patch is not None:
            from recursor.proposer.novelty import tried_in_run

            idea = self._idea(answer, None)
            mending = _repair_chain(broken, ctx.nodes) if broken is not None else set()
            tried = [t for t in tried_in_run(ctx, self.read_patch) if t[0] not in mending]
            novel, similar = self.novelty.is_novel(idea, answer.patch, tried)
            if not novel:
                return ("duplicate", f"the idea repeats one the run already tried: "
                        f"{similar.reason}. Propose a different idea.", None)
        return "ok", "", answer

    def _idea(self, answer: Answer, broken: Node | None) -> Idea:
        if broken is not None:
            return Idea(title=answer.title, hypothesis=answer.hypothesis,
                        rationale=answer.rationale, category=answer.category,
                        source=f"{REPAIR_TAG}{broken.id}", proposer=self.name,
                        reason=f"repairs node {broken.id}, which failed: "
                               f"{(broken.reason or '')[:200]}")
        return Idea(title=answer.title, hypothesis=answer.hypothesis, rationale=answer.rationale,
                    category=answer.category, proposer=self.name,
                    reason=f"proposed by {self.endpoint.label} as the {self.persona.name}")

    def _call(self, purpose: str, attempt: int, reply: Reply | None, outcome: str, detail: str,
              system: str, messages: Sequence[dict[str, str]], answer: str) -> Call:
        tokens_in = reply.input_tokens if reply else 0
        tokens_out = reply.output_tokens if reply else 0
        transcript = "\n\n".join([f"## system\n{system}",
                                  *(f"## {m['role']}\n{m['content']}" for m in messages),
                                  f"## answer ({outcome})\n{answer}"])
        return Call(proposer=self.name, model=self.endpoint.label, purpose=purpose,
                    attempt=attempt, input_tokens=tokens_in, output_tokens=tokens_out,
                    cost=self.endpoint.cost(tokens_in, tokens_out),
                    seconds=reply.seconds if reply else 0.0, outcome=outcome, detail=detail,
                    transcript=transcript)

    # -- repairs after a failed experiment -------------------------------------------------

    def _to_repair(self, ctx: ProposalContext) -> Node | None:
        """A failed experiment of mine on this parent, not yet repaired, with repairs left."""
        if self.read_patch is None:
            return None
        children = ctx.children(ctx.parent.id)
        repaired = {n.idea.source for n in children if n.idea}
        for node in children:
            if (node.idea and node.idea.proposer == self.name
                    and node.status is NodeStatus.FAILED and node.patch_path
                    and not (node.reason or "").startswith("patch does not apply")
                    and f"{REPAIR_TAG}{node.id}" not in repaired
                    and _repair_depth(node, children) < self.max_repairs):
                return node
        return None

    def _repair_request(self, ctx: ProposalContext, broken: Node) -> str:
        return (task_brief(ctx) + f"\n\n## Your turn: repair node {broken.id}\n"
                f"Your idea '{broken.title}' was implemented with the patch below and the "
                f"experiment failed:\n\n{broken.reason}\n\nThe patch:\n```\n"
                f"{self.read_patch(broken)}\n```\n\nKeep the idea; fix its implementation so "
                f"that it runs within the rules and the budget. The patch applies to node "
                f"{ctx.parent.id}'s code, as shown above.\n\n{FORMAT}")


def _repair_chain(node: Node, nodes: Sequence[Node]) -> set[int]:
    """`node` and the failed attempts it repairs, back to the original idea."""
    by_id = {n.id: n for n in nodes}
    chain: set[int] = set()
    while node is not None and node.id not in chain:
        chain.add(node.id)
        source = node.idea.source if node.idea else ""
        node = (by_id.get(int(source.removeprefix(REPAIR_TAG)))
                if source.startswith(REPAIR_TAG) else None)
    return chain


def _repair_depth(node: Node, siblings: Sequence[Node]) -> int:
    """How many repairs led to `node` (0 for an original idea)."""
    by_id = {n.id: n for n in siblings}
    depth = 0
    while node.idea and node.idea.source.startswith(REPAIR_TAG):
        depth += 1
        node = by_id.get(int(node.idea.source.removeprefix(REPAIR_TAG)))
        if node is None:
            break
    return depth
