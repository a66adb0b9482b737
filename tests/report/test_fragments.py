"""The HTML pieces the report and the dashboard share: the tree, a diff, a verdict."""

from __future__ import annotations

from dataclasses import replace

from recursor.report import fragments as f
from recursor.store import BaselineVerdict, ConfirmVerdict, StoppedEarlyVerdict


def entry(node_id, parent, status, title="idea"):
    return {"id": node_id, "parent": parent, "status": status, "title": title, "mean": 1.0,
            "gain_pct": None}


def test_the_tree_nests_children_under_their_parent_and_links_them():
    report = {"nodes": [entry(1, None, "accepted", "baseline"), entry(2, 1, "accepted"),
                        entry(3, 2, "failed"), entry(4, 1, "rejected"), entry(7, 6, "running")]}
    tree = f.tree(report, lambda i: f"/n/{i}")
    two = tree.index('data-node="2"')
    assert two < tree.index('data-node="3"') < tree.index('data-node="4"')
    # 3 sits inside 2's list, which closes before 4 opens
    assert tree[two:tree.index('data-node="4"')].count("<ul>") == 1
    assert 'data-node="3" data-status="failed"' in tree and 'href="/n/3"' in tree
    assert 'data-node="7"' in tree  # a node whose parent is missing still shows


def test_a_diff_marks_added_and_removed_lines_and_escapes_them():
    out = f.diff_block("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = '<b>'\n+a = '</pre><script>'\n ctx")
    assert '<span class="del">-a = &#x27;&lt;b&gt;&#x27;</span>' in out
    assert '<span class="add">+a = &#x27;&lt;/pre&gt;&lt;script&gt;&#x27;</span>' in out
    assert '<span class="meta">--- a/x.py</span>' in out and '<span class="hunk">' in out
    assert "<script>" not in out


def test_a_stopped_early_verdict_says_where_and_why():
    verdict = StoppedEarlyVerdict(scope="seed", parent=6, evaluation=50, progress=0.75, step=191,
                                  predicted_difference=0.1135, interval90=(0.038, 0.189),
                                  risk=0.02, pairs=13, p_better=0.0107)
    out = f.verdict_table(verdict, "val_bpb", lambda i: None)
    assert "75% of evaluation 50, step 191" in out
    assert "+0.1135 val_bpb, 90% interval [+0.038, +0.189]" in out
    assert "0.0107 &lt; stop level 0.02" in out and "<th>pairs</th><td>13</td>" in out


def test_a_test_futility_stop_at_the_screen_says_so_and_names_its_prior():
    verdict = StoppedEarlyVerdict(scope="confirm", parent=2, evaluation=14, progress=1.0,
                                  step=None, predicted_difference=-0.002,
                                  interval90=(-0.03, 0.03), risk=0.1, pairs=0, p_pass=0.061,
                                  bar=0.045, effect_spread=0.021, pairs_ended=(0, 2))
    out = f.verdict_table(verdict, "val_bpb", lambda i: None)
    assert "after its screen, before its confirmation pairs" in out
    assert "100% of evaluation" not in out and "pairs_ended" not in out
    assert "0.061 &lt; stop level 0.1" in out and "0.045 better" in out
    assert "centred on none, spread 0.021" in out
    between = f.verdict_table(replace(verdict, pairs_ended=(1, 2), effect_spread=None),
                              "val_bpb", lambda i: None)
    assert "after 1 of its 2 confirmation pairs" in between and "flat" in between
    running = f.verdict_table(replace(verdict, pairs_ended=None, progress=0.45, step=60,
                                      during="screen"), "val_bpb", lambda i: None)
    assert "45% of evaluation 14, step 60 (its screen; its test forecast to fail)" in running
    assert "during" not in running


def test_a_tested_verdict_names_its_effect_and_shows_what_it_has_no_words_for():
    verdict = ConfirmVerdict(parent=3, screen_gain=0.01, seeds=(1000300, 1000301), effect=0.02,
                             ci95=(0.01, 0.03), effect_pct=0.5, ci95_pct=(0.2, 0.8),
                             p_value=0.004, alpha=0.02, sigma=0.011, df=9, passed=True,
                             task_gains={"1": 0.01})
    out = f.verdict_table(verdict, "val_bpb", lambda i: f"/nodes/{i}")
    assert 'node <a href="/nodes/3">3</a>' in out
    assert "+0.02 val_bpb (+ = better), 95% CI [+0.01, +0.03]" in out
    assert "+0.50%, 95% CI [+0.20%, +0.80%]" in out and "0.004 (test level 0.02)" in out
    assert "1000300, 1000301" in out and "<th>test passed</th><td>yes</td>" in out
    assert "seed 1: +0.01" in out
    assert out.endswith("<tr><th>sigma</th><td>0.011</td></tr><tr><th>df</th><td>9</td></tr>"
                        "</table>")
    level = f.verdict_table(replace(verdict, effect_pct=None, ci95_pct=None), "val_bpb",
                            lambda i: None)
    assert "effect %" not in level and "<th>effect_pct</th><td>null</td>" in level
    base = f.verdict_table(BaselineVerdict(3.1, 0.02, 4, 0.03, 7), "val_bpb", lambda i: None)
    assert "3.1000 ± 0.0200 over 4 seeds" in base and "<th>noise_n</th><td>7</td>" in base
    assert f.verdict_table(None, "val_bpb", lambda i: None) == (
        '<p class="muted">No verdict recorded.</p>')
