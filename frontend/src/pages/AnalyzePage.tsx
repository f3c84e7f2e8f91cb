// Upload a file and see the verdict: drag and drop, upload progress, then the full result.

import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { api, describeError, uploadForDetection, type Upload } from "../api";
import { DropZone } from "../components/DropZone";
import { ResultView } from "../components/ResultView";
import { bytes } from "../format";
import type { AnalysisResult, ModelsAnswer } from "../types";

type Phase = "idle" | "uploading" | "analysing" | "done" | "failed";

export function AnalyzePage() {
  const [file, setFile] = useState<File | null>(null);
  const [previewUrl, setPreviewUrl] = useState<string | null>(null);
  const [explain, setExplain] = useState(false);
  const [method, setMethod] = useState("");
  const [models, setModels] = useState<ModelsAnswer | null>(null);
  const [phase, setPhase] = useState<Phase>("idle");
  const [progress, setProgress] = useState(0);
  const [result, setResult] = useState<AnalysisResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const upload = useRef<Upload | null>(null);

  useEffect(() => {
    api<ModelsAnswer>("GET", "/models").then(setModels, () => setModels(null));
  }, []);

  useEffect(() => {
    if (!file || !file.type.startsWith("image/")) {
      setPreviewUrl(null);
      return;
    }
    const url = URL.createObjectURL(file);
    setPreviewUrl(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const choose = (chosen: File) => {
    setFile(chosen);
    setResult(null);
    setError(null);
    setPhase("idle");
  };

  const analyse = async () => {
    if (!file) return;
    setPhase("uploading");
    setProgress(0);
    setError(null);
    setResult(null);
    upload.current = uploadForDetection(file, { explain, method: method || undefined }, (fraction) => {
      setProgress(fraction);
      if (fraction >= 1) setPhase("analysing");
    });
    try {
      setResult(await upload.current.done);
      setPhase("done");
    } catch (err) {
      setError(describeError(err));
      setPhase("failed");
    } finally {
      upload.current = null;
    }
  };

  const busy = phase === "uploading" || phase === "analysing";
  return (
    <div className="page">
      <h1>Analyze a file</h1>
      <section className="card">
        <div className="upload-grid">
          <DropZone onFile={choose} disabled={busy} />
          <div className="upload-side">
            {file ? (
              <div className="chosen" data-testid="chosen-file">
                {previewUrl && <img src={previewUrl} alt="" className="thumb" />}
                <div>
                  <strong className="filename">{file.name}</strong>
                  <div className="muted small">
                    {bytes(file.size)} · {file.type || "unknown type"}
                  </div>
                </div>
              </div>
            ) : (
              <p className="muted">No file chosen yet.</p>
            )}
            <div className="options">
              <label className="check">
                <input type="checkbox" checked={explain} onChange={(e) => setExplain(e.target.checked)} />
                Show where the evidence is (heatmaps)
              </label>
              <label>
                Fusion
                <select value={method} onChange={(e) => setMethod(e.target.value)}>
                  <option value="">default{models ? ` (${models.default_method})` : ""}</option>
                  {models?.ensemble_methods.map((m) => (
                    <option key={m} value={m}>
                      {m}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <div className="actions">
              <button type="button" className="primary" disabled={!file || busy} onClick={analyse}>
                {busy ? "Analyzing…" : "Analyze"}
              </button>
              {busy && (
                <button type="button" className="secondary" onClick={() => upload.current?.abort()}>
                  Cancel
                </button>
              )}
            </div>
            {busy && (
              <div className="progress" data-testid="progress">
                <div
                  className={`progress-bar${phase === "analysing" ? " indeterminate" : ""}`}
                  role="progressbar"
                  aria-valuemin={0}
                  aria-valuemax={100}
                  aria-valuenow={Math.round(progress * 100)}
                  style={{ width: phase === "analysing" ? "100%" : `${progress * 100}%` }}
                />
                <span className="small">
                  {phase === "uploading" ? `Uploading… ${Math.round(progress * 100)}%` : "Detectors at work…"}
                </span>
              </div>
            )}
            {error && (
              <p className="alert error" role="alert">
                {error}
              </p>
            )}
          </div>
        </div>
      </section>
      {result && (
        <>
          <ResultView result={result} imageUrl={previewUrl} band={models?.uncertainty_band} />
          <p className="muted small">
            Saved to your <Link to={`/analyses/${result.id}`}>history</Link>.
          </p>
        </>
      )}
    </div>
  );
}
