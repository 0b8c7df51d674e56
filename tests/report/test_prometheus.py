"""The Prometheus text exposition (``dryrun_metrics.prom``): numbers, types, no global state, the prefix."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.metrics import MetricsCollector
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.core.snapshots import MetricFamily
from pytest_peak_dryrun.report.prometheus import check_prefix, render_prometheus


def _families(collector: MetricsCollector) -> list[MetricFamily]:
    return [MetricFamily.model_validate(family) for family in collector.families()]


def _parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _expected(collector: MetricsCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (f["name"], tuple(sorted(s["labels"].items()))): float(s["value"])
        for f in collector.families()
        for s in f["samples"]
    }


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_prometheus_text_parses_back_to_the_same_numbers(name: str) -> None:
    result = run_scenario(builtin_scenario(name))
    text = render_prometheus(result.metrics.metrics)
    parsed = _parsed(text)
    assert parsed == _expected(result.collector)
    assert parsed[("last_audit_event_ts", ())] == result.events[-1].ts
    assert "_created" not in text
    for family in text_string_to_metric_families(text):
        assert not family.name.endswith("_created")


def test_prometheus_gauges_keep_millisecond_precision() -> None:
    collector = MetricsCollector()
    collector.set("last_audit_event_ts", 1_768_694_402.125)
    parsed = _parsed(render_prometheus(_families(collector)))
    assert parsed[("last_audit_event_ts", ())] == 1_768_694_402.125


def test_prometheus_types_and_help() -> None:
    text = render_prometheus(_families(MetricsCollector()))
    assert "# TYPE orders_place_total counter" in text
    assert "# TYPE orchestrator_state gauge" in text
    assert "# HELP retry_attempts_total retries of broker operations" in text
    assert 'orchestrator_state{state="INIT"} 1.0' in text
    assert text.endswith("\n")


def test_rendering_does_not_touch_the_global_registry() -> None:
    user_counter = Counter("peak_dryrun_test_user_events", "a user's own metric")
    try:
        user_counter.inc()
        before = generate_latest(REGISTRY).decode()
        render_prometheus(run_scenario(builtin_scenario("happy_path")).metrics.metrics)
        after = generate_latest(REGISTRY).decode()
    finally:
        REGISTRY.unregister(user_counter)
    # process_* values move with the process itself; the set of series must not
    assert _series_names(after) == _series_names(before)
    # a user's own metrics keep their _created series (no process-wide switch was flipped)
    assert "peak_dryrun_test_user_events_created" in after
    assert "orders_place_total" not in after
    assert "orchestrator_state" not in after


def _series_names(text: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return sorted(_parsed(text))


def test_rendering_is_deterministic() -> None:
    families = run_scenario(builtin_scenario("failure_matrix")).metrics.metrics
    assert render_prometheus(families) == render_prometheus(families)


def test_a_prefix_namespaces_every_metric_name_and_nothing_else() -> None:
    families = run_scenario(builtin_scenario("failure_matrix")).metrics.metrics
    plain = render_prometheus(families)
    prefixed = render_prometheus(families, prefix="peak")
    assert "# TYPE peak_orders_place_total counter" in prefixed
    assert 'peak_orders_place_total{outcome="ok"} 6.0' in prefixed
    assert "# HELP peak_last_audit_event_ts " in prefixed
    # The same samples, labels and values: only the names moved into the namespace.
    assert _parsed(prefixed) == {("peak_" + name, labels): v for (name, labels), v in _parsed(plain).items()}
    for line in prefixed.splitlines():
        name = line.split(" ")[2] if line.startswith("#") else line
        assert name.startswith("peak_"), line


@pytest.mark.parametrize("prefix", ["peak", "peak_dryrun", "_x", "A1"])
def test_prefixes_that_are_metric_name_parts_are_accepted(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "peak_", "1peak", "peak-dryrun", "peak dryrun", "peak:x", "pëak", "a{b}"])
def test_other_prefixes_are_refused_with_the_rule(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"is not a metric-name prefix: letters, digits and underscores") as info:
        check_prefix(prefix)
    assert repr(prefix) in str(info.value)
    with pytest.raises(ValueError, match="not a metric-name prefix"):
        render_prometheus([], prefix=prefix)
