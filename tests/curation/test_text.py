import hashlib
import json
from pathlib import Path

import pytest

from curation.text import (
    BlankText,
    UnstorableText,
    check_storable,
    clean_text,
    escape_unstorable,
    find_unstorable,
    from_textarea,
    normalize,
    normalize_many,
    text_hash,
)


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

    def test_the_comparison_key_folds_what_storage_keeps(self):
        assert text_hash("caf\u00e9") == text_hash("cafe\u0301")
        assert text_hash("\uf900\uf901\uf9dc") == text_hash("\u8c48\u66f4\u9686")  # their NFC forms
        assert text_hash("零\u200b宽") == text_hash("零宽")

    def test_lone_surrogate_does_not_crash(self):
        assert text_hash("炸弹\ud800") == text_hash("炸弹")


class TestCleanText:
    """What may be stored: the text exactly as given; only NUL, unpaired surrogates and blank text are refused."""

    @pytest.mark.parametrize("text", [
        "cafe\u0301",  # decomposed: NFC would make it "café"
        "caf\u00e9",
        "\uf900\uf901\uf9dc",  # CJK compatibility ideographs: NFC maps them to other code points
        "炸\u200b弹\u200c制\u200d作\u2060",
        "\ufeff你好",  # a leading BOM is content here
        "第一行\r\n第二行\r第三行\n",
        "\u3000 请问：如何  制作？\t ",
        "請問",
        "\u202e从右到左\u202c",
        "𠀀𠀁 \U0001f4a3",
    ])
    def test_kept_exactly(self, text):
        assert clean_text(text) == text

    def test_strip_for_short_names_only_trims_the_outside(self):
        assert clean_text("  队列\u200b e\u0301 \n", strip=True) == "队列\u200b e\u0301"

    @pytest.mark.parametrize("bad", ["", "   ", "\n\r\n\t", "\u3000"])
    def test_blank_rejected(self, bad):
        with pytest.raises(BlankText, match="empty"):
            clean_text(bad)

    def test_nul_rejected_with_its_position(self):
        with pytest.raises(UnstorableText, match=r"\\u0000 at position 2") as caught:
            clean_text("你好\x00世界")
        assert (caught.value.codepoint, caught.value.position) == (0, 2)

    @pytest.mark.parametrize("surrogate", ["\ud800", "\udbff", "\udc00", "\udfff"])
    def test_surrogate_rejected(self, surrogate):
        with pytest.raises(UnstorableText, match="surrogate") as caught:
            clean_text("你好" + surrogate)
        assert caught.value.codepoint == ord(surrogate) and caught.value.position == 2

    def test_one_message_for_both(self):
        nul, surrogate = find_unstorable("a\x00"), find_unstorable("ab\udc00")
        assert str(nul).rsplit(": ", 1)[0] == str(surrogate).rsplit(": ", 1)[0]
        assert find_unstorable("干净的文本 e\u0301") is None

    def test_unstorable_is_a_value_error(self):
        with pytest.raises(ValueError):
            check_storable("\x00")
        assert check_storable("e\u0301") == "e\u0301"

    def test_escape_unstorable_for_messages(self):
        assert escape_unstorable("键\x00名\ud800") == "键\\u0000名\\ud800"

    def test_non_str_rejected(self):
        with pytest.raises(TypeError):
            clean_text(b"bytes")  # type: ignore[arg-type]


class TestFromTextarea:
    """A browser sends a textarea's line breaks as CRLF and shows CR / CRLF as LF."""

    def test_untouched_value_gives_back_the_shown_text_exactly(self):
        shown = "line1\r\nline2\rline3\n e\u0301\uf900"
        sent = "line1\r\nline2\r\nline3\r\n e\u0301\uf900"  # what the browser posts back
        assert from_textarea(sent, shown) == shown

    def test_edited_value_reads_crlf_as_lf_and_keeps_everything_else(self):
        assert from_textarea("新\r\n文本 e\u0301\u200b ", "旧") == "新\n文本 e\u0301\u200b "

    def test_without_a_shown_text(self):
        assert from_textarea("a\r\nb") == "a\nb"


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
            with pytest.raises(UnstorableText):
                clean_text(s)
        else:
            assert clean_text(s) == s


def test_the_refusal_shown_to_a_person_is_in_their_language():
    from django.utils import translation

    from curation.text import error_message, find_unstorable

    bad = find_unstorable("前\x00后")
    with translation.override("zh-hans"):
        assert error_message(bad) == ("文本不能含有空字符（\\u0000）或未配对的代理码点（\\ud800-\\udfff）：第 1 个位置为 "
                                      "\\u0000。")
        assert error_message(BlankText("blank")) == "去掉空白后文本为空。"
        assert error_message(ValueError("plain")) == "plain"
    with translation.override("en"):
        assert error_message(bad).startswith("Text may not contain a NUL character")
    assert str(bad).startswith("text may not contain")  # the exception itself stays English for logs
    named = find_unstorable("前\ud800", field="Reason")
    with translation.override("en"):
        assert named.message() == ("Reason may not contain a NUL character (\\u0000) or an unpaired surrogate "
                                   "(\\ud800-\\udfff): \\ud800 at position 1.")
    with translation.override("zh-hans"):
        assert check_storable("干净", field="原因") == "干净"
        with pytest.raises(UnstorableText) as caught:
            check_storable("原\x00因", field="原因")
        assert caught.value.message().startswith("原因不能含有空字符")
