// A small SVG line chart: one number of one channel over epochs, with the selected epoch marked.

import {formatNumber, svg} from './dom.js';

/**
 * @param {!Array<{x: number, y: ?number}>} points  sorted by x; null y values leave gaps
 * @param {{label: string, marker: ?number, width: number, height: number}} options
 * @return {!SVGElement}
 */
export function lineChart(points, {label, marker = null, width = 360, height = 120}) {
  const pad = {left: 46, right: 10, top: 16, bottom: 22};
  const valid = points.filter((p) => typeof p.y === 'number' && Number.isFinite(p.y));
  const chart = svg('svg', {
    class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${label} over epochs`,
  });
  chart.append(svg('text', {x: pad.left, y: 11, class: 'chart-label'}, `${label} by epoch`));
  if (!valid.length) {
    chart.append(svg('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle'}, 'no values'));
    return chart;
  }
  const xs = points.map((p) => p.x);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  let yMin = Math.min(...valid.map((p) => p.y));
  let yMax = Math.max(...valid.map((p) => p.y));
  if (yMin === yMax) {
    yMin -= 1;
    yMax += 1;
  }
  const sx = (x) => pad.left + ((x - xMin) / Math.max(1, xMax - xMin)) * (width - pad.left - pad.right);
  const sy = (y) => pad.top + (1 - (y - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
  const bottom = height - pad.bottom;
  chart.append(
      svg('line', {x1: pad.left, y1: bottom, x2: width - pad.right, y2: bottom, class: 'axis'}),
      svg('line', {x1: pad.left, y1: pad.top, x2: pad.left, y2: bottom, class: 'axis'}),
      svg('text', {x: pad.left - 4, y: pad.top + 4, 'text-anchor': 'end'}, formatNumber(yMax)),
      svg('text', {x: pad.left - 4, y: bottom, 'text-anchor': 'end'}, formatNumber(yMin)),
      svg('text', {x: pad.left, y: height - 6}, `epoch ${xMin}`),
      svg('text', {x: width - pad.right, y: height - 6, 'text-anchor': 'end'}, `${xMax}`),
  );
  // One polyline per run of consecutive valid values.
  let segment = [];
  const flush = () => {
    if (segment.length) chart.append(svg('polyline', {points: segment.join(' '), class: 'line'}));
    segment = [];
  };
  for (const p of points) {
    if (typeof p.y === 'number' && Number.isFinite(p.y)) {
      segment.push(`${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`);
    } else {
      flush();
    }
  }
  flush();
  for (const p of valid) {
    chart.append(svg('circle', {cx: sx(p.x), cy: sy(p.y), r: p.x === marker ? 4 : 2,
                                class: p.x === marker ? 'dot current' : 'dot'}));
  }
  if (marker !== null && marker >= xMin && marker <= xMax) {
    chart.append(svg('line', {x1: sx(marker), y1: pad.top, x2: sx(marker), y2: bottom,
                              class: 'marker'}));
  }
  return chart;
}
