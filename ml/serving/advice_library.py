"""oO's own curated advice: short, kind, doable now. Tags say when each fits.

mood: low | ok | high · time: morning | midday | evening | night · energy: low | high | any
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    advice_id: str
    text: str
    moods: frozenset[str]
    times: frozenset[str]
    energy: str = "any"


def _a(advice_id: str, text: str, moods: str, times: str, energy: str = "any") -> Advice:
    return Advice(advice_id, text, frozenset(moods.split()), frozenset(times.split()), energy)


ALL_DAY = "morning midday evening night"
DAY = "morning midday evening"

ADVICE = (
    _a("water-first", "Drink a glass of water before the next thing.", "low ok high", ALL_DAY),
    _a("window-light", "Two minutes by a window. Let your eyes rest on something far away.", "low ok", DAY),
    _a("one-line-plan", "Write the one thing that would make today feel good.", "low ok high", "morning"),
    _a("shoulders-drop", "Drop your shoulders. Unclench your jaw. Breathe out slowly.", "low ok", ALL_DAY),
    _a("walk-five", "A five-minute walk, no phone. Just notice what you see.", "low ok high", DAY, "any"),
    _a("stretch-neck", "Roll your neck gently, three times each way.", "low ok", DAY, "low"),
    _a("box-breath", "Four counts in, four hold, four out, four hold. Three rounds.", "low", ALL_DAY),
    _a("tiny-tidy", "Clear one surface near you. Only one.", "ok high", DAY, "low"),
    _a("text-friend", "Send a short hello to someone you like.", "low ok high", "midday evening"),
    _a("sunlight-morning", "Get outside light in the first hour if you can.", "ok high low", "morning"),
    _a("single-task", "Close every tab you don't need for the next hour.", "ok high", "morning midday", "high"),
    _a(
        "hard-thing-first",
        "Start the hardest piece while your energy is up — ten minutes is enough.",
        "ok high",
        "morning",
        "high",
    ),
    _a("snack-protein", "A real snack beats another coffee right now.", "low ok", "midday"),
    _a("name-it", "Name the feeling in one word. Naming it shrinks it.", "low", ALL_DAY),
    _a("good-enough", "Good enough and done beats perfect and pending.", "low ok", DAY),
    _a("three-wins", "List three small things that went right today.", "low ok high", "evening night"),
    _a("screens-down", "Screens down thirty minutes before bed tonight.", "ok low high", "evening night"),
    _a("tomorrow-first", "Decide tomorrow's first task now, so the morning starts itself.", "ok high", "evening"),
    _a("posture-reset", "Feet flat, back supported, screen at eye level.", "ok", "morning midday"),
    _a("music-one-song", "One song you love, eyes closed.", "low ok", ALL_DAY),
    _a("kind-voice", "Talk to yourself the way you'd talk to a friend having this day.", "low", ALL_DAY),
    _a("micro-break", "Stand up and look around the room for twenty seconds.", "low ok high", DAY, "low"),
    _a("fresh-air", "Open a window for five minutes.", "low ok", DAY),
    _a("lunch-away", "Eat lunch away from the screen today.", "ok high low", "midday"),
    _a("inbox-later", "Leave the inbox until you've done one thing of your own.", "ok high", "morning", "high"),
    _a("timebox-25", "Pick one thing and give it 25 focused minutes.", "ok high", "morning midday", "high"),
    _a("ask-for-help", "Is there one thing someone else could help with? Ask.", "low ok", "midday"),
    _a("say-no", "One thing on your plate can wait or go. Which is it?", "low ok", "midday evening"),
    _a("walk-call", "Take your next call on your feet.", "ok high", "midday", "any"),
    _a("gratitude-one", "Think of one person who made your week easier.", "low ok high", "evening"),
    _a("wind-down", "Dim the lights an hour before sleep.", "ok low high", "night"),
    _a("no-news", "Skip the news until after your first real task.", "ok low", "morning"),
    _a("plan-rest", "Put a real break in your calendar this afternoon.", "ok high", "morning"),
    _a("cold-water-face", "Cold water on your face. A quick reset.", "low", "midday", "low"),
    _a("slow-coffee", "If you make coffee, make it slowly and drink it sitting.", "ok", "morning"),
    _a("body-scan", "Notice your feet, legs, belly, chest, shoulders. Thirty seconds.", "low ok", ALL_DAY),
    _a("done-list", "Write down what you already finished today.", "low ok", "midday evening"),
    _a("phone-away", "Put your phone in another room for the next half hour.", "ok high", DAY, "high"),
    _a("move-energy", "Low energy? Ten squats or a brisk stair climb.", "low ok", "midday", "low"),
    _a("early-night", "An early night tonight would pay you back tomorrow.", "low", "evening night"),
    _a("stop-point", "Decide when today's work ends, and keep it.", "ok high", "midday"),
    _a("tea-break", "Make a warm drink and take it to a different spot.", "low ok", "midday evening"),
    _a("laugh", "Look up something that always makes you laugh.", "low", "midday evening"),
    _a("nature-look", "Find something green and look at it for a minute.", "low ok", DAY),
    _a("write-worry", "Write the worry down; it can wait on paper until tomorrow.", "low", "evening night"),
    _a("hand-stretch", "Stretch your fingers and wrists. They work hard.", "ok", "midday"),
    _a("celebrate-small", "You did something today. Let it count.", "low ok high", "evening"),
    _a("one-message", "Answer the one message you've been avoiding. Two lines is fine.", "ok high", "midday", "high"),
    _a("prepare-bag", "Pack tomorrow's bag tonight.", "ok high", "evening"),
    _a("sleep-same", "Same bedtime as yesterday, give or take half an hour.", "ok low high", "night"),
    _a("rest-is-work", "Resting now is part of doing well later.", "low", ALL_DAY, "low"),
    _a("eyes-20", "Every twenty minutes, look twenty feet away for twenty seconds.", "ok", "morning midday"),
    _a("check-calendar", "Glance at the rest of today's calendar. Any surprises?", "ok high", "morning"),
    _a("finish-or-drop", "One half-done thing: finish it or let it go.", "ok high", "midday evening", "high"),
    _a("walk-outside-after", "After sitting long, walk to the end of the street and back.", "ok low", "midday"),
    _a("breathe-long-out", "Breathe out longer than you breathe in. Five times.", "low", ALL_DAY),
    _a("morning-move", "Two minutes of movement before your first screen.", "ok high", "morning"),
    _a("sort-three", "Pick three things for today. Everything else is a bonus.", "low ok high", "morning"),
    _a("kind-act", "Do one small kind thing for someone, unasked.", "ok high", "midday"),
    _a("evening-walk", "A short walk after dinner helps sleep come easier.", "ok low high", "evening"),
    _a("no-late-coffee", "Skip coffee from here on; your sleep will thank you.", "ok high", "midday evening"),
    _a("quiet-minute", "One quiet minute. Nothing to fix, nothing to plan.", "low ok high", ALL_DAY, "low"),
    _a("light-dinner", "A lighter dinner tonight makes for a lighter morning.", "ok", "evening"),
    _a("bright-spot", "What's one thing you're looking forward to this week?", "low ok", "evening"),
)


# The library's four times of day, for each of the day parts a why names.
LIBRARY_TIME = {
    "early morning": "morning",
    "morning": "morning",
    "midday": "midday",
    "afternoon": "midday",
    "evening": "evening",
    "late evening": "night",
    "night": "night",
}
