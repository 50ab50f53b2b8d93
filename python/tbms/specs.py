"""Candidates of a try: ranked model lists and mixes.

:func:`model_list` (talk name :data:`tbmsList`) and :func:`mix_list`
(:data:`tbmsMixList`) accept the talk's forms and a few others, check them
and return lists of :class:`ModelSpec` / :class:`MixSpec`, whose
``to_json()`` is what goes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

from .validation import _is_number

#: Aggregators that combine the outputs of a mix's members.
MIX_AGGREGATORS = ("max", "avg", "vote")

#: Most members a mix may have (the server's limit).
MAX_MIX_MEMBERS = 32

_MODEL_KEYS = frozenset({"name", "est", "version"})
_MIX_KEY = "mix"


@dataclass(frozen=True)
class ModelSpec:
    """One entry of a ranked model list, or one member of a mix.

    Attributes:
        name: model name known to the server, e.g. ``"svm"``.
        est: estimated latency of the model in milliseconds (>= 0), or
            ``None`` to let the server use the model's configured est (as
            the server's ``models[].est`` and ``members[].est``).
        version: optional model version.
    """

    name: str
    est: Optional[Union[int, float]] = None
    version: Optional[str] = None

    def to_json(self) -> dict:
        """Return the wire representation of this model (``"est"`` and
        ``"version"`` only when set)."""
        item: dict = {"name": self.name}
        if self.est is not None:
            item["est"] = self.est
        if self.version is not None:
            item["version"] = self.version
        return item


@dataclass(frozen=True)
class MixSpec:
    """One mix (ensemble): its members run together and their outputs are
    combined by the aggregator.  Build mixes with :func:`mix_list`.

    Attributes:
        name: name of the mix, reported as the attempt's model.
        members: the member models, a tuple of :class:`ModelSpec`.
        aggregator: one of :data:`MIX_AGGREGATORS` (``"max"``, ``"avg"``,
            ``"vote"``).
    """

    name: str
    members: tuple
    aggregator: str

    def to_json(self) -> dict:
        """Return the wire representation of this mix."""
        return {
            "name": self.name,
            "members": [member.to_json() for member in self.members],
            "aggregator": self.aggregator,
        }


# --------------------------------------------------------------------------
# Model lists
# --------------------------------------------------------------------------

def _make_spec(name: Any, est: Any, version: Any = None) -> ModelSpec:
    """Validate one model entry and return it as a :class:`ModelSpec`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"model name must be a non-empty string, got {name!r}")
    if est is not None and (not _is_number(est) or est < 0):
        raise ValueError(
            f"model {name!r}: est must be a number >= 0 of "
            f"milliseconds, got {est!r}")
    if version is not None and not isinstance(version, str):
        raise ValueError(
            f"model {name!r}: version must be a string, got {version!r}")
    return ModelSpec(name=name, est=est, version=version)


def _spec_from_mapping(item: Mapping, name: Any = None) -> ModelSpec:
    """Build a spec from ``{"est": .., "version": ..}`` (name given apart)
    or from ``{"name": .., "est": .., "version": ..}``."""
    allowed = _MODEL_KEYS if name is None else _MODEL_KEYS - {"name"}
    unknown = sorted(str(key) for key in item if key not in allowed)
    label = repr(name) if name is not None else repr(item.get("name"))
    if unknown:
        raise ValueError(f"model {label}: unknown field(s) {unknown}")
    if name is None:
        name = item.get("name")
    return _make_spec(name, item.get("est"), item.get("version"))


def _spec_from_item(item: Any) -> ModelSpec:
    """Convert one element of a model sequence into a :class:`ModelSpec`."""
    if isinstance(item, ModelSpec):
        return _make_spec(item.name, item.est, item.version)
    if isinstance(item, Mapping):
        return _spec_from_mapping(item)
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return _make_spec(*item)
    raise ValueError(
        "each model must be a (name, est) tuple, a (name, est, version) "
        f"tuple or a dict with 'name' and 'est', got {item!r}")


def _specs_from_input(models: Any) -> list:
    """Turn any accepted model-list form into a list of specs."""
    if isinstance(models, Mapping):
        specs = []
        for name, value in models.items():
            if isinstance(value, Mapping):
                specs.append(_spec_from_mapping(value, name=name))
            else:  # shorthand: {"svm": 25}
                specs.append(_make_spec(name, value))
        return specs
    if isinstance(models, (str, bytes)) or not isinstance(models, Iterable):
        raise ValueError(
            "models must be a dict, or a list of (name, est) tuples or of "
            f"dicts, got {type(models).__name__}")
    return [_spec_from_item(item) for item in models]


def model_list(models: Any) -> list:
    """Build a ranked model list (best model first).

    Accepted forms (the order given is the rank order):

    * ``{"embedding": {"est": 35}, "svm": {"est": 25, "version": "2"}}``
      (a bare number is accepted as ``est``: ``{"svm": 25}``);
    * ``[("embedding", 35), ("svm", 25, "2")]``;
    * ``[{"name": "embedding", "est": 35}, ...]``;
    * a list of :class:`ModelSpec` (e.g. the result of this function).

    Args:
        models: the models in one of the forms above.

    Returns:
        A new list of :class:`ModelSpec`.

    Raises:
        ValueError: if the list is empty, a name is not a non-empty string,
            an ``est`` is not a number >= 0, a version is not a string,
            a field is unknown, or a (name, version) pair is repeated.
    """
    specs = _specs_from_input(models)
    if not specs:
        raise ValueError("model list is empty")
    seen = set()
    for spec in specs:
        key = (spec.name, spec.version)
        if key in seen:
            raise ValueError(f"duplicate model {spec.name!r} in model list")
        seen.add(key)
    return specs


#: Talk-style alias of :func:`model_list`.
tbmsList = model_list


# --------------------------------------------------------------------------
# Mix lists
# --------------------------------------------------------------------------

def _check_mix_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"mix name must be a non-empty string, got {name!r}")


def _make_member(mix: str, name: Any, est: Any = None,
                 version: Any = None) -> ModelSpec:
    """Validate one member of mix ``mix``; ``est`` may be omitted."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"mix {mix!r}: model name must be a non-empty string, "
            f"got {name!r}")
    if est is not None and (not _is_number(est) or est < 0):
        raise ValueError(
            f"mix {mix!r}: model {name!r}: est must be a number >= 0 of "
            f"milliseconds, got {est!r}")
    if version is not None and not isinstance(version, str):
        raise ValueError(
            f"mix {mix!r}: model {name!r}: version must be a string, "
            f"got {version!r}")
    return ModelSpec(name=name, est=est, version=version)


def _member_from_entry(mix: str, name: Any, value: Any) -> ModelSpec:
    """Build a member from ``{name: {"est": .., "version": ..}}`` (both
    optional) or the shorthand ``{name: est}``."""
    if isinstance(value, Mapping):
        allowed = _MODEL_KEYS - {"name"}
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            raise ValueError(
                f"mix {mix!r}: model {name!r}: unknown field(s) {unknown}")
        return _make_member(mix, name, value.get("est"), value.get("version"))
    if value is None:
        raise ValueError(
            f"mix {mix!r}: model {name!r} must map to {{'est': ms}} "
            "(or to {} to use the server's est), got None")
    return _make_member(mix, name, value)


def _make_mix(name: str, members: list, aggregator: Any) -> MixSpec:
    """Check the member count and the aggregator of a mix."""
    if not members:
        raise ValueError(f"mix {name!r} has no models")
    if len(members) > MAX_MIX_MEMBERS:
        raise ValueError(
            f"mix {name!r} has {len(members)} models, at most "
            f"{MAX_MIX_MEMBERS} are allowed")
    if not isinstance(aggregator, str) or aggregator not in MIX_AGGREGATORS:
        raise ValueError(
            f"mix {name!r}: aggregator must be one of "
            f"{', '.join(MIX_AGGREGATORS)}, got {aggregator!r}")
    return MixSpec(name=name, members=tuple(members), aggregator=aggregator)


def _mix_from_entries(name: Any, entries: Any) -> MixSpec:
    """Build a mix from the talk's list of one-key dicts, e.g.
    ``[{"svm": {"est": 25}}, {"bayes": {"est": 15}}, {"mix": "max"}]``."""
    _check_mix_name(name)
    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(
            entries, Iterable):
        raise ValueError(
            f"mix {name!r} must be a list like [{{'svm': {{'est': 25}}}}, "
            f"..., {{'mix': 'max'}}], got {type(entries).__name__}")
    members = []
    aggregators = []
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise ValueError(
                f"mix {name!r}: each entry must be a one-key dict, "
                f"{{model: {{'est': ms}}}} or {{'mix': aggregator}}, "
                f"got {entry!r}")
        ((key, value),) = entry.items()
        if key == _MIX_KEY:
            aggregators.append(value)
        else:
            members.append(_member_from_entry(name, key, value))
    if len(aggregators) != 1:
        raise ValueError(
            f"mix {name!r} needs exactly one {{'mix': aggregator}} entry, "
            f"got {len(aggregators)}")
    return _make_mix(name, members, aggregators[0])


def _mix_from_spec(spec: Any) -> MixSpec:
    """Re-validate a :class:`MixSpec` (e.g. one built by hand)."""
    if not isinstance(spec, MixSpec):
        raise ValueError(
            "a list of mixes must hold MixSpec items (use mix_list), "
            f"got {spec!r}")
    _check_mix_name(spec.name)
    if isinstance(spec.members, (str, bytes)) or not isinstance(
            spec.members, Iterable):
        raise ValueError(f"mix {spec.name!r}: members must be a tuple")
    members = []
    for member in spec.members:
        if not isinstance(member, ModelSpec):
            raise ValueError(
                f"mix {spec.name!r}: members must be ModelSpec items, "
                f"got {member!r}")
        members.append(_make_member(spec.name, member.name, member.est,
                                    member.version))
    return _make_mix(spec.name, members, spec.aggregator)


def mix_list(spec: Any) -> list:
    """Build a ranked list of mixes (best mix first).

    Accepted forms (the order given is the rank order):

    * the talk's dict of mixes, each a list of one-key dicts: model entries
      ``{name: {"est": ms, "version": "2"}}`` (``est`` and ``version``
      optional; a bare number is accepted as ``est``: ``{"svm": 25}``) and
      exactly one ``{"mix": aggregator}`` entry, anywhere in the list::

          {"mix1": [{"embedding": {"est": 35}}, {"svm": {"est": 25}},
                    {"mix": "max"}],
           "mix2": [{"bayes": {"est": 15}}, {"keysearch": {"est": 5}},
                    {"mix": "avg"}]}

    * a list of :class:`MixSpec` (e.g. the result of this function).

    A member without ``est`` is sent without it; the server then uses the
    model's configured est.  The key ``"mix"`` always names the
    aggregator, so a model called ``"mix"`` cannot be a member here.

    Args:
        spec: the mixes in one of the forms above.

    Returns:
        A new list of :class:`MixSpec`.

    Raises:
        ValueError: if the list is empty, a mix or model name is not a
            non-empty string, an entry is not a one-key dict, a mix has no
            models or more than :data:`MAX_MIX_MEMBERS`, an ``est`` is not
            a number >= 0, a version is not a string, a model field is
            unknown, a mix does not have exactly one ``"mix"`` entry, the
            aggregator is not one of :data:`MIX_AGGREGATORS`, or a mix
            name is repeated.
    """
    if isinstance(spec, Mapping):
        mixes = [_mix_from_entries(name, entries)
                 for name, entries in spec.items()]
    elif isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
        raise ValueError(
            "mixes must be a dict like {'mix1': [{'svm': {'est': 25}}, "
            "{'mix': 'max'}]} or a list of MixSpec, "
            f"got {type(spec).__name__}")
    else:
        mixes = [_mix_from_spec(item) for item in spec]
    if not mixes:
        raise ValueError("mix list is empty")
    seen = set()
    for mix in mixes:
        if mix.name in seen:
            raise ValueError(f"duplicate mix {mix.name!r} in mix list")
        seen.add(mix.name)
    return mixes


#: Talk-style alias of :func:`mix_list`.
tbmsMixList = mix_list
