"""The training loss chart is readable from the first save: axes from iteration 0, a marker on a lone point, legend
entries only for series drawn, and words instead of empty default axes before any save."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from swapcore.training.report import loss_figure


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def test_before_the_first_save_the_chart_says_so(close_figures):
    axis = loss_figure([]).axes[0]
    assert axis.get_legend() is None and not axis.get_lines()
    assert [t.get_text() for t in axis.texts] == ["no loss measured yet: the first point appears at the first save"]
    assert list(axis.get_yticks()) == [] and axis.get_xlim()[0] == 0


def test_the_first_save_is_a_visible_point_with_a_legend_for_what_is_drawn(close_figures):
    rows = [{"iteration": 250, "loss": {"andrew": 0.21, "feifei": 0.19}, "holdout_loss": None}]
    axis = loss_figure(rows).axes[0]
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["andrew (train)", "feifei (train)"]
    assert all(line.get_marker() == "o" for line in axis.get_lines())
    low, high = axis.get_xlim()
    assert low == 0 and 250 < high <= 270
    bottom, top = axis.get_ylim()
    assert axis.get_yscale() == "log" and 0 < bottom < 0.19 and 0.21 < top


def test_an_identity_keeps_its_colour_across_train_and_held_out(close_figures):
    rows = [{"iteration": i, "loss": {"a": 1 / i, "b": 2 / i}, "holdout_loss": {"a": 1.5 / i, "b": 2.5 / i}}
            for i in (50, 100)]
    lines = {line.get_label(): line for line in loss_figure(rows).axes[0].get_lines()}
    assert set(lines) == {"a (train)", "b (train)", "a (held out)", "b (held out)"}
    assert lines["a (train)"].get_color() == lines["a (held out)"].get_color() != lines["b (train)"].get_color()
