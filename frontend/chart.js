// A small SVG line chart over epochs: several series, ticked axes, a marker on the shown epoch
// that moves with it, and a hover guide that reports the epoch under the pointer (the caller
// shows every chart's values at that epoch together).

import {svg} from './dom.js';

export const PALETTE = ['#f57c00', '#1e88e5', '#43a047', '#8e24aa', '#e53935', '#00897b',
                        '#6d4c41', '#546e7a'];
const PAD = {left: 48, right: 12, top: 18, bottom: 24};

/**
 * @param {{title: string, series: !Array<{label: string, points: !Array<{x: number, y: ?number}>,
 *          colour: string, dashed: (boolean|undefined)}>, xDomain: !Array<number>,
 *          marker: ?number, width: number, height: number,
 *          onHover: function(?number), onClick: function(number)}} options
 * @return {{element: !SVGElement, setMarker: function(?number), setHover: function(?number)}}
 */
export function lineChart({title, series, xDomain, marker = null, markerStep = null, width = 420, height = 130,
                           xLabel = 'epoch', onHover = () => {}, onClick = () => {}}) {
  const chart = svg('svg', {class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`,
                            role: 'img', 'aria-label': title});
  chart.append(svg('text', {x: PAD.left, y: 12, class: 'chart-label'}, title));
  const valid = series.flatMap((s) => s.points.filter((p) => isNumber(p.y)));
  const [xMin, xMax] = xDomain;
  const right = width - PAD.right;
  const bottom = height - PAD.bottom;
  const span = xMax > xMin ? xMax - xMin : 1;
  const sx = (x) => PAD.left + ((x - xMin) / span) * (right - PAD.left);
  const markerLine = svg('line', {class: 'marker', y1: PAD.top, y2: bottom, visibility: 'hidden'});
  const hoverLine = svg('line', {class: 'hover', y1: PAD.top, y2: bottom, visibility: 'hidden'});
  const place = (line, x) => {
    const shown = x !== null && x >= xMin && x <= xMax;
    line.setAttribute('visibility', shown ? 'visible' : 'hidden');
    if (shown) {
      line.setAttribute('x1', sx(x).toFixed(1));
      line.setAttribute('x2', sx(x).toFixed(1));
    }
  };
  const api = {
    element: chart,
    // `step` marks the dot of that record alone when points carry steps (two may share an x).
    setMarker: (x, step = null) => {
      place(markerLine, x);
      chart.dataset.marker = x === null ? '' : String(x);
      for (const dot of chart.querySelectorAll('.dot')) {
        dot.classList.toggle('current', step !== null && dot.dataset.step !== undefined ?
          Number(dot.dataset.step) === step : Number(dot.dataset.x) === x);
      }
    },
    setHover: (x) => place(hoverLine, x),
  };
  if (!valid.length) {
    chart.append(svg('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle'}, 'no values'));
    return api;
  }
  let [yMin, yMax] = [Math.min(...valid.map((p) => p.y)), Math.max(...valid.map((p) => p.y))];
  if (yMin === yMax) [yMin, yMax] = [yMin - (Math.abs(yMin) || 1) / 2, yMax + (Math.abs(yMax) || 1) / 2];
  const yTicks = coveringTicks(yMin, yMax, 4);
  yMin = yTicks[0];
  yMax = yTicks[yTicks.length - 1];
  const sy = (y) => PAD.top + (1 - (y - yMin) / (yMax - yMin)) * (bottom - PAD.top);
  const yDecimals = decimalsOf(yTicks);
  for (const tick of yTicks) {
    chart.append(
        svg('line', {x1: PAD.left, x2: right, y1: sy(tick), y2: sy(tick), class: 'gridline'}),
        svg('text', {x: PAD.left - 4, y: sy(tick) + 3, 'text-anchor': 'end', class: 'tick'},
            formatTick(tick, yDecimals)));
  }
  // Whole x ticks once the range spans a few units; fractions inside the first epochs.
  const xTicks = niceTicks(xMin, xMax, 6);
  const wholeTicks = xMax - xMin >= 3 ? xTicks.filter((t) => Number.isInteger(t)) : xTicks;
  const xDecimals = wholeTicks.every((t) => Number.isInteger(t)) ? 0 : decimalsOf(wholeTicks);
  for (const tick of wholeTicks) {
    chart.append(
        svg('line', {x1: sx(tick), x2: sx(tick), y1: bottom, y2: bottom + 3, class: 'axis'}),
        svg('text', {x: sx(tick), y: bottom + 13, 'text-anchor': 'middle', class: 'tick'},
            formatTick(tick, xDecimals)));
  }
  chart.append(
      svg('line', {x1: PAD.left, y1: bottom, x2: right, y2: bottom, class: 'axis'}),
      svg('line', {x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom, class: 'axis'}),
      svg('text', {x: right, y: height - 1, 'text-anchor': 'end', class: 'tick'}, xLabel));
  series.forEach((s) => {
    const style = `stroke: ${s.colour}`;
    for (const segment of segments(s.points)) {
      chart.append(svg('polyline', {
        class: s.dashed ? 'line dashed' : 'line', style,
        points: segment.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' '),
      }));
    }
    for (const p of s.points.filter((q) => isNumber(q.y))) {
      chart.append(svg('circle', {cx: sx(p.x), cy: sy(p.y), r: 2.2, class: 'dot',
                                  style: `fill: ${s.colour}`, 'data-x': p.x,
                                  ...(p.step !== undefined ? {'data-step': p.step} : {})}));
    }
  });
  if (series.length > 1) {  // a legend row under the axis
    const legend = svg('g', {class: 'legend'});
    let x = 4;
    for (const s of series) {
      const label = s.label.length > 24 ? `${s.label.slice(0, 23)}…` : s.label;
      legend.append(svg('line', {x1: x, x2: x + 12, y1: height + 6, y2: height + 6,
                                 style: `stroke: ${s.colour}`, class: s.dashed ? 'line dashed' : 'line'}),
      svg('text', {x: x + 15, y: height + 9, class: 'tick'}, label));
      x += 26 + 5.5 * label.length;
    }
    chart.append(legend);
    chart.setAttribute('height', height + 14);
    chart.setAttribute('viewBox', `0 0 ${width} ${height + 14}`);
  }
  chart.append(markerLine, hoverLine);
  const xs = [...new Set(valid.map((p) => p.x))].sort((a, b) => a - b);
  const nearest = (event) => {
    const box = chart.getBoundingClientRect();
    const px = (event.clientX - box.left) * (width / box.width);
    return xs.reduce((best, x) => Math.abs(sx(x) - px) < Math.abs(sx(best) - px) ? x : best, xs[0]);
  };
  const capture = svg('rect', {x: PAD.left, y: PAD.top, width: right - PAD.left,
                               height: bottom - PAD.top, class: 'capture'});
  capture.addEventListener('mousemove', (event) => onHover(nearest(event)));
  capture.addEventListener('mouseleave', () => onHover(null));
  capture.addEventListener('click', (event) => onClick(nearest(event)));
  chart.append(capture);
  api.setMarker(marker, markerStep);
  return api;
}

function isNumber(y) {
  return typeof y === 'number' && Number.isFinite(y);
}

/** Runs of consecutive points with a value: a missing value breaks the line. */
function segments(points) {
  const out = [];
  let current = [];
  for (const p of points) {
    if (isNumber(p.y)) current.push(p);
    else if (current.length) {
      out.push(current);
      current = [];
    }
  }
  if (current.length) out.push(current);
  return out;
}

/** The round distance (1, 2 or 5 × 10^k) that splits [min, max] into about `count` parts. */
function roundStep(min, max, count) {
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
}

/** About `count` round tick values inside [min, max]. */
function niceTicks(min, max, count) {
  if (!(max > min)) return [min];
  const step = roundStep(min, max, count);
  // By index, not by adding `step` to a running value: near 2^53 adding it may change nothing.
  const first = Math.ceil(min / step - 1e-9);
  const ticks = [];
  for (let i = first; i * step <= max + step * 1e-9 && ticks.length < 4 * count; i++) {
    ticks.push(Number((i * step).toPrecision(12)));
  }
  return [...new Set(ticks)];
}

/** Round ticks from at or below `min` to at or above `max`: both ends of the data labelled. */
function coveringTicks(min, max, count) {
  const step = roundStep(min, max, count);
  const first = Math.floor(min / step + 1e-9);
  const last = Math.min(Math.ceil(max / step - 1e-9), first + 4 * count);
  const ticks = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

function decimalsOf(ticks) {
  if (ticks.length < 2) return 2;
  const step = Math.abs(ticks[1] - ticks[0]);
  return Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
}

function formatTick(value, decimals) {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || (magnitude !== 0 && decimals > 5)) return value.toExponential(1);
  return value.toFixed(decimals);
}
