"""Lazy package attributes: importing the packages is cheap, and every exported name still works."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "captum", "sklearn", "geopandas", "h5py", "plotly", "pydeck")


def test_packages_import_without_heavy_dependencies():
    code = ("import sys, cropviz, cropviz.explain, cropviz.models, cropviz.models.classifier, cropviz.data, "
            "cropviz.data.bands, cropviz.viz; "
            f"print(','.join(p for p in {HEAVY!r} if p in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


@pytest.mark.parametrize("package", ["cropviz.explain", "cropviz.models", "cropviz.data", "cropviz.viz"])
def test_every_exported_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018


def test_function_named_like_its_module_is_the_function():
    import cropviz.explain.region  # noqa: F401 - imports the submodule cropviz.explain.attention first
    from cropviz.explain import attention, attribute

    assert callable(attention) and attention.__module__ == "cropviz.explain.attention"
    assert attribute.__module__ == "cropviz.explain.attribution"


def test_store_and_precomputed_lookup_import_without_joblib_or_parquet_readers():
    code = ("import sys, cropviz.store, cropviz.scale.results, cropviz.workspace; "
            "print(','.join(p for p in ('joblib', 'pyarrow.dataset', 'pyarrow.parquet') if p in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
