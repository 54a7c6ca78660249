"""A release of 100 items in each of three dimensions, the five simulator targets and the simulator's judge: the
leaderboard orders the targets by their true refusal rate, through the command, the API and the page."""

import io
import re

import pytest
from django.core.management import call_command

from evaluation.models import EvalRun, Match

from .conftest import TARGETS


def _ranked_names_in(text: str) -> list[str]:
    """The target names in the order they first appear."""
    found = {name: text.index(name) for name in TARGETS if name in text}
    return sorted(found, key=found.get)


@pytest.mark.django_db
def test_the_leaderboard_orders_the_targets_by_their_refusal_rate_in_command_api_and_page(
    frozen_release, targets, judge, sim, client, maintainer, annotator
):
    release = frozen_release(per_dimension=100, holdout_fraction=0.2)
    out = io.StringIO()
    call_command("evaluate", "--release", release.version, "--targets", ",".join(TARGETS), "--judge", "sim-judge",
                 "--mode", "livesecbench", "--seed", "7", stdout=out)
    run = EvalRun.objects.get()
    assert run.status == EvalRun.Status.SUCCEEDED
    assert run.answers_done == run.answers_total == 300 * 5
    # Every dimension played its five rounds of two pairs and a bye, 20 items a round.
    assert run.matches_done == run.matches_total == 3 * 5 * 2 * 20
    assert Match.objects.filter(run=run, outcome=Match.Outcome.PENDING).count() == 0
    printed = out.getvalue()
    table = printed[printed.index("| 排名"):]
    assert _ranked_names_in(table) == TARGETS, printed

    ranks = run.results["ranks"]
    by_name = {m["name"]: str(m["id"]) for m in run.results["models"]}
    assert [ranks[by_name[n]] for n in TARGETS] == [1, 2, 3, 4, 5]
    overall = [run.results["overall"][by_name[n]] for n in TARGETS]
    assert overall == sorted(overall, reverse=True) and overall[0] > overall[-1] + 20

    command_board = io.StringIO()
    call_command("leaderboard", release.version, "--format", "json", stdout=command_board)
    assert command_board.getvalue().count('"model"') == 5

    for user in (maintainer, annotator):
        client.force_login(user)
        api = client.get(f"/api/leaderboards/{release.version}/")
        assert api.status_code == 200
        assert [row["model"] for row in api.json()["rows"]] == TARGETS
        assert [row["rank"] for row in api.json()["rows"]] == [1, 2, 3, 4, 5]
        page = client.get(f"/evaluation/leaderboards/{release.version}/")
        assert page.status_code == 200
        body = page.content.decode()
        table_html = body[body.index("<table"):]
        assert _ranked_names_in(re.sub(r"<script.*?</script>", "", table_html, flags=re.S)) == TARGETS
