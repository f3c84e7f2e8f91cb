// Each detector's part in one analysis: its status (failures stand out), score and time.

import { label, ms, percent } from "../format";
import type { DetectorOutcome } from "../types";

const STATUS_TEXT: Record<string, string> = {
  ok: "OK",
  abstained: "Abstained",
  timeout: "Timed out",
  error: "Error",
  unavailable: "Unavailable",
  skipped: "Skipped",
};
const FAILED = new Set(["timeout", "error", "unavailable"]);

function note(d: DetectorOutcome): string {
  if (FAILED.has(d.status)) return d.error ?? "";
  if (d.status === "abstained") return `no evidence either way (${d.reason ?? "abstained"})`;
  if (d.status === "skipped") return d.reason ?? "";
  return d.version ? `v${d.version}` : "";
}

export function DetectorTable({ detectors }: { detectors: DetectorOutcome[] }) {
  return (
    <div className="table-wrap">
      <table className="detectors" data-testid="detector-results">
        <thead>
          <tr>
            <th>Detector</th>
            <th>Status</th>
            <th>P(AI)</th>
            <th>Time</th>
            <th>Notes</th>
          </tr>
        </thead>
        <tbody>
          {detectors.map((d) => (
            <tr key={d.name} className={FAILED.has(d.status) ? "failed" : undefined} data-testid={`detector-${d.name}`}>
              <td className="name" data-label="Detector">
                {label(d.name)}
              </td>
              <td data-label="Status">
                <span className={`chip status-${d.status}`}>
                  {FAILED.has(d.status) && <span aria-hidden="true">⚠ </span>}
                  {STATUS_TEXT[d.status] ?? d.status}
                </span>
              </td>
              <td data-label="P(AI)">
                {d.prob_fake == null ? (
                  "—"
                ) : (
                  <span className="mini">
                    <span className="mini-track">
                      <span className="mini-fill" style={{ width: `${d.prob_fake * 100}%` }} />
                    </span>
                    {percent(d.prob_fake)}
                  </span>
                )}
              </td>
              <td data-label="Time">{ms(d.elapsed_ms)}</td>
              <td className="note" data-label="Notes">
                {note(d)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
