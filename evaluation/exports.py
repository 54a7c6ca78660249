"""A leaderboard as CSV (with a BOM, so Excel opens it), JSON and Markdown (the release report, Chinese by default)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from core.spreadsheet import spreadsheet_row

from .selectors import Leaderboard


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def leaderboard_dict(board: Leaderboard) -> dict[str, Any]:
    run = board.run
    return {
        "release": board.release.version,
        "taxonomy": board.release.taxonomy.code,
        "run": run.pk if run else None,
        "mode": run.mode if run else None,
        "seed": run.seed if run else None,
        "published": board.published,
        "finished_at": run.finished_at.isoformat() if run and run.finished_at else None,
        "parent_release": board.parent_version,
        "anchor": board.anchor,
        "judge_calls": board.judge_calls,
        "dimensions": [
            {"code": d["code"], "name_zh": d["name_zh"], "name_en": d["name_en"], "reasoning": d["reasoning"],
             "skipped": d["skipped"], "matches": d["matches"], "invalid": d["invalid"],
             **({"position_bias": d.get("position_bias"), "judge_calls": d.get("judge_calls"),
                 "kappa": _kappa(board.kappa.get(d["code"]))} if board.robust else {})}
            for d in board.dimensions
        ],
        "rows": [_row(board, r) for r in board.rows],
    }


def _kappa(k) -> dict[str, Any] | None:
    if k is None:
        return None
    return {"kappa": k.kappa, "low": k.low, "high": k.high, "labels": k.n}


def _row(board: Leaderboard, r) -> dict[str, Any]:
    row = {"rank": r.rank, "model": r.name, "overall": r.overall, "scores": r.scores, "rank_change": r.rank_change,
           "blocked": r.blocked, "empty": r.empty, "answer_errors": r.answer_errors,
           "invalid_verdicts": r.invalid, "holdout_gap": r.holdout_gap}
    if board.robust:
        row.update(shared_rank=r.shared_rank, overall_low=r.overall_low, overall_high=r.overall_high,
                   rating=r.rating, rating_low=r.rating_low, rating_high=r.rating_high,
                   score_intervals={c: list(v) if v else None for c, v in r.intervals.items()},
                   safe_rate=r.safe_rate, refusal_rate=r.refusal_rate)
    if board.has_livesecbench:
        row.update(livesecbench_rank=r.livesecbench_rank, livesecbench_overall=r.livesecbench_overall)
    return row


def leaderboard_json(board: Leaderboard) -> str:
    return json.dumps(leaderboard_dict(board), ensure_ascii=False, indent=2)


def leaderboard_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    codes = [d["code"] for d in board.dimensions]
    robust = ["overall_low", "overall_high", "shared_rank"] if board.robust else []
    lsb = ["livesecbench_rank", "livesecbench_overall"] if board.has_livesecbench else []
    writer.writerow(spreadsheet_row([
        "rank", "model", "overall", *robust, *codes, "rank_change", "blocked", "empty", "answer_errors",
        "invalid_verdicts", "holdout_gap", *lsb,
    ]))
    for r in board.rows:
        extra = [_fmt(r.overall_low), _fmt(r.overall_high), int(r.shared_rank)] if board.robust else []
        tail = [r.livesecbench_rank or "", _fmt(r.livesecbench_overall)] if board.has_livesecbench else []
        writer.writerow(spreadsheet_row([
            r.rank, r.name, _fmt(r.overall), *extra, *(_fmt(r.scores.get(c)) for c in codes),
            "" if r.rank_change is None else r.rank_change, r.blocked, r.empty, r.answer_errors, r.invalid,
            _fmt(r.holdout_gap), *tail,
        ]))
    return out.getvalue()


def leaderboard_markdown(board: Leaderboard, *, language: str = "zh-hans", include_holdout: bool = False) -> str:
    """The release report (evaluation.report) of the board's release and run, in Markdown."""
    from .report import render_markdown, report_data

    return render_markdown(report_data(board.release, board=board, include_holdout=include_holdout), language)


EXPORTERS = {"csv": leaderboard_csv, "json": leaderboard_json, "md": leaderboard_markdown}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json; charset=utf-8",
                 "md": "text/markdown; charset=utf-8"}
