// Numbers on tiles: one notation per grid, so that tiles compare at a glance. Fixed decimals
// chosen so that the largest value has three significant digits; scientific for every tile when
// the largest is below 0.01 or at least 10,000 (never a mix of 0.0242 and 1.3e-4 in one grid).

/** A formatter for every value of one grid. */
export function numberFormat(values) {
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  const largest = Math.max(0, ...finite.map(Math.abs));
  const scientific = largest !== 0 && (largest < 1e-2 || largest >= 1e4);
  const decimals = largest === 0 ? 0 : Math.max(0, Math.min(4, 2 - Math.floor(Math.log10(largest))));
  return (value) => {
    if (typeof value === 'boolean') return value ? 'yes' : 'no';
    if (typeof value !== 'number' || Number.isNaN(value)) return '–';
    if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
    if (scientific) return value === 0 ? '0' : value.toExponential(2);
    return value.toFixed(decimals);
  };
}

/** Three significant digits, trailing zeros kept ("1.00", "0.0134"); scientific outside
 *  [0.01, 10,000). For single values read on their own (the chart read-out, tooltips). */
export function significant(value) {
  if (typeof value !== 'number' || Number.isNaN(value)) return '–';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-2 || magnitude >= 1e4)) return value.toExponential(2);
  return value === 0 ? '0' : value.toPrecision(3);
}
