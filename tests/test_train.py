"""Training code: the discriminator, the losses, a step, EMA, checkpoints, export, a whole run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dragwidget.checkpoints import load_generator
from dragwidget.networks.stylegan2 import Generator
from dragwidget.train.config import TrainConfig
from dragwidget.train.data import ImagePool
from dragwidget.train.discriminator import Discriminator, MinibatchStdLayer
from dragwidget.train.export import export_generator
from dragwidget.train.loop import load_checkpoint, save_checkpoint, train
from dragwidget.train.trainer import Trainer, r1_penalty

CONFIGS = Path(__file__).parent.parent / "dragwidget" / "train" / "configs"


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads on a shared 2-core machine spin against each other: 5x slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stand_in_source(seeds, size: int) -> np.ndarray:
    """Cheap deterministic images: a coloured square on a coloured background per seed."""
    images = []
    for seed in seeds:
        rng = np.random.RandomState(seed)
        image = np.empty([size, size, 3], dtype=np.uint8)
        image[:] = rng.randint(0, 256, 3)
        x, y = rng.randint(0, size // 2, 2)
        image[y : y + size // 2, x : x + size // 2] = rng.randint(0, 256, 3)
        images.append(image)
    return np.stack(images)


def tiny_config(**changes) -> TrainConfig:
    config = TrainConfig.load(CONFIGS / "tiny32.json")
    config.batch_size = 8
    config.num_workers = 0
    config.pool_size, config.pool_min_fill, config.num_sample_seeds = 256, 64, 8
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def reals(batch: int = 8, size: int = 32, first_seed: int = 0) -> torch.Tensor:
    images = torch.from_numpy(stand_in_source(range(first_seed, first_seed + batch), size))
    return images.permute(0, 3, 1, 2).float() / 127.5 - 1


def test_configs_load_and_build():
    for path in sorted(CONFIGS.glob("*.json")):
        config = TrainConfig.load(path)
        G = Generator(**config.generator)
        Discriminator(G.img_resolution, G.img_channels, **config.discriminator)
        assert json.loads(json.dumps(G.init_kwargs)) == G.init_kwargs


def test_discriminator_gives_one_logit_per_image():
    D = Discriminator(32, 3, channel_base=512, channel_max=32)
    assert D(torch.randn(8, 3, 32, 32)).shape == (8, 1)
    assert D(torch.randn(3, 3, 32, 32)).shape == (3, 1)  # a batch that 4 does not divide


def test_minibatch_std_layer_appends_group_std():
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (8, 7, 4, 4)
    assert torch.equal(y[:, :6], x)
    # Groups are samples {i, i + 2, i + 4, i + 6}; the statistic is the mean std over the group.
    for i in range(2):
        group = x[i::2]
        expected = group.std(dim=0, unbiased=False).mean()
        for j in range(i, 8, 2):
            torch.testing.assert_close(y[j, 6], expected.expand(4, 4), atol=1e-5, rtol=1e-5)
    same = MinibatchStdLayer(group_size=4)(torch.ones(4, 2, 4, 4))
    assert same[:, 2].abs().max() < 1e-3  # identical samples: (almost) no spread


def test_minibatch_std_lets_one_image_change_its_group_logits():
    torch.manual_seed(0)
    D = Discriminator(16, 3, channel_base=256, channel_max=16)
    x = torch.randn(8, 3, 16, 16)
    changed = x.clone()
    changed[0] = torch.randn(3, 16, 16)
    before, after = D(x), D(changed)
    moved = (after - before).abs().squeeze(1) > 1e-6
    # Sample 0 shares its group with 2, 4 and 6 (group size 4 over 8: stride 2), not with 1, 3, ...
    assert moved.tolist() == [True, False, True, False, True, False, True, False]


def test_r1_penalty_is_the_squared_input_gradient_norm():
    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(0.5))

        def forward(self, x):  # D(x) = a * |x|^2, so dD/dx = 2 a x
            return self.a * x.square().sum(dim=[1, 2, 3])

    D = Quadratic()
    x = torch.randn(3, 2, 4, 4)
    penalty = r1_penalty(D, x)
    norms = x.square().sum(dim=[1, 2, 3])
    torch.testing.assert_close(penalty, 4 * 0.5**2 * norms)  # |2 a x|^2
    penalty.sum().backward()
    torch.testing.assert_close(D.a.grad, (8 * 0.5 * norms).sum())  # d/da of 4 a^2 |x|^2


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_training_steps_change_g_and_g_ema_and_ema_lies_between():
    trainer = Trainer(tiny_config(ema_kimg=0.05, ema_rampup=None))
    trainer.train_step(reals())
    g0, ema0 = _params(trainer.G), _params(trainer.G_ema)
    d0 = _params(trainer.D)
    trainer.train_step(reals(first_seed=8))
    g1, ema1 = _params(trainer.G), _params(trainer.G_ema)
    assert trainer.step == 2 and trainer.images_seen == 16
    assert any(not torch.equal(a, b) for a, b in zip(g0, g1, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(ema0, ema1, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, _params(trainer.D), strict=True))
    for old, new, g in zip(ema0, ema1, g1, strict=True):
        # new EMA = lerp(old EMA, new G, 1 - beta): on the segment between them
        assert torch.all((new - old) * (g - new) >= -1e-12)
    beta = 0.5 ** (8 / 50)
    for old, new, g in zip(ema0, ema1, g1, strict=True):
        torch.testing.assert_close(new, old.lerp(g, 1 - beta), atol=1e-6, rtol=1e-5)
    losses = trainer.take_losses()
    assert set(losses) == {"G", "D", "D_real", "D_fake", "R1"}
    assert all(np.isfinite(v) for v in losses.values())


def test_resume_restores_step_and_weights_exactly(tmp_path):
    a = Trainer(tiny_config())
    a.train_step(reals())
    a.train_step(reals(first_seed=8))
    save_checkpoint(a, tmp_path / "checkpoint.pt", {"rendered": 16, "train_time_s": 1.0})
    state = load_checkpoint(tmp_path)  # weights_only=True inside
    b = Trainer(TrainConfig.from_dict(state["config"]))
    b.load_state_dict(state)
    assert (b.step, b.images_seen) == (a.step, a.images_seen) == (2, 16)
    for name in ("G", "D", "G_ema"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # The next step is the same step: optimizer moments and the style-mixing draws came back too.
    torch.manual_seed(123)
    a.train_step(reals(first_seed=16))
    torch.manual_seed(123)
    b.train_step(reals(first_seed=16))
    for pa, pb in zip(a.G.parameters(), b.G.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0)


def test_export_round_trips_through_load_generator(tmp_path):
    torch.manual_seed(0)
    G = Generator(**tiny_config().generator).eval()
    weights = export_generator(G, tmp_path)
    assert weights.name == "generator.safetensors"
    assert all(t.dtype == torch.float16 for t in load_file(weights).values())
    H = load_generator(weights)
    assert H.init_kwargs == G.init_kwargs
    z = torch.randn(4, G.z_dim)
    with torch.no_grad():
        expected, got = G(z, truncation_psi=0.7), H(z, truncation_psi=0.7)
    torch.testing.assert_close(got, expected, atol=2e-2, rtol=0)


def test_image_pool_samples_rendered_images_and_reports_failures():
    pool = ImagePool(stand_in_source, 16, capacity=4096, chunk=16).start()
    try:
        x, latents = pool.sample(5)
        assert x.shape == (5, 3, 16, 16) and x.dtype == torch.float32 and latents is None
        assert -1 <= x.min() and x.max() <= 1
        assert np.array_equal(pool.first(16).numpy(), stand_in_source(range(16), 16))
    finally:
        pool.close()

    def broken(seeds, size):
        raise OSError("no faces today")

    pool = ImagePool(broken, 16, capacity=64).start()
    with pytest.raises(RuntimeError, match="rendering training images failed"):
        pool.wait(1, timeout_s=10)
    pool.close()


def test_a_short_run_writes_its_outputs_and_resumes(tmp_path):
    config = tiny_config(log_every_s=0, snapshot_every_min=100)
    info = train(config, tmp_path, kimg=0.016, device="cpu", image_source=stand_in_source)
    assert (
        info["steps"] == 2 and info["images_seen"] == 16 and info["stop_reason"] == "kimg reached"
    )
    for name in (
        "generator.safetensors",
        "training_info.json",
        "checkpoint.pt",
        "log.jsonl",
        "reals.png",
        "samples_final.png",
    ):
        assert (tmp_path / name).is_file(), name
    events = [
        json.loads(line)["event"] for line in (tmp_path / "log.jsonl").read_text().splitlines()
    ]
    assert events[:3] == ["start", "data_ready", "first_step"] and events[-1] == "end"
    assert info["cpu_time_s"] > 0 and load_checkpoint(tmp_path)["cpu_time_s"] > 0
    info = train(
        config, tmp_path, kimg=0.032, resume=tmp_path, device="cpu", image_source=stand_in_source
    )
    assert info["steps"] == 4 and info["images_seen"] == 32
    assert load_checkpoint(tmp_path)["rendered"] == info["images_rendered"]


def test_a_first_step_that_fails_under_bf16_is_retried_in_fp32(tmp_path, monkeypatch):
    import dragwidget.train.loop as loop

    class FailsOnce(Trainer):
        failed = False

        def train_step(self, reals, latents=None):
            if not FailsOnce.failed:
                FailsOnce.failed = True
                raise RuntimeError("no bf16 kernel for this op")
            super().train_step(reals, latents)

    monkeypatch.setattr(loop, "Trainer", FailsOnce)
    config = tiny_config(amp="bf16")
    info = train(config, tmp_path, kimg=0.008, device="cpu", image_source=stand_in_source)
    assert info["steps"] == 1 and info["config"]["amp"] == "off"
    events = [
        json.loads(line)["event"] for line in (tmp_path / "log.jsonl").read_text().splitlines()
    ]
    assert "amp_fallback" in events


def test_the_training_speed_benchmark_runs_on_the_cpu(capsys):
    import importlib.util

    path = Path(__file__).parent.parent / "benchmarks" / "train_speed.py"
    spec = importlib.util.spec_from_file_location("train_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--config", str(CONFIGS / "tiny32.json"), "--device", "cpu", "--batch-sizes", "8,4"]
    rows = bench.main([*argv, "--warmup", "1", "--steps", "1"])
    assert [r["batch"] for r in rows] == [4, 8]
    assert all(r["img_per_s"] > 0 for r in rows)
    assert "ms/step" in capsys.readouterr().out


def progressive_config(**changes) -> TrainConfig:
    """tiny32's networks, grown from 8 px (16 from 0.016 kimg, 32 from 0.032) with a fade."""
    return tiny_config(stages=[(8, 0.0), (16, 0.016), (32, 0.032)], fade_kimg=0.016, **changes)


@pytest.mark.parametrize(
    "stages, problem",
    [
        ([(16, 1.0), (32, 2.0)], "start at 0 kimg"),
        ([(32, 0.0), (16, 2.0)], "must both increase"),
        ([(16, 0.0), (32, 0.0)], None),  # equal start kimg: the later stage wins at once
        ([(12, 0.0)], "powers of two"),
        ([(64, 0.0)], "powers of two from 8 to 32"),
    ],
)
def test_progressive_stages_are_checked(stages, problem):
    data = tiny_config().to_dict() | {"stages": stages}
    if problem is None:
        assert TrainConfig.from_dict(data).stages == stages
        return
    with pytest.raises(ValueError, match=problem):
        TrainConfig.from_dict(data)


def test_progressive_growing_needs_the_skip_generator():
    data = tiny_config().to_dict() | {"stages": [(16, 0)]}
    data["generator"]["synthesis_kwargs"]["architecture"] = "resnet"
    with pytest.raises(ValueError, match="skip generator"):
        TrainConfig.from_dict(data)


def test_stage_schedule_steps_up_and_fades_each_new_block_in():
    trainer = Trainer(progressive_config())
    expected = {0: (8, 1.0), 15: (8, 1.0), 16: (16, 0.0), 24: (16, 0.5), 31: (16, 0.9375)}
    expected |= {32: (32, 0.0), 40: (32, 0.5), 48: (32, 1.0), 10_000: (32, 1.0)}
    for images_seen, stage in expected.items():
        trainer.images_seen = images_seen
        assert trainer.stage() == pytest.approx(stage, abs=1e-3), images_seen
    assert Trainer(tiny_config()).stage() == (32, 1.0)  # no stages: full resolution


def test_a_grown_generator_starts_as_the_upsampled_image_of_its_first_stage():
    from dragwidget.networks.ops import upsample2d

    trainer = Trainer(progressive_config())
    synthesis = trainer.G.synthesis
    ws = trainer.G.mapping(torch.randn(2, trainer.G.z_dim))
    with torch.no_grad():
        eight = trainer.synthesize(ws, 8)
        full = synthesis(ws, noise_mode="const")
    assert eight.shape[-1] == 8 and full.shape[-1] == 32
    f = synthesis.b16.resample_filter
    torch.testing.assert_close(full, upsample2d(upsample2d(eight, f), f), atol=1e-5, rtol=1e-5)
    assert eight.abs().mean() > 0.01  # the first stage's own ToRGB is live
    # Without stages every ToRGB draws from the start.
    plain = Trainer(tiny_config()).G.synthesis
    assert plain.b32.torgb.weight.abs().sum() > 0


def test_progressive_discriminator_reads_each_stage_and_fades_between_them():
    D = Discriminator(32, 3, channel_base=512, channel_max=32, progressive=True)
    x16 = torch.randn(4, 3, 16, 16)
    assert D(torch.randn(4, 3, 8, 8)).shape == (4, 1)
    full, faded = D(x16, 1.0), D(x16, 0.0)
    # alpha 0: the new top block is ignored, the half-size image enters one block lower.
    torch.testing.assert_close(faded, D(torch.nn.functional.avg_pool2d(x16, 2), 1.0))
    assert not torch.allclose(full, faded)
    assert D(x16, 0.5).shape == (4, 1)
    with pytest.raises(ValueError, match="images of 24 px"):
        D(torch.randn(4, 3, 24, 24))
    with pytest.raises(ValueError, match="images of 16 px"):
        Discriminator(32, 3, channel_base=512, channel_max=32)(x16)  # not progressive


def test_progressive_training_grows_the_generator_block_by_block():
    trainer = Trainer(progressive_config(batch_size=8, r1_interval=1))
    torgb32 = trainer.G.synthesis.b32.torgb.weight
    trainer.train_step(reals())  # 8 px
    trainer.train_step(reals(first_seed=8))  # still 8 px: 8 images seen before it
    assert torgb32.abs().sum() == 0 and trainer.G.synthesis.b32.conv1.weight.grad is None
    trainer.train_step(reals(first_seed=16))  # 16 px
    trainer.train_step(reals(first_seed=24))  # 16 px
    assert torgb32.abs().sum() == 0
    trainer.train_step(reals(first_seed=32))  # 32 px: the last block starts to draw
    assert trainer.stage()[0] == 32 and torgb32.abs().sum() > 0
    losses = trainer.take_losses()
    assert all(np.isfinite(v) for v in losses.values()) and "R1" in losses


def test_noise_strengths_above_the_noise_limit_stay_at_zero():
    def strengths(trainer, above: bool):
        return [
            p.item() for n, p in trainer.G.named_parameters()
            if n.endswith("noise_strength") and (int(n.split(".")[1][1:]) > 8) == above
        ]  # fmt: skip

    limited, free = Trainer(tiny_config(noise_max_resolution=8)), Trainer(tiny_config())
    for trainer in (limited, free):
        for i in range(3):
            trainer.train_step(reals(first_seed=8 * i))
    assert strengths(limited, above=True) and all(s == 0 for s in strengths(limited, above=True))
    assert any(s != 0 for s in strengths(limited, above=False))
    assert any(s != 0 for s in strengths(free, above=True))


def test_the_shipped_model_comes_from_a_config_in_the_repo():
    record = Path(__file__).parent.parent / "benchmarks/results/training/training_info.json"
    info = json.loads(record.read_text())
    # Keys added after the run default to the behaviour it had, so they are filled in.
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))
    recorded = defaults | info["config"]
    matches = [
        path.name
        for path in sorted(CONFIGS.glob("*.json"))
        if json.loads(json.dumps(TrainConfig.load(path).to_dict())) == recorded
    ]
    assert matches, "no config in dragwidget/train/configs reproduces the shipped model"
    shipped = load_generator()
    assert shipped.init_kwargs == TrainConfig.load(CONFIGS / matches[0]).generator
    assert info["wall_time_s"] > 0 and info["images_seen"] > 0


def stand_in_paired_source(seeds, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A paired stand-in: each image is one flat colour, a function of its own latent z."""
    z = np.stack([np.random.RandomState(s).randn(4) for s in seeds]).astype(np.float32)
    colours = np.round(255 / (1 + np.exp(-z[:, :3]))).astype(np.uint8)
    images = np.broadcast_to(colours[:, None, None, :], (len(seeds), size, size, 3))
    return np.ascontiguousarray(images), z


def paired_reals(batch: int = 8, size: int = 32, first_seed: int = 0):
    images, z = stand_in_paired_source(range(first_seed, first_seed + batch), size)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x, torch.from_numpy(z)


def paired_config(**changes) -> TrainConfig:
    changes = {"paired_weight": 1.0, "adversarial_weight": 0.0, "betas": (0.9, 0.99)} | changes
    config = tiny_config(**changes)
    config.generator = {**config.generator, "z_dim": 4}
    return config


def test_the_image_pool_keeps_each_latent_with_its_image():
    pool = ImagePool(stand_in_paired_source, 8, capacity=256, chunk=16).start()
    try:
        pool.wait(256)
        images, latents = pool.sample(32)
        assert latents.shape == (32, 4)
        # Each image is the flat colour of its own latent: the pairs were not shuffled apart.
        expected = torch.round(255 / (1 + torch.exp(-latents[:, :3]))) / 127.5 - 1
        torch.testing.assert_close(images[:, :, 0, 0], expected, atol=1e-6, rtol=0)
    finally:
        pool.close()


def test_a_throttled_pool_renders_only_its_share_of_new_images():
    fixed = ImagePool(stand_in_source, 8, capacity=64, chunk=16, refresh=0.0).start()
    fixed.wait(64)
    time.sleep(0.5)
    assert fixed.rendered == 64  # a fixed pool stops once full
    fixed.close()
    pool = ImagePool(stand_in_source, 8, capacity=64, chunk=16, refresh=0.5).start()
    try:
        pool.wait(64)
        time.sleep(0.5)
        assert pool.rendered == 64  # full, and nothing sampled yet: no new images
        for _ in range(8):
            pool.sample(16)  # 128 images trained on: 64 new ones due
        deadline = time.monotonic() + 10
        while pool.rendered < 128 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert pool.rendered == 128
    finally:
        pool.close()


def test_paired_loss_is_zero_for_the_same_image_and_punishes_a_blurred_edge():
    from dragwidget.train.trainer import paired_loss

    x = -torch.ones(2, 3, 32, 32)
    x[..., 16:] = 1  # a sharp vertical edge
    assert paired_loss(x, x) == 0
    blurred = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
    shifted = torch.roll(x, 1, dims=-1)
    assert paired_loss(blurred, x) > 0 and paired_loss(shifted, x) > 0
    # The edge term: a blur costs more than its plain L1 alone would say.
    plain = (blurred - x).abs().mean()
    assert paired_loss(blurred, x) > 2 * plain


def test_paired_supervision_teaches_g_to_redraw_the_image_of_each_latent():
    torch.manual_seed(0)
    trainer = Trainer(paired_config(g_lr=0.01))
    x, z = paired_reals(16)
    with torch.no_grad():
        before = (trainer.G(z) - x).abs().mean()
    for _ in range(40):
        trainer.train_step(x, z)
    with torch.no_grad():
        after = (trainer.G(z) - x).abs().mean()
    assert after < 0.5 * before
    assert set(trainer.take_losses()) == {"rec", "G"}  # no discriminator was asked
    with pytest.raises(ValueError, match="latent of every real"):
        trainer.train_step(x)


def test_the_discriminator_joins_paired_training_at_its_start_kimg():
    trainer = Trainer(paired_config(adversarial_weight=0.1, adversarial_start_kimg=0.016))
    d0 = _params(trainer.D)
    x, z = paired_reals(8)
    trainer.train_step(x, z)
    trainer.train_step(x, z)
    assert all(torch.equal(a, b) for a, b in zip(d0, _params(trainer.D), strict=True))
    assert "D" not in trainer.take_losses()
    trainer.train_step(x, z)  # 16 images seen: the discriminator trains from now on
    assert any(not torch.equal(a, b) for a, b in zip(d0, _params(trainer.D), strict=True))
    assert {"rec", "G", "D", "D_real", "D_fake"} <= set(trainer.take_losses())


def test_paired_configs_are_checked():
    with pytest.raises(ValueError, match="nothing to train"):
        TrainConfig.from_dict(tiny_config().to_dict() | {"adversarial_weight": 0})
    with pytest.raises(ValueError, match="paired_weight must be"):
        TrainConfig.from_dict(tiny_config().to_dict() | {"paired_weight": float("nan")})
    assert TrainConfig.from_dict(tiny_config().to_dict() | {"pool_refresh": True}).pool_refresh
    assert (
        TrainConfig.from_dict(tiny_config().to_dict() | {"pool_refresh": False}).pool_refresh == 0
    )


def test_channels_last_training_takes_the_same_step():
    x, z = paired_reals(8)
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        trainer = Trainer(paired_config(channels_last=channels_last))
        trainer.train_step(x, z)
        results.append(_params(trainer.G))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_the_discriminator_may_have_betas_of_its_own():
    trainer = Trainer(tiny_config(betas=(0.9, 0.99), d_betas=(0.0, 0.99)))
    assert trainer.g_opt.param_groups[0]["betas"] == (0.9, 0.99)
    assert trainer.d_opt.param_groups[0]["betas"][0] == 0.0


def test_the_discriminator_may_judge_only_part_of_a_paired_batch():
    seen = []

    class Counting(Discriminator):
        def forward(self, img, alpha=1.0):
            seen.append(img.shape[0])
            return super().forward(img, alpha)

    trainer = Trainer(paired_config(adversarial_weight=0.1, adversarial_batch=4, r1_interval=1))
    trainer.D.__class__ = Counting
    trainer.train_step(*paired_reals(8))
    assert seen and all(n == 4 for n in seen)  # G's term, D on reals and fakes, R1: 4 each
    with pytest.raises(ValueError, match="adversarial_batch must be"):
        TrainConfig.from_dict(paired_config().to_dict() | {"adversarial_batch": 9})
