import numpy as np
import pytest
import torch

from cropviz.errors import CheckpointError, ConfigurationError
from cropviz.models import build, load, names, spec
from cropviz.models.checkpoint import ModelInfo, save

REGISTRY = ["transformer", "lstm", "tempcnn", "msresnet", "inceptiontime", "starrnn", "omniscalecnn",
            "gru", "cnn", "cnn_gru7", "cnn_gru8", "cnn_gru9", "convlstm", "elects", "random_forest"]


def test_registry_names_are_the_documented_ones():
    assert names() == REGISTRY


def test_unknown_model_names_the_choices():
    with pytest.raises(ConfigurationError, match="unknown model 'resnet50'; choose one of: transformer"):
        spec("resnet50")


def _info(arch="elects", classes=("a", "b", "c")):
    return ModelInfo(arch=arch, classes=list(classes), bands=[f"B{i}" for i in range(13)], sequence_length=70)


def test_our_checkpoint_round_trips_with_its_card(tmp_path):
    torch.manual_seed(0)
    model = build("elects", num_classes=3, input_dim=13, hidden_dims=16, num_layers=1).eval()
    info = _info()
    info.hparams = dict(hidden_dims=16, num_layers=1)
    info.card = {"data": "unit test"}
    path = save(tmp_path / "elects.pt", model, info)
    loaded = load(path, device="cpu")
    x = torch.rand(4, 70, 13)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    assert loaded.cropviz_info.classes == ["a", "b", "c"]
    assert loaded.cropviz_info.card["data"] == "unit test"
    assert not loaded.training


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"model_state": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pt: refused: the file contains pickled objects"):
        load(path, arch="transformer")
    assert not marker.exists()


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.pt: not a PyTorch checkpoint"):
        load(path, arch="transformer")


def test_a_checkpoint_for_other_classes_names_the_mismatch(tmp_path):
    model = build("elects", num_classes=5, input_dim=13, hidden_dims=16, num_layers=1)
    path = tmp_path / "five.pth"
    torch.save({"model_state": model.state_dict()}, path)
    with pytest.raises(CheckpointError) as caught:
        load(path, arch="elects")
    message = str(caught.value)
    assert message.startswith(f"{path}: does not fit 'elects'")
    assert "shape mismatch" in message and "\n" not in message


def test_a_published_file_needs_an_architecture(tmp_path):
    path = tmp_path / "published.pth"
    torch.save({"model_state": build("elects").state_dict()}, path)
    with pytest.raises(CheckpointError, match="no architecture recorded in the file; pass arch="):
        load(path)


def test_missing_shipped_weights_say_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("CROPVIZ_MODELS", str(tmp_path))
    with pytest.raises(CheckpointError, match="no shipped weights for 'lstm'; train them with `cropviz train"):
        load("lstm")
