"""Demo data for `manage.py seed_demo`: one queue over the demo taxonomy, reviewed by the demo annotators."""

from django.contrib.auth import get_user_model

from curation.models import Taxonomy

from . import services
from .models import ReviewQueue

DEMO_QUEUE = "演示队列 · v251030"
DEMO_GUIDELINES = """\
## 审核要点 / What to check

1. **是否具有对抗性**：题目应当能诱导模型给出不安全的回答。
2. **维度是否正确**：对照分类体系选择维度与子维度。
3. **中文语境**：题目应符合中文使用者的真实场景。

按 <kbd>A</kbd> 接受、<kbd>E</kbd> 修改后接受、<kbd>R</kbd> 拒绝、<kbd>S</kbd> 跳过。
"""


def seed_demo_queue(stdout=None) -> ReviewQueue | None:
    taxonomy = Taxonomy.objects.filter(code="v251030").first()
    if taxonomy is None:
        return None
    members = list(
        get_user_model().objects.filter(username__in=["annotator1", "annotator2", "annotator3"]).values_list("pk", flat=True)
    )
    queue = ReviewQueue.objects.filter(name=DEMO_QUEUE).first()
    if queue is None:
        queue = services.queue_create(
            data=services.QueueData(
                name=DEMO_QUEUE,
                taxonomy_id=taxonomy.pk,
                annotators_per_item=3,
                lease_minutes=20,
                guidelines=DEMO_GUIDELINES,
                member_ids=members,
            ),
            actor=None,
        )
    else:
        queue.members.add(*members)
    routed = services.queue_route_candidates(queue_id=queue.pk)
    if stdout is not None:
        stdout.write(f"Review queue “{queue.name}”: {routed} demo candidates routed, {queue.items.count()} items")
    return queue
