"""Reports of a whole analysis: the hybrid IPD-only vs IPD + AD table and the HTML report.

:mod:`bayes_ipd.hybrid` puts the IPD-only and the IPD + aggregate-data analyses side by
side (re-exported here); :mod:`bayes_ipd.report.html` writes one self-contained HTML file
(jinja2 templates shipped in ``templates/``, autoescaping on); :mod:`bayes_ipd.report.repeated`
the same page for a repeated-measures analysis; :mod:`bayes_ipd.report.network` that of a
network of treatments (``[data] reference``).
"""

from __future__ import annotations

from bayes_ipd.hybrid import HybridComparison, hybrid_comparison
from bayes_ipd.report.html import SECTIONS, render_report, write_report, write_whole
from bayes_ipd.report.network import NETWORK_SECTIONS, render_network_report, write_network_report
from bayes_ipd.report.repeated import render_repeated_report, write_repeated_report

__all__ = [
    "NETWORK_SECTIONS",
    "SECTIONS",
    "HybridComparison",
    "hybrid_comparison",
    "render_network_report",
    "render_repeated_report",
    "render_report",
    "write_network_report",
    "write_repeated_report",
    "write_report",
    "write_whole",
]
