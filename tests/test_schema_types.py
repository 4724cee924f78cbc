"""The typed record (schema.Record) and the vocabularies' Literal types agree with the schema."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from smtplab import schema
from smtplab.advice.engine import VERDICTS, Verdict

#: What each kind of FIELDS is in Python.
_KIND: dict[str, object] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "datetime": str,  # ISO-8601 text
    "list[str]": list[str],
    "findings": list[schema.FindingDict],
    "transcript": list[dict[str, Any]],
}


def _split_none(hint: object) -> tuple[object, bool]:
    """``X | None`` -> (X, True); ``X`` -> (X, False)."""
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0], True
    return hint, False


def test_record_has_the_fields_of_the_schema_in_order() -> None:
    assert tuple(schema.Record.__annotations__) == schema.FIELD_NAMES
    assert schema.Record.__required_keys__ == frozenset(schema.FIELDS)


@pytest.mark.parametrize("name", schema.FIELD_NAMES)
def test_each_field_has_the_kind_the_schema_says(name: str) -> None:
    kind, nullable = schema.FIELDS[name]
    hint, optional = _split_none(get_type_hints(schema.Record)[name])
    assert optional == nullable
    if get_origin(hint) is Literal:  # a vocabulary: text from a fixed list
        assert kind == "str"
        assert get_args(hint) == schema.ENUMS[name]
    else:
        assert hint == _KIND[kind]
        assert name not in schema.ENUMS, f"{name} takes a fixed list of words: type it so"


@pytest.mark.parametrize(
    "words,literal",
    [
        (schema.OUTCOMES, schema.Outcome),
        (schema.MODES, schema.Mode),
        (schema.TLS_MODES, schema.TlsMode),
        (schema.SEVERITIES, schema.Severity),
        (schema.SOURCES, schema.Source),
        (schema.RELAY_CHECKS, schema.RelayCheck),
        (schema.ROLES, schema.Role),
        (VERDICTS, Verdict),
    ],
)
def test_each_vocabulary_is_its_literal(words: tuple[str, ...], literal: object) -> None:
    assert words == get_args(literal)
    assert len(set(words)) == len(words)


def test_a_probe_record_is_a_record() -> None:
    from smtplab.engine import ProbeOptions
    from smtplab.engine.result import ProbeState, finish

    rec = finish(ProbeState(ProbeOptions.create("127.0.0.1", 25)), "refused", None).to_record()
    assert list(rec) == list(schema.FIELD_NAMES)
    for name, value in rec.items():
        if value is None:
            assert schema.FIELDS[name][1], name


def test_a_misspelt_field_in_the_probe_state_fails_where_it_is_made() -> None:
    from smtplab.engine import ProbeOptions
    from smtplab.engine.result import ProbeState, finish

    st = ProbeState(ProbeOptions.create("127.0.0.1", 25))
    st.set(tls_version="TLSv1.3")
    with pytest.raises(KeyError, match="tls_versoin"):
        st.set(tls_versoin="TLSv1.3")
    assert "tls_versoin" not in st.values
    st.values["banner_cod"] = 220  # past set(): finish refuses to drop it silently
    with pytest.raises(KeyError, match="banner_cod"):
        finish(st, "open", None)
    del st.values["banner_cod"]
    assert finish(st, "open", None).tls_version == "TLSv1.3"
