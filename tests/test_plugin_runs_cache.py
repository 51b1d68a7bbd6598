"""/runs answers a poll from its cached listing while TensorBoard's run list stands, however long
the listing took (TensorBoard's own data provider, in process)."""

import json
import time

from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.context import RequestContext

from tb_featviz.plugin import reader
from tests.logs import ONE_BAD_RUN, write_one_bad_record_each


class SlowListing(data_provider.MultiplexerDataProvider):
    """TensorBoard's Python-loader provider, listing as slowly as 10,000 runs make it; counted."""

    def __init__(self, multiplexer, logdir, delay):
        super().__init__(multiplexer, logdir)
        self.delay, self.listings = delay, 0

    def list_blob_sequences(self, *args, **kwargs):
        self.listings += 1
        time.sleep(self.delay)
        return super().list_blob_sequences(*args, **kwargs)


def test_a_listing_slower_than_the_ttl_is_still_reused_for_the_ttl(tmp_path, monkeypatch):
    """The answer's age once counted from the request: a listing slower than the TTL (8 s for
    10,000 runs under --load_fast=false) was redone on every poll."""
    write_one_bad_record_each(str(tmp_path))
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    monkeypatch.setattr(reader, "_LISTING_TTL", 1.0)
    provider = SlowListing(multiplexer, str(tmp_path), delay=1.2)
    records = reader.RecordReader(provider)
    answer = json.loads(records.runs(RequestContext(), ""))
    assert [run["name"] for run in answer["runs"]] == [ONE_BAD_RUN] and provider.listings == 1
    assert json.loads(records.runs(RequestContext(), "")) == answer
    assert provider.listings == 1  # the poll right after the listing reused it
    time.sleep(1.1)
    records.runs(RequestContext(), "")
    assert provider.listings == 2  # and after the TTL, listed again
