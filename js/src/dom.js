// The widget's DOM: toolbar, the two stacked canvases, and the status line.

import css from "./style.js";

export const MODES = [
  {
    mode: "point",
    label: "Points",
    key: "P",
    title:
      "Click a handle, then its target. Drag a point to move it; right-click or a long press removes its pair.",
  },
  { mode: "flexible", label: "Flexible", key: "B", title: "Paint the area that may change" },
  { mode: "fixed", label: "Fixed", key: "F", title: "Paint the area that must stay as it is" },
  { mode: "erase", label: "Erase", key: "E", title: "Erase painted mask" },
];

const HELP = [
  "Keys (click the image first):",
  "Space / Enter  start or stop",
  "Ctrl+Z  undo    Ctrl+Shift+Z / Ctrl+Y  redo",
  "P points · B flexible · F fixed · E erase",
  "M show mask · [ ] brush radius",
  "Delete  remove points · Shift+Delete  clear mask",
  "Esc  give the keys back to the notebook",
].join("\n");

export function buildDom(el) {
  const root = h("div", "dw-root", { tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  const style = document.createElement("style");
  style.textContent = css;

  const modeButtons = MODES.map(({ mode, label, key, title }) => {
    const b = h("button", `dw-mode dw-mode-${mode}`, {
      type: "button",
      title: `${title} (${key})`,
    });
    b.dataset.mode = mode;
    b.append(h("span", "dw-swatch"), label);
    return b;
  });
  const modes = h("div", "dw-modes", { role: "group", "aria-label": "Tool" });
  modes.append(...modeButtons);

  const radius = h("input", "dw-radius-input", {
    type: "range",
    min: "1",
    step: "1",
    "aria-label": "Brush radius",
  });
  const radiusValue = h("span", "dw-radius-value");
  const radiusLabel = h("label", "dw-radius", { title: "Brush radius in image pixels ([ and ])" });
  radiusLabel.append("Radius", radius, radiusValue);

  const showMask = h("input", "", { type: "checkbox" });
  const showMaskLabel = h("label", "dw-show-mask", { title: "Tint the painted mask (M)" });
  showMaskLabel.append(showMask, "Show mask");

  const help = h("span", "dw-help", { title: HELP, "aria-label": HELP });
  help.textContent = "?";

  const toolbar = h("div", "dw-toolbar");
  toolbar.append(modes, radiusLabel, showMaskLabel, help);

  const image = h("canvas", "dw-image");
  const overlay = h("canvas", "dw-overlay");
  const stage = h("div", "dw-stage");
  stage.append(image, overlay);

  const status = h("div", "dw-status", { "aria-live": "polite" });
  const statusDot = h("span", "dw-status-dot");
  const statusFrame = h("span", "dw-status-frame");
  const statusKernel = h("span", "dw-status-kernel");
  const statusError = h("span", "dw-status-error", { role: "alert" });
  status.append(statusDot, statusFrame, statusKernel, statusError);

  root.append(style, toolbar, stage, status);
  el.append(root);
  return {
    root,
    modeButtons,
    radius,
    radiusValue,
    radiusLabel,
    showMask,
    stage,
    image,
    overlay,
    statusDot,
    statusFrame,
    statusKernel,
    statusError,
  };
}

function h(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
