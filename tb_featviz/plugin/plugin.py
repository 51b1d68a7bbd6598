"""The TBPlugin: HTTP routes under /data/plugin/featviz/ and the frontend's static files.

Routes (all GET; JSON unless noted):
  /runs                                   every run with featviz records (one listing call)
  /run?run                                one run's layers (model order) → methods → epochs
  /scalars?run                            Keras's epoch_* curves beside the run, on its epoch axis
  /grid?run&layer&method[&step]           every channel at one epoch (latest if no step)
  /evolution?run&layer&method&channel[&role]  one channel at every epoch
  /image?key                              PNG bytes as stored (cacheable: URLs change when data does)
  /cka?run&method[&layer][&step][&compare]  linear CKA between records of Gram matrices (similarity.py)
  /static/<file>                          the frontend (frontend/ in the source tree)

Bad or unknown parameters raise TensorBoard's public errors, which TensorBoard answers with
400/404 and the message as text; nothing a client sends can produce a 500.
"""

from __future__ import annotations

import functools
import logging
import re

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_featviz import metadata
from tb_featviz.plugin import assets
from tb_featviz.plugin.reader import RecordReader
from tb_featviz.plugin.scalars import KerasScalars
from tb_featviz.plugin.similarity import SimilarityReader

logger = logging.getLogger(__name__)

_MAX_PARAM_LENGTH = 4096
_IMAGE_CACHE_SECONDS = 24 * 3600


def _never_500(route):
    """Unexpected failures reading an event file become a 404 naming them, logged in full."""

    @functools.wraps(route)
    def guarded(self, request):
        try:
            return route(self, request)
        except errors.PublicError:
            raise
        except Exception as error:  # noqa: BLE001 - see the docstring
            logger.exception("featviz: %s failed", request.path)
            raise errors.NotFoundError(
                f"the records behind this request could not be read "
                f"({type(error).__name__}: {str(error)[:200]}); see TensorBoard's log"
            ) from None

    return guarded


class FeatVizPlugin(base_plugin.TBPlugin):
    """Per-epoch channel grids and per-channel evolution of FeatVizCallback's records."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._reader = RecordReader(context.data_provider)
        self._scalars = KerasScalars(context.data_provider)
        self._similarity = SimilarityReader(context.data_provider, self._reader)

    def get_plugin_apps(self) -> dict:
        return {
            "/runs": self._serve_runs,
            "/run": self._serve_run,
            "/scalars": self._serve_scalars,
            "/grid": self._serve_grid,
            "/evolution": self._serve_evolution,
            "/image": self._serve_image,
            "/cka": self._serve_cka,
            "/static/*": self._serve_static,
        }

    def is_active(self) -> bool:
        # TensorBoard decides activity from data_plugin_names() and the data provider.
        return False

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(
            es_module_path="/static/index.js", tab_name="FeatViz"
        )

    # ---- routes ---------------------------------------------------------------------------
    # Every route, the static files included, is wrapped by `_never_500`: the reader validates
    # what it reads, and anything it did not foresee in an event file or a path is still
    # answered with a message, never a 500.

    @wrappers.Request.application
    @_never_500
    def _serve_runs(self, request):
        ctx, experiment = _context(request)
        return _json(request, self._reader.runs(ctx, experiment))

    @wrappers.Request.application
    @_never_500
    def _serve_run(self, request):
        ctx, experiment = _context(request)
        run = _str_param(request, "run", required=True)
        return _json(request, self._reader.run(ctx, experiment, run))

    @wrappers.Request.application
    @_never_500
    def _serve_scalars(self, request):
        ctx, experiment = _context(request)
        run = _str_param(request, "run", required=True)
        return _json(request, self._scalars.scalars(ctx, experiment, run))

    @wrappers.Request.application
    @_never_500
    def _serve_grid(self, request):
        ctx, experiment = _context(request)
        run, layer, method = _series_params(request)
        step = _int_param(request, "step", required=False, maximum=metadata.MAX_STEP)
        return _json(request, self._reader.grid(ctx, experiment, run, layer, method, step))

    @wrappers.Request.application
    @_never_500
    def _serve_evolution(self, request):
        ctx, experiment = _context(request)
        run, layer, method = _series_params(request)
        channel = _int_param(request, "channel", required=True, maximum=metadata.MAX_CHANNEL_INDEX - 1)
        role = _str_param(request, "role", required=False)  # default: the method's first
        answer = self._reader.evolution(ctx, experiment, run, layer, method, channel, role)
        return _json(request, answer)

    @wrappers.Request.application
    @_never_500
    def _serve_image(self, request):
        ctx, _ = _context(request)
        key = _str_param(request, "key", required=True)
        if not re.fullmatch(r"[A-Za-z0-9._~-]+", key):
            raise errors.InvalidArgumentError("parameter 'key' is not a blob key")
        data = self._reader.image(ctx, key)
        return http_util.Respond(request, data, "image/png", expires=_IMAGE_CACHE_SECONDS)

    @wrappers.Request.application
    @_never_500
    def _serve_cka(self, request):
        ctx, experiment = _context(request)
        run = _str_param(request, "run", required=True)
        method = _method_param(request)
        layer = _str_param(request, "layer", required=False)
        step = _int_param(request, "step", required=False, maximum=metadata.MAX_STEP)
        compare = _str_param(request, "compare", required=False)
        return _json(request, self._similarity.similarity(ctx, experiment, run, method, layer, step, compare))

    @wrappers.Request.application
    @_never_500
    def _serve_static(self, request):
        name = request.path.rsplit("/static/", 1)[-1]
        found = assets.read_frontend_file(name)
        if found is None:
            raise errors.NotFoundError(f"no frontend file {name[:80]!r}")
        data, content_type = found
        return http_util.Respond(request, data, content_type)


def _context(request):
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def _json(request, body: dict | bytes):
    return http_util.Respond(request, body, "application/json")


def _series_params(request) -> tuple[str, str, str]:
    run = _str_param(request, "run", required=True)
    layer = _str_param(request, "layer", required=True)
    return run, layer, _method_param(request)


def _method_param(request) -> str:
    method = _str_param(request, "method", required=True)
    try:
        return metadata.check_method_name(method)
    except metadata.FormatError as error:
        raise errors.InvalidArgumentError(str(error)) from None


def _str_param(request, name: str, *, required: bool) -> str | None:
    values = request.args.getlist(name)
    if not values:
        if required:
            raise errors.InvalidArgumentError(f"missing parameter {name!r}")
        return None
    if len(values) > 1:
        raise errors.InvalidArgumentError(f"parameter {name!r} given {len(values)} times")
    value = values[0]
    if len(value) > _MAX_PARAM_LENGTH:
        raise errors.InvalidArgumentError(f"parameter {name!r} is too long")
    return value


def _int_param(request, name: str, *, required: bool, maximum: int) -> int | None:
    value = _str_param(request, name, required=required)
    if value is None or (value == "" and not required):
        return None
    if not re.fullmatch(r"\d{1,%d}" % len(str(maximum)), value) or int(value) > maximum:
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be a non-negative integer up to {maximum}, got {value[:40]!r}"
        )
    return int(value)
