from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from memory.errors import ConfigError
from tools.scenario import bundled_scenario_dir, load_scenario, parse_openmetrics


def test_bundled_scenario_loads():
    s = load_scenario(bundled_scenario_dir())
    assert s.meta.truth.fault == "db_connections"
    assert s.meta.start.tzinfo is not None
    assert "pg_stat_activity_count" in s.metric_names
    assert {a["labels"]["alertname"] for a in s.alerts} >= {
        "CheckoutHighErrorRate",
        "PostgresConnectionsSaturated",
    }
    pool = next(x for x in s.series if x.name == "pg_stat_activity_count")
    assert max(v for _, v in pool.samples) == 100  # the pool saturates
    assert len({a["fingerprint"] for a in s.alerts}) == len(s.alerts)


def test_parse_openmetrics_labels_and_errors():
    series = parse_openmetrics(
        '# TYPE x gauge\nx{a="1",b="q\\"uote"} 2.5 100\nx{a="1",b="q\\"uote"} 3 160\n# EOF\n'
    )
    assert len(series) == 1
    assert series[0].labels == {"a": "1", "b": 'q"uote'}
    assert series[0].samples == [(100.0, 2.5), (160.0, 3.0)]
    with pytest.raises(ConfigError, match=r"m\.om:2: "):
        parse_openmetrics("x 1 1\nnot a sample\n", source="m.om")


def test_bad_scenario_files_name_the_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="no scenario.yaml"):
        load_scenario(tmp_path)
    target = tmp_path / "s"
    shutil.copytree(bundled_scenario_dir(), target)
    (target / "alerts.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"alerts.json: invalid JSON at line 1"):
        load_scenario(target)
    (target / "alerts.json").write_text("[]")
    (target / "scenario.yaml").write_text("name: x\nquestion: q\nstart: nope\n")
    with pytest.raises(ConfigError, match=r"scenario.yaml: start"):
        load_scenario(target)
