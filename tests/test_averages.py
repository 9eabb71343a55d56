"""The per-task statistics of magister.averages, read against what they are documented to hold."""

import numpy as np
import pytest

from magister.averages import RecentWindow, TaskAverages


def test_window_mean_is_the_mean_of_the_tasks_last_window_scores():
    # SEC's "accuracy" reward reads p from window_mean: the mean of the task's last min(count, window) scores
    stats = TaskAverages(3, window=4)
    scores = [0.1, 0.9, 0.3, 0.7, 0.2, 1.0, 0.0]
    for c, s in enumerate(scores, start=1):
        stats.update(np.array([1]), np.array([s]))
        want = np.mean(scores[max(0, c - 4):c])
        assert stats.window_mean(1) == pytest.approx(want)
        assert stats.window_means()[1] == pytest.approx(want)
    assert np.isnan(stats.window_mean(0)) and np.isnan(stats.window_means()[2])  # not seen yet


def test_window_of_one_task_holds_none_of_another_tasks_scores():
    stats = TaskAverages(2, window=3)
    stats.update(np.array([0, 1, 0, 1, 1]), np.array([1.0, 0.0, 1.0, 0.5, 0.0]))
    assert stats.window_mean(0) == pytest.approx(1.0)
    assert stats.window_mean(1) == pytest.approx(0.5 / 3)


def test_recent_window_keeps_the_last_size_scores():
    w = RecentWindow(3)
    assert np.isnan(w.mean()) and not w.full
    pushed = [0.2, 0.4, 0.9, 0.0, 0.1]
    for c, s in enumerate(pushed, start=1):
        w.push(s)
        assert w.mean() == pytest.approx(np.mean(pushed[max(0, c - 3):c]))
        assert w.full == (c >= 3)
    w.extend([1.0, 1.0, 1.0])
    assert w.mean() == pytest.approx(1.0)  # the older scores all dropped out


def test_set_state_takes_a_copy_of_the_arrays_it_is_given():
    stats = TaskAverages(2, window=2)
    stats.update(np.array([0]), np.array([0.5]))
    saved = stats.get_state()
    kept = {k: v.copy() for k, v in saved.items()}
    other = TaskAverages(2, window=2)
    other.set_state(saved)
    other.update(np.array([0, 1]), np.array([1.0, 0.25]))
    for k, v in kept.items():
        np.testing.assert_array_equal(saved[k], v, err_msg=k)


def test_a_negative_count_in_a_saved_state_is_refused_and_changes_nothing():
    stats = TaskAverages(2)
    stats.update(np.array([1]), np.array([0.5]))
    bad = stats.get_state()
    bad["counts"] = np.array([-1, 1])
    before = stats.get_state()
    with pytest.raises(ValueError, match="counts"):
        stats.set_state(bad)
    for k, v in before.items():
        np.testing.assert_array_equal(stats.get_state()[k], v)
