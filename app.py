"""The d2e-zoo app: pick a prior and a target, watch data-free translations step by step.

    python app.py                          # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080
    HOST=0.0.0.0 PORT=8080 python app.py   # also GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Spaces)

Uses the bundled zoo (the Hugging Face Hub first, unless offline or ``D2E_ZOO_USE_HUB=0``);
needs no network. The functions behind the page live in ``d2e_zoo/app/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from d2e_zoo.argtypes import HelpFormatter

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
_T0 = time.perf_counter()


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(prog="python app.py", formatter_class=HelpFormatter,
                                description="d2e-zoo: data-free translation in the browser")
    p.add_argument("--host", default=env.get("HOST") or env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                   help="address to listen on (env HOST or GRADIO_SERVER_NAME; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(env.get("PORT") or env.get("GRADIO_SERVER_PORT") or 7860),
                   help="port (env PORT or GRADIO_SERVER_PORT; default 7860)")
    p.add_argument("--concurrency", type=int, default=int(env.get("D2E_APP_CONCURRENCY", 2)),
                   help="translations computed at the same time (the rest wait in the queue; default 2)")
    p.add_argument("--max-queue", type=int, default=64, help="requests allowed to wait (default 64)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per translation (default: CPU cores / concurrency)")
    p.add_argument("--warmup", default="mnist-even",
                   help="bridges to load and run once at start-up, comma-separated ('' for none)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    args = p.parse_args(argv)
    if not 1 <= args.port <= 65535:
        p.error(f"--port must be from 1 to 65535, got {args.port}")
    if args.concurrency < 1:
        p.error("--concurrency must be at least 1")
    return args


def _warm_up(models, names):
    from d2e_zoo.app.translate import warm_up

    warm_up(names)
    print(f"Models warm in {time.perf_counter() - _T0:.1f} s: {', '.join(models.loaded())}", flush=True)


def _bound_temporary_files():
    """Gradio's cache (its copies of the pictures it serves, and uploads) in this process's
    temporary folder, trimmed to a size bound while running and removed at exit; pictures
    larger than the app accepts are refused by PIL too (Gradio decodes the canvas itself)."""
    from PIL import Image

    from d2e_zoo.app.choices import LIMITS
    from d2e_zoo.app.tempfiles import process_folder, start_sweeper

    Image.MAX_IMAGE_PIXELS = LIMITS.image_pixels  # PIL refuses more than twice this (the app: more than this)
    if "GRADIO_TEMP_DIR" not in os.environ:  # a folder the person chose is theirs: left alone
        os.environ["GRADIO_TEMP_DIR"] = str(process_folder("gradio"))
        start_sweeper(process_folder("gradio"))


def _exit_on_sigterm():
    """SIGTERM (docker stop, a process manager) ends the app like Ctrl-C: exit handlers run
    and the temporary files go."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _bound_temporary_files()
    _exit_on_sigterm()
    from d2e_zoo.app import models, ui

    threads = ui.set_threads(args.concurrency, args.threads)
    demo = ui.build_demo(concurrency_limit=args.concurrency, max_queue=args.max_queue)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                show_error=True, **ui.launch_kwargs())
    print(f"App ready in {time.perf_counter() - _T0:.1f} s: http://{args.host}:{args.port} "
          f"(concurrency {args.concurrency}, {threads} torch thread(s) each)", flush=True)
    names = [n for n in args.warmup.split(",") if n.strip()]
    if names:  # after the server is up: the page is usable at once, the first click finds the models warm
        threading.Thread(target=_warm_up, args=(models, names), daemon=True, name="warm-up").start()
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
