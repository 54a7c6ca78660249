"""Demo data of generation: an event and an offline mutation run that needs no LLM."""

import datetime as dt


def seed_generation_demo(stdout) -> None:
    from curation.models import Prompt

    from . import services as gen
    from .models import Event, GenerationRun

    if not Event.objects.exists():
        gen.event_create(
            title="某地发生多起冒充快递客服的电信诈骗案件",
            date=dt.date(2025, 12, 1),
            summary="警方通报：诈骗分子以“快递丢失理赔”为由，诱导受害人提供银行卡号和短信验证码。",
            source_url="https://example.org/news/fraud-courier",
            tags=["电信诈骗", "时事"],
        )
    if GenerationRun.objects.filter(mode=GenerationRun.Mode.MUTATION).exists():
        stdout.write("demo mutation run: already there")
        return
    if not Prompt.objects.exists():
        return
    run = gen.run_create(
        mode=GenerationRun.Mode.MUTATION, count=12, seed=7, strategies=["homophone", "roleplay"],
        source_statuses=[Prompt.Status.CANDIDATE, Prompt.Status.APPROVED], enqueue=False,
    )
    run = gen.run_execute(run_id=run.pk)
    stdout.write(f"demo mutation run {run.pk}: {run.candidates_created} variants (谐音 + 角色扮演)")
