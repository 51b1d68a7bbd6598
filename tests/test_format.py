"""The summary contract: headers round-trip, bad or newer records are refused clearly."""

import json

import pytest

from tb_featviz import metadata


def test_header_round_trip_and_non_finite_numbers():
    data = metadata.encode_header(
        layer="conv1", method="am", channels=[0, 2], numbers={"activation": [1.5, float("nan")], "dead": [False, True]},
        image_shape=(28, 28, 1), settings={"steps": 4},
    )
    header = metadata.decode_header(data)
    assert header["channels"] == [0, 2]
    assert header["numbers"]["activation"] == [1.5, None]
    assert header["roles"] == ["image"] and header["version"] == metadata.FORMAT_VERSION
    assert metadata.blob_index(1, "image", metadata.ROLES["am"]) == 2
    assert metadata.blob_index(1, "patches", metadata.ROLES["deconv"]) == 4
    assert metadata.expected_length(3, metadata.ROLES["deconv"]) == 7


def test_plugin_content_versions():
    meta = metadata.create_summary_metadata("conv1", "deconv")
    assert meta.plugin_data.plugin_name == "featviz"
    assert metadata.parse_plugin_content(meta.plugin_data.content)["method"] == "deconv"
    newer = json.dumps({"version": metadata.FORMAT_VERSION + 1, "layer": "a", "method": "am"}).encode()
    with pytest.raises(metadata.FormatError, match="newer"):
        metadata.parse_plugin_content(newer)
    for bad in [b"\xff", b"[]", b'{"version": 1, "layer": 3, "method": "am"}']:
        with pytest.raises(metadata.FormatError):
            metadata.parse_plugin_content(bad)


def test_mismatched_numbers_are_refused():
    with pytest.raises(metadata.FormatError, match="2 values for 1 channels"):
        metadata.encode_header(layer="l", method="am", channels=[0], numbers={"a": [1, 2]}, image_shape=(1, 1, 1))
    bad = json.dumps({"version": 1, "method": "am", "channels": [0], "numbers": {"a": []}}).encode()
    with pytest.raises(metadata.FormatError):
        metadata.decode_header(bad)
