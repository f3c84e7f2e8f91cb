// Many files at once as a batch job (docs/jobs.md): drop a folder or an archive, send it in parts, watch
// the job's progress, filter its results, download them as CSV, cancel it, and reopen earlier jobs.

import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { ApiError, api, describeError, downloadFile, uploadJobPart, type BatchFile, type Upload } from "../api";
import { useAuth } from "../auth";
import { isArchiveName, pick, planParts, type Picked } from "../batch";
import { BatchDropZone } from "../components/BatchDropZone";
import { JobThumb, rememberFiles } from "../components/JobThumb";
import { bytes, percent, sourceLabel, VERDICT_LABEL, when } from "../format";
import type { JobDetail, JobItemState, JobPage, JobState, JobSummary, ModelsAnswer } from "../types";

const ITEMS_PAGE = 50;
const JOBS_PAGE = 10;
const POLL_MS = 1000;

const JOB_STATE_LABEL: Record<JobState, string> = {
  queued: "Queued",
  running: "Running",
  done: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};
const ITEM_STATE_LABEL: Record<JobItemState, string> = {
  queued: "queued",
  running: "running",
  done: "done",
  failed: "failed",
  cancelled: "cancelled",
};
const STATE_CHIP: Record<JobItemState | JobState, string> = {
  queued: "status-skipped",
  running: "status-running",
  done: "status-ok",
  failed: "status-error",
  cancelled: "status-skipped",
};

interface Sending {
  /** The job once its first part is in. */
  jobId: string | null;
  sentBytes: number;
  totalBytes: number;
  sentFiles: number;
  totalFiles: number;
}

function pending(job: JobSummary): number {
  return job.progress.queued + job.progress.running;
}

/**
 * A job's name for people. The gateway names a job of several files "<n> files" after its first request,
 * and a job sent in parts has more: the count shown is the job's.
 */
function jobName(job: JobSummary): string {
  return /^\d+ files$/.test(job.name) ? `${job.progress.total} files` : job.name;
}

function totalSize(files: BatchFile[]): number {
  return files.reduce((sum, { file }) => sum + file.size, 0);
}

export function BatchPage() {
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const jobId = params.get("job");
  const stateFilter = params.get("item_state") ?? "";
  const verdictFilter = params.get("verdict") ?? "";
  const itemsPage = Number(params.get("page") ?? "1") || 1;

  const [models, setModels] = useState<ModelsAnswer | null>(null);
  const [method, setMethod] = useState("");
  const [picked, setPicked] = useState<Picked | null>(null);
  const [sending, setSending] = useState<Sending | null>(null);
  const [sendError, setSendError] = useState<string | null>(null);
  const upload = useRef<Upload<JobSummary> | null>(null);
  const stopped = useRef(false);
  const sendingJob = useRef<string | null>(null);
  const mounted = useRef(true);

  const [detail, setDetail] = useState<JobDetail | null>(null);
  const [detailError, setDetailError] = useState<string | null>(null);
  const [reload, setReload] = useState(0); // bumped to read the open job again at once
  const [jobs, setJobs] = useState<JobPage | null>(null);
  const [jobsPage, setJobsPage] = useState(1);
  const [jobsVersion, setJobsVersion] = useState(0);
  const [actionError, setActionError] = useState<string | null>(null);

  useEffect(() => {
    mounted.current = true;
    api<ModelsAnswer>("GET", "/models").then(setModels, () => setModels(null));
    return () => {
      mounted.current = false;
    };
  }, []);

  // The open job: read now, then every POLL_MS while anything of it is pending or still being sent.
  useEffect(() => {
    if (!jobId) {
      setDetail(null);
      return;
    }
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const query = new URLSearchParams({ page: String(itemsPage), page_size: String(ITEMS_PAGE) });
    if (stateFilter) query.set("item_state", stateFilter);
    if (verdictFilter) query.set("verdict", verdictFilter);
    const load = async () => {
      try {
        const found = await api<JobDetail>("GET", `/jobs/${encodeURIComponent(jobId)}?${query}`);
        if (!live) return;
        setDetail(found);
        setDetailError(null);
        if (pending(found) > 0 || sendingJob.current === jobId) timer = setTimeout(load, POLL_MS);
      } catch (err) {
        if (!live) return;
        setDetailError(describeError(err));
        // An unknown or someone else's job (4xx) stays so; a lost connection or a restart is tried again.
        if (!(err instanceof ApiError && err.status >= 400 && err.status < 500)) timer = setTimeout(load, POLL_MS * 5);
      }
    };
    load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [jobId, stateFilter, verdictFilter, itemsPage, reload]);

  // The caller's jobs, newest first; read again when a job is created, finishes or is cancelled.
  const openState = detail?.id === jobId ? detail?.state : undefined;
  useEffect(() => {
    api<JobPage>("GET", `/jobs?page=${jobsPage}&page_size=${JOBS_PAGE}`).then(setJobs, () => setJobs(null));
  }, [jobsPage, jobsVersion, openState]);

  const setQuery = (changes: Record<string, string | null>, replace = false) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next, { replace });
  };
  const openJob = (id: string) => setQuery({ job: id, item_state: null, verdict: null, page: null });

  const choose = (files: BatchFile[]) => {
    setPicked(pick(files));
    setSendError(null);
  };

  /** Send the chosen files as one job: the first part creates it, the others are added to it. */
  const send = async () => {
    if (!picked?.files.length) return;
    const parts = planParts(picked.files);
    const progress: Sending = { jobId: null, sentBytes: 0, totalBytes: totalSize(picked.files), sentFiles: 0, totalFiles: picked.files.length };
    let job: string | null = null;
    stopped.current = false;
    setSendError(null);
    setActionError(null);
    setSending({ ...progress });
    try {
      for (const part of parts) {
        if (stopped.current) break;
        const partBytes = totalSize(part);
        upload.current = uploadJobPart(part, { method: method || undefined, addTo: job ?? undefined }, (fraction) =>
          setSending({ ...progress, sentBytes: progress.sentBytes + fraction * partBytes }),
        );
        const summary = await upload.current.done;
        if (!isArchiveName(part[0].name)) {
          // The part's files are the job's last items, numbered in the order they were sent.
          rememberFiles(summary.id, summary.progress.total - part.length + 1, part.map(({ file }) => file));
        }
        progress.sentBytes += partBytes;
        progress.sentFiles += part.length;
        if (job === null) {
          job = progress.jobId = sendingJob.current = summary.id;
          setSending({ ...progress });
          if (mounted.current) openJob(job);
        } else {
          setSending({ ...progress });
          setReload((n) => n + 1);
        }
      }
      if (!stopped.current) setPicked(null);
    } catch (err) {
      if (!stopped.current) {
        const sent = progress.sentFiles ? ` after ${progress.sentFiles} of ${progress.totalFiles} files` : "";
        setSendError(`Sending stopped${sent}: ${describeError(err)}`);
      }
    } finally {
      upload.current = null;
      sendingJob.current = null;
      setSending(null);
      setReload((n) => n + 1);
      setJobsVersion((n) => n + 1);
    }
  };

  /** Stop sending the batch (before its job exists, that is all there is to cancel). */
  const stopSending = () => {
    stopped.current = true;
    upload.current?.abort();
  };

  /** Cancel a job: its remaining parts are not sent, its items not started never run. */
  const cancel = async (id: string) => {
    if (sendingJob.current === id) stopSending();
    setActionError(null);
    try {
      await api<JobSummary>("DELETE", `/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      setActionError(describeError(err));
    }
    setReload((n) => n + 1);
    setJobsVersion((n) => n + 1);
  };

  const download = async (format: "csv" | "jsonl") => {
    if (!jobId) return;
    setActionError(null);
    try {
      await downloadFile(`/jobs/${encodeURIComponent(jobId)}/results?format=${format}`, `job-${jobId}.${format}`);
    } catch (err) {
      setActionError(describeError(err));
    }
  };

  const busy = sending !== null;
  const shown = detail && detail.id === jobId ? detail : null;
  const isAdmin = user?.role === "admin";
  const listed = jobs?.items.map((job) => (shown && job.id === shown.id ? shown : job)) ?? [];
  const jobPages = jobs ? Math.max(1, Math.ceil(jobs.total / JOBS_PAGE)) : 1;

  return (
    <div className="page">
      <h1>Batch analysis</h1>
      <section className="card">
        <div className="upload-grid">
          <BatchDropZone onFiles={choose} disabled={busy} />
          <div className="upload-side">
            {picked ? (
              <div data-testid="batch-chosen">
                <strong>
                  {picked.files.length} {picked.files.length === 1 ? "file" : "files"}
                </strong>{" "}
                <span className="muted small">· {bytes(totalSize(picked.files))}</span>
                {picked.files.some((f) => isArchiveName(f.name)) && (
                  <span className="muted small"> · archives are unpacked by the gateway</span>
                )}
                {picked.skipped > 0 && (
                  <div className="muted small">
                    {picked.skipped} other {picked.skipped === 1 ? "file" : "files"} of the folder left out (not images,
                    videos or archives)
                  </div>
                )}
                <ul className="chosen-list small">
                  {picked.files.slice(0, 5).map((f) => (
                    <li key={f.name}>{f.name}</li>
                  ))}
                  {picked.files.length > 5 && <li className="muted">and {picked.files.length - 5} more</li>}
                </ul>
              </div>
            ) : (
              <p className="muted">Nothing chosen yet. Each file becomes one analysis in your history.</p>
            )}
            <div className="options">
              <label>
                Fusion
                <select value={method} onChange={(e) => setMethod(e.target.value)} disabled={busy}>
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
              <button type="button" className="primary" disabled={!picked?.files.length || busy} onClick={send}>
                {busy ? "Sending…" : "Start batch"}
              </button>
              {sending && !sending.jobId && (
                <button type="button" className="secondary" onClick={stopSending}>
                  Stop sending
                </button>
              )}
            </div>
            {sending && (
              <div className="progress" data-testid="batch-upload-progress">
                <div
                  className="progress-bar"
                  role="progressbar"
                  aria-label="Upload"
                  aria-valuemin={0}
                  aria-valuemax={100}
                  aria-valuenow={Math.round((sending.sentBytes / Math.max(1, sending.totalBytes)) * 100)}
                  style={{ width: `${(sending.sentBytes / Math.max(1, sending.totalBytes)) * 100}%` }}
                />
                <span className="small">
                  Sending… {sending.sentFiles} of {sending.totalFiles} files ·{" "}
                  {Math.round((sending.sentBytes / Math.max(1, sending.totalBytes)) * 100)}%
                </span>
              </div>
            )}
            {sendError && (
              <p className="alert error" role="alert">
                {sendError}
              </p>
            )}
          </div>
        </div>
      </section>

      {jobId && detailError && !shown && <p className="alert error">{detailError}</p>}
      {shown && (
        <JobView
          job={shown}
          sending={sending?.jobId === shown.id}
          stateFilter={stateFilter}
          verdictFilter={verdictFilter}
          page={itemsPage}
          error={actionError ?? detailError}
          onFilter={(name, value) => setQuery({ [name]: value, page: null }, true)}
          onPage={(n) => setQuery({ page: String(n) })}
          onCancel={() => cancel(shown.id)}
          onDownload={download}
        />
      )}

      <section className="card flush" aria-labelledby="earlier-jobs">
        <div className="section-head padded">
          <h2 id="earlier-jobs">{isAdmin ? "Jobs" : "Your jobs"}</h2>
        </div>
        {jobs && jobs.items.length === 0 && <p className="muted padded">No batch jobs yet.</p>}
        {listed.length > 0 && (
          <>
            <table className="jobs" data-testid="jobs-table">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Job</th>
                  <th>State</th>
                  <th>Progress</th>
                  {isAdmin && <th>User</th>}
                </tr>
              </thead>
              <tbody>
                {listed.map((job) => (
                  <tr key={job.id} data-testid="job-row" className={job.id === jobId ? "current" : undefined}>
                    <td data-label="When">{when(job.created_at)}</td>
                    <td data-label="Job" className="file">
                      <span className="cell">
                        <Link to={`/batch?job=${job.id}`} onClick={() => setActionError(null)}>
                          {jobName(job)}
                        </Link>
                      </span>
                    </td>
                    <td data-label="State">
                      <span className={`chip ${STATE_CHIP[job.state]}`}>{JOB_STATE_LABEL[job.state]}</span>
                    </td>
                    <td data-label="Progress">
                      {job.progress.done + job.progress.failed + job.progress.cancelled} / {job.progress.total}
                    </td>
                    {isAdmin && <td data-label="User">{job.username ?? "anonymous"}</td>}
                  </tr>
                ))}
              </tbody>
            </table>
            {jobPages > 1 && (
              <nav className="pager" aria-label="Job pages">
                <button type="button" className="secondary" disabled={jobsPage <= 1} onClick={() => setJobsPage(jobsPage - 1)}>
                  ← Newer
                </button>
                <span className="muted small">
                  Page {jobsPage} of {jobPages} · {jobs!.total} in all
                </span>
                <button
                  type="button"
                  className="secondary"
                  disabled={jobsPage >= jobPages}
                  onClick={() => setJobsPage(jobsPage + 1)}
                >
                  Older →
                </button>
              </nav>
            )}
          </>
        )}
      </section>
    </div>
  );
}

interface JobViewProps {
  job: JobDetail;
  sending: boolean;
  stateFilter: string;
  verdictFilter: string;
  page: number;
  error: string | null;
  onFilter: (name: "item_state" | "verdict", value: string) => void;
  onPage: (page: number) => void;
  onCancel: () => void;
  onDownload: (format: "csv" | "jsonl") => void;
}

/** One job: its state and progress, its actions, and its items (filtered, paged). */
function JobView({ job, sending, stateFilter, verdictFilter, page, error, onFilter, onPage, onCancel, onDownload }: JobViewProps) {
  const { progress } = job;
  const finished = progress.done + progress.failed + progress.cancelled;
  const fraction = progress.total ? finished / progress.total : 0;
  const cancellable = !job.cancelled_at && (pending(job) > 0 || sending);
  const pages = Math.max(1, Math.ceil(job.items_total / job.page_size));
  const filtered = Boolean(stateFilter || verdictFilter);

  return (
    <>
      <section className={`card job-card ${job.state}`} data-testid="job" aria-labelledby="job-title">
        <div className="section-head">
          <div>
            <h2 id="job-title" className="filename" data-testid="job-name">
              {jobName(job)}
            </h2>
            <div className="muted small">
              Sent {when(job.created_at)}
              {job.options.ensemble_method && ` · ${job.options.ensemble_method}`}
              {job.username && ` · ${job.username}`}
              {job.finished_at && ` · finished ${when(job.finished_at)}`}
            </div>
          </div>
          <span className={`chip big ${STATE_CHIP[job.state]}`} data-testid="job-state">
            {JOB_STATE_LABEL[job.state]}
          </span>
        </div>
        <div className="progress job-progress">
          <div
            className="progress-track"
            role="progressbar"
            aria-label="Job progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(fraction * 100)}
          >
            {(["done", "failed", "cancelled"] as const).map((state) => (
              <span
                key={state}
                className={`segment ${state}`}
                style={{ width: `${progress.total ? (progress[state] / progress.total) * 100 : 0}%` }}
              />
            ))}
          </div>
          <span className="small" data-testid="job-progress">
            {finished} of {progress.total} finished · <strong>{progress.done}</strong> done ·{" "}
            <strong>{progress.failed}</strong> failed
            {progress.cancelled > 0 && (
              <>
                {" "}
                · <strong>{progress.cancelled}</strong> cancelled
              </>
            )}
            {pending(job) > 0 && ` · ${progress.running} running, ${progress.queued} waiting`}
          </span>
        </div>
        <div className="actions wrap">
          <button type="button" className="secondary" onClick={() => onDownload("csv")}>
            Download CSV
          </button>
          <button type="button" className="secondary" onClick={() => onDownload("jsonl")}>
            JSON lines
          </button>
          {cancellable && (
            <button type="button" className="danger" onClick={onCancel}>
              Cancel job
            </button>
          )}
        </div>
        {job.cancelled_at && pending(job) > 0 && (
          <p className="alert info">Cancelled: the items already running finish and are recorded; the rest never run.</p>
        )}
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
      </section>

      <section className="card filters" aria-label="Filter the job's items">
        <label>
          State
          <select value={stateFilter} onChange={(e) => onFilter("item_state", e.target.value)} name="item_state">
            <option value="">any</option>
            {(Object.keys(ITEM_STATE_LABEL) as JobItemState[]).map((s) => (
              <option key={s} value={s}>
                {ITEM_STATE_LABEL[s]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Verdict
          <select value={verdictFilter} onChange={(e) => onFilter("verdict", e.target.value)} name="verdict">
            <option value="">any</option>
            <option value="fake">AI-generated</option>
            <option value="real">authentic</option>
            <option value="uncertain">uncertain</option>
          </select>
        </label>
      </section>

      {job.items.length === 0 ? (
        <section className="card empty">
          <p>{filtered ? "No items match." : "No items yet."}</p>
        </section>
      ) : (
        <section className="card flush">
          <table className="job-items" data-testid="job-items">
            <thead>
              <tr>
                <th aria-label="Preview" />
                <th>#</th>
                <th>File</th>
                <th>State</th>
                <th>Verdict</th>
                <th>P(AI)</th>
                <th>Source</th>
              </tr>
            </thead>
            <tbody>
              {job.items.map((item) => (
                <tr key={item.seq} data-testid="job-item" className={item.state === "failed" ? "failed" : undefined}>
                  <td className="thumb-cell">
                    <JobThumb jobId={job.id} item={item} />
                  </td>
                  <td data-label="#" className="muted seq">
                    {item.seq}
                  </td>
                  <td data-label="File" className="file">
                    <span className="cell">
                      {item.analysis_id ? (
                        <Link to={`/analyses/${item.analysis_id}`}>{item.name}</Link>
                      ) : (
                        <span className="name">{item.name}</span>
                      )}
                      <span className="muted small"> {bytes(item.size_bytes)}</span>
                      {item.error && (
                        <span className="item-error small" title={item.error_code ?? undefined}>
                          {item.error_code}: {item.error}
                        </span>
                      )}
                    </span>
                  </td>
                  <td data-label="State">
                    <span className={`chip ${STATE_CHIP[item.state]}`}>{ITEM_STATE_LABEL[item.state]}</span>
                  </td>
                  <td data-label="Verdict">
                    {item.verdict ? (
                      <span className={`verdict-badge small ${item.verdict}`}>{VERDICT_LABEL[item.verdict]}</span>
                    ) : (
                      "—"
                    )}
                  </td>
                  <td data-label="P(AI)">{percent(item.score_fake)}</td>
                  <td data-label="Source">{item.predicted_source ? sourceLabel(item.predicted_source) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {pages > 1 && (
            <nav className="pager" aria-label="Item pages">
              <button type="button" className="secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
                ← Previous
              </button>
              <span className="muted small">
                Page {page} of {pages} · {job.items_total} {filtered ? "matching" : "in all"}
              </span>
              <button type="button" className="secondary" disabled={page >= pages} onClick={() => onPage(page + 1)}>
                Next →
              </button>
            </nav>
          )}
        </section>
      )}
    </>
  );
}
