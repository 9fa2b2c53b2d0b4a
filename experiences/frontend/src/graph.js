// Conversions between the draft API's graph and React Flow's nodes and edges, keys and diffs.
export const handleId = (branch) => `b:${branch}`;
export const branchOf = (handle) => (handle ? handle.slice(2) : "");

export function toFlow(graph) {
  const nodes = graph.nodes.map((n) => ({
    id: n.key,
    type: "step",
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    data: { type: n.type, config: n.config || {} },
  }));
  const edges = graph.edges.map((e) => flowEdge(e.source, e.target, e.branch));
  return { nodes, edges };
}

export function flowEdge(source, target, branch) {
  return {
    id: `${source}>${branch}`,
    source,
    target,
    sourceHandle: handleId(branch),
    data: { branch },
  };
}

export function fromFlow(nodes, edges) {
  return {
    nodes: nodes.map((n) => ({
      key: n.id,
      type: n.data.type,
      config: n.data.config || {},
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    })),
    edges: edges.map((e) => ({ source: e.source, target: e.target, branch: e.data?.branch ?? "" })),
  };
}

export function newKey(type, nodes) {
  const taken = new Set(nodes.map((n) => n.id));
  const base = type.replace(/_/g, "-");
  let i = 1;
  while (taken.has(`${base}-${i}`)) i += 1;
  return `${base}-${i}`;
}

// What changed between a version and the live one: nodes added, removed, changed.
export function diffGraphs(version, live) {
  const before = new Map((live?.nodes || []).map((n) => [n.key, n]));
  const after = new Map(version.nodes.map((n) => [n.key, n]));
  const edgeSig = (g, key) =>
    (g?.edges || [])
      .filter((e) => e.source === key)
      .map((e) => `${e.branch}>${e.target}`)
      .sort()
      .join("|");
  const status = {};
  for (const [key, node] of after) {
    const old = before.get(key);
    if (!old) status[key] = "added";
    else if (
      old.type !== node.type ||
      JSON.stringify(old.config) !== JSON.stringify(node.config) ||
      edgeSig(live, key) !== edgeSig(version, key)
    )
      status[key] = "changed";
  }
  const removed = [...before.keys()].filter((k) => !after.has(k));
  return { status, removed };
}
