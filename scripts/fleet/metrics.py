#!/usr/bin/env python3
"""scripts/fleet/metrics.py: holds contrib/'s Prometheus rules and Grafana dashboard to the
metrics rein's exporter really exports.

The names come from the exporter's own tables (crates/rein-cli/src/cmd/exporter.rs: each
Family's name, unit and counter flag, the rein_exporter_* gauges and the info metric),
named as prometheus-client names them (NAME_UNIT, counters NAME_UNIT_total, info
NAME_info). The checks:

  metrics.py names                       the exported names, one a line
  metrics.py check                       rules, dashboard and docs against those names:
      every rein_* metric in an expression (rules, dashboard panels, template queries,
      annotations) is exported; every recording rule a dashboard uses (group:rein_*) is
      defined; the dashboard is JSON with unique panel ids; docs/TOP-AND-METRICS.md's table
      lists exactly the exported names
  metrics.py check-scrape FILE           every sample of a real scrape (OpenMetrics text) is
      an exported name, and the parse of the tables above found each of them (run on the
      exporter's output in the systemd VM: the parse is held to the binary)
  metrics.py --self-test                 the checker finds planted mistakes

Each check prints "N passed, M failed" (scripts/test counts those lines).
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPORTER = ROOT / "crates/rein-cli/src/cmd/exporter.rs"
RULES = ROOT / "contrib/prometheus/rein.rules.yml"
DASHBOARD = ROOT / "contrib/grafana/rein-dashboard.json"
DOCS = ROOT / "docs/TOP-AND-METRICS.md"
SUFFIX = {"Seconds": "_seconds", "Bytes": "_bytes"}


def exported(src: str) -> set:
    """The metric names the exporter's tables produce."""
    names = set()
    for block in src.split("Family {")[1:]:
        m = re.search(r'name:\s*"(rein_\w+)".*?unit:\s*(None|Some\(Unit::(\w+)\)),\s*counter:\s*(true|false)', block, re.S)
        if m:
            names.add(m.group(1) + SUFFIX.get(m.group(3) or "", "") + ("_total" if m.group(4) == "true" else ""))
    for m in re.finditer(r'\(\s*"(rein_exporter_\w+)",\s*"[^"]*",\s*(None|Some\(Unit::(\w+)\))', src):
        names.add(m.group(1) + SUFFIX.get(m.group(3) or "", ""))
    for m in re.finditer(r'encode_descriptor\(\s*"(rein_\w+)",[^;]*?info\.metric_type\(\)', src, re.S):
        names.add(m.group(1) + "_info")
    return names


def referenced(expr: str) -> set:
    """The rein_* and group:rein_* series names an expression reads (quoted text and label
    matchers are not names)."""
    bare = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    return set(re.findall(r"(?<![\w:])((?:group:)?rein_[A-Za-z0-9_:]*)", bare))


def rules_exprs(text: str):
    import yaml

    doc = yaml.safe_load(text)
    for g in doc["groups"]:
        for r in g["rules"]:
            yield r.get("record") or r.get("alert"), r["expr"], r.get("record")


def dashboard_exprs(dash: dict):
    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                yield f"panel {p.get('id')} '{p.get('title')}'", t["expr"]
            yield from walk(p.get("panels", []))

    yield from walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        yield f"variable {v['name']}", q["query"] if isinstance(q, dict) else q
    for a in dash.get("annotations", {}).get("list", []):
        if "expr" in a:
            yield f"annotation {a['name']}", a["expr"]


def docs_names(text: str) -> set:
    names = set()
    for line in text.splitlines():
        if line.startswith("| rein_"):
            first = line.split("|")[1]
            names.update(n.strip() for n in first.split(","))
    return names


def check(names: set, rules_text: str, dash_text: str, docs_text: str) -> list:
    problems = []
    recorded = set()
    for what, expr, record in rules_exprs(rules_text):
        if record:
            recorded.add(record)
        for n in referenced(expr):
            if n.startswith("group:"):
                continue
            if n not in names:
                problems.append(f"{RULES.name}: {what}: {n} is not a metric the exporter exports")
    for n in recorded:
        if not n.startswith("group:rein_"):
            problems.append(f"{RULES.name}: recording rule {n} is not named group:rein_*")
    for what, expr, record in rules_exprs(rules_text):
        for n in referenced(expr):
            if n.startswith("group:") and n not in recorded:
                problems.append(f"{RULES.name}: {what}: {n} is not recorded by any rule")
    try:
        dash = json.loads(dash_text)
    except json.JSONDecodeError as e:
        return problems + [f"{DASHBOARD.name}: not JSON: {e}"]
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append(f"{DASHBOARD.name}: panel ids repeat: {ids}")
    count = 0
    for what, expr in dashboard_exprs(dash):
        count += 1
        for n in referenced(expr):
            if n.startswith("group:"):
                if n not in recorded:
                    problems.append(f"{DASHBOARD.name}: {what}: {n} is not recorded in {RULES.name}")
            elif n not in names:
                problems.append(f"{DASHBOARD.name}: {what}: {n} is not a metric the exporter exports")
    if count == 0:
        problems.append(f"{DASHBOARD.name}: no expression found")
    documented = docs_names(docs_text)
    for n in sorted(names - documented):
        problems.append(f"{DOCS.name}: {n} is exported but not in the metrics table")
    for n in sorted(documented - names):
        problems.append(f"{DOCS.name}: {n} is in the metrics table but not exported")
    return problems


def scrape_names(text: str) -> set:
    out = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            out.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return out


def report(name: str, problems: list) -> int:
    for p in problems:
        print(f"  {p}")
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed ({name})")
    return 1 if problems else 0


def self_test() -> int:
    src = EXPORTER.read_text()
    names = exported(src)
    problems = []
    for must in ["rein_cpu_usage_seconds_total", "rein_memory_current_bytes", "rein_pids_current",
                 "rein_exporter_read_duration_seconds", "rein_exporter_info", "rein_pressure_some_seconds_total"]:
        if must not in names:
            problems.append(f"the parse of exporter.rs misses {must}")
    if referenced('rate(rein_x_total{group=~"rein_y"}[1m]) / on (group) group:rein_z:ratio') != {"rein_x_total", "group:rein_z:ratio"}:
        problems.append("referenced() is wrong")
    rules, dash, docs = RULES.read_text(), DASHBOARD.read_text(), DOCS.read_text()
    planted = [
        ("a misspelled metric in a rule", rules.replace("rein_memory_max_bytes", "rein_memory_limit_bytes"), dash, docs),
        ("a metric without its unit in the dashboard", rules, dash.replace("rein_memory_current_bytes", "rein_memory_current", 1), docs),
        ("an unrecorded rule in the dashboard", rules, dash.replace("group:rein_cpu_usage_seconds:rate1m", "group:rein_cpu_usage:rate5m", 1), docs),
        ("a dashboard that is not JSON", rules, dash[:-3], docs),
        ("a metric missing from the docs", rules, dash, docs.replace("| rein_pids_peak |", "| pids_peak |")),
    ]
    for what, r, d, doc in planted:
        if not check(names, r, d, doc):
            problems.append(f"not found: {what}")
    if scrape_names('# TYPE a counter\nrein_a_total{group="/x"} 1\nrein_b 2\n# EOF\n') != {"rein_a_total", "rein_b"}:
        problems.append("scrape_names() is wrong")
    return report("metrics-self-test", problems)


def main(argv) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    names = exported(EXPORTER.read_text())
    if argv[1:] == ["names"]:
        print("\n".join(sorted(names)))
        return 0
    if argv[1:] == ["check"]:
        return report("metrics-names", check(names, RULES.read_text(), DASHBOARD.read_text(), DOCS.read_text()))
    if len(argv) == 3 and argv[1] == "check-scrape":
        got = scrape_names(Path(argv[2]).read_text())
        problems = [f"the scrape has {n}, which the parse of exporter.rs does not know" for n in sorted(got - names)]
        if not any(n.startswith("rein_memory") for n in got):
            problems.append(f"the scrape has no group metrics ({len(got)} names)")
        return report("metrics-scrape", problems)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
