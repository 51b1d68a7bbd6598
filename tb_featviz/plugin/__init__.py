"""The TensorBoard plugin: serves what `FeatVizCallback` wrote, to the dashboard in `frontend/`.

TensorFlow-free by design: it reads records only through TensorBoard's data provider and
understands them only through `tb_featviz.metadata`, the format contract.
"""
