"""The labels an annotator (or an adjudicator) sends, checked against the prompt's current ones and the
queue's taxonomy: one decision, the final text and the labels, or the errors to show beside each field.

Pure Python, no ORM, like `consensus.py`: what the check needs to know of the database (does this dimension
belong to the queue's taxonomy, this sub-dimension to that dimension, do these techniques exist, which
techniques the prompt has) it asks a `Catalogue`, which the services answer with the fewest queries (often
none: the submit has the prompt and its dimension at hand).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.utils.translation import gettext as _

from curation.text import find_unstorable

from .consensus import ACCEPT, EDIT, REJECT


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass
class AnnotationInput:
    """What an annotator sends. Labels left UNSET keep the prompt's current value."""

    decision: str
    final_text: str = ""
    dimension_id: Any = UNSET
    sub_dimension_id: Any = UNSET
    technique_ids: Any = UNSET
    risk_expression: Any = UNSET
    severity: Any = UNSET
    expected_behaviour: Any = UNSET
    reference_answer: Any = UNSET
    reject_reason: str = ""
    note: str = ""
    seconds_spent: float | None = None
    # What the client showed when the decision was made; a submit for another item is refused (None: not said).
    shown_prompt_id: int | None = None
    shown_item_id: int | None = None


# The field names pages and the API use for the labels, and the input's attribute each one sets.
INPUT_FIELDS = {
    "decision": "decision",
    "final_text": "final_text",
    "dimension": "dimension_id",
    "sub_dimension": "sub_dimension_id",
    "techniques": "technique_ids",
    "risk_expression": "risk_expression",
    "severity": "severity",
    "expected_behaviour": "expected_behaviour",
    "reference_answer": "reference_answer",
    "reject_reason": "reject_reason",
    "note": "note",
    "seconds_spent": "seconds_spent",
    "shown_prompt": "shown_prompt_id",
    "shown_item": "shown_item_id",
}


def input_from(values: Mapping[str, Any]) -> AnnotationInput:
    """The one reading of a label input, keyed by the names pages and the API use (`dimension`,
    `techniques`, …): a name left out keeps the prompt's current value (UNSET)."""
    given = {attr: values[name] for name, attr in INPUT_FIELDS.items() if name in values}
    return AnnotationInput(**{"decision": "", **given})


@dataclass(frozen=True)
class CurrentLabels:
    """The prompt's labels as they are: what the input leaves UNSET keeps."""

    text: str
    dimension_id: int | None
    sub_dimension_id: int | None
    risk_expression: str
    severity: int | None
    expected_behaviour: str
    reference_answer: str


@dataclass(frozen=True)
class DimensionFacts:
    id: int
    uses_reference_answers: bool


class Catalogue(Protocol):
    """What the check asks of the taxonomy, for one queue."""

    def dimension(self, dimension_id: Any) -> DimensionFacts | None:
        """The dimension of the queue's taxonomy with this id, or None."""

    def sub_dimension_belongs(self, sub_dimension_id: Any, dimension: DimensionFacts) -> bool: ...

    def techniques_exist(self, technique_ids: Sequence[int]) -> bool: ...

    def current_techniques(self) -> list[int]:
        """The prompt's technique ids (asked only when the input leaves them UNSET)."""


@dataclass(frozen=True)
class Vocabulary:
    """The allowed values of the choice labels (the models' TextChoices, handed in by the services)."""

    reject_reasons: Collection[str]
    other_reason: str
    risk_expressions: Collection[str]
    expected_behaviours: Collection[str]


class LabelsInvalid(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _optional_text(value: str, field: str, errors: dict[str, str]) -> str:
    """The text as given (blank counts as none); NUL and unpaired surrogates are refused."""
    value = value or ""
    bad = find_unstorable(value)
    if bad is not None:
        errors[field] = bad.message()
        return ""
    return value if value.strip() else ""


def validate(
    data: AnnotationInput, *, current: CurrentLabels, catalogue: Catalogue, vocabulary: Vocabulary
) -> tuple[dict[str, Any], list[int]]:
    """The annotation's fields and sorted technique ids; raises LabelsInvalid with an error per field."""
    errors: dict[str, str] = {}
    decision = data.decision
    if decision not in (ACCEPT, EDIT, REJECT):
        raise LabelsInvalid({"decision": _("Choose accept, edit & accept, or reject.")})

    current_tech = catalogue.current_techniques() if data.technique_ids is UNSET else None

    def pick(name: str, value: Any) -> Any:
        given = getattr(data, name)
        return value if given is UNSET else given

    dimension_id = pick("dimension_id", current.dimension_id)
    sub_dimension_id = pick("sub_dimension_id", current.sub_dimension_id)
    technique_ids = current_tech if current_tech is not None else list(data.technique_ids or [])
    risk = pick("risk_expression", current.risk_expression) or ""
    severity = pick("severity", current.severity)
    behaviour = pick("expected_behaviour", current.expected_behaviour) or ""
    reference = pick("reference_answer", current.reference_answer)

    text = current.text
    if decision == EDIT:
        # Stored exactly as written: an adversarial prompt's combining marks, compatibility ideographs and
        # invisible characters are what is being reviewed.
        final_text = data.final_text or ""
        if (bad := find_unstorable(final_text)) is not None:
            errors["final_text"] = bad.message()
        elif not final_text.strip():
            errors["final_text"] = _("Write the edited prompt (it cannot be empty).")
        else:
            text = final_text
        if "final_text" not in errors and text == current.text:
            decision = ACCEPT  # an "edit" that changes nothing is an accept
    reject_reason = data.reject_reason or ""
    note = _optional_text(data.note, "note", errors)
    if decision == REJECT:
        if reject_reason not in vocabulary.reject_reasons:
            errors["reject_reason"] = _("Say why you reject it.")
        elif reject_reason == vocabulary.other_reason and not note:
            errors["note"] = _("Rejecting for another reason needs a note.")
    else:
        reject_reason = ""

    dimension = None
    if dimension_id in (None, ""):
        if decision != REJECT:
            errors["dimension"] = _("Choose a dimension.")
        dimension_id = None
    else:
        dimension = catalogue.dimension(dimension_id)
        if dimension is None:
            errors["dimension"] = _("Choose a dimension of this queue's taxonomy.")
    if sub_dimension_id in (None, ""):
        sub_dimension_id = None
    elif dimension is not None and not catalogue.sub_dimension_belongs(sub_dimension_id, dimension):
        if data.sub_dimension_id is UNSET and data.dimension_id is not UNSET:
            sub_dimension_id = None  # the dimension changed; the old sub-dimension no longer applies
        else:
            errors["sub_dimension"] = _("This sub-dimension belongs to another dimension.")
    try:
        technique_ids = sorted({int(t) for t in technique_ids})
    except (TypeError, ValueError):
        technique_ids = []
        errors["techniques"] = _("Unknown technique.")
    if technique_ids and not catalogue.techniques_exist(technique_ids):
        errors["techniques"] = _("Unknown technique.")
    if risk not in ("", *vocabulary.risk_expressions):
        errors["risk_expression"] = _("Risk expression is explicit or implicit.")
    if severity in ("", None):
        severity = None
    else:
        try:
            severity = int(severity)
        except (TypeError, ValueError):
            severity = 0
        if not 1 <= severity <= 5:
            errors["severity"] = _("Severity is 1 to 5.")
    if behaviour not in ("", *vocabulary.expected_behaviours):
        errors["expected_behaviour"] = _("Expected behaviour is refuse, safe-complete or correct the premise.")
    if dimension is not None and dimension.uses_reference_answers:
        reference = _optional_text(reference or "", "reference_answer", errors)
    else:
        reference = ""
    if errors:
        raise LabelsInvalid(errors)
    return (
        {
            "decision": decision,
            "final_text": text,
            "dimension_id": dimension_id,
            "sub_dimension_id": sub_dimension_id,
            "risk_expression": risk,
            "severity": severity,
            "expected_behaviour": behaviour,
            "reference_answer": reference,
            "reject_reason": reject_reason,
            "note": note,
            "seconds_spent": data.seconds_spent,
        },
        technique_ids,
    )


def changed_dimension_drops_sub_dimension(
    *, base_sub_dimension_id: int | None, dimension_given: bool, dimension_id: Any, current_dimension_id: int | None,
    sub_dimension_given: bool, sub_dimension_id: Any,
) -> int | None:
    """An adjudicator's final sub-dimension: the one given, else none when the dimension changed from the
    prompt's (the old sub-dimension no longer applies), else the base labels' one."""
    if sub_dimension_given:
        return sub_dimension_id
    if dimension_given and dimension_id != current_dimension_id:
        return None
    return base_sub_dimension_id

