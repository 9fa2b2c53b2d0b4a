// What the server told the canvas (not undoable): the catalog, errors, branches, counts, the
// path of a tested customer and a version diff.
import { create } from "zustand";

export const useInfo = create((set) => ({
  catalog: {},
  conditionFields: [],
  branches: {},
  errors: { graph: [], nodes: {}, edges: [] },
  errorCount: {},
  counts: null,
  liveCounts: null, // the live version's counts, put back when a simulation's are closed
  highlight: {},
  diff: null,
  // The store's segments and incentives, for pickers and node summaries (names, not ids).
  segments: [],
  incentives: null, // null: not loaded yet
  incentivesProblem: "", // why they could not be loaded (e.g. Rewards are not enabled)
  addSegment: (segment) => set((s) => ({ segments: [...s.segments, segment] })),
  setErrors: (errors) => {
    const errorCount = {};
    for (const [key, fields] of Object.entries(errors?.nodes || {})) {
      errorCount[key] = Object.values(fields).reduce((sum, list) => sum + list.length, 0);
    }
    set({ errors: errors || { graph: [], nodes: {}, edges: [] }, errorCount });
  },
}));
