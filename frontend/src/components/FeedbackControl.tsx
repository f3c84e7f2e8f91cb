// "Is this wrong?": the signed-in user says what an analysed file actually is (real, or AI-made by which
// generator family), with an optional note; one current feedback per user, sending again replaces it.
// Admins export the corrections as a labelled corpus for retraining (docs/feedback.md).

import { useEffect, useState, type FormEvent } from "react";
import { api, describeError } from "../api";
import { sourceLabel, when } from "../format";
import type { Feedback, FeedbackLabel, FeedbackOptions } from "../types";

interface Props {
  analysisId: string;
  /** Every user's current feedback on the analysis (HistoryDetail.feedback). */
  feedback: Feedback[];
  username: string | null;
}

const LABEL_TEXT: Record<FeedbackLabel, string> = { real: "real", ai: "AI-made" };

function said(entry: Feedback): string {
  if (entry.label === "real") return "real";
  return entry.generator ? `AI-made (${sourceLabel(entry.generator)})` : "AI-made (generator unknown)";
}

export function FeedbackControl({ analysisId, feedback, username }: Props) {
  const [entries, setEntries] = useState(feedback);
  const mine = entries.find((f) => f.username === username) ?? null;
  const others = entries.filter((f) => f.username !== username);
  const [choice, setChoice] = useState<FeedbackLabel>(mine?.label ?? "ai");
  const [generator, setGenerator] = useState(mine?.generator ?? "");
  const [note, setNote] = useState(mine?.note ?? "");
  const [generators, setGenerators] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const url = `/history/${encodeURIComponent(analysisId)}/feedback`;

  useEffect(() => {
    api<FeedbackOptions>("GET", "/feedback/generators").then(
      (options) => setGenerators(options.generators.filter((g) => g !== "unknown_ai")),
      () => setGenerators([]),
    );
  }, []);

  const replaceMine = (saved: Feedback | null) =>
    setEntries((current) => [...(saved ? [saved] : []), ...current.filter((f) => f.username !== username)]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { label: choice, generator: choice === "ai" && generator ? generator : null, note: note.trim() || null };
      replaceMine(await api<Feedback>("POST", url, { json: body }));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const withdraw = async () => {
    setBusy(true);
    setError(null);
    try {
      await api("DELETE", url);
      replaceMine(null);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card feedback" data-testid="feedback" aria-labelledby="feedback-title">
      <h2 id="feedback-title">Is this wrong?</h2>
      <p className="muted small">
        Say what this file actually is. Administrators export the corrections as labelled data to retrain the detectors.
      </p>
      {mine && (
        <p className="alert info" data-testid="feedback-saved">
          You said this is <strong>{said(mine)}</strong>
          {mine.agrees === false && " — the verdict disagreed"}
          {mine.note && <> · “{mine.note}”</>} <span className="muted small">({when(mine.updated_at)})</span>
        </p>
      )}
      <form className="feedback-form" onSubmit={submit}>
        <fieldset className="feedback-choice" disabled={busy}>
          <legend>This file is actually</legend>
          {(["real", "ai"] as FeedbackLabel[]).map((value) => (
            <label key={value} className="check">
              <input type="radio" name="feedback-label" value={value} checked={choice === value} onChange={() => setChoice(value)} />
              {LABEL_TEXT[value]}
            </label>
          ))}
        </fieldset>
        {choice === "ai" && (
          <label>
            Generator
            <select name="feedback-generator" value={generator} onChange={(e) => setGenerator(e.target.value)} disabled={busy}>
              <option value="">don't know</option>
              {generators.map((g) => (
                <option key={g} value={g}>
                  {sourceLabel(g)}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Note (optional)
          <input
            type="text"
            name="feedback-note"
            maxLength={1000}
            value={note}
            onChange={(e) => setNote(e.target.value)}
            placeholder="e.g. taken with my phone"
            disabled={busy}
          />
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {mine ? "Update feedback" : "Send feedback"}
          </button>
          {mine && (
            <button type="button" className="secondary" onClick={withdraw} disabled={busy}>
              Withdraw
            </button>
          )}
        </div>
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
      </form>
      {others.length > 0 && (
        <ul className="feedback-others small" data-testid="feedback-others">
          {others.map((f) => (
            <li key={f.username}>
              <strong>{f.username}</strong> said {said(f)}
              {f.note && <> · “{f.note}”</>} <span className="muted">({when(f.updated_at)})</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
