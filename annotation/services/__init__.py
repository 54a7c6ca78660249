"""Every write to annotation's tables, one module per concern:

* `queues`: create and edit review queues, route candidate prompts into them;
* `claims`: leases on queue items (claim, heartbeat, skip), the claim's PostgreSQL statement beside the ORM
  version it must match;
* `reviews`: an annotator's submit and revision, and the consensus that may follow;
* `adjudication`: a maintainer settles or reopens an item.

The labels an annotator sends are checked by the pure `annotation.labels`; the consensus rules are the pure
`annotation.consensus`. Callers import from here: `from annotation import services`.
"""

from ..labels import UNSET, AnnotationInput
from .adjudication import FinalLabels, final_labels_from, item_adjudicate, item_reopen
from .claims import CLAIM_WINDOW, lease_claim, lease_heartbeat, lease_skip, lease_unskip
from .errors import AnnotationError, AnnotationInvalid, LeaseLost, NotAllowed, QueueBusy, ShownItemMismatch
from .queues import (
    QueueData,
    intake_new_candidates,
    queue_create,
    queue_items_route,
    queue_route_candidates,
    queue_route_later,
    queue_update,
)
from .reviews import (
    SubmitResult,
    annotation_revise,
    annotation_submit,
    review_summary,
)

__all__ = [
    "CLAIM_WINDOW",
    "UNSET",
    "AnnotationError",
    "AnnotationInput",
    "AnnotationInvalid",
    "FinalLabels",
    "LeaseLost",
    "NotAllowed",
    "QueueBusy",
    "QueueData",
    "ShownItemMismatch",
    "SubmitResult",
    "annotation_revise",
    "annotation_submit",
    "final_labels_from",
    "intake_new_candidates",
    "item_adjudicate",
    "item_reopen",
    "lease_claim",
    "lease_heartbeat",
    "lease_skip",
    "lease_unskip",
    "queue_create",
    "queue_items_route",
    "queue_route_candidates",
    "queue_route_later",
    "queue_update",
    "review_summary",
]
