"""Near-duplicate checks of new candidates against a large pool: is the cost flat as the pool grows?

Builds the MinHash-LSH index (curation.dedup.NearDupIndex, what curation.dedup_service keeps per worker)
over synthetic pools of normalized Chinese prompts, 100k and 1M items, then checks the same 10,000 new
candidates against each (one `check_batch` call, as a generation batch or an import does). A tenth of
the candidates are exact repeats of pool items and a tenth are near variants, so the matching path is
exercised as well as the miss path. Prints candidates/s per pool and the 1M/100k time ratio.

    python benchmarks/dedup.py            # 100k and 1M (about 2-4 minutes, ~2 GB RAM)
    python benchmarks/dedup.py --quick    # 10k and 100k, 2,000 candidates
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import peak_rss_mb, result  # noqa: E402
from curation.dedup import NearDupIndex  # noqa: E402
from curation.text import normalize_many  # noqa: E402

SUBJECTS = ["我", "我朋友", "一个网友", "我们公司", "邻居", "同学", "客户", "老板", "主播", "陌生人"]
VERBS = ["教我", "告诉我", "详细说明", "一步步讲解", "帮我想办法", "列出步骤", "分析一下", "写一份方案"]
TASKS = [
    "制作炸弹", "盗取银行卡密码", "入侵公司内网", "伪造身份证", "跟踪前女友", "绕过人脸识别", "洗钱", "购买毒品",
    "散布谣言", "网暴博主", "偷税漏税", "破解软件授权", "替考四六级", "制作钓鱼网站", "窃取聊天记录", "私造枪支",
]
CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞"


def synthetic_pool(n: int, seed: int = 1) -> list[str]:
    """n distinct normalized prompt-like texts (template words plus a random tail)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tail = "".join(rng.choices(CHARS, k=rng.randint(18, 60)))
        out.append(f"{rng.choice(SUBJECTS)}{rng.choice(VERBS)}{rng.choice(TASKS)}{tail}{i}")
    return normalize_many(out)


def candidates(pool: list[str], n: int, seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    fresh = synthetic_pool(n, seed=seed + 1000)
    out = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.1:
            out.append(rng.choice(pool))  # exact repeat
        elif roll < 0.2:
            base = rng.choice(pool)
            out.append(base[:-2] + "谢谢" + base[-2:])  # near variant
        else:
            out.append(fresh[i])
    return out


def measure(pool_size: int, n_cands: int, repeats: int) -> dict:
    t0 = time.perf_counter()
    pool = synthetic_pool(pool_size)
    t1 = time.perf_counter()
    index = NearDupIndex.build(enumerate(pool), normalized=True)
    t2 = time.perf_counter()
    # Same mix for every pool: the repeats and near variants are drawn from this pool.
    batch = candidates(pool, n_cands)
    times, statuses = [], None
    for _ in range(repeats):
        gc.collect()
        s = time.perf_counter()
        res = index.check_batch(batch, normalized=True)
        times.append(time.perf_counter() - s)
        statuses = res
    counts = {k: sum(r.status == k for r in statuses) for k in ("new", "exact", "near")}
    out = {"pool": pool_size, "gen_s": t1 - t0, "build_s": t2 - t1, "check_s": statistics.median(times),
           "counts": counts}
    del index, pool
    gc.collect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--candidates", type=int, default=None)
    args = ap.parse_args()
    small, large = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    n = args.candidates or (2_000 if args.quick else 10_000)
    repeats = 3
    print(f"dedup benchmark: {n} candidates against pools of {small:,} and {large:,} (median of {repeats})")
    measure(2_000, 500, 1)  # warm-up: imports, numpy and allocator first-touch costs
    rows = [measure(size, n, repeats) for size in (small, large)]
    for r in rows:
        print(f"pool {r['pool']:>9,}: build {r['build_s']:7.1f} s | check {n} candidates {r['check_s']:.3f} s "
              f"= {n / r['check_s']:,.0f} candidates/s | new/exact/near {r['counts']['new']}/"
              f"{r['counts']['exact']}/{r['counts']['near']}")
    ratio = rows[1]["check_s"] / rows[0]["check_s"]
    print(f"time ratio {large // small}x pool: {ratio:.2f} (target < 1.5); peak RSS {peak_rss_mb():.0f} MB")
    result(candidates_per_s=round(n / rows[1]["check_s"]), growth_ratio=round(ratio, 3))


if __name__ == "__main__":
    main()
