"""The Model tab tells what a model measured on real people, from its report.json."""

from __future__ import annotations

import json

from dashboard.model_tab import real_figures


def test_real_figures_from_a_report(tmp_path):
    report = {
        "real_held_out": {
            "ensemble": {
                "sit_stand_accuracy": 1.0,
                "utkinect": {
                    "clip_accuracy": 0.5,
                    "per_class": {"Walk": 0.6, "Wave": 0.4},
                    "confusion": {"Wave": {"Wave": 4, "RaiseArms": 6}},
                },
            }
        }
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    text = "\n".join(real_figures(tmp_path))
    assert "| utkinect | 50.0 % | Walk 60 %, Wave 40 % |" in text
    assert "SitDown vs StandUp | 100 %" in text and "Wave → RaiseArms (6)" in text


def test_no_report_no_figures(tmp_path):
    assert real_figures(tmp_path) == []
    (tmp_path / "report.json").write_text("{not json")
    assert real_figures(tmp_path) == []
