"""tiny-markov: a real (statistical) generative model that rambles, repeats itself and ignores formats."""

import json
import random

from llm.tiny_lm import CharNGramModel, default_model, respond


def test_the_model_learns_character_statistics():
    model = CharNGramModel(order=3).train(["我们去北京。", "我们去上海。"])
    rng = random.Random(0)
    assert model.next_char("我们", rng, temperature=0) == "去"
    assert {model.next_char("们去", random.Random(s)) for s in range(50)} == {"北", "上"}


def test_sampling_is_deterministic_for_a_seed():
    messages = [{"role": "user", "content": "请生成10条测试题"}]
    assert respond(messages, random.Random(3)) == respond(messages, random.Random(3))
    assert respond(messages, random.Random(3)) != respond(messages, random.Random(4))


def test_it_rambles_repeats_itself_and_ignores_json():
    messages = [{"role": "user", "content": "只输出一个 JSON 数组"}]
    outputs = [respond(messages, random.Random(s), max_tokens=400) for s in range(20)]
    assert sum(finish == "length" for _, finish in outputs) >= 10  # mostly talks until cut off
    for content, _ in outputs:
        assert not content.lstrip().startswith(("[", "{"))
        try:
            json.loads(content)
            raise AssertionError("produced JSON")
        except ValueError:
            pass
    repeated = 0
    for content, _ in outputs:
        sentences = [s for s in content.replace("？", "。").split("。") if len(s) >= 6]
        repeated += len(sentences) != len(set(sentences))
    assert repeated >= 5  # whole sentences come back


def test_it_is_trained_on_shipped_chinese_text():
    model = default_model()
    assert model.trained_chars > 5000 and model.vocab_size > 500


def test_served_by_the_simulator(sim, make_client):
    client = make_client(sim, model="tiny-markov")
    result = client.chat("请生成5条测试题", max_tokens=60)
    assert result.outcome in ("ok", "truncated") and result.content
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.content)
