"""The calendar connectors (CalDAV, an ICS link, Google Calendar): busy times only, never what, who or where."""
