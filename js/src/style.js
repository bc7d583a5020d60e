// The widget's styles, injected by each view as a <style> element (the Python side needs no _css).
// anywidget CSS is global: every class is prefixed with dw-. Colours are JupyterLab theme
// variables with fallbacks.

export default `
.dw-root {
  --dw-fg: var(--jp-ui-font-color1, #1f2328);
  --dw-muted: var(--jp-ui-font-color2, #656d76);
  --dw-bg: var(--jp-layout-color1, #ffffff);
  --dw-bg-alt: var(--jp-layout-color2, #f2f3f5);
  --dw-border: var(--jp-border-color1, #c9ced6);
  --dw-accent: var(--jp-brand-color1, #1e6bff);
  --dw-error: var(--jp-error-color1, #d1242f);
  display: inline-flex;
  flex-direction: column;
  gap: 6px;
  max-width: 100%;
  padding: 2px;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: 12px;
  line-height: 1.4;
  color: var(--dw-fg);
  outline: none;
  user-select: none;
  -webkit-user-select: none;
}

.dw-toolbar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px 14px;
}

.dw-modes {
  display: inline-flex;
  border: 1px solid var(--dw-border);
  border-radius: 6px;
  overflow: hidden;
  background: var(--dw-bg);
}

.dw-mode {
  appearance: none;
  display: inline-flex;
  align-items: center;
  gap: 6px;
  margin: 0;
  padding: 4px 10px;
  border: 0;
  border-left: 1px solid var(--dw-border);
  background: transparent;
  color: var(--dw-fg);
  font: inherit;
  cursor: pointer;
}
.dw-mode:first-child { border-left: 0; }
.dw-mode:hover { background: var(--dw-bg-alt); }
.dw-mode.dw-active {
  background: var(--dw-accent);
  color: white;
}
.dw-mode:focus-visible { outline: 2px solid var(--dw-accent); outline-offset: -2px; }

.dw-swatch {
  width: 9px;
  height: 9px;
  border-radius: 2px;
  box-shadow: 0 0 0 1px rgba(255, 255, 255, 0.7);
}
.dw-mode-point .dw-swatch { background: #ff3b30; border-radius: 50%; }
.dw-mode-flexible .dw-swatch { background: rgb(46, 204, 113); }
.dw-mode-fixed .dw-swatch {
  background: repeating-linear-gradient(135deg, #3a3f4a 0 2px, #c9ced6 2px 4px);
}
.dw-mode-erase .dw-swatch {
  border: 1.5px dashed currentColor;
  border-radius: 50%;
  box-shadow: none;
  box-sizing: border-box;
}

.dw-radius, .dw-show-mask {
  display: inline-flex;
  align-items: center;
  gap: 6px;
  color: var(--dw-fg);
  cursor: pointer;
}
.dw-radius.dw-disabled { opacity: 0.45; }
.dw-radius-input { width: 90px; margin: 0; accent-color: var(--dw-accent); }
.dw-radius-value { min-width: 3.2em; color: var(--dw-muted); font-variant-numeric: tabular-nums; }
.dw-show-mask input { margin: 0; accent-color: var(--dw-accent); }

.dw-help {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  width: 16px;
  height: 16px;
  border: 1px solid var(--dw-border);
  border-radius: 50%;
  color: var(--dw-muted);
  font-size: 11px;
  cursor: help;
}

.dw-stage {
  position: relative;
  align-self: flex-start;
  border-radius: 4px;
  overflow: hidden;
  background: var(--dw-bg-alt);
  box-shadow: 0 0 0 1px var(--dw-border);
  transition: box-shadow 0.12s;
}
.dw-root:focus-within .dw-stage { box-shadow: 0 0 0 2px var(--dw-accent); }

.dw-stage canvas {
  position: absolute;
  left: 0;
  top: 0;
  display: block;
}
.dw-image.dw-pixelated { image-rendering: pixelated; }
.dw-overlay { touch-action: none; cursor: crosshair; }
.dw-root[data-mode="flexible"] .dw-overlay,
.dw-root[data-mode="fixed"] .dw-overlay,
.dw-root[data-mode="erase"] .dw-overlay { cursor: none; }
.dw-overlay.dw-grab { cursor: grab; }
.dw-overlay.dw-grabbing { cursor: grabbing; }

/* The status line takes the width the image and toolbar give it and wraps inside it: a long
   message must never widen the widget (which would push the control panel below it). */
.dw-status {
  width: 0;
  min-width: 100%;
  min-height: 1.4em;
  overflow-wrap: anywhere;
  color: var(--dw-muted);
  font-variant-numeric: tabular-nums;
}
.dw-status-dot {
  display: inline-block;
  width: 8px;
  height: 8px;
  margin-right: 7px;
  border-radius: 50%;
  vertical-align: 0;
  background: var(--dw-border);
}
.dw-status-frame:not(:empty) ~ .dw-status-kernel { margin-left: 12px; }
.dw-root.dw-running .dw-status-dot {
  background: rgb(46, 204, 113);
  animation: dw-pulse 1s infinite alternate;
}
@keyframes dw-pulse { to { opacity: 0.35; } }
.dw-status-frame { color: var(--dw-fg); }
.dw-status-frame:empty, .dw-status-kernel:empty, .dw-status-error:empty { display: none; }
.dw-status-error { display: block; color: var(--dw-error); font-weight: 600; user-select: text; }
`;
