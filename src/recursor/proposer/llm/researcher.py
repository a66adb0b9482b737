"""An LLM researcher: one model, one persona, proposing through the task brief.

For a parent it sends the task brief (goal, rules, the parent's code, the lineage with each
step's verdict, what was tried and what failed, untried directions of the library) and asks for
one idea with a patch. Before the loop sees the answer, the researcher checks it the way the
loop will (it parses; the patch applies to the parent; the static auditor passes it; it is not
a repeat of an idea the run already tried) and sends every problem back to the model, up to
`max_repairs` times. Each call is recorded with its tokens, cost, outcome and transcript, and
an answer that was used with where the applier put each block (`recursor.patch.match`).

Repeats: an answer that proposes what was tried already (the same patch as an earlier answer of
the conversation, a program the run holds, an idea the novelty filter finds too close) goes
back with the list of what the run has tried and a request for another direction; when the idea
was one the run had tried, the direction is named: an untried idea of the task's library, with
the lines where it goes (`directions`), if there is one left. After `REPEATS_BEFORE_SWITCH`
repeats in one proposal the model is asked as another persona of the run's family, at a higher
temperature. The report counts repeats per proposer. A model that has not given a usable
answer by its last try is given a named direction for it, too.

Trial: on a task with a `[trial]` (recursor.loop.preflight), a patch that passes every other
check is run briefly first; one that crashes, or whose output a check of the harness blocks,
goes back with the error told in the program's own lines, instead of becoming an experiment
that fails.

No refused answer is shown back (a small model copies what it is shown): the request is asked
again with a note that names the idea and says what went wrong, warmer after a cut-off answer,
a crash or a patch that changes nothing; a patch that changes nothing is told the lines that
set what its idea names (`hints`). A corrected patch that does not apply to the parent but
applies to the program the last applied answer made (its SEARCH quoting a traceback's line of
that program) is taken on top of it, rewritten as a diff of the parent, and checked again from
the parent (the call and the idea say so).

Settings alone: a PATCH section whose lines each set a name to a constant (`n_layer = 6`), with
no SEARCH/REPLACE block, is taken as the lines of the editable file that set those names
(`answer.settings_patch`), when each is set once at its top level; the call says so.

Small models: with `Endpoint.context_tokens` set, a brief that would not fit with room for the
answer and a note is sent in its compact form.

Repair after a crash: when an idea of this researcher ran and failed on this parent (a
traceback, a timeout, a memory cap, a compile error, or a kernel's output outside the task's
tolerance), the next turn on that parent goes to repairing it: the
model gets its own patch and the error, and answers a corrected patch for the same idea. Repairs
are found from the tree itself (`idea.source = "repair of node N"`), so a resumed run knows them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

from recursor.audit.admission import Applied, apply_proposal
from recursor.audit.memorisation import task_corpus
from recursor.discoveries.records import program_hash
from recursor.patch.diff import unified_diff
from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed
from recursor.proposer.brief import BRIEF_FORMS, estimate_tokens, is_kernel_task, task_brief
from recursor.proposer.llm.answer import (
    CATEGORIES,
    KERNEL_CATEGORIES,
    WHOLE_FILE_LINES,
    Answer,
    AnswerError,
    PlaceholderPatch,
    answer_format,
    answer_title,
    parse_answer,
    settings_patch,
    whole_file_patch,
)
from recursor.proposer.llm.directions import (
    directed_idea,
    direction_note,
    pick_direction,
    tried_list,
)
from recursor.proposer.llm.endpoint import ChatClient, Endpoint, LLMError, Reply
from recursor.proposer.llm.hints import UNCHANGED, named_lines, unchanged_blocks, unchanged_hint
from recursor.proposer.llm.lint import new_undefined_names
from recursor.proposer.llm.personas import DEFAULT_PERSONAS, Persona, persona, system_prompt, turn
from recursor.proposer.llm.repairs import REPAIR_TAG, broken_by_its_code, repair_chain
from recursor.proposer.llm.titles import echoed_title, title_from_patch
from recursor.store.records import Call, Idea, Node, NodeStatus
from recursor.task.ideas import LibraryIdea

REPEATS = ("repeat", "duplicate")  # outcomes of an answer that proposed what was tried
# outcomes whose fix is other code than the answer's, not a corrected quote: asked again warmer
NEEDS_NEW_CODE = ("no-change", "repeat", "trial-failed", "undefined-name")
REPEATS_BEFORE_SWITCH = 2  # in one proposal; then another persona, at a higher temperature
HOTTER = 1.0
WARMER = 0.7  # a retry after a cut-off answer, a crash, an empty patch or a repeat
NOTE = "\n\nNote on an earlier try: "
NOTE_TOKENS = 600  # room kept in the window for that note: a traceback, the nearest lines
# A refused answer is not shown back: the request is asked again with a note of what was wrong.
# Shown its answer and asked to correct it, a 1.5B model sent it back word for word 21 times in
# 26 after a patch error, a crash in the trial or a malformed answer; asked afresh after a
# cut-off answer, 0 times in 3 (recorded runs of 2026-12-07, tiny-lm and kernels).


ON_LAST = "its SEARCH quoted its last answer's lines: applied on top of that answer"


@dataclasses.dataclass
class _Conversation:
    """What one proposal's conversation has produced so far."""

    refused: dict[str, str] = dataclasses.field(default_factory=dict)  # patch -> why refused
    texts: dict[str, str] = dataclasses.field(default_factory=dict)  # answer -> why refused
    last_files: dict[str, str] | None = None  # the program the model's last applied answer made
    run_had: bool = False  # the last answer's idea was one the run had tried (not a refused one)
    fact: str = ""  # what was wrong with the last answer, without the advice on what to do


class LLMResearcher:
    def __init__(self, endpoint: Endpoint, persona_name: str = "generalist", *,
                 max_repairs: int = 2, novelty: object | None = None,
                 read_patch: Callable[[Node], str] | None = None,
                 read_failure: Callable[[Node], str | None] | None = None,
                 client: ChatClient | None = None,
                 family: tuple[str, ...] = DEFAULT_PERSONAS,
                 brief: str = "auto", brief_ideas: int | None = None,
                 brief_history: int | None = None):
        if brief not in BRIEF_FORMS:
            raise ValueError(f"unknown brief form {brief!r}; choose {', '.join(BRIEF_FORMS)}")
        self.endpoint = endpoint
        self.brief = brief  # auto: the whole brief if it fits the model's window, else compact
        self.brief_ideas = brief_ideas
        self.brief_history = brief_history
        self.persona: Persona = persona(persona_name)
        self.max_repairs = max_repairs
        self.novelty = novelty  # a NoveltyFilter; None: no check
        self.read_patch = read_patch  # node -> its patch text, for crash repairs and novelty
        self.read_failure = read_failure  # node -> the traceback of its failed run, if any
        self.client = client or ChatClient(endpoint)
        self.family = family  # the personas of the run, from which a repeating model is moved
        self.name = f"llm:{endpoint.label}:{self.persona.name}"

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return True  # a model can always try; the run's budget and cost cap bound it

    # -- proposing -------------------------------------------------------------------------

    def propose(self, ctx: ProposalContext) -> Proposal:
        broken = self._to_repair(ctx)
        request, compact = self._request(ctx, broken, self.persona)
        purpose = "repair" if broken is not None else "propose"
        looking = self.persona  # who the model is asked to be; changes after repeated repeats
        temperature: float | None = None
        messages = [{"role": "user", "content": request}]
        calls: list[Call] = []
        talk = _Conversation()
        problem, repeats, switched = "", 0, ""
        directed: list[LibraryIdea] = []  # library directions given, in order
        after = ""  # what the last direction was given after
        for attempt in range(1, self.max_repairs + 2):
            if attempt > 1 and ctx.deadline is not None and time.monotonic() >= ctx.deadline:
                raise ProposalFailed(f"{self.name}: the run's time budget ended after "
                                     f"{len(calls)} calls; the last problem: {problem}",
                                     tuple(calls))
            system = system_prompt()
            try:
                reply = self.client.chat(system, messages, temperature)
            except LLMError as err:
                calls.append(self._call(purpose, attempt, None, f"error:{err.kind}", str(err),
                                        system, messages, ""))
                raise ProposalFailed(f"{self.name}: {err}", tuple(calls)) from None
            outcome, problem, answer, matches = self._check(ctx, reply, broken, talk)
            notes = [n for n in (("compact brief" if compact else ""), switched,
                                 problem if answer is not None else "") if n]
            detail = problem if answer is None else "applied: " + "; ".join(
                m.describe() for m in matches)
            calls.append(self._call(purpose, attempt, reply, outcome,
                                    "; ".join([detail, *notes]) if notes else detail,
                                    system, messages, reply.text))
            if answer is not None:
                why = "; ".join(n for n in (switched, problem) if n)
                idea = self._idea(answer, broken, why)
                if directed:
                    idea = directed_idea(idea, directed[-1], ctx.parent_files, talk.last_files,
                                     after)
                return Proposal(idea, answer.patch, tuple(calls), generous=True)
            spent = sum(c.cost for c in calls)
            if ctx.cost_left is not None and spent >= ctx.cost_left:
                break
            if outcome == "truncated":
                # a cut-off answer copied, loop and all: 3 of 3 identical answers with a 1.5B
                # model, even warmer
                if temperature is None:
                    temperature = max(self.endpoint.temperature or 0.0, WARMER)
                messages = [{"role": "user", "content": request + NOTE + problem + "."}]
                continue
            rest = "Answer again with the whole idea and a corrected patch, in the same format."
            if outcome in NEEDS_NEW_CODE and temperature is None:
                # asked again at the same temperature, a small model writes the same empty
                # patch (3 of 3 identical answers with a 1.5B model), or the same crashing one:
                # after a crash, the same code came back (three first proposals of 2026-12-07)
                temperature = max(self.endpoint.temperature or 0.0, WARMER)
            if outcome in REPEATS:
                repeats += 1
                direction = (pick_direction(ctx, self.persona.name, self.family,
                                            [d.key for d in directed])
                             if broken is None and talk.run_had else None)
                if direction is not None:
                    directed.append(direction)
                    after = "a repeat"
                    rest = f"{tried_list(ctx)}\n\n{direction_note(direction, ctx.parent_files)}"
                else:
                    rest = (f"{tried_list(ctx)}\n\nTake another direction: a different change "
                            "from everything above, with its own patch, in the same format.")
                if repeats >= REPEATS_BEFORE_SWITCH and not switched:
                    looking = _other_persona(self.persona, self.family)
                    temperature = HOTTER
                    switched = (f"after {repeats} repeats, asked as the {looking.name} at "
                                f"temperature {HOTTER:g}")
                    rest += f"\n\nThis time look at the problem afresh. {turn(looking)}"
            if (broken is None and not directed and attempt == self.max_repairs
                    and outcome not in REPEATS):
                # the last try of a model that has not found a usable answer yet: a lost 1.5B
                # model sent the format's own example back, twice, after its patch crashed;
                # asked for a named direction at the lines where it goes, it wrote patches that
                # ran (3 of 3 in a tiny-lm run at c685f8b). What was wrong goes with it, not
                # the advice to keep the idea
                direction = pick_direction(ctx, self.persona.name, self.family)
                if direction is not None:
                    directed.append(direction)
                    after = f"{attempt} answers that could not be used"
                    problem = talk.fact or problem
                    rest = direction_note(direction, ctx.parent_files)
            title = answer_title(reply.text)
            named = f" ('{title}')" if title else ""
            messages = [{"role": "user", "content": f"{request}{NOTE}your answer{named} could "
                                                    f"not be used: {problem}\n\n{rest}"}]
        raise ProposalFailed(f"{self.name} gave no usable answer in {len(calls)} tries; the "
                             f"last problem: {problem}", tuple(calls))

    def _request(self, ctx: ProposalContext, broken: Node | None,
                 looking: Persona) -> tuple[str, bool]:
        """The first message, and whether it had to be the compact brief to fit the model's
        window with room for its answer and a note on an earlier try. What changes from turn to
        turn (the persona, the request) comes last, after the brief, whose stable parts come
        first."""
        window = self.endpoint.context_tokens
        text = ""
        forms = {"auto": (False, True), "full": (False,), "compact": (True,)}[self.brief]
        for compact in forms:
            brief = task_brief(ctx, compact=compact, ideas=self.brief_ideas,
                               history=self.brief_history)
            if broken is not None:
                text = self._repair_request(ctx, broken, brief)
            else:
                text = (brief + f"\n\n## Your turn\n{turn(looking)}\nPropose one new idea "
                        f"for node {ctx.parent.id}: a direction listed above that the run has "
                        "not tried, or one of your own, implemented in full.\n\n"
                        + answer_format(_categories(ctx), whole_file(ctx)))
            need = (estimate_tokens(system_prompt() + text) + self.endpoint.max_tokens
                    + NOTE_TOKENS)
            if window is None or need <= window:
                return text, compact
        return text, forms[-1]

    def _check(self, ctx: ProposalContext, reply: Reply, broken: Node | None,
               talk: _Conversation) -> tuple[str, str, Answer | None, tuple]:
        """(outcome, problem for the model, the answer when it can be used, where its blocks
        were applied). A repair is measured for novelty against everything but the failed
        attempts it repairs. `talk` holds this conversation's earlier answers and patches."""
        text = " ".join(reply.text.split())
        talk.run_had = False
        if text in talk.texts and not reply.truncated:  # a cut-off one is asked afresh
            # the same answer, word for word, whatever was wrong with it: a 1.5B model sent a
            # malformed answer three times running; it counts as a repeat, asked again warmer
            talk.fact = ("it is the same answer as an earlier one of yours, which was refused: "
                         + talk.texts[text])
            return "repeat", talk.fact, None, ()
        outcome, problem, answer, matches, fact = self._read(ctx, reply, broken, talk)
        talk.fact = fact
        if answer is None:
            talk.texts[text] = fact[:600]
        return outcome, problem, answer, matches

    def _read(self, ctx: ProposalContext, reply: Reply, broken: Node | None,
              talk: _Conversation) -> tuple[str, str, Answer | None, tuple, str]:
        """(outcome, problem for the model, the answer when it can be used, where its blocks
        were applied, and what was wrong without the advice: quoted when the same answer comes
        back, beside the advice to take another direction, which it must not contradict)."""
        answers, took = talk.refused, ""
        if reply.truncated:
            copied = "".join(f" Its block {n} quoted {lines} lines and wrote them back "
                             "unchanged." for n, lines in unchanged_blocks(reply.text)[:2])
            cut = "an answer to this was cut off at the token limit."
            return ("truncated", cut + copied
                    + " Make the patch smaller: in SEARCH quote only the lines you change and "
                    "one line around them, not whole classes or functions; skip unchanged "
                    "lines with a '...' line in SEARCH and REPLACE alike", None, (), cut)
        try:
            form = answer_format(_categories(ctx), whole_file(ctx))
            answer = parse_answer(reply.text, _categories(ctx), form)
        except PlaceholderPatch as err:
            where = named_lines(answer_title(reply.text), ctx.parent_files,
                                ctx.task.spec.program.editable)
            told = str(err) + (f". The lines that set what your idea names:\n{where}"
                               if where else "")
            return "bad-answer", told, None, (), str(err)
        except AnswerError as err:
            return "bad-answer", str(err), None, (), str(err)
        if answer.code is not None:
            patch, took = whole_file_patch(answer.code, ctx.parent_files,
                                           list(ctx.task.spec.program.editable), form)
            if not patch:
                return "bad-answer", took, None, (), took
            answer = dataclasses.replace(answer, patch=patch)
        if answer.settings:
            patch, took = settings_patch(answer.settings, ctx.parent_files,
                                         list(ctx.task.spec.program.editable))
            if not patch:
                return "bad-answer", took, None, (), took
            answer = dataclasses.replace(answer, patch=patch)
        said = " ".join(answer.patch.split())
        if said in answers and answers[said].startswith(UNCHANGED):
            # the same empty patch under a new idea: what that idea names is the help, not
            # the list of what was tried (a 1.5B model kept its quote and changed its idea)
            hint = self._unchanged(ctx, answer)
            return "no-change", hint, None, (), hint
        if said in answers:
            again = "it is the same patch as an earlier answer of yours, which was refused: "
            return "repeat", again + answers[said], None, (), again + answers[said]
        given = answer
        outcome, problem, applied, answer = self._try_patch(ctx, answer, broken, talk)
        if applied is None:
            answers[said] = problem[:600]
            return outcome, problem + self._advice(ctx, outcome, answer), None, (), problem
        if answer is not given:
            problem = ON_LAST
        problem = "; ".join(n for n in (took, problem) if n)
        echo = echoed_title(answer.title, ctx)
        if echo:
            # the patch is fine and a small model, asked again, keeps the title (2 of 2): the
            # change names itself, as a reviewer would retitle it
            answer = dataclasses.replace(answer, title=title_from_patch(
                ctx.parent_files, applied.files) or answer.title)
            return ("ok", "; ".join(n for n in (problem, f"its title copied {echo}; titled from "
                                                "the patch") if n), answer, applied.matches, "")
        return "ok", problem, answer, applied.matches, ""

    @staticmethod
    def _advice(ctx: ProposalContext, outcome: str, answer: Answer) -> str:
        """What to do about a refused patch, said after what was wrong with it."""
        if outcome == "audit":
            return ". Change the idea so that it keeps the rules."
        if outcome == "duplicate":
            return ". Propose a different idea."
        if outcome == "trial-failed":
            where = named_lines(f"{answer.title} {answer.hypothesis}", ctx.parent_files,
                                ctx.task.spec.program.editable)
            return ("\n\nKeep the idea and fix what the error points at, so that the program "
                    "runs." + (f" The lines that set what your idea names, which the rest of "
                               f"the program is sized by:\n{where}" if where else ""))
        return ""

    def _apply(self, ctx: ProposalContext, patch: str, files: Mapping[str, str]) -> Applied:
        return apply_proposal(patch, files, ctx.task.spec.program.editable,
                              task_corpus(ctx.task), ctx.task.may_write, generous=True,
                              given=ctx.task.spec.program.given)

    def _try_patch(self, ctx: ProposalContext, answer: Answer, broken: Node | None,
                   talk: _Conversation) -> tuple[str, str, Applied | None, Answer]:
        """(outcome, problem, the applied candidate when it can be used, the answer: with its
        patch rewritten against the parent when it was written against the model's last one)."""
        applied = self._apply(ctx, answer.patch, ctx.parent_files)
        if applied.status is NodeStatus.FAILED and talk.last_files is not None:
            # asked to correct its answer, a small model quotes the lines its last answer wrote
            # (9 of 12 repairs that ended on a patch error): the file as it sees it is its own
            # candidate. Applied there, the result is the same program written as a diff of the
            # parent, audited and checked again from the parent.
            on_last = self._apply(ctx, answer.patch, talk.last_files)
            if on_last.files is not None and on_last.files != talk.last_files:
                rebased = unified_diff(ctx.parent_files, on_last.files)
                again = self._apply(ctx, rebased, ctx.parent_files)
                if again.status is not NodeStatus.FAILED:
                    applied, answer = again, dataclasses.replace(answer, patch=rebased)
        if applied.files is not None:
            talk.last_files = applied.files
        if applied.status is NodeStatus.FAILED:
            return "patch-error", applied.reason or "the patch does not apply", None, answer
        if applied.status is NodeStatus.REJECTED:
            return "audit", applied.reason or "the auditor refused it", None, answer
        if applied.files == dict(ctx.parent_files):
            return "no-change", self._unchanged(ctx, answer), None, answer
        undefined = new_undefined_names(ctx.parent_files, applied.files)
        if undefined:
            return "undefined-name", undefined, None, answer
        held = ctx.programs.get(program_hash(applied.files)) if ctx.programs else None
        if held is not None:
            node = next((n for n in ctx.nodes if n.id == held), None)
            what = (f"makes the same program as node {held}"
                    + (f" ('{node.title}', {node.status.value})" if node else "")
                    + ", which the run has already tried")
            talk.run_had = True
            return "repeat", f"the patch {what}.", None, answer
        if self.novelty is not None and self.read_patch is not None:
            from recursor.proposer.novelty import tried_in_run

            idea = self._idea(answer, None)
            mending = repair_chain(broken, ctx.nodes) if broken is not None else set()
            tried = [t for t in tried_in_run(ctx, self.read_patch) if t[0] not in mending]
            novel, similar = self.novelty.is_novel(idea, answer.patch, tried)
            if not novel:
                talk.run_had = True
                return ("duplicate", f"the idea repeats one the run already tried: "
                        f"{similar.reason}", None, answer)
        if ctx.trial is not None:
            failed = ctx.trial(applied.files)
            if failed:
                return "trial-failed", (
                    "the patched program was run briefly (a trial at a small budget, before "
                    f"it becomes an experiment) and failed:\n\n{failed}"), None, answer
        return "ok", "", applied, answer

    @staticmethod
    def _unchanged(ctx: ProposalContext, answer: Answer) -> str:
        return unchanged_hint(" ".join((answer.title, answer.hypothesis)), ctx.parent_files,
                              ctx.task.spec.program.editable, answer.patch)

    def _idea(self, answer: Answer, broken: Node | None, switched: str = "") -> Idea:
        if broken is not None:
            return Idea(title=answer.title, hypothesis=answer.hypothesis,
                        rationale=answer.rationale, category=answer.category,
                        source=f"{REPAIR_TAG}{broken.id}", proposer=self.name,
                        reason=f"repairs node {broken.id}, which failed: "
                               f"{(broken.reason or '')[:200]}")
        return Idea(title=answer.title, hypothesis=answer.hypothesis, rationale=answer.rationale,
                    category=answer.category, proposer=self.name,
                    reason=f"proposed by {self.endpoint.label} as the {self.persona.name}"
                    + (f" ({switched})" if switched else ""))

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

    def repair_due(self, ctx: ProposalContext) -> bool:
        """Whether this researcher's next proposal on `ctx.parent` would be a repair."""
        return self._to_repair(ctx) is not None

    def _to_repair(self, ctx: ProposalContext) -> Node | None:
        """A failed experiment of mine on this parent, not yet repaired, with repairs left."""
        if self.read_patch is None:
            return None
        children = ctx.children(ctx.parent.id)
        repaired = {n.idea.source for n in children if n.idea}
        for node in children:
            if (node.idea and node.idea.proposer == self.name
                    and broken_by_its_code(node) and node.patch_path
                    and not (node.reason or "").startswith("patch does not apply")
                    and f"{REPAIR_TAG}{node.id}" not in repaired
                    and len(repair_chain(node, children)) - 1 < self.max_repairs):
                return node
        return None

    def _repair_request(self, ctx: ProposalContext, broken: Node, brief: str) -> str:
        found = self.read_failure(broken) if self.read_failure is not None else None
        traceback = f"{found}\n\n" if found else ""
        return (brief + f"\n\n## Your turn: repair node {broken.id}\n"
                f"Your idea '{broken.title}' was implemented with the patch below and the "
                f"experiment failed:\n\n{broken.reason}\n\n{traceback}The patch:\n```\n"
                f"{self.read_patch(broken)}\n```\n\nKeep the idea; fix its implementation so "
                f"that it runs within the rules and the budget. The patch applies to node "
                f"{ctx.parent.id}'s code, as shown above.\n\n"
                + answer_format(_categories(ctx), whole_file(ctx)))


def _categories(ctx: ProposalContext) -> tuple[str, ...]:
    return KERNEL_CATEGORIES if is_kernel_task(ctx.task) else CATEGORIES


def whole_file(ctx: ProposalContext) -> str | None:
    """The one editable file, when it is Python and short enough to be written whole (a
    kernel's solution.py): its name; else None, and the answer is a patch. With nothing to
    quote there is nothing to misquote: a 1.5B model's kernel patches failed on their SEARCH
    text, or copied the class into SEARCH and REPLACE unchanged."""
    editable = [f for f in ctx.parent_files if ctx.task.may_write(f)]
    if len(editable) != 1 or not editable[0].endswith(".py") or ctx.task.spec.program.new_files:
        return None
    text = ctx.parent_files[editable[0]]
    return editable[0] if text.count("\n") <= WHOLE_FILE_LINES else None


def _other_persona(current: Persona, family: tuple[str, ...]) -> Persona:
    """The next persona of the family after `current` (a generalist when it is alone)."""
    names = [n for n in family if n != current.name] or ["generalist"]
    at = family.index(current.name) if current.name in family else -1
    later = [n for n in family[at + 1:] if n != current.name]
    return persona((later or names)[0])
