// Regular expressions that cannot freeze the page. JavaScript's RegExp backtracks: a run filter
// like (a+)+$ from a shared link takes seconds to minutes per run name. This module compiles the
// same syntax (a case-insensitive JavaScript regular expression, what TensorBoard's run filter
// takes) to a Thompson automaton and runs all its paths at once: each character of a name costs
// at most one step per state, whatever the pattern. Backreferences and lookaround cannot be run
// that way: such patterns, and patterns too large, are refused (RegexRefused says why).

export const MAX_PATTERN_LENGTH = 200;
const MAX_STATES = 400;  // bounds the work per character of a name
const MAX_COUNT = 100;  // the largest {n,m} count

/** Why a pattern is not run (its text says so in the page). */
export class RegexRefused extends Error {}

/**
 * Compiles `pattern` (matched case-insensitively, anywhere in a name).
 * @return {{test: function(string): boolean}}
 * @throws {SyntaxError} not a regular expression; {RegexRefused} one this module does not run
 */
export function compileSafe(pattern) {
  new RegExp(pattern, 'i');  // JavaScript's own verdict on the syntax (compiling never backtracks)
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new RegexRefused(`longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const parser = new Parser(pattern);
  const tree = parser.alternation();
  if (parser.pos < pattern.length) throw new SyntaxError(`unexpected ${pattern[parser.pos]}`);
  return new Automaton(tree);
}

// ---- case-insensitive characters (the non-unicode Canonicalize of ECMAScript) ----------------

const CANONICAL = new Int32Array(65536).fill(-1);  // filled as characters are met

function canonical(code) {
  if (CANONICAL[code] < 0) {
    const upper = String.fromCharCode(code).toUpperCase();
    const folded = upper.length === 1 ? upper.charCodeAt(0) : code;
    CANONICAL[code] = code >= 128 && folded < 128 ? code : folded;
  }
  return CANONICAL[code];
}

const VARIANTS = new Map();

/** The characters that match `code` case-insensitively (as far as upper and lower case go). */
function variants(code) {
  if (!VARIANTS.has(code)) {
    const folded = canonical(code);
    const lower = String.fromCharCode(folded).toLowerCase();
    const found = [code, folded];
    if (lower.length === 1) found.push(lower.charCodeAt(0));
    VARIANTS.set(code, found.filter((c, i) => found.indexOf(c) === i && canonical(c) === folded));
  }
  return VARIANTS.get(code);
}

const isDigit = (c) => c >= 48 && c <= 57;
const isWord = (c) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const SPACES = new Set([9, 10, 11, 12, 13, 32, 160, 5760, 8232, 8233, 8239, 8287, 12288, 65279,
  ...Array.from({length: 11}, (_, i) => 8192 + i)]);
const isSpace = (c) => SPACES.has(c);
const isLineEnd = (c) => c === 10 || c === 13 || c === 8232 || c === 8233;
const CLASSES = {d: isDigit, w: isWord, s: isSpace};

// ---- the parser: pattern text → tree ---------------------------------------------------------
// Nodes: {set: predicate on a character} | {seq: [...]} | {alt: [...]} |
// {repeat: node, min, max} | {assert: '^' | '$' | 'b' | 'B'}.

class Parser {
  constructor(text) {
    this.text = text;
    this.pos = 0;
  }

  peek(ahead = 0) { return this.text[this.pos + ahead]; }

  alternation() {
    const options = [this.sequence()];
    while (this.peek() === '|') {
      this.pos++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : {alt: options};
  }

  sequence() {
    const items = [];
    while (this.pos < this.text.length && this.peek() !== '|' && this.peek() !== ')') {
      let item = this.atom();
      let bounds;
      while ((bounds = this.quantifier())) {
        if (item.assert) throw new SyntaxError('nothing to repeat');
        item = {repeat: item, min: bounds[0], max: bounds[1]};
        if (this.peek() === '?') this.pos++;  // lazy: the same names match
      }
      items.push(item);
    }
    return {seq: items};
  }

  /** [min, max] of a quantifier at the cursor (consumed), or null. */
  quantifier() {
    const c = this.peek();
    if (c === '*' || c === '+' || c === '?') {
      this.pos++;
      return c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1];
    }
    const braces = c === '{' && /^\{(\d+)(,(\d*))?\}/.exec(this.text.slice(this.pos));
    if (!braces) return null;  // a '{' that is no quantifier is a plain character
    this.pos += braces[0].length;
    const min = Number(braces[1]);
    const max = braces[2] === undefined ? min : braces[3] === '' ? Infinity : Number(braces[3]);
    if (min > MAX_COUNT || (max !== Infinity && max > MAX_COUNT)) {
      throw new RegexRefused(`a repeat count above ${MAX_COUNT}`);
    }
    return [min, max];
  }

  atom() {
    const c = this.text[this.pos++];
    if (c === '(') {
      if (this.text.startsWith('?:', this.pos)) {
        this.pos += 2;
      } else if (/^\?<?[=!]/.test(this.text.slice(this.pos))) {
        throw new RegexRefused('lookahead and lookbehind are not supported');
      } else if (this.text.startsWith('?<', this.pos)) {
        this.pos = this.text.indexOf('>', this.pos) + 1;  // a named group: the name is not needed
      }
      const inner = this.alternation();
      this.pos++;  // ')' (JavaScript checked the parentheses balance)
      return inner;
    }
    if (c === '[') return this.characterClass();
    if (c === '.') return {set: (code) => !isLineEnd(code)};
    if (c === '^' || c === '$') return {assert: c};
    if (c === '\\') {
      const next = this.peek();
      if (next === 'b' || next === 'B') {
        this.pos++;
        return {assert: next};
      }
      return {set: this.escape(false)};
    }
    return {set: literal(c.charCodeAt(0))};
  }

  /** The predicate of an escape after its backslash (consumed). */
  escape(inClass) {
    const c = this.text[this.pos++];
    const lower = c.toLowerCase();
    if (CLASSES[lower]) return c === lower ? CLASSES[lower] : (code) => !CLASSES[lower](code);
    if (/[1-9]/.test(c) || c === 'k' || (c === '0' && isDigit(this.text.charCodeAt(this.pos)))) {
      throw new RegexRefused('backreferences (and octal escapes) are not supported');
    }
    if (c === 'b' && inClass) return literal(8);
    const simple = {t: 9, n: 10, v: 11, f: 12, r: 13, 0: 0}[c];
    if (simple !== undefined) return literal(simple);
    if (c === 'c' && /[A-Za-z]/.test(this.peek() || '')) return literal(this.text.charCodeAt(this.pos++) % 32);
    for (const [letter, digits] of [['x', 2], ['u', 4]]) {
      const hex = this.text.slice(this.pos, this.pos + digits);
      if (c === letter && new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
        this.pos += digits;
        return literal(parseInt(hex, 16));
      }
    }
    if (c === 'c') {
      this.pos--;  // '\c' not before a letter is a backslash, then 'c'
      return literal(92);
    }
    return literal(c.charCodeAt(0));  // an identity escape: \. \( \- ...
  }

  characterClass() {
    const negated = this.peek() === '^';
    if (negated) this.pos++;
    const parts = [];  // [predicate] or [from, to] character codes
    const single = () => {
      const c = this.text[this.pos++];
      if (c !== '\\') return {code: c.charCodeAt(0)};
      const start = this.pos;
      const test = this.escape(true);
      const text = this.text.slice(start, this.pos);
      return CLASSES[text.toLowerCase()] ? {test} : {code: test.code};  // other escapes: one character
    };
    while (this.peek() !== ']') {
      const first = single();
      if (this.peek() === '-' && this.peek(1) !== ']' && first.code !== undefined) {
        this.pos++;
        const last = single();
        if (last.code !== undefined) {
          parts.push([first.code, last.code]);
          continue;
        }
        parts.push([first.code, first.code], [45, 45], last.test);  // [a-\d]: a, '-', digits
        continue;
      }
      parts.push(first.code !== undefined ? [first.code, first.code] : first.test);
    }
    this.pos++;  // ']'
    const member = (code) => parts.some((p) => typeof p === 'function' ? p(code) : code >= p[0] && code <= p[1]);
    const matches = (code) => variants(code).some(member);
    return {set: negated ? (code) => !matches(code) : matches};
  }
}

function literal(code) {
  const folded = canonical(code);
  const test = (c) => canonical(c) === folded;
  test.code = code;
  return test;
}

// ---- the automaton: tree → states, run on every path at once ---------------------------------

class Automaton {
  constructor(tree) {
    this.states = [];  // {set, next} | {split: [state...]} | {assert, next} | {match: true}
    const end = this.add({match: true});
    this.start = this.compile(tree, end);
  }

  add(state) {
    if (this.states.length >= MAX_STATES) throw new RegexRefused('too large to run safely');
    this.states.push(state);
    return this.states.length - 1;
  }

  /** The state that matches `node`, then goes on to `next` (built back to front). */
  compile(node, next) {
    if (node.set) return this.add({set: node.set, next});
    if (node.assert) return this.add({assert: node.assert, next});
    if (node.seq) return node.seq.reduceRight((after, item) => this.compile(item, after), next);
    if (node.alt) return this.add({split: node.alt.map((option) => this.compile(option, next))});
    const {repeat, min, max} = node;
    let after = next;
    if (max === Infinity) {
      const loop = this.add({split: []});
      this.states[loop].split = [this.compile(repeat, loop), next];
      after = loop;
    } else {
      for (let i = min; i < max; i++) after = this.add({split: [this.compile(repeat, after), next]});
    }
    for (let i = 0; i < min; i++) after = this.compile(repeat, after);
    return after;
  }

  /** Whether the pattern matches anywhere in `text`: at most one step per state and character. */
  test(text) {
    const seen = new Int32Array(this.states.length).fill(-1);
    let current = [];
    for (let at = 0; ; at++) {
      if (this.follow(this.start, at, text, current, seen)) return true;
      if (at === text.length) return false;
      const code = text.charCodeAt(at);
      const next = [];
      for (const state of current) {
        const {set, next: after} = this.states[state];
        if (set(code) && this.follow(after, at + 1, text, next, seen)) return true;
      }
      current = next;
    }
  }

  /** Adds `state` and the states it reaches without a character to `list`; true on a match. */
  follow(state, at, text, list, seen) {
    const stack = [state];
    while (stack.length) {
      const id = stack.pop();
      if (seen[id] === at) continue;
      seen[id] = at;
      const s = this.states[id];
      if (s.match) return true;
      if (s.split) {
        for (let i = s.split.length - 1; i >= 0; i--) stack.push(s.split[i]);
      } else if (s.assert) {
        if (holds(s.assert, text, at)) stack.push(s.next);
      } else {
        list.push(id);
      }
    }
    return false;
  }
}

function holds(assertion, text, at) {
  if (assertion === '^') return at === 0;
  if (assertion === '$') return at === text.length;
  const before = at > 0 && isWord(text.charCodeAt(at - 1));
  const after = at < text.length && isWord(text.charCodeAt(at));
  return (before !== after) === (assertion === 'b');
}
