// Maximum bipartite matching (Kuhn's augmenting paths): which request may have created which order.

/**
 * Matches each left item to at most one right item it `fits`, and each right item to at most one
 * left, with as many pairs as possible. Returns, per left index, the matched right index or -1.
 * Sizes here are a user's few unexplained orders and requests, so O(V·E) is nothing.
 */
export function maxMatching(left: number, right: number, fits: (l: number, r: number) => boolean): number[] {
  const owner = new Array<number>(right).fill(-1);
  const tryAssign = (l: number, seen: boolean[]): boolean => {
    for (let r = 0; r < right; r++) {
      if (seen[r] || !fits(l, r)) continue;
      seen[r] = true;
      if (owner[r] === -1 || tryAssign(owner[r]!, seen)) {
        owner[r] = l;
        return true;
      }
    }
    return false;
  };
  for (let l = 0; l < left; l++) tryAssign(l, new Array<boolean>(right).fill(false));
  const matched = new Array<number>(left).fill(-1);
  owner.forEach((l, r) => {
    if (l >= 0) matched[l] = r;
  });
  return matched;
}
