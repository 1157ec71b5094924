from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENTRY_POINTS = {
    "operator": ["-m", "taskaction_operator"],
    "actions service": ["-c", "from taskaction_operator.actions.server import main; main()"],
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_an_invalid_setting_ends_the_process_with_one_line_naming_the_variable(entry_point: list[str]) -> None:
    env = {**os.environ, "TASKACTION_NAMESPACES": '["team-a", "team-*"]', "TASKACTION_API_QPS": "0"}
    proc = subprocess.run([sys.executable, *entry_point], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("invalid setting TASKACTION_NAMESPACES[1]: String should match pattern") and "'team-*'" in lines[0]
    assert lines[1] == "invalid setting TASKACTION_API_QPS: Input should be greater than 0 (got '0')"
