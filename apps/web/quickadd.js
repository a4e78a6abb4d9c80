// A task of one's own in one line: the title, then optionally its effort and its due day, written at
// the end in any order. The grammar (apps/web/README.md):
//
//   effort   one word: 10m · 10min · 2h · 1.5h · 1h30m   (1 min to 10 h)
//   due      today · tomorrow (tmr) · a weekday, mon…sun or monday…sunday (the next one, today
//            included) · a day as 2026-12-15
//
// Only the words at the end are read, right to left, one effort and one due at most, so a title keeps
// what only looks like a due: "Read 1984", "Friday notes for Sam", "Today" (a title is never emptied).
// Quotes keep a title whole: `"Plan today" fri` is "Plan today", due Friday. No Date parsing of free
// text: the page's answer must not depend on the browser's locale.

const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const WEEKDAY_WORDS = new Map(
  WEEKDAYS.flatMap((day, index) => {
    const short = { tuesday: ["tue", "tues"], wednesday: ["wed"], thursday: ["thu", "thur", "thurs"] }[day] ?? [
      day.slice(0, 3),
    ];
    return [day, ...short].map((word) => [word, index]);
  }),
);
export const MAX_MINUTES = 600; // the contract's bound on a task's effort
export const MAX_TITLE = 200;

/** "YYYY-MM-DD" as a count of days, and back: plain calendar arithmetic, no zone involved. */
const dayNumber = (iso) => Date.UTC(Number(iso.slice(0, 4)), Number(iso.slice(5, 7)) - 1, Number(iso.slice(8, 10))) / 864e5;
const isoOf = (days) => new Date(days * 864e5).toISOString().slice(0, 10);

/** Today's date in `timeZone` (the account's), as "YYYY-MM-DD". */
export function todayIn(timeZone, now = new Date()) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(now)
    .reduce((found, part) => ({ ...found, [part.type]: part.value }), {});
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** Minutes of an effort word, or null when the word is none. May exceed MAX_MINUTES (said, not dropped). */
function effortOf(word) {
  let match;
  let minutes = null;
  if ((match = /^(\d+)(?:m|min|mins)$/.exec(word))) minutes = Number(match[1]);
  else if ((match = /^(\d+(?:\.\d+)?)h$/.exec(word))) minutes = Math.round(Number(match[1]) * 60);
  else if ((match = /^(\d+)h(\d+)(?:m|min)?$/.exec(word))) minutes = Number(match[1]) * 60 + Number(match[2]);
  return minutes ? minutes : null; // a bare number is a title's ("Read 1984"), and so is "0m"
}

/** The due day of a word, relative to `today`, or null when the word is none. */
function dueOf(word, today) {
  const now = dayNumber(today);
  if (word === "today") return today;
  if (word === "tomorrow" || word === "tmr" || word === "tmrw") return isoOf(now + 1);
  if (WEEKDAY_WORDS.has(word)) {
    const ahead = (WEEKDAY_WORDS.get(word) - new Date(now * 864e5).getUTCDay() + 7) % 7;
    return isoOf(now + ahead);
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(word);
  // A real calendar day within the contract's years: 2026-02-30 is not one, so it stays in the title.
  if (iso && isoOf(dayNumber(word)) === word && word >= "2000-01-01" && word <= "8999-12-31") return word;
  return null;
}

/**
 * One line as a task: `{title, estimated_minutes, due_date, problem}`, `problem` null when the line
 * can be added, else what to fix, in words. `today` is the account's "YYYY-MM-DD".
 */
export function parseTask(line, today) {
  const words = line.trim().split(/\s+/).filter(Boolean);
  let minutes = null;
  let due = null;
  while (words.length > 1) {
    const word = words[words.length - 1].toLowerCase();
    const effort = minutes === null ? effortOf(word) : null;
    const day = effort === null && due === null ? dueOf(word, today) : null;
    if (effort === null && day === null) break;
    if (effort !== null) minutes = effort;
    else due = day;
    words.pop();
  }
  let title = words.join(" ");
  const quoted = /^["“”](.*)["“”]$/.exec(title);
  if (quoted && quoted[1].trim()) title = quoted[1].trim();
  let problem = null;
  if (!title) problem = "Write what to do first.";
  else if (title.length > MAX_TITLE) problem = `Keep it under ${MAX_TITLE} characters.`;
  else if (minutes !== null && minutes > MAX_MINUTES) problem = "At most 10 h of effort: split it up.";
  return { title, estimated_minutes: minutes, due_date: due, problem };
}

/** "10 min", "1 h", "1 h 30 min". */
export function minutesWords(minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (!hours) return `${rest} min`;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/** "due today", "due tomorrow", "due Friday" within the week, else "due 2026-12-15". */
export function dueWords(due, today) {
  const ahead = dayNumber(due) - dayNumber(today);
  if (ahead === 0) return "due today";
  if (ahead === 1) return "due tomorrow";
  if (ahead === -1) return "due yesterday";
  if (ahead > 1 && ahead < 7) {
    const name = WEEKDAYS[new Date(dayNumber(due) * 864e5).getUTCDay()];
    return `due ${name[0].toUpperCase()}${name.slice(1)}`;
  }
  return `due ${due}`;
}

/** What was understood, as the sheet says it: `“Call mum” · 10 min · due tomorrow`. */
export function describeTask(task, today) {
  const parts = [`“${task.title}”`];
  if (task.estimated_minutes) parts.push(minutesWords(task.estimated_minutes));
  if (task.due_date) parts.push(dueWords(task.due_date, today));
  return parts.join(" · ");
}
