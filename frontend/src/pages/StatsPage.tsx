// Operations stats, as charts (components/ChartFigure.tsx says why Chart.js).
//
// Drift (GET /stats/drift, the whole gateway): a warning naming every detector (or fusion) whose recent
// scores drifted, each stream's PSI against the threshold, one stream's live score histogram against its
// training reference, and the table of every stream's numbers.
// Analyses (GET /stats, the viewer's history over a chosen period): verdicts per day, and per detector
// its latency and how often it agreed with the fused verdict.
// Feedback (GET /stats, same period): how often verdicts agreed with what users said the files were, by
// media type; admins download the corrections as a labelled corpus (GET /feedback/export).

import { useCallback, useEffect, useMemo, useState } from "react";
import type { ChartConfiguration } from "chart.js";
import { api, describeError, downloadFile } from "../api";
import { useAuth } from "../auth";
import { ChartFigure, cssColor, valueLine } from "../components/ChartFigure";
import { label, ms, percent, VERDICT_LABEL } from "../format";
import type { AgreementCounts, DetectorStats, DriftReport, DriftStream, FeedbackAgreement, Stats, Verdict } from "../types";

const STATE_LABEL: Record<DriftStream["state"], string> = {
  ok: "OK",
  drifted: "Drifted",
  insufficient_data: "Not enough data",
};
const STATE_TONE: Record<DriftStream["state"], string> = { ok: "ok", drifted: "bad", insufficient_data: "off" };
const PERIODS = [7, 30, 90];
const VERDICTS: Verdict[] = ["fake", "real", "uncertain"];

function streamName(name: string): string {
  return name.startsWith("fused:") ? `fused score (${name.slice(6)})` : label(name);
}

function palette() {
  return {
    fake: cssColor("--fake", "#c2314a"),
    real: cssColor("--real", "#1d7f4e"),
    uncertain: cssColor("--uncertain", "#a86400"),
    brand: cssColor("--brand", "#3b3f9e"),
    muted: cssColor("--muted", "#5f6478"),
    reference: "#b7bad8",
    off: "#c9ccd8",
  };
}

// Days --------------------------------------------------------------------------------------------

function dayKey(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The last ``days`` local calendar days, oldest first, and the instant the first one starts. */
function period(days: number): { keys: string[]; since: Date } {
  const now = new Date();
  const since = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
  const keys = Array.from({ length: days }, (_, i) => dayKey(new Date(since.getFullYear(), since.getMonth(), since.getDate() + i)));
  return { keys, since };
}

function dayLabel(key: string): string {
  const [y, m, d] = key.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

// Drift -------------------------------------------------------------------------------------------

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

/** Each stream's PSI as a horizontal bar, coloured by its state, against a dashed threshold line. */
function DriftStateChart({ report }: { report: DriftReport }) {
  const streams = [...report.detectors, ...report.fused];
  const figure = useMemo(() => {
    const colors = palette();
    const tone = { ok: colors.real, drifted: colors.fake, insufficient_data: colors.off };
    const values = streams.map((s) => s.statistic);
    const largest = Math.max(report.threshold, ...values.map((v) => v ?? 0));
    const config: ChartConfiguration<"bar"> = {
      type: "bar",
      data: {
        labels: streams.map((s) => (s.statistic == null ? `${streamName(s.name)} (no verdict)` : streamName(s.name))),
        datasets: [
          {
            label: "PSI",
            data: values as number[],
            backgroundColor: streams.map((s) => tone[s.state]),
            borderRadius: 4,
            maxBarThickness: 26,
          },
        ],
      },
      options: {
        indexAxis: "y",
        layout: { padding: { top: 16 } },
        scales: { x: { min: 0, suggestedMax: largest * 1.15, title: { display: true, text: "PSI against training" } } },
        plugins: { legend: { display: false } },
      },
      plugins: [valueLine(report.threshold, `threshold ${report.threshold}`, colors.fake)],
    };
    const summary = streams
      .map((s) => `${streamName(s.name)}: ${s.statistic == null ? "no verdict yet" : s.statistic.toFixed(3)} (${STATE_LABEL[s.state]})`)
      .join("; ");
    return { config, summary: `PSI per stream, drifted at ${report.threshold} or more. ${summary}.` };
  }, [report]);
  return (
    <ChartFigure
      title="Drift state: PSI per score stream"
      testId="chart-drift-state"
      config={figure.config}
      summary={figure.summary}
      points={streams.filter((s) => s.statistic != null).length}
      height={86 + 34 * streams.length}
      note={`Red: drifted, green: OK, grey: no verdict yet (fewer than ${report.min_window} scores or no reference). Dashed: the threshold.`}
    />
  );
}

/** One stream's live scores against its training reference, over the PSI's bins. */
function ScoreHistogramChart({ report }: { report: DriftReport }) {
  const streams = [...report.detectors, ...report.fused].filter((s) => s.histogram);
  const fallback =
    streams.find((s) => s.state === "drifted") ?? streams.find((s) => (s.histogram?.window_size ?? 0) > 0) ?? streams[0];
  const [chosen, setChosen] = useState<string | null>(null);
  const stream = streams.find((s) => s.name === chosen) ?? fallback;
  const figure = useMemo(() => {
    if (!stream?.histogram) return null;
    const colors = palette();
    const bins = stream.histogram;
    const labels = bins.reference.map((_, i) => `${bins.edges[i].toFixed(2)}–${bins.edges[i + 1].toFixed(2)}`);
    const live = bins.window ?? [];
    const config: ChartConfiguration<"bar"> = {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: "training (reference)", data: bins.reference.map((p) => p * 100), backgroundColor: colors.reference, borderRadius: 3 },
          {
            label: `live (last ${bins.window_size})`,
            data: live.map((p) => p * 100),
            backgroundColor: stream.state === "drifted" ? colors.fake : colors.brand,
            borderRadius: 3,
          },
        ],
      },
      options: {
        scales: {
          x: { title: { display: true, text: "P(AI) score bin" } },
          y: { min: 0, title: { display: true, text: "share of scores (%)" }, ticks: { callback: (v) => `${v}%` } },
        },
        plugins: {
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${Number(item.raw).toFixed(1)}%` } },
        },
      },
    };
    const rows = labels.map((l, i) => `${l}: ${percent(bins.reference[i])} in training, ${bins.window ? percent(live[i]) : "none"} live`);
    return {
      config,
      points: bins.reference.length + live.length,
      summary: `${streamName(stream.name)}, ${bins.window_size} live scores. ${rows.join("; ")}.`,
    };
  }, [stream]);

  if (!stream || !figure) {
    return (
      <figure className="chart" data-testid="chart-score-histogram" data-points={0}>
        <figcaption className="chart-title">Live score histogram against training</figcaption>
        <p className="muted small">No stream has a training reference to compare with (docs/operations.md, Drift).</p>
      </figure>
    );
  }
  return (
    <ChartFigure
      title={`Live score histogram against training: ${streamName(stream.name)}`}
      testId="chart-score-histogram"
      config={figure.config}
      summary={figure.summary}
      points={figure.points}
      controls={
        streams.length > 1 && (
          <label className="chart-control">
            Scores of
            <select value={stream.name} onChange={(e) => setChosen(e.target.value)} name="histogram-stream">
              {streams.map((s) => (
                <option key={s.name} value={s.name}>
                  {streamName(s.name)}
                  {s.state === "drifted" ? " (drifted)" : ""}
                </option>
              ))}
            </select>
          </label>
        )
      }
      note="The bins are the training scores' deciles, so the training bars are about even; live bars piling up in a bin show where the recent scores moved."
    />
  );
}

// Analyses ----------------------------------------------------------------------------------------

function VerdictsPerDayChart({ stats, days }: { stats: Stats; days: number }) {
  const figure = useMemo(() => {
    const colors = palette();
    const { keys } = period(days);
    const seen = new Map(stats.by_day.map((d) => [d.day, d.by_verdict]));
    const config: ChartConfiguration<"bar"> = {
      type: "bar",
      data: {
        labels: keys.map(dayLabel),
        datasets: VERDICTS.map((v) => ({
          label: VERDICT_LABEL[v],
          data: keys.map((k) => seen.get(k)?.[v] ?? 0),
          backgroundColor: colors[v],
          maxBarThickness: 36,
        })),
      },
      options: {
        scales: {
          x: { stacked: true, ticks: { autoSkip: true, maxRotation: 0 } },
          y: { stacked: true, min: 0, ticks: { precision: 0 }, title: { display: true, text: "analyses" } },
        },
      },
    };
    const busiest = [...stats.by_day].sort((a, b) => b.total - a.total)[0];
    const counts = VERDICTS.map((v) => `${VERDICT_LABEL[v].toLowerCase()} ${stats.by_verdict[v] ?? 0}`).join(", ");
    const summary =
      `${stats.total} analyses in the last ${days} days: ${counts}.` +
      (busiest ? ` Busiest day ${dayLabel(busiest.day)} with ${busiest.total}.` : "");
    return { config, summary, points: stats.by_day.filter((d) => keys.includes(d.day)).length };
  }, [stats, days]);
  return (
    <ChartFigure
      title="Verdicts per day"
      testId="chart-verdicts-per-day"
      config={figure.config}
      summary={figure.summary}
      points={figure.points}
    />
  );
}

function LatencyChart({ detectors }: { detectors: DetectorStats[] }) {
  const figure = useMemo(() => {
    const colors = palette();
    const config: ChartConfiguration<"bar"> = {
      type: "bar",
      data: {
        labels: detectors.map((d) => label(d.name)),
        datasets: [
          { label: "median (p50)", data: detectors.map((d) => d.latency_ms.p50) as number[], backgroundColor: colors.brand, borderRadius: 3 },
          { label: "p95", data: detectors.map((d) => d.latency_ms.p95) as number[], backgroundColor: colors.reference, borderRadius: 3 },
        ],
      },
      options: {
        scales: { y: { min: 0, title: { display: true, text: "milliseconds" } } },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${ms(Number(item.raw))}` } } },
      },
    };
    const summary = detectors
      .map((d) => `${label(d.name)}: median ${ms(d.latency_ms.p50)}, p95 ${ms(d.latency_ms.p95)} over ${d.calls} calls`)
      .join("; ");
    return { config, summary: `${summary}.`, points: detectors.filter((d) => d.latency_ms.p50 != null).length * 2 };
  }, [detectors]);
  return (
    <ChartFigure
      title="Detector latency"
      testId="chart-latency"
      config={figure.config}
      summary={figure.summary}
      points={figure.points}
      note="Over the calls each detector answered (OK or abstained), as the gateway timed them."
    />
  );
}

function AgreementChart({ detectors }: { detectors: DetectorStats[] }) {
  const figure = useMemo(() => {
    const colors = palette();
    const config: ChartConfiguration<"bar"> = {
      type: "bar",
      data: {
        labels: detectors.map((d) => `${label(d.name)} (${d.agreement.compared})`),
        datasets: [
          {
            label: "agrees with the fused verdict",
            data: detectors.map((d) => (d.agreement.rate == null ? null : d.agreement.rate * 100)) as number[],
            backgroundColor: colors.brand,
            borderRadius: 4,
            maxBarThickness: 26,
          },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => {
                const d = detectors[item.dataIndex];
                return `agrees on ${d.agreement.agreed} of ${d.agreement.compared} (${percent(d.agreement.rate)})`;
              },
            },
          },
        },
      },
    };
    const summary = detectors
      .map((d) =>
        d.agreement.compared
          ? `${label(d.name)} ${percent(d.agreement.rate)} of ${d.agreement.compared}`
          : `${label(d.name)}: nothing to compare`,
      )
      .join("; ");
    return { config, summary: `${summary}.`, points: detectors.filter((d) => d.agreement.rate != null).length };
  }, [detectors]);
  return (
    <ChartFigure
      title="Agreement with the fused verdict"
      testId="chart-agreement"
      config={figure.config}
      summary={figure.summary}
      points={figure.points}
      height={70 + 34 * detectors.length}
      note="How often a detector's own call (AI-generated at or over the threshold) matched the ensemble's verdict, over the analyses it scored that came out AI-generated or authentic; in brackets, how many."
    />
  );
}

// Feedback ----------------------------------------------------------------------------------------

function FeedbackExport() {
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    setMessage(null);
    try {
      const headers = await downloadFile("/feedback/export", "tribunal-feedback.zip");
      const skipped = Number(headers.get("X-Feedback-Skipped") ?? 0);
      setMessage(
        `Exported ${headers.get("X-Feedback-Exported") ?? "?"} images` +
          (skipped ? `; ${skipped} skipped, each with its reason in skipped.csv.` : "."),
      );
    } catch (err) {
      setMessage(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="actions">
      <button type="button" className="secondary" onClick={download} disabled={busy}>
        {busy ? "Exporting…" : "Export all feedback (ZIP)"}
      </button>
      {message && (
        <span className="small muted" data-testid="feedback-export-result">
          {message}
        </span>
      )}
    </div>
  );
}

function AgreementRow({ name, counts }: { name: string; counts: AgreementCounts }) {
  return (
    <tr data-testid={`feedback-agreement-${name}`}>
      <td className="name">{name}</td>
      <td>{counts.analyses}</td>
      <td>{counts.agreed}</td>
      <td>{counts.false_alarms}</td>
      <td>{counts.missed_ai}</td>
      <td>{counts.uncertain}</td>
      <td>{percent(counts.rate)}</td>
    </tr>
  );
}

function FeedbackAgreementCard({ agreement, days, admin }: { agreement: FeedbackAgreement; days: number; admin: boolean }) {
  const media = Object.entries(agreement.by_media_type);
  return (
    <section className="card" data-testid="feedback-agreement" aria-labelledby="feedback-agreement-title">
      <div className="section-head">
        <h2 id="feedback-agreement-title">Verdicts against feedback</h2>
        {admin && <FeedbackExport />}
      </div>
      {agreement.analyses === 0 ? (
        <p className="muted small">
          No feedback on analyses of the last {days} days yet. On an analysis, “Is this wrong?” records what the file
          actually is.
        </p>
      ) : (
        <>
          <p className="agreement-figures" data-testid="feedback-agreement-summary">
            {agreement.rate == null ? (
              <>
                {agreement.analyses} {agreement.analyses === 1 ? "analysis has" : "analyses have"} feedback, every verdict
                uncertain: nothing to compare yet.
              </>
            ) : (
              <>
                <strong>{percent(agreement.rate)}</strong> of the {agreement.agreed + agreement.disagreed} AI-generated or
                authentic verdicts with feedback agreed with it
                {agreement.uncertain ? ` (and ${agreement.uncertain} uncertain verdicts had feedback)` : ""}.
              </>
            )}
          </p>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Media</th>
                  <th>With feedback</th>
                  <th>Agreed</th>
                  <th>False alarms</th>
                  <th>Missed AI</th>
                  <th>Uncertain</th>
                  <th>Agreement</th>
                </tr>
              </thead>
              <tbody>
                {media.map(([name, counts]) => (
                  <AgreementRow key={name} name={name} counts={counts} />
                ))}
                {media.length > 1 && <AgreementRow name="all" counts={agreement} />}
              </tbody>
            </table>
          </div>
          <p className="muted small">
            False alarm: the verdict said AI-generated, the feedback says real. Missed AI: the verdict said authentic, the
            feedback says AI-made. Uncertain verdicts are counted apart; each analysis counts once, with its latest feedback.
          </p>
        </>
      )}
    </section>
  );
}

// The page ----------------------------------------------------------------------------------------

export function StatsPage() {
  const { user } = useAuth();
  const [drift, setDrift] = useState<DriftReport | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [days, setDays] = useState(30);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    setError(null);
    const { since } = period(days);
    const query = new URLSearchParams({
      since: since.toISOString(),
      // Today's offset: a day across a daylight-saving change is off by that hour.
      utc_offset_minutes: String(-new Date().getTimezoneOffset()),
    });
    api<DriftReport>("GET", "/stats/drift").then(setDrift, (err) => setError(describeError(err)));
    api<Stats>("GET", `/stats?${query}`).then(setStats, (err) => setError(describeError(err)));
  }, [days]);
  useEffect(load, [load]);

  const streams = drift ? [...drift.detectors, ...drift.fused] : [];
  const answered = stats?.detectors.filter((d) => d.calls > 0) ?? [];
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
          <div className="chart-grid">
            <DriftStateChart report={drift} />
            <ScoreHistogramChart report={drift} />
          </div>
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
      {stats && (
        <section className="card" data-testid="analyses-charts" aria-labelledby="analyses-title">
          <div className="section-head">
            <h2 id="analyses-title">Analyses</h2>
            <label className="chart-control inline">
              Period
              <select value={days} onChange={(e) => setDays(Number(e.target.value))} name="period">
                {PERIODS.map((n) => (
                  <option key={n} value={n}>
                    last {n} days
                  </option>
                ))}
              </select>
            </label>
          </div>
          <p className="muted small">
            {stats.total} analyses in your history over the last {days} days (an administrator sees everyone's).
          </p>
          <div className="chart-grid">
            <VerdictsPerDayChart stats={stats} days={days} />
            {answered.length > 0 ? (
              <>
                <LatencyChart detectors={answered} />
                <AgreementChart detectors={answered} />
              </>
            ) : (
              <p className="muted small">No detector was asked in this period: no latency or agreement to show.</p>
            )}
          </div>
        </section>
      )}
      {stats && <FeedbackAgreementCard agreement={stats.feedback} days={days} admin={user?.role === "admin"} />}
    </div>
  );
}
