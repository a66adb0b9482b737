"""Self-play of the guard duel: attacker and defender runs in alternate rounds, with the
cross-play matrix and the held-out success of human-written jailbreaks after each round.

    driver    `selfplay(rounds, folder)`: the rounds, resumable; `open_selfplay(folder)`
    folders   each round's task folders, the opponent in their harness files
    measure   cross-play and held-out measurements, by the defender task's own harness
    report    the rounds as a table

See docs/redteam.md.
"""

from recursor.selfplay.driver import SelfPlay, open_selfplay, selfplay

__all__ = ["SelfPlay", "open_selfplay", "selfplay"]
