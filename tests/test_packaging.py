"""A non-editable install (a wheel, as `pip install tb-featviz` gives) serves the dashboard."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.tensorboard_server import TensorBoardServer

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = sorted(p.name for p in (ROOT / "frontend").iterdir() if p.suffix in (".js", ".css"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Builds the wheel from a copy of the source, so the checkout stays clean."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("tb_featviz", "frontend"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "dist"), str(source)],
        check=True, timeout=300,
    )
    (path,) = (work / "dist").glob("tb_featviz-*.whl")
    return path


def test_wheel_contains_the_frontend_and_the_tensorboard_entry_point(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {f"tb_featviz/frontend/{name}" for name in FRONTEND} <= names
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "[tensorboard_plugins]" in text
    assert "featviz = tb_featviz.plugin.loader:FeatVizLoader" in text


@pytest.mark.slow
def test_installed_wheel_serves_the_dashboard(wheel, tmp_path, featviz_logdir):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True, timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import tb_featviz; print(tb_featviz.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert where.startswith(str(target)), where  # the installed copy, not the checkout

    with TensorBoardServer(featviz_logdir, env=env, cwd=str(tmp_path)) as tb:
        assert tb.wait_for_plugin()["featviz"]["enabled"] is True
        for name in FRONTEND:
            status, body, _ = tb.get(f"/data/plugin/featviz/static/{name}")
            assert status == 200 and body == (target / "tb_featviz" / "frontend" / name).read_bytes()
        assert tb.json("/data/plugin/featviz/runs")["runs"]
