// Deconvnet: which backward rule ran, and what the two halves of a tile are.

export const deconvView = {
  describe(grid, meaning) {
    const settings = grid.settings || {};
    const counts = {};
    for (const entry of settings.path || []) counts[entry.rule] = (counts[entry.rule] || 0) + 1;
    const rules = Object.entries(counts).map(([rule, n]) => `${n} × ${rule}`).join(', ');
    return [
      `number: ${meaning}`,
      `rule: ${settings.rule || 'deconvnet'}${rules ? ` (${rules} on the path)` : ''}`,
      'each tile: left, the strongest activations projected to pixels (gray = 0); ' +
          'right, the image patches that caused them',
    ];
  },
};
