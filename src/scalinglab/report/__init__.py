"""Reports: a sweep's fits and plots as a self-contained HTML page, PNGs and Markdown."""

from scalinglab.report.build import ReportResult, TargetCheck, build_report

__all__ = ["ReportResult", "TargetCheck", "build_report"]
