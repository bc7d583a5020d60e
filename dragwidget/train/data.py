"""Training images: rendered by background workers into a ring buffer that training samples from.

The renderer and the training step run at different speeds. With a ring buffer neither waits for
the other: while rendering is faster, the buffer turns over and images are nearly always fresh;
while training is faster, images are drawn more than once. Training starts as soon as the first
`min_fill` images are in. No x-flips: the faces' landmarks have a left and a right.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

# (seeds, size) -> uint8 images [N, size, size, 3], or (images, float32 latents [N, z_dim]) for a
# paired source: the latent each image was drawn from.
ImageSource = Callable[[Sequence[int], int], np.ndarray | tuple[np.ndarray, np.ndarray]]


def render_faces(seeds: Sequence[int], size: int) -> np.ndarray:
    """The default image source: our procedural cartoon faces."""
    from dragwidget.datasets.faces import render_batch

    images, _landmarks = render_batch(list(seeds), size)
    return images


@dataclass(frozen=True)
class PairedFaces:
    """A paired source: for each seed a latent z ~ N(0, I) of `z_dim` numbers and the face of z
    (`params_from_latent`), so that a generator can be taught to draw exactly that face for z."""

    z_dim: int

    def __call__(self, seeds: Sequence[int], size: int) -> tuple[np.ndarray, np.ndarray]:
        from dragwidget.datasets.faces import params_from_latent, render_face

        z = np.stack([np.random.default_rng(s).standard_normal(self.z_dim) for s in seeds])
        images = [render_face(params_from_latent(v), size)[0] for v in z]
        return np.stack(images), z.astype(np.float32)


class _RenderStream(IterableDataset):
    """Endless (uint8 images [chunk, H, W, 3], latents [chunk, z_dim] or [0]); worker k of n
    renders chunks k, k + n, k + 2n, ..."""

    def __init__(self, image_source: ImageSource, size: int, chunk: int, first_seed: int):
        self.image_source, self.size, self.chunk, self.first_seed = (
            image_source, size, chunk, first_seed,
        )  # fmt: skip

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        k, n = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in itertools.count():
            start = self.first_seed + (i * n + k) * self.chunk
            out = self.image_source(range(start, start + self.chunk), self.size)
            images, latents = out if isinstance(out, tuple) else (out, np.zeros(0, np.float32))
            yield (
                torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
                torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32)),
            )


def _init_worker(_worker_id: int) -> None:
    torch.set_num_threads(1)  # one core per worker; the renderer needs no thread pool


class ImagePool:
    """A ring buffer of `capacity` rendered images (and their latents, from a paired source),
    filled by a background thread.

    `refresh` is how many new images may be rendered per image sampled once the buffer is full:
    0 stops rendering then (a fixed pool), inf renders as fast as the workers can. A fraction
    keeps the pool turning over on a machine whose cores training needs.
    """

    def __init__(
        self,
        image_source: ImageSource,
        size: int,
        capacity: int,
        num_workers: int = 0,
        chunk: int = 32,
        first_seed: int = 0,
        seed: int = 0,
        refresh: float = math.inf,
    ):
        self.size, self.refresh = size, float(refresh)
        self.capacity = max(capacity, chunk)
        self.buffer = torch.empty([0, size, size, 3], dtype=torch.uint8)  # allocated by start()
        self.latents: torch.Tensor | None = None  # [capacity, z_dim], from a paired source
        self.rendered = 0  # images written so far (they used seeds first_seed .. + rendered - 1)
        self.sampled = 0  # images handed out by sample()
        self.start_time = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._generator = torch.Generator().manual_seed(seed)
        stream = _RenderStream(image_source, size, chunk, first_seed)
        self._loader = DataLoader(
            stream,
            batch_size=None,
            num_workers=num_workers,
            worker_init_fn=_init_worker if num_workers else None,
            prefetch_factor=4 if num_workers else None,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> ImagePool:
        # Fork the workers from the calling (main) thread: forking from a helper thread while
        # the main thread may hold a lock is how a child deadlocks.
        batches = iter(self._loader)
        self.buffer = torch.empty([self.capacity, self.size, self.size, 3], dtype=torch.uint8)
        self.start_time = time.monotonic()
        self._thread = threading.Thread(target=self._fill, args=(batches,), daemon=True)
        self._thread.start()
        return self

    def _may_render(self) -> bool:
        """False while the full buffer has had its share of new images for the images sampled."""
        if math.isinf(self.refresh):
            return True
        return self.rendered < self.capacity + self.refresh * self.sampled

    def _fill(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> None:
        try:
            for images, latents in batches:
                if self.refresh == 0 and self.rendered >= self.capacity:
                    break
                while not self._may_render() and not self._stop.is_set():
                    time.sleep(0.01)
                if self._stop.is_set():
                    break
                slots = (torch.arange(images.shape[0]) + self.rendered) % self.capacity
                with self._lock:
                    if latents.numel() and self.latents is None:
                        self.latents = torch.zeros([self.capacity, latents.shape[1]])
                    self.buffer[slots] = images
                    if self.latents is not None:
                        self.latents[slots] = latents
                    self.rendered += images.shape[0]
        except BaseException as error:  # handed to the training thread by sample()/wait()
            self._error = error
        finally:
            del batches  # shuts the workers down

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError("rendering training images failed") from self._error

    def wait(self, count: int, timeout_s: float = 300.0) -> None:
        """Block until `count` images (at most the capacity) have been rendered."""
        count = min(count, self.capacity)
        deadline = time.monotonic() + timeout_s
        while self.rendered < count:
            self._check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.rendered} of {count} images after {timeout_s} s")
            time.sleep(0.05)

    def sample(
        self, batch_size: int, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Random images from the buffer as float [B, 3, H, W] in [-1, 1] on `device`, and their
        latents [B, z_dim] (None unless the source is paired)."""
        self._check()
        self.wait(1)
        with self._lock:
            filled = min(self.rendered, self.capacity)
            index = torch.randint(filled, [batch_size], generator=self._generator)
            images = self.buffer[index]
            latents = None if self.latents is None else self.latents[index].to(device)
            self.sampled += batch_size
        images = images.to(device, non_blocking=True).permute(0, 3, 1, 2)
        return images.to(torch.float32) / 127.5 - 1, latents

    def first(self, count: int) -> torch.Tensor:
        """The first `count` rendered images, uint8 [N, H, W, 3] (for a grid of reals)."""
        self.wait(count)
        with self._lock:
            return self.buffer[: min(count, self.capacity)].clone()

    def render_rate(self) -> float:
        """Images rendered per second since start()."""
        return self.rendered / max(time.monotonic() - self.start_time, 1e-6)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a daemon: a stuck render must not hold the exit
