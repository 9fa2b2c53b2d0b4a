// The flow builder: top bar, palette, canvas, side panel, and the drawers (errors, versions,
// test with a customer). Every read and write goes through the public API.
import { Suspense, lazy, useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from "@xyflow/react";
import { makeApi } from "./api";
import { branchOf, diffGraphs, fromFlow, newKey, toFlow } from "./graph";
import { dragStarted, dragStopped, travel, useBuilder, useHistory } from "./store";
import { useInfo } from "./info";
import { StepNode } from "./StepNode";
import { readLocal, localKey, useAutosave } from "./useAutosave";
import { tidy } from "./layout";

// The side panel carries the JSON Schema forms (the largest part of the bundle): it loads in
// its own chunk, fetched while the graph is drawn, so a large graph is shown sooner.
const loadPanel = () => import("./Panel");
const Panel = lazy(() => loadPanel().then((m) => ({ default: m.Panel })));
import { VersionsDrawer, TestDrawer } from "./Drawers";
import { SimulateDrawer } from "./Simulate";
import { SettingsDrawer } from "./Settings";

const nodeTypes = { step: StepNode };
const STATUS_TEXT = { saved: "Saved", saving: "Saving…", unsaved: "Unsaved", failed: "Failed" };

function Builder({ boot }) {
  const api = useMemo(() => makeApi(boot.api), [boot.api]);
  const flow = useReactFlow();
  const wrapper = useRef(null);
  const revision = useRef(0);
  const [experience, setExperience] = useState(null);
  const [loaded, setLoaded] = useState(false);
  const [loadProblem, setLoadProblem] = useState("");
  const [restorable, setRestorable] = useState(null);
  const [drawer, setDrawer] = useState(null);
  const [viewing, setViewing] = useState(null); // {number, state, removed}
  const [notice, setNotice] = useState("");
  const canEdit = boot.role !== "viewer";
  const readOnly = !canEdit || viewing !== null;

  const nodes = useBuilder((s) => s.nodes);
  const edges = useBuilder((s) => s.edges);
  const selected = useBuilder((s) => s.selected);
  const errors = useInfo((s) => s.errors);
  const catalog = useInfo((s) => s.catalog);
  const hasDraft = useInfo((s) => s.draftState === "draft");
  const canUndo = useHistory((t) => t.pastStates.length > 0);
  const canRedo = useHistory((t) => t.futureStates.length > 0);

  const autosave = useAutosave({ api, boot, enabled: loaded && !readOnly, revision });

  const showGraph = useCallback((graph) => {
    const { nodes: n, edges: e } = toFlow(graph);
    // A graph written through the API without positions would stack every node on one spot:
    // lay it out for display (saved only if the merchant then edits it).
    const spots = new Set(n.map((node) => `${node.position.x},${node.position.y}`));
    if (n.length > 1 && spots.size === 1) {
      const positions = tidy(n, e);
      for (const node of n) node.position = positions[node.id];
    }
    useBuilder.setState({ nodes: n, edges: e, selected: null });
    useBuilder.temporal.getState().clear();
  }, []);

  const loadDraft = useCallback(async (pending) => {
    const [draft, exp] = await (pending ||
      Promise.all([api.get(`experiences/${boot.experience}/draft/`), api.get(`experiences/${boot.experience}/`)]));
    if (!draft.ok || !exp.ok) throw new Error(draft.data?.detail || "The experience could not be loaded.");
    revision.current = draft.data.revision;
    setExperience(exp.data);
    showGraph(draft.data);
    useInfo.getState().setErrors(draft.data.errors);
    useInfo.setState({
      branches: draft.data.branches || {},
      draftState: draft.data.state,
      diff: null,
      highlight: {},
    });
    autosave.markSaved();
    if (exp.data.live_version) {
      const counts = await api.get(`experiences/${boot.experience}/counts/`);
      if (counts.ok) useInfo.setState({ counts: counts.data, liveCounts: counts.data });
    }
    return draft.data;
  }, [api, boot.experience, showGraph, autosave]);

  useEffect(() => {
    (async () => {
      try {
        // The catalog, the draft and the experience are fetched at once (one round trip).
        const pending = Promise.all([
          api.get(`experiences/${boot.experience}/draft/`),
          api.get(`experiences/${boot.experience}/`),
        ]);
        pending.catch(() => {});
        loadPanel();
        const types = await api.get(`node-types/?kind=${boot.kind}`);
        if (!types.ok) throw new Error("The node catalog could not be loaded.");
        const byType = Object.fromEntries(types.data.node_types.map((t) => [t.type, t]));
        useInfo.setState({ catalog: byType, conditionFields: types.data.condition_fields });
        // Names for pickers and summaries; incentives only where a node gives one (Rewards).
        api.list("segments/").then((r) => r.ok && useInfo.setState({ segments: r.data }));
        const givesIncentives = types.data.node_types.some((t) =>
          Object.values(t.schema?.properties || {}).some((p) => p["x-picker"] === "incentive"),
        );
        if (givesIncentives)
          api.list("incentives/").then((r) =>
            useInfo.setState(
              r.ok
                ? { incentives: r.data }
                : { incentives: [], incentivesProblem: r.data?.detail || "The incentives could not be loaded." },
            ),
          );
        const draft = await loadDraft(pending);
        const local = readLocal(boot);
        if (local && canEdit) {
          const server = fromFlow(toFlow(draft).nodes, toFlow(draft).edges);
          if (JSON.stringify({ n: server.nodes, e: server.edges }) !== JSON.stringify({ n: local.nodes, e: local.edges }))
            setRestorable(local);
          else localStorage.removeItem(localKey(boot));
        }
        setLoaded(true);
        window.requestAnimationFrame(() => flow.fitView({ padding: 0.2, maxZoom: 1 }));
      } catch (err) {
        setLoadProblem(String(err.message || err));
      }
    })();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const restoreLocal = () => {
    const { nodes: n, edges: e } = toFlow(restorable);
    revision.current = restorable.revision;
    useBuilder.setState((s) => ({ nodes: n, edges: e, edits: s.edits + 1 }));
    setRestorable(null);
  };
  const discardLocal = () => {
    localStorage.removeItem(localKey(boot));
    setRestorable(null);
  };

  // Add a node: dropped at a point, or after the selected node on its first free branch.
  const addNode = useCallback(
    (type, position) => {
      const state = useBuilder.getState();
      const id = newKey(type, state.nodes);
      let from = null;
      let at = position;
      if (!at) {
        const anchor = state.nodes.find((n) => n.id === state.selected);
        if (anchor) {
          const info = useInfo.getState();
          const branches = info.branches[anchor.id] ?? info.catalog[anchor.data.type]?.branches ?? [""];
          const used = new Set(state.edges.filter((e) => e.source === anchor.id).map((e) => e.data?.branch ?? ""));
          const free = branches.find((b) => !used.has(b));
          if (free !== undefined) from = { source: anchor.id, branch: free };
          at = { x: anchor.position.x, y: anchor.position.y + 160 };
        } else {
          const { x, y, zoom } = flow.getViewport();
          const box = wrapper.current.getBoundingClientRect();
          at = { x: (box.width / 2 - x) / zoom - 90, y: (box.height / 2 - y) / zoom - 40 };
        }
      }
      const config = defaultsFor(useInfo.getState().catalog[type]?.schema);
      state.addNode({ id, type: "step", position: at, data: { type, config } }, from);
    },
    [flow],
  );

  const onDrop = useCallback(
    (event) => {
      event.preventDefault();
      const type = event.dataTransfer.getData("application/x-node-type");
      if (!type || readOnly) return;
      const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addNode(type, { x: at.x - 90, y: at.y - 30 });
    },
    [flow, addNode, readOnly],
  );

  const onConnect = useCallback(({ source, target, sourceHandle }) => {
    useBuilder.getState().connect(source, target, branchOf(sourceHandle));
  }, []);

  const isValidConnection = useCallback(
    (c) => c.source !== c.target && useBuilder.getState().nodes.find((n) => n.id === c.target)?.data.type !== "trigger",
    [],
  );

  const jumpTo = useCallback(
    (key) => {
      const node = useBuilder.getState().nodes.find((n) => n.id === key);
      if (!node) return;
      useBuilder.getState().select(key);
      flow.setCenter(node.position.x + 90, node.position.y + 40, { zoom: 1.1, duration: 300 });
    },
    [flow],
  );

  const doTidy = async () => {
    const state = useBuilder.getState();
    const positions = tidy(state.nodes, state.edges);
    state.setPositions(positions);
    window.requestAnimationFrame(() => flow.fitView({ padding: 0.2, duration: 300 }));
  };

  const act = async (what, body) => {
    setNotice("");
    if (!autosave.saved()) await autosave.save();
    const answer = await api.post(`experiences/${boot.experience}/${what}/`, body);
    if (!answer.ok) {
      if (answer.data?.errors) useInfo.getState().setErrors(answer.data.errors);
      setNotice(answer.data?.detail || `That did not work (${answer.status}).`);
      return;
    }
    await loadDraft();
    setNotice(
      what === "publish"
        ? `Published: version ${answer.data.number} is live.`
        : what === "pause"
          ? "Paused: no new customers enter."
          : "Resumed: customers enter again.",
    );
  };

  const viewVersion = async (number) => {
    if (!autosave.saved()) await autosave.save();
    const answer = await api.get(`experiences/${boot.experience}/versions/${number}/`);
    if (!answer.ok) return;
    let live = null;
    if (experience?.live_version) {
      const l = await api.get(`experiences/${boot.experience}/versions/${experience.live_version}/`);
      if (l.ok) live = l.data;
    }
    const diff = diffGraphs(answer.data, live);
    showGraph(answer.data);
    useInfo.setState({ diff, highlight: {} });
    setViewing({ number, state: answer.data.state, graph: answer.data, removed: diff.removed, against: live?.number });
    setDrawer(null);
    window.requestAnimationFrame(() => flow.fitView({ padding: 0.2, maxZoom: 1 }));
  };

  const backToDraft = async () => {
    setViewing(null);
    await loadDraft();
  };

  const restoreVersion = async () => {
    const graph = viewing.graph;
    const current = await api.get(`experiences/${boot.experience}/draft/`);
    const answer = await api.put(`experiences/${boot.experience}/draft/`, {
      revision: current.data.revision,
      nodes: graph.nodes,
      edges: graph.edges,
    });
    if (!answer.ok) {
      setNotice(answer.data?.detail || "The version could not be restored.");
      return;
    }
    setViewing(null);
    await loadDraft();
    setNotice(`Version ${graph.number} is now the draft.`);
  };

  const discardDraft = async () => {
    const answer = await api.del(`experiences/${boot.experience}/draft/?revision=${revision.current}`);
    if (!answer.ok) {
      setNotice(answer.data?.detail || "The draft could not be discarded.");
      return;
    }
    localStorage.removeItem(localKey(boot));
    setDrawer(null);
    await loadDraft();
    setNotice("The draft was discarded: you are back on the live version.");
  };

  useEffect(() => {
    const keys = (event) => {
      if (readOnly || event.target.closest("input, textarea, select, .panel")) return;
      const mod = event.metaKey || event.ctrlKey;
      if (mod && event.key.toLowerCase() === "z") {
        event.preventDefault();
        travel(event.shiftKey ? 1 : -1);
      } else if (mod && event.key.toLowerCase() === "y") {
        event.preventDefault();
        travel(1);
      }
    };
    window.addEventListener("keydown", keys);
    return () => window.removeEventListener("keydown", keys);
  }, [readOnly]);

  const errorItems = useMemo(() => {
    const items = [];
    for (const message of errors.graph || []) items.push({ message });
    for (const message of errors.edges || []) items.push({ message });
    for (const [key, fields] of Object.entries(errors.nodes || {}))
      for (const [field, messages] of Object.entries(fields))
        for (const message of messages)
          items.push({ key, message: field === "non_field_errors" ? message : `${field}: ${message}` });
    return items;
  }, [errors]);

  if (loadProblem) return <div className="load-problem">{loadProblem}</div>;
  const offered = Object.values(catalog).filter((t) => t.available);
  const status = experience?.status;
  const hasErrors = errorItems.length > 0;
  const publishBlocked =
    readOnly || boot.role !== "owner" || hasErrors || autosave.status !== "saved" || !hasDraft;
  const publishTitle =
    boot.role !== "owner"
      ? "Only owners can publish"
      : !hasDraft
        ? "Nothing changed since the live version"
        : hasErrors
        ? "Fix the problems listed first"
        : autosave.status !== "saved"
          ? "Waiting for the draft to be saved"
          : "Make this draft the live version";

  return (
    <div className="builder">
      <header className="topbar">
        <a className="back" href={boot.back}>← Experiences</a>
        <div className="title">
          <strong data-testid="experience-name">{experience?.name ?? boot.name}</strong>
          <span className="kind">{boot.kind.replace(/_/g, " ")}</span>
          {status && <span className={`badge status-${status}`}>{status}</span>}
          {experience?.live_version && <span className="muted">live: v{experience.live_version}</span>}
          {!canEdit && <span className="badge">view only</span>}
        </div>
        <a className="analytics-link" data-testid="analytics-link" href={boot.analytics} title="Funnel, rewards and outcome of this experience">
          Analytics
        </a>
        <div className="save">
          {canEdit && !viewing && (
            <>
              <span data-testid="save-status" data-state={autosave.status} className={`save-${autosave.status}`}>
                {STATUS_TEXT[autosave.status]}
              </span>
              {autosave.detail && <span className="save-detail">{autosave.detail}</span>}
            </>
          )}
        </div>
        <div className="actions">
          <button data-testid="undo-button" disabled={readOnly || !canUndo} onClick={() => travel(-1)} title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button data-testid="redo-button" disabled={readOnly || !canRedo} onClick={() => travel(1)} title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
          <button data-testid="tidy-button" disabled={readOnly} onClick={doTidy} title="Lay the graph out automatically">
            Tidy up
          </button>
          <button onClick={() => setDrawer(drawer === "versions" ? null : "versions")}>Versions</button>
          <button onClick={() => setDrawer(drawer === "test" ? null : "test")}>Test with a customer</button>
          <button data-testid="settings-button" onClick={() => setDrawer(drawer === "settings" ? null : "settings")}>
            Settings
          </button>
          <button data-testid="simulate-button" onClick={() => setDrawer(drawer === "simulate" ? null : "simulate")}>
            Simulate
          </button>
          {status === "live" && boot.role === "owner" && <button onClick={() => act("pause", {})}>Pause</button>}
          {status === "paused" && boot.role === "owner" && <button onClick={() => act("resume")}>Resume</button>}
          <button
            data-testid="publish-button"
            className="primary"
            disabled={publishBlocked}
            title={publishTitle}
            onClick={() => act("publish")}
          >
            Publish
          </button>
        </div>
      </header>
      {restorable && (
        <div className="banner warn" data-testid="restore-banner">
          Changes you made on {new Date(restorable.at).toLocaleString()} never reached the server; they were kept in this browser.
          <button onClick={restoreLocal}>Restore them</button>
          <button className="link" onClick={discardLocal}>Discard them</button>
        </div>
      )}
      {autosave.conflict && (
        <div className="banner error" data-testid="conflict-banner" role="alert">
          This experience was saved somewhere else (another tab or another person) after you opened it, so your
          last change was not saved. Reload to see their version and lose your unsaved change, or overwrite their
          version with yours.
          <button
            onClick={async () => {
              autosave.setConflict(null);
              localStorage.removeItem(localKey(boot));
              await loadDraft();
            }}
          >
            Reload their version
          </button>
          <button onClick={autosave.overwrite}>Overwrite with mine</button>
        </div>
      )}
      {viewing && (
        <div className="banner info" data-testid="version-banner">
          Viewing version {viewing.number} ({viewing.state}), read-only.
          {viewing.against ? ` Against live v${viewing.against}: ` : " "}
          {Object.values(useInfo.getState().diff?.status || {}).filter((s) => s === "added").length} added,{" "}
          {Object.values(useInfo.getState().diff?.status || {}).filter((s) => s === "changed").length} changed,{" "}
          {viewing.removed.length} removed{viewing.removed.length ? ` (${viewing.removed.join(", ")})` : ""}.
          {canEdit && <button onClick={restoreVersion}>Restore as the draft</button>}
          <button onClick={backToDraft}>Back to the draft</button>
        </div>
      )}
      {notice && (
        <div className="banner info" role="status">
          {notice} <button className="link" onClick={() => setNotice("")}>Dismiss</button>
        </div>
      )}
      <div className="workspace">
        {!readOnly && (
          <nav className="palette" aria-label="Node types">
            <h2>Add a step</h2>
            <p className="muted">Drag onto the canvas, or click to add after the selected node.</p>
            {offered.map((t) => (
              <button
                key={t.type}
                className="palette-item"
                data-testid={`palette-${t.type}`}
                draggable
                onDragStart={(e) => {
                  e.dataTransfer.setData("application/x-node-type", t.type);
                  e.dataTransfer.effectAllowed = "move";
                }}
                onClick={() => addNode(t.type)}
                title={t.description}
              >
                <strong>{t.label}</strong>
                <span>{t.description}</span>
              </button>
            ))}
          </nav>
        )}
        <div className="canvas" ref={wrapper} onDrop={onDrop} onDragOver={(e) => e.preventDefault()}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={useBuilder.getState().onNodesChange}
            onEdgesChange={useBuilder.getState().onEdgesChange}
            onConnect={onConnect}
            isValidConnection={isValidConnection}
            onNodeClick={(_, node) => useBuilder.getState().select(node.id)}
            onPaneClick={() => useBuilder.getState().select(null)}
            onNodeDragStart={dragStarted}
            onNodeDragStop={dragStopped}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            edgesFocusable={!readOnly}
            deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
            onlyRenderVisibleElements
            minZoom={0.1}
            defaultEdgeOptions={{ type: "smoothstep" }}
          >
            <Background />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable />
          </ReactFlow>
        </div>
        <div className="side">
          <section className="validation" data-testid="validation-list">
            {errorItems.length === 0 ? (
              <p className="ok">No problems: ready to publish.</p>
            ) : (
              <>
                <h2>{errorItems.length} problem{errorItems.length === 1 ? "" : "s"} to fix before publishing</h2>
                <ul>
                  {errorItems.map((item, i) => (
                    <li key={i}>
                      {item.key ? (
                        <button className="link" onClick={() => jumpTo(item.key)}>
                          <code>{item.key}</code> {item.message}
                        </button>
                      ) : (
                        item.message
                      )}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </section>
          <Suspense fallback={<aside className="panel" data-testid="node-panel-loading">Loading…</aside>}>
            <Panel api={api} readOnly={readOnly} nodeId={selected} />
          </Suspense>
        </div>
        {drawer === "versions" && (
          <VersionsDrawer
            api={api}
            boot={boot}
            experience={experience}
            onOpen={viewVersion}
            onDiscard={canEdit ? discardDraft : null}
            onClose={() => setDrawer(null)}
          />
        )}
        {drawer === "test" && <TestDrawer api={api} boot={boot} onClose={() => setDrawer(null)} />}
        {drawer === "settings" && experience && (
          <SettingsDrawer
            api={api}
            boot={boot}
            experience={experience}
            onSaved={(saved) => setExperience(saved)}
            onClose={() => setDrawer(null)}
          />
        )}
        {drawer === "simulate" && (
          <SimulateDrawer
            api={api}
            boot={boot}
            experience={experience}
            beforeStart={async () => {
              if (!readOnly && !autosave.saved()) await autosave.save();
            }}
            onClose={() => setDrawer(null)}
          />
        )}
      </div>
    </div>
  );
}

// A new node's configuration: the schema's top-level defaults.
function defaultsFor(schema) {
  const config = {};
  for (const [name, prop] of Object.entries(schema?.properties || {})) {
    if (prop.default !== undefined && prop.default !== null) config[name] = prop.default;
  }
  return config;
}

export function App({ boot }) {
  return (
    <ReactFlowProvider>
      <Builder boot={boot} />
    </ReactFlowProvider>
  );
}
