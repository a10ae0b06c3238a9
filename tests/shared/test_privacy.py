from __future__ import annotations

import json
import subprocess
import sys

from shared.privacy import mask


def test_mobile_and_id_numbers_are_masked() -> None:
    assert mask("回电13812345678谢谢") == "回电138****5678谢谢"
    assert mask("身份证110105199003071234") == "身份证110105***********4"
    assert mask("身份证11010519900307123X") == "身份证110105***********X"
    assert mask("老身份证110105900307123") == "老身份证110105********3"


def test_phone_numbers_are_masked_as_people_write_them() -> None:
    assert mask("+8613800000000 张三 138-1234-5678") == "+86138****0000 张三 138-****-5678"
    assert mask("8613800000000，0086 138 0000 0000") == "86138****0000，0086 138 **** 0000"
    assert mask("电话：１３８１２３４５６７８") == "电话：138****5678"
    assert mask("１３８－１２３４－５６７８ 或 138.1234.5678 或 138\u30001234\u30005678") == (
        "138-****-5678 或 138.****.5678 或 138 **** 5678"
    )


def test_other_numbers_are_left_alone() -> None:
    for text in ("MsgId 6574261948839470964", "编号20261124-00042", "2088102286952333", "12345", "1380000000"):
        assert mask(text) == text


def test_log_lines_never_carry_a_phone_number() -> None:
    script = (
        "import logging, structlog\n"
        "from shared.logging import configure_logging\n"
        "configure_logging('t', fmt='json')\n"
        "structlog.get_logger().info('x', sender='13812345678', detail={'id': '110105199003071234'})\n"
        "logging.getLogger('lib').warning('call 13987654321 now')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "13812345678" not in result.stderr and "110105199003071234" not in result.stderr
    assert "13987654321" not in result.stderr
    line = json.loads(result.stderr.splitlines()[0])
    assert line["sender"] == "138****5678"
