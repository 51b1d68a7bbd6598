// The grid of one (run, layer, method, epoch): a tile per item (a channel; a probe image for
// occlusion) with its image(s), index, headline number, and a visible mark on dead channels.
// What a method's tiles and numbers are called comes from its format (/runs); what it says
// beyond that, from its view (views.js).

import {CONTRASTS, stretchImage} from './contrast.js';
import {formatNumber, h} from './dom.js';
import {numberFormat} from './numbers.js';
import {viewOf} from './views.js';

/**
 * @param {!Object} grid      the /grid answer
 * @param {{selected: ?number, onSelect: function(number), contrast: string, format: !Object,
 *          numbers: ?function(number): string}} options
 * @return {!HTMLElement}
 */
export function renderGrid(grid, {selected = null, onSelect, contrast = 'absolute', format, numbers = null,
                                  moment = `step ${grid.step}`}) {
  const values = grid.numbers[format.headline] || [];
  numbers = numbers || numberFormat(values);
  const dead = grid.numbers.dead || [];
  const names = itemNames(grid);
  const marks = itemMarks(grid);
  const tiles = grid.channels.map((channel, position) => {
    const isDead = dead[position] === true;
    const mark = typeof marks[position] === 'string' ? marks[position] : null;
    const images = grid.roles.map((role) => {
      const img = h('img', {
        src: grid.images[role][position],
        alt: `${roleLabel(format, role)} of ${format.item} ${channel}`,
        loading: 'lazy',
        draggable: 'false',
        class: `role-${role}`,
      });
      if (contrast === 'stretch' && isStretchable(format, role) && !legacyStretched(grid, format)) stretchImage(img);
      if (grid.roles.length < 2) return img;
      return h('span', {class: 'role-figure'}, img, h('span', {class: 'role-caption'}, roleLabel(format, role)));
    });
    return h('button', {
      type: 'button',
      class: ['tile', isDead ? 'dead' : '', mark ? 'marked' : '', channel === selected ? 'selected' : '']
          .filter(Boolean).join(' '),
      title: describeItem(grid, position, format, moment),
      dataset: {channel: String(channel)},
      onclick: () => onSelect(channel),
    },
    h('span', {class: 'tile-images'}, images),
    h('span', {class: 'tile-label'},
      h('span', {class: 'tile-index'}, `#${channel}`),
      isDead ? h('span', {class: 'tile-dead'}, 'dead')
             : h('span', {class: 'tile-value'}, numbers(values[position]))),
    names[position] ? h('span', {class: 'tile-name', title: names[position]}, names[position]) : null,
    mark ? h('span', {class: 'tile-mark', role: 'note'}, `⚠ ${mark}`) : null);
  });
  // A tile is as wide as its images side by side (deconv: projections and patches).
  return h('div', {class: `grid method-${grid.method}`, role: 'list', style: `--roles: ${grid.roles.length || 1}`},
    tiles);
}

function roleLabel(format, role) {
  return (format.role_labels && format.role_labels[role]) || role;
}

/** The names under the tiles, aligned with channels: the view's (occlusion: true and predicted
 *  class), else the user's class names of an output layer's channels. */
export function itemNames(grid) {
  const view = viewOf(grid.method);
  if (view.names) return view.names(grid);
  const names = grid.settings && grid.settings.channel_names;
  return Array.isArray(names) && names.length === grid.channels.length ?
    names.map((n) => (typeof n === 'string' ? n : '')) : grid.channels.map(() => '');
}

/** A warning per tile, aligned with channels (null: none): the view's (the attributions' sanity
 *  check), drawn under the tile's name. */
function itemMarks(grid) {
  const view = viewOf(grid.method);
  return view.marks ? view.marks(grid) : [];
}

/** Whether a viewer may stretch a role's images (drawn in the input's range): the format says. */
export function isStretchable(format, role) {
  return Array.isArray(format.stretchable) && format.stretchable.includes(role);
}

/** Records written before tb-featviz drew images in the input's range were stretched already. */
function legacyStretched(grid, format) {
  return grid.roles.some((role) => isStretchable(format, role)) && !(grid.settings && grid.settings.contrast);
}

/**
 * One line under the panel title: how the images were drawn and what they show, so that no
 * picture is read as something it is not.
 */
export function describeGrid(grid, contrast, format) {
  const parts = [];
  if (grid.roles.some((role) => isStretchable(format, role))) {
    parts.push(legacyStretched(grid, format) ? 'images stretched per tile when recorded (older tb-featviz)' :
      `images ${CONTRASTS[contrast] || CONTRASTS.absolute}`);
  }
  const view = viewOf(grid.method);
  parts.push(...(view.describe ? view.describe(grid, format.meaning) : [`number: ${format.meaning}`]));
  return parts.join(' · ');
}

/** The method's legend beside the line above (colour scales, class colours), or null. */
export function legendOf(grid) {
  const view = viewOf(grid.method);
  return view.legend ? view.legend(grid) : null;
}

/** Tooltip text: every number the record holds for this item. */
function describeItem(grid, position, format, moment) {
  const name = itemNames(grid)[position];
  const lines = [`${format.item} ${grid.channels[position]}${name ? ` (${name})` : ''} · ${moment}`];
  const view = viewOf(grid.method);
  for (const [key, values] of Object.entries(view.numbers ? {} : grid.numbers)) {
    const value = values[position];
    if (key === 'input_channels' && Array.isArray(value)) {
      lines.push(`reads input channels: ${value.length > 8 ? `${value[0]}…${value[value.length - 1]}` : value.join(', ')}`);
      continue;
    }
    if (Array.isArray(value)) continue;  // per-probe lists and score grids are too long for a tooltip
    lines.push(`${key}: ${formatNumber(value)}`);
  }
  if (view.numbers) lines.push(...view.numbers(grid, position));  // the view's own words for them
  if (view.details) lines.push(...view.details(grid, position));
  lines.push(`the number on the tile: ${format.meaning}`);
  lines.push(`click to see this ${format.item} at every recorded step`);
  return lines.join('\n');
}
