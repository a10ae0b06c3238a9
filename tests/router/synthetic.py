"""Small synthetic Chinese citizen messages for the classifier's tests (the real data sets are not in CI)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from router.model import Labelled

# Each category has its own vocabulary; fillers are shared, so the model must find the telling n-grams.
VOCABULARY = {
    "transport": ["公交车晚点", "地铁站台拥挤", "红绿灯坏了", "出租车拒载", "道路堵车", "公交线路调整"],
    "labour": ["拖欠工资", "社保没交", "劳动合同", "工伤赔偿", "加班费", "农民工讨薪"],
    "noise": ["夜间施工噪音", "广场舞音响", "装修声音太吵", "酒吧噪声", "凌晨打桩", "喇叭声扰民"],
    "housing": ["物业乱收费", "小区电梯故障", "房屋漏水", "业主维权", "交房延期", "违章搭建"],
}
FILLERS = ["我家附近", "最近一个月", "每天都这样", "严重影响生活", "请有关部门处理", "希望尽快解决", "已经反映多次"]


def messages(n: int, *, seed: int = 0, categories: list[str] | None = None) -> Labelled:
    rng = random.Random(seed)
    names = categories or sorted(VOCABULARY)
    data = Labelled()
    for i in range(n):
        label = names[i % len(names)]
        parts = rng.sample(VOCABULARY[label], 2) + rng.sample(FILLERS, 3)
        rng.shuffle(parts)
        data.add("，".join(parts) + "。", label)
    return data


def write_csv(data: Labelled, path: Path, *, text_col: str = "text", label_col: str = "label") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([text_col, label_col])
        writer.writerows(zip(data.texts, data.labels, strict=True))
    return path
