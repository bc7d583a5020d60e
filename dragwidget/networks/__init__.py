"""Generators in plain PyTorch: StyleGAN2 and StyleGAN3 with the official parameter names.

The generator protocol: anything with these can be dragged (ours, or a module of your own).

- attributes `z_dim, w_dim, c_dim, num_ws, img_resolution, img_channels` and `init_kwargs` (the
  constructor's keyword arguments, JSON-able);
- `mapping(z, c=None, truncation_psi=1, truncation_cutoff=None) -> ws [B, num_ws, w_dim]`;
- `synthesis(ws, noise_mode="const") -> image [B, C, H, W]` in about [-1, 1]; noise modes
  "const", "random", "none";
- `synthesis(ws, feature_layer=name, with_image=False) -> (None, features)`, which stops after that
  layer, and `with_image=True -> (image, features)`, which runs the rest without gradients;
- `synthesis.feature_layers` (names, in order), `synthesis.default_feature_layer`, and
  `synthesis.img_size -> (H, W)` (StyleGAN-Human is not square).

Nothing here knows about dragging or widgets.
"""
