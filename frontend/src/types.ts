// The gateway's answers, as the dashboard reads them (see gateway/schemas.py and gateway/history/schemas.py).

export type Verdict = "fake" | "real" | "uncertain";
export type DetectorStatus = "ok" | "abstained" | "timeout" | "error" | "unavailable" | "skipped";

export interface DetectorOutcome {
  name: string;
  status: DetectorStatus;
  prob_fake: number | null;
  class_probs?: Record<string, number> | null;
  reason?: string | null;
  version?: string | null;
  elapsed_ms?: number | null;
  error?: string | null;
  heatmap_png?: string | null;
  warnings?: string[];
}

export interface Attribution {
  predicted_source: string;
  probs: Record<string, number>;
}

/** What the result view needs: a fresh detection answer and a history record both have it. */
export interface AnalysisResult {
  id: string;
  sha256: string;
  media_type: "image" | "video";
  verdict: Verdict;
  score_fake: number | null;
  confidence: number | null;
  method: string;
  threshold: number;
  attribution: Attribution | null;
  detectors: DetectorOutcome[];
  degraded: boolean;
  missing: string[];
  warnings: string[];
  elapsed_ms: number;
}

export interface HistoryItem {
  id: string;
  created_at: string;
  username: string | null;
  filename: string | null;
  sha256: string;
  size_bytes: number;
  media_type: "image" | "video";
  verdict: Verdict;
  score_fake: number | null;
  confidence: number | null;
  method: string;
  predicted_source: string | null;
  degraded: boolean;
  elapsed_ms: number;
  has_file: boolean;
}

export type FeedbackLabel = "real" | "ai";

/** What a user said an analysed file actually is (POST /history/{id}/feedback). */
export interface Feedback {
  analysis_id: string;
  username: string;
  label: FeedbackLabel;
  /** A generator family (label "ai" only); null: not given. */
  generator: string | null;
  note: string | null;
  verdict: Verdict;
  /** The verdict said the same; null for an uncertain verdict. */
  agrees: boolean | null;
  created_at: string;
  updated_at: string;
}

export interface FeedbackOptions {
  labels: FeedbackLabel[];
  generators: string[];
}

export interface HistoryDetail extends HistoryItem, AnalysisResult {
  request_id: string | null;
  /** Every user's current feedback on it, newest first. */
  feedback: Feedback[];
}

export interface HistoryPage {
  items: HistoryItem[];
  total: number;
  page: number;
  page_size: number;
}

export interface DetectorStats {
  name: string;
  calls: number;
  by_status: Record<string, number>;
  failure_rate: number | null;
  latency_ms: { mean: number | null; p50: number | null; p95: number | null };
  /** Its own call (fake at P(fake) >= the analysis' threshold) against the fused fake/real verdicts. */
  agreement: { compared: number; agreed: number; rate: number | null };
}

export interface DayVerdicts {
  day: string; // YYYY-MM-DD, a day at Stats.utc_offset_minutes
  total: number;
  by_verdict: Record<string, number>;
}

export interface Stats {
  total: number;
  by_verdict: Record<string, number>;
  by_source: Record<string, number>;
  by_media_type: Record<string, number>;
  detectors: DetectorStats[];
  utc_offset_minutes: number;
  /** Days with analyses only, oldest first. */
  by_day: DayVerdicts[];
  /** Verdicts against users' feedback (each analysis with its latest feedback). */
  feedback: FeedbackAgreement;
}

export interface AgreementCounts {
  analyses: number;
  agreed: number;
  disagreed: number;
  /** Verdict fake, feedback says real. */
  false_alarms: number;
  /** Verdict real, feedback says AI-made. */
  missed_ai: number;
  /** Uncertain verdicts: neither agreed nor disagreed. */
  uncertain: number;
  /** agreed / (agreed + disagreed); null when nothing was compared. */
  rate: number | null;
}

export interface FeedbackAgreement extends AgreementCounts {
  by_media_type: Record<string, AgreementCounts>;
}

export interface ModelInfo {
  name: string;
  enabled: boolean;
  media_types: string[];
  weight: number;
  timeout_s: number;
  dependency: string;
  ready: boolean | null;
  reason: string | null;
  version: string | null;
  backbone: string | null;
  task: string | null;
  device: string | null;
  latency_ms: number | null;
  last_status: string | null;
  last_error: string | null;
  last_error_at: string | null;
  breaker: string;
}

export interface ModelsAnswer {
  detectors: ModelInfo[];
  media_types: string[];
  ensemble_methods: string[];
  default_method: string;
  threshold: number;
  uncertainty_band: number;
}

export interface User {
  id: number;
  username: string;
  role: "admin" | "user";
  created_at: string;
}

export interface AuthConfig {
  auth_required: boolean;
  registration_open: boolean;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface NewApiKey extends ApiKey {
  key: string;
}

/** One watched score stream of GET /stats/drift: an image detector, or fused:<method>. */
export interface DriftStream {
  name: string;
  kind: "detector" | "fused";
  state: "ok" | "drifted" | "insufficient_data";
  reason: string;
  statistic: number | null;
  threshold: number;
  window_size: number;
  min_window: number;
  reference_size: number;
  reference_source: string | null;
  window_mean: number | null;
  reference_mean: number | null;
  calls: number | null;
  abstention_rate: number | null;
  error_rate: number | null;
  reference_abstention_rate: number | null;
  /** The live score histogram against the reference, over the PSI's bins; null without a reference. */
  histogram: ScoreBins | null;
}

/** The reference's quantile bins (edges from 0 to 1) with the reference's and the live window's shares. */
export interface ScoreBins {
  edges: number[];
  reference: number[];
  window: number[] | null;
  window_size: number;
}

export interface DriftReport {
  media_type: string;
  statistic: "psi";
  state: "ok" | "drifted" | "insufficient_data";
  drifted: string[];
  threshold: number;
  window: number;
  min_window: number;
  bins: number;
  reference: string;
  detectors: DriftStream[];
  fused: DriftStream[];
}

export type JobState = "queued" | "running" | "done" | "cancelled" | "failed";
export type JobItemState = "queued" | "running" | "done" | "failed" | "cancelled";

/** Items by state (GET /jobs/{id}); done + failed + cancelled of total are finished. */
export interface JobProgress {
  total: number;
  queued: number;
  running: number;
  done: number;
  failed: number;
  cancelled: number;
}

/** A batch job (gateway/jobs/schemas.py): the answer to POST /jobs and an entry of GET /jobs. */
export interface JobSummary {
  id: string;
  state: JobState;
  /** The archive's name, the single file's name, or "<n> files" (of the first part sent). */
  name: string;
  username: string | null;
  created_at: string;
  finished_at: string | null;
  cancelled_at: string | null;
  options: { ensemble_method: string | null; models: string[] | null; threshold: number | null };
  progress: JobProgress;
}

export interface JobItem {
  seq: number;
  name: string;
  state: JobItemState;
  size_bytes: number;
  /** The /history/{id} of its analysis, once done. */
  analysis_id: string | null;
  verdict: Verdict | null;
  score_fake: number | null;
  predicted_source: string | null;
  error_code: string | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

/** GET /jobs/{id}: the summary and one page of its items (filtered by item_state and verdict). */
export interface JobDetail extends JobSummary {
  items: JobItem[];
  items_total: number;
  page: number;
  page_size: number;
}

export interface JobPage {
  items: JobSummary[];
  total: number;
  page: number;
  page_size: number;
}
