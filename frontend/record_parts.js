// Parts of a record that several views read: a class's name and a colour, each checked, since a
// record's header comes from a file (only numbers reach a style; names are text, never markup).

/** A CSS colour from a record's [r, g, b]: only numbers reach the style (anything else: gray). */
export function rgb(colour) {
  if (!Array.isArray(colour) || colour.length !== 3 || !colour.every((v) => Number.isFinite(v))) {
    return 'rgb(128, 128, 128)';
  }
  return `rgb(${colour.map((v) => Math.max(0, Math.min(255, Math.round(v)))).join(', ')})`;
}

/** A class's name: the user's class names when the record has them, else "class k". */
export function className(grid, index) {
  const names = (grid.settings || {}).class_names;
  return Array.isArray(names) && typeof names[index] === 'string' ? names[index] : `class ${index}`;
}
