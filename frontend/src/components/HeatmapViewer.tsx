// Where the evidence is: a detector's heatmap laid over the image, with a detector picker and opacity.

import { useState } from "react";
import { label } from "../format";
import type { DetectorOutcome } from "../types";

export function HeatmapViewer({ imageUrl, detectors }: { imageUrl: string; detectors: DetectorOutcome[] }) {
  const withMaps = detectors.filter((d) => d.heatmap_png);
  const [chosen, setChosen] = useState(withMaps[0]?.name ?? "");
  const [opacity, setOpacity] = useState(0.6);
  const current = withMaps.find((d) => d.name === chosen) ?? withMaps[0];
  return (
    <div className="heatmap" data-testid="heatmap">
      {withMaps.length === 0 ? (
        <p className="muted">No detector returned a heatmap for this file.</p>
      ) : (
        <div className="heatmap-controls">
          <label>
            Detector{" "}
            <select value={current?.name} onChange={(e) => setChosen(e.target.value)}>
              {withMaps.map((d) => (
                <option key={d.name} value={d.name}>
                  {label(d.name)}
                </option>
              ))}
            </select>
          </label>
          <label>
            Overlay{" "}
            <input
              type="range"
              min={0}
              max={1}
              step={0.05}
              value={opacity}
              onChange={(e) => setOpacity(Number(e.target.value))}
              aria-label="Heatmap opacity"
            />
          </label>
        </div>
      )}
      <div className="heatmap-stage">
        <img src={imageUrl} alt="The analysed image" />
        {current?.heatmap_png && (
          <img
            className="heatmap-overlay"
            src={`data:image/png;base64,${current.heatmap_png}`}
            alt={`Heatmap from ${label(current.name)}`}
            style={{ opacity }}
          />
        )}
      </div>
    </div>
  );
}
