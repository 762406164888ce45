"""Load: 8 concurrent gradio_client clients each ask the running app (`python app.py`, a
subprocess on a free local port, default queue: 2 translations at a time) for a translation of
16 samples with its trajectory, animation and plot. All must succeed, none may take longer
than BOUND_S from its request to its result, and the app must still answer afterwards.
Two bursts: the first right after start-up (the models load during it), the second warm.
Traffic goes to 127.0.0.1 only; the number of requests is fixed (2 x 8 + 1)."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed (pip install gradio)")

from app_process import AppProcess  # noqa: E402

pytestmark = pytest.mark.slow  # starts the app in a subprocess
CLIENTS = 8
BOUND_S = 15.0


@pytest.fixture(scope="module")
def app():
    with AppProcess() as proc:
        yield proc


def burst(url: str, seed0: int) -> dict:
    """CLIENTS clients, released together, each one /translate call; {i: (seconds, outputs)}."""
    results, errors = {}, {}
    clients = [gradio_client.Client(url, verbose=False) for _ in range(CLIENTS)]
    start_line = threading.Barrier(CLIENTS)

    def one(i: int):
        try:
            start_line.wait(timeout=60)
            t0 = time.perf_counter()
            out = clients[i].predict("mnist-gan", "mnist-even", 16, seed0 + i, 20, api_name="/translate")
            results[i] = (time.perf_counter() - t0, out)
        except Exception as e:  # reported below, with the client's number
            errors[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(results) == list(range(CLIENTS))
    return results


@pytest.mark.parametrize("round_, seed0", [("cold", 100), ("warm", 200)])
def test_eight_concurrent_clients(app, round_, seed0):
    results = burst(app.url, seed0)
    latencies = sorted(s for s, _ in results.values())
    print(f"\n{round_}: {CLIENTS} concurrent clients, 16 samples each: latency min {latencies[0]:.2f} s, "
          f"median {statistics.median(latencies):.2f} s, max {latencies[-1]:.2f} s (bound {BOUND_S:.0f} s)")
    for i, (_, out) in results.items():
        _pairs, gif, _slider, _frame, _plot, _md, numbers, run_id = out
        assert run_id == f"mnist-even|n=16|seed={seed0 + i}|steps=20"
        assert numbers["num_samples"] == 16 and gif.endswith(".gif")
    assert latencies[-1] < BOUND_S
    assert app.alive() and app.answers(), app.log()
    # still serving after the burst
    frame = gradio_client.Client(app.url, verbose=False).predict(results[0][1][-1], 3, api_name="/frame")
    assert frame.endswith(".png")
