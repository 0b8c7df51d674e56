"""``dryrun_metrics.prom``: the Prometheus text exposition of a session's metric families.

Rendered through prometheus_client (imported when rendering: it costs ~40 ms) with a private
``CollectorRegistry`` and a custom collector, so no ``_created`` series appear (they carry
wall-clock time) and no process-wide setting changes (a user's own metrics stay as they are).

An optional prefix (ini ``dryrun_metrics_prefix``) namespaces every metric name in this text
only: ``peak`` makes ``orders_place_total`` ``peak_orders_place_total``. The JSON documents keep
the runbook's names (they are the contract golden files and ``validate`` read), and
``index.json`` records the prefix so ``validate`` renders the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

from ..core.writer import METRICS_PREFIX_PATTERN

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from ..core.snapshots import MetricFamily

__all__ = ["check_prefix", "render_prometheus"]

_PREFIX: Final = re.compile(METRICS_PREFIX_PATTERN)


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can namespace a metric name; a :class:`ValueError` naming the rule otherwise."""
    if not _PREFIX.match(prefix) or prefix.endswith("_"):
        raise ValueError(
            f"{prefix!r} is not a metric-name prefix: letters, digits and underscores, starting with a letter "
            f"or underscore and not ending with one (it is joined with '_': peak -> peak_orders_place_total)"
        )
    return prefix


def render_prometheus(families: Sequence[MetricFamily], *, prefix: str | None = None) -> str:
    """The text exposition of ``families`` (a run's ``metrics``, or a session's with a ``run`` label)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    head = "" if prefix is None else f"{check_prefix(prefix)}_"

    class _Families:
        def collect(self) -> Iterable[Metric]:
            for family in families:
                labels = list(family.labels)
                metric: CounterMetricFamily | GaugeMetricFamily
                if family.type == "counter":
                    metric = CounterMetricFamily(head + family.name.removesuffix("_total"), family.help, labels=labels)
                else:
                    metric = GaugeMetricFamily(head + family.name, family.help, labels=labels)
                for sample in family.samples:
                    metric.add_metric([sample.labels[label] for label in labels], float(sample.value))
                yield metric

        def describe(self) -> Iterable[Metric]:
            return []

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families())
    return generate_latest(registry).decode("utf-8")
