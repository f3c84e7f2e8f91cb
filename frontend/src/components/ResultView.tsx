// One analysis, as people read it: the verdict first, then why (score, attribution, each detector, heatmap).

import { label, ms, percent, sourceLabel, VERDICT_LABEL } from "../format";
import type { AnalysisResult } from "../types";
import { AttributionChart } from "./AttributionChart";
import { DetectorTable } from "./DetectorTable";
import { HeatmapViewer } from "./HeatmapViewer";
import { ScoreGauge } from "./ScoreGauge";

interface Props {
  result: AnalysisResult;
  imageUrl?: string | null;
  band?: number;
}

function summary(result: AnalysisResult): string {
  if (result.score_fake == null) return "No detector found evidence either way.";
  const source = result.attribution?.predicted_source;
  if (result.verdict === "fake" && source === "unknown_ai")
    return "Made by AI; no generator family is likely enough to name.";
  if (result.verdict === "fake" && source && source !== "real") return `Most likely made by ${sourceLabel(source)}.`;
  if (result.verdict === "real") return "The detectors see no sign of AI generation.";
  if (result.verdict === "uncertain") return "The score is too close to the threshold to call.";
  return "The detectors see signs of AI generation.";
}

export function ResultView({ result, imageUrl, band }: Props) {
  const failed = result.detectors.filter((d) => ["timeout", "error", "unavailable"].includes(d.status));
  const hasHeatmaps = result.detectors.some((d) => d.heatmap_png);
  return (
    <div className="result" data-testid="result">
      <section className={`card verdict-card ${result.verdict}`}>
        <div className="verdict-head">
          <span className={`verdict-badge ${result.verdict}`} data-testid="verdict">
            {VERDICT_LABEL[result.verdict]}
          </span>
          <span className="score" data-testid="score">
            {percent(result.score_fake)} <small>P(AI-generated)</small>
          </span>
        </div>
        <p className="summary">{summary(result)}</p>
        <ScoreGauge score={result.score_fake} threshold={result.threshold} band={band} verdict={result.verdict} />
        <dl className="facts">
          <div>
            <dt>Confidence</dt>
            <dd>{percent(result.confidence)}</dd>
          </div>
          <div>
            <dt>Method</dt>
            <dd>{result.method}</dd>
          </div>
          <div>
            <dt>Threshold</dt>
            <dd>{percent(result.threshold)}</dd>
          </div>
          <div>
            <dt>Time</dt>
            <dd>{ms(result.elapsed_ms)}</dd>
          </div>
        </dl>
        {failed.length > 0 && (
          <p className="alert warn" data-testid="degraded">
            ⚠ Partial answer: {failed.map((d) => `${label(d.name)} (${d.status})`).join(", ")}{" "}
            did not answer; the verdict uses the others.
          </p>
        )}
        {result.warnings.filter((w) => !failed.some((d) => w.startsWith(d.name))).map((w) => (
          <p key={w} className="alert info">
            {w}
          </p>
        ))}
      </section>

      <div className="result-grid">
        <section className="card">
          <h2>Attribution</h2>
          {result.attribution ? (
            <AttributionChart attribution={result.attribution} />
          ) : (
            <p className="muted">No attribution detector gave class probabilities for this file.</p>
          )}
        </section>
        {imageUrl && (
          <section className="card">
            <h2>{hasHeatmaps ? "Evidence heatmap" : "Image"}</h2>
            {hasHeatmaps ? (
              <HeatmapViewer imageUrl={imageUrl} detectors={result.detectors} />
            ) : (
              <img className="preview" src={imageUrl} alt="The analysed file" />
            )}
          </section>
        )}
      </div>

      <section className="card">
        <h2>Detectors</h2>
        <DetectorTable detectors={result.detectors} />
      </section>
    </div>
  );
}
