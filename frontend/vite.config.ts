import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the dashboard with hot reload and forwards API calls to a gateway on :8000.
const gateway = process.env.TRIBUNAL_GATEWAY ?? "http://127.0.0.1:8000";
const apiPaths = ["/auth", "/users", "/api-keys", "/detect", "/predict", "/history", "/stats", "/models", "/health", "/ready"];

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: gateway, changeOrigin: false }])),
  },
});
