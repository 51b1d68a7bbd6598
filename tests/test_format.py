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
    assert header["roles"] == ["image"] and header["version"] == 3  # records of images: a version 3 reader reads them
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


def test_a_records_position_round_trips_and_junk_reads_as_unknown():
    data = metadata.encode_header(layer="conv1", method="am", channels=[0], numbers={}, image_shape=(8, 8, 1))
    position = metadata.make_position(20, epoch=20 / 469, epochs_completed=0, batch=20, steps_per_epoch=469,
                                      moment="batch")
    header = metadata.decode_header(metadata.placed(data, position))
    assert metadata.read_position(header, 20) == {"epoch": 20 / 469, "epochs_completed": 0, "batch": 20,
                                                  "steps_per_epoch": 469, "moment": "batch"}
    assert metadata.read_position({"version": 1}, 7)["epoch"] == 7.0  # version 1: the step is the epoch
    unknown = {"epoch": None, "epochs_completed": None, "batch": None, "steps_per_epoch": None, "moment": None}
    assert metadata.read_position({"version": 2}, 5) == unknown  # a custom loop's record without epoch=
    for junk in ("x", [1], {"epoch": "1"}, {"epoch": True, "batch": -1, "steps_per_epoch": 0, "moment": "later",
                                            "epochs_completed": 2.5},
                 {"epoch": float("nan")}, {"epoch": 1e300, "batch": 10**30}, {"epoch": -1}):
        assert metadata.read_position({"version": 2, "position": junk}, 5) == unknown, junk
    with pytest.raises(metadata.FormatError, match="unknown moment"):
        metadata.make_position(1, moment="later")


def test_a_position_with_a_400_digit_epoch_reads_as_unknown():
    assert metadata.read_position({"version": 2, "position": {"epoch": 10**400}}, 1)["epoch"] is None


TOY = metadata.MethodFormat("channel_mean", "Channel mean", ("bar",), "mean", "each channel's mean on the probes",
                            "no channel-mean records", role_labels={"bar": "bar"})


def test_records_carry_their_methods_format_and_older_ones_read_with_the_built_in():
    """Version 3: a method a reader does not know comes with its format; a version 2 record of a
    built-in method (no format in its content) reads with the built-in one."""
    own = metadata.parse_plugin_content(metadata.create_summary_metadata("conv1", "channel_mean", TOY)
                                        .plugin_data.content)
    assert own["format"] == TOY and own["version"] == 3
    data = metadata.encode_header(layer="conv1", method="channel_mean", channels=[0], numbers={"mean": [0.5]},
                                  image_shape=(8, 8, 1), format=TOY)
    assert metadata.decode_header(data, TOY)["roles"] == ["bar"]
    with pytest.raises(metadata.FormatError, match="not its record's"):
        metadata.decode_header(data)  # without its format: not a built-in method
    older = json.dumps({"version": 2, "layer": "conv1", "method": "deconv"}).encode()
    assert metadata.parse_plugin_content(older)["format"] == metadata.FORMATS["deconv"]
    with pytest.raises(metadata.FormatError, match="without its format"):
        metadata.parse_plugin_content(json.dumps({"version": 2, "layer": "c", "method": "channel_mean"}).encode())
    with pytest.raises(metadata.FormatError, match="not built in"):
        metadata.create_summary_metadata("conv1", "channel_mean")


@pytest.mark.parametrize("change", [
    {"roles": []}, {"roles": ["Bar"]}, {"roles": ["bar", "bar"]}, {"roles": ["r"] * 9}, {"label": ""},
    {"meaning": "x" * 501}, {"headline": 3}, {"role_labels": {"other": "x"}}, {"stretchable": ["other"]},
    {"role_labels": "bar"},
])
def test_a_records_format_is_checked_field_by_field(change):
    described = {**TOY.describe(), **change}
    content = json.dumps({"version": 3, "layer": "conv1", "method": "channel_mean", "format": described}).encode()
    with pytest.raises(metadata.FormatError):
        metadata.parse_plugin_content(content)


@pytest.mark.parametrize("name", ["", "Am", "1am", "a/b", "a" * 65, None, "am-x"])
def test_method_names_are_plain_identifiers(name):
    with pytest.raises(metadata.FormatError):
        metadata.check_method_name(name)


def test_a_header_nested_deeper_than_the_format_allows_is_a_format_error():
    """Valid JSON 600 deep once raised RecursionError (not FormatError) after decoding, and the
    plugin lost the whole run instead of one record."""
    good = json.loads(metadata.encode_header(layer="l", method="am", channels=[0, 1], numbers={"a": [1, 2]},
                                             image_shape=(1, 1, 1)))
    for where in ("numbers", "settings"):
        nested = 0.5
        for _ in range(600):
            nested = [nested]
        header = json.loads(json.dumps(good))
        if where == "numbers":
            header["numbers"]["a"][0] = nested
        else:
            header["settings"]["deep"] = nested
        with pytest.raises(metadata.FormatError, match="nested deeper than"):
            metadata.decode_header(json.dumps(header).encode())
    for text in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        with pytest.raises(metadata.FormatError):
            metadata.parse_plugin_content(text)
    # As deep as the format's own records go still reads (occlusion's scores: [row][col] per image).
    header = json.loads(json.dumps(good))
    header["numbers"]["a"] = [[[1.0, 2.0], [3.0, 4.0]], None]
    assert metadata.decode_header(json.dumps(header).encode())["numbers"]["a"][0][1] == [3.0, 4.0]


def test_records_of_arrays_are_version_4_and_claimed_by_no_older_record():
    """Version 4: a method's elements may be arrays. Its records (only those) say version 4, so a
    version 3 reader refuses them as newer instead of drawing .npy bytes as broken images; a
    record that claims arrays under an older version is refused."""
    similarity = metadata.FORMATS["similarity"]
    assert similarity.elements == metadata.ARRAY and metadata.FORMAT_VERSION == 4
    content = metadata.parse_plugin_content(metadata.create_summary_metadata("conv1", "similarity")
                                            .plugin_data.content)
    assert content["version"] == 4 and content["format"] == similarity
    header = metadata.decode_header(metadata.encode_header(
        layer="conv1", method="similarity", channels=[0], numbers={"variance": [2.0]}, image_shape=(10,)))
    assert header["version"] == 4 and header["roles"] == ["gram"]
    for name in ("am", "deconv", "weights", "occlusion"):
        assert metadata.parse_plugin_content(metadata.create_summary_metadata("c", name).plugin_data.content)[
            "version"] == 3
    claimed = json.dumps({"version": 3, "layer": "c", "method": "similarity", "format": similarity.describe()})
    with pytest.raises(metadata.FormatError, match="version 3 record cannot hold arrays"):
        metadata.parse_plugin_content(claimed.encode())
    unknown = json.dumps({"version": 4, "layer": "c", "method": "x", "format": {**TOY.describe(), "elements": "wav"}})
    with pytest.raises(metadata.FormatError, match="elements are one of"):
        metadata.parse_plugin_content(unknown.encode())
    with pytest.raises(metadata.FormatError, match="only PNG images can be stretched"):
        metadata.MethodFormat("x", "X", ("a",), "n", "m", "missing", stretchable=("a",), elements=metadata.ARRAY)
