"""The dashboard's run filter (frontend/runpicker.js, frontend/saferegex.js), run in Node: a filter
from a shared link cannot freeze the page, and it matches what JavaScript's RegExp matches."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"

SCRIPT = """
import {runMatcher} from %(runpicker)s;
import {compileSafe, RegexRefused} from %(saferegex)s;
import {writeFileSync} from 'fs';

const out = {};
// From issue 23: 14 s in JavaScript's RegExp at 26 a's, doubling with each more; 40 here.
const hostile = runMatcher('(a+)+$');
out.hostile = {match: hostile.test('a'.repeat(40) + '!'), short: hostile.test('xaaa'), note: hostile.note};
out.hostileMore = ['(a|a)*$', '(a*)*b', '(.*a){12}$', '(\\\\w+\\\\s?)+$'].map((p) =>
  runMatcher(p).test('a'.repeat(40) + '!'));

const names = ['baseline', 'fast_lr', 'no_probes', 'lr0.01-seed1', 'lr0.1-seed2', 'RUN A'];
out.typical = Object.fromEntries(['^(base|fast)', 'BASE', 'lr0\\\\.0?1-seed\\\\d$', 'run a', '_(lr|probes)$']
  .map((p) => [p, names.filter((n) => runMatcher(p).test(n))]));

out.refused = Object.fromEntries(['(a)\\\\1', '(?=base)', '(?<!x)base', 'a'.repeat(201), 'x{1000}']
  .map((p) => { const m = runMatcher(p); return [p, {valid: m.valid, note: m.note,
    text: ['base', p].map((n) => m.test(n))}]; }));
const invalid = runMatcher('(');
out.invalid = {valid: invalid.valid, note: invalid.note, text: invalid.test('a(b')};

// Differential: random patterns over a small alphabet against random names, ours vs RegExp
// (names of at most 8 characters keep RegExp's backtracking short).
let seed = 12345;
const random = () => (seed = (seed * 1103515245 + 12345) %% 2147483648) / 2147483648;
const pick = (list) => list[Math.floor(random() * list.length)];
const ATOMS = ['a', 'b', 'A', '-', '_', '1', '.', '\\\\.', '\\\\d', '\\\\w', '\\\\W', '\\\\s', '[ab]', '[^a]',
  '[a-c1]', '[\\\\d_]', '[^\\\\w]', '[-a]', '\\\\x61', '\\\\u0042', '{', '}'];
const QUANTIFIERS = ['', '', '', '*', '+', '?', '{2}', '{1,2}', '{0,}', '*?', '+?'];
function pattern(depth) {
  const parts = [];
  for (let i = 0, n = 1 + Math.floor(random() * 4); i < n; i++) {
    const r = random();
    let atom = r < 0.2 && depth < 2 ? `(${pick(['', '?:'])}${pattern(depth + 1)})` :
      r < 0.3 ? pick(['^', '$', '\\\\b', '\\\\B']) : pick(ATOMS);
    if (!['^', '$', '\\\\b', '\\\\B'].includes(atom)) atom += pick(QUANTIFIERS);
    parts.push(atom);
  }
  const sequence = parts.join('');
  return random() < 0.2 ? `${sequence}|${pattern(depth + 1)}` : sequence;
}
const ALPHABET = 'abAB-_1. c';
const name = () => Array.from({length: Math.floor(random() * 9)}, () => pick(ALPHABET)).join('');
let compared = 0;
const mismatches = [];
for (let i = 0; i < 3000; i++) {
  const p = pattern(0);
  let native;
  try { native = new RegExp(p, 'i'); } catch (error) { continue; }
  const ours = compileSafe(p);
  for (let j = 0; j < 20; j++) {
    const n = name();
    compared++;
    if (ours.test(n) !== native.test(n)) mismatches.push([p, n, native.test(n)]);
  }
}
out.differential = {compared, mismatches: mismatches.slice(0, 10)};
writeFileSync(%(out)s, JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    node = shutil.which("node")
    assert node, "Node.js is needed to test the dashboard's JavaScript"
    directory = tmp_path_factory.mktemp("run_filter")
    script, out = directory / "filter.mjs", directory / "out.json"
    script.write_text(SCRIPT % {"runpicker": json.dumps((FRONTEND / "runpicker.js").as_uri()),
                                "saferegex": json.dumps((FRONTEND / "saferegex.js").as_uri()),
                                "out": json.dumps(str(out))})
    # JavaScript's RegExp took 14 s on the first hostile filter at 26 a's and doubles with each
    # more: at 40 it would run for days, so the timeout is the failure, not a measurement.
    subprocess.run([node, str(script)], check=True, timeout=120)
    return json.loads(out.read_text())


def test_a_filter_with_nested_quantifiers_from_a_link_cannot_freeze_the_page(results):
    assert results["hostile"] == {"match": False, "short": True, "note": ""}  # run as the regex it is
    assert results["hostileMore"] == [True, False, False, False]


def test_typical_filters_match_like_tensorboards_case_insensitive_regex(results):
    assert results["typical"] == {
        "^(base|fast)": ["baseline", "fast_lr"],
        "BASE": ["baseline"],
        "lr0\\.0?1-seed\\d$": ["lr0.01-seed1", "lr0.1-seed2"],
        "run a": ["RUN A"],
        "_(lr|probes)$": ["fast_lr", "no_probes"],
    }


def test_filters_it_cannot_run_safely_are_matched_as_text_and_say_so(results):
    for pattern, verdict in results["refused"].items():
        assert verdict["valid"] is False, pattern
        assert verdict["note"].startswith("matched as text: "), verdict
        assert verdict["text"] == [False, True], pattern  # the filter's own text matches, 'base' not
    notes = {pattern[:12]: verdict["note"] for pattern, verdict in results["refused"].items()}
    assert "backreference" in notes["(a)\\1"] and "lookahead" in notes["(?=base)"]
    assert "longer than 200" in notes["a" * 12] and "above 100" in notes["x{1000}"]
    assert results["invalid"] == {"valid": False, "note": "matched as text: not a valid regular expression",
                                  "text": True}


def test_it_matches_what_javascripts_regexp_matches(results):
    assert results["differential"]["compared"] > 30_000
    assert results["differential"]["mismatches"] == []
