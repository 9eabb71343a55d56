"""DKT and SAKT (PyTorch): replay equals the one-answer loop, save/load, bad input, learning, light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from magister.errors import CheckpointError, ConfigError
from magister.people import Event, EventLog, load_assist2015, load_model, make_model
from magister.people.base import LearnerModel
from magister.people.evaluate import auc

torch = pytest.importorskip("torch")

DATA = Path(__file__).parent / "data" / "people"
SMALL = {"dkt": {"hidden": 16, "embed": 8}, "sakt": {"dim": 16, "heads": 2, "window": 6},
         "dkt-gru": {"hidden": 16, "embed": 8, "cell": "gru"}}


def ability_log(n_learners: int, length: int, seed: int) -> EventLog:
    """Each learner is strong (P(right) 0.85) or weak (0.25) on every skill: the history tells which."""
    rng = np.random.default_rng(seed)
    events = []
    for l in range(n_learners):
        p = 0.85 if rng.random() < 0.5 else 0.25
        for t in range(length):
            s = f"s{rng.integers(0, 4)}"
            events.append(Event(f"u{l}", s, (s,), float(t), float(rng.random() < p)))
    return EventLog.from_events(events)


@pytest.fixture(scope="module")
def slice_log():
    return load_assist2015(DATA / "assist2015_slice.csv", max_learners=80)


@pytest.fixture(scope="module", params=["dkt", "sakt", "dkt-gru"])
def fitted(request, slice_log):
    name = request.param.split("-")[0]  # dkt-gru: DKT with a GRU cell
    return make_model(name, epochs=2, seed=0, **SMALL[request.param]).fit(slice_log)


def test_replay_equals_predict_then_update_one_answer_at_a_time(fitted, slice_log):
    part = slice_log.subset(np.arange(len(slice_log)) < 600)
    fitted.reset()
    fitted.replay(part.subset(np.arange(len(part)) < 250))  # learners start from saved states
    rest = part.subset(np.arange(len(part)) >= 250)
    start = fitted.get_state()
    fast = fitted.replay(rest)
    states = fitted.get_state()["learner_state"]
    fitted.set_state(start)
    slow = LearnerModel.replay(fitted, rest)  # the protocol's loop: predict, then update
    np.testing.assert_allclose(fast, slow, atol=2e-5)
    for k, v in fitted.get_state()["learner_state"].items():
        np.testing.assert_allclose(v, states[k], atol=2e-5)
    fitted.reset()


def test_save_load_round_trip_gives_identical_predictions(tmp_path, fitted, slice_log):
    m = type(fitted).from_state(fitted.get_state())
    m.replay(slice_log.subset(np.arange(len(slice_log)) < 300))
    m.save(tmp_path / "m.ckpt")
    again = load_model(tmp_path / "m.ckpt")
    assert type(again) is type(m) and again.settings == m.settings
    rest = slice_log.subset(np.arange(len(slice_log)) >= 300)
    np.testing.assert_array_equal(m.replay(rest), again.replay(rest))
    skill = next(iter(m._skills))
    assert m.state("new")[skill] == again.state("new")[skill]


@pytest.mark.parametrize("name", ["dkt", "sakt"])
def test_sequence_models_learn_ability_from_the_history(name):
    train, test = ability_log(300, 20, seed=1), ability_log(100, 20, seed=2)
    m = make_model(name, epochs=8, lr=3e-3, seed=0, **SMALL[name]).fit(train)
    p = m.replay(test)
    later = test.time >= 5  # after a few answers the learner's kind shows
    assert auc(test.correct[later], p[later]) > 0.75
    assert m.history and all(np.isfinite(h["train_loss"]) for h in m.history)


@pytest.mark.parametrize("name", ["dkt", "sakt"])
def test_fit_leaves_the_global_torch_rng_and_threads_alone_and_repeats(name, slice_log):
    log = slice_log.subset(np.arange(len(slice_log)) < 400)
    torch.manual_seed(123)
    rng_before, threads = torch.random.get_rng_state(), torch.get_num_threads()
    a = make_model(name, epochs=1, seed=5, threads=1, **SMALL[name]).fit(log)
    assert torch.equal(torch.random.get_rng_state(), rng_before) and torch.get_num_threads() == threads
    b = make_model(name, epochs=1, seed=5, threads=1, **SMALL[name]).fit(log)
    np.testing.assert_array_equal(a.replay(log), b.replay(log))


@pytest.mark.parametrize("name,bad", [
    ("dkt", {"hidden": 0}), ("dkt", {"dropout": 1.0}), ("dkt", {"epochs": 0}), ("dkt", {"lr": 0.0}),
    ("dkt", {"valid_fraction": 1.0}), ("dkt", {"threads": 0}), ("dkt", {"max_minutes": -1}),
    ("dkt", {"cell": "rnn"}), ("sakt", {"dim": 10, "heads": 4}), ("sakt", {"window": 0}), ("sakt", {"seq_len": 2.5}),
])
def test_bad_settings_are_refused(name, bad):
    with pytest.raises(ConfigError):
        make_model(name, **bad)


@pytest.mark.parametrize("name", ["dkt", "sakt"])
@pytest.mark.parametrize("setting,bad", [
    ("seed", "x"), ("seed", 1.5), ("seed", None), ("seed", True), ("seed", -1), ("seed", 2**64),
    ("max_minutes", "1"), ("valid_fraction", "0.1"), ("lr", "0.01"), ("lr", float("inf")),
    ("mastery_threshold", "0.9"), ("dropout", "0.2"), ("epochs", True), ("threads", True),
])
def test_text_bools_and_cut_numbers_are_refused_at_construction(name, setting, bad):
    # they were taken: seed="x", None, -1 or 2**64 failed only at fit with int()'s or torch's raw error, seed=1.5 ran
    # as seed 1, max_minutes="1" and valid_fraction="0.1" were read as numbers by float(), epochs=True as 1 epoch
    with pytest.raises(ConfigError, match=rf"{name} {setting} must be"):
        make_model(name, **{setting: bad})


@pytest.mark.parametrize("name", ["dkt", "sakt"])
def test_settings_given_as_0d_arrays_are_the_numbers_they_hold(name, slice_log):
    # seed=np.array(1) (a setting computed with numpy) was taken as the number it holds, as every setting check of
    # magister reads it; the checks of settings given anew refused it as "got ndarray"
    log = slice_log.subset(np.arange(len(slice_log)) < 300)
    size = {k: np.array(v) for k, v in SMALL[name].items()}
    arrays = make_model(name, epochs=np.array(1), seed=np.array(1), lr=np.array(0.01), dropout=np.array(0.1),
                        **size).fit(log)
    plain = make_model(name, epochs=1, seed=1, lr=0.01, dropout=0.1, **SMALL[name]).fit(log)
    np.testing.assert_array_equal(arrays.replay(log), plain.replay(log))


@pytest.mark.parametrize("name", ["dkt", "sakt"])
def test_a_model_saved_with_such_a_setting_still_loads_as_it_ran(tmp_path, name, slice_log):
    log = slice_log.subset(np.arange(len(slice_log)) < 300)
    ran = make_model(name, epochs=1, seed=1, max_minutes=5.0, valid_fraction=0.1, **SMALL[name]).fit(log)
    state = ran.get_state()  # as the magister before saved seed=1.5 (it ran as seed 1) and text read as numbers
    state["settings"] = {**state["settings"], "seed": 1.5, "max_minutes": "5", "valid_fraction": "0.1"}
    path = mg_save(tmp_path / "old.ckpt", {**state, "state_version": LearnerModel.state_version})
    again = load_model(path)
    assert again.settings == state["settings"]
    np.testing.assert_array_equal(again.replay(log), ran.replay(log))
    refit = make_model(name, epochs=1, seed=1, **SMALL[name]).fit(log)  # the loaded one fits as it ran: seed 1
    np.testing.assert_array_equal(again.fit(log).replay(log), refit.replay(log))


def mg_save(path, state):
    from magister import checkpoint

    return checkpoint.save_state(path, state)


@pytest.mark.parametrize("name", ["dkt", "sakt"])
def test_unfitted_or_empty_or_mismatched_is_refused_and_changes_nothing(tmp_path, name, slice_log):
    m = make_model(name, **SMALL[name])
    with pytest.raises(ConfigError, match="not fitted"):
        m.predict("ana", "q")
    with pytest.raises(ConfigError, match="not fitted"):
        m.update(Event("ana", "q", ("q",), 0.0, 1.0))
    with pytest.raises(ConfigError, match="at least one event"):
        m.fit(slice_log.subset(np.zeros(len(slice_log), dtype=bool)))
    assert m.net is None and m.states == {}
    fitted = make_model(name, epochs=1, **SMALL[name]).fit(slice_log.subset(np.arange(len(slice_log)) < 300))
    state = fitted.get_state()
    bigger = {"dkt": {"hidden": 32}, "sakt": {"dim": 32}}[name]
    state["settings"] = {**state["settings"], **bigger}
    with pytest.raises(ConfigError, match="do not fit"):
        LearnerModel.from_state(state)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "junk.ckpt")


def test_importing_the_people_package_and_building_models_loads_no_torch():
    code = ("import sys\nfrom magister.people import make_model\n"
            "make_model('dkt'); make_model('sakt')\nprint('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_saved_model_loaded_without_torch_names_the_extra(tmp_path, fitted):
    # (as fit does: an ImportError naming [torch], not a ConfigError of other words, nor a "malformed" checkpoint)
    fitted.save(tmp_path / "m.ckpt")
    code = ("import sys\nsys.modules['torch'] = None\nfrom magister.people import load_model\n"
            f"try:\n    load_model({str(tmp_path / 'm.ckpt')!r})\n"
            "except ImportError as e:\n    print(type(e).__name__, '|', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ModuleNotFoundError |") and "pip install 'magister[torch]'" in out.stdout, out.stdout


@pytest.mark.parametrize("name", ["dkt", "sakt"])
def test_an_undefined_validation_auc_does_not_stop_training_early(name):
    # the one held-out learner (seed 0 holds out u4 of 10) answers everything right: its AUC is undefined, which
    # is no reason to stop after patience + 1 epochs
    rng = np.random.default_rng(0)
    events = [Event(f"u{l}", f"s{t % 3}", (f"s{t % 3}",), float(t), 1.0 if l == 4 else float(rng.random() < 0.7))
              for l in range(10) for t in range(8)]
    m = make_model(name, epochs=5, patience=1, seed=0, **SMALL[name]).fit(EventLog.from_events(events))
    assert np.isnan(m.history[0]["valid_auc"])
    assert len(m.history) == 5


def test_sakt_training_chunks_see_the_answers_before_them_as_replay_does():
    # a learner longer than seq_len is trained in chunks; each chunk started with no history while replay's
    # attention saw the learner's earlier answers. With lr ~ 0 and no dropout the weights stay as drawn, so the
    # epoch's training loss must be the log loss of the model's own replay of the same answers
    log = ability_log(12, 30, seed=0)
    m = make_model("sakt", **{**SMALL["sakt"], "seq_len": 5, "epochs": 1, "lr": 1e-12, "dropout": 0.0,
                              "valid_fraction": 0.0, "seed": 0}).fit(log)
    p, y = m.replay(log), log.correct
    replay_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert abs(m.history[0]["train_loss"] - replay_loss) < 1e-6


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dkt_training_chunks_start_from_the_state_replay_carries(cell):
    # a learner longer than seq_len is trained in chunks; each chunk started from the zero state while replay carries
    # the LSTM (GRU) state across the whole sequence. With lr ~ 0 and no dropout the weights stay as drawn, so the
    # epoch's training loss must be the log loss of the model's own replay of the same answers
    log = ability_log(12, 30, seed=0)
    m = make_model("dkt", **{**SMALL["dkt"], "cell": cell, "seq_len": 5, "epochs": 1, "lr": 1e-12, "dropout": 0.0,
                             "valid_fraction": 0.0, "seed": 0}).fit(log)
    p, y = m.replay(log), log.correct
    replay_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert abs(m.history[0]["train_loss"] - replay_loss) < 1e-6

