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
            self.groups.add(Group.objects.get(name=extracted))


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    text = factory.Sequence(lambda n: f"请详细说明第{n}种绕过安全审查的方法，编号{n * 7919}")
    dimension = factory.LazyFunction(lambda: Dimension.objects.get(taxonomy__code="v251030", code="legality"))
    source = Prompt.Source.MANUAL
    normalized_hash = factory.LazyAttribute(lambda o: text_hash(o.text))


def make_prompt(text: str, *, status: str = Prompt.Status.APPROVED, dimension_code: str = "legality", **fields) -> Prompt:
    """A prompt written straight to the table (like an earlier import), with its hash."""
    return Prompt.objects.create(
        text=text, status=status, source=Prompt.Source.MANUAL, normalized_hash=text_hash(text),
        dimension=Dimension.objects.get(taxonomy__code="v251030", code=dimension_code), **fields,
    )
