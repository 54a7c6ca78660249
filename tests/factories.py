import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from curation.models import Dimension, Prompt
from curation.text import text_hash


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-123456")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            # get_or_create: transactional tests flush tables, taking the role groups of the data migration along.
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    text = factory.Sequence(lambda n: f"请详细说明第{n}种绕过安全审查的方法，编号{n * 7919}")
    dimension = factory.LazyFunction(lambda: Dimension.objects.get(taxonomy__code="v251030", code="legality"))
    source = Prompt.Source.MANUAL
    normalized_hash = factory.LazyAttribute(lambda o: text_hash(o.text))


def make_queue(*, name: str = "队列", taxonomy_code: str = "v251030", n: int = 3, lease_minutes: int = 20,
               rule: str = "unanimous", members=(), dimensions=(), guidelines: str = "", actor=None):
    """A review queue made the way the product makes it (through the service)."""
    from annotation import services
    from curation.models import Dimension, Taxonomy

    taxonomy = Taxonomy.objects.get(code=taxonomy_code)
    dims = [Dimension.objects.get(taxonomy=taxonomy, code=c).pk for c in dimensions]
    return services.queue_create(
        data=services.QueueData(
            name=name, taxonomy_id=taxonomy.pk, dimension_ids=dims, annotators_per_item=n,
            lease_minutes=lease_minutes, guidelines=guidelines, member_ids=[m.pk for m in members],
            consensus_rule=rule,
        ),
        actor=actor,
    )


def make_items(count: int, **prompt_kwargs) -> list:
    """Candidate prompts routed into the matching queue; returns the QueueItems in claim order."""
    from annotation import services
    from annotation.models import QueueItem

    prompts = PromptFactory.create_batch(count, **prompt_kwargs)
    services.queue_items_route(prompt_ids=[p.pk for p in prompts])
    return list(QueueItem.objects.filter(prompt__in=prompts).order_by("id"))


class ApprovedPromptFactory(PromptFactory):
    status = Prompt.Status.APPROVED


def approved_prompts(n: int, *, dimension: str = "legality", taxonomy: str = "v251030", techniques=(), **fields):
    """n approved prompts in one dimension, optionally labelled with technique codes."""
    from curation.models import Technique

    dim = Dimension.objects.get(taxonomy__code=taxonomy, code=dimension)
    prompts = [ApprovedPromptFactory(dimension=dim, **fields) for _ in range(n)]
    if techniques:
        ids = list(Technique.objects.filter(code__in=techniques).values_list("pk", flat=True))
        for p in prompts:
            p.techniques.set(ids)
    return prompts


def approved_prompt(text: str, *, dimension: str = "legality", taxonomy: str = "v251030", **fields):
    dim = Dimension.objects.get(taxonomy__code=taxonomy, code=dimension)
    return ApprovedPromptFactory(text=text, normalized_hash=text_hash(text), dimension=dim, **fields)
def make_prompt(text: str, *, status: str = Prompt.Status.APPROVED, dimension_code: str = "legality", **fields) -> Prompt:
    """A prompt written straight to the table (like an earlier import), with its hash."""
    return Prompt.objects.create(
        text=text, status=status, source=Prompt.Source.MANUAL, normalized_hash=text_hash(text),
        dimension=Dimension.objects.get(taxonomy__code="v251030", code=dimension_code), **fields,
    )
