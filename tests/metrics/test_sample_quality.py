"""Sample metrics for any generator: a non-VAE dummy generator through the same functions the stages use."""
import numpy as np
import pytest
import torch

from genlab.pipeline import Section
from genlab.metrics.sample_quality import class_balance, compare, inception_score, noise_images
from genlab.sampling import balanced_labels, draw_samples
from genlab.models.base import GenerativeModel

KID = Section({"subset_size": 50, "n_subsets": 20})


class Stripes(GenerativeModel):
    """Not a VAE: images of a horizontal stripe at a random row ('symmetric' view, values in [-1, 1])."""

    def __init__(self, n_classes: int = 0):
        super().__init__()
        self.n_classes = n_classes
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    def loss(self, x):
        return self.dummy.sum(), {}

    def sample(self, n, generator=None, labels=None):
        rows = torch.randint(0, 8, (n,), generator=generator) if labels is None else labels % 8
        x = -torch.ones(n, 1, 8, 8)
        x[torch.arange(n), 0, rows] = 1.0
        return x

    def to_unit(self, x):
        return (x + 1) / 2


def _features(images: torch.Tensor) -> np.ndarray:
    """A fixed 'feature network': the row profile of each image (8 features)."""
    return images.float().mean(dim=(1, 3)).numpy().astype(np.float64)


def test_dummy_generator_samples_are_uint8_images_and_seeded():
    model = Stripes()
    a = draw_samples(model, 70, 32, seed=3)
    assert a.dtype == torch.uint8 and a.shape == (70, 1, 8, 8) and set(a.unique().tolist()) == {0, 255}
    torch.testing.assert_close(a, draw_samples(model, 70, 32, seed=3))
    assert not torch.equal(a, draw_samples(model, 70, 32, seed=4))


def test_balanced_labels_follow_the_test_frequencies():
    test = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    labels = balanced_labels(7, test, 3)
    assert torch.bincount(labels, minlength=3).tolist() == [4, 2, 1]   # 3.5, 2.1, 1.4 -> largest remainders
    assert torch.bincount(balanced_labels(1000, test, 3)).tolist() == [500, 300, 200]


def test_fid_and_kid_of_a_dummy_generator_against_real_data():
    real = draw_samples(Stripes(), 400, 100, seed=0).float() / 255
    same, _ = compare(_features(draw_samples(Stripes(), 400, 100, seed=1).float() / 255), _features(real),
                      "dummy", KID, False, seed=0)
    # a generator of only the top four rows: a different distribution
    half = draw_samples(Stripes(n_classes=4), 400, 100, seed=1, labels=torch.arange(400) % 4).float() / 255
    other, detail = compare(_features(half), _features(real), "dummy", KID, False, seed=0)
    assert set(same) == {"fid_dummy", "kid_dummy", "kid_dummy_std"}
    assert same["fid_dummy"] < 0.05 * other["fid_dummy"]
    assert abs(same["kid_dummy"]) < 0.1 * other["kid_dummy"]
    assert detail["n_samples"] == 400 and detail["kid"]["subset_size"] == 50


def test_inception_fid_is_skipped_below_2048_samples_but_kid_is_not():
    rng = np.random.default_rng(0)
    values, detail = compare(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), "inception", KID, False, 0)
    assert "fid_inception" not in values and "kid_inception" in values
    assert "not computed" in detail["notes"][0]
    values, _ = compare(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), "inception", KID, True, 0)
    assert "fid_inception" in values


def test_noise_images_are_quantised_gaussian_pixels():
    x = noise_images(2000, (1, 4, 4), torch.Generator().manual_seed(0))
    assert x.dtype == torch.uint8
    assert x.float().mean().item() / 255 == pytest.approx(0.5, abs=0.01)


def test_inception_score_of_known_predictions():
    k = 10
    sure = np.eye(k)[np.repeat(np.arange(k), 100)]      # sure of its class, classes used equally, sorted by class
    assert inception_score(sure, splits=1) == (pytest.approx(k), pytest.approx(0.0))
    # split in a random order: a split of one class (score 1) would be the sorted order's artefact
    assert 9 < inception_score(sure, splits=10)[0] < k
    same = np.tile(np.full(k, 1 / k), (1000, 1))        # every sample the same p(y|x): no information
    assert inception_score(same, splits=10)[0] == pytest.approx(1.0)
    half = np.eye(k)[np.arange(1000) % 2]               # sure, but only two classes: exp(log 2) up to split noise
    assert inception_score(half, splits=5)[0] == pytest.approx(2.0, abs=0.02)
    # by hand: two samples p = (0.9, 0.1) and (0.1, 0.9), marginal (0.5, 0.5)
    kl = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert inception_score(np.array([[0.9, 0.1], [0.1, 0.9]]), splits=1)[0] == pytest.approx(np.exp(kl))


def test_pixel_spread_against_hand_computed_values():
    from genlab.metrics.sample_quality import pixel_spread

    same = torch.full((5, 1, 2, 2), 0.3)
    assert pixel_spread(same) == 0.0                              # one image for every z
    # pixel 0 takes 0 and 1 (population std 0.5), pixel 1 takes 0.2 and 0.6 (0.2), pixels 2-3 are constant
    pair = torch.tensor([[[[0.0, 0.2], [0.5, 0.5]]], [[[1.0, 0.6], [0.5, 0.5]]]])
    assert pixel_spread(pair) == pytest.approx((0.5 + 0.2 + 0 + 0) / 4)
    with pytest.raises(ValueError, match="at least two images"):
        pixel_spread(same[:1])


def test_class_balance_against_hand_computed_shares():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 2])                  # p = (1/4, 1/4, 1/2)
    probs = np.eye(3)[[0, 0, 0, 0, 0, 0, 2, 1]] * 0.8 + 0.2 / 3  # argmax classes: six 0s, one 2, one 1
    values, detail = class_balance(probs, labels)
    # q = (6/8, 1/8, 1/8): TV = (|3/4 - 1/4| + |1/8 - 1/4| + |1/8 - 1/2|) / 2 = (1/2 + 1/8 + 3/8) / 2 = 1/2
    assert values["class_tv_classifier"] == pytest.approx(0.5)
    # under half its share (q_k < p_k / 2): class 2 (1/8 < 1/4); class 1 sits exactly at half (1/8), not under
    assert values["classes_under_half_classifier"] == 1
    assert detail["sample_class_pct"] == [75.0, 12.5, 12.5] and detail["real_test_class_pct"] == [25.0, 25.0, 50.0]
    assert all(type(v) is float for v in detail["sample_class_pct"] + detail["real_test_class_pct"])   # plain JSON
    # the data's own class frequencies: 0; a generator of one class the data lacks entirely: 1
    same, _ = class_balance(np.eye(3)[labels], labels)
    assert same == {"class_tv_classifier": 0.0, "classes_under_half_classifier": 0}
    only_missing, _ = class_balance(np.eye(4)[[3, 3, 3]], np.array([0, 1, 2]), network="net")
    assert only_missing == {"class_tv_net": pytest.approx(1.0), "classes_under_half_net": 3}


def test_class_balance_names_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"labels span \[0, 5\], outside the 3 classes"):
        class_balance(np.eye(3), np.array([0, 5]))
    with pytest.raises(ValueError, match="must be non-empty"):
        class_balance(np.zeros((0, 3)), np.array([0]))
