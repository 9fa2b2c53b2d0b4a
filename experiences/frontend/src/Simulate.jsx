// Simulate a version on the store's past events: start it, follow its progress, cancel it, and
// read what it would have done (drawn on the canvas like the live counts). Nothing is sent,
// granted or changed by a simulation; the server guarantees it, this drawer only says so.
import { useEffect, useRef, useState } from "react";
import { useInfo } from "./info";

const DAY_CHOICES = [7, 30, 90, 180, 365];
const RUNNING = new Set(["queued", "running"]);
const STATUS_TEXT = {
  queued: "Waiting for a worker…",
  running: "Replaying past events…",
  done: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

// The per-node figures of a result in the shape the canvas draws ({node: {reached, branches}}).
export function simulatedCounts(result, days) {
  const nodes = {};
  for (const item of result?.nodes || []) {
    const paths = item.paths || {};
    const count = (p) => (typeof p === "number" ? p : p?.count ?? 0);
    const total = Object.values(paths).reduce((sum, p) => sum + count(p), 0);
    const branches = {};
    for (const [branch, p] of Object.entries(paths))
      branches[branch] = { count: count(p), share: p?.share ?? (total ? count(p) / total : 0) };
    nodes[item.node] = { reached: item.reached, branches };
  }
  return { nodes, label: `would reach · ${days} days simulated`, simulated: true };
}

function money(value, currency) {
  const number = Number(value);
  if (!Number.isFinite(number)) return `${value} ${currency || ""}`.trim();
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(number);
  } catch {
    return `${number.toFixed(2)} ${currency || ""}`.trim();
  }
}

function warningText(w) {
  if (typeof w === "string") return w;
  return w.message || w.detail || w.code || JSON.stringify(w);
}

function errorLines(data) {
  if (!data) return ["The simulation could not start."];
  const lines = [];
  if (data.detail) lines.push(data.detail);
  for (const [field, value] of Object.entries(data)) {
    if (field === "detail") continue;
    if (field === "errors" && value && typeof value === "object") {
      for (const message of value.graph || []) lines.push(message);
      for (const message of value.edges || []) lines.push(message);
      for (const [key, fields] of Object.entries(value.nodes || {}))
        for (const messages of Object.values(fields)) for (const m of messages) lines.push(`${key}: ${m}`);
    } else if (Array.isArray(value)) {
      for (const m of value) lines.push(`${field}: ${typeof m === "string" ? m : JSON.stringify(m)}`);
    }
  }
  return lines.length ? lines : ["The simulation could not start."];
}

function Comparison({ result, live }) {
  if (!live) return null;
  const liveNodes = Object.fromEntries(
    Array.isArray(live.nodes) ? live.nodes.map((n) => [n.node, n]) : Object.entries(live.nodes || {}),
  );
  const rows = [["Customers entering", result.entered, live.entered]];
  for (const node of result.nodes || []) {
    if (node.type === "trigger") continue;
    const theirs = liveNodes[node.node];
    rows.push([`Reached ${node.node}`, node.reached, theirs ? theirs.reached : "not in live"]);
  }
  return (
    <section data-testid="simulation-comparison">
      <h3>
        {live.same_version ? "What really happened (this is the live version)" : `Compared with live version ${live.version}`}
      </h3>
      <table className="figures">
        <thead>
          <tr><th /><th>This version</th><th>Live</th></tr>
        </thead>
        <tbody>
          {rows.map(([label, mine, theirs]) => (
            <tr key={label}><th>{label}</th><td>{mine ?? "–"}</td><td>{theirs ?? "–"}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Result({ simulation, days }) {
  const result = simulation.result;
  const segments = useInfo((s) => s.segments);
  if (!result) return null;
  const segmentName = (id) => segments.find((x) => x.id === id)?.name || `segment ${id}`;
  const rewards = result.rewards || {};
  const changes = result.segment_changes || {};
  const warnings = result.warnings || [];
  return (
    <div className="simulation-result" data-testid="simulation-result">
      {warnings.length > 0 && (
        <section className="warnings" data-testid="simulation-warnings">
          <h3>Check before publishing</h3>
          <ul>{warnings.map((w, i) => <li key={i}>⚠ {warningText(w)}</li>)}</ul>
        </section>
      )}
      <table className="figures">
        <tbody>
          <tr><th>Customers who would enter</th><td data-testid="sim-entered">{result.entered}</td></tr>
          <tr>
            <th>Rewards that would be granted</th>
            <td data-testid="sim-rewards">
              {rewards.count ?? 0} · {money(rewards.cost ?? 0, rewards.currency)}
            </td>
          </tr>
          {(rewards.skipped_by_cap ?? 0) > 0 && (
            <tr><th>Skipped by the store&apos;s caps</th><td data-testid="sim-skipped-cap">{rewards.skipped_by_cap}</td></tr>
          )}
          {(rewards.skipped_by_budget ?? 0) > 0 && (
            <tr><th>Skipped: budget reached</th><td>{rewards.skipped_by_budget}</td></tr>
          )}
          <tr><th>Emails that would go out</th><td>{result.emails ?? 0}</td></tr>
          <tr>
            <th>Segment changes</th>
            <td>+{changes.added ?? 0} added · −{changes.removed ?? 0} removed</td>
          </tr>
          {(changes.by_segment || []).map((c) => (
            <tr key={c.segment}>
              <th className="sub">{segmentName(c.segment)}</th>
              <td>+{c.added} · −{c.removed}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">
        {result.events?.replayed != null && `${result.events.replayed.toLocaleString()} past events replayed. `}
        The counts on the canvas are this simulation&apos;s ({days} days).
      </p>
      <Comparison result={result} live={result.comparison || null} />
      {(result.sample || []).length > 0 && (
        <section>
          <h3>Some customers and why they got there</h3>
          <ul className="sample" data-testid="simulation-sample">
            {result.sample.slice(0, 20).map((s, i) => (
              <li key={i}>
                <a href={`/app/customers/${s.customer}/`} target="_blank" rel="noreferrer">
                  {s.customer_email || s.email || `Customer ${s.customer}`}
                </a>{" "}
                at <code>{s.node}</code>: {s.reason}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

export function SimulateDrawer({ api, boot, experience, beforeStart, onClose }) {
  const canStart = boot.role !== "viewer";
  const hasDraft = useInfo((s) => s.draftState === "draft");
  const [days, setDays] = useState(90);
  const [version, setVersion] = useState(hasDraft || !experience?.live_version ? "draft" : String(experience.live_version));
  const [simulation, setSimulation] = useState(null);
  const [problems, setProblems] = useState([]);
  const [busy, setBusy] = useState(false);
  const ran = useRef(90);

  // On opening: the latest simulation of this experience (a viewer reads what an editor ran).
  useEffect(() => {
    let gone = false;
    api.get(`simulations/?experience=${boot.experience}`).then((r) => {
      const latest = r.ok ? (r.data?.results || r.data || [])[0] : null;
      if (!gone && latest) {
        ran.current = latest.days;
        setSimulation((current) => current || latest);
      }
    });
    return () => {
      gone = true;
    };
  }, [api, boot.experience]);

  // Follow a running simulation once a second; draw its counts on the canvas when done.
  useEffect(() => {
    if (!simulation || !RUNNING.has(simulation.status)) return undefined;
    const timer = window.setTimeout(async () => {
      const r = await api.get(`simulations/${simulation.id}/`);
      if (r.ok) setSimulation(r.data);
    }, 1000);
    return () => window.clearTimeout(timer);
  }, [api, simulation]);

  useEffect(() => {
    if (simulation?.status === "done" && simulation.result)
      useInfo.setState({ counts: simulatedCounts(simulation.result, ran.current) });
  }, [simulation]);

  // Closing the drawer puts the live counts back.
  useEffect(
    () => () => {
      const live = useInfo.getState().liveCounts ?? null;
      useInfo.setState({ counts: live });
    },
    [],
  );

  const start = async (event) => {
    event.preventDefault();
    setProblems([]);
    setBusy(true);
    try {
      if (beforeStart) await beforeStart();
      const chosen = version === "draft" ? "draft" : Number(version);
      const r = await api.post(`experiences/${boot.experience}/simulations/`, { version: chosen, days: Number(days) });
      if (!r.ok) {
        if (r.data?.errors) useInfo.getState().setErrors(r.data.errors);
        setProblems(errorLines(r.data));
        return;
      }
      ran.current = Number(days);
      setSimulation(r.data);
    } finally {
      setBusy(false);
    }
  };

  const cancel = async () => {
    const r = await api.post(`simulations/${simulation.id}/cancel/`);
    if (r.ok) setSimulation(r.data);
    else setProblems([r.data?.detail || "The simulation could not be cancelled."]);
  };

  const progress = simulation?.progress || { done: 0, total: 0 };
  const percent = progress.total ? Math.min(100, Math.round((progress.done / progress.total) * 100)) : 0;
  const running = simulation && RUNNING.has(simulation.status);

  return (
    <aside className="drawer" data-testid="simulate-drawer">
      <header>
        <h2>Simulate on past events</h2>
        <button className="link" onClick={onClose}>Close</button>
      </header>
      <p className="muted">
        Replays this store&apos;s past orders and subscription events through the version, as if it had
        been live all along. Nothing is sent, granted or changed.
      </p>
      <form onSubmit={start} className="simulate-form">
        <label>
          Version
          <select value={version} onChange={(e) => setVersion(e.target.value)} disabled={running}>
            {hasDraft && <option value="draft">The draft</option>}
            {experience?.live_version && <option value={experience.live_version}>Live version {experience.live_version}</option>}
          </select>
        </label>
        <label>
          Period
          <select value={days} onChange={(e) => setDays(e.target.value)} disabled={running} data-testid="simulate-days">
            {DAY_CHOICES.map((d) => (
              <option key={d} value={d}>Last {d} days</option>
            ))}
          </select>
        </label>
        {canStart ? (
          <button className="primary" type="submit" disabled={busy || running} data-testid="simulate-start">
            {running ? "Simulating…" : "Simulate"}
          </button>
        ) : (
          <p className="muted">Viewers can read simulations; an editor starts them.</p>
        )}
      </form>
      {problems.length > 0 && (
        <ul className="error" data-testid="simulate-problems">
          {problems.map((p, i) => <li key={i}>{p}</li>)}
        </ul>
      )}
      {simulation && (
        <section className="simulation" data-testid="simulation-status">
          <p>
            <strong>{STATUS_TEXT[simulation.status] || simulation.status}</strong>
            {simulation.version && ` · version ${simulation.version}, last ${simulation.days} days`}
            {progress.total > 0 && ` · ${progress.done.toLocaleString()} of ${progress.total.toLocaleString()} events`}
          </p>
          {running && (
            <>
              <progress max={100} value={percent} aria-label="Events replayed" />
              <button onClick={cancel} data-testid="simulate-cancel">Cancel</button>
            </>
          )}
          {simulation.status === "failed" && (
            <p className="error">{simulation.error || "The simulation stopped on an error; nothing was changed."}</p>
          )}
          {simulation.status === "cancelled" && <p className="muted">Cancelled: nothing was kept.</p>}
          <Result simulation={simulation} days={ran.current} />
        </section>
      )}
    </aside>
  );
}
