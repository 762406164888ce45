"""Unit tests of the functions behind the app (d2e_zoo/app/), seeded and small: choices and
limits, the translation (shapes, reproducibility, cache, agreement with the pipeline and the
judge), pictures, the GIF, the plot, drawings -> latents, the Gradio wiring and API names,
app.py's flags, and the deployment files (requirements.txt, Dockerfile, Space front matter)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

import d2e_zoo
from d2e_zoo.app import drawing, models, render
from d2e_zoo.app.choices import (FEATURED_TARGETS, LIMITS, InputError, as_int, check_bridge, default_target,
                                 prior_choices, target_choices, validate_request)
from d2e_zoo.app.translate import clear_cache, get_run, make_run_id, probe_steps, translate

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = "mnist-even"  # bundled from the start


@pytest.fixture(scope="module")
def small():
    """4 samples of mnist-even over 5 steps (seed 3), on one thread like the tests that compare
    it bit for bit (a module fixture runs before conftest's per-test single-thread setting, and
    a matrix product may round differently on another thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return translate(BRIDGE, num_samples=4, seed=3, steps=5)
    finally:
        torch.set_num_threads(threads)


def digit_picture(d: str, size: int = 280, ink=0, paper=255, mode="L") -> Image.Image:
    img = Image.new(mode, (size, size), paper)
    ImageDraw.Draw(img).text((size // 4, size // 14), d, fill=ink, font=ImageFont.load_default(size=size * 4 // 5))
    return img


# ------------------------------------------------------------------ choices and limits --
def test_priors_are_the_generators_with_bridges():
    names = [n for _, n in prior_choices()]
    assert names == ["mnist-gan", "mnist-gan-z50", "mnist-vae", "fashion-gan", "fashion-vae"]
    bridges = {d2e_zoo.get_entry(b).decoder for b in d2e_zoo.list_models(kind="bridge")}
    assert set(names) == bridges


def test_targets_follow_the_prior():
    gan = target_choices("mnist-gan")
    assert [n for _, n in gan] == ["mnist-even", "mnist-odd", *[f"mnist-{d}" for d in range(10)], "mnist-3-to-8"]
    assert gan[0][0] == "even digits (0 2 4 6 8)" and gan[2][0] == "digit 0"
    assert gan[-1][0].startswith("3 → 8 (energy to energy")
    # each prior opens on a bridge of its own: mnist-gan on its featured one, the others on their first
    assert default_target("mnist-gan") == "mnist-5" and default_target("mnist-vae") == "mnist-vae-even"
    for prior, featured in FEATURED_TARGETS.items():
        assert featured in [n for _, n in target_choices(prior)]
    assert [n for _, n in target_choices("mnist-vae")] == ["mnist-vae-even", "mnist-vae-odd"]
    assert [n for _, n in target_choices("mnist-gan-z50")] == ["mnist-gan-z50-even", "mnist-gan-z50-odd"]
    fashion = target_choices("fashion-gan")
    slugs = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
    assert [n for _, n in fashion] == ["fashion-tops", "fashion-footwear", *[f"fashion-{s}" for s in slugs],
                                       "fashion-sneaker-to-ankle-boot"]
    assert fashion[0][0] == "tops (T-shirt/top, Pullover, Coat, Shirt)" and fashion[2][0] == "T-shirt/top"
    assert fashion[-1][0] == "Sneaker → Ankle boot (energy to energy)"
    assert [n for _, n in target_choices("fashion-vae")] == ["fashion-vae-tops", "fashion-vae-footwear"]
    for _, prior in prior_choices():
        for _, bridge in target_choices(prior):
            assert d2e_zoo.get_entry(bridge).decoder == prior
    with pytest.raises(InputError, match="Prior: unknown prior 'nope'.*GAN, 10-d latent \\(mnist-gan\\)"):
        target_choices("nope")


@pytest.mark.parametrize("value, what", [(0, "from 1 to 64"), (65, "from 1 to 64"), (3.5, "whole number"),
                                         (True, "whole number"), (None, "whole number"), ("x", "whole number"),
                                         (float("nan"), "whole number")])
def test_sample_limits(value, what):
    with pytest.raises(InputError, match=what):
        as_int(value, "Number of samples", LIMITS.samples)


def test_validation_accepts_what_sliders_send_and_names_the_limits():
    assert validate_request("mnist-gan", "mnist-3", 16.0, "7", 20.0) == ("mnist-3", 16, 7, 20)
    with pytest.raises(InputError, match="Sampling steps must be from 1 to 100, got 101"):
        validate_request("mnist-gan", "mnist-3", 16, 0, 101)
    with pytest.raises(InputError, match="Seed must be from 0"):
        validate_request("mnist-gan", "mnist-3", 16, -1, 20)
    with pytest.raises(InputError, match="belongs to the prior 'mnist-gan', not 'mnist-vae'.*mnist-vae-even"):
        check_bridge("mnist-3", "mnist-vae")
    with pytest.raises(InputError, match="Target: unknown target 'mnist-gan'"):
        check_bridge("mnist-gan")
    # the labels shown in the page, each with the name API clients send; a long input only as an excerpt
    with pytest.raises(InputError, match=r"unknown target 'banana'. Targets of mnist-gan: even digits \(0 2 4 6 8\) "
                                         r"\(mnist-even\); .*digit 3 \(mnist-3\)"):
        check_bridge("banana", "mnist-gan")
    with pytest.raises(InputError) as e:
        check_bridge("x" * 100_000, "mnist-gan")
    assert len(str(e.value)) < 1000 and "(100000 characters)" in str(e.value)


# --------------------------------------------------------------------- the translation --
def test_translation_shapes_and_numbers(small):
    assert small.run_id == "mnist-even|n=4|seed=3|steps=5"
    assert small.trajectory.shape == (6, 4, 10) and small.times.shape == (6,)
    assert small.frames.shape == (6, 4, 28, 28) and small.frames.dtype == torch.uint8
    assert small.sources.shape == small.translations.shape == (4, 1, 28, 28)
    assert small.probe_steps == [0, 1, 2, 3, 4, 5] and small.target_prob.shape == (6, 4)
    m = small.metrics
    assert 0 <= m["judge_precision"] <= 1 and 0 <= m["judge_precision_source"] <= 1
    assert sum(m["judge_counts"].values()) == 4
    expected_cost = ((small.trajectory[-1] - small.trajectory[0]) ** 2).sum(-1).mean().item()
    assert m["transport_cost"] == pytest.approx(expected_cost)
    assert m["seconds_compute"] > 0 and m["origin"] in ("bundled", "hub")


def test_translation_agrees_with_the_pipeline_and_the_judge(small):
    pipe, judge = models.get_pipeline(BRIDGE), models.get_judge()
    out = pipe(num_samples=4, generator=torch.Generator().manual_seed(3), num_inference_steps=5,
               return_trajectory=True, progress=False)
    assert torch.equal(out.trajectory, small.trajectory)
    assert (small.translations - out.images).abs().max() <= 0.5 / 255 + 1e-6  # frames are uint8
    assert (small.sources - pipe.decode(out.initial_latents)).abs().max() <= 0.5 / 255 + 1e-6
    with torch.no_grad():
        labels = judge(out.images).argmax(-1)
        p = judge(out.images).softmax(-1)[:, [0, 2, 4, 6, 8]].sum(-1)
    assert small.metrics["judge_precision"] == pytest.approx(torch.isin(labels, torch.tensor([0, 2, 4, 6, 8]))
                                                             .double().mean().item())
    assert torch.allclose(small.target_prob[-1], p, atol=1e-5)


def test_translation_is_seeded_and_cached(small):
    assert translate(BRIDGE, 4, 3, 5) is small  # from the cache
    fresh = translate(BRIDGE, 4, 3, 5, use_cache=False)
    assert torch.equal(fresh.frames, small.frames)
    other = translate(BRIDGE, 4, 4, 5, use_cache=False)
    assert not torch.equal(other.trajectory, small.trajectory)


@pytest.mark.parametrize("prior", ["mnist-gan", "mnist-gan-z50", "mnist-vae"])
def test_every_target_in_the_menu_translates(prior):
    for _, bridge in target_choices(prior):
        tr = translate(bridge, num_samples=2, seed=0, steps=2, prior=prior, use_cache=False)
        entry = d2e_zoo.get_entry(bridge)
        assert tr.frames.shape == (3, 2, 28, 28) and tr.trajectory.shape == (3, 2, entry.latent_dim)
        assert tr.target_classes == entry.target_classes and tr.metrics["prior"] == prior


def test_run_id_round_trip_and_errors(small):
    clear_cache()
    again = get_run(small.run_id)  # evicted: recomputed from the id, same seed, same translation
    assert again is not small and torch.equal(again.frames, small.frames)
    z = torch.zeros(2, 10)
    tr = translate(BRIDGE, seed=0, steps=3, latents=z)
    assert re.fullmatch(r"mnist-even\|n=2\|seed=0\|steps=3\|z=[0-9a-f]{12}", tr.run_id)
    assert tr.run_id == make_run_id(BRIDGE, 2, 0, 3, z) and tr.metrics["source"] == "given latents"
    assert torch.equal(tr.trajectory[0], z)
    clear_cache()
    with pytest.raises(InputError, match="no longer in memory"):
        get_run(tr.run_id)
    with pytest.raises(InputError, match="Not a run id"):
        get_run("mnist-even; rm -rf /")
    with pytest.raises(InputError, match="press Translate first"):
        get_run("")
    with pytest.raises(InputError, match="10-d latent space"):
        translate(BRIDGE, latents=torch.zeros(2, 50))


def test_other_step_counts_probe_at_most_21_steps():
    assert probe_steps(5) == list(range(6))
    p = probe_steps(100)
    assert len(p) == 21 and p[0] == 0 and p[-1] == 100
    tr = translate(BRIDGE, num_samples=2, seed=0, steps=40, use_cache=False)
    assert tr.frames.shape[0] == 41 and tr.target_prob.shape == (21, 2) and tr.probe_steps[-1] == 40


def test_a_run_past_its_deadline_is_a_message():
    from d2e_zoo.app.deadline import Deadline

    with pytest.raises(InputError, match="took longer than the app's limit of 0 s \\(running the bridge\\)"):
        translate(BRIDGE, 2, 0, 3, use_cache=False, deadline=Deadline(0.0))
    assert translate(BRIDGE, 2, 0, 3, use_cache=False, deadline=Deadline(60)).steps == 3


def test_temporary_files_are_trimmed_oldest_first(tmp_path):
    import os

    from d2e_zoo.app import tempfiles

    for i in range(5):  # 5 files of 1000 bytes, i minutes old
        f = tmp_path / "sub" / f"{i}.png" if i % 2 else tmp_path / f"{i}.png"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"x" * 1000)
        os.utime(f, (time.time() - 60 * i - 120, time.time() - 60 * i - 120))
    assert tempfiles.trim(tmp_path, 2500) == 3000  # the three oldest go
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["0.png", "1.png"]
    (tmp_path / "new.png").write_bytes(b"x" * 5000)  # too young to delete, even over the bound
    assert tempfiles.trim(tmp_path, 0, min_age_s=60) == 2000 and (tmp_path / "new.png").exists()


def test_a_model_that_cannot_load_is_a_message_without_server_paths(monkeypatch, caplog):
    from d2e_zoo.zoo import ZooLoadError

    def broken(name):
        raise ZooLoadError(f"{name}: no bundled copy at /srv/secret/zoo/{name} and the Hub was not reachable")

    monkeypatch.setattr(models, "_cache", {})
    monkeypatch.setattr(models, "plan_load", broken)
    with pytest.raises(InputError, match="Model: 'mnist-odd' could not be loaded") as e:
        models.get_model("mnist-odd")
    assert "/srv/secret" not in str(e.value) and "/srv/secret/zoo/mnist-odd" in caplog.text  # in the log only


# ------------------------------------------------------------------------- pictures --
def test_pairs_are_aligned_boxes(small):
    tiles = render.pair_tiles(small.sources, small.translations)
    assert tiles.shape == (4, 1, 30, 59)
    assert torch.equal(tiles[2, 0, 1:29, 1:29], small.sources[2, 0])
    assert torch.equal(tiles[2, 0, 1:29, 30:58], small.translations[2, 0])
    img = render.pairs_image(small, scale=1)
    assert img.mode == "L" and img.size == (4 * (59 + 4), render.header_height(1) + 30 + 4)
    # the grid under the header strip is the pairs' grid, pixel for pixel
    grid = np.asarray(render.to_pil(render.pair_grid(small.sources, small.translations), 3))
    assert np.array_equal(np.asarray(render.pairs_image(small, scale=3))[render.header_height(3):], grid)
    header = np.asarray(render.pairs_image(small, scale=3))[:render.header_height(3)]
    assert header.max() > 150  # the words 'source' and 'result' are written there


def test_frames_and_gif(small, tmp_path):
    frame = render.frame_image(small, 2, scale=1)
    assert frame.size == (4 * 63, render.header_height(1) + 34 + 18)
    with pytest.raises(InputError, match="Step must be from 0 to 5"):
        render.frame_image(small, 6)
    path = render.animation_gif(small, tmp_path / "a.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 6 and gif.info.get("loop") == 0
        gif.seek(5)
        last = np.asarray(gif.convert("L"))
    expected = np.asarray(render.frame_image(small, 5, render.gif_scale(4)))
    assert last.shape == expected.shape and np.abs(last.astype(int) - expected).max() <= 2
    assert render.gif_steps(100)[:2] == [0, 2] and len(render.gif_steps(100)) == 41
    auto = render.animation_gif(small)
    assert auto.name == render.gif_name(small.run_id) and auto.is_file()
    assert re.fullmatch(r"path-[0-9a-f]{16}\.gif", render.gif_name("x" * 100_000))  # short whatever the run id


def test_plot_and_numbers(small):
    fig = render.probability_figure(small)
    (ax,) = fig.axes
    assert len(ax.lines) == 4 + 1  # one per sample and the mean
    assert np.allclose(ax.lines[-1].get_ydata(), small.target_prob.mean(1).numpy())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    md = render.metrics_markdown({**small.metrics, "seconds_total": 1.25})
    assert "Judged on target" in md and "Distance moved" in md and "1.25 s in all" in md and "{0, 2, 4, 6, 8}" in md
    items = md.split("\n- ")
    assert len(items) == 6 and all(len(i.split("  \n")[1].strip()) > 20 for i in items)  # each one explained


# ------------------------------------------------------------------------- drawings --
def test_ink_from_any_kind_of_picture():
    dark_on_light = drawing.to_ink(digit_picture("1"))
    light_on_dark = drawing.to_ink(digit_picture("1", ink=255, paper=0))
    assert np.allclose(dark_on_light, light_on_dark, atol=1e-6)
    rgba = digit_picture("1", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")  # a sketchpad stroke
    assert np.allclose(drawing.to_ink(np.asarray(rgba)), dark_on_light, atol=1e-6)
    assert np.allclose(drawing.to_ink({"composite": np.asarray(rgba), "background": None, "layers": []}),
                       dark_on_light, atol=1e-6)
    for empty in (None, {"composite": None, "background": None, "layers": []}, np.zeros((280, 280, 4), np.uint8),
                  np.full((50, 50), 255, np.uint8)):
        with pytest.raises(InputError, match="canvas is empty"):
            drawing.to_ink(empty)
    with pytest.raises(InputError, match="Expected an image"):
        drawing.to_ink(42)


def test_huge_pictures_are_refused_from_the_header_and_large_ones_shrunk(tmp_path):
    from attacks import blank_png

    huge = tmp_path / "huge.png"
    huge.write_bytes(blank_png(12_000, 12_000))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"Picture: 12000x12000 pixels is too large; at most 4096x4096"):
        drawing.to_ink(str(huge))
    assert time.perf_counter() - t0 < 0.5  # the header only: decoding it would take seconds and 144 MB
    with pytest.raises(InputError, match="too large"):
        drawing.to_ink(np.zeros((5000, 5000), np.uint8))
    big = digit_picture("1", size=2000)  # 4 million pixels: accepted, read at 1024 pixels a side
    assert drawing._as_array(big).shape == (1024, 1024, 4)
    assert np.allclose(drawing.picture_to_image(big), drawing.picture_to_image(digit_picture("1")), atol=0.2)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="could not read it as an image") as e:
        drawing.to_ink(str(tmp_path / "junk.png"))
    assert str(tmp_path) not in str(e.value)  # no server paths in messages


def test_mnist_normalisation_centres_the_digit():
    ink = np.zeros((300, 200), np.float32)
    ink[20:120, 10:30] = 1.0  # a bar in a corner
    digit = drawing.frame_ink(ink)[0, 0].numpy()
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(1.0)
    rows, cols = np.nonzero(digit > 0.1)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)
    cy = (digit.sum(1) * np.arange(28)).sum() / digit.sum()
    cx = (digit.sum(0) * np.arange(28)).sum() / digit.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1


def test_a_fashion_picture_fills_the_frame_as_fashion_mnist_items_do():
    from d2e_zoo.domains import FASHION

    ink = np.zeros((300, 400), np.float32)
    ink[100:200, 20:380] = 1.0  # a wide item (a shoe's outline box), off-centre
    ink[100:120, 20:60] = 0.0  # ... with its mass off the box's centre
    item = drawing.picture_to_image(ink, FASHION)[0, 0].numpy()
    rows, cols = np.nonzero(item > 0.1)
    assert cols.min() == 0 and cols.max() == 27  # the longest side fills the 28 pixels
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 0.5  # centred by its box, not its mass
    digit = drawing.picture_to_image(ink)[0, 0].numpy()  # MNIST framing: a 20-pixel box
    assert np.ptp(np.nonzero(digit > 0.1)[1]) + 1 in (19, 20, 21)


def test_a_fashion_drawing_is_framed_for_the_fashion_prior():
    res = drawing.translate_drawing("fashion-footwear", digit_picture("1"), num_samples=2, seed=0, steps=2,
                                    inversion_steps=10)
    rows = np.nonzero(res.picture[0, 0].numpy() > 0.1)[0]
    assert rows.min() == 0 and rows.max() == 27  # a tall stroke fills the frame's height (MNIST: 20 rows)


def test_gan_inversion_finds_a_generated_digit_and_leaves_the_weights():
    decoder = models.get_pipeline(BRIDGE).decoder
    before = [p.detach().clone() for p in decoder.parameters()]
    with torch.no_grad():
        target = decoder(torch.randn(1, 10, generator=torch.Generator().manual_seed(1)))
    z, err = drawing.invert_decoder(decoder, target, steps=150, seed=0)
    assert z.shape == (1, 10) and err < 0.01
    assert all(torch.equal(a, b) for a, b in zip(before, decoder.parameters(), strict=True))
    assert all(p.grad is None for p in decoder.parameters())


def test_vae_uses_its_encoder():
    vae = models.get_model("mnist-vae")
    digit = drawing.picture_to_image(digit_picture("0"))
    z, how = drawing.image_to_latent(vae, digit)
    assert how == "VAE encoder mean" and torch.equal(z, vae.encode(digit)[0])
    with torch.no_grad():
        assert int(models.get_judge()(vae.decode(z)).argmax()) == 0


def test_the_fashion_vae_encodes_real_items_into_codes_it_decodes_as_the_same_class():
    from d2e_zoo.domains import FASHION

    test = FASHION.load("test")
    images, labels = test.images, test.labels
    vae, judge = models.get_model("fashion-vae"), d2e_zoo.load("fashion-judge")
    with torch.no_grad():
        z = vae.encode(images[:200])[0]
        agree = (judge(vae.decode(z)).argmax(1) == labels[:200]).float().mean().item()
    # the judge reads 0.92 of these originals right and 0.69 of their reconstructions (2,000 items): a 16-d
    # code keeps the kind of item, less often the details that tell a shirt from a T-shirt
    assert z.shape == (200, 16) and agree > 0.6


def test_a_clothing_picture_reaches_the_fashion_vae_through_its_encoder():
    res = drawing.translate_drawing("fashion-vae-footwear", digit_picture("1"), num_samples=2, seed=0, steps=2)
    assert res.method == "VAE encoder mean" and res.translation.num_samples == 2
    rows = np.nonzero(res.picture[0, 0].numpy() > 0.1)[0]
    assert rows.min() == 0 and rows.max() == 27  # framed as a Fashion-MNIST item


def test_translate_a_drawing():
    res = drawing.translate_drawing(BRIDGE, digit_picture("7"), num_samples=3, seed=0, steps=4, inversion_steps=60)
    assert res.picture.shape == res.reconstruction.shape == (1, 1, 28, 28)
    tr = res.translation
    assert tr.num_samples == 3 and tr.frames.shape == (5, 3, 28, 28)
    assert torch.equal(tr.trajectory[0], tr.trajectory[0, :1].expand(3, -1))  # one latent, 3 translations
    assert tr.metrics["source"] == "your picture" and "GAN inversion (60 Adam steps" in res.method
    with pytest.raises(InputError, match="from 1 to 16"):
        drawing.translate_drawing(BRIDGE, digit_picture("7"), num_samples=17)


# ------------------------------------------------------------------ Gradio and app.py --
def test_ui_endpoints_and_messages():
    gr = pytest.importorskip("gradio")
    from d2e_zoo.app import ui

    demo = ui.build_demo(concurrency_limit=2)
    assert ui.launch_kwargs()["max_file_size"] == LIMITS.upload_bytes == "10mb"  # Gradio's upload size limit
    names = {d.api_name for d in demo.fns.values() if d.api_name and d.api_visibility == "public"}
    assert names == {"targets", "translate", "frame", "translate_drawing", "drawing_frame", "compose", "train_bridge",
                     "compose_frame"}
    assert all(d.concurrency_limit in (1, 2, 4, None, "default") for d in demo.fns.values())
    train = [d for d in demo.fns.values() if d.api_name == "train_bridge"][0]
    assert train.concurrency_limit == 1  # one live training at a time
    upd = ui.update_targets("mnist-vae")
    assert upd.value == "mnist-vae-even" and [c[1] for c in upd.choices] == ["mnist-vae-even", "mnist-vae-odd"]
    pairs, gif, slider, frame, fig, md, raw, run_id = ui.run_translate("mnist-gan", BRIDGE, 4, 3, 5)
    assert run_id == "mnist-even|n=4|seed=3|steps=5" and Path(gif).suffix == ".gif" and slider.maximum == 5
    assert raw["seconds_total"] >= raw["seconds_compute"] and isinstance(pairs, Image.Image)
    assert ui.show_frame(run_id, 0).size == frame.size
    with pytest.raises(gr.Error, match="Number of samples must be from 1 to 64, got 65"):
        ui.run_translate("mnist-gan", BRIDGE, 65, 0, 20)
    with pytest.raises(gr.Error, match="canvas is empty"):
        ui.run_drawing("mnist-gan", BRIDGE, None, None, 4, 0, 5)
    with pytest.raises(gr.Error, match="Seed must be from 0 to 2147483647, got -5"):  # names the field
        ui.run_translate("mnist-gan", BRIDGE, 4, -5, 5)
    # a request names only uploaded files, never other files of the server
    with pytest.raises(gr.Error, match="Picture: not a file uploaded to this app"):
        ui.run_drawing("mnist-gan", BRIDGE, None, {"path": str(ROOT / "docs" / "images" / "app.png")}, 2, 0, 3)
    with pytest.raises(gr.Error, match="Picture: not a file uploaded to this app"):
        ui.run_drawing("mnist-gan", BRIDGE, {"composite": {"path": "/etc/hostname"}, "layers": []}, None, 2, 0, 3)
    assert ui._only_uploads(str(Path(gr.utils.get_upload_folder()) / "x" / "digit.png"))


def test_page_handlers_draw_new_seeds_and_show_errors_in_place_of_results():
    pytest.importorskip("gradio")
    from d2e_zoo.app import ui

    random_state = ui.random.getstate()
    ui.random.seed(1)
    try:
        first = ui.ui_translate("mnist-gan", BRIDGE, 4, 0, 5, False)
        second = ui.ui_translate("mnist-gan", BRIDGE, 4, 0, 5, False)
    finally:
        ui.random.setstate(random_state)
    (seed1, status1, *panel1), (seed2, _, *panel2) = first, second
    assert seed1 != seed2 and f"seed {seed1}" in status1 and panel1[-1] == f"mnist-even|n=4|seed={seed1}|steps=5"
    assert panel1[-1] != panel2[-1]  # a new draw on each press
    kept = ui.ui_translate("mnist-gan", BRIDGE, 4, 7, 5, True)
    assert kept[0] == 7 and kept[-1] == "mnist-even|n=4|seed=7|steps=5"
    seed, status, pairs, gif, slider, frame, fig, md, raw, run_id = ui.ui_translate("mnist-gan", BRIDGE, 4, -5, 5,
                                                                                    True)
    assert status.startswith("**⚠ Nothing was run.** Seed must be from 0") and seed == -5
    assert (pairs, gif, frame, fig, md, raw, run_id) == (None, None, None, None, "", None, "")  # no stale results
    status = ui.ui_translate("mnist-gan", "banana", 4, 0, 5, True)[1]
    assert "Target: unknown target 'banana'" in status and "even digits (0 2 4 6 8) (mnist-even)" in status
    # what the page shows first: the step picture is half-way, not a copy of the pairs
    _, *values = ui.ui_first_translation("mnist-gan", BRIDGE, 4, 0, 4)
    assert values[2].value == 2 and values[3].size == ui.show_frame(values[-1], 2).size


def test_app_flags_and_environment(monkeypatch):
    sys.path.insert(0, str(ROOT))
    try:
        import app
    finally:
        sys.path.remove(str(ROOT))
    for var in ("HOST", "PORT", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        monkeypatch.delenv(var, raising=False)
    a = app.parse_args([])
    assert (a.host, a.port, a.concurrency) == ("127.0.0.1", 7860, 2)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7000")
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert (app.parse_args([]).host, app.parse_args([]).port) == ("0.0.0.0", 7000)
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("HOST", "10.0.0.1")
    assert (app.parse_args([]).host, app.parse_args([]).port) == ("10.0.0.1", 8080)
    assert app.parse_args(["--host", "::1", "--port", "9"]).port == 9
    with pytest.raises(SystemExit):
        app.parse_args(["--port", "70000"])
    help_text = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    assert "--host" in help_text and "GRADIO_SERVER_PORT" in help_text


# ------------------------------------------------------------------ deployment files --
def _requirements() -> dict:
    reqs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", line).groups()
            reqs[name.lower().replace("_", "-")] = spec.strip()
    return reqs


def test_requirements_match_pyproject():
    """requirements.txt (Spaces) = the package's dependencies + its `app` extra, same specifiers, nothing else."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = _requirements()
    wanted = {}
    for dep in project["dependencies"] + project["optional-dependencies"]["app"]:
        name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", dep).groups()
        wanted[name.lower().replace("_", "-")] = spec.strip()
    assert reqs == wanted, "requirements.txt differs from pyproject.toml's dependencies + the app extra"
    assert "gradio" not in {d.split("=")[0].split(">")[0] for d in project["dependencies"]}, "gradio is the app extra's"
    import gradio

    assert reqs["gradio"] == f"=={gradio.__version__}", "requirements.txt pins the gradio this was tested with"


def test_dockerfile_matches_the_readme_install():
    docker = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in docker
    readme = (ROOT / "README.md").read_text()
    torch_pins = re.search(r"pip install (torch==\S+ torchvision==\S+)", readme).group(1)
    assert f"pip install --no-cache-dir {torch_pins} --index-url https://download.pytorch.org/whl/cpu" in docker
    assert "EXPOSE 7860" in docker
    assert 'CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]' in docker
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "runs" in ignore and ".git" in ignore


def test_space_front_matter():
    readme = (ROOT / "README.md").read_text()
    if not readme.startswith("---\n"):
        pytest.skip("README.md has no Hugging Face Space front matter yet (draft in the app section)")
    block = readme.split("---\n", 2)[1]
    meta = dict(re.findall(r"^([a-z_]+):\s*(.+)$", block, re.M))
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert meta["sdk_version"] == _requirements()["gradio"].lstrip("=")
    assert meta["python_version"].strip("\"'") == "3.11"
    models_listed = re.findall(r"^\s+-\s+(\S+)$", block.split("models:")[1], re.M)
    assert models_listed and all(m.split("/")[-1] in d2e_zoo.list_models() for m in models_listed)
