"""Cron schedules as Kubernetes' CronJobs read them (the standard five-field parser of robfig/cron,
which the API server validates with and the CronJob controller schedules by). Pure: no I/O.

A schedule is five fields separated by blanks: minute (0-59), hour (0-23), day of month (1-31),
month (1-12 or ``JAN``-``DEC``) and day of week (0-6, Sunday 0, or ``SUN``-``SAT``; names in any
case). Each field is a comma-separated list of ``*`` (or ``?``), ``N``, ``A-B``, each optionally
with ``/step``; ``N/step`` means ``N-max/step``. A descriptor may stand for the five fields:
``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``), ``@hourly``.

**Day of month and day of week**: when both are restricted, a day matches if either matches (``0 0 13
* FRI`` runs on every 13th and every Friday); when one of them is ``*`` (a star without a step
above 1), the other alone decides. This is robfig's rule: a field is a "star" when it is ``*`` or
``?`` with step 1, so ``*/2`` restricts.

Times are read in a time zone (``zoneinfo``; the controller's default is UTC): ``next_after(t)``
gives the first matching minute strictly after ``t`` and ``last_at_or_before(t)`` the last one at
or before ``t`` (both in seconds since the epoch), each searching at most five years ahead or back
(None when nothing matches: ``0 0 30 2 *``). A local time that a daylight-saving change skips does
not run; one that happens twice runs at its first occurrence.

Errors are :class:`CronError` with robfig's words (``expected exactly 5 fields, found 1: [x]``,
``end of range (60) above maximum (59): 60``), which the API server puts after ``spec.schedule:
Invalid value: "<schedule>": ``.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo
from dataclasses import dataclass

MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                          "nov", "dec"))}
DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# (name, min, max, names) of the five fields, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int] | None], ...] = (
    ("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None), ("month", 1, 12, MONTHS),
    ("day of week", 0, 6, DAYS))
SEARCH_YEARS = 5
UTC = _dt.UTC


class CronError(ValueError):
    """A schedule that does not parse (robfig's words)."""


def _number(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    try:
        value = int(text)
    except ValueError:
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax') \
            from None
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


def _range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[set[int], bool]:
    """The values of one ``A-B/step`` term, and whether it is a star (``*`` or ``?``, step 1)."""
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    low_high = range_and_step[0].split("-")
    if len(low_high) > 2:
        raise CronError(f"too many hyphens: {expr}")
    star = False
    single = len(low_high) == 1
    if low_high[0] in ("*", "?"):
        start, end, star = lo, hi, True
    else:
        start = _number(low_high[0], names)
        end = start if single else _number(low_high[1], names)
    step = 1
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], None)
        if single and not star:
            end = hi  # "N/step" is "N-max/step"
        if step > 1:
            star = False
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for term in text.split(","):
        got, is_star = _range(term, lo, hi, names)
        values |= got
        star = star or is_star
    return frozenset(values), star


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the values each field allows."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # Sunday 0
    days_star: bool = False
    weekdays_star: bool = False

    def day_matches(self, d: _dt.date) -> bool:
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next_after(self, t: float, tz: _dt.tzinfo = UTC) -> float | None:
        """The first scheduled minute strictly after ``t`` (seconds since the epoch), read in ``tz``."""
        local = _dt.datetime.fromtimestamp(t, tz).replace(tzinfo=None, second=0, microsecond=0)
        local += _dt.timedelta(minutes=1)
        limit = local + _dt.timedelta(days=366 * SEARCH_YEARS)
        while local < limit:
            if local.month not in self.months:
                year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
                local = _dt.datetime(year, month, 1)
            elif not self.day_matches(local.date()):
                local = _dt.datetime.combine(local.date() + _dt.timedelta(days=1), _dt.time())
            elif local.hour not in self.hours:
                local = local.replace(minute=0) + _dt.timedelta(hours=1)
            elif local.minute not in self.minutes:
                local += _dt.timedelta(minutes=1)
            else:
                when = _instant(local, tz)
                if when is not None and when > t:
                    return when
                local += _dt.timedelta(minutes=1)
        return None

    def last_at_or_before(self, t: float, tz: _dt.tzinfo = UTC) -> float | None:
        """The last scheduled minute at or before ``t``, read in ``tz``."""
        local = _dt.datetime.fromtimestamp(t, tz).replace(tzinfo=None, second=0, microsecond=0)
        limit = local - _dt.timedelta(days=366 * SEARCH_YEARS)
        while local > limit:
            if local.month not in self.months:
                local = _dt.datetime(local.year, local.month, 1) - _dt.timedelta(minutes=1)
            elif not self.day_matches(local.date()):
                local = _dt.datetime.combine(local.date(), _dt.time()) - _dt.timedelta(minutes=1)
            elif local.hour not in self.hours:
                local = local.replace(minute=0) - _dt.timedelta(minutes=1)
            elif local.minute not in self.minutes:
                local -= _dt.timedelta(minutes=1)
            else:
                when = _instant(local, tz)
                if when is not None and when <= t:
                    return when
                local -= _dt.timedelta(minutes=1)
        return None


def _instant(local: _dt.datetime, tz: _dt.tzinfo) -> float | None:
    """A wall-clock time in ``tz`` as seconds since the epoch; None when the zone skips it."""
    aware = local.replace(tzinfo=tz, fold=0)
    back = _dt.datetime.fromtimestamp(aware.timestamp(), tz).replace(tzinfo=None)
    if back != local:
        return None  # a time a daylight-saving change skips
    return aware.timestamp()


def parse(spec: str) -> Schedule:
    """A schedule of five fields or a descriptor; raises :class:`CronError`."""
    text = spec.strip()
    if not text:
        raise CronError("empty spec string")
    if text.startswith("@"):
        expanded = DESCRIPTORS.get(text.lower())
        if expanded is None:
            raise CronError(f"unrecognized descriptor: {text}")
        text = expanded
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, lo, hi, names) for f, (_, lo, hi, names) in zip(fields, _FIELDS, strict=True)]
    return Schedule(minutes=parsed[0][0], hours=parsed[1][0], days=parsed[2][0], months=parsed[3][0],
                    weekdays=parsed[4][0], days_star=parsed[2][1], weekdays_star=parsed[4][1])


def zone(name: str | None) -> _dt.tzinfo:
    """The time zone of a CronJob's ``timeZone`` (None or ``""``: UTC); raises :class:`CronError`."""
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name}") from None
