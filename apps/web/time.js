// Every time the page shows is 24-hour HH:MM, whatever the browser's locale: "07:00", never "7 AM".

/** A whole hour of the day; 24 is the end of the day (a window "to midnight"). */
export const hhmm = (hour) => `${String(hour).padStart(2, "0")}:00`;

/** The wall-clock time of a moment, in `timeZone` (the browser's own when not given). */
export function timeOf(moment, timeZone = undefined) {
  return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone }).format(
    moment,
  );
}
