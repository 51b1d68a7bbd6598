// The grid of one (run, layer, method, epoch): a tile per channel with its image(s), index,
// headline number, and a visible mark on dead channels.

import {CONTRASTS, STRETCHABLE, stretchImage} from './contrast.js';
import {formatNumber, h} from './dom.js';
import {numberFormat} from './numbers.js';

/** The number shown on each tile, per method. */
export const HEADLINE = {am: 'activation', deconv: 'activation', weights: 'norm'};

/** What the number on a tile is, per method: said in the legend and the tooltip. */
const HEADLINE_MEANING = {
  am: 'the activation the AM image reached',
  deconv: 'the strongest activation on the probe images',
  weights: 'the filter\'s L2 norm',
};

const ROLE_CAPTIONS = {projections: 'projection', patches: 'image patch'};

const ROLE_LABELS = {image: 'AM image', projections: 'deconv projections',
                     patches: 'image patches', filter: 'filter weights'};

/**
 * @param {!Object} grid      the /grid answer
 * @param {{selected: ?number, onSelect: function(number), contrast: string}} options
 * @return {!HTMLElement}
 */
export function renderGrid(grid, {selected = null, onSelect, contrast = 'absolute', format = null}) {
  const headline = HEADLINE[grid.method];
  const values = grid.numbers[headline] || [];
  format = format || numberFormat(values);
  const dead = grid.numbers.dead || [];
  const names = channelNames(grid);
  const tiles = grid.channels.map((channel, position) => {
    const isDead = dead[position] === true;
    const images = grid.roles.map((role) => {
      const img = h('img', {
        src: grid.images[role][position],
        alt: `${ROLE_LABELS[role] || role} of channel ${channel}`,
        loading: 'lazy',
        draggable: 'false',
        class: `role-${role}`,
      });
      if (contrast === 'stretch' && STRETCHABLE.has(role) && !legacyStretched(grid)) stretchImage(img);
      if (grid.roles.length < 2) return img;
      return h('span', {class: 'role-figure'}, img, h('span', {class: 'role-caption'}, ROLE_CAPTIONS[role] || role));
    });
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
             : h('span', {class: 'tile-value'}, format(values[position]))),
    names[position] ? h('span', {class: 'tile-name', title: names[position]}, names[position]) : null);
  });
  return h('div', {class: `grid method-${grid.method}`, role: 'list'}, tiles);
}

/** The user's names of the channels (class names of an output layer), aligned with channels. */
export function channelNames(grid) {
  const names = grid.settings && grid.settings.channel_names;
  return Array.isArray(names) && names.length === grid.channels.length ?
    names.map((n) => (typeof n === 'string' ? n : '')) : grid.channels.map(() => '');
}

/** Records written before tb-featviz drew images in the input's range were stretched already. */
function legacyStretched(grid) {
  return grid.method !== 'weights' && !(grid.settings && grid.settings.contrast);
}

/**
 * One line under the panel title: how the images were drawn and what they show, so that no
 * picture is read as something it is not.
 */
export function describeGrid(grid, contrast) {
  const settings = grid.settings || {};
  const parts = [];
  if (grid.method !== 'weights') {
    parts.push(legacyStretched(grid) ? 'images stretched per tile when recorded (older tb-featviz)' :
      `images ${CONTRASTS[contrast] || CONTRASTS.absolute}`);
  }
  const squashed = grid.method === 'am' && /before (softmax|sigmoid)/.test(settings.target || '');
  parts.push(squashed ?
    'number: the probability the AM image reached (the logit was maximized: hover a tile for it)' :
    `number: ${HEADLINE_MEANING[grid.method]}`);
  if (grid.method === 'am' && settings.target) parts.push(`maximized: ${settings.target}`);
  if (grid.method === 'am' && settings.dead_test) parts.push(`dead = constant on ${settings.dead_test}`);
  if (grid.method === 'deconv') {
    const path = settings.path || [];
    const counts = {};
    for (const entry of path) counts[entry.rule] = (counts[entry.rule] || 0) + 1;
    const rules = Object.entries(counts).map(([rule, n]) => `${n} × ${rule}`).join(', ');
    parts.push(`rule: ${settings.rule || 'deconvnet'}${rules ? ` (${rules} on the path)` : ''}`);
    parts.push('each tile: left, the strongest activations projected to pixels (gray = 0); ' +
               'right, the image patches that caused them');
  }
  if (grid.method === 'weights') {
    const layout = grid.layout || {};
    parts.push(layout.orientation === 'stamp' ?
      'each tile: what one input unit adds to the output (transposed conv)' :
      'each tile: one filter, its weights over the input window');
    if (!layout.colour) {
      const slices = layout.slices_shown;
      parts.push(`a mosaic of ${slices ? `${slices} ` : ''}input-channel slices of that one filter ` +
                 '(gray = 0, blue gaps between slices)');
    }
  }
  return parts.join(' · ');
}

/** Tooltip text: every number the record holds for this channel. */
function describeChannel(grid, position) {
  const name = channelNames(grid)[position];
  const lines = [`channel ${grid.channels[position]}${name ? ` (${name})` : ''} · epoch ${grid.step}`];
  for (const [key, values] of Object.entries(grid.numbers)) {
    const value = values[position];
    if (key === 'input_channels' && Array.isArray(value)) {
      lines.push(`reads input channels: ${value.length > 8 ? `${value[0]}…${value[value.length - 1]}` : value.join(', ')}`);
      continue;
    }
    if (Array.isArray(value)) continue;  // per-probe lists (top_k) are too long for a tooltip
    lines.push(`${key}: ${formatNumber(value)}`);
  }
  lines.push(`the number on the tile: ${HEADLINE_MEANING[grid.method]}`);
  lines.push('click to see this channel at every epoch');
  return lines.join('\n');
}
