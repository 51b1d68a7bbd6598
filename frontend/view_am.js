// Activation maximization: what was maximized and what "dead" means.

export const amView = {
  /** Parts of the panel's legend line; `meaning` is the headline number's words. */
  describe(grid, meaning) {
    const settings = grid.settings || {};
    const squashed = /before (softmax|sigmoid)/.test(settings.target || '');
    const parts = [squashed ?
      'number: the probability the AM image reached (the logit was maximized: hover a tile for it)' :
      `number: ${meaning}`];
    if (settings.target) parts.push(`maximized: ${settings.target}`);
    if (settings.dead_test) parts.push(`dead = constant on ${settings.dead_test}`);
    return parts;
  },
};
