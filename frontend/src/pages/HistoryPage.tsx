// Past analyses: a summary, filters, and a paged list (cards on a phone) leading to each one.

import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, describeError } from "../api";
import { useAuth } from "../auth";
import { bytes, percent, sourceLabel, VERDICT_LABEL, when } from "../format";
import type { HistoryPage as Page, Stats } from "../types";

const PAGE_SIZE = 20;

/** A local calendar day's start as an ISO instant (the API takes UTC instants). */
function dayStart(day: string, plusDays = 0): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

export function HistoryPage() {
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const [page, setPage] = useState<Page | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const filters = {
    verdict: params.get("verdict") ?? "",
    media_type: params.get("media_type") ?? "",
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
    username: params.get("username") ?? "",
  };
  const pageNumber = Number(params.get("page") ?? "1") || 1;

  useEffect(() => {
    const query = new URLSearchParams();
    if (filters.verdict) query.set("verdict", filters.verdict);
    if (filters.media_type) query.set("media_type", filters.media_type);
    if (filters.from) query.set("since", dayStart(filters.from));
    if (filters.to) query.set("until", dayStart(filters.to, 1));
    if (filters.username) query.set("username", filters.username);
    const statsQuery = query.toString();
    query.set("page", String(pageNumber));
    query.set("page_size", String(PAGE_SIZE));
    setError(null);
    Promise.all([api<Page>("GET", `/history?${query}`), api<Stats>("GET", `/stats?${statsQuery}`)]).then(
      ([p, s]) => {
        setPage(p);
        setStats(s);
      },
      (err) => setError(describeError(err)),
    );
  }, [params]);

  const update = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("page");
    setParams(next, { replace: true });
  };
  const goTo = (n: number) => {
    const next = new URLSearchParams(params);
    next.set("page", String(n));
    setParams(next);
  };
  const pages = page ? Math.max(1, Math.ceil(page.total / PAGE_SIZE)) : 1;
  const isAdmin = user?.role === "admin";

  return (
    <div className="page">
      <h1>History</h1>
      {stats && (
        <section className="stats-row" data-testid="stats">
          <div className="stat">
            <span className="stat-value">{stats.total}</span>
            <span className="stat-label">analyses</span>
          </div>
          {(["fake", "real", "uncertain"] as const).map((v) => (
            <div className={`stat ${v}`} key={v}>
              <span className="stat-value">{stats.by_verdict[v] ?? 0}</span>
              <span className="stat-label">{VERDICT_LABEL[v].toLowerCase()}</span>
            </div>
          ))}
          <div className="stat wide">
            <span className="stat-label">top sources</span>
            <span className="sources">
              {Object.entries(stats.by_source)
                .filter(([name]) => name !== "none")
                .sort((a, b) => b[1] - a[1])
                .slice(0, 3)
                .map(([name, n]) => `${sourceLabel(name)} (${n})`)
                .join(", ") || "—"}
            </span>
          </div>
        </section>
      )}

      <section className="card filters" aria-label="Filters">
        <label>
          Verdict
          <select value={filters.verdict} onChange={(e) => update("verdict", e.target.value)} name="verdict">
            <option value="">any</option>
            <option value="fake">AI-generated</option>
            <option value="real">authentic</option>
            <option value="uncertain">uncertain</option>
          </select>
        </label>
        <label>
          Media
          <select value={filters.media_type} onChange={(e) => update("media_type", e.target.value)} name="media_type">
            <option value="">any</option>
            <option value="image">images</option>
            <option value="video">videos</option>
          </select>
        </label>
        <label>
          From
          <input type="date" value={filters.from} onChange={(e) => update("from", e.target.value)} name="from" />
        </label>
        <label>
          To
          <input type="date" value={filters.to} onChange={(e) => update("to", e.target.value)} name="to" />
        </label>
        {isAdmin && (
          <label>
            User
            <input
              placeholder="everyone"
              value={filters.username}
              onChange={(e) => update("username", e.target.value.trim())}
              name="username"
            />
          </label>
        )}
      </section>

      {error && <p className="alert error">{error}</p>}
      {page && page.items.length === 0 && (
        <section className="card empty">
          <p>No analyses match.</p>
          <Link to="/" className="button primary">
            Analyze a file
          </Link>
        </section>
      )}
      {page && page.items.length > 0 && (
        <section className="card flush">
          <table className="history" data-testid="history-table">
            <thead>
              <tr>
                <th>When</th>
                <th>File</th>
                <th>Verdict</th>
                <th>P(AI)</th>
                <th>Source</th>
                {isAdmin && <th>User</th>}
              </tr>
            </thead>
            <tbody>
              {page.items.map((item) => (
                <tr key={item.id} data-testid="history-row">
                  <td data-label="When">
                    <Link to={`/analyses/${item.id}`}>{when(item.created_at)}</Link>
                  </td>
                  <td data-label="File" className="file">
                    <span className="cell">
                      <Link to={`/analyses/${item.id}`}>{item.filename ?? item.sha256.slice(0, 12)}</Link>
                      <span className="muted small">
                        {" "}
                        {item.media_type} · {bytes(item.size_bytes)}
                      </span>
                    </span>
                  </td>
                  <td data-label="Verdict">
                    <span className="cell">
                      <span className={`verdict-badge small ${item.verdict}`}>{VERDICT_LABEL[item.verdict]}</span>
                      {item.degraded && (
                        <span className="chip status-error" title="some detectors failed">
                          partial
                        </span>
                      )}
                    </span>
                  </td>
                  <td data-label="P(AI)">{percent(item.score_fake)}</td>
                  <td data-label="Source">{item.predicted_source ? sourceLabel(item.predicted_source) : "—"}</td>
                  {isAdmin && <td data-label="User">{item.username ?? "anonymous"}</td>}
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" className="secondary" disabled={pageNumber <= 1} onClick={() => goTo(pageNumber - 1)}>
              ← Newer
            </button>
            <span className="muted small">
              Page {pageNumber} of {pages} · {page.total} in all
            </span>
            <button
              type="button"
              className="secondary"
              disabled={pageNumber >= pages}
              onClick={() => goTo(pageNumber + 1)}
            >
              Older →
            </button>
          </nav>
        </section>
      )}
    </div>
  );
}
