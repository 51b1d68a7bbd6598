"""Property-based tests of every plugin route with arbitrary query strings (hypothesis), against a
real `tensorboard`: never a 500, never a traceback in the body, answers bounded in size."""

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.logs import HOSTILE_LAYER, HOSTILE_RUN

ROUTES = ["runs", "run", "scalars", "grid", "evolution", "image", "cka", "static/index.js", "static/../../etc/passwd",
          "static/" + "a" * 256 + ".js"]  # a name too long for the file system
NAMES = ["run", "layer", "method", "step", "channel", "role", "key", "v", "compare"]
REAL_VALUES = ["baseline", "no_probes", "future", "crafted", HOSTILE_RUN, "conv1", "conv2", HOSTILE_LAYER,
               "am", "deconv", "weights", "similarity", "image", "patches", "projections", "gram", "0", "3", "12", "-1"]
MAX_BODY = 5_000_000

values = st.one_of(
    st.sampled_from(REAL_VALUES),
    st.text(max_size=60),
    st.integers(-10**15, 10**15).map(str),
    st.floats(allow_nan=True).map(str),
)
queries = st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), st.text(max_size=12)), values), max_size=8)


def check(server, path):
    status, body, headers = server.get(path)
    assert status in (200, 400, 404), (path, status, body[:300])
    assert b"Traceback" not in body, path
    assert len(body) < MAX_BODY, path
    if status == 200 and not path.startswith(("/data/plugin/featviz/image", "/data/plugin/featviz/static")):
        assert headers["Content-Type"].startswith("application/json")
        json.loads(body)
    elif status != 200:
        assert headers["Content-Type"].startswith("text/plain"), path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), query=queries)
def test_any_named_parameters(server, route, query):
    check(server, f"/data/plugin/featviz/{route}?{urllib.parse.urlencode(query)}")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=200))
def test_any_raw_query_bytes(server, route, raw):
    # Raw bytes, percent-encoded as a client would put them on the wire: broken UTF-8, '&&==', NULs.
    check(server, f"/data/plugin/featviz/{route}?{urllib.parse.quote(raw, safe='=&')}")
