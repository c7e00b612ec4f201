"""Reports of a whole analysis: the hybrid IPD-only vs IPD + AD table and the HTML report.

:mod:`bayes_ipd.hybrid` puts the IPD-only and the IPD + aggregate-data analyses side by
side (re-exported here); :mod:`bayes_ipd.report.html` writes one self-contained HTML file
(jinja2 templates shipped in ``templates/``, autoescaping on).
"""

from __future__ import annotations

from bayes_ipd.hybrid import HybridComparison, hybrid_comparison
from bayes_ipd.report.html import SECTIONS, render_report, write_report

__all__ = ["SECTIONS", "HybridComparison", "hybrid_comparison", "render_report", "write_report"]
