"""The taxonomy file: anything that loads can be served; anything unusable is one clear TaxonomyError."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.taxonomy import TaxonomyError, load_taxonomy

TAXONOMY = """
version: "t1"
departments:
  - {id: it, name: 信息中心}
categories:
  - {id: network, name: 网络, department: it, keywords: [断网], patterns: [PATTERN]}
"""


def write(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(TAXONOMY.replace("PATTERN", f"'{pattern}'"), encoding="utf-8")
    return path


def test_a_pattern_valid_alone_but_not_in_the_combined_regex_is_refused(tmp_path: Path) -> None:
    # '(?i)wifi' compiles alone, but the router joins a category's rules into one regex, where it cannot.
    with pytest.raises(TaxonomyError, match=r"category 'network'.*do not combine.*\(\?i:wifi\)"):
        load_taxonomy(write(tmp_path, "(?i)wifi"))


def test_a_scoped_inline_flag_is_accepted(tmp_path: Path) -> None:
    regex = load_taxonomy(write(tmp_path, "(?i:wifi)")).categories["network"].rule_regex()
    assert regex is not None and regex.search("家里WiFi连不上")


def test_a_taxonomy_not_saved_as_utf8_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "wifi")
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    with pytest.raises(TaxonomyError, match=r"not UTF-8.*save the taxonomy as UTF-8"):
        load_taxonomy(path)


def test_a_path_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot be read"):
        load_taxonomy(tmp_path)  # a directory
