"""Settings: the one definition of every setting, and the one validator everything calls."""
import dataclasses
import math

import pytest

from styletransfer.engine import Controls
from styletransfer.settings import LIVE_FIELDS, SettingError, Settings, check_live, check_setting, setting_fields


def test_every_setting_says_what_it_is():
    for f in setting_fields():
        assert f.metadata["help"] and f.metadata["kind"], f.name
    assert Settings().validate() == Settings()


def test_live_fields_come_from_the_metadata():
    assert LIVE_FIELDS == ("content_weight", "style_weight", "tv_weight", "style_layer_weights")


@pytest.mark.parametrize("name,value,message", [
    ("size", "512", "size must be a number"),
    ("size", 512.5, "size must be a whole number"),
    ("size", True, "size must be a number"),
    ("size", 10**9, "size must be between 16 and 8192"),
    ("style_weight", math.nan, "must be a finite number"),
    ("style_weight", math.inf, "must be a finite number"),
    ("style_weight", 1e308, "between 0 and 1e+06"),
    ("style_weight", -1, "between 0 and 1e+06"),
    ("style_weight", None, "style_weight is required"),
    ("style_weight", [1], "must be a number"),
    ("optimizer", "sgd", "unknown optimizer 'sgd'; choose one of: lbfgs, adam"),
    ("backbone", 3, "backbone must be text"),
    ("multiscale", "yes", "multiscale must be true or false"),
    ("style_blend", [0, 0], "must not all be 0"),
    ("style_blend", "0.5", "must be a list"),
    ("style_layer_weights", [1, math.nan], "finite"),
    ("schedule", [{"iteration": 5, "weights": {"size": 1}}], "size cannot be changed while running"),
    ("schedule", [{"iteration": 5, "weights": {}}, {"iteration": 2, "weights": {}}], "increasing iteration order"),
    ("nonsense", 1, "unknown setting 'nonsense'"),
])
def test_bad_values_are_one_line_naming_the_setting(name, value, message):
    with pytest.raises(SettingError, match=message.replace("(", r"\(").replace("+", r"\+")):
        check_setting(name, value)


def test_values_are_normalised():
    assert check_setting("size", 512.0) == 512 and isinstance(check_setting("size", 512.0), int)
    assert check_setting("style_blend", [1, 2]) == (1.0, 2.0)
    assert check_setting("content_layers", ["relu4_2"]) == ("relu4_2",)


def test_from_dict_round_trips_and_refuses_unknown_keys():
    s = Settings(size=256, style_blend=(0.3, 0.7), schedule=({"iteration": 3, "weights": {"style_weight": 50.0}},))
    assert Settings.from_dict(s.to_dict()) == s
    with pytest.raises(SettingError, match="^unknown setting 'from_a_newer_version'$"):
        Settings.from_dict({**s.to_dict(), "from_a_newer_version": 1})
    with pytest.raises(SettingError, match="JSON object"):
        Settings.from_dict(["size", 3])


def test_a_record_from_before_smoothing_was_removed_replays_unless_it_used_it():
    record = {**Settings(seed=3, iterations=5, coarse_factor=1.8).to_dict(), "smoothing": "off"}
    assert Settings.from_dict(record) == Settings(seed=3, iterations=5, coarse_factor=1.8)
    with pytest.raises(SettingError, match="smoothing is no longer offered") as err:
        Settings.from_dict({**record, "smoothing": "on"})
    assert "\n" not in str(err.value)


def test_settings_are_checked_when_made_and_never_change():
    with pytest.raises(SettingError, match="size must be between 16 and 8192"):
        Settings(size=10**9)
    s = Settings(style_blend=[1, 2], content_layers=["relu4_2"])
    assert s.style_blend == (1.0, 2.0) and s.content_layers == ("relu4_2",)  # normalised as made
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 3
    with pytest.raises(SettingError, match="between 0 and 1e"):
        dataclasses.replace(s, style_weight=-1)  # a changed copy is checked again


def test_resolve_fills_in_seed_and_iterations_once():
    import torch

    from styletransfer.engine import StyleTransfer, default_iterations, resolve

    asked = Settings(size=64)
    resolved = resolve(asked, "cpu")
    assert resolved.seed is not None and resolved.iterations == default_iterations(torch.device("cpu"))
    assert asked.seed is None and asked.iterations is None  # the caller's settings are untouched
    assert resolve(resolved, "cpu") is resolved  # nothing left open: the same object
    assert resolved.device == "auto"  # the record keeps the device asked for: it replays anywhere
    transfer = StyleTransfer(asked)
    assert asked.seed is None and transfer.settings.seed is not None  # the engine resolves its own copy
    assert StyleTransfer(resolved).settings is resolved


def test_the_run_record_is_the_start_settings_plus_the_steering():
    s = Settings(size=64, seed=1)
    record = s.steered([{"iteration": 3, "weights": {"style_weight": 5.0}}], stop_after=7)
    assert record.schedule == ({"iteration": 3, "weights": {"style_weight": 5.0}},) and record.stop_after == 7
    assert dataclasses.replace(record, schedule=(), stop_after=None) == s


def test_controls_use_the_same_validator():
    with pytest.raises(SettingError, match="cannot be changed while running"):
        Controls().update(size=1024)
    with pytest.raises(SettingError, match="cannot be changed while running"):
        check_live({"size": 1024})
    with pytest.raises(SettingError, match="finite"):
        Controls().update(tv_weight=math.nan)
    assert Controls().update(style_layer_weights=[1, 2, 3, 4, 5])["style_layer_weights"] == (1, 2, 3, 4, 5)


def test_the_pages_weight_sliders_derive_from_the_settings():
    from styletransfer.web.layout import WEIGHT_SLIDERS, weight_slider

    for slider_id, name in WEIGHT_SLIDERS.items():
        meta = Settings.__dataclass_fields__[name].metadata
        slider = weight_slider(slider_id).children[1]
        assert (slider.min, slider.max) == meta["slider"]
        assert slider.value == pytest.approx(math.log10(Settings.__dataclass_fields__[name].default))
        assert 10 ** slider.max <= meta["high"] and name in LIVE_FIELDS
