"""The last 30 days of a merchant's activity, per UTC day, and its chart."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Date, cast, func, select

from app.extensions import db
from app.models import (
    Pass,
    PassType,
    PushAttempt,
    Registration,
    RegistrationRemoval,
    utcnow,
)
from app.push.service import SENT

DAYS = 30
# Each series: the ActivityDay attribute, its name in the legend and table.
SERIES = (
    ("passes_issued", "Passes issued"),
    ("installs", "Installs"),
    ("removals", "Removals"),
    ("pushes_sent", "Pushes sent"),
    ("pushes_failed", "Pushes failed"),
)
LABEL_EVERY = 7

# The chart's drawing area in SVG user units.
WIDTH = 720
HEIGHT = 240
LEFT = 40
RIGHT = 12
TOP = 36
BOTTOM = 28
TICKS = 4


@dataclass(frozen=True)
class ActivityDay:
    day: date
    passes_issued: int
    installs: int
    removals: int
    pushes_sent: int
    pushes_failed: int


@dataclass(frozen=True)
class Line:
    key: str
    name: str
    points: str
    dots: list[tuple[float, float, int, date]]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    lines: list[Line]
    # Horizontal distance between the legend entries, side by side above the lines.
    legend_step: float
    # (y, value) for each horizontal grid line, (x, text) for each day label.
    ticks: list[tuple[float, int]]
    labels: list[tuple[float, str]]


def daily_activity(merchant_id: int, now: datetime | None = None) -> list[ActivityDay]:
    """Count the merchant's passes, installs, removals and pushes on each day.

    The days are the last 30, in UTC, `now`'s day last.
    """
    today = (now or utcnow()).date()
    first = today - timedelta(days=DAYS - 1)
    since = datetime.combine(first, time.min)
    own_types = select(PassType.id).where(PassType.merchant_id == merchant_id)

    passes = _per_day(Pass.created_at, since, Pass.pass_type_id.in_(own_types))
    installs = _per_day(
        Registration.created_at,
        since,
        Pass.pass_type_id.in_(own_types),
        join=Registration.pass_,
    )
    removals = _per_day(
        RegistrationRemoval.removed_at,
        since,
        Pass.pass_type_id.in_(own_types),
        join=RegistrationRemoval.pass_,
    )
    own_pushes = PushAttempt.pass_type_id.in_(own_types)
    sent = _per_day(
        PushAttempt.created_at, since, own_pushes, PushAttempt.outcome == SENT
    )
    failed = _per_day(
        PushAttempt.created_at, since, own_pushes, PushAttempt.outcome != SENT
    )

    days = [first + timedelta(days=offset) for offset in range(DAYS)]
    return [
        ActivityDay(
            day=day,
            passes_issued=passes.get(day, 0),
            installs=installs.get(day, 0),
            removals=removals.get(day, 0),
            pushes_sent=sent.get(day, 0),
            pushes_failed=failed.get(day, 0),
        )
        for day in days
    ]


def _utc_day(created_at):
    # Timestamps are naive UTC. SQLite has no DATE type (a CAST to it yields the
    # year as a number), so it takes date(); PostgreSQL casts the timestamp.
    if db.engine.dialect.name == "sqlite":
        return func.date(created_at, type_=Date)
    return cast(created_at, Date)


def _per_day(created_at, since: datetime, *conditions, join=None) -> dict[date, int]:
    day = _utc_day(created_at)
    query = select(day, func.count()).where(created_at >= since, *conditions)
    if join is not None:
        query = query.join(join)
    return dict(db.session.execute(query.group_by(day)).all())


def chart(days: list[ActivityDay]) -> Chart:
    """Lay out one line per series over the days, scaled to the busiest day."""
    right = WIDTH - RIGHT
    bottom = HEIGHT - BOTTOM
    step = _tick_step(
        max((getattr(day, key) for day in days for key, _ in SERIES), default=0)
    )
    top_value = step * TICKS
    slot = (right - LEFT) / max(len(days) - 1, 1)

    def x(index: int) -> float:
        return round(LEFT + index * slot, 1)

    def y(value: int) -> float:
        return round(bottom - (bottom - TOP) * value / top_value, 1)

    lines = []
    for key, name in SERIES:
        values = [getattr(day, key) for day in days]
        lines.append(
            Line(
                key=key,
                name=name,
                points=" ".join(f"{x(i)},{y(value)}" for i, value in enumerate(values)),
                dots=[
                    (x(i), y(value), value, days[i].day)
                    for i, value in enumerate(values)
                    if value
                ],
            )
        )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=right,
        top=TOP,
        bottom=bottom,
        lines=lines,
        legend_step=round((right - LEFT) / len(SERIES), 1),
        ticks=[(y(step * n), step * n) for n in range(TICKS + 1)],
        labels=[
            (x(i), f"{days[i].day:%b} {days[i].day.day}")
            for i in range(0, len(days), LABEL_EVERY)
        ],
    )


def _tick_step(peak: int) -> int:
    # Round the step up to 1, 2 or 5 times a power of ten, so grid lines read easily.
    needed = max(-(-peak // TICKS), 1)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= needed:
                return factor * magnitude
        magnitude *= 10
