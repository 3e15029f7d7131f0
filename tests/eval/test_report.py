"""Markdown reports and the paper's reference figures."""

from __future__ import annotations

from onethinker.eval import markdown_report, references_for
from onethinker.eval.reference import REFERENCES


def test_paper_figures_match_benchmark_names_loosely_and_by_metric():
    assert {m: r.value for m, r in references_for("charades_sta").items()} == {"R@0.3": 83.5, "R@0.5": 68.3}
    assert references_for("RefCOCO testA / spatial grounding")["Acc@0.5"].value == 93.7
    assert references_for("GOT10k")["AO"].value == 73.0
    assert references_for("MeViS")["J&F"].value == 52.7
    assert references_for("shapes-world") == {}
    unconfirmed = {(r.benchmark, r.metric) for r in REFERENCES if not r.confirmed}
    assert unconfirmed == {("ActivityNet", "R@0.3"), ("ActivityNet", "R@0.5")}


def test_report_puts_paper_figures_beside_ours_and_flags_unconfirmed_ones():
    results = {
        "Charades-STA": {"mIoU": 50.0, "R@0.3": 80.25, "R@0.5": 60.0, "R@0.7": 30.0, "n": 100, "unparseable": 3},
        "ActivityNet": {"mIoU": 40.0, "R@0.3": 60.0, "R@0.5": 40.0, "R@0.7": 20.0, "n": 10, "unparseable": 0},
        "shapes-world": {"accuracy": 75.0, "n": 4, "unparseable": 1},
    }
    report = markdown_report(results, title="run")
    lines = report.splitlines()
    assert lines[0] == "# run"
    assert "| R@0.3 | 80.2 | 83.5 |" in lines and "| R@0.7 | 30.0 |  |" in lines
    assert "100 records, 3 unparseable responses (scored as failures)." in lines
    assert "| R@0.5 | 40.0 | 43.6 † |" in lines
    assert sum(line.startswith("† ActivityNet R@0.3, ActivityNet R@0.5: metric name unconfirmed") for line in lines) == 1
    shapes = report.split("### shapes-world")[1]
    assert "| metric | ours |\n| --- | ---: |\n| accuracy | 75.0 |" in shapes  # no paper column to show
    assert "| n |" not in report  # counts are not table rows
