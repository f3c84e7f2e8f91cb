// The ensemble's detectors: live readiness, version, backbone and latency (GET /models), with
// failure rates from the history (GET /stats).

import { useCallback, useEffect, useState } from "react";
import { api, describeError } from "../api";
import { label, ms, percent, when } from "../format";
import type { ModelInfo, ModelsAnswer, Stats } from "../types";

function readiness(d: ModelInfo): { text: string; tone: string } {
  if (!d.enabled) return { text: "Disabled", tone: "off" };
  if (d.ready) return { text: "Ready", tone: "ok" };
  return { text: "Not ready", tone: "bad" };
}

export function DetectorsPage() {
  const [models, setModels] = useState<ModelsAnswer | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    setError(null);
    api<ModelsAnswer>("GET", "/models").then(setModels, (err) => setError(describeError(err)));
    api<Stats>("GET", "/stats").then(setStats, () => setStats(null));
  }, []);
  useEffect(load, [load]);

  const history = new Map(stats?.detectors.map((d) => [d.name, d]));
  return (
    <div className="page">
      <div className="page-head">
        <h1>Detectors</h1>
        <button type="button" className="secondary" onClick={load}>
          Refresh
        </button>
      </div>
      {models && (
        <p className="muted">
          Fusion: <strong>{models.default_method}</strong> · threshold {percent(models.threshold)} ± {percent(models.uncertainty_band)} ·
          media: {models.media_types.join(", ") || "none"}
        </p>
      )}
      {error && <p className="alert error">{error}</p>}
      <div className="detector-grid">
        {models?.detectors.map((d) => {
          const state = readiness(d);
          const seen = history.get(d.name);
          return (
            <section className="card detector-card" key={d.name} data-testid={`model-${d.name}`}>
              <header>
                <h2>{label(d.name)}</h2>
                <span className={`pill ${state.tone}`}>
                  <span className="dot" aria-hidden="true" />
                  {state.text}
                </span>
              </header>
              {!d.ready && d.reason && <p className="alert warn small">{d.reason}</p>}
              <dl className="facts">
                <div>
                  <dt>Version</dt>
                  <dd>{d.version ?? "—"}</dd>
                </div>
                <div>
                  <dt>Backbone</dt>
                  <dd>{d.backbone ?? "—"}</dd>
                </div>
                <div>
                  <dt>Task</dt>
                  <dd>{d.task ?? "—"}</dd>
                </div>
                <div>
                  <dt>Media</dt>
                  <dd>{d.media_types.join(", ")}</dd>
                </div>
                <div>
                  <dt>Recent latency</dt>
                  <dd>{ms(d.latency_ms)}</dd>
                </div>
                <div>
                  <dt>Breaker</dt>
                  <dd>{d.breaker.replace("_", "-")}</dd>
                </div>
                <div>
                  <dt>Weight · timeout</dt>
                  <dd>
                    {d.weight} · {d.timeout_s} s
                  </dd>
                </div>
                <div>
                  <dt>Failure rate</dt>
                  <dd title="from the analyses in your history">
                    {seen ? `${percent(seen.failure_rate, 1)} of ${seen.calls}` : "—"}
                  </dd>
                </div>
                <div>
                  <dt>p95 latency</dt>
                  <dd>{ms(seen?.latency_ms.p95)}</dd>
                </div>
              </dl>
              {d.last_error && (
                <p className="muted small">
                  Last error {when(d.last_error_at)}: {d.last_error}
                </p>
              )}
            </section>
          );
        })}
      </div>
    </div>
  );
}
