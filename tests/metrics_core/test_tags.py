from __future__ import annotations

import pickle

import pytest

from metrics_core.tags import Tags


def test_tags_are_immutable() -> None:
    tags = Tags.of(model_name="bert")
    with pytest.raises(AttributeError):
        tags._map = {}
    with pytest.raises(AttributeError):
        tags.anything = 1
    with pytest.raises(AttributeError):
        del tags._map
    with pytest.raises(TypeError):
        tags["model_name"] = "gpt"  # type: ignore[index]
    assert tags == {"model_name": "bert"}


def test_tags_are_equal_and_hash_alike_whatever_the_order() -> None:
    first = Tags({"model_name": "bert", "version": "v2", "region": "eu"})
    second = Tags({"region": "eu", "version": "v2", "model_name": "bert"})
    third = Tags.of(version="v2", region="eu", model_name="bert")
    assert first == second == third
    assert hash(first) == hash(second) == hash(third)
    assert len({first, second, third}) == 1
    assert {first: 1}[third] == 1
    assert first.items_tuple() == (("model_name", "bert"), ("region", "eu"), ("version", "v2"))
    assert list(first) == ["model_name", "region", "version"]


def test_tags_differ_by_value_and_equal_plain_mappings() -> None:
    assert Tags.of(a="1") != Tags.of(a="2")
    assert Tags.of(a="1") != Tags.of(a="1", b="2")
    assert Tags.of(a="1") == {"a": "1"}
    assert Tags.of(a="1") != {"a": 1}
    assert Tags.of(a="1") != "a=1"


def test_values_become_strings() -> None:
    tags = Tags.of(flag=True, off=False, count=3, ratio=0.5, name="x")
    assert dict(tags) == {"flag": "true", "off": "false", "count": "3", "ratio": "0.5", "name": "x"}
    assert tags == Tags.of(flag="true", off="false", count="3", ratio="0.5", name="x")


@pytest.mark.parametrize("value", [None, b"bytes", [1], object()])
def test_invalid_values_raise(value: object) -> None:
    with pytest.raises(ValueError, match="tag value"):
        Tags({"key": value})  # type: ignore[dict-item]


@pytest.mark.parametrize("key", ["1abc", "a-b", "", "a b", "a..b", ".a", "a.", 1, None, 2.5])
def test_invalid_keys_raise_naming_the_key(key: object) -> None:
    with pytest.raises(ValueError, match="tag key") as info:
        Tags({key: "x"})  # type: ignore[dict-item]
    assert repr(key) in str(info.value)


def test_a_non_str_key_among_str_keys_raises_value_error() -> None:
    with pytest.raises(ValueError, match="tag key") as info:
        Tags({"model_name": "bert", 1: "x"})  # type: ignore[dict-item]
    assert "1" in str(info.value)


def test_invalid_key_through_with_tag_and_merge_raises() -> None:
    tags = Tags.of(a="1")
    with pytest.raises(ValueError, match="'a-b'"):
        tags.with_tag("a-b", "x")
    with pytest.raises(ValueError, match="'9x'"):
        tags.merge({"9x": "y"})


def test_dotted_keys_are_accepted() -> None:
    tags = Tags.of({"gen_ai.token.type": "input", "_private": "1", "A1.b_2": "z"})
    assert tags["gen_ai.token.type"] == "input"
    assert "gen_ai.token.type" in tags
    assert len(tags) == 3


def test_of_merges_mapping_and_keywords_keywords_win() -> None:
    tags = Tags.of({"model_name": "bert", "version": "v1"}, version="v2")
    assert tags == {"model_name": "bert", "version": "v2"}
    assert Tags.of() == Tags.empty() == Tags()
    assert Tags.of(None) is not None
    assert len(Tags.empty()) == 0


def test_with_tag_returns_a_new_tags() -> None:
    base = Tags.of(model_name="bert")
    added = base.with_tag("version", 2)
    replaced = added.with_tag("version", "v3")
    assert base == {"model_name": "bert"}
    assert added == {"model_name": "bert", "version": "2"}
    assert replaced == {"model_name": "bert", "version": "v3"}
    assert isinstance(added, Tags)


def test_merge_other_wins() -> None:
    base = Tags.of(model_name="bert", version="v1")
    merged = base.merge({"version": "v2", "region": "eu"})
    assert merged == {"model_name": "bert", "version": "v2", "region": "eu"}
    assert base == {"model_name": "bert", "version": "v1"}
    assert base.merge(Tags.of(flag=True))["flag"] == "true"


def test_includes() -> None:
    tags = Tags.of(model_name="bert", version="v2", region="eu")
    assert tags.includes({})
    assert tags.includes({"model_name": "bert"})
    assert tags.includes({"model_name": "bert", "version": "v2"})
    assert tags.includes(Tags.of(region="eu"))
    assert not tags.includes({"model_name": "gpt"})
    assert not tags.includes({"missing": "x"})
    assert not Tags.empty().includes({"model_name": "bert"})


def test_mapping_protocol() -> None:
    tags = Tags.of(model_name="bert", version="v2")
    assert tags["version"] == "v2"
    assert tags.get("missing") is None
    assert tags.get("missing", "unknown") == "unknown"
    assert tags.get("version", "unknown") == "v2"
    assert tags.get("version") == "v2"
    assert tags.get("missing", default="unknown") == "unknown"
    assert "model_name" in tags
    assert "missing" not in tags
    assert 1 not in tags  # type: ignore[comparison-overlap]
    with pytest.raises(KeyError):
        tags["missing"]
    assert dict(tags.items()) == {"model_name": "bert", "version": "v2"}


def test_repr_and_str() -> None:
    tags = Tags.of(version="v2", model_name="bert")
    assert repr(tags) == "Tags({'model_name': 'bert', 'version': 'v2'})"
    assert str(tags) == 'model_name="bert",version="v2"'
    assert str(Tags.empty()) == ""


def test_pickle_round_trip() -> None:
    tags = Tags.of({"gen_ai.token.type": "output"}, model_name="bert", flag=True)
    restored = pickle.loads(pickle.dumps(tags))
    assert isinstance(restored, Tags)
    assert restored == tags
    assert hash(restored) == hash(tags)
    assert restored.items_tuple() == tags.items_tuple()
    empty = pickle.loads(pickle.dumps(Tags.empty()))
    assert empty == Tags.empty()
