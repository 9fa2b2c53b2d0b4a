// The canvas state: the graph (tracked by zundo for undo/redo over whole snapshots) and what
// the server said about it (errors, branches, counts), which is not undoable.
import { create, useStore } from "zustand";
import { temporal } from "zundo";
import { applyEdgeChanges, applyNodeChanges } from "@xyflow/react";
import { flowEdge } from "./graph";

// Only what the merchant authored is history: positions, types, configs and edges.
const snapshot = (state) => ({
  nodes: state.nodes.map((n) => ({ id: n.id, position: n.position, data: n.data, type: n.type })),
  edges: state.edges.map((e) => ({
    id: e.id,
    source: e.source,
    target: e.target,
    sourceHandle: e.sourceHandle,
    data: e.data,
  })),
});
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

export const useBuilder = create(
  temporal(
    (set, get) => ({
      nodes: [],
      edges: [],
      selected: null,
      // Bumped on each authored change; autosave compares it with what was last saved.
      edits: 0,
      replaceGraph: (nodes, edges) => set({ nodes, edges }),
      onNodesChange: (changes) => {
        if (changes.some((c) => c.type === "remove")) groupDeletion();
        const removed = new Set(changes.filter((c) => c.type === "remove").map((c) => c.id));
        const state = get();
        const authored = changes.some((c) => c.type === "remove" || (c.type === "position" && c.position));
        let nodes = applyNodeChanges(changes, state.nodes);
        // Deleting a node takes its edges in the same step.
        let edges = removed.size
          ? state.edges.filter((e) => !removed.has(e.source) && !removed.has(e.target))
          : state.edges;
        // Selection made on the canvas itself (a keyboard user: Tab to a node, Enter) counts as
        // the panel's selection too, as a click does.
        const picked = changes.filter((c) => c.type === "select" && c.selected).map((c) => c.id);
        const dropped = changes.some((c) => c.type === "select" && !c.selected && c.id === state.selected);
        let selected = state.selected;
        if (removed.has(selected) || dropped) selected = null;
        if (picked.length) selected = picked[picked.length - 1];
        set({
          nodes,
          edges,
          selected,
          edits: authored ? state.edits + 1 : state.edits,
        });
      },
      onEdgesChange: (changes) => {
        if (changes.some((c) => c.type === "remove")) groupDeletion();
        const state = get();
        const authored = changes.some((c) => c.type === "remove");
        set({
          edges: applyEdgeChanges(changes, state.edges),
          edits: authored ? state.edits + 1 : state.edits,
        });
      },
      connect: (source, target, branch) => {
        const state = get();
        const edges = state.edges.filter(
          (e) => !(e.source === source && (e.data?.branch ?? "") === branch),
        );
        set({ edges: [...edges, flowEdge(source, target, branch)], edits: state.edits + 1 });
      },
      addNode: (node, fromEdge) => {
        const state = get();
        let edges = state.edges;
        if (fromEdge) {
          edges = edges.filter(
            (e) => !(e.source === fromEdge.source && (e.data?.branch ?? "") === fromEdge.branch),
          );
          edges = [...edges, flowEdge(fromEdge.source, node.id, fromEdge.branch)];
        }
        set({
          nodes: [...state.nodes.map((n) => ({ ...n, selected: false })), { ...node, selected: true }],
          edges,
          selected: node.id,
          edits: state.edits + 1,
        });
      },
      setConfig: (id, config) => {
        const state = get();
        const current = state.nodes.find((n) => n.id === id);
        if (!current || same(current.data.config, config)) return;
        set({
          nodes: state.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, config } } : n)),
          edits: state.edits + 1,
        });
      },
      setPositions: (positions) => {
        const state = get();
        set({
          nodes: state.nodes.map((n) => (positions[n.id] ? { ...n, position: positions[n.id] } : n)),
          edits: state.edits + 1,
        });
      },
      select: (id) => {
        const state = get();
        set({
          selected: id,
          nodes: state.nodes.map((n) =>
            n.selected === (n.id === id) ? n : { ...n, selected: n.id === id },
          ),
        });
      },
    }),
    {
      limit: 100,
      partialize: snapshot,
      equality: same,
    },
  ),
);

// Restore a snapshot from history: keep selection flags off and count it as an edit (autosave).
export function travel(direction) {
  endDeletion();
  const temporalStore = useBuilder.temporal.getState();
  if (direction < 0) temporalStore.undo();
  else temporalStore.redo();
  useBuilder.setState((s) => ({ edits: s.edits + 1, selected: null }));
}

// A drag is one step: history pauses while the node moves, then the position before the drag
// is pushed as a single past state.
let beforeDrag = null;
export function dragStarted() {
  beforeDrag = snapshot(useBuilder.getState());
  useBuilder.temporal.getState().pause();
}
export function dragStopped() {
  const temporalStore = useBuilder.temporal.getState();
  temporalStore.resume();
  if (beforeDrag && !same(beforeDrag, snapshot(useBuilder.getState()))) {
    useBuilder.temporal.setState((t) => ({
      pastStates: [...t.pastStates, beforeDrag].slice(-100),
      futureStates: [],
    }));
  }
  beforeDrag = null;
}

// Whether the undo/redo buttons are live (re-rendered from zundo's own store).
export const useHistory = (selector) => useStore(useBuilder.temporal, selector);

// Deleting a node and its edges arrives as separate edge and node changes in the same task:
// they are grouped into one history step, closed after the task or before an undo/redo.
let deletion = null;
function groupDeletion() {
  if (deletion) return;
  dragStarted();
  deletion = setTimeout(endDeletion, 0);
}
function endDeletion() {
  if (!deletion) return;
  clearTimeout(deletion);
  deletion = null;
  dragStopped();
}
