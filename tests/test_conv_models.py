"""Convolutional generators (GAN, VAE) and energy classifier, their recipes, random-shift
augmentation and the judge-feature Frechet distance."""

import math

import pytest
import torch

from d2e_zoo.metrics.frechet import frechet_distance
from d2e_zoo.models import CNNJudge, ConvClassifier, ConvDiscriminator, ConvGenerator, ConvVAE
from d2e_zoo.models.common import ConfigRangeError, ShapeError
from d2e_zoo.trainers.loop import random_shift
from d2e_zoo.trainers.recipe import Recipe, RecipeError, step_constructors


def test_conv_generator_and_vae_shapes_ranges_and_round_trip(tmp_path):
    torch.manual_seed(0)
    g, vae, d = ConvGenerator(latent_dim=7, channels=8), ConvVAE(latent_dim=5, channels=8), ConvDiscriminator(8)
    z = torch.randn(3, 7)
    x = g(z).detach()
    assert x.shape == (3, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert d(x).shape == (3,)
    mean, log_var = vae.encode(x)
    assert mean.shape == log_var.shape == (3, 5) and vae(mean).shape == (3, 1, 28, 28)
    g.save_pretrained(tmp_path / "g")
    again = ConvGenerator.from_pretrained(tmp_path / "g")
    assert torch.equal(again(z), g(z))
    with pytest.raises(ShapeError, match=r"\(N, 7\)"):
        g(torch.randn(3, 6))


def test_conv_classifier_is_smooth_shape_checked_and_not_the_judges_architecture(tmp_path):
    """Logits (N, 10); the energy -log p(C | x) has a finite, nonzero gradient everywhere (SiLU,
    no max-pooling); a save/load round trip is exact; no layer type of the judge's is reused."""
    torch.manual_seed(0)
    clf = ConvClassifier(channels=(8, 16, 32)).eval()
    x = torch.rand(4, 1, 28, 28, requires_grad=True)
    logits = clf(x)
    assert logits.shape == (4, 10)
    energy = -logits.log_softmax(-1)[:, [0, 2, 4, 6, 8]].logsumexp(-1).sum()
    (grad,) = torch.autograd.grad(energy, x)
    assert torch.isfinite(grad).all() and (grad.abs().sum((1, 2, 3)) > 0).all()
    clf.save_pretrained(tmp_path / "c")
    assert torch.equal(ConvClassifier.from_pretrained(tmp_path / "c")(x), logits)
    judge_layers = {type(m) for m in CNNJudge().modules()} - {torch.nn.Sequential, torch.nn.Dropout, torch.nn.Flatten,
                                                             torch.nn.Linear, torch.nn.Conv2d, CNNJudge}
    assert judge_layers and not judge_layers & {type(m) for m in clf.modules()}  # no ReLU, no max-pooling
    assert torch.equal(clf(x.detach().reshape(4, 784)), logits.detach())  # flat images read the same
    with pytest.raises(ShapeError, match=r"ConvClassifier: images must have shape \(N, 1, 28, 28\)"):
        clf(torch.rand(4, 2, 28, 28))
    with pytest.raises(ConfigRangeError, match="a list of 1 to 4 values"):
        ConvClassifier(channels=(8,) * 5)


def test_conv_config_is_range_checked():
    with pytest.raises(ConfigRangeError, match="channels.*multiple of 8"):
        ConvGenerator(channels=12)
    with pytest.raises(ConfigRangeError, match="latent_dim"):
        ConvVAE(latent_dim=0)


def test_recipes_pick_the_architecture():
    base = {"name": "g", "kind": "gan", "model": {"latent_dim": 4, "channels": 8}, "discriminator": {"channels": 8}}
    r = Recipe.from_dict({**base, "architecture": "conv"})
    assert r.architecture == "conv" and step_constructors("gan", "conv")["model"] is ConvGenerator
    assert Recipe.from_dict(r.to_dict()) == r
    with pytest.raises(RecipeError, match="unknown architecture 'resnet'.*valid: mlp, conv"):
        Recipe.from_dict({**base, "architecture": "resnet"})
    classifier = Recipe.from_dict({"name": "c", "kind": "classifier", "architecture": "conv",
                                   "model": {"channels": [8, 16]}})
    assert step_constructors("classifier", "conv")["model"] is ConvClassifier
    assert classifier.model == {"channels": [8, 16]}
    with pytest.raises(RecipeError, match="unknown architecture 'conv' for kind 'judge'; valid: mlp"):
        Recipe.from_dict({"name": "j", "kind": "judge", "architecture": "conv"})
    # an MLP recipe (and records written before the key existed) read as "mlp"
    assert Recipe.from_dict({"name": "g", "kind": "gan"}).architecture == "mlp"


def test_random_shift_moves_each_image_by_at_most_the_shift_and_passes_gradients():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 12:16, 12:16] = 1.0
    x.requires_grad_(True)
    y = random_shift(x, 3, torch.Generator().manual_seed(0))
    assert torch.allclose(y.sum((1, 2, 3)), torch.full((64,), 16.0))  # nothing falls off the border
    rows = y[:, 0].sum(2).argmax(1)
    assert int(rows.min()) >= 9 and int(rows.max()) <= 15 and len(set(rows.tolist())) > 3  # shifts vary
    y.sum().backward()
    assert torch.equal(x.grad[:, :, 12:16, 12:16], torch.ones(64, 1, 4, 4))  # every visible pixel's gradient is 1
    assert float(x.grad[:, :, :3].sum()) < 64 * 3 * 28  # pixels shifted out of the frame get none
    assert random_shift(x, 0, torch.Generator()) is x


def test_frechet_distance_matches_the_gaussian_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    scale = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    b = torch.randn(200_000, 3, generator=g, dtype=torch.float64) * scale + shift
    # N(0, I) vs N(m, diag(s^2)): ||m||^2 + sum (1 - s)^2 = 5 + 0 + 1 + 0.25
    assert frechet_distance(a, b) == pytest.approx(6.25, abs=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same F"):
        frechet_distance(a, b[:, :2])


def test_class_entropies_match_their_closed_forms():
    from d2e_zoo.trainers.gan import class_entropies

    each, mix = class_entropies(torch.zeros(6, 4))  # every image undecided: log 4 each, log 4 overall
    assert abs(float(each) - math.log(4)) < 1e-6 and abs(float(mix) - math.log(4)) < 1e-6
    each, mix = class_entropies(torch.eye(4).repeat(2, 1) * 50)  # each image sure, the batch balanced
    assert float(each) < 1e-6 and abs(float(mix) - math.log(4)) < 1e-6
    each, mix = class_entropies(torch.tensor([[50.0, 0, 0, 0]] * 8))  # sure, but all one class
    assert float(each) < 1e-6 and float(mix) < 1e-6


def test_the_class_head_learns_the_labels_and_steers_the_generator():
    from accelerate import Accelerator

    from d2e_zoo.trainers.gan import GANTask

    torch.manual_seed(0)
    data = _small_mnist()
    d = ConvDiscriminator(channels=8, num_classes=10)
    task = GANTask(ConvGenerator(latent_dim=4, channels=8), d, data, Accelerator(cpu=True), seed=0, batch_size=32,
                   lr=1e-3, class_entropy_weight=1.0, augment_shift=1)
    first = task.step(0)
    for step in range(1, 80):
        last = task.step(step)
    assert {"loss_class", "class_entropy", "mix_entropy"} <= set(last)
    assert last["loss_class"] < 0.75 * first["loss_class"]
    with torch.no_grad():
        _, classes = d.logits_and_classes(data.images[:256])
    assert (classes.argmax(-1) == data.labels[:256]).double().mean() > 0.4  # chance is 0.1
    assert d(data.images[:3]).shape == (3,)  # the plain call stays the real/fake logit
    with pytest.raises(ValueError, match="class_entropy_weight > 0 needs a discriminator with a class head"):
        GANTask(ConvGenerator(latent_dim=4, channels=8), ConvDiscriminator(channels=8), data,
                Accelerator(cpu=True), seed=0, class_entropy_weight=0.5)


def test_the_class_balance_weight_scales_only_the_mix_entropy():
    from accelerate import Accelerator

    from d2e_zoo.trainers.gan import Adversary, class_entropies

    torch.manual_seed(0)
    d = ConvDiscriminator(channels=8, num_classes=10).eval()  # eval: spectral norm's power iteration stays put
    images = torch.rand(16, 1, 28, 28)
    _, logits = d.logits_and_classes(images)
    each, mix = class_entropies(logits)

    def loss(**weights):
        return Adversary(d, Accelerator(cpu=True), **weights).generator_loss(images)[0].item()

    plain = loss()  # the non-saturating loss alone
    # w * mean_i H(p_i) - b * H(mean_i p_i), b defaulting to w
    assert loss(class_entropy_weight=0.5) == pytest.approx(plain + 0.5 * (each - mix).item(), rel=1e-5)
    assert loss(class_entropy_weight=0.5, class_balance_weight=2.0) == pytest.approx(
        plain + 0.5 * each.item() - 2.0 * mix.item(), rel=1e-5)
    with pytest.raises(ValueError, match="must be >= 0"):
        Adversary(d, Accelerator(cpu=True), class_entropy_weight=0.5, class_balance_weight=-1.0)
    with pytest.raises(ValueError, match="needs a discriminator with a class head"):
        Adversary(ConvDiscriminator(channels=8), Accelerator(cpu=True), class_balance_weight=1.0)


def _small_mnist(n=512):
    from d2e_zoo.data import load_mnist

    data = load_mnist("train")
    return type(data)(data.images[:n], data.labels[:n], data.source)


def test_a_weight_average_follows_its_closed_form():
    from d2e_zoo.trainers.gan import WeightAverage

    source = torch.nn.Linear(3, 2)
    average = WeightAverage(source, decay=0.9)
    before = [p.clone() for p in average.module.parameters()]
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    average.update()
    for p_ema, p_old, p_new in zip(average.module.parameters(), before, source.parameters()):
        torch.testing.assert_close(p_ema, 0.9 * p_old + 0.1 * p_new)
        assert not p_ema.requires_grad
    with pytest.raises(ValueError, match="ema_decay must be in \\(0, 1\\)"):
        WeightAverage(source, decay=1.0)


def test_the_adversarial_vae_trains_its_discriminator_and_exports_the_average():
    from accelerate import Accelerator

    from d2e_zoo.trainers.vae import VAETask

    torch.manual_seed(0)
    data = _small_mnist()
    vae, d = ConvVAE(latent_dim=4, channels=8), ConvDiscriminator(channels=8, num_classes=10)
    task = VAETask(vae, d, data, Accelerator(cpu=True), seed=0, batch_size=32, lr=1e-3, kl_warmup=10,
                   adversarial_weight=1.0, class_entropy_weight=0.5, augment_shift=1, ema_decay=0.9)
    first = task.step(0)
    for step in range(1, 60):
        last = task.step(step)
    assert {"recon", "kl", "loss_d", "loss_adv", "loss_class", "class_entropy", "mix_entropy"} <= set(last)
    assert last["recon"] < 0.8 * first["recon"]  # the ELBO still trains the encoder and decoder
    assert last["loss_class"] < first["loss_class"]  # the discriminator's class head learns the labels
    assert set(task.modules) == {"vae", "discriminator", "vae_ema"} and set(task.optimizers) == {"vae", "discriminator"}
    exported = task.export_model
    assert exported is task.ema.module and exported is not vae
    assert not torch.equal(exported.decoder.fc.weight, vae.decoder.fc.weight)


def test_the_vae_task_names_what_an_adversarial_term_needs():
    from accelerate import Accelerator

    from d2e_zoo.models import MLPVAE
    from d2e_zoo.trainers.vae import VAETask

    data, acc = _small_mnist(64), Accelerator(cpu=True)
    with pytest.raises(ValueError, match="adversarial_weight > 0 needs a discriminator: use architecture = \"conv\""):
        VAETask(MLPVAE(latent_dim=4), None, data, acc, seed=0, adversarial_weight=1.0)
    with pytest.raises(ValueError, match="class_entropy_weight acts through the adversary"):
        VAETask(ConvVAE(latent_dim=4, channels=8), ConvDiscriminator(channels=8, num_classes=10), data, acc, seed=0,
                class_entropy_weight=1.0)
    plain = VAETask(ConvVAE(latent_dim=4, channels=8), ConvDiscriminator(channels=8), data, acc, seed=0)
    assert plain.adversary is None and set(plain.modules) == {"vae"}  # no adversarial term: no discriminator trained


def test_a_conv_vae_recipe_takes_a_discriminator_and_an_mlp_vae_recipe_refuses_one():
    base = {"name": "v", "kind": "vae", "model": {"latent_dim": 4}, "discriminator": {"channels": 8},
            "train": {"adversarial_weight": 2.0}}
    r = Recipe.from_dict({**base, "architecture": "conv"})
    assert r.discriminator == {"channels": 8} and Recipe.from_dict(r.to_dict()) == r
    with pytest.raises(RecipeError, match="\\[discriminator\\] belongs to gan recipes and conv vae recipes"):
        Recipe.from_dict(base)
    with pytest.raises(RecipeError, match="unknown key 'channel'"):
        Recipe.from_dict({**base, "architecture": "conv", "discriminator": {"channel": 8}})
