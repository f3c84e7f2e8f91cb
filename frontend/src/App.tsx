// The page frame and the routes. Page paths are chosen so no API route has them (see gateway/dashboard.py).

import { lazy, Suspense, type ReactNode } from "react";
import { Navigate, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { useAuth } from "./auth";
import { AnalysisPage } from "./pages/AnalysisPage";
import { AnalyzePage } from "./pages/AnalyzePage";
import { ApiKeysPage } from "./pages/ApiKeysPage";
import { BatchPage } from "./pages/BatchPage";
import { DetectorsPage } from "./pages/DetectorsPage";
import { HistoryPage } from "./pages/HistoryPage";
import { SignInPage } from "./pages/SignInPage";

// The Stats page brings the charting library: it is loaded when someone opens the page, not with the app.
const StatsPage = lazy(() => import("./pages/StatsPage").then((m) => ({ default: m.StatsPage })));

/** Pages that need a signed-in user (always, or only while the gateway requires auth). */
function Guard({ children, always = false }: { children: ReactNode; always?: boolean }) {
  const { user, config } = useAuth();
  const location = useLocation();
  const required = always || (config?.auth_required ?? true);
  if (required && !user) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}

function Header() {
  const { user, config, signOut } = useAuth();
  const showNav = Boolean(user) || config?.auth_required === false;
  return (
    <header className="topbar">
      <NavLink to="/" className="brand" aria-label="Tribunal home">
        <img src="/favicon.svg" alt="" width={28} height={28} />
        <span>Tribunal</span>
      </NavLink>
      <nav className="mainnav" aria-label="Main">
        {showNav && (
          <>
            <NavLink to="/" end>
              Analyze
            </NavLink>
            <NavLink to="/batch">Batch</NavLink>
            <NavLink to="/analyses">History</NavLink>
            <NavLink to="/detectors">Detectors</NavLink>
            <NavLink to="/statistics">Stats</NavLink>
            {user && <NavLink to="/keys">API keys</NavLink>}
          </>
        )}
      </nav>
      <div className="account">
        {user ? (
          <>
            <span className="who" data-testid="signed-in-user">
              {user.username}
              {user.role === "admin" && <span className="role">admin</span>}
            </span>
            <button type="button" className="link" onClick={signOut}>
              Sign out
            </button>
          </>
        ) : (
          <NavLink to="/signin">Sign in</NavLink>
        )}
      </div>
    </header>
  );
}

export function App() {
  const { loading } = useAuth();
  if (loading) return <div className="splash">Loading…</div>;
  return (
    <div className="app">
      <Header />
      <main className="content">
        <Routes>
          <Route path="/signin" element={<SignInPage mode="signin" />} />
          <Route path="/signup" element={<SignInPage mode="signup" />} />
          <Route path="/" element={<Guard><AnalyzePage /></Guard>} />
          <Route path="/batch" element={<Guard><BatchPage /></Guard>} />
          <Route path="/analyses" element={<Guard><HistoryPage /></Guard>} />
          <Route path="/analyses/:id" element={<Guard><AnalysisPage /></Guard>} />
          <Route path="/detectors" element={<Guard><DetectorsPage /></Guard>} />
          <Route
            path="/statistics"
            element={
              <Guard>
                <Suspense fallback={<p className="muted">Loading…</p>}>
                  <StatsPage />
                </Suspense>
              </Guard>
            }
          />
          <Route path="/keys" element={<Guard always><ApiKeysPage /></Guard>} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <section className="card narrow">
      <h1>Page not found</h1>
      <p>
        <NavLink to="/">Go to the upload page</NavLink>
      </p>
    </section>
  );
}
