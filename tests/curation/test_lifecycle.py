"""A prompt's status moves only through curation services, and every move is in the append-only log."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from curation.models import Prompt, PromptLog
from curation.services import (
    TransitionError,
    prompt_decide,
    prompt_reopen,
    prompts_transition,
    register_intake,
)
from tests.conftest import on_postgres, requires_postgres
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


def test_lifecycle_moves_forward_and_is_logged(taxonomy, maintainer):
    prompt = PromptFactory()
    prompts_transition(prompt_ids=[prompt.pk], to_status="in_review", actor=maintainer, reason="queued")
    prompt_decide(prompt_id=prompt.pk, decision="approved", actor=maintainer, reason="consensus",
                  final={"severity": 4, "risk_expression": "implicit"}, agreement=1.0)
    prompt.refresh_from_db()
    assert prompt.status == "approved" and prompt.severity == 4 and prompt.agreement == 1.0
    moves = list(prompt.logs.values_list("from_status", "to_status", "reason"))
    assert moves == [("in_review", "approved", "consensus")] or moves[-2:] == [
        ("candidate", "in_review", "queued"), ("in_review", "approved", "consensus")]


def test_forbidden_moves_raise_and_change_nothing(taxonomy):
    prompt = PromptFactory(status="approved")
    with pytest.raises(TransitionError):
        prompts_transition(prompt_ids=[prompt.pk], to_status="candidate")
    with pytest.raises(TransitionError):
        prompt_decide(prompt_id=prompt.pk, decision="rejected")
    prompt.refresh_from_db()
    assert prompt.status == "approved" and not prompt.logs.exists()
    reviewing = PromptFactory(status="in_review")
    with pytest.raises(TransitionError):
        prompts_transition(prompt_ids=[reviewing.pk], to_status="candidate")  # the lifecycle only moves forward
    reviewing.refresh_from_db()
    assert reviewing.status == "in_review" and not reviewing.logs.exists()


def test_reopen_needs_a_reason(taxonomy, maintainer):
    prompt = PromptFactory(status="rejected")
    with pytest.raises(TransitionError):
        prompt_reopen(prompt_id=prompt.pk, actor=maintainer, reason=" ")
    prompt_reopen(prompt_id=prompt.pk, actor=maintainer, reason="wrong call")
    prompt.refresh_from_db()
    assert prompt.status == "in_review"
    assert prompt.logs.get().reason == "wrong call"


def test_edited_text_may_not_duplicate_another_prompt(taxonomy):
    a = PromptFactory(status="in_review")
    b = PromptFactory(status="in_review")
    with pytest.raises(TransitionError):
        prompt_decide(prompt_id=a.pk, decision="approved", final={"text": b.text + "！"})
    a.refresh_from_db()
    assert a.status == "in_review"


def test_audit_log_refuses_changes_through_the_orm(taxonomy):
    prompt = PromptFactory()
    prompts_transition(prompt_ids=[prompt.pk], to_status="in_review", reason="x")
    log = PromptLog.objects.get()
    log.reason = "rewritten"
    with pytest.raises(PermissionError):
        log.save()
    with pytest.raises(PermissionError):
        log.delete()


@requires_postgres
def test_audit_log_refuses_raw_sql_on_postgres(taxonomy):
    assert on_postgres()
    prompt = PromptFactory()
    prompts_transition(prompt_ids=[prompt.pk], to_status="in_review", reason="x")
    for sql in ("UPDATE curation_promptlog SET reason = 'forged'", "DELETE FROM curation_promptlog"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert PromptLog.objects.get().reason == "x"


@pytest.mark.django_db(transaction=True)
def test_new_candidates_are_announced_after_commit(taxonomy):
    from curation.models import Dimension
    from curation.services import PromptDraft, _intake_handlers, prompts_create

    seen: list[list[int]] = []
    register_intake(seen.append)
    try:
        dim = Dimension.objects.get(taxonomy__code="v251030", code="ethics")
        with transaction.atomic():
            result = prompts_create(drafts=[PromptDraft(text="一个新的候选题目", dimension_id=dim.pk)], source="manual")
            assert seen == []  # not before the commit
        assert seen == [result.created_ids]
        assert Prompt.objects.get(pk=result.created_ids[0]).status == "candidate"
    finally:
        _intake_handlers.remove(seen.append)
