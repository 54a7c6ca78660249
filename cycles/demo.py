"""Demo data of the cycles (`manage.py seed_demo`): a monthly plan on the simulator's endpoints, not on schedule,
so a newcomer starts its first cycle with "Open the next cycle now" and watches the steps run. Idempotent."""

DEMO_PLAN = "月度演示 / Monthly demo"


def seed_cycles_demo(stdout) -> None:
    from llm.models import ModelEndpoint

    from .models import CyclePlan
    from .services import CycleError, plan_create

    if CyclePlan.objects.filter(name=DEMO_PLAN).exists():
        stdout.write("demo cycle plan: already there")
        return
    endpoints = {e.name: e for e in ModelEndpoint.objects.filter(name__startswith="sim-")}
    names = ("sim-target-90", "sim-target-50", "sim-target-10")
    if not all(n in endpoints for n in (*names, "sim-judge", "sim-generator")):
        stdout.write("demo cycle plan: the simulator endpoints are missing; skipped")
        return
    try:
        plan_create(name=DEMO_PLAN, taxonomy="v251030", counts={"legality": 6, "privacy": 4},
                    targets=[endpoints[n] for n in names], judge=endpoints["sim-judge"],
                    generator=endpoints["sim-generator"], holdout_fraction=0.2, enabled=False)
    except CycleError as exc:
        stdout.write(f"demo cycle plan: {exc}")
        return
    stdout.write(f"demo cycle plan {DEMO_PLAN}: open its first cycle on /cycles/")
