"""The MNIST classifier's figures: test accuracy, penultimate features, and CAS (Ravuri & Vinyals 2019).

CAS trains the classifier architecture, with exactly the params of the reference
classifier, on labelled samples of a class-conditional model instead of real images and
reports its accuracy on the real test split; trained on real images it is the reference
classifier itself, so the two rows share one protocol.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.views import TensorBatches
from genlab.metrics.contraction import batched
from genlab.models.classifier import LeNetClassifier
from genlab.training.loop import trainer_for


def build_classifier(cfg, image_shape: tuple[int, int, int], n_classes: int = 10) -> LeNetClassifier:
    m = cfg.model
    return LeNetClassifier(image_shape, tuple(m.channels), m.features, m.dropout, n_classes)


def fit_classifier(x: torch.Tensor, y: torch.Tensor, cfg, seed: int, checkpoint_path: Path, fingerprint: str,
                   device: torch.device | str = "cpu", x_valid: torch.Tensor | None = None,
                   y_valid: torch.Tensor | None = None, log_metrics=None, n_classes: int = 10):
    """Train the classifier on images x in [0, 1] with labels y; resumable through `checkpoint_path`."""
    torch.manual_seed(seed)
    model = build_classifier(cfg, tuple(x.shape[1:]), n_classes).to(device)
    x, y = x[: cfg.train.n_train], y[: cfg.train.n_train]

    def validate(m) -> dict[str, float]:  # CAS has no validation split of samples: nothing to log
        if x_valid is None:
            return {}
        logits = batched(m, x_valid, cfg.evaluate.batch_size, device)
        return {"loss": torch.nn.functional.cross_entropy(logits, y_valid).item(),
                "error": (logits.argmax(1) != y_valid).float().mean().item()}

    trainer = trainer_for(model, TensorBatches(x, y), cfg.train, checkpoint_path=checkpoint_path,
                          fingerprint=fingerprint, device=device, seed=seed, validate=validate)
    trainer.restore()
    trainer.fit(log_metrics=log_metrics)
    model.eval()
    return model, trainer


def accuracy(model: LeNetClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int,
             device: torch.device | str = "cpu") -> float:
    was_training = model.training
    model.eval()
    pred = batched(model, x, batch_size, device).argmax(1)
    model.train(was_training)
    return (pred == y).float().mean().item()


def features(model: LeNetClassifier, x: torch.Tensor, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Penultimate-layer features of images x in [0, 1]: (N, n_features)."""
    model.eval()
    return batched(model.features, x, batch_size, device)


def class_probabilities(model: LeNetClassifier, x: torch.Tensor, batch_size: int,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """p(y | x) of images x in [0, 1]: (N, n_classes)."""
    model.eval()
    return torch.softmax(batched(model, x, batch_size, device), dim=1)
