"""Search filters → SQL: `--where` expressions, dates, free text, sort keys. No DuckDB import here.

A `--where` expression is `FIELD OP VALUE`:

- FIELD: a headline column (`final_train_loss`, `eval_after`, `started_at`, …) or any other summary
  figure by dotted path (`extra.steps_per_second`, `config.learning_rate`,
  `effectiveness.evaluations.1.after` — a number picks a list item).
- OP: `=` (or `==`), `!=`, `<`, `<=`, `>`, `>=`, and `~` (case-insensitive substring, text only).
- VALUE: a number, `true`/`false`, an ISO date for `started_at`/`ended_at`, or text (quote it to keep
  spaces or to force text: `config.optim='adamw_torch'`).
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from halo_forge.errors import RunNotFound, RunsError  # noqa: F401 - raised here, defined with the others
from halo_forge.runs.columns import (HEADLINE, STATUSES, SUMMARY_FIELDS, VERDICTS, Column, parse_time,
                                     resolve_column)


OPS = (">=", "<=", "!=", "==", "=", ">", "<", "~")
_EXPR = re.compile(r"^\s*(?P<field>[A-Za-z_][\w\-]*(?:(?:\.[\w\-]+)|(?:\[\d+\]))*)\s*"
                   r"(?P<op>>=|<=|!=|==|=|>|<|~)\s*(?P<value>.*?)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
GROUPS = ("effectiveness", "extra", "inputs", "outputs", "versions", "config", "recovery", "yield_diagnostics",
          "cycles")

WHERE_SYNTAX = ("write FIELD OP VALUE, e.g. 'final_train_loss<0.5', 'eval_after>=0.6', "
                "'extra.steps_per_second>3', \"config.optim=adamw_torch\"; OP is one of = != < <= > >= ~; "
                f"FIELD is a headline column ({', '.join(HEADLINE)}) or a dotted summary path")

FigureLookup = Callable[[], Mapping[tuple[str, str], "str | None"]]


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    kind: str  # num | bool | str
    text: str  # the expression as given


def _bad(expr: str, why: str) -> RunsError:
    return RunsError(f"bad --where expression {expr!r}: {why}", hint=WHERE_SYNTAX)


def parse_condition(expr: str) -> Condition:
    m = _EXPR.match(expr or "")
    if not m:
        if not (expr or "").strip():
            raise _bad(expr, "it is empty")
        if not any(op in expr for op in OPS):
            raise _bad(expr, "no comparison operator")
        raise _bad(expr, "FIELD must be a name or dotted path (letters, digits, _ and -)")
    field, op, raw = m["field"], m["op"], m["value"]
    field = re.sub(r"\[(\d+)\]", r".\1", field)
    op = "=" if op == "==" else op
    if raw == "":
        raise _bad(expr, "no value after the operator")
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return Condition(field, op, raw[1:-1], "str", expr)
    if raw.lower() in ("true", "false"):
        return Condition(field, op, raw.lower() == "true", "bool", expr)
    if _NUMBER.match(raw):
        return Condition(field, op, float(raw), "num", expr)
    if any(ch in raw for ch in "<>=!"):
        raise _bad(expr, f"cannot read the value {raw!r} (one comparison per expression)")
    return Condition(field, op, raw, "str", expr)


def _raw_text(cond: Condition) -> str:
    if cond.kind == "num":
        v = cond.value
        return str(int(v)) if float(v).is_integer() else repr(v)
    if cond.kind == "bool":
        return "true" if cond.value else "false"
    return str(cond.value)


def _json_path(segments: list[str]) -> str:
    out = "$"
    for seg in segments:
        out += f"[{seg}]" if seg.isdigit() else '."' + seg.replace('"', '\\"') + '"'
    return out


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _headline_sql(col: Column, cond: Condition) -> tuple[str, list]:
    name, op, expr = quote(col.name), cond.op, cond.text
    if col.kind == "num":
        if cond.kind != "num":
            raise _bad(expr, f"{col.name} is a number; compare it with a number, e.g. {col.name}>=1")
        if op == "~":
            raise _bad(expr, "~ (substring) works on text fields only")
        return f"{name} {op} ?", [cond.value]
    if col.kind == "bool":
        if op not in ("=", "!=") or not (cond.kind == "bool" or (cond.kind == "num" and cond.value in (0.0, 1.0))):
            raise _bad(expr, f"{col.name} is true or false; write {col.name}=true or {col.name}=false")
        return f"{name} {op} ?", [bool(cond.value)]
    if col.kind == "time":
        if op == "~":
            raise _bad(expr, "~ (substring) works on text fields only")
        ts = parse_time(_raw_text(cond))
        if ts is None:
            raise _bad(expr, f"{col.name} takes an ISO date or time, e.g. {col.name}>=2026-01-31")
        return f"{name} {op} ?", [ts]
    if op not in ("=", "!=", "~"):
        raise _bad(expr, f"{col.name} is text: use = != or ~ (substring), not {op}")
    if op == "~":
        return f"contains(lower({name}), ?)", [_raw_text(cond).lower()]
    return f"{name} {op} ?", [_raw_text(cond)]


def _figure_sql(cond: Condition, figures: FigureLookup) -> tuple[str, list]:
    segments = cond.field.split(".")
    top, expr, op = segments[0], cond.text, cond.op
    if top not in SUMMARY_FIELDS:
        close = difflib.get_close_matches(top, [*HEADLINE, *SUMMARY_FIELDS], n=3)
        raise _bad(expr, f"unknown field {top!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    if len(segments) == 1 and top in GROUPS:
        raise _bad(expr, f"{top} is a group of figures; name one inside it, e.g. {top}.<name>")
    path = ".".join(segments)
    through_list = any(s.isdigit() for s in segments)
    if cond.kind == "str":
        if op not in ("=", "!=", "~"):
            raise _bad(expr, f"{op} needs a number (text compares with = != or ~)")
        kind, value = "str", cond.value
    elif cond.kind == "bool":
        if op not in ("=", "!="):
            raise _bad(expr, f"true/false compare with = or != only, not {op}")
        kind, value = "num", 1.0 if cond.value else 0.0
    else:
        if op == "~":
            raise _bad(expr, "~ (substring) takes text, not a number")
        kind, value = "num", cond.value
    col = None if through_list else figures().get((path, kind), "absent")
    if col == "absent":  # no indexed run has a value of that kind at that path
        return "FALSE", []
    if col is not None:  # a real column
        if op == "~":
            return f"contains(lower({quote(col)}), ?)", [str(value).lower()]
        return f"{quote(col)} {op} ?", [value]
    # through a list, or past the figure-column cap: read the summary JSON (slower)
    jp = _json_path(segments)
    if cond.kind == "bool":
        return f"json_extract_string(summary, ?) {op} ?", [jp, "true" if cond.value else "false"]
    if kind == "num":
        return f"TRY_CAST(json_extract_string(summary, ?) AS DOUBLE) {op} ?", [jp, value]
    if op == "~":
        return "contains(lower(json_extract_string(summary, ?)), ?)", [jp, str(value).lower()]
    return f"json_extract_string(summary, ?) {op} ?", [jp, value]


def condition_sql(cond: Condition, figures: FigureLookup) -> tuple[str, list]:
    col = resolve_column(cond.field)
    if col is not None:
        return _headline_sql(col, cond)
    if "." not in cond.field and cond.field not in SUMMARY_FIELDS:
        close = difflib.get_close_matches(cond.field, [*HEADLINE, *SUMMARY_FIELDS], n=3)
        raise _bad(cond.text, f"unknown field {cond.field!r}"
                   + (f" (did you mean {' or '.join(close)}?)" if close else "")
                   + "; other summary figures are named by dotted path, e.g. extra.steps_per_second")
    return _figure_sql(cond, figures)


def _choices(name: str, value: str | Sequence[str] | None, allowed: Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [v for x in value for v in str(x).split(",")]
    items = [v.strip().lower() for v in items if v.strip()]
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise RunsError(f"unknown {name} {', '.join(map(repr, bad))}",
                            hint=f"{name} is one of {', '.join(allowed)} (several: comma-separated)")
    return items


def _date_bound(name: str, value: str | date | datetime | None, *, upper: bool) -> tuple[str, datetime] | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        ts = parse_time(value.isoformat())
        day_only = False
    elif isinstance(value, date):
        ts, day_only = datetime(value.year, value.month, value.day), True
    else:
        ts = parse_time(str(value))
        day_only = len(str(value).strip()) == 10
    if ts is None:
        raise RunsError(f"bad --{name} {value!r}: not an ISO date or time",
                        hint=f"write --{name} 2026-01-31 or --{name} 2026-01-31T12:00:00+00:00 (UTC when no zone)")
    if upper:
        if day_only and ts.date() == date.max:  # the last day there is: no upper bound (ts + 1 day overflows)
            return ("<=", datetime.max)
        return ("<", ts + timedelta(days=1)) if day_only else ("<=", ts)
    return (">=", ts)


def build_where(*, modality=None, model: str | None = None, verdict=None, status=None, since=None, until=None,
                where: str | Sequence[str] = (), text: str | None = None,
                figures: FigureLookup) -> tuple[str, list]:
    """The WHERE clause (or "") and its parameters for a search."""
    clauses: list[str] = []
    params: list = []
    for name, value, allowed in (("modality", modality, None), ("verdict", verdict, VERDICTS),
                                 ("status", status, STATUSES)):
        items = _choices(name, value, allowed)
        if items:
            clauses.append(f"{quote(name)} IN ({', '.join('?' * len(items))})")
            params.extend(items)
    if model:
        clauses.append("contains(lower(model_name), ?)")
        params.append(model.lower())
    for name, value, upper in (("since", since, False), ("until", until, True)):
        bound = _date_bound(name, value, upper=upper)
        if bound:
            clauses.append(f"started_at {bound[0]} ?")
            params.append(bound[1])
    for expr in [where] if isinstance(where, str) else list(where or ()):
        sql, p = condition_sql(parse_condition(expr), figures)
        clauses.append(sql)
        params.extend(p)
    if text and text.strip():
        try:
            terms = shlex.split(text)
        except ValueError:
            terms = text.split()
        for term in terms:
            clauses.append("contains(search_text, ?)")
            params.append(term.lower())
    return (" AND ".join(f"({c})" for c in clauses), params)


def sort_sql(sort: str, figures: FigureLookup) -> str:
    col = resolve_column(sort)
    if col is not None:
        return quote(col.name)
    if "." in sort and sort.split(".")[0] in SUMMARY_FIELDS:
        name = figures().get((sort, "num")) or figures().get((sort, "str"))
        if name:
            return quote(name)
    close = difflib.get_close_matches(sort, list(HEADLINE), n=3)
    raise RunsError(f"cannot sort by {sort!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""),
                    hint=f"sort by a headline column: {', '.join(HEADLINE)} "
                         "(or a dotted figure path present in the index)")
