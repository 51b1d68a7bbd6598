// The grid of one (run, layer, method, epoch): a tile per channel with its image(s), index,
// headline number, and a visible mark on dead channels.

import {formatNumber, h} from './dom.js';

/** The number shown on each tile, per method. */
export const HEADLINE = {am: 'activation', deconv: 'activation', weights: 'norm'};

const ROLE_LABELS = {image: 'AM image', projections: 'deconv projections',
                     patches: 'image patches', filter: 'filter weights'};

/**
 * @param {!Object} grid      the /grid answer
 * @param {{selected: ?number, onSelect: function(number)}} options
 * @return {!HTMLElement}
 */
export function renderGrid(grid, {selected = null, onSelect}) {
  const headline = HEADLINE[grid.method];
  const values = grid.numbers[headline] || [];
  const dead = grid.numbers.dead || [];
  const tiles = grid.channels.map((channel, position) => {
    const isDead = dead[position] === true;
    const images = grid.roles.map((role) => h('img', {
      src: grid.images[role][position],
      alt: `${ROLE_LABELS[role] || role} of channel ${channel}`,
      loading: 'lazy',
      draggable: 'false',
      class: `role-${role}`,
    }));
    return h('button', {
      type: 'button',
      class: ['tile', isDead ? 'dead' : '', channel === selected ? 'selected' : '']
          .filter(Boolean).join(' '),
      title: describeChannel(grid, position),
      dataset: {channel: String(channel)},
      onclick: () => onSelect(channel),
    },
    h('span', {class: 'tile-images'}, images),
    h('span', {class: 'tile-label'},
      h('span', {class: 'tile-index'}, `#${channel}`),
      isDead ? h('span', {class: 'tile-dead'}, 'dead')
             : h('span', {class: 'tile-value'}, formatNumber(values[position]))));
  });
  return h('div', {class: `grid method-${grid.method}`, role: 'list'}, tiles);
}

/** Tooltip text: every number the record holds for this channel. */
function describeChannel(grid, position) {
  const lines = [`channel ${grid.channels[position]} · epoch ${grid.step}`];
  for (const [name, values] of Object.entries(grid.numbers)) {
    const value = values[position];
    if (Array.isArray(value)) continue;  // per-probe lists (top_k) are too long for a tooltip
    lines.push(`${name}: ${formatNumber(value)}`);
  }
  lines.push('click to see this channel at every epoch');
  return lines.join('\n');
}
