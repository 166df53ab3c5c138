"""Typed configuration: dataclasses filled from TOML files and ``key=value`` overrides.

Every component has one ``@dataclass`` config. :func:`from_dict` builds one from nested
mappings, checking keys and ``Literal`` choices so that a typo is an error naming the valid
keys, never a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

__all__ = [
    "ConfigError",
    "from_dict",
    "to_dict",
    "load_toml",
    "load_recipe",
    "parse_overrides",
    "merge",
    "check_choice",
    "check_voice_decoding",
    "EMISSIONS",
    "Emission",
    "KEY_DRAWS",
    "KeyDraw",
    "VoiceDecodingConfig",
    "one_line",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key and the fix."""


def one_line(err: BaseException) -> str:
    """An exception's message on one line (an OSError without one: its strerror and file)."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.strerror}: {err.filename}"
    return " ".join(text.split()) or type(err).__name__


def check_choice(value: Any, choices: Sequence[Any], key: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{key}: invalid value {value!r}; valid choices: {list(choices)}")


# How a key-normalized model's sample gets its key when nothing given fixes it: drawn from
# the training phrases of its register or from all of them (pianoroll_gan.data.keys).
KeyDraw = Literal["register", "marginal"]
KEY_DRAWS: tuple[str, ...] = get_args(KeyDraw)

# How the joint voice decoder reads a voice's cells at a step (pianoroll_gan.decoding.
# viterbi_voices): each on its own, or as one distribution over the voice's states.
Emission = Literal["bernoulli", "categorical"]
EMISSIONS: tuple[str, ...] = get_args(Emission)


@dataclass
class VoiceDecodingConfig:
    """The joint voice decoder's settings, shared by the model families' configs.

    With ``binarize = "voices"`` (specs whose tracks are voices) one Viterbi over the voices
    together (:func:`pianoroll_gan.decoding.viterbi_voices`) charges, in logits, ``penalty``
    per change of a voice's state and the priors per step that is not a complete triad or
    seventh chord (a silent voice included), per voice pair moving in parallel fifths or
    octaves, per crossed voice pair and per voice sounding outside its range (the spec's
    ``voice_ranges``, in the key the sample ends in). It only chooses among the model's own
    probabilities (the ``voice_candidates - 1`` most probable pitches of each voice and step,
    and silence, scored cell by cell or as one distribution per voice: ``emission``); figures
    decoded with priors must be reported as such. ``voice_hold`` also offers each voice the
    pitch it last sounded with a probability above the threshold (so that where the model's
    probability is low and spread the decoder can keep the note instead of resting or
    leaping). ``penalty`` is also
    the GAN's per-voice Viterbi (``binarize = "viterbi"``) change penalty. ``voice_penalty``,
    one value per voice from high to low (e.g. ``[7, 7, 7, 10]``: in the chorales' test
    split 0.6% of the bass notes are sixteenths, 4% of the inner voices'), takes the place of
    ``penalty`` in the joint decoder when given.
    """

    penalty: float = 1.0
    voice_penalty: tuple[float, ...] = ()
    chord_prior: float = 0.0
    parallel_prior: float = 0.0
    crossing_prior: float = 0.0
    range_prior: float = 0.0
    voice_candidates: int = 3
    emission: Emission = "bernoulli"
    voice_hold: bool = False


def check_voice_decoding(cfg: Any, section: str) -> None:
    """Check the joint voice decoder's settings of a family config (fields ``penalty``,
    ``chord_prior``, ``parallel_prior``, ``crossing_prior``, ``range_prior``,
    ``voice_candidates``, ``voice_penalty``); errors name ``section.key``."""
    for key in ("penalty", "chord_prior", "parallel_prior", "crossing_prior", "range_prior"):
        value = getattr(cfg, key)
        if not 0 <= value < float("inf"):
            raise ConfigError(f"{section}.{key} must be a finite value >= 0, got {value}")
    for value in cfg.voice_penalty:
        if not 0 <= value < float("inf"):
            raise ConfigError(
                f"{section}.voice_penalty must hold finite values >= 0 (one per voice, high "
                f"to low), got {cfg.voice_penalty}"
            )
    check_choice(cfg.emission, EMISSIONS, f"{section}.emission")
    if not 2 <= cfg.voice_candidates <= 5:
        raise ConfigError(
            f"{section}.voice_candidates must lie in 2..5 (the tuples number candidates ** "
            f"voices), got {cfg.voice_candidates}"
        )


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against the type hint ``hint`` and convert where it is lossless."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table of settings, got {value!r}")
        return from_dict(hint, value, prefix=key)
    if origin is Literal:
        check_choice(value, get_args(hint), key)
        return value
    if origin in (Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: value {value!r} fits none of {hint}: {'; '.join(errors)}")
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or hint is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields.

    Args:
        cls: the dataclass type.
        data: mapping of field names to values (nested tables for nested dataclasses).
        prefix: dotted path of ``data`` inside the whole config, used in messages.

    Raises:
        ConfigError: on an unknown key (listing the valid ones), a wrong type or an invalid
            ``Literal`` choice. A dataclass may add its own checks in ``__post_init__``.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or cls.__name__}: expected a table of settings, got {data!r}")
    hints = get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        where = f" in [{prefix}]" if prefix else ""
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}{where}; valid keys: {', '.join(valid)}"
        )
    kwargs = {
        name: _coerce(value, hints[name], f"{prefix}.{name}" if prefix else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def to_dict(obj: Any) -> Any:
    """Plain (TOML/JSON-ready) form of a dataclass config, tuples as lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, naming the file in any parse error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read an experiment file, resolving inheritance: ``base = "other.toml"`` at the top.

    The base file is found relative to the file that names it and may itself have a base;
    the file's tables are merged into its base's key by key (:func:`merge`), so a recipe
    only writes what differs from its base.

    Raises:
        ConfigError: on a missing or invalid file, a ``base`` that is not a file name, or a
            cycle of bases (naming the files in it).
    """
    chain: list[Path] = []
    names: list[str] = []

    def resolve(file: Path, name: str) -> dict[str, Any]:
        key = file.resolve()
        if key in chain:
            cycle = " -> ".join([*names[chain.index(key) :], name])
            raise ConfigError(f"experiment files inherit in a cycle: {cycle}")
        chain.append(key)
        names.append(name)
        data = load_toml(file)
        base = data.pop("base", None)
        if base is None:
            return data
        if not isinstance(base, str) or not base:
            raise ConfigError(f"{name}: base must name another experiment file, got {base!r}")
        base_file = file.parent / base
        if not base_file.is_file():
            raise ConfigError(f"{name}: base file {base_file} does not exist")
        return merge(resolve(base_file, str(base_file)), data)

    return resolve(Path(path), str(path))


def _parse_value(text: str) -> Any:
    """Parse an override value as a TOML value, falling back to a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """Turn ``["train.steps=100", "gan.mode='jamming'"]`` into a nested dict."""
    result: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override")
        node[parts[-1]] = _parse_value(text.strip())
    return result


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
