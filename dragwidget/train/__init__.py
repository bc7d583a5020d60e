"""Training our own StyleGAN2 on the procedural faces: `python -m dragwidget.train --help`.

config.py (hyperparameters) -> data.py (rendered images, fed in the background) -> trainer.py (G, D,
G_ema, the losses, one optimisation step) -> loop.py (time budget, logs, snapshots, final outputs)
-> export.py (the shipping format: generator.safetensors (config inside)).

Deliberately free of imports: `python -m dragwidget.train` starts its clock before torch loads.
"""
