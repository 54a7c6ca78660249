from django.core.management.base import BaseCommand

from llm.simulator import serve


class Command(BaseCommand):
    help = "Run the OpenAI-compatible LLM simulator (sim-generator, sim-judge, sim-target-NN, tiny-markov)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--latency-ms", type=float, default=0)
        parser.add_argument("--fault", action="append", default=[], metavar="MODEL=SPEC",
                            help="per-model fault spec, e.g. sim-generator=500=2 (repeatable)")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **options):
        faults = {}
        for item in options["fault"]:
            model, _, spec = item.partition("=")
            faults[model] = spec
        serve(options["port"], options["host"], latency_ms=options["latency_ms"], model_faults=faults,
              quiet=options["quiet"])
