"""First run: with no signals yet, the tips themselves are the onboarding — one step at a time.

A step is not the bandit's to choose: it is shown as the only candidate (propensity 1, policy version
`ONBOARDING_POLICY_VERSION`) and its reaction teaches no policy. "Later" on a step puts it on a
cooldown, and ordinary tips fill the time in between. After the check-in, the page asks the person to
connect their tasks or add one (`tasks`), once: any answer, "not now" included, is
`profile.first_run_answered.v1`, and the step is never offered again.
"""

from __future__ import annotations

from oo_contracts.events import TipKind
from oo_contracts.recommendation import TipCandidate, TipPrompt, UserContext

ONBOARDING_SOURCE = "onboarding"
ONBOARDING_COOLDOWN_HOURS = 2.0


def onboarding_step(ctx: UserContext) -> TipCandidate | None:
    """The next first-run step for a person with no tasks and no habits yet, if any is left."""
    f = ctx.facts
    if f.tasks or f.habits:
        return None
    if not f.ever_checked_in:
        return _step("checkin", TipKind.checkin, "How are you right now?", "no check-in yet", TipPrompt.checkin)
    if "tasks" not in f.first_run_answered:
        return _step(
            "tasks",
            TipKind.advice,
            "What's on your list? Connect your tasks, or add one.",
            "no tasks yet",
            TipPrompt.tasks,
        )
    return _step("habit", TipKind.advice, "Name one small habit you'd like to keep.", "no habits yet", TipPrompt.habit)


def _step(key: str, kind: TipKind, text: str, why: str, prompt: TipPrompt) -> TipCandidate:
    return TipCandidate(
        candidate_id=f"{ONBOARDING_SOURCE}:{key}",
        kind=kind,
        text=text,
        why=why,
        source=ONBOARDING_SOURCE,
        features={"fits_gap": 1.0, "urgency": 0.0, "importance": 0.3, "effort": 0.0, "novelty": 1.0},
        prompt=prompt,
    )
