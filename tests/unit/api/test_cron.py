"""Cron schedules (``api/cron.py``): fields, ranges, steps, lists, names, descriptors, the day-of-month
and day-of-week rule, time zones and robfig's error words."""

from __future__ import annotations

import datetime as dt

import pytest

from shoal.api import cron


def at(*args: int, tz: dt.tzinfo = dt.UTC) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def show(t: float | None, tz: dt.tzinfo = dt.UTC) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M %a")


def nexts(spec: str, start: float, n: int = 3, tz: dt.tzinfo = dt.UTC) -> list[str | None]:
    s, out, t = cron.parse(spec), [], start
    for _ in range(n):
        nt = s.next_after(t, tz)
        out.append(show(nt, tz))
        if nt is None:
            break
        t = nt
    return out


def test_steps_of_a_star() -> None:
    s = cron.parse("*/15 * * * *")
    assert sorted(s.minutes) == [0, 15, 30, 45] and s.days_star
    assert nexts("*/15 * * * *", at(2025, 3, 1, 10, 7)) == ["2025-03-01 10:15 Sat", "2025-03-01 10:30 Sat",
                                                            "2025-03-01 10:45 Sat"]
    assert nexts("*/1 * * * *", at(2025, 3, 1, 23, 59, 30), 2) == ["2025-03-02 00:00 Sun", "2025-03-02 00:01 Sun"]


def test_ranges_lists_and_a_start_with_a_step() -> None:
    assert sorted(cron.parse("1-5 * * * *").minutes) == [1, 2, 3, 4, 5]
    assert sorted(cron.parse("1,3,10-12 * * * *").minutes) == [1, 3, 10, 11, 12]
    assert sorted(cron.parse("50/5 * * * *").minutes) == [50, 55]  # "N/step" is "N-max/step"
    assert sorted(cron.parse("0 8-18/4 * * *").hours) == [8, 12, 16]


def test_names_of_months_and_days_in_any_case() -> None:
    s = cron.parse("0 9 * jan,Mar-MAY MON-FRI")
    assert sorted(s.months) == [1, 3, 4, 5] and sorted(s.weekdays) == [1, 2, 3, 4, 5]
    assert nexts("0 9 * * MON-FRI", at(2025, 3, 7, 10, 0), 2) == ["2025-03-10 09:00 Mon", "2025-03-11 09:00 Tue"]


def test_day_of_month_and_day_of_week_both_set_is_either() -> None:
    # every 13th and every Friday
    assert nexts("0 0 13 * FRI", at(2025, 6, 1), 4) == ["2025-06-06 00:00 Fri", "2025-06-13 00:00 Fri",
                                                       "2025-06-20 00:00 Fri", "2025-06-27 00:00 Fri"]
    assert nexts("0 0 13 * 1", at(2025, 1, 10), 3) == ["2025-01-13 00:00 Mon", "2025-01-20 00:00 Mon",
                                                      "2025-01-27 00:00 Mon"]
    # one of them a star: the other alone decides
    assert nexts("0 0 13 * *", at(2025, 1, 1), 2) == ["2025-01-13 00:00 Mon", "2025-02-13 00:00 Thu"]
    assert nexts("0 0 * * FRI", at(2025, 1, 1), 2) == ["2025-01-03 00:00 Fri", "2025-01-10 00:00 Fri"]
    # a stepped star restricts (robfig): */2 days OR Mondays
    s = cron.parse("0 0 */2 * MON")
    assert not s.days_star and s.day_matches(dt.date(2025, 1, 6)) and s.day_matches(dt.date(2025, 1, 3))
    assert not s.day_matches(dt.date(2025, 1, 4))


def test_february_the_29th_waits_for_a_leap_year() -> None:
    assert nexts("0 0 29 2 *", at(2025, 3, 1), 2) == ["2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun"]
    assert show(cron.parse("0 0 29 2 *").last_at_or_before(at(2027, 1, 1))) == "2024-02-29 00:00 Thu"
    assert cron.parse("0 0 30 2 *").next_after(at(2025, 1, 1)) is None  # never


def test_last_at_or_before() -> None:
    s = cron.parse("*/15 * * * *")
    assert show(s.last_at_or_before(at(2025, 3, 1, 10, 15))) == "2025-03-01 10:15 Sat"  # at counts
    assert show(s.last_at_or_before(at(2025, 3, 1, 10, 14, 59))) == "2025-03-01 10:00 Sat"
    assert show(cron.parse("0 9 * * MON-FRI").last_at_or_before(at(2025, 3, 9, 12))) == "2025-03-07 09:00 Fri"


def test_descriptors() -> None:
    assert cron.parse("@hourly") == cron.parse("0 * * * *")
    assert cron.parse("@daily") == cron.parse("@midnight") == cron.parse("0 0 * * *")
    assert cron.parse("@weekly") == cron.parse("0 0 * * 0")
    assert cron.parse("@monthly") == cron.parse("0 0 1 * *")
    assert cron.parse("@yearly") == cron.parse("@annually") == cron.parse("0 0 1 1 *")


def test_time_zones() -> None:
    ny = cron.zone("America/New_York")
    assert nexts("0 9 * * *", at(2025, 1, 1), 1, ny) == ["2025-01-01 09:00 Wed"]
    assert cron.parse("0 9 * * *").next_after(at(2025, 1, 1), ny) == at(2025, 1, 1, 14)  # 09:00 EST is 14:00 UTC
    # 02:30 does not happen on 2025-03-09 there (clocks go 02:00 -> 03:00): the next day's
    assert nexts("30 2 * * *", at(2025, 3, 8, 12, tz=ny), 2, ny) == ["2025-03-10 02:30 Mon", "2025-03-11 02:30 Tue"]
    assert cron.zone(None) is dt.UTC and cron.zone("") is dt.UTC
    with pytest.raises(cron.CronError, match="unknown time zone Mars/Base"):
        cron.zone("Mars/Base")


@pytest.mark.parametrize(("spec", "error"), [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("@every 5m", "unrecognized descriptor: @every 5m"),
    ("", "empty spec string"),
])
def test_errors_in_robfigs_words(spec: str, error: str) -> None:
    with pytest.raises(cron.CronError) as e:
        cron.parse(spec)
    assert str(e.value) == error
