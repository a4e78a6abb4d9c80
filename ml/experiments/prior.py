"""The population prior a new user starts from: a sensible first day before any reaction.

Hand-set from what the design and the simulator's tuning population agree on; tips start slightly
above silence (so a new person sees tips), gap-fitting, urgent and important candidates above others,
heavy candidates below when energy is low, advice above and chores below when mood is low, a break
first after a long block, tasks below late at night, any tip below after a run of tips or right
after another one, a candidate the person liked above one they turned down. Values are in reward
units (done = 1).
"""

from __future__ import annotations

import numpy as np

from ml.experiments.featurize import FEATURE_NAMES, KNOWN_SOURCES

PRIOR_MEAN: dict[str, float] = {
    **{f"src_{s}*bias": 0.2 for s in KNOWN_SOURCES},
    "src_checkin*bias": 0.25,
    "src_habit*bias": 0.3,
    "src_task*bias": 0.25,
    "src_quick_win*bias": 0.3,
    "src_energy_match*bias": 0.3,
    "src_amnesty*bias": 0.1,
    "src_advice*bias": 0.1,
    "src_advice*low_mood": 0.15,
    "src_break*low_energy": 0.1,
    # A break is proposed only right after a long busy block: then it is a friend's first thought.
    "src_break*bias": 0.45,
    # Low mood: gentleness before chores.
    **{f"src_{s}*low_mood": -0.15 for s in ("task", "quick_win", "energy_match", "amnesty")},
    "src_task*late": -0.2,
    "src_quick_win*late": -0.2,
    "src_energy_match*late": -0.2,
    "src_checkin*late": -0.2,
    "fits_gap": 0.1,
    "urgency": 0.15,
    "importance": 0.1,
    "novelty": 0.05,
    "affinity": 0.3,
    "effort*low_energy": -0.3,
    "effort*high_energy": 0.1,
    "urgency*importance": 0.2,
    "importance*high_energy": 0.15,
    **{f"hour{h:02d}*{day}": -0.15 for h in (0, 3) for day in ("weekday", "weekend")},
    "busy_now": -0.3,
    "receptive": 0.4,
    "fatigue": -0.3,
    "recent_tip": -0.35,
    "kind_dismissed": -0.3,
}


def prior_mean() -> np.ndarray:
    unknown = set(PRIOR_MEAN) - set(FEATURE_NAMES)
    if unknown:
        raise ValueError(f"prior names unknown features: {sorted(unknown)}")
    return np.array([PRIOR_MEAN.get(name, 0.0) for name in FEATURE_NAMES])
