// One node on the canvas. Memoized (React Flow's performance guide): it re-renders only when
// its own data, its errors, its counts or its highlight change, not when another node moves.
import { memo } from "react";
import { Handle, Position } from "@xyflow/react";
import { useShallow } from "zustand/react/shallow";
import { useInfo } from "./info";
import { handleId } from "./graph";

// A node's one-line summary, naming the segment or incentive it uses (not its id).
function summary(type, config, names) {
  if (!config) return "";
  if (type === "trigger") {
    const n = (config.conditions || []).reduce((sum, block) => sum + block.length, 0);
    return `${(config.event || "order_processed").replace(/_/g, " ")} · ${n} condition${n === 1 ? "" : "s"}`;
  }
  if (config.segment_id)
    return `${config.action || "add"} · ${names.segment || `segment ${config.segment_id}`}`;
  if (config.incentive_id) {
    const name = names.incentive || `incentive ${config.incentive_id}`;
    return config.respond_within_days ? `${name} · ${config.respond_within_days} days to answer` : name;
  }
  if (type === "credit" && config.amount)
    return config.amount_type === "percent" ? `${config.amount}% of the order` : `${config.amount} credit`;
  if (config.minutes) return `${config.minutes} min`;
  if (config.subject) return config.subject;
  return "";
}

const NEXT = [""];
const NONE = [];

function StepNodeView({ id, data, selected }) {
  const segmentId = data.config?.segment_id;
  const incentiveId = data.config?.incentive_id;
  const { label, branches, errors, count, countLabel, simulated, highlight, diff, segmentName, incentiveName } = useInfo(
    useShallow((s) => ({
      segmentName: segmentId ? s.segments.find((x) => x.id === segmentId)?.name : undefined,
      incentiveName: incentiveId ? s.incentives?.find((x) => x.id === incentiveId)?.name : undefined,
      label: s.catalog[data.type]?.label || data.type,
      branches: s.branches[id] ?? (s.catalog[data.type] ? (s.catalog[data.type].branches ?? NONE) : NEXT),
      errors: s.errorCount[id] || 0,
      count: s.counts?.nodes?.[id],
      countLabel: s.counts?.label || "reached · 30 days",
      simulated: Boolean(s.counts?.simulated),
      highlight: s.highlight[id],
      diff: s.diff?.status?.[id],
    })),
  );
  const classes = ["step", selected && "selected", errors && "has-errors", highlight && `hl-${highlight}`, diff && `diff-${diff}`]
    .filter(Boolean)
    .join(" ");
  return (
    <div className={classes} data-node-type={data.type}>
      {data.type !== "trigger" && <Handle type="target" position={Position.Top} />}
      <div className="step-head">
        <span className="step-label">{label}</span>
        {errors > 0 && (
          <span className="step-errors" title="This node has problems: select it to see them">
            {errors} issue{errors === 1 ? "" : "s"}
          </span>
        )}
      </div>
      <div className="step-key">{id}</div>
      <div className="step-summary">{summary(data.type, data.config, { segment: segmentName, incentive: incentiveName })}</div>
      {count && (
        <div className={simulated ? "step-count simulated" : "step-count"} data-testid={`count-${id}`}>
          {count.reached} {countLabel}
        </div>
      )}
      {diff && <div className={`step-diff diff-${diff}`}>{diff}</div>}
      {highlight && <div className="step-highlight">{highlight === "passed" ? "✓ on this customer's path" : "✗ stops here"}</div>}
      {branches.length === 0 && data.type !== "end" && (
        <div className="step-hint">Set up its branches in the panel</div>
      )}
      <div className="step-handles">
        {branches.map((branch, i) => {
          const share = count?.branches?.[branch]?.share;
          return (
            <Handle
              key={branch}
              type="source"
              id={handleId(branch)}
              position={Position.Bottom}
              style={{ left: `${((i + 1) * 100) / (branches.length + 1)}%` }}
              className="branch-handle"
              title={branch ? `Branch ${branch}` : "Next step"}
            >
              {branch && (
                <span className="handle-label">
                  {branch}
                  {share !== undefined ? ` · ${Math.round(share * 100)}%` : ""}
                </span>
              )}
            </Handle>
          );
        })}
      </div>
    </div>
  );
}

export const StepNode = memo(StepNodeView);
