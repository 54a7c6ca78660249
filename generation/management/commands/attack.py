from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import transaction

from curation.models import Prompt
from generation import attack
from generation.attack_services import attack_run_create, attack_run_execute
from generation.services import RunError
from llm.models import ModelEndpoint


class Command(BaseCommand):
    help = ("Attack one seed prompt (PAIR; --branching > 1 or --tap for TAP) with an attacker, a target and a judge "
            "endpoint; successes become candidates for review. Runs in-process; --async queues it for the worker.")

    def add_arguments(self, parser):
        parser.add_argument("--seed-prompt", type=int, required=True, help="id of the seed prompt")
        parser.add_argument("--attacker", required=True, help="attacker endpoint name")
        parser.add_argument("--target", required=True, help="target endpoint name")
        parser.add_argument("--judge", required=True, help="judge endpoint name")
        parser.add_argument("--streams", type=int, default=3)
        parser.add_argument("--iterations", type=int, default=4)
        parser.add_argument("--branching", type=int, default=1)
        parser.add_argument("--width", type=int, default=1)
        parser.add_argument("--tap", action="store_true")
        parser.add_argument("--threshold", type=int, default=10, help="judge score (1-10) that counts as a success")
        parser.add_argument("--mutation-rate", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-calls", type=int, default=60)
        parser.add_argument("--max-tokens", type=int, default=200_000)
        parser.add_argument("--max-seconds", type=int, default=600)
        parser.add_argument("--async", action="store_true", dest="run_async", help="queue for the Celery worker")

    @no_translations
    def handle(self, *args, **o):
        endpoints = {}
        for role in ("attacker", "target", "judge"):
            endpoints[role] = ModelEndpoint.objects.filter(name=o[role]).first()
            if endpoints[role] is None:
                raise CommandError(f"no endpoint named {o[role]!r}; add one with `manage.py add_endpoint`")
        seed_prompt = Prompt.objects.filter(pk=o["seed_prompt"]).first()
        if seed_prompt is None:
            raise CommandError(f"no prompt with id {o['seed_prompt']}")
        try:
            with transaction.atomic():
                run = attack_run_create(
                    seed_prompt=seed_prompt, **endpoints, streams=o["streams"], iterations=o["iterations"],
                    branching=o["branching"], width=o["width"], tap=o["tap"], threshold=o["threshold"],
                    mutation_rate=o["mutation_rate"], seed=o["seed"], max_calls=o["max_calls"],
                    max_tokens=o["max_tokens"], max_seconds=o["max_seconds"], enqueue=o["run_async"])
        except RunError as exc:
            raise CommandError(str(exc))
        if o["run_async"]:
            self.stdout.write(f"attack run {run.pk} queued")
            return
        run = attack_run_execute(run_id=run.pk)
        for node in attack.successes(run.state):
            where = f"candidate {node['candidate']}" if node.get("candidate") else node.get("skipped", "")
            self.stdout.write(f"success: stream {node['stream'] + 1}, turn {node['depth']}, {node['move']}, "
                              f"score {node['score']} -> {where}")
        self.stdout.write(f"attack run {run.pk}: {run.status}, {run.stop_reason}; {run.calls} calls, {run.tokens} "
                          f"tokens, {run.successes} successes, {run.candidates_created} candidates")
        if run.status == "failed":
            raise CommandError(run.error)
