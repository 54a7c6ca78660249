"""Helpers for comparing runs: a leaderboard and a match list keyed by model names instead of per-run ids,
the simulator's request counts, and a reference run computed and then forgotten."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from evaluation.models import Answer, EvalRun, Match


def board(run: EvalRun) -> dict[str, Any]:
    """Everything `run.results` says about the models, keyed by model name (target ids differ per run)."""
    results = run.results
    names = {str(m["id"]): m["name"] for m in results["models"]}

    def by_name(values: dict[str, Any]) -> dict[str, Any]:
        return {names[k]: v for k, v in values.items()}

    return {
        "models": [m["name"] for m in results["models"]],
        "overall": by_name(results["overall"]),
        "ranks": by_name(results["ranks"]),
        "answers": by_name(results["answers"]),
        "invalid": by_name(results["invalid"]),
        "holdout_gap": by_name(results["holdout_gap"]),
        "dimensions": {
            d["code"]: {
                "pool": sorted(names[str(pk)] for pk in d["pool"]),
                "skipped": d["skipped"],
                "ratings": by_name(d["ratings"]),
                "scores": by_name(d["scores"]),
                "rounds": [{"round": r["round"], "ratings": by_name(r["ratings"])} for r in d["rounds"]],
                "matches": d["matches"], "invalid": d["invalid"], "errors": d["errors"],
            }
            for d in results["dimensions"]
        },
    }


def match_list(run: EvalRun) -> list[tuple]:
    """The run's matches in task order, with the two sides by name and the verdict."""
    return list(
        Match.objects.filter(run=run).order_by("dimension_code", "round_no", "seq").values_list(
            "dimension_code", "round_no", "seq", "item_id", "target_a__name", "target_b__name", "outcome")
    )


def forget(run: EvalRun) -> None:
    """Delete a run with every answer and verdict it stored, so that the next run starts from nothing."""
    EvalRun.objects.filter(pk=run.pk).delete()
    Answer.objects.all().delete()


def sim_stats(server) -> dict[str, Any]:
    """The simulator's counters as a client sees them (`GET /_sim/stats`)."""
    root = server.base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_sim/stats", timeout=5) as response:
        return json.loads(response.read().decode())


def calls_to(server, model: str) -> int:
    """Requests the simulator received for one model (the name before any `@` knobs)."""
    return sim_stats(server)["by_model"].get(model, 0)
