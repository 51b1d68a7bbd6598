// Which runs are shown: a filter like TensorBoard's run selector (a regular expression,
// case-insensitive; plain text works too), the main run, and any number of runs to compare.
// Only the first LIST_LIMIT matches are put in the page: a sweep of 10,000 runs stays fast.
// The filter comes from the URL too (a shared link), so it runs on saferegex.js, never on
// JavaScript's backtracking RegExp: no filter can freeze the page.

import {h, replace} from './dom.js';
import {RegexRefused, compileSafe} from './saferegex.js';

const LIST_LIMIT = 500;
let lastMatcher = null;  // the page asks for the same filter's matcher many times per change

/**
 * A predicate for run names from the filter text. A filter that is no regular expression, or
 * one the safe matcher refuses, matches as plain text; `note` then says why, for the page.
 * @return {{test: function(string): boolean, valid: boolean, note: string}}
 */
export function runMatcher(text) {
  if (lastMatcher && lastMatcher.text === text) return lastMatcher;
  lastMatcher = {text, ...compileFilter(text)};
  return lastMatcher;
}

function compileFilter(text) {
  if (!text) return {test: () => true, valid: true, note: ''};
  try {
    const pattern = compileSafe(text);
    return {test: (name) => pattern.test(name), valid: true, note: ''};
  } catch (error) {
    const lower = text.toLowerCase();
    const why = error instanceof RegexRefused ? `this regular expression is not run (${error.message})` :
      'not a valid regular expression';
    return {test: (name) => name.toLowerCase().includes(lower), valid: false, note: `matched as text: ${why}`};
  }
}

export class RunPicker {
  /** @param {{onRun: function(string), onCompare: function(!Array<string>), onFilter: function(string)}} handlers */
  constructor({onRun, onCompare, onFilter}) {
    this.onCompare = onCompare;
    this.filterInput = h('input', {type: 'search', id: 'run-filter', placeholder: 'Filter runs (regex)',
      'aria-label': 'filter runs', spellcheck: 'false',
      oninput: (e) => onFilter(e.target.value)});
    this.runSelect = h('select', {id: 'run', 'aria-label': 'run', onchange: (e) => onRun(e.target.value)});
    this.count = h('span', {class: 'run-count', id: 'run-count'});
    this.filterNote = h('span', {class: 'note', id: 'run-filter-note', role: 'status'});
    this.compareList = h('div', {class: 'compare-list', role: 'group'});
    this.compareSummary = h('summary', {}, 'Compare with');
    this.compare = h('details', {id: 'compare', class: 'compare'}, this.compareSummary, this.compareList);
    this.element = h('div', {class: 'run-picker'},
        h('label', {}, 'Runs ', this.filterInput), this.count, this.filterNote,
        h('label', {}, 'Run ', this.runSelect), this.compare);
  }

  /** Shows `names` filtered by `filter`, with `run` chosen and `compared` ticked. */
  render(names, {filter, run, compared}) {
    const matcher = runMatcher(filter);
    this.filterInput.classList.toggle('invalid', !matcher.valid);
    this.filterInput.title = matcher.note;
    this.filterNote.textContent = matcher.note;
    if (this.filterInput.value !== filter) this.filterInput.value = filter;
    const matching = names.filter((name) => matcher.test(name));
    const listed = matching.slice(0, LIST_LIMIT);
    this.count.textContent = filter || matching.length > LIST_LIMIT ?
      `${matching.length} of ${names.length} runs match` +
      (matching.length > LIST_LIMIT ? ` (first ${LIST_LIMIT} listed: refine the filter)` : '') :
      `${names.length} run${names.length === 1 ? '' : 's'}`;
    const runOptions = listed.includes(run) || run === null ? listed : [run, ...listed];
    fillSelect(this.runSelect, runOptions, run);
    const candidates = [...new Set([...compared, ...listed])].filter((name) => name !== run);
    const key = JSON.stringify([candidates, filter]);
    if (key !== this.compareKey) {  // rebuilt only when the candidates change: ticking keeps focus
      this.compareKey = key;
      replace(this.compareList, candidates.length ? candidates.map((name) => h('label', {},
          h('input', {type: 'checkbox', value: name, onchange: () => this.onCompare(this.ticked())}),
          h('span', {}, name),
          matcher.test(name) ? null : h('span', {class: 'note'}, ' (hidden by the filter)'))) :
        h('span', {class: 'note'}, 'no other runs match the filter'));
    }
    for (const box of this.compareList.querySelectorAll('input')) box.checked = compared.includes(box.value);
    this.compareSummary.textContent = compared.length ?
      `Compare with (${compared.length})` : 'Compare with';
  }

  ticked() {
    return Array.from(this.compareList.querySelectorAll('input:checked'), (input) => input.value);
  }
}

/** Sets a select's options and its value, without DOM churn when nothing changed. */
export function fillSelect(select, values, value, labels = values) {
  const current = Array.from(select.options, (o) => [o.value, o.text]);
  const wanted = values.map((v, i) => [v, labels[i]]);
  if (JSON.stringify(current) !== JSON.stringify(wanted)) {
    replace(select, wanted.map(([v, label]) => h('option', {value: v}, label)));
  }
  select.value = value ?? '';
  select.disabled = values.length === 0;
}
