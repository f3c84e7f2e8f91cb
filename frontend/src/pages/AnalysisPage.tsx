// One past analysis in full, with the kept file when the gateway keeps uploads, feedback ("Is this
// wrong?") and deletion.

import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, describeError, fetchObjectUrl } from "../api";
import { useAuth } from "../auth";
import { FeedbackControl } from "../components/FeedbackControl";
import { ResultView } from "../components/ResultView";
import { bytes, when } from "../format";
import type { HistoryDetail } from "../types";

export function AnalysisPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const { user } = useAuth();
  const [detail, setDetail] = useState<HistoryDetail | null>(null);
  const [fileUrl, setFileUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let url: string | null = null;
    let live = true;
    api<HistoryDetail>("GET", `/history/${encodeURIComponent(id)}`).then(
      async (found) => {
        if (!live) return;
        setDetail(found);
        if (found.has_file && found.media_type === "image") {
          url = await fetchObjectUrl(`/history/${encodeURIComponent(id)}/file`).catch(() => null);
          if (live) setFileUrl(url);
        }
      },
      (err) => live && setError(describeError(err)),
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [id]);

  const remove = async () => {
    if (!window.confirm("Delete this analysis from the history?")) return;
    try {
      await api("DELETE", `/history/${encodeURIComponent(id)}`);
      navigate("/analyses", { replace: true });
    } catch (err) {
      setError(describeError(err));
    }
  };

  if (error)
    return (
      <div className="page">
        <p className="alert error">{error}</p>
        <Link to="/analyses">← Back to the history</Link>
      </div>
    );
  if (!detail) return <div className="page muted">Loading…</div>;
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <Link to="/analyses" className="small">
            ← History
          </Link>
          <h1 className="filename" data-testid="analysis-title">
            {detail.filename ?? "Untitled upload"}
          </h1>
          <p className="muted small">
            {when(detail.created_at)} · {detail.media_type} · {bytes(detail.size_bytes)}
            {detail.username && <> · by {detail.username}</>}
          </p>
        </div>
        <button type="button" className="danger" onClick={remove}>
          Delete
        </button>
      </div>
      <ResultView result={detail} imageUrl={fileUrl} />
      {user && <FeedbackControl key={detail.id} analysisId={detail.id} feedback={detail.feedback} username={user.username} />}
      <section className="card">
        <h2>Details</h2>
        <dl className="facts wide">
          <div>
            <dt>SHA-256</dt>
            <dd className="mono">{detail.sha256}</dd>
          </div>
          <div>
            <dt>Analysis id</dt>
            <dd className="mono">{detail.id}</dd>
          </div>
          {detail.request_id && (
            <div>
              <dt>Request id</dt>
              <dd className="mono">{detail.request_id}</dd>
            </div>
          )}
        </dl>
        <p className="muted small">Heatmaps are not kept in the history; analyze the file again with heatmaps on to see them.</p>
      </section>
    </div>
  );
}
