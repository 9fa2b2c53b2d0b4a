// The experience's settings, beside its graph: name, re-entry, holdout, what happens to runs in
// flight on a pause, the reward budget and when a customer leaves early. Saved through the
// public API (PATCH experiences/<id>/); the server's answer names any field it refuses.
import { useState } from "react";
import { useInfo } from "./info";

const REENTRY = [
  ["once", "Once ever"],
  ["every_time", "Every time the trigger fires"],
  ["once_per_n_days", "At most once per N days"],
];
const PAUSE = [
  ["finish", "Those inside finish their path"],
  ["end", "Those inside leave at once"],
];
const EXIT_EVENTS = [
  ["subscription_cancelled", "They cancel their subscription"],
  ["order_processed", "They place another order"],
];

function initial(experience) {
  const criteria = experience.exit_criteria || [];
  const segmentExit = (prefix) => {
    const item = criteria.find((c) => typeof c === "string" && c.startsWith(prefix));
    return item ? item.split(":")[1] : "";
  };
  return {
    name: experience.name,
    reentry: experience.reentry,
    reentry_days: experience.reentry_days ?? "",
    holdout_percent: experience.holdout_percent ?? 0,
    pause_behaviour: experience.pause_behaviour,
    reward_budget: experience.reward_budget ?? "",
    exit_events: EXIT_EVENTS.map(([key]) => key).filter((key) => criteria.includes(key)),
    left_segment: segmentExit("left_segment:"),
    entered_segment: segmentExit("entered_segment:"),
  };
}

function Problems({ errors, field }) {
  const messages = errors[field];
  if (!messages) return null;
  return (
    <span className="error" data-testid={`settings-error-${field}`}>
      {Array.isArray(messages) ? messages.join(" ") : String(messages)}
    </span>
  );
}

export function SettingsDrawer({ api, boot, experience, onSaved, onClose }) {
  const canEdit = boot.role !== "viewer";
  const segments = useInfo((s) => s.segments);
  const [values, setValues] = useState(() => initial(experience));
  const [errors, setErrors] = useState({});
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const set = (field) => (event) => {
    const value = event.target.type === "checkbox" ? event.target.checked : event.target.value;
    setValues((v) => ({ ...v, [field]: value }));
    setSaved(false);
  };
  const toggleExit = (key) => (event) => {
    setValues((v) => ({
      ...v,
      exit_events: event.target.checked ? [...v.exit_events, key] : v.exit_events.filter((k) => k !== key),
    }));
    setSaved(false);
  };

  const save = async (event) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    const exit_criteria = [
      ...values.exit_events,
      ...(values.left_segment ? [`left_segment:${values.left_segment}`] : []),
      ...(values.entered_segment ? [`entered_segment:${values.entered_segment}`] : []),
    ];
    const body = {
      name: values.name.trim(),
      reentry: values.reentry,
      reentry_days: values.reentry === "once_per_n_days" && values.reentry_days !== "" ? Number(values.reentry_days) : null,
      holdout_percent: values.holdout_percent === "" ? 0 : Number(values.holdout_percent),
      pause_behaviour: values.pause_behaviour,
      reward_budget: values.reward_budget === "" ? null : String(values.reward_budget).trim(),
      exit_criteria,
    };
    try {
      const r = await api.patch(`experiences/${boot.experience}/`, body);
      if (!r.ok) {
        setErrors(r.data && typeof r.data === "object" ? r.data : { detail: [`The server answered ${r.status}.`] });
        return;
      }
      setSaved(true);
      onSaved(r.data);
    } finally {
      setBusy(false);
    }
  };

  const disabled = !canEdit || busy;
  return (
    <aside className="drawer" data-testid="settings-drawer">
      <header>
        <h2>Experience settings</h2>
        <button className="link" onClick={onClose}>Close</button>
      </header>
      {!canEdit && <p className="muted">Viewers can read the settings; an editor changes them.</p>}
      <form className="settings-form" onSubmit={save} noValidate>
        <label>
          Name
          <input value={values.name} onChange={set("name")} maxLength={200} disabled={disabled} />
          <Problems errors={errors} field="name" />
        </label>
        <label>
          A customer may enter
          <select value={values.reentry} onChange={set("reentry")} disabled={disabled} data-testid="settings-reentry">
            {REENTRY.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
          <Problems errors={errors} field="reentry" />
        </label>
        {values.reentry === "once_per_n_days" && (
          <label>
            Days between entries
            <input type="number" min={1} value={values.reentry_days} onChange={set("reentry_days")} disabled={disabled} data-testid="settings-reentry-days" />
            <Problems errors={errors} field="reentry_days" />
          </label>
        )}
        <label>
          Holdout: customers kept out to measure the lift (%)
          <input type="number" min={0} max={100} value={values.holdout_percent} onChange={set("holdout_percent")} disabled={disabled} />
          <Problems errors={errors} field="holdout_percent" />
        </label>
        <label>
          When the experience is paused
          <select value={values.pause_behaviour} onChange={set("pause_behaviour")} disabled={disabled}>
            {PAUSE.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
          <Problems errors={errors} field="pause_behaviour" />
        </label>
        <label>
          Reward budget (the most it may give in total; empty for none)
          <input inputMode="decimal" placeholder="e.g. 500.00" value={values.reward_budget} onChange={set("reward_budget")} disabled={disabled} data-testid="settings-budget" />
          <Problems errors={errors} field="reward_budget" />
        </label>
        <fieldset>
          <legend>A customer leaves early when</legend>
          {EXIT_EVENTS.map(([key, label]) => (
            <label key={key} className="choice">
              <input type="checkbox" checked={values.exit_events.includes(key)} onChange={toggleExit(key)} disabled={disabled} /> {label}
            </label>
          ))}
          <label>
            They leave the segment
            <select value={values.left_segment} onChange={set("left_segment")} disabled={disabled}>
              <option value="">(none)</option>
              {segments.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
            </select>
          </label>
          <label>
            They enter the segment
            <select value={values.entered_segment} onChange={set("entered_segment")} disabled={disabled}>
              <option value="">(none)</option>
              {segments.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
            </select>
          </label>
          <Problems errors={errors} field="exit_criteria" />
        </fieldset>
        <Problems errors={errors} field="detail" />
        <Problems errors={errors} field="non_field_errors" />
        {canEdit && (
          <button className="primary" type="submit" disabled={busy} data-testid="settings-save">
            {busy ? "Saving…" : "Save settings"}
          </button>
        )}
        {saved && <span className="saved-note" data-testid="settings-saved">Saved.</span>}
      </form>
    </aside>
  );
}
