"""What the operations team is given (docs/operations.md): the alert rules
pass `promtool check rules` and their unit tests (`promtool test rules`);
every metric the rules and the Grafana dashboards name exists (in the
services' code, or from the exporters the compose deployment scrapes); every
alert is explained in docs/operations.md; compose provisions Prometheus with
the rules and Grafana with the dashboards."""
from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "alerts"
RULES = ALERTS / "ejournal.rules.yml"
RULE_TESTS = sorted(ALERTS.glob("*.test.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
OPERATIONS = ROOT / "docs" / "operations.md"

# Metrics of the exporters the compose deployment scrapes (deploy/prometheus.yml), not of our code.
EXPORTERS = {
    "up": "Prometheus itself, one series per target",
    "rabbitmq_detailed_queue_messages_ready": "RabbitMQ, /metrics/detailed?family=queue_coarse_metrics",
    "node_filesystem_avail_bytes": "node_exporter",
    "node_filesystem_size_bytes": "node_exporter",
}
# Named by the rules ahead of their code (the agreed names): the reports
# projection's drift gauge and the backup worker's failed restore drills.
AGREED = {"ejournal_reports_projection_drift", "backup_drill_failures_total"}

PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "delta", "deriv", "exp", "floor",
    "group", "histogram_quantile", "idelta", "increase", "irate", "label_join", "label_replace", "ln",
    "max", "max_over_time", "min", "min_over_time", "predict_linear", "quantile", "quantile_over_time",
    "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt", "stddev", "sum", "sum_over_time",
    "time", "timestamp", "topk", "vector",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan"}


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a plain reading:
    strings, label matchers, grouping clauses, ranges and functions left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                       # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                                   # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)                                  # ranges
    names = set()
    for match in re.finditer(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_WORDS or word in PROMQL_FUNCTIONS:
            continue
        names.add(word)
    return names


def code_metrics() -> set[str]:
    """Every series name the platform's prometheus_client metrics expose."""
    kinds = {"Counter": ("_total",), "Gauge": ("",), "Histogram": ("_bucket", "_sum", "_count"),
             "Summary": ("_sum", "_count")}
    found = set()
    sources = [p for d in ("libs", "services", "deploy") for p in (ROOT / d).rglob("*.py") if "tests" not in p.parts]
    for path in sources:
        for kind, name in re.findall(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:][a-z0-9_:]*)\"",
                                     path.read_text(encoding="utf-8")):
            base = name[:-len("_total")] if kind == "Counter" and name.endswith("_total") else name
            found.update(base + suffix for suffix in kinds[kind])
    return found


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """``(dashboard, panel title, expr)`` of every query of every dashboard."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `bash deploy/local/ensure-services.sh promtool` installs it (make test does)"
    return found


def test_the_rules_pass_promtool_check():
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_rules_pass_their_unit_tests():
    result = subprocess.run([promtool(), "test", "rules", *(p.name for p in RULE_TESTS)], cwd=ALERTS,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS) == 2


def test_every_alert_has_a_unit_test_that_fires_it():
    tested = [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]]
    fired = {case["alertname"] for test in tested for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert fired == {rule["alert"] for rule in rules() if "alert" in rule}


def test_every_metric_the_rules_name_exists():
    known = code_metrics() | set(EXPORTERS) | AGREED
    assert "ejournal_outbox_oldest_unsent_seconds" in known and "gateway_request_seconds_bucket" in known
    missing = {(rule.get("alert") or rule.get("record"), name)
               for rule in rules() for name in promql_metrics(rule["expr"])
               if name not in known and not name.startswith("ejournal:")}
    assert missing == set()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used = {name for rule in rules() for name in promql_metrics(rule["expr"])}
    assert {name for name in used if name.startswith("ejournal:")} <= recorded


def test_the_agreed_names_are_used_and_the_exporters_really_scraped():
    used = {name for rule in rules() for name in promql_metrics(rule["expr"])}
    assert AGREED <= used and set(EXPORTERS) <= used
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["rabbitmq-queues"]["metrics_path"] == "/metrics/detailed"
    assert jobs["rabbitmq-queues"]["params"]["family"] == ["queue_coarse_metrics"]
    assert jobs["node"]["static_configs"][0]["targets"] == ["node-exporter:9100"]


def test_the_expression_reader_finds_names_and_nothing_else():
    expr = ('sum by (le, route) (rate(gateway_request_seconds_bucket{route="/api/v1/x", le!="a b"}[5m])) '
            '/ ignoring(x) group_left ejournal:ratio:rate5m or label_replace(up == 0, "a", "b", "", "") > bool 1e3')
    assert promql_metrics(expr) == {"gateway_request_seconds_bucket", "ejournal:ratio:rate5m", "up"}


@pytest.mark.parametrize("dashboard,title,expr", dashboard_exprs(), ids=lambda v: v if len(v) < 60 else v[:57])
def test_every_dashboard_query_names_metrics_of_the_code_or_the_rules(dashboard, title, expr):
    named_by_rules = {name for rule in rules() for name in promql_metrics(rule["expr"])}
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    names = promql_metrics(expr)
    assert names, expr
    assert names <= code_metrics() | named_by_rules | recorded, names - (code_metrics() | named_by_rules | recorded)


def test_the_dashboards_are_the_four_and_provisioned():
    titles = {json.loads(p.read_text(encoding="utf-8"))["uid"] for p in DASHBOARDS}
    assert titles == {"ejournal-overview", "ejournal-journal-write-path", "ejournal-messaging", "ejournal-backups"}
    source = yaml.safe_load((ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
                            .read_text(encoding="utf-8"))["datasources"][0]
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == source["uid"], (path.name, panel["title"])
                assert panel["targets"], (path.name, panel["title"])
    provider = yaml.safe_load((ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "ejournal.yml")
                              .read_text(encoding="utf-8"))["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    grafana = [str(v) for v in compose["grafana"]["volumes"]]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in grafana
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert source["url"] == "http://prometheus:9090"


def test_prometheus_loads_the_rules_compose_mounts():
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    mounts = [str(v) for v in yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
              ["services"]["prometheus"]["volumes"]]
    [pattern] = prometheus["rule_files"]
    mount = next(m for m in mounts if m.startswith("./deploy/alerts:"))
    folder = mount.split(":")[1]
    assert pattern.startswith(folder + "/") and fnmatch.fnmatch(RULES.name, Path(pattern).name)


def test_every_alert_is_explained_in_docs_operations():
    text = OPERATIONS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+)$", text, flags=re.M))
    for rule in rules():
        if "alert" in rule:
            assert rule["alert"] in headings, rule["alert"]
            assert f"docs/operations.md#{rule['alert'].lower()}" in rule["annotations"]["description"]
    assert "## Objectives" in text
