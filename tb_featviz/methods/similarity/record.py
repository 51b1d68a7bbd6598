"""A similarity result as a record (docs/FORMAT.md, method "similarity"), and back."""

from __future__ import annotations

import numpy as np

from tb_featviz import metadata, summary


def similarity_record(layer: str, result) -> summary.Record:
    """A `SimilarityResult`: one item (the layer), one array element: its centred Gram matrix
    as stored (`SimilarityResult.stored`), float32."""
    form, array = result.stored()
    numbers = {"variance": [result.variance()], "features": [result.features], "probes": [result.probes]}
    layout = {"item": "layer", "gram": {"form": form, "probes": result.probes, "shape": list(array.shape)}}
    return summary.make_record(layer, metadata.METHOD_SIMILARITY, [0], [[array]], numbers,
                               settings=dict(result.settings), layout=layout)


def gram_of(header: dict, elements) -> np.ndarray:
    """The centred Gram matrix (n × n, float64) a record stores: `header` and `elements` as
    `tb_featviz.records.read_records` gives them."""
    from tb_featviz.records import decode_array

    stored = header["layout"]["gram"]
    n, form = int(stored["probes"]), stored["form"]
    values = decode_array(elements[0]).astype(np.float64)
    if form == "factor":
        return values @ values.T
    if form != "upper" or values.shape != (n * (n + 1) // 2,):
        raise ValueError(f"a similarity record's Gram matrix is stored as {form!r} with shape {values.shape}")
    gram = np.zeros((n, n))
    gram[np.triu_indices(n)] = values
    return gram + np.triu(gram, 1).T
