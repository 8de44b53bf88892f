/**
 * "Did you mean" for a mistyped name: the closest known name by edit distance, when it is close
 * enough to be a typo rather than a different word.
 */

/**
 * Edit distance counting an insertion, a deletion, a substitution and a swap of two neighbouring
 * characters as one edit each (optimal string alignment), so `conenctor` is one edit from
 * `connector`, like `conector`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i += 1) d[i * cols] = i;
  for (let j = 0; j < cols; j += 1) d[j] = j;
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known name closest to `word` (case-insensitive), or null when none is within a typo's
 * reach: at most 2 edits, and fewer than half the word's length (so `ab` never suggests `xy`).
 */
export function didYouMean(word: string, known: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: { name: string; distance: number } | null = null;
  for (const name of known) {
    const distance = editDistance(w, name.toLowerCase());
    if (distance > 2 || distance * 2 >= Math.max(w.length, 2)) continue;
    if (best === null || distance < best.distance) best = { name, distance };
  }
  return best?.name ?? null;
}
