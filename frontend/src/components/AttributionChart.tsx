// Which source made the file: one horizontal bar per class, largest first (plain SVG, no chart library).

import { percent, sourceLabel } from "../format";
import type { Attribution } from "../types";

const ROW = 28;
const LABEL_WIDTH = 190; // fits "Stable Diffusion 1.x/2.x" at 13 px
const WIDTH = 520;

export function AttributionChart({ attribution }: { attribution: Attribution }) {
  const rows = Object.entries(attribution.probs).sort((a, b) => b[1] - a[1]);
  const barSpace = WIDTH - LABEL_WIDTH - 56;
  return (
    <svg
      className="attribution"
      viewBox={`0 0 ${WIDTH} ${rows.length * ROW}`}
      role="img"
      aria-label={`Attribution: most likely ${sourceLabel(attribution.predicted_source)}`}
      data-testid="attribution-chart"
    >
      {rows.map(([name, p], i) => {
        const y = i * ROW;
        const top = name === attribution.predicted_source;
        return (
          <g key={name} transform={`translate(0 ${y})`}>
            <text x={LABEL_WIDTH - 8} y={ROW / 2 + 5} textAnchor="end" className={top ? "attr-label top" : "attr-label"}>
              {sourceLabel(name)}
            </text>
            <rect x={LABEL_WIDTH} y={5} width={barSpace} height={ROW - 10} rx={4} className="attr-track" />
            <rect
              x={LABEL_WIDTH}
              y={5}
              width={Math.max(2, p * barSpace)}
              height={ROW - 10}
              rx={4}
              className={name === "real" ? "attr-bar real" : top ? "attr-bar top" : "attr-bar"}
            />
            <text x={LABEL_WIDTH + barSpace + 8} y={ROW / 2 + 5} className="attr-value">
              {percent(p)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
