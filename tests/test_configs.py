"""Config dataclasses declare each field once: the strict ``from_dict``, the checks and the command line's flags
(type, bounds, default, help) all come from that declaration."""

import argparse
import dataclasses

import pytest

from othello.cli.entry import build_parser
from othello.configs import config_from_dict
from othello.errors import ConfigError
from othello.model.config import ModelConfig, preset
from othello.probes.config import ProbeConfig
from othello.sae.config import SAETrainConfig
from othello.train.config import TrainConfig

CONFIGS = [TrainConfig, ProbeConfig, SAETrainConfig]


@pytest.mark.parametrize("cls", [*CONFIGS, ModelConfig])
def test_one_strict_from_dict_names_an_unknown_field(cls):
    base = preset("tiny").to_dict() if cls is ModelConfig else {}
    with pytest.raises(ConfigError, match="unknown field.* colour_depth"):
        cls.from_dict({**base, "colour_depth": 3})
    with pytest.raises(ConfigError, match="expected an object"):
        cls.from_dict([1, 2])


@pytest.mark.parametrize("cls", CONFIGS)
def test_from_dict_round_trips_and_fills_missing_fields_with_defaults(cls):
    config = cls()
    assert cls.from_dict(dataclasses.asdict(config)) == config
    assert cls.from_dict({}) == config


@pytest.mark.parametrize(
    "cls, field, value, message",
    [
        (TrainConfig, "batch_size", 0, "batch_size 0 is out of range: expected at least 1"),
        (TrainConfig, "lr", float("nan"), "lr must be a finite number"),
        (TrainConfig, "steps", 2.5, "steps must be a whole number"),
        (TrainConfig, "preset", "huge", "preset must be one of"),
        (TrainConfig, "seed", "1", "seed must be a number"),
        (ProbeConfig, "epochs", 0, "epochs 0 is out of range"),
        (SAETrainConfig, "latents", 32e9, None),
        (SAETrainConfig, "arch", "gated", "arch must be one of topk, relu"),
    ],
)
def test_a_value_out_of_its_type_or_bounds_is_refused_naming_the_field(cls, field, value, message):
    if value == 32e9:  # in bounds: taken as a whole number (an SAE this size is refused where it would allocate)
        assert cls.from_dict({field: value}).latents == 32_000_000_000
        return
    with pytest.raises(ConfigError, match=message):
        cls.from_dict({field: value})
    with pytest.raises(ConfigError, match=field):
        cls(**{field: value})


def test_lists_read_from_json_become_the_declared_tuples():
    assert TrainConfig.from_dict({"betas": [0.8, 0.9]}).betas == (0.8, 0.9)
    assert config_from_dict(TrainConfig, {"minutes": None}).minutes is None


def _subparser(argv: list[str]) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = action.choices[argv[0]]
    if len(argv) > 1:
        inner = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = inner.choices[argv[1]]
    return p


@pytest.mark.parametrize(
    "command, cls, skip",
    [(["train"], TrainConfig, ()), (["probe"], ProbeConfig, ("kind",)), (["sae", "train"], SAETrainConfig, ())],
)
def test_every_flag_field_is_a_flag_with_the_fields_default_and_doc(command, cls, skip):
    p = _subparser(command)
    flags = {o: a for a in p._actions for o in a.option_strings}
    defaults = cls()
    for field in dataclasses.fields(cls):
        if not field.metadata.get("flag") or field.name in skip:
            continue
        action = flags["--" + field.name.replace("_", "-")]
        assert action.default == getattr(defaults, field.name) and action.help.startswith(field.metadata["doc"][:20])


def test_a_generated_flag_refuses_a_bad_value_while_parsing(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["train", "--out", "x", "--grad-clip", "0"])
    assert stop.value.code == 2 and "argument --grad-clip" in capsys.readouterr().err


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    root = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in root.choices.items():
        inner = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        out += [(f"{name} {n}", q) for n, q in inner[0].choices.items()] if inner else [(name, p)]
    return out


@pytest.mark.parametrize("name, parser", _all_parsers(), ids=[n for n, _ in _all_parsers()])
def test_help_has_text_on_every_option_and_each_default_once(name, parser):
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.help != argparse.SUPPRESS:
            assert action.help, f"{name} {action.option_strings[0]} has no help text"
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "['" not in text and "('" not in text, "a Python list or tuple repr in the help"
    for paragraph in text.split("\n  -"):
        assert paragraph.count("default") <= 1 or "(default:" not in paragraph, paragraph
