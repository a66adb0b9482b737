"""The language-model task family's scoring: what a harness needs to score a next-byte predictor
it does not trust (`tiny-lm`'s harness is the model; a harness of your own may use it too).

Three rules, from the design's "Scoring a program you do not trust":

1. The score of one window must not depend on which other windows were predicted with it:
   windows are predicted in several separate calls (fresh processes), in compositions drawn
   from a secret the harness makes at run time (`windows.plan`), and some windows are predicted
   twice, in two different calls, which must agree (`audits.independence`).
2. Probes must be indistinguishable from scored windows: a causality probe is a real window of
   the held-back text whose bytes from a random cut on are replaced by real text from elsewhere,
   of the same length, never in the same call as the window it was made from.
3. The output has one exact contract (`outputs.read_logits`): a real float32 or float64 array of
   the exact shape, finite everywhere; anything else fails the experiment.

`windows` plans what the program sees, `outputs` reads and scores what it returns, `audits`
turns the runs' evidence into findings, `checkpoint` looks at what training handed to predict.
"""
