"""What every command shares: one argument type each for ranges, lists, windows and bounded numbers, and the
flag groups and helpers of the command families (``othello.cli.commands``).

Each type is an ``argparse`` ``type=``, so a bad value fails while the arguments are parsed, before any model
loads, with argparse's one-line error naming the flag.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from othello.errors import ConfigError
from othello.values import parse_head, parse_range

__all__ = [
    "int_range",
    "choice_list",
    "number_list",
    "window",
    "bounded_int",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "bounded_float",
    "non_negative_float",
    "seed",
    "model_override",
    "output_flags",
    "data_flag",
    "show_progress",
    "FileList",
    "DefaultsHelp",
    "config_flags",
    "config_from_args",
]


# no layer, block or head index on the command line goes above this: a range is refused while it is parsed, before
# it is expanded
MAX_INDEX = 100_000


def _fail(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def _typed(parse: Callable[..., Any], text: str, **bounds: Any) -> Any:
    """A library parser as an argparse type: its ``ConfigError`` becomes argparse's one-line error."""
    try:
        return parse(text, **bounds)
    except ConfigError as error:
        raise _fail(str(error)) from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _fail(f"{text!r} is not a whole number") from None


def int_range(text: str) -> tuple[int, ...]:
    """Layers and the like: ``"4-8"`` -> (4, 5, 6, 7, 8); ``"3,5,7"``; ``"2-4,7"`` (``othello.values.parse_range``)."""
    return _typed(parse_range, text, upper=MAX_INDEX)


def choice_list(choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of names from ``choices``: ``"relative,colour"``."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(x.strip() for x in text.split(",") if x.strip())
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise _fail(f"{text!r}: choose from {', '.join(choices)} (comma-separated)")
        return names

    parse.__name__ = "list"
    return parse


def number_list(text: str) -> tuple[float, ...]:
    """Finite positive numbers, comma-separated: ``"1,2,4"``."""
    values = []
    for x in text.split(","):
        try:
            v = float(x)
        except ValueError:
            raise _fail(f"{text!r}: expected numbers separated by commas, like 1,2,4") from None
        if not math.isfinite(v) or v <= 0:
            raise _fail(f"{text!r}: each number must be finite and above 0")
        values.append(v)
    return tuple(values)


def window(text: str) -> slice:
    """Positions of the 59, written like every range here, both ends included: ``"5-53"`` -> ``slice(5, 54)``."""
    a, dash, b = text.partition("-")
    if ":" in text:
        raise _fail(f"{text!r}: write a range of positions as FIRST-LAST with both ends included, like 5-53")
    lo, hi = _int(a), _int(b) + 1 if dash else _int(a) + 1
    if not 0 <= lo < hi <= 59:
        raise _fail(f"{text!r}: positions run 0..58; write FIRST-LAST with both ends included, like 5-53")
    return slice(lo, hi)


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``low..high`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < low or (high is not None and value > high):
            raise _fail(f"{value} is out of range: expected {low}.." + ("" if high is None else str(high)))
        return value

    parse.__name__ = "integer"
    return parse


positive_int = bounded_int(1)
non_negative_int = bounded_int(0)
seed = bounded_int(0, 2**63 - 1)


def _float(text: str, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise _fail(f"{text!r}: expected a finite number {'above' if positive else 'at least'} 0")
    return value


def bounded_float(above: float, high: float) -> Callable[[str], float]:
    """A finite number above ``above`` and at most ``high``."""

    def parse(text: str) -> float:
        value = _float(text, positive=False)
        if not above < value <= high:
            raise _fail(f"{text!r} is out of range: expected above {above:g} and at most {high:g}")
        return value

    parse.__name__ = "number"
    return parse


def positive_float(text: str) -> float:
    return _float(text, positive=True)


def non_negative_float(text: str) -> float:
    return _float(text, positive=False)


def head_id(text: str) -> tuple[int, int]:
    """``"2.5"`` -> (2, 5): block 2's head 5 (``othello.values.parse_head``)."""
    return _typed(parse_head, text)


def model_override(text: str) -> tuple[str, object]:
    """``--set n_layers=6``: a model config field and its value, converted to the field's type."""
    from othello.model.config import ModelConfig

    try:
        return ModelConfig.parse_override(text)
    except ConfigError as error:
        raise _fail(str(error).removeprefix(f"--set {text!r}: ")) from None


class DefaultsHelp(argparse.HelpFormatter):
    """``--help`` that shows each default once, as it is typed: none where the help already speaks of its
    default or there is none to show (None, a switch that is off), and a list or tuple as ``a,b``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        default = action.default
        nothing = default is None or default is False or default is argparse.SUPPRESS
        if "default" in help or nothing or action.option_strings == []:
            return help
        if isinstance(default, (list, tuple)):
            default = ",".join(str(x) for x in default)
        return f"{help} (default: {str(default).replace('%', '%%')})"


def command(sub: Any, name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows every default, run by ``func``."""
    p = sub.add_parser(name, help=help, description=help, formatter_class=DefaultsHelp)
    p.set_defaults(func=func)
    return p


GAME_HELP = "the moves, e.g. 'f5 d6 c3 d3 c4'"


class _JoinedMoves(argparse.Action):
    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        if values:
            setattr(namespace, self.dest, " ".join(values))


def game_flags(p: argparse.ArgumentParser, required: bool = True, help: str = GAME_HELP) -> None:
    """One game's moves, the same way on every command: ``--game "f5 d6 c3"``, or the moves as the first
    argument (an alias: ``othello-gpt predict f5 d6 c3``). ``check_game`` refuses a command run without them."""
    p.add_argument("--game", default=None, help=help)
    # SUPPRESS: an absent positional must not overwrite a --game given; unquoted moves are one game
    p.add_argument(
        "game", nargs="*", action=_JoinedMoves, default=argparse.SUPPRESS, metavar="MOVES", help="the same as --game"
    )
    p.set_defaults(game_required=required)


def check_game(args: argparse.Namespace) -> None:
    """The moves a ``game_flags`` command needs were given (either way)."""
    if getattr(args, "game_required", False) and not args.game:
        raise ConfigError('no moves given: --game "f5 d6 c3 ..." (or the moves as the first argument)')


def inputs_of(args: argparse.Namespace) -> list[Path]:
    """The files a command reads, which nothing it writes may replace: the model folder's checkpoint, the game
    files and folders, an SAE run's dictionary. A command declares others with ``set_defaults(reads=...)`` (a
    function of its arguments), or none where it updates its input in place on purpose (``labels``)."""
    if "reads" in args:
        return [Path(p) for p in args.reads(args)]
    paths: list[Path] = []
    if "model" in args:
        paths += model_files(args.model)
    for name in ("data", "sources", "src", "wthor"):
        value = getattr(args, name, None)
        paths += [Path(v) for v in ([value] if isinstance(value, str) else value or [])]
    if getattr(args, "sae", None):
        paths += dictionary_files(args.sae)
    return paths


def outputs_of(args: argparse.Namespace) -> list[Path]:
    """The paths a command names for writing (``--out``, ``--png``): checked against ``inputs_of`` before any
    work; the files a command writes inside an ``--out`` folder are checked as each is written."""
    return [Path(getattr(args, name)) for name in ("out", "png") if getattr(args, name, None)]


def model_files(folder: str | os.PathLike | None) -> list[Path]:
    """The files a model folder (None: the shipped model) is loaded from."""
    if folder is None:
        from othello.model.checkpoints import SHIPPED_MODEL

        folder = SHIPPED_MODEL
    return [Path(folder) / name for name in ("config.json", "model.safetensors")]


def dictionary_files(folder: str | os.PathLike) -> list[Path]:
    """The files an SAE run folder's dictionary is loaded from."""
    return [Path(folder) / name for name in ("cfg.json", "sae_weights.safetensors", "sae.json")]


def model_flags(p: argparse.ArgumentParser) -> None:
    """``--model`` and ``--device``, for every command that runs a model."""
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")


def check_device(device: str) -> str:
    """``--device``: refuse a CUDA device this machine does not have, in one line (torch would assert)."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: torch sees no CUDA device on this machine; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise ConfigError(f"--device {device}: expected cpu, cuda, cuda:N or mps")
    return device


def load_cli_model(args: argparse.Namespace) -> Any:
    """The model ``--model`` names (the shipped one by default), on ``--device``."""
    from othello.model.checkpoints import load_model

    return load_model(args.model, device=check_device(args.device))


def dump(data: Any) -> None:
    """Print ``data`` as indented JSON (every ``--json``)."""
    print(json.dumps(data, indent=2))


def layers_or_all(text: str) -> tuple[int, ...] | None:
    """``"all"`` -> None (every layer), else ``int_range``."""
    return None if text == "all" else int_range(text)


def shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N."""
    i, sep, n = text.partition("/")
    try:
        value = (int(i), int(n))
    except ValueError:
        value = (-1, 0)
    if not sep or not 0 <= value[0] < value[1]:
        raise _fail(f"{text!r}: expected I/N with 0 <= I < N, like 0/4")
    return value


def output_flags(p: argparse.ArgumentParser, json_flag: bool = True, quiet: bool = True) -> None:
    """``--json`` (print the result as JSON on stdout) and ``--quiet`` (no progress bars), the same on every
    command; progress bars go to stderr, so ``--json`` output stays clean with them."""
    if json_flag:
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    if quiet:
        p.add_argument("--quiet", action="store_true", help="no progress bars")


def show_progress(args: argparse.Namespace) -> bool:
    """Whether the command shows progress bars (everywhere unless ``--quiet``)."""
    return not getattr(args, "quiet", False)


class FileList(argparse.Action):
    """Game files given space- or comma-separated (``--data a.h5 b.h5`` or ``--data a.h5,b.h5``) -> one list."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, [part for value in values for part in value.split(",") if part])


def data_flag(p: argparse.ArgumentParser, help: str, required: bool = True, default: list[str] | None = None) -> None:
    """``--data``, on every command that reads games: one or more files (or ``synthetic`` where it is allowed),
    space- or comma-separated."""
    p.add_argument(
        "--data",
        nargs="+",
        action=FileList,
        required=required,
        default=default,
        metavar="DATA",
        help=help + " (several: space- or comma-separated)",
    )


def config_flags(
    p: argparse.ArgumentParser, cls: type, skip: Sequence[str] = (), defaults: dict[str, Any] | None = None
) -> None:
    """One flag per field of the config dataclass ``cls`` declared with ``othello.configs.setting`` (but those
    declared ``flag=False`` and those in ``skip``): ``--batch-size`` for ``batch_size``, its help the field's doc,
    its default the field's (or ``defaults``'s, where a command differs), its value checked against the field's
    type and bounds while the flags are parsed."""

    from othello.configs import field_bounds, field_doc, field_kind

    made = cls()
    for field in _flag_fields(cls, skip):
        name = "--" + field.name.replace("_", "-")
        default = (defaults or {}).get(field.name, getattr(made, field.name))
        kind, _ = field_kind(cls, field)
        if kind is bool:
            p.add_argument(name, action="store_true", help=field_doc(field).replace("%", "%%"))
            continue
        choices = field_bounds(field)["choices"]
        p.add_argument(
            name,
            type=_field_parser(cls, field, kind),
            default=default,
            choices=choices,
            metavar=None if choices else field.name.split("_")[-1].upper(),
            help=field_doc(field).replace("%", "%%"),  # argparse formats help with %
        )


def _field_parser(cls: type, field: Any, kind: type) -> Callable[[str], Any]:
    """The text of a flag -> the field's value, refused (argparse's one-line error) outside its type or bounds."""
    from othello.configs import check_field

    def parse(text: str) -> Any:
        value: Any = text
        if kind in (int, float):
            try:
                value = int(text) if kind is int else float(text)
            except ValueError:
                raise _fail(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        try:
            return check_field(cls, field, value)
        except ConfigError as error:
            raise _fail(str(error).split(": ", 1)[-1]) from None

    parse.__name__ = kind.__name__
    return parse


def config_from_args(cls: type, args: argparse.Namespace, skip: Sequence[str] = (), **given: Any) -> Any:
    """The config of class ``cls`` from the flags ``config_flags(p, cls, skip)`` made, with ``given`` fields (those
    the command reads otherwise) on top; checked as ``from_dict`` checks a file."""
    from othello.configs import config_from_dict

    values = {f.name: getattr(args, f.name) for f in _flag_fields(cls, skip)}
    return config_from_dict(cls, {**values, **given})


def _flag_fields(cls: type, skip: Sequence[str]) -> list[Any]:
    """The fields of ``cls`` that are flags: declared with ``setting``, not ``flag=False``, not in ``skip``."""
    import dataclasses

    return [f for f in dataclasses.fields(cls) if "doc" in f.metadata and f.metadata["flag"] and f.name not in skip]
