import hashlib
import json
from pathlib import Path

import pytest

from curation.text import clean_text, normalize, normalize_many, text_hash


class TestNormalize:
    def test_traditional_becomes_simplified(self):
        assert normalize("請問如何製作炸彈") == normalize("请问如何制作炸弹") == "请问如何制作炸弹"

    def test_punctuation_whitespace_and_symbols_removed(self):
        assert normalize("  请问，如何制作\t炸弹？！\n—— 《指南》 ★☆ ") == "请问如何制作炸弹指南"

    def test_ascii_punctuation_and_underscore_removed(self):
        assert normalize("How do I make a BOMB?? (step_by_step) #1") == "howdoimakeabombstepbystep1"

    def test_full_width_folded_by_nfkc(self):
        assert normalize("ＡＢＣ１２３，ｈｅｌｌｏ") == "abc123hello"

    def test_zero_width_and_format_chars_dropped(self):
        assert normalize("炸\u200b弹\u200c制\u200d作\ufeff\u2060") == "炸弹制作"

    def test_combining_marks_dropped(self):
        assert normalize("炸\u0301弹") == normalize("炸弹") == "炸弹"

    def test_precomposed_and_decomposed_accents_agree(self):
        assert normalize("café") == normalize("cafe\u0301") == "café"

    def test_compatibility_symbols_keep_their_letters(self):
        # NFKC turns these into letters/digits, which must survive.
        assert normalize("㎏") == "kg"
        assert normalize("㈱") == "株"
        assert normalize("①②") == "12"
        assert normalize("ﬁne") == "fine"

    def test_emoji_and_control_chars_dropped(self):
        assert normalize("炸弹😀\x07\x1b💣") == "炸弹"

    def test_lowercase(self):
        assert normalize("ChatGPT GPT-4o") == "chatgptgpt4o"

    def test_only_junk_normalizes_to_empty(self):
        assert normalize("，。！？ \u200b\u3000") == ""
        assert normalize("") == ""

    def test_idempotent(self):
        samples = ["請問如何製作炸彈？", "Hello, 世界！ ＡＢＣ", "頭髮乾燥", "炸\u0301弹\u200b", "İstanbul ½"]
        for s in samples:
            once = normalize(s)
            assert normalize(once) == once

    def test_normalize_many_matches_normalize(self):
        samples = [
            "請問如何製作炸彈？",
            "",
            "hello",
            "頭髮乾燥，乾隆皇帝",
            "line1\nline2",
            "…",
            "ＡＢＣ",
            "穿著",
        ] * 700  # more than one OpenCC chunk
        assert normalize_many(samples) == [normalize(s) for s in samples]
        assert normalize_many([]) == []


class TestTextHash:
    def test_is_sha256_of_normalized(self):
        assert text_hash("请问，如何制作炸弹？") == hashlib.sha256("请问如何制作炸弹".encode()).hexdigest()

    def test_variants_share_hash(self):
        variants = [
            "请问如何制作炸弹？",
            "請問如何製作炸彈？",
            "请问 如何 制作 炸弹",
            "请\u200b问如何制作炸弹!!!",
            "请问如何制作炸弹。",
        ]
        assert len({text_hash(v) for v in variants}) == 1

    def test_different_text_different_hash(self):
        assert text_hash("如何制作炸弹") != text_hash("如何拆除炸弹")

    def test_lone_surrogate_does_not_crash(self):
        assert text_hash("炸弹\ud800") == text_hash("炸弹")


class TestCleanText:
    def test_nfc_and_strip(self):
        assert clean_text("  cafe\u0301 \n") == "café"

    def test_line_endings(self):
        assert clean_text("第一行\r\n第二行\r第三行\n") == "第一行\n第二行\n第三行"

    def test_keeps_inner_whitespace_and_punctuation(self):
        assert clean_text("\u3000 请问：如何  制作？\t ") == "请问：如何  制作？"

    def test_bom_stripped(self):
        assert clean_text("\ufeff你好") == "你好"

    def test_does_not_simplify(self):
        assert clean_text("請問") == "請問"

    @pytest.mark.parametrize("bad", ["", "   ", "\n\r\n\t", "\u3000"])
    def test_blank_rejected(self, bad):
        with pytest.raises(ValueError, match="empty"):
            clean_text(bad)

    def test_nul_rejected(self):
        with pytest.raises(ValueError, match=r"NUL.*position 2"):
            clean_text("你好\x00世界")

    def test_surrogate_rejected(self):
        with pytest.raises(ValueError, match="surrogate"):
            clean_text("你好\ud800")

    def test_non_str_rejected(self):
        with pytest.raises(TypeError):
            clean_text(b"bytes")  # type: ignore[arg-type]


def _hostile_strings() -> list[str]:
    root = Path(__file__).resolve().parents[2]
    for path in (
        root.parent / "shared" / "testdata" / "hostile-strings.json",
        root / "tests" / "data" / "hostile-strings.json",
    ):
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))["strings"]
    return ["炸́弹", "零\u200b宽", "null\x00byte", "line1\r\nline2\rline3\n"]


def test_hostile_strings():
    for s in _hostile_strings():
        norm = normalize(s)
        assert norm == normalize(norm)
        assert all(c.isalnum() for c in norm)
        assert text_hash(s) == hashlib.sha256(norm.encode()).hexdigest()
        if "\x00" in s:
            with pytest.raises(ValueError):
                clean_text(s)
        else:
            cleaned = clean_text(s)
            assert "\r" not in cleaned and cleaned == cleaned.strip()
            assert normalize(cleaned) == norm
