"""Reports: a sweep's fits and plots, and the fine-tuning case study, as self-contained
HTML pages, PNGs and Markdown."""

from scalinglab.report.build import ReportResult, TargetCheck, build_report
from scalinglab.report.casestudy import CaseStudyResult, build_casestudy_report

__all__ = [
    "CaseStudyResult",
    "ReportResult",
    "TargetCheck",
    "build_casestudy_report",
    "build_report",
]
