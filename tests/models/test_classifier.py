"""The LeNet-style classifier, CAS and the feature pipeline behind fid_classifier."""
from __future__ import annotations

import torch

from genlab.config import ClassifierConfig
from genlab.metrics.classifier import accuracy, build_classifier, features, fit_classifier
from genlab.models.classifier import LeNetClassifier
from tests.conftest import synthetic_digits

CFG = ClassifierConfig.model_validate({
    "dataset": "mnist",
    "model": {"channels": [4, 8], "features": 16, "dropout": 0.0},
    "train": {"epochs": 2, "batch_size": 32, "lr": 3e-3, "optimizer": "adam", "n_train": None},
    "evaluate": {"batch_size": 50, "min_accuracy": 0.5},
})


def _data(n: int, seed: int):
    x_u8, y = synthetic_digits(n, seed=seed)
    return torch.from_numpy(x_u8).float()[:, None] / 255, torch.from_numpy(y).long()


def test_shapes_and_features():
    model = LeNetClassifier((1, 28, 28), (4, 8), features=16)
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10) and model.features(x).shape == (5, 16)
    assert (model.features(x) >= 0).all()  # after the ReLU


def test_features_do_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    model = build_classifier(CFG, (1, 28, 28))
    x = torch.rand(37, 1, 28, 28)
    a, b = features(model, x, 5), features(model, x, 37)
    assert torch.allclose(a, b, atol=1e-5)


def test_cas_on_real_data_equals_the_classifiers_plain_test_accuracy(tmp_path):
    """CAS trains the classifier, with its own params, on (sample, label) pairs: fed real training
    images it is the reference classifier, image for image and weight for weight."""
    x, y = _data(400, 0)
    x_test, y_test = _data(200, 1)
    reference, _ = fit_classifier(x, y, CFG, seed=3, checkpoint_path=tmp_path / "ref.pt", fingerprint="ref")
    cas_model, _ = fit_classifier(x, y, CFG, seed=3, checkpoint_path=tmp_path / "cas.pt", fingerprint="cas")
    ref_acc = accuracy(reference, x_test, y_test, 50)
    assert accuracy(cas_model, x_test, y_test, 50) == ref_acc
    assert ref_acc > 0.5  # it learnt the synthetic digits (chance: 0.1)


def test_classifier_trained_on_shuffled_labels_is_near_chance(tmp_path):
    x, y = _data(400, 0)
    x_test, y_test = _data(200, 1)
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    model, _ = fit_classifier(x, shuffled, CFG, seed=3, checkpoint_path=tmp_path / "c.pt", fingerprint="c")
    assert accuracy(model, x_test, y_test, 50) < 0.35
