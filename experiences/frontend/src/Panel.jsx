// The side panel: the selected node's form, driven by its type's JSON Schema from the catalog,
// with the browser's field checks and the server's errors inline.
import { useMemo, useState, useEffect } from "react";
import Form from "@rjsf/core";
import validator from "@rjsf/validator-ajv8";
import { getDefaultRegistry } from "@rjsf/core";
import { useBuilder } from "./store";
import { useInfo } from "./info";

const DefaultStringField = getDefaultRegistry().fields.StringField;
const DefaultObjectField = getDefaultRegistry().fields.ObjectField;

// A property with no type in its schema (a condition's value): numbers and true/false are
// typed as such, anything else is text.
function LooseField(props) {
  const { schema, formData, onChange, disabled, readonly, idSchema, name } = props;
  if (!schema["x-loose"]) return <DefaultStringField {...props} />;
  const id = props.fieldPathId?.$id || idSchema?.$id || name;
  if (schema["x-segment-value"])
    return (
      <div className="form-group field">
        <label htmlFor={id}>Segment</label>
        <SegmentPicker
          id={id}
          value={typeof formData === "number" ? formData : undefined}
          disabled={disabled}
          readonly={readonly}
          api={props.registry?.formContext?.api || props.formContext?.api}
          schema={{}}
          onChange={(v) => onChange(v, props.fieldPathId?.path)}
        />
      </div>
    );
  return (
    <div className="form-group field">
      <label htmlFor={id}>{schema.title || name}</label>
      <input
        id={id}
        className="form-control"
        value={formData === undefined || formData === null ? "" : String(formData)}
        disabled={disabled || readonly}
        onChange={(e) => {
          const raw = e.target.value;
          const path = props.fieldPathId?.path;
          if (raw === "") onChange(undefined, path);
          else if (/^-?\d+(\.\d+)?$/.test(raw)) onChange(Number(raw), path);
          else if (raw === "true" || raw === "false") onChange(raw === "true", path);
          else onChange(raw, path);
        }}
      />
      {schema.description && <p className="field-description">{schema.description}</p>}
    </div>
  );
}

// Give untyped properties a loose text field, and "X or null" a plain optional X, everywhere;
// a condition's field (an object with a field and an operator) is chosen from the catalog.
function loosen(schema, fields = []) {
  if (Array.isArray(schema)) return schema.map((item) => loosen(item, fields));
  if (!schema || typeof schema !== "object") return schema;
  const options = schema.anyOf;
  if (Array.isArray(options) && options.length === 2 && options.some((o) => o.type === "null")) {
    const { anyOf, ...rest } = schema;
    const kept = options.find((o) => o.type !== "null");
    const type = typeof kept.type === "string" ? [kept.type, "null"] : kept.type;
    return loosen({ ...rest, ...kept, type, default: rest.default ?? undefined }, fields);
  }
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "properties") {
      const isCondition = v.field && v.operator && fields.length > 0;
      if (isCondition) out["x-condition"] = true;
      out.properties = Object.fromEntries(
        Object.entries(v).map(([name, prop]) => {
          if (isCondition && name === "field")
            return [
              name,
              {
                ...prop,
                type: "string",
                oneOf: fields.map((f) => ({ const: f.name, title: `${f.label} (${f.name})` })),
              },
            ];
          const untyped = prop && !prop.type && !prop.$ref && !prop.anyOf && !prop.oneOf && !prop.allOf && !prop.enum;
          return [name, untyped ? { ...prop, type: "string", "x-loose": true } : loosen(prop, fields)];
        }),
      );
    } else out[k] = loosen(v, fields);
  }
  return out;
}

// Server errors ("conditions.0.0.value": [...]) as rjsf's error schema.
function errorSchema(fields) {
  const out = {};
  for (const [path, messages] of Object.entries(fields || {})) {
    if (path === "non_field_errors" || path === "type") continue; // listed above the form
    let at = out;
    for (const part of path.split(".")) at = at[part] = at[part] || {};
    at.__errors = [...(at.__errors || []), ...messages];
  }
  return out;
}

function SegmentPicker({ value, onChange, disabled, readonly, id, api, schema }) {
  // Only static segments when the field says so (a Segment node adds to or removes from one).
  const kinds = schema?.["x-segment-kinds"] || (/static/i.test(schema?.description || "") ? ["static"] : null);
  const onlyStatic = kinds?.length === 1 && kinds[0] === "static";
  const all = useInfo((s) => s.segments);
  const addSegment = useInfo((s) => s.addSegment);
  const segments = useMemo(() => all.filter((s) => !kinds || kinds.includes(s.kind)), [all, kinds]);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [problem, setProblem] = useState("");
  async function create() {
    setProblem("");
    const r = await api.post("segments/", { name, kind: "static" });
    if (!r.ok) {
      setProblem(Object.values(r.data || {}).flat().join(" ") || "The segment could not be created.");
      return;
    }
    addSegment(r.data);
    onChange(r.data.id);
    setCreating(false);
    setName("");
  }
  const missing = value !== undefined && value !== null && value !== "" && !segments.some((s) => s.id === value);
  return (
    <div className="segment-picker">
      <select
        id={id}
        value={value ?? ""}
        disabled={disabled || readonly}
        onChange={(e) => onChange(e.target.value ? Number(e.target.value) : undefined)}
      >
        <option value="">{onlyStatic ? "Choose a static segment…" : "Choose a segment…"}</option>
        {segments.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name}
            {!onlyStatic && s.kind ? ` (${s.kind})` : ""}
          </option>
        ))}
        {missing && <option value={value}>{`Segment ${value} (not found)`}</option>}
      </select>
      {!(disabled || readonly) &&
        (creating ? (
          <div className="segment-create">
            <input
              aria-label="New segment name"
              placeholder="New segment name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              onKeyDown={(e) => e.key === "Enter" && (e.preventDefault(), create())}
            />
            <button type="button" onClick={create} disabled={!name.trim()}>
              Create segment
            </button>
            <button type="button" className="link" onClick={() => setCreating(false)}>
              Cancel
            </button>
            {problem && <p className="error">{problem}</p>}
          </div>
        ) : (
          <button type="button" className="link" onClick={() => setCreating(true)}>
            + Create new segment
          </button>
        ))}
    </div>
  );
}

// What an incentive gives, in a few words (also the canvas node's summary).
export function incentiveGives(incentive) {
  const p = incentive?.params || {};
  if (incentive?.kind === "credit") return p.amount_type === "percent" ? `${p.amount}% credit` : `${p.amount} credit`;
  if (incentive?.kind === "discount") return p.discount_type === "percent" ? `${p.value}% off` : `${p.value} off`;
  return p.title || "";
}

function IncentivePicker({ value, onChange, disabled, readonly, id, schema }) {
  const kinds = schema?.["x-incentive-kinds"];
  const all = useInfo((s) => s.incentives);
  const problem = useInfo((s) => s.incentivesProblem);
  const incentives = useMemo(
    () => (all || []).filter((i) => (!kinds || kinds.includes(i.kind)) && (i.active || i.id === value)),
    [all, kinds, value],
  );
  const missing = value !== undefined && value !== null && all && !incentives.some((i) => i.id === value);
  const chosen = incentives.find((i) => i.id === value);
  return (
    <div className="incentive-picker">
      <select
        id={id}
        value={value ?? ""}
        disabled={disabled || readonly || all === null}
        onChange={(e) => onChange(e.target.value ? Number(e.target.value) : undefined)}
      >
        <option value="">{all === null ? "Loading incentives…" : "Choose an incentive…"}</option>
        {incentives.map((i) => (
          <option key={i.id} value={i.id}>
            {i.name} · {incentiveGives(i)}
            {i.active ? "" : " (deactivated)"}
          </option>
        ))}
        {missing && <option value={value}>{`Incentive ${value} (not found)`}</option>}
      </select>
      {problem && <p className="error">{problem}</p>}
      {all && !problem && incentives.length === 0 && (
        <p className="field-description">This store has no active incentive of this kind yet.</p>
      )}
      {chosen && !chosen.active && <p className="error">This incentive is deactivated: choose another.</p>}
      <p className="field-description">
        <a href="/app/rewards/incentives/" target="_blank" rel="noopener">
          Manage incentives ↗
        </a>
      </p>
    </div>
  );
}

// A condition on segment membership picks the segment by name (its value is the segment's id).
function ConditionAwareObjectField(props) {
  const { schema, formData } = props;
  if (schema?.["x-condition"] && formData?.field === "segment" && schema.properties?.value) {
    const value = { ...schema.properties.value, "x-segment-value": true, title: "Segment" };
    return <DefaultObjectField {...props} schema={{ ...schema, properties: { ...schema.properties, value } }} />;
  }
  return <DefaultObjectField {...props} />;
}

const FIELDS = { StringField: LooseField, ObjectField: ConditionAwareObjectField };

export function Panel({ api, readOnly, nodeId }) {
  const node = useBuilder((s) => s.nodes.find((n) => n.id === nodeId));
  const setConfig = useBuilder((s) => s.setConfig);
  const entry = useInfo((s) => (node ? s.catalog[node.data.type] : null));
  const serverErrors = useInfo((s) => s.errors.nodes?.[nodeId]);
  const fields = useInfo((s) => s.conditionFields);
  const schema = useMemo(() => (entry?.schema ? loosen(entry.schema, fields) : null), [entry, fields]);
  const uiSchema = useMemo(() => {
    const ui = { "ui:submitButtonOptions": { norender: true } };
    for (const [name, prop] of Object.entries(schema?.properties || {})) {
      if (prop["x-picker"] === "incentive") ui[name] = { "ui:widget": "incentive" };
      else if (prop["x-picker"] === "segment" || name === "segment_id") ui[name] = { "ui:widget": "segment" };
    }
    return ui;
  }, [schema]);
  const extraErrors = useMemo(() => errorSchema(serverErrors), [serverErrors]);
  const widgets = useMemo(
    () => ({
      segment: (props) => <SegmentPicker {...props} api={api} />,
      incentive: (props) => <IncentivePicker {...props} />,
    }),
    [api],
  );
  const formContext = useMemo(() => ({ api }), [api]);
  if (!node) {
    return (
      <aside className="panel" data-testid="node-panel">
        <p className="muted">Select a node to edit it, or add one from the palette.</p>
      </aside>
    );
  }
  return (
    <aside className="panel" data-testid="node-panel" data-node={node.id}>
      <h2>{entry?.label || node.data.type}</h2>
      <p className="muted">
        {entry?.description} <code>{node.id}</code>
      </p>
      {(serverErrors?.non_field_errors || serverErrors?.type) && (
        <ul className="node-errors">
          {[...(serverErrors.type || []), ...(serverErrors.non_field_errors || [])].map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
      {schema ? (
        <Form
          key={node.id}
          schema={schema}
          uiSchema={uiSchema}
          widgets={widgets}
          fields={FIELDS}
          formContext={formContext}
          formData={node.data.config}
          validator={validator}
          liveValidate
          showErrorList={false}
          extraErrors={extraErrors}
          disabled={readOnly}
          onChange={(e) => !readOnly && setConfig(node.id, e.formData)}
        />
      ) : (
        <p className="muted">This node has nothing to set up.</p>
      )}
    </aside>
  );
}
