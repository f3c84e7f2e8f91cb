// One chart on the dashboard: a titled <figure> around a Chart.js canvas.
//
// Why Chart.js (of recharts, Chart.js, ECharts and uPlot, the charting libraries at hand): the charts
// here are categorical bars (per day, per detector, per score bin; grouped, stacked and horizontal),
// which Chart.js draws out of the box with one small dependency (@kurkle/color). It is tree-shakeable:
// only the bar controller, two scales, the legend and the tooltip are registered below, and the whole of
// it loads with the Stats page only (App.tsx imports that page lazily: about 60 kB gzipped, page and
// library together), not with every page. uPlot is smaller still but is made for time series on a
// numeric x axis (bars are a path plugin, categories a workaround); recharts pulls in d3 modules and a
// state library for the same bars; ECharts is about a megabyte.
//
// A canvas is a picture to a screen reader, so each figure has its title as visible text (the
// figcaption, which also names the canvas) and the canvas has role="img" with a summary of the numbers.

import { useEffect, useId, useRef, type ReactNode } from "react";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
  type Plugin,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily || Chart.defaults.font.family;
Chart.defaults.color = cssColor("--muted", "#5f6478");
Chart.defaults.borderColor = cssColor("--line", "#e1e3ec");
Chart.defaults.maintainAspectRatio = false;
if (window.matchMedia?.("(prefers-reduced-motion: reduce)").matches) Chart.defaults.animation = false;

/** A colour from the stylesheet's custom properties, so the charts use the dashboard's palette. */
export function cssColor(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** A dashed line across a chart at ``value`` on the value axis (a threshold), with a short label; a
 * horizontal chart needs about 16 px of layout.padding.top for the label. */
export function valueLine(value: number, label: string, color: string): Plugin<"bar"> {
  return {
    id: "valueLine",
    afterDatasetsDraw(chart) {
      const horizontal = chart.options.indexAxis === "y";
      const scale = horizontal ? chart.scales.x : chart.scales.y;
      const { ctx, chartArea: area } = chart;
      const at = scale.getPixelForValue(value);
      ctx.save();
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      if (horizontal) {
        ctx.moveTo(at, area.top);
        ctx.lineTo(at, area.bottom);
      } else {
        ctx.moveTo(area.left, at);
        ctx.lineTo(area.right, at);
      }
      ctx.stroke();
      ctx.font = `600 11px ${Chart.defaults.font.family}`;
      // Above the plot area (the chart leaves room: layout.padding.top) or above the line.
      ctx.textAlign = horizontal ? "left" : "right";
      if (horizontal) ctx.fillText(label, Math.max(area.left, Math.min(at - 4, area.right - ctx.measureText(label).width)), area.top - 5);
      else ctx.fillText(label, area.right, at - 4);
      ctx.restore();
    },
  };
}

type Props = {
  title: string;
  /** What the chart shows, in words and numbers: the canvas's accessible name beyond its title. */
  summary: string;
  config: ChartConfiguration<"bar">;
  /** Data values drawn (for tests and for "nothing to draw" decisions upstream). */
  points: number;
  height?: number;
  testId: string;
  /** Controls shown between the title and the chart (e.g. which stream). */
  controls?: ReactNode;
  /** A line under the chart saying how to read it. */
  note?: ReactNode;
};

export function ChartFigure({ title, summary, config, points, height = 260, testId, controls, note }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const titleId = useId();
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [config]);
  return (
    <figure className="chart" data-testid={testId} data-points={points} aria-labelledby={titleId}>
      <figcaption id={titleId} className="chart-title">
        {title}
      </figcaption>
      {controls}
      <div className="chart-box" style={{ height }}>
        <canvas ref={canvas} role="img" aria-label={`${title}. ${summary}`} />
      </div>
      {note && <p className="chart-note muted small">{note}</p>}
    </figure>
  );
}
