"""python -m dragwidget.train --config CONFIG.json --out runs/NAME [--minutes M] [--kimg K] ..."""

import time

START = time.monotonic()  # --minutes counts from here, before torch is imported

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dragwidget.train",
        description="Train a StyleGAN2 on the procedural faces; export G_ema when done.",
    )
    parser.add_argument(
        "--config", help="JSON config (default: the one in the --resume checkpoint)"
    )
    parser.add_argument("--out", required=True, help="run folder (created if missing)")
    parser.add_argument("--minutes", type=float, help="hard wall-clock budget, export included")
    parser.add_argument("--kimg", type=float, help="stop after this many thousand images")
    parser.add_argument("--resume", help="checkpoint.pt (or a run folder) to continue from")
    parser.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda if available")
    parser.add_argument("--batch-size", type=int, help="override the config's batch size")
    parser.add_argument("--num-workers", type=int, help="override the config's render workers")
    args = parser.parse_args(argv)
    if args.minutes is None and args.kimg is None:
        parser.error("give --minutes, --kimg or both")
    if args.config is None and args.resume is None:
        parser.error("give --config (or --resume to reuse the checkpoint's config)")

    import torch

    from dragwidget.train.config import TrainConfig
    from dragwidget.train.loop import load_checkpoint, train

    if args.config is not None:
        config = TrainConfig.load(args.config)
    else:
        config = TrainConfig.from_dict(load_checkpoint(args.resume)["config"])
    if args.batch_size is not None:
        config.batch_size = args.batch_size
    if args.num_workers is not None:
        config.num_workers = args.num_workers
    # Leave render workers that run flat out their cores: oversubscribed threads spin against
    # each other. Workers throttled to a fraction of the training rate (pool_refresh) need none.
    busy_workers = config.num_workers if math.isinf(config.pool_refresh) else 0
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - busy_workers))
    # `timeout` and job schedulers send SIGTERM: stop like Ctrl-C, saving and exporting first.
    signal.signal(signal.SIGTERM, _interrupt)
    command = shlex.join(["python", "-m", "dragwidget.train", *(argv or sys.argv[1:])])
    try:
        train(
            config,
            args.out,
            minutes=args.minutes,
            kimg=args.kimg,
            resume=args.resume,
            device=args.device,
            start_time=START,
            command=command,
        )
    except KeyboardInterrupt as interrupt:
        sys.exit(f"stopped ({interrupt}); checkpoint and export written to {args.out}")


if __name__ == "__main__":
    main()
