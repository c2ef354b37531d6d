import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from cropviz.errors import CheckpointError
from cropviz.models.forest import RandomForest


def _toy(seed=0, n=300):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 5, 2)).astype(np.float32)
    x[:, 2, 0] += 2.0 * y  # only one date and band carries the class
    return x, y


def test_array_forest_reproduces_sklearn_probabilities():
    x, y = _toy()
    ours = RandomForest(num_classes=4, input_dim=2, n_estimators=15, max_depth=6, min_samples_leaf=2).fit(x, y)
    ref = RandomForestClassifier(n_estimators=15, max_depth=6, min_samples_leaf=2, random_state=0,
                                 n_jobs=-1, class_weight="balanced_subsample").fit(x.reshape(len(x), -1), y)
    xt, _ = _toy(seed=1, n=100)
    expected = ref.predict_proba(xt.reshape(len(xt), -1))
    got = ours.predict_proba(xt)
    assert got.shape == (100, 4)
    np.testing.assert_allclose(got[:, :3], expected, atol=1e-5)
    assert np.all(got[:, 3] == 0)  # a class never seen gets no probability


def test_save_and_load_without_pickle(tmp_path):
    x, y = _toy()
    forest = RandomForest(num_classes=3, input_dim=2, n_estimators=5).fit(x, y)
    path = tmp_path / "rf.npz"
    forest.save(path, {"hello": "world"})
    loaded, meta = RandomForest.load_arrays(path)
    assert meta == {"hello": "world"}
    np.testing.assert_array_equal(loaded.predict_proba(x), forest.predict_proba(x))


def test_corrupt_forest_file_is_a_clear_error(tmp_path):
    path = tmp_path / "rf.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="rf.npz: not a cropviz Random Forest file"):
        RandomForest.load_arrays(path)
