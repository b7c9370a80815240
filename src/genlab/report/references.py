"""The papers' figures we set ours beside (../shared/PAPERS.md), one entry per compared figure.

`ours` names the field of metrics/<scale>/<model>.json that is compared and `sign` turns
it into the paper's convention (the papers report log-likelihoods, we store NLLs).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    model: str
    dataset: str
    metric: str
    unit: str
    paper: float | None
    paper_source: str
    ours: str
    sign: float = 1.0
    note: str = ""


REFERENCES: tuple[Reference, ...] = (
    # ---- PAPERS.md §3: VAE on binarized MNIST
    Reference("vae_mlp", "mnist", "test negative ELBO", "bits/dim", 0.1377,
              "seed 002 (UvA DL 2020 assignment 3): MLP VAE z=20, hidden 512, Adam 1e-3, batch 128, 80 epochs",
              "test_nelbo_bpd",
              note="seed 002 names no binarization; its 0.1377 bpd (74.8 nats) is far below the ~85+ nats VAEs "
                   "reach on stochastically binarized MNIST, so vae_mlp thresholds at 0.5 (an inference, not "
                   "stated by seed 002)"),
    Reference("vae_mlp", "mnist", "test negative ELBO, course pass threshold", "bits/dim", 0.16,
              "seed 002: the course's pass mark (< 0.16 bpd), not a result", "test_nelbo_bpd"),
    Reference("vae_mlp_sbin", "mnist", "test log-likelihood (VAE, k=1 training)", "nats", -86.76,
              "Burda et al. 2016 (IWAE) Table 1, 1 stochastic layer; confirmed via reproduction READMEs",
              "test_niwae_nats", sign=-1.0,
              note="paper: 2 deterministic tanh layers of 200 units, 50 latents, thousands of epochs with a "
                   "decaying learning rate, estimate with k=5000; ours: the 784-512-20 ReLU MLP of seed 002 with its "
                   "80 epochs of Adam 1e-3, the same (stochastic) binarization, the k in the protocol column"),
    Reference("vae_mlp_sbin", "mnist", "test log-likelihood (IWAE, k=50 training)", "nats", -84.78,
              "Burda et al. 2016 (IWAE) Table 1, 1 stochastic layer; confirmed via reproduction READMEs",
              "test_niwae_nats", sign=-1.0,
              note="context only: the paper's model is trained with the k=50 IWAE objective, ours with the ELBO"),
    Reference("vae_mlp_sbin", "mnist", "test NLL upper bound (negative ELBO)", "nats", 86.77,
              "pytorch-generative README (VAE, ≤ 86.77)", "test_nelbo_nats",
              note="dynamically binarized MNIST as ours; their architecture differs"),
    # ---- our other figures: no paper number, reported for comparison
    Reference("vae_mlp", "mnist", "test log-likelihood (IWAE bound)", "nats", None,
              "no paper figure for threshold-binarized MNIST", "test_niwae_nats", sign=-1.0),
    Reference("vae_mlp", "mnist", "test negative IWAE bound", "bits/dim", None,
              "no paper figure (seed 002 reports the negative ELBO)", "test_niwae_bpd"),
    Reference("vae_mlp_z2", "mnist", "test negative ELBO", "bits/dim", None,
              "seed 002 fig. 3 (manifold only; no figure reported)", "test_nelbo_bpd",
              note="z_dim=2 trades likelihood for a visualisable latent space"),
    Reference("vae_conv", "mnist", "test negative ELBO", "bits/dim", None,
              "seed 002 §1.12: the CNN VAE beats the MLP VAE (no figure reported)", "test_nelbo_bpd"),
    Reference("vae_conv", "mnist", "test log-likelihood (IWAE bound)", "nats", None,
              "no paper figure", "test_niwae_nats", sign=-1.0),
)


# ---- PAPERS.md §2: Rifai et al. 2011, Table 1 (MNIST, 1000 hidden units)
_RIFAI = "Rifai et al. 2011 (CAE), Table 1, MNIST"
_RIFAI_TABLE = {  # model: (error %, ||J||_F, SAT %)
    "cae": (1.14, 0.73e-4, 86.36), "dae_g": (1.18, 0.86e-4, 17.77), "dae_b": (1.57, 7.87e-4, 68.19),
    "ae_wd": (1.68, 5.00e-4, 12.97), "ae": (1.78, 17.5e-4, 49.90),
}
_J_NOTE = ("the paper's ||J||_F values (1e-4 scale) are in a normalisation it does not state; ours is the plain "
           "Frobenius norm of the encoder Jacobian on [0, 1] inputs: compare the ordering across models, not values")
for _m, (_err, _jac, _sat) in _RIFAI_TABLE.items():
    REFERENCES += (
        Reference(_m, "mnist", "test error, MLP fine-tuned from the encoder", "%", _err, _RIFAI,
                  "test_error_finetuned_pct", note="CAE row from a secondary copy of the table" if _m == "cae" else ""),
        Reference(_m, "mnist", "test error, linear probe on frozen features", "%", None,
                  "no paper figure (logistic regression on the pretrained features)", "test_error_probe_pct"),
        Reference(_m, "mnist", "mean ||J_f(x)||_F over test inputs", "", _jac, _RIFAI, "jacobian_fro_mean",
                  note=_J_NOTE),
        Reference(_m, "mnist", "saturated hidden units (SAT)", "%", _sat, _RIFAI, "saturated_pct",
                  note="our threshold: h < 0.05 or h > 0.95 (the paper's is not in PAPERS.md)"),
    )

# ---- PAPERS.md §7 (seed 001's FID table) and §5/§9 (CAS): sample metrics and their reference rows
_SEED001 = "seed 001 (MNIST, Inception FID; sample counts and pre-processing not stated)"
_FID_NOTE = ("Inception FID on MNIST is discouraged by the FID authors; compare fid_classifier rows among "
             "themselves only (same classifier weights)")
REFERENCES += (
    Reference("real_data", "mnist", "FID, real train vs real test (Inception)", "", 0.005, _SEED001,
              "fid_inception", note=_FID_NOTE),
    Reference("real_data", "mnist", "Fréchet classifier distance, real train vs real test", "", None,
              "no paper figure (our classifier's features)", "fid_classifier"),
    Reference("gaussian_noise", "mnist", "FID, Gaussian-noise images vs real test (Inception)", "", 83.06, _SEED001,
              "fid_inception", note="seed 001 does not define its noise; ours: pixels N(0.5, 0.25^2) clipped to [0, 1]"),
    Reference("gaussian_noise", "mnist", "Fréchet classifier distance, Gaussian noise vs real test", "", None,
              "no paper figure (our classifier's features)", "fid_classifier"),
    Reference("vae_conv_cond", "mnist", "FID (Inception)", "", 33.11, _SEED001 + ": CVAE", "fid_inception",
              note="seed 001's CVAE is read both ways (class-conditional here, convolutional in vae_conv)"),
    Reference("vae_conv", "mnist", "FID (Inception)", "", 33.11, _SEED001 + ": CVAE", "fid_inception",
              note="seed 001's CVAE read as a convolutional VAE"),
    Reference("vae_conv_cond", "mnist", "CAS top-1, classifier trained on samples", "%", None,
              "Ravuri & Vinyals 2019 protocol (their figures are on ImageNet: PAPERS.md §5)", "cas_top1_pct",
              note="compare with the classifier row: the same classifier trained on real data"),
    Reference("classifier", "mnist", "CAS reference: classifier trained on real data, top-1", "%", None,
              "Ravuri & Vinyals 2019 protocol; ≥ 99.3% required of our feature classifier", "cas_top1_pct"),
)
REFERENCES += (
    Reference("vae_conv_cond", "mnist", "test negative ELBO of log p(x|y)", "bits/dim", None,
              "no paper figure (class-conditional: not comparable with the unconditional rows)", "test_nelbo_bpd"),
)
for _m in ("vae_mlp", "vae_mlp_sbin", "vae_mlp_z2", "vae_conv", "vae_conv_cond"):
    REFERENCES += (Reference(_m, "mnist", "Fréchet classifier distance to the real test split", "", None,
                             "no paper figure (our classifier's features)", "fid_classifier"),)
for _m in ("vae_mlp", "vae_mlp_sbin", "vae_mlp_z2"):
    REFERENCES += (Reference(_m, "mnist", "FID (Inception)", "", None, "no paper figure", "fid_inception"),)

# ---- PAPERS.md §4: van den Oord et al. 2017 (VQ-VAE), CIFAR-10 bits/dim; the VAE row
_VQVAE = "van den Oord et al. 2017 (VQ-VAE) §4.1, CIFAR-10 bits/dim: VAE / VQ-VAE / VIMCO 4.51 / 4.67 / 5.14"
REFERENCES += (
    Reference("vae_conv_cifar", "cifar10", "test negative ELBO (VAE)", "bits/dim", 4.51, _VQVAE, "test_nelbo_bpd",
              note="the paper's VAE architecture is not stated; ours: the conv VAE with a discretized logistic decoder"),
    Reference("vae_conv_cifar", "cifar10", "test negative IWAE bound", "bits/dim", None, "no paper figure",
              "test_niwae_bpd"),
    Reference("vae_conv_cifar", "cifar10", "KID (Inception)", "", None, "no paper figure (Bińkowski et al. 2018 "
              "estimator; raw, not x1000)", "kid_inception"),
    Reference("vae_conv_cifar", "cifar10", "FID (Inception)", "", 155.7, "Lucic et al. 2018 best VAE FID on "
              "CIFAR-10 (unconfirmed)", "fid_inception", note="their VAE differs; context only"),
    Reference("real_data", "cifar10", "KID, real train vs real test (Inception)", "", None, "no paper figure",
              "kid_inception"),
    Reference("gaussian_noise", "cifar10", "KID, Gaussian-noise images vs real test (Inception)", "", None,
              "no paper figure", "kid_inception"),
)
for _m in ("vae_mlp", "vae_mlp_sbin", "vae_mlp_z2", "vae_conv", "vae_conv_cond", "real_data", "gaussian_noise"):
    REFERENCES += (Reference(_m, "mnist", "KID in classifier features", "", None,
                             "no paper figure (our classifier's features; raw, not x1000)", "kid_classifier"),)

# ---- PAPERS.md §8: normalizing flows, test bits/dim of dequantized 8-bit data
_FLOWS = "PAPERS.md §8"
REFERENCES += (
    Reference("realnvp_cifar", "cifar10", "test bits/dim (exact, dequantized)", "bits/dim", 3.49,
              "Dinh et al. 2017 (RealNVP), CIFAR-10 test", "test_bpd",
              note="a public reimplementation reaches 3.70 after 20 epochs (PAPERS.md §10)"),
    Reference("realnvp_mnist", "mnist", "test bits/dim (exact, dequantized)", "bits/dim", 1.06,
              "FFJORD's table (Grathwohl et al. 2019), as cited in PAPERS.md §8: Dinh et al. give no MNIST figure",
              "test_bpd", note="from a later paper's table; our MNIST configuration is ours (see params.yaml)"),
    Reference("realnvp_mnist", "mnist", "Fréchet classifier distance to the real test split", "", None,
              "no paper figure (our classifier's features; samples at temperature 1)", "fid_classifier"),
    Reference("realnvp_mnist", "mnist", "KID in classifier features", "", None,
              "no paper figure (our classifier's features; raw, not x1000)", "kid_classifier"),
    Reference("realnvp_cifar", "cifar10", "KID (Inception)", "", None, "no paper figure (samples at temperature 1)",
              "kid_inception"),
)

# ---- PAPERS.md §7: GANs on MNIST
_LUCIC = "Lucic et al. 2018 ('Are GANs created equal?'), best MNIST FID; unconfirmed (PAPERS.md §7)"
REFERENCES += (
    Reference("dcgan", "mnist", "FID (Inception)", "", 36.18, _SEED001 + ": DCGAN", "fid_inception",
              note=_FID_NOTE + "; seed 001's is an Inception FID with an unstated protocol"),
    Reference("dcgan", "mnist", "FID (Inception), NS-GAN", "", 6.8, _LUCIC, "fid_inception",
              note="their architecture and budget differ; best of a large hyper-parameter search"),
    Reference("wgan", "mnist", "FID (Inception)", "", 6.7, _LUCIC, "fid_inception",
              note="their architecture and budget differ; best of a large hyper-parameter search"),
    Reference("gan_mlp", "mnist", "FID (Inception), NS-GAN", "", 6.8, _LUCIC, "fid_inception",
              note="the same non-saturating loss; their architecture and budget differ; best of a large "
                   "hyper-parameter search"),
)
REFERENCES += (
    Reference("vae_gan", "mnist", "FID (Inception)", "", 26.45, _SEED001 + ": VAE-GAN", "fid_inception",
              note=_FID_NOTE + "; seed 001's is an Inception FID with an unstated protocol"),
    Reference("vae_gan", "mnist", "pixel MSE of Dec(mu(x)), test", "", None,
              "no paper figure (Larsen et al. argue pixel error is the wrong measure; shown for scale)",
              "test_pixel_mse"),
)
for _m in ("gan_mlp", "dcgan", "wgan", "vae_gan"):
    REFERENCES += (
        Reference(_m, "mnist", "Fréchet classifier distance to the real test split", "", None,
                  "no paper figure (our classifier's features)", "fid_classifier"),
        Reference(_m, "mnist", "KID in classifier features", "", None,
                  "no paper figure (our classifier's features; raw, not x1000)", "kid_classifier"),
    )
REFERENCES += (
    Reference("dcgan_cifar", "cifar10", "FID (Inception), NS-GAN", "", 58.5,
              "Lucic et al. 2018 ('Are GANs created equal?'), best CIFAR-10 FID; unconfirmed (PAPERS.md §7)",
              "fid_inception", note="their architecture and budget differ; at quick scale ours is the stand-in"),
    Reference("dcgan_cifar", "cifar10", "KID (Inception)", "", None, "no paper figure", "kid_inception"),
    Reference("wgan", "mnist", "critic's Earth-Mover estimate, last epoch", "", None,
              "Arjovsky et al. 2017 show it falling as samples improve (no value to compare)", "train_em_estimate"),
)

# ---- PAPERS.md §1: the GRU encoder-decoder translating alone, WMT'14 En->Fr newstest2014
_CHO14B = "Cho et al. 2014b ('On the Properties of NMT'), RNNenc: 1000 hidden, 620 emb, 30k vocab, <= 30 words, beam 10"
_BAHDANAU = "Bahdanau et al. 2015, RNNencdec-50 (PAPERS.md §1)"
REFERENCES += (
    Reference("gru_encdec", "wmt14_enfr", "test BLEU, all sentences", "BLEU", 13.92, _CHO14B, "test_bleu",
              note="sacrebleu corpus BLEU on detokenized text (signature in the protocol); the papers used "
                   "multi-bleu on tokenized text"),
    Reference("gru_encdec", "wmt14_enfr", "test BLEU, sentences without UNK", "BLEU", 23.45, _CHO14B,
              "test_bleu_no_unk", note="no <unk> in the source or the reference"),
    Reference("gru_encdec", "wmt14_enfr", "test BLEU, all sentences", "BLEU", 17.82, _BAHDANAU, "test_bleu",
              note="trained on sentences of up to 50 words"),
    Reference("gru_encdec", "wmt14_enfr", "test BLEU, sentences without UNK", "BLEU", 26.71, _BAHDANAU,
              "test_bleu_no_unk"),
    Reference("gru_encdec", "wmt14_enfr", "BLEU of the copy-the-source baseline", "BLEU", None,
              "no paper figure (the English source scored as the French translation)", "copy_source_bleu"),
    Reference("gru_encdec", "wmt14_enfr", "test BLEU with <unk{i}> not put back", "BLEU", None,
              "no paper figure (what copying the source's unknown words adds; only with copy_unks > 0)",
              "test_bleu_without_copy"),
    Reference("gru_encdec", "wmt14_enfr", "test perplexity per target token", "", None, "no paper figure",
              "test_perplexity"),
)

# ---- PAPERS.md §4-6: VQ-VAE, VQ-VAE-2 and their PixelCNN priors
_VQVAE = "van den Oord et al. 2017 (VQ-VAE) §4.1, CIFAR-10 test: VAE 4.51, VQ-VAE 4.67, VIMCO 5.14 (PAPERS.md §4)"
REFERENCES += (
    Reference("vqvae_cifar", "cifar10", "test bits/dim, VQ-VAE bound with the uniform prior", "bits/dim", 4.67, _VQVAE,
              "test_bpd_uniform_prior",
              note="latents 8x8x10 read as an 8x8 map of 10-d codes, K=512; the paper does not name its decoder "
                   "likelihood (ours: a discretized logistic per sub-pixel)"),
    Reference("prior_vqvae_cifar", "cifar10", "test bits/dim, bound with the fitted PixelCNN prior", "bits/dim",
              None, "no paper figure (the paper's 4.67 uses the uniform prior of training)", "test_bpd"),
    Reference("prior_vqvae_cifar", "cifar10", "PixelCNN prior NLL of the test codes", "bits/code", None,
              "no paper figure", "test_bits_per_code"),
    Reference("vqvae_mnist", "mnist", "test reconstruction MSE (images on [0, 1])", "", None,
              "no paper figure for MNIST", "test_mse_unit"),
    Reference("vqvae_mnist", "mnist", "codebook perplexity on the test split", "codes", None,
              "no paper figure (K=512 at paper scale)", "test_codes_perplexity"),
    Reference("prior_vqvae_mnist", "mnist", "test bits/dim, bound with the fitted PixelCNN prior", "bits/dim", None,
              "no paper figure", "test_bpd"),
    Reference("prior_vqvae_mnist", "mnist", "CAS top-1 (class-conditional prior)", "%", None,
              "Ravuri & Vinyals 2019 give VQ-VAE-2 54.83 on ImageNet 256 (not comparable); real-data row: the "
              "classifier's own accuracy", "cas_top1_pct"),
    Reference("prior_vqvae_mnist", "mnist", "CAS top-1, tested on the VQ model's reconstructions of the test images",
              "%", None, "Ravuri & Vinyals 2019 (quoted by seed 000): VQ-VAE-2 on ImageNet 256 rises from 54.83 to "
              "58.74 this way (not comparable)", "cas_recon_top1_pct"),
    Reference("prior_vqvae_mnist", "mnist", "Inception Score in the classifier's p(y|x) (10 classes: at most 10)", "",
              None, "Razavi et al. 2019 give IS 43.44 with ImageNet Inception at 256 (not comparable)",
              "is_classifier"),
    Reference("prior_vqvae_mnist", "mnist", "Fréchet classifier distance to the real test split", "", None,
              "no paper figure (our classifier's features)", "fid_classifier"),
    Reference("vqvae2_faces", "faces", "test reconstruction MSE (images on [0, 1])", "", 0.0050,
              "Razavi et al. 2019, ImageNet 256 validation (unconfirmed; PAPERS.md §5)", "test_mse_unit",
              note="another data set and resolution: context only"),
    Reference("prior_vqvae2_faces", "faces", "top prior NLL of the test codes", "bits/code", None,
              "Razavi et al. 2019: top 3.41 on ImageNet validation, unconfirmed and not comparable (nats or bits "
              "unstated)", "test_top_bits_per_code"),
    Reference("prior_vqvae2_faces", "faces", "bottom prior NLL of the test codes", "bits/code", None,
              "Razavi et al. 2019: bottom 3.45 on ImageNet validation, unconfirmed and not comparable",
              "test_bottom_bits_per_code"),
    Reference("prior_vqvae2_faces", "faces", "KID (Inception)", "", None, "no paper figure", "kid_inception"),
    Reference("prior_vqvae2_faces", "faces", "CAS top-1 over the stand-in's 40 people (person-conditional prior)",
              "%", None, "no paper figure (FFHQ has no classes; the stand-in's people are the labels)",
              "cas_top1_pct"),
    Reference("prior_vqvae2_faces", "faces", "CAS top-1, tested on the VQ model's reconstructions of the test photos",
              "%", None, "no paper figure (the variant seed 000 quotes)", "cas_recon_top1_pct"),
    Reference("prior_vqvae2_faces", "faces", "CAS real-data row: the same classifier trained on real photos", "%",
              None, "no paper figure (the row CAS is read against)", "cas_real_top1_pct"),
    Reference("prior_vqvae2_faces", "faces", "FID (Inception)", "", None,
              "no paper figure for FFHQ at 256 with two levels", "fid_inception"),
    Reference("prior_vqvae_cifar", "cifar10", "KID (Inception)", "", None, "no paper figure", "kid_inception"),
    Reference("vqvae2_cifar", "cifar10", "test bits/dim, bound with the uniform prior over both code maps", "bits/dim",
              None, "no paper figure (Razavi et al. 2019 train on ImageNet and FFHQ; VQ-VAE's 4.67 on CIFAR-10 is the "
              "vqvae_cifar row)", "test_bpd_uniform_prior",
              note="two levels at the paper's strides: top 4x4, bottom 8x8 codes of 32x32 images"),
    Reference("vqvae2_cifar", "cifar10", "test reconstruction MSE (images on [0, 1])", "", None, "no paper figure",
              "test_mse_unit"),
    Reference("prior_vqvae2_cifar", "cifar10", "test bits/dim, bound with the fitted PixelCNN priors", "bits/dim",
              None, "no paper figure", "test_bpd"),
    Reference("prior_vqvae2_cifar", "cifar10", "top prior NLL of the test codes", "bits/code", None, "no paper figure",
              "test_top_bits_per_code"),
    Reference("prior_vqvae2_cifar", "cifar10", "bottom prior NLL of the test codes", "bits/code", None,
              "no paper figure", "test_bottom_bits_per_code"),
    Reference("prior_vqvae2_cifar", "cifar10", "KID (Inception)", "", None, "no paper figure", "kid_inception"),
    Reference("prior_vqvae2_cifar", "cifar10", "FID (Inception)", "", None, "no paper figure",
              "fid_inception"),
)

DEVIATIONS: dict[str, str] = {
    "vae": "Kingma & Welling train tanh MLPs with Adagrad; we follow seed 002 (ReLU, Adam 1e-3, batch 128, "
           "log-sigma encoder output). Binarization is the model's view (binary_threshold for vae_mlp, see "
           "the note on the 0.1377 row). The IWAE figures of the paper are estimated with k=5000 importance samples; "
           "the k we used is in each row's protocol. vae_conv_cifar models 8-bit CIFAR-10 with a one-component "
           "discretized logistic per sub-pixel (the VQ-VAE paper does not describe its VAE baseline); at quick "
           "scale it trains on the embedded stand-in (patches of scikit-image's photographs), not CIFAR-10. "
           "vae_conv_cond (a CVAE, Sohn et al. 2015) joins the one-hot "
           "label to the encoder's features and to the decoder's input; its bounds are on log p(x|y).",
    "autoencoder": "Rifai et al. select noise levels, lambda and weight decay on the validation set and do not "
                   "print them, nor the learning rates or epochs: ours are named in params.yaml (sources in the "
                   "README). Fine-tuning keeps the weights of the epoch with the lowest validation error. SGD "
                   "minibatches replace the paper's unspecified optimisation schedule: 20 pretraining epochs (a "
                   "CPU budget) and 100 fine-tuning epochs at paper scale; the quick scale trains on 10k images for a "
                   "few epochs and uses momentum in fine-tuning. Noise levels, lambda and weight decay were not "
                   "tuned (sources in the README).",
    "realnvp": "Dinh et al.'s multi-scale architecture (checkerboard and channel-wise affine couplings, squeeze, "
               "half the dimensions factored out per scale, batch norm on each coupling's output with its "
               "log-determinant, weight-normalised ResNet s/t nets with a tanh-scaled s, L2 on the weight-norm "
               "scales, uniform dequantization, the logit transform). Departures: the logit's argument is "
               "alpha + (1 - 2 alpha) x (the paper writes alpha + (1 - alpha) x); squeezing uses PyTorch's "
               "pixel_unshuffle order; the flow's batch norm has no learned affine; each s/t net starts at zero output "
               "(identity couplings). The MNIST configuration is ours (the paper has none) and 1.06 is from a later "
               "table. At quick scale the s/t nets are tiny and CIFAR-10 is the embedded stand-in.",
    "gan": "gan_mlp follows seed 002 (LeakyReLU 0.2, dropout 0.2, tanh output, non-saturating loss) with its "
           "course template's widths (not given in the seed) and DCGAN's Adam settings. dcgan follows Radford et "
           "al. with a linear projection of z and, for 28x28 images, two upsamplings from 7x7 (dcgan_cifar: three "
           "from 4x4 for 32x32; the paper's 64x64 networks have four). wgan follows "
           "Algorithm 1 and the reference code's critic schedule; clipping leaves batch norm alone and the critic "
           "has none. At quick scale the networks are narrow and train a few hundred steps, with a shortened "
           "critic warm-up (named in params.yaml). The stability matrix's MLP generator is the reference code's MLP_G "
           "(3 hidden ReLU layers of 512, a linear output; samples clamped to [-1, 1] for scoring); every cell has "
           "the DCGAN discriminator (GAN: with batch norm; WGAN: without, as wgan), and the run length (25 MNIST "
           "epochs at paper scale) is ours.",
    "vaegan": "vae_gan follows Larsen et al.'s Algorithm 1 (KL + discriminator-feature reconstruction for the "
              "encoder, gamma * that reconstruction plus the adversarial loss for the decoder, the GAN loss for "
              "the discriminator; each player's gradient from its own loss only) and their networks, RMSProp 3e-4, "
              "batch 64, z 128. Departures: the decoder's adversarial term is non-saturating; Dis_l is the "
              "discriminator's last convolution block; the encoder's dense layer has the official code's 1024 units "
              "(the paper's table: 2048); gamma (1e-2) is ours, the paper gives none; the paper trains on CelebA "
              "64x64, our MNIST configuration (two stride-2 steps for 28x28, 20 epochs) is ours. At quick scale the "
              "networks are narrow and train 4 epochs on 4k images.",
    "gru_encdec": "Cho et al. 2014's encoder-decoder with their gated unit (the reset gate before U, eq. 8), "
                  "summary c = tanh(V h_N), a decoder fed c and the previous word at every step and the maxout deep "
                  "output; Adadelta (eps 1e-6, rho 0.95), 64 pairs per update. Departures: the decoder's candidate "
                  "is tanh(W'e(y) + U'(r' * h') + C c) (the appendix writes r' * (U'h' + C c)); gradient clipping "
                  "at norm 1 and the epoch count are ours; the paper rescores phrase pairs inside Moses, so "
                  "translating alone with beam search follows Cho et al. 2014b and is compared with its figures. "
                  "At quick scale the data are software messages and names from gettext catalogs (not WMT'14: "
                  "another test set), the network is narrower (64-d embeddings, 128 units, 64 maxout units) and "
                  "trains with Adam 5e-3 for 18 epochs, since Adadelta needs more updates than the quick budget "
                  "holds. Also at tiny and quick scale only: words seen fewer than 4 times (tiny: once) are unknown "
                  "and the source's copyable words are numbered <unk1>..<unk4> and put back after translation "
                  "(Luong et al. 2015's copyable model; the catalogs are mostly names), and the plain <unk> is "
                  "banned from translations (allow_unk false). Batches are regrouped by length every 20 (the "
                  "paper does not say how its batches were formed).",
    "vqvae": "van den Oord et al.'s encoder and decoder (two stride-2 4x4 convolutions, two residual blocks, "
             "256 hidden; K=512, beta 0.25, Adam 2e-4, batch 128) and Razavi et al.'s two levels (the bottom "
             "quantizer sees the top codes decoded to its resolution; EMA codebooks, decay 0.99). Departures: the "
             "decoder is a discretized logistic per sub-pixel for both (Razavi et al. use MSE), its mean not "
             "squashed (a tanh stalls on MNIST's black background); the codebook initialisation (N(0, 1); "
             "uniform in +-1/K collapsed to a code or two in our quick runs) is ours; the bits/dim run's 'latents 8x8x10' is read as an 8x8 map of 10-d codes; FFHQ is "
             "modelled at 256x256 with two levels (the paper: 1024x1024, three); VQ-VAE-2 on CIFAR-10 (vqvae2_cifar: "
             "top 4x4, bottom 8x8 codes at the paper's strides) is not a configuration of the paper, which trains "
             "on ImageNet and FFHQ only, and its epochs and learning rate are ours. Dead-code restarts are an option, "
             "off at paper scale; the tiny and quick models turn them on (a few hundred steps: their codebooks "
             "collapse to one or a few codes otherwise). At quick scale the networks are narrow (32 hidden, K=64) and train a few "
             "hundred steps; MNIST and CIFAR-10's VQ-VAEs use only a handful of codes there.",
    "vq_prior": "A gated PixelCNN per code level (van den Oord et al. 2016: vertical and horizontal stacks without "
                "the blind spot, tanh * sigmoid gates, residual and skip connections, a class bias in every gate); "
                "VQ-VAE-2's top prior adds causal multi-head self-attention after every few layers and its bottom "
                "prior is conditioned on the top codes through a small convolutional network. Sizes, epochs and "
                "learning rates are ours (the papers' priors are far larger). Samples are the decoder's mean "
                "given the sampled codes. The faces prior is conditional on the stand-in's 40 people at the tiny and "
                "quick scales (FFHQ has no labels: unconditional at paper scale); for its CAS the stand-in is split "
                "by photograph (photos 9 and 10 of every person are valid and test), not by person as DATA.md words "
                "it, since a classifier trained on samples of person k can only be tested on photographs of person "
                "k; its real-data row is the same classifier trained the same way on the real training photos.",
    "reference": "FID and KID reference rows use the first n test and training images (n in the protocol "
                 "column), in each view a sampling model trains on; seed 001 states neither its sample count nor "
                 "its noise images. Samples are compared with real images in the view their model was trained on "
                 "(a binarized VAE's Bernoulli draws with binarized test images).",
}
