// Never lose work: debounced autosave of the whole graph with its revision, the unsaved graph
// kept in localStorage until the server has it, retries while the server cannot be reached,
// and 409 conflicts surfaced instead of overwritten.
import { useCallback, useEffect, useRef, useState } from "react";
import { Offline } from "./api";
import { fromFlow } from "./graph";
import { useBuilder } from "./store";
import { useInfo } from "./info";

const DEBOUNCE_MS = 800;
const RETRY_MS = 3000;

export const localKey = (boot) => `builder:${boot.store}:${boot.experience}`;

export function readLocal(boot) {
  try {
    return JSON.parse(localStorage.getItem(localKey(boot)) || "null");
  } catch {
    return null;
  }
}

export function useAutosave({ api, boot, enabled, revision }) {
  const [status, setStatus] = useState("saved");
  const [detail, setDetail] = useState("");
  const [conflict, setConflict] = useState(null);
  const inFlight = useRef(false);
  const savedEdits = useRef(useBuilder.getState().edits);
  const timer = useRef(null);

  const keepLocally = useCallback(() => {
    const { nodes, edges } = useBuilder.getState();
    localStorage.setItem(
      localKey(boot),
      JSON.stringify({ revision: revision.current, at: new Date().toISOString(), ...fromFlow(nodes, edges) }),
    );
  }, [boot, revision]);

  const save = useCallback(async () => {
    clearTimeout(timer.current);
    if (inFlight.current) return;
    const { nodes, edges, edits } = useBuilder.getState();
    if (edits === savedEdits.current) {
      setStatus("saved");
      return;
    }
    inFlight.current = true;
    setStatus("saving");
    setDetail("");
    let answer;
    try {
      answer = await api.put(`experiences/${boot.experience}/draft/`, {
        revision: revision.current,
        ...fromFlow(nodes, edges),
      });
    } catch (err) {
      inFlight.current = false;
      if (!(err instanceof Offline)) throw err;
      keepLocally();
      setStatus("failed");
      setDetail("The server cannot be reached. Your changes are kept in this browser; retrying…");
      timer.current = setTimeout(save, RETRY_MS);
      return;
    }
    inFlight.current = false;
    if (answer.ok) {
      revision.current = answer.data.revision;
      useInfo.getState().setErrors(answer.data.errors);
      useInfo.setState({ branches: answer.data.branches || {}, draftState: answer.data.state });
      savedEdits.current = edits;
      if (useBuilder.getState().edits !== edits) {
        setStatus("unsaved");
        timer.current = setTimeout(save, 50);
      } else {
        localStorage.removeItem(localKey(boot));
        setStatus("saved");
      }
      return;
    }
    keepLocally();
    setStatus("failed");
    if (answer.status === 409) {
      setConflict({ revision: answer.data?.revision ?? 0 });
      setDetail("Someone else saved this experience.");
    } else if (answer.status === 403) {
      setDetail("Your role in this store cannot edit experiences.");
    } else {
      const messages = [].concat(answer.data?.graph || [], answer.data?.detail || []);
      setDetail(messages.join(" ") || `The server refused the save (${answer.status}).`);
    }
  }, [api, boot, keepLocally, revision]);

  useEffect(() => {
    if (!enabled) return undefined;
    // An edit made between the graph appearing and autosave starting (a quick first click) is
    // not lost: it is saved as soon as autosave starts.
    if (useBuilder.getState().edits !== savedEdits.current && !conflict) {
      setStatus("unsaved");
      keepLocally();
      clearTimeout(timer.current);
      timer.current = setTimeout(save, DEBOUNCE_MS);
    }
    return useBuilder.subscribe((state, previous) => {
      if (state.edits === previous.edits || state.edits === savedEdits.current) return;
      setStatus((s) => (s === "failed" && conflict ? s : "unsaved"));
      keepLocally();
      if (conflict) return;
      clearTimeout(timer.current);
      timer.current = setTimeout(save, DEBOUNCE_MS);
    });
  }, [enabled, save, keepLocally, conflict]);

  useEffect(() => {
    const warn = (event) => {
      if (useBuilder.getState().edits !== savedEdits.current) {
        keepLocally();
        event.preventDefault();
      }
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [keepLocally]);

  const markSaved = useCallback(() => {
    savedEdits.current = useBuilder.getState().edits;
    clearTimeout(timer.current);
    setStatus("saved");
    setDetail("");
  }, []);

  const overwrite = useCallback(() => {
    if (!conflict) return;
    revision.current = conflict.revision;
    setConflict(null);
    savedEdits.current = -1;
    save();
  }, [conflict, revision, save]);

  return { status, detail, conflict, setConflict, save, markSaved, overwrite, saved: () => savedEdits.current === useBuilder.getState().edits };
}
