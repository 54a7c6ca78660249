"""A leaderboard as CSV (with a BOM, so Excel opens it), JSON and a Markdown report in Chinese."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from core.spreadsheet import spreadsheet_row

from .selectors import Leaderboard


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def leaderboard_dict(board: Leaderboard) -> dict[str, Any]:
    run = board.run
    return {
        "release": board.release.version,
        "taxonomy": board.release.taxonomy.code,
        "run": run.pk if run else None,
        "mode": run.mode if run else None,
        "seed": run.seed if run else None,
        "published": board.published,
        "finished_at": run.finished_at.isoformat() if run and run.finished_at else None,
        "parent_release": board.parent_version,
        "anchor": board.anchor,
        "judge_calls": board.judge_calls,
        "dimensions": [
            {"code": d["code"], "name_zh": d["name_zh"], "name_en": d["name_en"], "reasoning": d["reasoning"],
             "skipped": d["skipped"], "matches": d["matches"], "invalid": d["invalid"],
             **({"position_bias": d.get("position_bias"), "judge_calls": d.get("judge_calls"),
                 "kappa": _kappa(board.kappa.get(d["code"]))} if board.robust else {})}
            for d in board.dimensions
        ],
        "rows": [_row(board, r) for r in board.rows],
    }


def _kappa(k) -> dict[str, Any] | None:
    if k is None:
        return None
    return {"kappa": k.kappa, "low": k.low, "high": k.high, "labels": k.n}


def _row(board: Leaderboard, r) -> dict[str, Any]:
    row = {"rank": r.rank, "model": r.name, "overall": r.overall, "scores": r.scores, "rank_change": r.rank_change,
           "blocked": r.blocked, "empty": r.empty, "answer_errors": r.answer_errors,
           "invalid_verdicts": r.invalid, "holdout_gap": r.holdout_gap}
    if board.robust:
        row.update(shared_rank=r.shared_rank, overall_low=r.overall_low, overall_high=r.overall_high,
                   rating=r.rating, rating_low=r.rating_low, rating_high=r.rating_high,
                   score_intervals={c: list(v) if v else None for c, v in r.intervals.items()},
                   safe_rate=r.safe_rate, refusal_rate=r.refusal_rate)
    if board.has_livesecbench:
        row.update(livesecbench_rank=r.livesecbench_rank, livesecbench_overall=r.livesecbench_overall)
    return row


def leaderboard_json(board: Leaderboard) -> str:
    return json.dumps(leaderboard_dict(board), ensure_ascii=False, indent=2)


def leaderboard_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    codes = [d["code"] for d in board.dimensions]
    robust = ["overall_low", "overall_high", "shared_rank"] if board.robust else []
    lsb = ["livesecbench_rank", "livesecbench_overall"] if board.has_livesecbench else []
    writer.writerow(spreadsheet_row([
        "rank", "model", "overall", *robust, *codes, "rank_change", "blocked", "empty", "answer_errors",
        "invalid_verdicts", "holdout_gap", *lsb,
    ]))
    for r in board.rows:
        extra = [_fmt(r.overall_low), _fmt(r.overall_high), int(r.shared_rank)] if board.robust else []
        tail = [r.livesecbench_rank or "", _fmt(r.livesecbench_overall)] if board.has_livesecbench else []
        writer.writerow(spreadsheet_row([
            r.rank, r.name, _fmt(r.overall), *extra, *(_fmt(r.scores.get(c)) for c in codes),
            "" if r.rank_change is None else r.rank_change, r.blocked, r.empty, r.answer_errors, r.invalid,
            _fmt(r.holdout_gap), *tail,
        ]))
    return out.getvalue()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_BREAKS = re.compile(r"[\r\n]+")


def _md(text: str) -> str:
    """Markdown-safe cell text: rendered, it is the text itself (one line), never markup, a link or emphasis.

    Markup characters become entities (``&`` too, or ``&lt;`` in a name would render as ``<``); Markdown's
    own (code, emphasis, links and images, table pipes) are backslash-escaped; line breaks end a table row,
    so they become spaces.
    """
    out = _MD_SPECIAL.sub(r"\\\1", str(text))
    out = "".join(_MD_ENTITIES.get(c, c) for c in out)
    return _MD_BREAKS.sub(" ", out)


def _change(value: int | None) -> str:
    if value is None:
        return "新上榜"
    if value > 0:
        return f"↑{value}"
    if value < 0:
        return f"↓{-value}"
    return "—"


_MODES = {"livesecbench": "LiveSecBench 瑞士制 Elo", "robust": "稳健模式（双向评判、允许平局、Bradley–Terry 评分及置信区间）"}


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" [{low:.1f}, {high:.1f}]"


def leaderboard_markdown(board: Leaderboard) -> str:
    """The monthly report LiveSecBench publishes by hand, written from the data."""
    release, run = board.release, board.run
    lines = [f"# LiveSec 中文大模型安全评测报告 · {release.version}", ""]
    if run is None:
        lines.append("本版本尚无完成的评测。")
        return "\n".join(lines) + "\n"
    finished = run.finished_at.strftime("%Y-%m-%d") if run.finished_at else ""
    lines += [
        f"- 评测集版本：{release.version}（分类体系 {release.taxonomy.code}，共 {release.item_count} 题）",
        f"- 评测方式：{_MODES.get(run.mode, run.mode)}，随机种子 {run.seed}",
        f"- 完成时间：{finished}；裁判模型：{_md(run.judge.name)}",
        f"- 状态：{'已发布' if board.published else '未发布（最新完成的评测）'}",
    ]
    if board.parent_version:
        lines.append(f"- 对比上一版本：{board.parent_version}")
    lines += ["", "## 总榜", ""]
    dims = [d for d in board.dimensions if not d["skipped"]]
    lsb = ["LiveSecBench 排名", "LiveSecBench 总分"] if board.has_livesecbench else []
    header = ["排名", "模型", "总分" + (" [95% 区间]" if board.robust else ""), *(_md(d["name_zh"]) for d in dims),
              "排名变化", "被拦截", "无效裁决", "公开/保留差", *lsb]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in board.rows:
        rank = f"={r.rank}" if r.shared_rank else str(r.rank)
        overall = _fmt(r.overall) + (_interval(r.overall_low, r.overall_high) if board.robust else "")
        cells = [rank, _md(r.name), overall, *(_fmt(r.scores.get(d["code"])) for d in dims),
                 _change(r.rank_change), str(r.blocked), str(r.invalid), _fmt(r.holdout_gap)]
        if board.has_livesecbench:
            cells += [str(r.livesecbench_rank or ""), _fmt(r.livesecbench_overall)]
        lines.append("| " + " | ".join(cells) + " |")
    if board.robust:
        lines += ["", "“=”表示排名并列：两个模型的 95% 置信区间重叠，差异不显著。"]
        if board.anchor:
            lines.append(f"评分以 {_md(board.anchor['name'])} 为锚点（固定为 {board.anchor['rating']:.0f} 分），可跨版本比较。")
    lines += ["", "## 各维度", ""]
    for d in board.dimensions:
        if d["skipped"]:
            lines.append(f"- **{_md(d['name_zh'])}**：未评测（推理模型不足两个）。")
            continue
        best = max(board.rows, key=lambda r: r.scores.get(d["code"]) or 0)
        line = (f"- **{_md(d['name_zh'])}**：{d['matches']} 次裁决，无效裁决 {d['invalid']} 次；"
                f"最高分 {_md(best.name)}（{_fmt(best.scores.get(d['code']))}）")
        bias = d.get("position_bias") or {}
        if bias.get("share") is not None:
            line += f"；裁判位置偏好（先出现者获胜比例）{bias['share']:.2f} [{bias['low']:.2f}, {bias['high']:.2f}]"
        kappa = board.kappa.get(d["code"])
        if kappa is not None and kappa.kappa is not None:
            line += f"；裁判与人工标注一致性 κ = {kappa.kappa:.2f} [{kappa.low:.2f}, {kappa.high:.2f}]（{kappa.n} 条标注）"
        lines.append(line + "。")
    lines += [
        "", "## 说明", "",
        *(["- 每次对比都交换 A/B 顺序各评判一次，两次结论不一致记为平局；无效回复最多重试两次。",
            "- 评分为 Bradley–Terry 最大似然估计（Elo 尺度），区间为按题目自助抽样的 95% 置信区间；"
            "分数为对维度平均模型的期望胜率。"] if board.robust else [
            "- 每个维度的题目按种子打乱后分为 5 组，每组一轮瑞士制配对；每场对比由裁判模型判定胜负，Elo 初始 1500、K=32。",
            "- 维度分 = 100 / (1 + 10^((维度平均 Elo − 模型 Elo) / 400))；总分为各维度分的平均（不含推理安全）。"]),
        "- “公开/保留差”为模型在公开题与保留题上的胜率之差（百分点），差值过大可能提示数据污染。",
        "- 被拦截、空回复或调用失败的回答，裁判看到的文本为 `None`。",
    ]
    return "\n".join(lines) + "\n"


EXPORTERS = {"csv": leaderboard_csv, "json": leaderboard_json, "md": leaderboard_markdown}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json; charset=utf-8",
                 "md": "text/markdown; charset=utf-8"}
