"""The batch's outputs: the ranking, grades.csv, the leaderboards, each student's feedback and the summary.

Ranking is fair by construction: only the challenge's metric (the
evaluation set's accuracy when there is one) ranks, on its private part;
equal scores share their place and its points; hand-ins that do not
qualify (a failed check, when the course requires all) are ranked but
marked, and get no challenge points. The public board shows pseudonyms
(stable per student, told to each in their feedback) unless the config's
``challenge.show_ids`` is true.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import html
import io
from pathlib import Path

import numpy as np

from helpers.course.grading.archive import safe_name
from helpers.course.grading.config import GradingError
from helpers.paths import atomic_write_bytes, atomic_write_json


def pseudonym(student: str, config: dict) -> str:
    """The student's name on the public board: ``player-`` and 6 hex digits, keyed by the course's secret seed."""
    key = str(config["challenge"].get("pseudonym_key", config.get("seed", 0))).encode()
    return "player-" + hmac.new(key, student.encode(), hashlib.sha256).hexdigest()[:6]


def _places(values: list[float]) -> list[int]:
    """Competition ranking of ``values`` (higher is better): equal values share the place of the first (1, 1, 3)."""
    return [1 + sum(other > v for other in values) for v in values]


def rank(results: list[dict], config: dict) -> list[dict]:
    """Add ``rank``, ``public_rank``, ``qualified``, ``place``, ``challenge_points`` and ``total`` to every result;
    returns them in final-rank order (unranked ones last).

    ``rank``: among all scored hand-ins, on the private part of the metric;
    ``place``: among the qualified ones, which decides the challenge points:
    the config's ``rank_points`` by place, ``points`` below them. Equal
    metrics share ``rank``, ``place`` and points.
    """
    challenge = config["challenge"]
    scored = [r for r in results if r.get("metric")]
    rounded = lambda v: round(float(v), 12)   # noqa: E731  (equal fractions of one set compare equal)
    for r, place in zip(scored, _places([rounded(r["metric"]["private"]) for r in scored])):
        r["rank"] = place
    for r, place in zip(scored, _places([rounded(r["metric"]["public"]) for r in scored])):
        r["public_rank"] = place
    qualified = [r for r in scored if not challenge.get("requires_all_checks") or all(c["passed"] for c in r["checks"])]
    bonus = challenge.get("rank_points", [])
    for r, place in zip(qualified, _places([rounded(r["metric"]["private"]) for r in qualified])):
        r["qualified"], r["place"] = True, place
        r["challenge_points"] = float(bonus[place - 1] if place <= len(bonus) else challenge.get("points", 0))
    for r in results:
        for key, value in (("rank", None), ("public_rank", None), ("place", None), ("qualified", False),
                           ("challenge_points", 0.0)):
            r.setdefault(key, value)
        r["total"] = r["score"] + r["challenge_points"]
    final = sorted(scored, key=lambda r: (r["rank"], r["student"]))
    return final + sorted((r for r in results if not r.get("metric")), key=lambda r: r["student"])


def _fmt(value) -> str:
    return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def why_not_qualified(result: dict) -> str:
    failed = [c["name"] for c in result["checks"] if not c["passed"]]
    return "not qualified: failed " + ", ".join(failed) if failed else "not qualified"


def grades_csv(results: list[dict], config: dict) -> str:
    """``grades.csv``: student, every check's points, challenge points, total, the metric (all, public, private),
    the final rank, whether it qualified, the failed checks by name, the reason of a refusal or a lost grading."""
    names = list(config["checks"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *names, "challenge", "total", "accuracy", "accuracy_public", "accuracy_private",
                     "rank", "qualified", "pseudonym", "failed", "note"])
    for r in sorted(results, key=lambda r: r["student"]):
        by_name = {c["name"]: c for c in r["checks"]}
        m = r.get("metric") or {}
        writer.writerow([r["student"], *[_fmt(by_name[n]["points"]) if n in by_name else "" for n in names],
                         _fmt(r["challenge_points"]), _fmt(r["total"]), _fmt(m.get("value")), _fmt(m.get("public")),
                         _fmt(m.get("private")), _fmt(r.get("rank")), "yes" if r.get("qualified") else "no",
                         pseudonym(r["student"], config), " ".join(c["name"] for c in r["checks"] if not c["passed"]),
                         r.get("refused") or r.get("note") or ""])
    return out.getvalue()


def leaderboard_csv(ordered: list[dict], config: dict) -> str:
    """The final leaderboard (the instructor's): rank on the private part, the public figures beside it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "student", "pseudonym", "metric", "private", "public", "public_rank", "qualified",
                     "challenge_points"])
    for r in ordered:
        m = r.get("metric") or {}
        writer.writerow([_fmt(r.get("rank")), r["student"], pseudonym(r["student"], config), m.get("name", ""),
                         _fmt(m.get("private")), _fmt(m.get("public")), _fmt(r.get("public_rank")),
                         "yes" if r.get("qualified") else "no", _fmt(r["challenge_points"])])
    return out.getvalue()


def leaderboard_html(results: list[dict], config: dict) -> str:
    """The students' leaderboard: ranked on the public part only, pseudonyms unless ``show_ids``, marks on the
    hand-ins that do not qualify and on those without a score."""
    show_ids = bool(config["challenge"].get("show_ids"))
    scored = sorted((r for r in results if r.get("metric")), key=lambda r: (r["public_rank"], r["student"]))
    fraction = config["challenge"]["public_fraction"]
    part = "the whole evaluation set" if fraction >= 1 else f"{fraction:.0%} of the evaluation set (public part)"

    def name(r):
        return html.escape(r["student"] if show_ids else pseudonym(r["student"], config))

    rows = [f"<tr><td>{r['public_rank']}</td><td>{name(r)}</td><td>{r['metric']['public']:.4f}</td>"
            f"<td>{'' if r.get('qualified') else 'not qualified'}</td></tr>" for r in scored]
    rows += [f"<tr><td></td><td>{name(r)}</td><td></td><td>no score</td></tr>"
             for r in sorted(results, key=lambda r: r["student"]) if not r.get("metric")]
    title = html.escape(config.get("title", config["course"]))
    note = "" if fraction >= 1 else "<p>The final ranking uses the rest of the set, which is not shown.</p>"
    rows_html = "\n".join(rows)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}: leaderboard</title>\n"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{padding:.3em 1em;border-bottom:1px solid #ccc;text-align:left}</style></head><body>\n"
            f"<h1>{title}: leaderboard</h1>\n<p>Accuracy on {part}. Equal scores share a place. "
            "Hand-ins that fail a check are ranked but do not qualify for the challenge's points.</p>"
            f"{note}\n<table><thead><tr><th>#</th><th>name</th><th>accuracy</th><th></th></tr></thead><tbody>\n"
            f"{rows_html}\n</tbody></table></body></html>\n")


def feedback_markdown(result: dict, config: dict, batch: bool = True) -> str:
    """A student's feedback: every check with its points, then each failure with its first problem and a hint."""
    title = config.get("title", config["course"])
    lines = [f"# {title}: feedback for {result['student']}", ""]
    if result.get("refused"):
        lines += [f"**{result['refused']}** Nothing was run; every check gets 0 points.", ""]
    elif result.get("note"):
        lines += [f"**{result['note']}**", ""]
    score = f"{_fmt(result['score'])} / {_fmt(result['max_score'])} points for the checks"
    if batch and result.get("challenge_points") is not None:
        score += f", {_fmt(result['challenge_points'])} challenge points, total {_fmt(result['total'])}"
    lines += [f"Score: {score}.", ""]
    if result.get("metric"):
        m = result["metric"]
        which = "" if config["challenge"]["public_fraction"] >= 1 else " (public part)"
        line = f"Challenge: {m['name'].replace('_', ' ')}{which} {m['public']:.4f}"
        if batch and result.get("public_rank"):
            shown = result["student"] if config["challenge"].get("show_ids") else pseudonym(result["student"], config)
            line += f", leaderboard place {result['public_rank']} as {shown}"
            if not result.get("qualified"):
                line += f" ({why_not_qualified(result)})"
        lines += [line + ".", ""]
    lines += ["| check | what | points | result |", "|---|---|---|---|"]
    for c in result["checks"]:
        lines.append(f"| {c['name']} | {c['what']} | {_fmt(c['points'])} / {_fmt(c['max_points'])} | "
                     f"{'passed' if c['passed'] else 'FAILED'} |")
    failed = [c for c in result["checks"] if not c["passed"]]
    if failed and not result.get("refused"):
        lines += ["", "## What failed", ""]
        for c in failed:
            lines += [f"### {c['name']}", "", c["message"] or "failed", ""]
            if c["hint"]:
                lines += [f"Hint: {c['hint']}", ""]
    return "\n".join(lines).rstrip() + "\n"


def summary_text(results: list[dict], ordered: list[dict], seconds: float, workers: int, isolation: str = "") -> str:
    """The end-of-batch summary: how student code ran, counts, mean score, refusals, the top of the ranking, the speed."""
    n = len(results)
    totals = np.array([r["total"] for r in results], dtype=float)
    full = sum(r["score"] == r["max_score"] and r["max_score"] > 0 for r in results)
    refused = [r for r in results if r.get("refused")]
    lost = [r for r in results if r.get("note")]
    lines = [f"graded {n} hand-ins in {seconds:.1f} s with {workers} worker(s) ({60 * n / max(seconds, 1e-9):.1f} per minute)"]
    if isolation:
        lines.append(f"student code: {isolation}")
    lines.append(f"total points: mean {totals.mean():.2f}, min {totals.min():g}, max {totals.max():g}; "
                 f"{full} passed every check; {len(refused)} refused; {len(lost)} not fully graded")
    lines += [f"  refused {r['student']}: {r['refused']}" for r in refused]
    lines += [f"  not fully graded {r['student']}: {r['note']}" for r in lost]
    top = [r for r in ordered if r.get("rank")][:5]
    if top:
        lines.append("final ranking (private part): " + ", ".join(
            f"{r['rank']}. {r['student']} {r['metric']['private']:.4f}" + ("" if r.get("qualified") else " (not qualified)")
            for r in top))
    return "\n".join(lines) + "\n"


def write_result(result: dict, out: Path) -> Path:
    """One student's result as ``results/<student>.json`` (written as soon as it is known)."""
    return atomic_write_json(Path(out) / "results" / f"{safe_name(result['student'])}.json", result)


def write_reports(results: list[dict], config: dict, out: Path, seconds: float = 0.0, workers: int = 1,
                  isolation: str = "") -> str:
    """Write every output file into ``out`` atomically; returns the summary text."""
    ordered = rank(results, config)
    out = Path(out)
    for r in results:
        write_result(r, out)
        atomic_write_bytes(out / "feedback" / f"{safe_name(r['student'])}.md", feedback_markdown(r, config).encode())
    atomic_write_bytes(out / "grades.csv", grades_csv(results, config).encode())
    atomic_write_bytes(out / "leaderboard.csv", leaderboard_csv(ordered, config).encode())
    atomic_write_bytes(out / "leaderboard.html", leaderboard_html(results, config).encode())
    summary = summary_text(results, ordered, seconds, workers, isolation)
    atomic_write_bytes(out / "summary.txt", summary.encode())
    return summary


def check_output_folder(out: Path, inputs: list[Path], force: bool) -> None:
    """Refuse an output folder inside an input, or one that already holds grades (unless ``force``)."""
    out = Path(out).resolve()
    for path in inputs:
        path = Path(path).resolve()
        if out == path or path in out.parents:
            raise GradingError(f"--out {out} lies inside the hand-ins {path}; choose a folder outside them.")
    if (out / "grades.csv").exists() and not force:
        raise GradingError(f"{out} already holds grades.csv from an earlier run; choose another --out or pass --force.")
