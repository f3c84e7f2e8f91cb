// Operations stats: whether the scores coming in still look like the training scores (GET /stats/drift).
// A warning names every detector (or fusion) whose recent scores drifted.

import { useCallback, useEffect, useState } from "react";
import { api, describeError } from "../api";
import { label, percent } from "../format";
import type { DriftReport, DriftStream } from "../types";

const STATE_LABEL: Record<DriftStream["state"], string> = {
  ok: "OK",
  drifted: "Drifted",
  insufficient_data: "Not enough data",
};
const STATE_TONE: Record<DriftStream["state"], string> = { ok: "ok", drifted: "bad", insufficient_data: "off" };

function streamName(name: string): string {
  return name.startsWith("fused:") ? `fused score (${name.slice(6)})` : label(name);
}

function DriftWarning({ report }: { report: DriftReport }) {
  const streams = [...report.detectors, ...report.fused].filter((s) => s.state === "drifted");
  return (
    <div className="alert warn" role="alert" data-testid="drift-warning">
      <strong>Drift: {streams.map((s) => streamName(s.name)).join(", ")}</strong>{" "}
      {streams.length === 1 ? "no longer scores" : "no longer score"} images the way {streams.length === 1 ? "it" : "they"} did
      in training. New generators, cameras or re-encoding may be coming in: check recent verdicts and retrain.
      <ul className="small">
        {streams.map((s) => (
          <li key={s.name}>
            {streamName(s.name)}: {s.reason}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function StatsPage() {
  const [drift, setDrift] = useState<DriftReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    setError(null);
    api<DriftReport>("GET", "/stats/drift").then(setDrift, (err) => setError(describeError(err)));
  }, []);
  useEffect(load, [load]);

  const streams = drift ? [...drift.detectors, ...drift.fused] : [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>Stats</h1>
        <button type="button" className="secondary" onClick={load}>
          Refresh
        </button>
      </div>
      {error && <p className="alert error">{error}</p>}
      {drift && (
        <section className="card" data-testid="drift" aria-labelledby="drift-title">
          <h2 id="drift-title">Drift</h2>
          {drift.state === "drifted" && <DriftWarning report={drift} />}
          {drift.state === "ok" && (
            <p className="alert info" data-testid="drift-ok">
              No drift: recent scores look like the training scores.
            </p>
          )}
          <p className="muted small">
            PSI of each detector's last {drift.window} {drift.media_type} scores against its out-of-fold training
            scores; drifted at {drift.threshold} or more, judged after {drift.min_window} scores. Reference: {drift.reference}.
          </p>
          <div className="table-wrap">
            <table className="drift" data-testid="drift-table">
              <thead>
                <tr>
                  <th>Scores of</th>
                  <th>State</th>
                  <th>PSI</th>
                  <th>Window</th>
                  <th>Reference</th>
                  <th>Abstained</th>
                  <th>Errors</th>
                </tr>
              </thead>
              <tbody>
                {streams.map((s) => (
                  <tr key={s.name} data-testid={`drift-${s.name}`} title={s.reason}>
                    <td className="name">{streamName(s.name)}</td>
                    <td>
                      <span className={`pill ${STATE_TONE[s.state]}`}>{STATE_LABEL[s.state]}</span>
                    </td>
                    <td>{s.statistic == null ? "—" : s.statistic.toFixed(3)}</td>
                    <td>
                      {s.window_size}
                      {s.window_size < s.min_window && <span className="muted"> / {s.min_window}</span>}
                    </td>
                    <td>{s.reference_size || "none"}</td>
                    <td>{percent(s.abstention_rate)}</td>
                    <td>{percent(s.error_rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
