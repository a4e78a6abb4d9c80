"""The simulated Todoist accounts: people, their projects and tasks, in memory, and the JSON the API
returns for them (the shapes `todoist-api-python`'s models parse).

Every change to a task returns the webhook event it causes, so the API and the control surface (the
person using the Todoist app) notify alike.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oo_simulators.todoist_dates import (
    Due,
    DueStringError,
    due_from_date,
    due_from_datetime,
    next_occurrence,
    parse_due_string,
)
from oo_simulators.todoist_filters import FilterSubject

_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    # v1 ids are opaque strings; these look like Todoist's (16 base-62 characters).
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def api_time(moment: datetime) -> str:
    # The SDK's `ApiDate` pattern is %FT%T.%fZ: microseconds and a Z, always.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    """An error answered in Todoist's JSON shape: `{error, error_code, error_extra, error_tag, http_code}`."""

    def __init__(self, status: int, error: str, tag: str, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.tag, self.extra = status, error, tag, extra

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_code": self.status,
            "error_extra": self.extra,
            "error_tag": self.tag,
            "http_code": self.status,
        }


def invalid_argument(argument: str, detail: str) -> ApiError:
    return ApiError(400, f"Invalid argument value: {detail}", "INVALID_ARGUMENT_VALUE", argument=argument)


def not_found(kind: str) -> ApiError:
    return ApiError(404, f"{kind} not found", "NOT_FOUND")


@dataclass
class User:
    id: str
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "full_name": self.id.title(),
            "email": f"{self.id}@example.test",
            "lang": "en",
            "is_premium": False,
            "tz_info": {"timezone": self.timezone, "gmt_string": "", "hours": 0, "minutes": 0, "is_dst": 0},
        }


@dataclass
class Project:
    id: str
    user_id: str
    name: str
    child_order: int
    created_at: datetime
    is_inbox: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": "",
            "child_order": self.child_order,
            "color": "charcoal",
            "is_collapsed": False,
            "is_shared": False,
            "is_favorite": False,
            "is_archived": False,
            "is_deleted": False,
            "can_assign_tasks": False,
            "view_style": "list",
            "created_at": api_time(self.created_at),
            "updated_at": api_time(self.created_at),
            "parent_id": None,
            "inbox_project": self.is_inbox,
        }


@dataclass
class Task:
    id: str
    user_id: str
    project_id: str
    content: str
    added_at: datetime
    updated_at: datetime
    description: str = ""
    labels: list[str] = field(default_factory=list)
    priority: int = 1
    due: Due | None = None
    deadline: date | None = None
    duration: tuple[int, str] | None = None
    child_order: int = 1
    is_collapsed: bool = False
    completed_at: datetime | None = None
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "project_id": self.project_id,
            "section_id": None,
            "parent_id": None,
            "content": self.content,
            "description": self.description,
            "labels": list(self.labels),
            "priority": self.priority,
            "due": self.due.to_json() if self.due else None,
            "deadline": {"date": self.deadline.isoformat(), "lang": "en"} if self.deadline else None,
            "duration": {"amount": self.duration[0], "unit": self.duration[1]} if self.duration else None,
            "child_order": self.child_order,
            "day_order": -1,
            "is_collapsed": self.is_collapsed,
            "checked": self.completed_at is not None,
            "is_deleted": self.deleted,
            "responsible_uid": None,
            "assigned_by_uid": None,
            "added_by_uid": self.user_id,
            "added_at": api_time(self.added_at),
            "updated_at": api_time(self.updated_at),
            "completed_at": api_time(self.completed_at) if self.completed_at else None,
            "note_count": 0,
        }


@dataclass(frozen=True)
class TaskEvent:
    """A webhook event a change causes: `item:added|updated|completed|uncompleted|deleted`."""

    name: str
    user_id: str
    task: dict[str, Any]
    old_task: dict[str, Any] | None = None
    update_intent: str | None = None


class Accounts:
    """Everyone's projects and tasks. Single-threaded by design: one uvicorn loop calls it."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.tasks: dict[str, Task] = {}

    def user(self, user_id: str, now: datetime, timezone: str | None = None) -> User:
        """The person, created with an Inbox on first sight (Todoist accounts always have one)."""
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise invalid_argument("timezone", timezone) from None
        person = self.users.get(user_id)
        if person is None:
            person = self.users[user_id] = User(user_id, timezone or "UTC")
            self.project_named(user_id, "Inbox", now, inbox=True)
        elif timezone is not None:
            person.timezone = timezone
        return person

    def project_named(self, user_id: str, name: str, now: datetime, *, inbox: bool = False) -> Project:
        for project in self.projects.values():
            if project.user_id == user_id and project.name.lower() == name.lower():
                return project
        order = 1 + sum(1 for p in self.projects.values() if p.user_id == user_id)
        project = Project(new_id(), user_id, name, order, now, is_inbox=inbox)
        self.projects[project.id] = project
        return project

    def user_projects(self, user_id: str) -> list[Project]:
        return [p for p in self.projects.values() if p.user_id == user_id]

    def task(self, user_id: str, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.deleted or task.user_id != user_id:
            raise not_found("Task")
        return task

    def active_tasks(self, user_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.user_id == user_id and not t.deleted and t.completed_at is None]

    def subject(self, task: Task, zone: ZoneInfo) -> FilterSubject:
        return FilterSubject(
            content=task.content,
            due_day=task.due.local_day(zone) if task.due else None,
            due_at=task.due.instant(zone) if task.due else None,
            priority=task.priority,
            project_name=self.projects[task.project_id].name,
            labels=tuple(task.labels),
            recurring=bool(task.due and task.due.is_recurring),
        )

    def create(self, user_id: str, fields: dict[str, Any], now: datetime) -> tuple[Task, TaskEvent]:
        person = self.user(user_id, now)
        content = fields.get("content")
        if not isinstance(content, str) or not content.strip():
            raise invalid_argument("content", "content is required")
        inbox = self.project_named(user_id, "Inbox", now, inbox=True)
        order = 1 + sum(1 for t in self.tasks.values() if t.user_id == user_id)
        task = Task(new_id(), user_id, inbox.id, content, added_at=now, updated_at=now, child_order=order)
        self._apply(task, person, fields, now)
        self.tasks[task.id] = task
        return task, TaskEvent("item:added", user_id, task.to_json())

    def update(self, user_id: str, task_id: str, fields: dict[str, Any], now: datetime) -> tuple[Task, TaskEvent]:
        task = self.task(user_id, task_id)
        old = task.to_json()
        self._apply(task, self.users[user_id], fields, now)
        task.updated_at = now
        return task, TaskEvent("item:updated", user_id, task.to_json(), old, "item_updated")

    def close(self, user_id: str, task_id: str, now: datetime) -> TaskEvent:
        task = self.task(user_id, task_id)
        old = task.to_json()
        person = self.users[user_id]
        task.updated_at = now
        if task.due is not None and task.due.is_recurring:
            # A recurring task stays open: its date moves on, and Todoist reports an update.
            task.due = next_occurrence(task.due, person.zone, now.astimezone(person.zone).date())
            return TaskEvent("item:updated", user_id, task.to_json(), old, "item_completed")
        task.completed_at = now
        return TaskEvent("item:completed", user_id, task.to_json())

    def reopen(self, user_id: str, task_id: str, now: datetime) -> TaskEvent:
        task = self.task(user_id, task_id)
        task.completed_at, task.updated_at = None, now
        return TaskEvent("item:uncompleted", user_id, task.to_json())

    def delete(self, user_id: str, task_id: str, now: datetime) -> TaskEvent:
        task = self.task(user_id, task_id)
        task.deleted, task.updated_at = True, now
        return TaskEvent("item:deleted", user_id, task.to_json())

    def _apply(self, task: Task, person: User, fields: dict[str, Any], now: datetime) -> None:
        """Apply the create/update fields the SDK sends (`todoist_api_python.api_async`)."""
        if "content" in fields:
            task.content = _text(fields, "content")
        if "description" in fields:
            task.description = _text(fields, "description")
        if "project_id" in fields:
            project = self.projects.get(str(fields["project_id"]))
            if project is None or project.user_id != person.id:
                raise not_found("Project")
            task.project_id = project.id
        if "labels" in fields:
            labels = fields["labels"]
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise invalid_argument("labels", "a list of names")
            task.labels = labels
        if "priority" in fields:
            if fields["priority"] not in (1, 2, 3, 4):
                raise invalid_argument("priority", "1 to 4")
            task.priority = fields["priority"]
        if "child_order" in fields or "order" in fields:
            task.child_order = int(fields.get("child_order", fields.get("order", task.child_order)))
        if "is_collapsed" in fields:
            task.is_collapsed = bool(fields["is_collapsed"])
        if any(key in fields for key in ("due_string", "due_date", "due_datetime")):
            task.due = _due(fields, person, now)
        if "deadline_date" in fields:
            try:
                task.deadline = date.fromisoformat(str(fields["deadline_date"])) if fields["deadline_date"] else None
            except ValueError:
                raise invalid_argument("deadline_date", "YYYY-MM-DD") from None
        if "duration" in fields or "duration_unit" in fields:
            amount, unit = fields.get("duration"), fields.get("duration_unit")
            if amount is None:
                task.duration = None
            elif not isinstance(amount, int) or amount < 1 or unit not in ("minute", "day"):
                raise invalid_argument("duration", "a positive amount with duration_unit minute or day")
            else:
                task.duration = (amount, unit)


def _text(fields: dict[str, Any], key: str) -> str:
    value = fields[key]
    if not isinstance(value, str):
        raise invalid_argument(key, "a string")
    return value


def _due(fields: dict[str, Any], person: User, now: datetime) -> Due | None:
    today = now.astimezone(person.zone).date()
    try:
        if fields.get("due_string") is not None:
            return parse_due_string(str(fields["due_string"]), today)
        if fields.get("due_date") is not None:
            return due_from_date(str(fields["due_date"]))
        if fields.get("due_datetime") is not None:
            return due_from_datetime(str(fields["due_datetime"]), person.timezone)
    except DueStringError:
        raise invalid_argument("due_string", "the date could not be parsed") from None
    except ValueError:
        raise invalid_argument("due", "not an ISO date or RFC 3339 datetime") from None
    return None
