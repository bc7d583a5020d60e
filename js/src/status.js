// The text of the status line.

// Lines break only between the parts.
const joinParts = (parts) => parts.map((p) => p.replaceAll(" ", "\u00a0")).join(" · ");

export function frameStatus({ step, distances }, fps) {
  const parts = [`step ${step}`];
  if (distances?.length) {
    const mean = distances.reduce((a, b) => a + b, 0) / distances.length;
    parts.push(
      `mean distance ${mean.toFixed(1)} px`,
      `max ${Math.max(...distances).toFixed(1)} px`,
    );
  }
  if (fps) parts.push(`${fps.toFixed(1)} fps`);
  return joinParts(parts);
}

export function hint(mode, points) {
  if (mode !== "point") {
    return joinParts(["Paint with the mouse, pen or finger", "[ ] change the radius"]);
  }
  const last = points[points.length - 1];
  if (last && !last.target) return "Now click where this handle should go";
  if (!points.length) return joinParts(["Click a handle point, then its target", "Space starts"]);
  return joinParts([
    "Click to add a pair",
    "drag a point to move it",
    "right-click or long-press removes",
    "Space starts",
  ]);
}
