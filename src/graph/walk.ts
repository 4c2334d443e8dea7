/**
 * Visits a graph node after everything it depends on, without recursion (converted graphs are
 * hundreds of nodes deep). Shared by the ONNX converter and the trainable program, which must
 * agree on what a graph's dependencies are and on how a broken graph is reported.
 */
export interface DependencyWalk<N extends { name: string }> {
  node(name: string): N | undefined;
  /** Names of the nodes `node` reads. */
  inputs(node: N): string[];
  /** Whether a node was visited (in this walk or before it). */
  done(name: string): boolean;
  /** Called once per node, after its inputs; afterwards `done(node.name)` must hold. */
  visit(node: N): void;
  fail(node: N, reason: string): never;
}

export function walkDependencies<N extends { name: string }>(target: string, walk: DependencyWalk<N>): void {
  const stack: Array<{ name: string; expanded: boolean }> = [{ name: target, expanded: false }];
  /** Nodes whose inputs are being visited: meeting one again means a cycle. */
  const open = new Set<string>();
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { name: string; expanded: boolean };
    if (walk.done(top.name)) {
      stack.pop();
      continue;
    }
    const node = walk.node(top.name) as N;
    if (!top.expanded) {
      top.expanded = true;
      open.add(node.name);
      for (const dep of walk.inputs(node)) {
        if (walk.done(dep)) continue;
        if (walk.node(dep) === undefined) walk.fail(node, `its input '${dep}' is not in the graph`);
        if (open.has(dep)) walk.fail(node, `the graph has a cycle through '${dep}'`);
        stack.push({ name: dep, expanded: false });
      }
      continue;
    }
    walk.visit(node);
    open.delete(node.name);
    stack.pop();
  }
}
