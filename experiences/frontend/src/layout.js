// "Tidy up": a top-down layered layout of the graph (dagre).
import dagre from "@dagrejs/dagre";

export function tidy(nodes, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 50, ranksep: 90 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: n.measured?.width || 200, height: n.measured?.height || 90 });
  for (const e of edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const positions = {};
  for (const n of nodes) {
    const p = g.node(n.id);
    positions[n.id] = { x: Math.round(p.x - p.width / 2), y: Math.round(p.y - p.height / 2) };
  }
  return positions;
}
