// The fused score on a 0-100% track, with the decision threshold and the uncertainty band drawn on it.

import { percent } from "../format";
import type { Verdict } from "../types";

interface Props {
  score: number | null;
  threshold: number;
  band?: number;
  verdict: Verdict;
}

export function ScoreGauge({ score, threshold, band = 0.1, verdict }: Props) {
  const low = Math.max(0, threshold - band) * 100;
  const high = Math.min(1, threshold + band) * 100;
  return (
    <div className="gauge" role="img" aria-label={`P(AI-generated) ${percent(score)}; threshold ${percent(threshold)}`}>
      <div className="gauge-track">
        <div className="gauge-band" style={{ left: `${low}%`, width: `${high - low}%` }} title="uncertainty band" />
        {score != null && <div className={`gauge-fill ${verdict}`} style={{ width: `${score * 100}%` }} />}
        <div className="gauge-threshold" style={{ left: `${threshold * 100}%` }} title={`threshold ${percent(threshold)}`} />
      </div>
      <div className="gauge-scale">
        <span>real</span>
        <span>AI-generated</span>
      </div>
    </div>
  );
}
