/**
 * word-diff.js: a word-level diff of two texts, for the vault's version history.
 * diffWords(a, b) -> [{op: "same" | "add" | "del", text}], where words keep their
 * following whitespace, so joining the "same" and "del" parts gives back `a`, and the
 * "same" and "add" parts give back `b`. Longest common subsequence after trimming the
 * common start and end; inputs too large for the table fall back to "all replaced".
 */

const MAX_CELLS = 4_000_000;

export function tokens(text) {
  return text.match(/\s+|[^\s]+\s*/g) || [];
}

function push(out, op, text) {
  const last = out[out.length - 1];
  if (last && last.op === op) last.text += text;
  else out.push({ op, text });
}

export function diffWords(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const out = [];
  if (start > 0) push(out, "same", a.slice(0, start).join(""));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_CELLS) {
    if (n) push(out, "del", midA.join(""));
    if (m) push(out, "add", midB.join(""));
  } else {
    // lcs[i][j]: common length of midA[i:] and midB[j:], one flat typed array.
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        lcs[i * width + j] =
          midA[i] === midB[j]
            ? lcs[(i + 1) * width + j + 1] + 1
            : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (midA[i] === midB[j]) {
        push(out, "same", midA[i]);
        i += 1;
        j += 1;
      } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
        push(out, "del", midA[i]);
        i += 1;
      } else {
        push(out, "add", midB[j]);
        j += 1;
      }
    }
    if (i < n) push(out, "del", midA.slice(i).join(""));
    if (j < m) push(out, "add", midB.slice(j).join(""));
  }
  if (endA < a.length) push(out, "same", a.slice(endA).join(""));
  return out;
}
