// Drawers over the canvas: version history, and testing the experience with a customer.
import { useEffect, useState } from "react";
import { useInfo } from "./info";

export function VersionsDrawer({ api, boot, experience, onOpen, onDiscard, onClose }) {
  const [versions, setVersions] = useState(null);
  useEffect(() => {
    api.get(`experiences/${boot.experience}/versions/`).then((r) => r.ok && setVersions(r.data));
  }, [api, boot.experience]);
  const hasDraft = versions?.some((v) => v.state === "draft");
  return (
    <aside className="drawer" data-testid="versions-drawer">
      <header>
        <h2>Version history</h2>
        <button className="link" onClick={onClose}>Close</button>
      </header>
      {!versions ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="versions">
          {versions.map((v) => (
            <li key={v.number}>
              <button className="link" onClick={() => onOpen(v.number)}>
                Version {v.number}
              </button>{" "}
              <span className={`badge state-${v.state}`}>
                {v.number === experience?.live_version ? "live" : v.state}
              </span>
              <div className="muted">
                {v.published_at
                  ? `published ${new Date(v.published_at).toLocaleString()}${v.published_by ? ` by ${v.published_by}` : ""}`
                  : `draft, revision ${v.revision}`}
              </div>
            </li>
          ))}
        </ul>
      )}
      {hasDraft && experience?.live_version && onDiscard && (
        <button className="danger" onClick={onDiscard} data-testid="discard-draft">
          Discard the draft and go back to live v{experience.live_version}
        </button>
      )}
    </aside>
  );
}

function describe(condition) {
  const value = Array.isArray(condition.value) ? condition.value.join("–") : condition.value;
  return `${condition.field} ${condition.operator.replace(/_/g, " ")} ${value ?? ""}`.trim();
}

export function TestDrawer({ api, boot, onClose }) {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState([]);
  const [answer, setAnswer] = useState(null);
  const [problem, setProblem] = useState("");

  const search = async (event) => {
    event.preventDefault();
    setProblem("");
    const r = await api.get(`customers/?email_contains=${encodeURIComponent(query)}`);
    if (r.ok) {
      setFound(r.data.results || []);
      if (!(r.data.results || []).length) setProblem("No customer's email contains that.");
    }
  };

  const pick = async (customer) => {
    const r = await api.get(`experiences/${boot.experience}/explain/?customer=${customer.id}`);
    if (!r.ok) {
      setProblem(r.data?.detail || "The test could not run.");
      return;
    }
    const data = r.data;
    const highlight = {};
    const last = data.runs[data.runs.length - 1];
    if (last) for (const step of last.path) highlight[step.node] = "passed";
    const trigger = Object.entries(useInfo.getState().catalog).length ? "trigger" : null;
    if (trigger) highlight.trigger = data.would_enter || last ? "passed" : "failed";
    useInfo.setState({ highlight });
    setAnswer({ ...data, customer });
  };

  useEffect(() => () => useInfo.setState({ highlight: {} }), []);

  return (
    <aside className="drawer" data-testid="test-drawer">
      <header>
        <h2>Test with a customer</h2>
        <button className="link" onClick={onClose}>Close</button>
      </header>
      <p className="muted">See what would happen to a customer now. Nothing is sent or changed.</p>
      <form onSubmit={search} className="row">
        <input aria-label="Customer email" placeholder="Email contains…" value={query} onChange={(e) => setQuery(e.target.value)} />
        <button type="submit">Find</button>
      </form>
      {problem && <p className="error">{problem}</p>}
      <ul className="customers">
        {found.map((c) => (
          <li key={c.id}>
            <button className="link" onClick={() => pick(c)}>
              {c.email || `Customer ${c.id}`}
            </button>
          </li>
        ))}
      </ul>
      {answer && (
        <div className="explain" data-testid="explain-result">
          <h3>
            {answer.customer.email}: {answer.would_enter ? "would enter now" : "would not enter now"}
          </h3>
          <ul className="checks">
            {answer.checks.map((c) => (
              <li key={c.check} className={c.passed ? "pass" : "fail"}>
                {c.passed ? "✓" : "✗"} <strong>{c.check}</strong>: {c.detail}
              </li>
            ))}
          </ul>
          {answer.conditions.length > 0 && <h4>Trigger conditions (any block may hold; all in a block must)</h4>}
          {answer.conditions.map((block, i) => (
            <ul key={i} className="conditions">
              {block.map((c, j) => (
                <li key={j} className={c.passed ? "pass" : "fail"}>
                  {c.passed ? "true" : "false"}: {describe(c)} (is {JSON.stringify(c.actual)})
                </li>
              ))}
            </ul>
          ))}
          {answer.runs.length > 0 && (
            <p className="muted">
              Highlighted: the path of their latest run (v{answer.runs[answer.runs.length - 1].version},{" "}
              {answer.runs[answer.runs.length - 1].status}).
            </p>
          )}
        </div>
      )}
    </aside>
  );
}
