"""The report layer: everything a person or a scraper reads about a session, above the core.

A run's documents (health, status, metrics: :mod:`pytest_peak_dryrun.core.snapshots`) become
one typed row (:class:`~.rows.RunRow`) and a session one :class:`~.rows.SessionRow`, built
once; every output renders from those rows:

* :mod:`.session`     the session files of a snapshot directory: the roll-ups and ``index.json``
  (pydantic models of :mod:`pytest_peak_dryrun.core.documents`), Markdown, HTML, Prometheus text
* :mod:`.text`        the table at the end of a pytest session and ``peak-dryrun report``'s text
* :mod:`.markdown`    ``dryrun_status_snapshot.md`` and ``peak-dryrun report --format markdown``
* :mod:`.html`        ``dryrun_status_snapshot.html`` (one self-contained page, no scripts)
* :mod:`.prometheus`  ``dryrun_metrics.prom`` (optionally with a metric-name prefix)
* :mod:`.operator`    ``peak-dryrun report``'s verdict and its JSON
* :mod:`.load`        reading a snapshot directory's run documents back

The core never imports this package. Nothing is imported here: each module loads what it
needs when it is used.
"""
