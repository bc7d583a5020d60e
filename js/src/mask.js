// The mask as two image-sized layers: flexible (drawn as a green tint) and fixed (drawn as a grey
// hatch, which reads on any image and does not clash with the red and blue points).
// Mask values: 0 = nothing painted, 1 = flexible (may change), 2 = fixed.

export const FLEXIBLE_RGB = [46, 204, 113];
const HATCH_PERIOD = 8; // css px

export class MaskLayer {
  constructor() {
    this.flexible = makeCanvas();
    this.fixed = makeCanvas();
    this.hatch = makeCanvas(); // the fixed layer drawn as a hatch at display size, cached
    this.hatchKey = "";
    this.version = 0;
    this.empty = true;
  }

  // Replace both layers by the kernel's mask (raw uint8, width*height, row-major).
  load(bytes, width, height) {
    this.version += 1;
    for (const c of [this.flexible, this.fixed]) [c.width, c.height] = [width, height];
    this.empty = !bytes || bytes.length !== width * height;
    if (this.empty) return;
    this.flexible.ctx.putImageData(layerImage(bytes, 1, FLEXIBLE_RGB, width, height), 0, 0);
    this.fixed.ctx.putImageData(layerImage(bytes, 2, [0, 0, 0], width, height), 0, 0);
  }

  // Paint one piece of a stroke right away, before the kernel answers with the new mask.
  // `from` and `to` are integer pixel indices; discs of `radius` around the pixel centres are
  // painted.
  paint(from, to, mode, radius) {
    this.version += 1;
    const own = { flexible: this.flexible, fixed: this.fixed }[mode];
    for (const layer of [this.flexible, this.fixed]) {
      const erase = layer !== own;
      segment(layer.ctx, from, to, radius, erase, `rgb(${FLEXIBLE_RGB})`);
    }
    if (own) this.empty = false;
  }

  // The fixed layer as a hatch of `width` x `height` device px (`dpr` per css px) for the overlay.
  hatched(width, height, dpr, smooth) {
    const key = `${this.version} ${width} ${height} ${dpr} ${smooth}`;
    if (key === this.hatchKey) return this.hatch;
    this.hatchKey = key;
    const c = this.hatch;
    [c.width, c.height] = [width, height];
    c.ctx.fillStyle = c.ctx.createPattern(stripes(Math.round(HATCH_PERIOD * dpr)), "repeat");
    c.ctx.fillRect(0, 0, width, height);
    c.ctx.globalCompositeOperation = "destination-in";
    c.ctx.imageSmoothingEnabled = smooth;
    c.ctx.drawImage(this.fixed, 0, 0, width, height);
    c.ctx.globalCompositeOperation = "source-over";
    return c;
  }
}

function makeCanvas() {
  const c = document.createElement("canvas");
  c.ctx = c.getContext("2d");
  return c;
}

function layerImage(bytes, value, rgb, width, height) {
  const img = new ImageData(width, height);
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === value) img.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
  }
  return img;
}

function segment(ctx, from, to, radius, erase, colour) {
  ctx.save();
  ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2 * radius + 1;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0] + 0.5, from[1] + 0.5);
  ctx.lineTo(to[0] + 0.5, to[1] + 0.5);
  ctx.stroke();
  ctx.restore();
}

// One tile of diagonal stripes: dark and light, so the hatch shows on bright and dark images alike.
function stripes(period) {
  const tile = makeCanvas();
  [tile.width, tile.height] = [period, period];
  const ctx = tile.ctx;
  ctx.fillStyle = "rgba(255, 255, 255, 0.28)";
  ctx.fillRect(0, 0, period, period);
  ctx.strokeStyle = "rgba(20, 24, 32, 0.62)";
  ctx.lineWidth = period * 0.35;
  ctx.beginPath();
  for (const k of [-1, 0, 1]) {
    ctx.moveTo(k * period, period);
    ctx.lineTo(k * period + period, 0);
  }
  ctx.stroke();
  return tile;
}
