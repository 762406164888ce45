"""Draws follow their generator's device and match torch's own draws for the same seed."""

import torch

from d2e_zoo.rng import standard_normal, standard_uniform


def test_draws_equal_torch_for_the_same_seed():
    a = standard_normal((3, 5), torch.Generator().manual_seed(4))
    b = torch.randn((3, 5), generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    u = standard_uniform((7,), torch.Generator().manual_seed(4), dtype=torch.float64)
    assert torch.equal(u, torch.rand(7, generator=torch.Generator().manual_seed(4), dtype=torch.float64))


def test_draws_are_made_on_the_generator_device_and_moved():
    g = torch.Generator().manual_seed(0)
    x = standard_normal((4, 2), g, device="meta")  # drawn on the CPU generator, then moved
    assert x.device.type == "meta" and x.shape == (4, 2)
    assert standard_normal((2,)).device.type == "cpu"  # no generator: the CPU (torch's global stream)


def test_a_cpu_posterior_accepts_latents_from_any_generator():
    """The energies score latents on their networks' device and answer on the latents' device."""
    from d2e_zoo import load

    pipe = load("mnist-3")
    z, rate = pipe.energy.rejection_sample(8, torch.Generator().manual_seed(0))
    assert z.shape == (8, 10) and 0 < rate <= 1 and z.device.type == "cpu"
    assert pipe.energy.log_prob(z).shape == (8,)
