// Filter weights: templates or stamps, and how a filter's input-channel slices are laid out.

export const weightsView = {
  describe(grid, meaning) {
    const layout = grid.layout || {};
    const parts = [`number: ${meaning}`, layout.orientation === 'stamp' ?
      'each tile: what one input unit adds to the output (transposed conv)' :
      'each tile: one filter, its weights over the input window'];
    if (!layout.colour) {
      const slices = layout.slices_shown;
      parts.push(slices === 1 ?
        'its one input channel, in gray (gray = 0)' :
        `a mosaic of ${slices ? `${slices} ` : ''}input-channel slices of that one filter ` +
        '(gray = 0, blue gaps between slices)');
    }
    return parts;
  },
};
