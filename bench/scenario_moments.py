"""The scenario benchmark's moments: varied people at one moment each, written as data.

A moment is a person's recorded signals (turned into the real events `FeatureState.apply` folds) and
the local wall-clock time they open the page, with what a thoughtful friend would pick (`good`) and
what a friend would never pick (`never`). Labels are space-separated:

- `silence` — showing nothing;
- `task:<id>`, `habit:<id>`, `advice:<id>` — one candidate, whichever rule proposed it;
- a rule's source (`advice`, `break`, `checkin`, `onboarding`, …) — any candidate from it;
- `kind:<todo|advice|checkin>` — any candidate of that kind.

A friend knows what oO knows (titles, dues, estimates, priorities, windows, check-ins, the calendar,
past reactions) and nothing else, so no label depends on knowledge oO could not have. Quiet hours
are left out: the service answers them with silence before ML is asked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oo_contracts.events import EventEnvelope, envelope

FIRST_SEEN = timedelta(days=40)  # the person set their zone this long before the moment


def _event(event_type: str, payload: dict[str, Any], at: datetime) -> EventEnvelope:
    return envelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        user_id="scenario",
        occurred_at=at,
        source="scenario",
        payload=payload,
    )


@dataclass(frozen=True)
class Checkin:
    """A check-in `ago` minutes before the moment: both levels (v1) or one of them (v2)."""

    energy: int | None = None
    mood: int | None = None
    ago: float = 20

    def events(self, now: datetime, zone: ZoneInfo) -> list[EventEnvelope]:
        both = self.energy is not None and self.mood is not None
        payload = {k: v for k, v in (("energy", self.energy), ("mood", self.mood)) if v is not None}
        version = "v1" if both else "v2"
        return [_event(f"profile.checkin_recorded.{version}", payload, now - timedelta(minutes=self.ago))]


@dataclass(frozen=True)
class Task:
    """An open task: due at a moment `due_in_hours` from now (v1), on a local day `due_day` days from
    today (v2, all-day), or someday."""

    task_id: str
    title: str
    minutes: int | None = None
    priority: int = 1
    due_in_hours: float | None = None
    due_day: int | None = None
    added_days_ago: float = 3

    def events(self, now: datetime, zone: ZoneInfo) -> list[EventEnvelope]:
        payload: dict[str, Any] = {"task_id": self.task_id, "title": self.title, "priority": self.priority}
        if self.minutes is not None:
            payload["estimated_minutes"] = self.minutes
        version = "v1"
        if self.due_in_hours is not None:
            payload["due"] = (now + timedelta(hours=self.due_in_hours)).isoformat()
        if self.due_day is not None:
            version = "v2"
            payload["due_date"] = (now.astimezone(zone).date() + timedelta(days=self.due_day)).isoformat()
        return [_event(f"integrations.task_added.{version}", payload, now - timedelta(days=self.added_days_ago))]


@dataclass(frozen=True)
class Habit:
    """A habit with its local window, done on the days `done_days_ago` (1 = yesterday) at this hour."""

    habit_id: str
    name: str
    window: tuple[int, int]
    minutes: int | None = None
    effort: int = 2
    cadence: str = "daily"
    done_days_ago: tuple[int, ...] = ()
    defined_days_ago: float = 30

    def events(self, now: datetime, zone: ZoneInfo) -> list[EventEnvelope]:
        payload: dict[str, Any] = {
            "habit_id": self.habit_id,
            "name": self.name,
            "cadence": self.cadence,
            "window_start_hour": self.window[0],
            "window_end_hour": self.window[1],
            "effort": self.effort,
        }
        version = "v1"
        if self.minutes is not None:
            payload["duration_minutes"], version = self.minutes, "v2"
        defined = [_event(f"profile.habit_defined.{version}", payload, now - timedelta(days=self.defined_days_ago))]
        done = [
            _event("profile.habit_done.v1", {"habit_id": self.habit_id}, now - timedelta(days=days))
            for days in self.done_days_ago
        ]
        return defined + done


@dataclass(frozen=True)
class Busy:
    """A calendar block from `start` to `end` minutes relative to the moment (negative: before it)."""

    start: float
    end: float

    def events(self, now: datetime, zone: ZoneInfo) -> list[EventEnvelope]:
        payload = {
            "start": (now + timedelta(minutes=self.start)).isoformat(),
            "end": (now + timedelta(minutes=self.end)).isoformat(),
        }
        # Synced before the block began, as a calendar feed is: the state drops blocks long past at a sync.
        synced = min(now + timedelta(minutes=self.start), now) - timedelta(minutes=10)
        return [_event("integrations.busy_interval_recorded.v1", payload, synced)]


@dataclass(frozen=True)
class Shown:
    """A tip shown `ago` minutes before the moment, and the person's reaction to it, if any."""

    candidate_id: str
    kind: str
    source: str
    ago: float
    reaction: str | None = None

    def events(self, now: datetime, zone: ZoneInfo) -> list[EventEnvelope]:
        at = now - timedelta(minutes=self.ago)
        decision = str(uuid.uuid4())
        common = {
            "decision_id": decision,
            "candidate_id": self.candidate_id,
            "kind": self.kind,
            "source": self.source,
            "local_hour": at.astimezone(zone).hour,
        }
        events = [_event("recommender.tip_shown.v1", common, at)]
        if self.reaction is not None:
            ref = self.candidate_id.split(":", 1)[1] if self.candidate_id.startswith(("task:", "habit:")) else None
            reacted = {**common, "reaction": self.reaction, "ref_id": ref}
            events.append(_event("recommender.tip_reacted.v1", reacted, at + timedelta(minutes=1)))
        return events


Signal = Checkin | Task | Habit | Busy | Shown


@dataclass(frozen=True)
class Moment:
    name: str
    description: str
    zone: str | None  # None: the person never set one, and oO reasons in UTC
    local: str  # the wall-clock time in the zone, "YYYY-MM-DD HH:MM"
    signals: tuple[Signal, ...]
    good: str  # space-separated labels, as the module's docstring describes
    never: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone or "UTC")

    @property
    def now(self) -> datetime:
        return datetime.fromisoformat(self.local).replace(tzinfo=self.tz).astimezone(UTC)

    def events(self) -> list[EventEnvelope]:
        """Every signal's events in the order they happened, as the store replays them."""
        now, tz = self.now, self.tz
        events = (
            [] if self.zone is None else [_event("profile.timezone_set.v1", {"timezone": self.zone}, now - FIRST_SEEN)]
        )
        for signal in self.signals:
            events.extend(signal.events(now, tz))
        return sorted(events, key=lambda e: e.occurred_at)


# Wed 25 … Mon 30 November 2026.
MOMENTS: tuple[Moment, ...] = (
    Moment(
        "first-run",
        "A new person opens the page for the first time; nothing recorded at all",
        None,
        "2026-11-25 10:00",
        (),
        good="onboarding",
    ),
    Moment(
        "second-visit-no-tasks",
        "Checked in, but no tasks or habits yet, in São Paulo",
        "America/Sao_Paulo",
        "2026-11-25 18:10",
        (Checkin(energy=3, mood=4, ago=15),),
        good="onboarding",
    ),
    Moment(
        "morning-energy-5-report-due-tomorrow",
        "Berlin 08:30, energy 5; a top-priority report due tomorrow among trivial tasks due in weeks",
        "Europe/Berlin",
        "2026-11-25 08:30",
        (
            Checkin(energy=5, mood=4),
            Busy(270, 330),
            Task("report", "Finish the quarterly report", 90, 4, due_day=1),
            Task("socks", "Sort the sock drawer", 10, 1, due_day=20),
            Task("bookmarks", "Reorganise browser bookmarks", 20, 1, due_day=30),
            Task("card", "Buy a birthday card for Ana", 10, 2, due_day=12),
        ),
        good="task:report",
        never="task:socks task:bookmarks task:card",
    ),
    Moment(
        "midnight-energy-1",
        "London 23:40, energy 1; a 2-hour grant proposal open, bins out by 7 tomorrow",
        "Europe/London",
        "2026-11-25 23:40",
        (
            Checkin(energy=1, ago=30),
            Task("grant", "Write the grant proposal", 120, 3, due_day=3),
            Task("bins", "Put the bins out", 5, 2, due_in_hours=7.3),
            Habit("read", "a few pages of a novel", (21, 24), minutes=15, effort=1, done_days_ago=(1, 2, 3, 4, 6)),
        ),
        good="silence advice habit:read",
        never="task:grant kind:checkin",
    ),
    Moment(
        "in-a-meeting",
        "New York 14:20, in the middle of a 14:00–15:00 meeting; an invoice due today",
        "America/New_York",
        "2026-11-25 14:20",
        (
            Busy(-20, 40),
            Checkin(energy=3, mood=3, ago=320),
            Task("invoice", "Send the invoice to Acme", 15, 3, due_day=0),
            Habit("walk", "a walk around the block", (13, 17), effort=1, done_days_ago=(1, 2)),
        ),
        good="silence",
        never="kind:todo kind:advice kind:checkin",
    ),
    Moment(
        "twenty-minutes-before-meeting",
        "Madrid 10:40, 20 minutes free before an 11:00 meeting; a 10-minute reply and a 60-minute doc",
        "Europe/Madrid",
        "2026-11-26 10:40",
        (
            Busy(20, 80),
            Busy(260, 320),
            Checkin(energy=3, mood=3, ago=60),
            Task("reply", "Reply to Sam about the venue", 10, 2, due_day=1),
            Task("design", "Draft the design doc", 60, 3, due_day=2),
            Task("library", "Renew the library books", 5, 1, due_day=9),
        ),
        good="task:reply",
        never="task:design",
    ),
    Moment(
        "right-after-two-hour-block",
        "Paris 12:05, a 10:00–12:00 meeting just ended; next one at 14:00",
        "Europe/Paris",
        "2026-11-26 12:05",
        (
            Busy(-125, -5),
            Busy(115, 175),
            Checkin(energy=3, mood=3, ago=18 * 60),
            Task("slides", "Prepare the board slides", 120, 3, due_day=4),
            Task("plumber", "Call the plumber", 10, 2, due_day=1),
        ),
        good="break advice",
    ),
    Moment(
        "low-mood-afternoon",
        "Chicago 15:30, mood 1 energy 3; an insurance call due in 2 days, printer ink",
        "America/Chicago",
        "2026-11-26 15:30",
        (
            Checkin(energy=3, mood=1, ago=20),
            Task("insurance", "Call the insurance about the claim", 30, 3, due_day=2),
            Task("ink", "Order printer ink", 5, 1),
        ),
        good="advice",
        never="kind:checkin",
    ),
    Moment(
        "habit-window-never-done",
        "Kolkata 07:30, a new stretching habit (07–09) never done yet",
        "Asia/Kolkata",
        "2026-11-27 07:30",
        (
            Habit("stretch", "ten minutes of stretching", (7, 9), minutes=10, effort=1, defined_days_ago=3),
            Task("rent", "Transfer the rent", 5, 2, due_day=4),
        ),
        good="habit:stretch",
    ),
    Moment(
        "habit-window-done-most-days",
        "Sydney 18:30, energy 4; an evening run (18–21) done 5 of the last 7 days",
        "Australia/Sydney",
        "2026-11-27 18:30",
        (
            Checkin(energy=4, ago=45),
            Habit("run", "an evening run", (18, 21), minutes=30, effort=3, done_days_ago=(1, 2, 3, 5, 6)),
            Task("landlord", "Email the landlord", 10, 2, due_day=3),
        ),
        good="habit:run",
    ),
    Moment(
        "amnesty-long-overdue",
        "Amsterdam 11:00; renewing the gym membership was due 12 days ago",
        "Europe/Amsterdam",
        "2026-11-27 11:00",
        (
            Checkin(energy=3, mood=4, ago=120),
            Task("gym", "Renew the gym membership", 30, 2, due_day=-12, added_days_ago=20),
            Task("haircut", "Book a haircut", 5, 1),
        ),
        good="task:gym",
    ),
    Moment(
        "auckland-all-day-due-today",
        "Auckland 09:00 (still yesterday in UTC); the power bill is due today",
        "Pacific/Auckland",
        "2026-11-26 09:00",
        (
            Checkin(energy=3, ago=30),
            Task("power", "Pay the power bill", 10, 3, due_day=0),
            Task("bach", "Plan the bach weekend", 45, 2, due_day=9),
        ),
        good="task:power",
        never="task:bach",
    ),
    Moment(
        "los-angeles-all-day-due-today",
        "Los Angeles 19:30 (already tomorrow in UTC); expenses due today",
        "America/Los_Angeles",
        "2026-11-25 19:30",
        (
            Checkin(energy=3, mood=3, ago=90),
            Task("expenses", "Submit the expense report", 20, 3, due_day=0),
            Task("bike", "Fix the bike light", 15, 1, due_day=5),
        ),
        good="task:expenses",
    ),
    Moment(
        "weekend-morning",
        "London Saturday 09:30, energy 4 mood 4; a long-walk habit, plants to water",
        "Europe/London",
        "2026-11-28 09:30",
        (
            Checkin(energy=4, mood=4, ago=30),
            Habit("long-walk", "a long walk", (9, 12), effort=2, done_days_ago=(7, 14)),
            Task("plants", "Water the plants", 5, 1, due_day=0),
            Task("monday", "Prepare Monday's slides", 60, 2, due_day=2),
        ),
        good="habit:long-walk task:plants advice",
    ),
    Moment(
        "dismissed-many-todos",
        "Berlin 16:00; six todo tips dismissed in three days, the garage three times",
        "Europe/Berlin",
        "2026-11-26 16:00",
        (
            Checkin(energy=3, mood=3, ago=2 * 24 * 60),
            Task("garage", "Clear out the garage", 120, 3, due_day=4, added_days_ago=6),
            Task("tax", "Sort the tax receipts", 45, 3, due_day=5, added_days_ago=6),
            Task("photos", "Back up the phone photos", 20, 2, due_day=1, added_days_ago=6),
            *(
                Shown(f"task:{t}", "todo", "task", ago, "dismiss")
                for t, ago in (
                    ("garage", 4000),
                    ("tax", 3600),
                    ("garage", 2500),
                    ("photos", 2000),
                    ("tax", 1500),
                    ("garage", 300),
                )
            ),
        ),
        good="advice checkin silence",
        never="task:garage",
    ),
    Moment(
        "three-tips-in-the-last-hour",
        "Toronto 13:00; three tips in the last hour, the last a check-in just answered",
        "America/Toronto",
        "2026-11-26 13:00",
        (
            Task("draft", "Review Priya's draft", 30, 3, due_day=1),
            Task("car", "Book the car service", 10, 2),
            Shown("advice:water-first", "advice", "advice", 50),
            Shown("task:draft", "todo", "task", 30, "later"),
            Shown("checkin:energy", "checkin", "checkin", 10, "done"),
            Checkin(energy=3, mood=3, ago=9),
        ),
        good="silence",
        never="advice checkin",
    ),
    Moment(
        "stale-checkin-from-yesterday",
        "Tokyo 10:00; energy 5 was said yesterday at 20:00; visa photos due today",
        "Asia/Tokyo",
        "2026-11-26 10:00",
        (
            Checkin(energy=5, mood=5, ago=14 * 60),
            Task("visa", "Submit the visa photos", 20, 3, due_day=0),
            Task("fridge", "Clean the fridge", 30, 1, due_day=6),
        ),
        good="task:visa checkin",
    ),
    Moment(
        "no-calendar-at-all",
        "Mexico City 14:00, no calendar connected; a dentist booking and a blog post",
        "America/Mexico_City",
        "2026-11-26 14:00",
        (
            Checkin(energy=3, mood=3, ago=60),
            Task("dentist", "Book the dentist", 5, 2),
            Task("blog", "Write the blog post", 90, 3, due_day=3),
        ),
        good="task:dentist task:blog",
    ),
    Moment(
        "late-night-form-due-at-midnight",
        "Singapore 22:30, energy 2; a visa form due at midnight, an essay",
        "Asia/Singapore",
        "2026-11-25 22:30",
        (
            Checkin(energy=2, ago=30),
            Task("form", "Submit the visa form", 15, 4, due_in_hours=1.5),
            Task("essay", "Write the essay", 120, 3, due_day=2),
        ),
        good="task:form",
        never="task:essay",
    ),
    Moment(
        "low-energy-morning",
        "Stockholm 09:30, energy 2; a 2-hour review due today and a 5-minute reply",
        "Europe/Stockholm",
        "2026-11-26 09:30",
        (
            Checkin(energy=2, mood=3, ago=20),
            Task("review", "Write the quarterly review", 120, 3, due_day=0),
            Task("reply", "Reply to the landlord", 5, 2, due_day=1),
        ),
        good="task:reply advice",
    ),
    Moment(
        "weekly-habit-done-this-week",
        "Dublin Sunday 11:00; called Mum (weekly) on Friday, window 10–20",
        "Europe/Dublin",
        "2026-11-29 11:00",
        (
            Checkin(energy=3, mood=4, ago=30),
            Habit("call-mum", "a call with Mum", (10, 20), cadence="weekly", done_days_ago=(2, 9, 16)),
        ),
        good="silence advice",
        never="habit:call-mum",
    ),
    Moment(
        "five-minutes-to-meeting",
        "Berlin 13:55, a meeting at 14:00; a 45-minute contract review, a quick text",
        "Europe/Berlin",
        "2026-11-26 13:55",
        (
            Busy(5, 95),
            Checkin(energy=3, mood=3, ago=8 * 60),
            Task("contract", "Review the contract", 45, 3, due_day=1),
            Task("text", "Text Alex back", 5, 2),
        ),
        good="silence task:text advice",
        never="task:contract",
    ),
    Moment(
        "evening-rsvp-due-in-an-hour",
        "New York Friday 20:00, energy 4; an RSVP due at 21:00, an oven to clean",
        "America/New_York",
        "2026-11-27 20:00",
        (
            Checkin(energy=4, ago=30),
            Task("rsvp", "Send the RSVP to Dana", 5, 3, due_in_hours=1),
            Task("oven", "Deep-clean the oven", 60, 1, due_day=10),
        ),
        good="task:rsvp",
        never="task:oven",
    ),
    Moment(
        "said-later-an-hour-ago",
        "Rome 11:30; said 'later' to booking flights an hour ago; dry cleaning due today",
        "Europe/Rome",
        "2026-11-26 11:30",
        (
            Checkin(energy=3, mood=3, ago=150),
            Task("flights", "Book the flights to Lisbon", 20, 3, due_day=1),
            Task("dry-cleaning", "Pick up the dry cleaning", 15, 2, due_day=0),
            Shown("task:flights", "todo", "task", 60, "later"),
        ),
        good="task:dry-cleaning",
        never="task:flights",
    ),
    Moment(
        "relaxed-saturday-no-tasks",
        "Seoul Saturday 11:00, energy 5 mood 5; no tasks, guitar practice at 19–22",
        "Asia/Seoul",
        "2026-11-28 11:00",
        (
            Checkin(energy=5, mood=5, ago=20),
            Habit("guitar", "guitar practice", (19, 22), minutes=30, done_days_ago=(1, 3)),
        ),
        good="advice silence",
        never="habit:guitar",
    ),
    Moment(
        "sunday-evening-low",
        "Kolkata Sunday 19:00, energy 2 mood 2; planning the week is due tomorrow",
        "Asia/Kolkata",
        "2026-11-29 19:00",
        (Checkin(energy=2, mood=2, ago=20), Task("plan", "Plan the week", 30, 3, due_day=1)),
        good="advice silence",
    ),
    Moment(
        "overloaded-list",
        "Denver 09:00, energy 3; rent due today, a grant budget due tomorrow, eight trivia",
        "America/Denver",
        "2026-11-25 09:00",
        (
            Checkin(energy=3, mood=3, ago=30),
            Task("rent", "Pay the rent", 5, 4, due_day=0),
            Task("budget", "Finish the grant budget", 60, 3, due_day=1),
            *(
                Task(f"chore{n}", title, minutes, 1, due_day=days)
                for n, (title, minutes, days) in enumerate(
                    (
                        ("Sort the spice rack", 10, 14),
                        ("Descale the kettle", 10, 20),
                        ("Label the cables", 15, 30),
                        ("Tidy the photo folder", 15, 25),
                        ("Clean the keyboard", 5, 18),
                        ("Match the socks", 10, 40),
                        ("Dust the shelves", 15, 12),
                        ("Oil the door hinge", 5, 21),
                    )
                )
            ),
        ),
        good="task:rent task:budget",
        never=" ".join(f"task:chore{n}" for n in range(8)),
    ),
    Moment(
        "early-morning-meditation",
        "St. John's Monday 06:15; meditation (06–08) done every day this week",
        "America/St_Johns",
        "2026-11-30 06:15",
        (
            Habit(
                "meditate", "ten minutes of meditation", (6, 8), minutes=10, effort=1, done_days_ago=(1, 2, 3, 4, 5, 6)
            ),
            Task("mot", "Take the car for its MOT", 60, 3, due_day=2),
        ),
        good="habit:meditate checkin",
    ),
)
