/** `depth` objects nested in one another: `{ x: { x: ... } }` (built without recursion). */
export function nested(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let level = 1; level < depth; level++) {
    const child: Record<string, unknown> = {};
    node.x = child;
    node = child;
  }
  return root;
}
