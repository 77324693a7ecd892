// Charts drawn with uPlot: time on x, one or more numeric series.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export const palette = ['#4f46e5', '#0891b2', '#e11d48', '#16a34a', '#d97706', '#7c3aed', '#0d9488', '#db2777', '#65a30d', '#475569'];

// xRange ends the axis where the last bar ends: a bar covers its bin, from
// its time to the next.
function xRange(x, bars) {
  if (x.length === 1) return bars ? [x[0] - 3600, x[0] + 7200] : [x[0] - 43200, x[0] + 43200];
  if (!bars) return undefined;
  let step = Infinity;
  for (let i = 1; i < x.length; i++) step = Math.min(step, x[i] - x[i - 1]);
  return [x[0], x[x.length - 1] + step];
}

// Chart takes x (seconds since the epoch) and series [{label, values, color}].
export function Chart({ x, series, height = 240, bars = false, label, xFormat }) {
  const el = useRef(null);
  useEffect(() => {
    const node = el.current;
    if (!node || !x.length) return undefined;
    const width = Math.max(node.clientWidth, 300);
    // Several bar series overlap, later ones in front: for a part of a
    // whole (failed of all sessions) that reads as the whole's red share.
    const barPaths = uPlot.paths.bars({ size: [0.8, 40], align: 1 });
    const opts = {
      width,
      height,
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      scales: { x: { time: true, range: xRange(x, bars) }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        {
          stroke: '#64748b',
          grid: { stroke: '#eef2f7' },
          ticks: { stroke: '#e2e8f0' },
          values: xFormat ? (u, vals) => vals.map(xFormat) : undefined,
          font: '12px system-ui, sans-serif',
        },
        {
          stroke: '#64748b',
          grid: { stroke: '#eef2f7' },
          ticks: { show: false },
          size: 48,
          font: '12px system-ui, sans-serif',
          values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? v.toLocaleString() : '')),
        },
      ],
      series: [
        {},
        ...series.map((s, i) => {
          const color = s.color || palette[i % palette.length];
          return {
            label: s.label,
            stroke: color,
            width: bars ? 0 : 2,
            fill: bars ? `${color}cc` : `${color}1f`,
            paths: bars ? barPaths : undefined,
            points: { show: !bars && x.length < 60 },
          };
        }),
      ],
    };
    const u = new uPlot(opts, [x, ...series.map((s) => s.values)], node);
    const ro = new ResizeObserver(() => {
      const w = node.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    });
    ro.observe(node);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [x, series, height, bars]);
  return <div class="chart" ref={el} role="img" aria-label={label} />;
}
