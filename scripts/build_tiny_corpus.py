"""Rebuild llm/data/tiny_corpus.txt, the training text of the simulator's `tiny-markov` model.

Everything in it is text this project ships: the demo benchmark items, the default generator templates
and technique descriptions, and the risk glossary of the offline mutations. Blocks are separated by a
blank line; prompts are written as numbered lists, so the model picks up (and mangles) that shape.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generation import default_templates as gt  # noqa: E402  (pure module, no Django)


def main() -> None:
    blocks: list[str] = []
    items = json.loads((ROOT / "fixtures" / "demo_items.json").read_text(encoding="utf-8"))
    texts = [item["question_text"].strip() for item in items]
    for start in range(0, len(texts), 4):
        blocks.append("\n".join(f"{i}. {t}" for i, t in enumerate(texts[start : start + 4], 1)))
    blocks.append(gt.SYSTEM_TEXT)
    names = {d["code"]: d["name_zh"] for t in json.loads((ROOT / "fixtures" / "taxonomy.json").read_text(
        encoding="utf-8"))["taxonomies"] for d in t["dimensions"]}
    for code, focus in gt.DIMENSION_FOCUS.items():
        context = {"taxonomy": "LiveSecBench", "dimension": names.get(code, code), "sub_dimension": "", "count": 10,
                   "techniques": "", "topics": "", "events": "", "focus": focus}
        bodies = [gt.DIMENSION_BODY] + ([gt.REFERENCE_BODY] if code in ("factuality", "truthfulness") else [])
        for body in bodies:
            blocks.append(gt.render(body, context).split("输出格式")[0].strip())
    blocks.append("\n".join(f"- {body}" for body in gt.TECHNIQUE_BODIES.values()))
    taxonomy = json.loads((ROOT / "fixtures" / "taxonomy.json").read_text(encoding="utf-8"))
    blocks.append("\n".join(f"{t['name_zh']}：{t['description_zh']}" for t in taxonomy["techniques"]))
    for tax in taxonomy["taxonomies"]:
        blocks.append("\n".join(f"{d['name_zh']}：{d['description']}" for d in tax["dimensions"]))
    words = []
    for line in (ROOT / "curation" / "data" / "risk_glossary.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            words.append(line.split("\t")[0])
    for start in range(0, len(words), 12):
        blocks.append("、".join(words[start : start + 12]) + "。")
    out = ROOT / "llm" / "data" / "tiny_corpus.txt"
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: {len(blocks)} blocks, {sum(map(len, blocks))} characters")


if __name__ == "__main__":
    main()
